package io.distilstream.jobs.kafka;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.distilstream.operators.DeadLetterReason;
import io.distilstream.operators.DeadLetters;
import io.distilstream.operators.Enrichment;
import io.distilstream.operators.Stage;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Decodes input records into {@link TextEvent}s. Avro single-object encoding (recognised by its {@code C3 01}
 * header), the Confluent wire format (magic byte 0, a schema id, the body; the writer schema from the schema
 * registry, see {@link ConfluentEventReader}), JSON objects, and plain UTF-8 text are accepted ({@code input.format}:
 * auto, avro, avro-confluent, json or text; auto reads a record starting with byte 0 as the Confluent wire format
 * when {@code schema.registry.url} is set, and as text otherwise, as before). A
 * record that cannot be decoded goes to the dead letters ({@link Enrichment#DEAD_LETTERS}) with its bytes and
 * {@code MALFORMED_EVENT}, one over a bound with {@code LIMIT_EXCEEDED}; the job goes on.
 *
 * <p>Decoding costs at most a constant times the record's size: records over {@code input.max-record-bytes} are
 * not decoded at all, every Avro length and count is checked against the bytes that remain before anything is
 * allocated ({@link io.distilstream.schemas.AvroBounds}), JSON nesting, string and number lengths are bounded by
 * Jackson's {@link StreamReadConstraints}, and collections of either format hold at most
 * {@code input.max-collection-items} items.
 */
public final class EventDecoder extends ProcessFunction<RawEvent, TextEvent> {
  private static final long serialVersionUID = 1L;

  public enum Format { AUTO, AVRO, JSON, TEXT, AVRO_CONFLUENT }

  /**
   * The decoder's bounds.
   *
   * @param maxRecordBytes largest record value decoded ({@code input.max-record-bytes})
   * @param maxJsonDepth deepest JSON nesting ({@code input.max-json-depth})
   * @param maxCollectionItems most items in an event's arrays and maps together ({@code input.max-collection-items})
   */
  public record Limits(int maxRecordBytes, int maxJsonDepth, int maxCollectionItems) implements Serializable {
    public Limits {
      if (maxRecordBytes < 1 || maxJsonDepth < 2 || maxCollectionItems < 1) {
        throw new IllegalArgumentException("input.max-record-bytes and input.max-collection-items must be >= 1,"
            + " input.max-json-depth >= 2; got " + maxRecordBytes + ", " + maxCollectionItems + ", " + maxJsonDepth);
      }
    }

    public static final Limits DEFAULTS = new Limits(1024 * 1024, 16, 65_536);
  }

  private final Format format;
  private final Limits limits;
  /** The schema registry, for the Confluent wire format; null when none is configured. */
  private final SchemaRegistryClient.Settings registry;
  private transient ObjectMapper json;
  private transient ConfluentEventReader confluent;

  public EventDecoder(Format format) {
    this(format, Limits.DEFAULTS);
  }

  public EventDecoder(Format format, Limits limits) {
    this(format, limits, null);
  }

  /**
   * @param registry the schema registry ({@code schema.registry.url} and the options beside it); required for
   *     {@code avro-confluent}, and what makes {@code auto} read the Confluent wire format
   */
  public EventDecoder(Format format, Limits limits, SchemaRegistryClient.Settings registry) {
    this.format = format;
    this.limits = java.util.Objects.requireNonNull(limits);
    this.registry = registry;
    if (format == Format.AVRO_CONFLUENT && registry == null) {
      throw new IllegalArgumentException("input.format=avro-confluent needs schema.registry.url");
    }
  }

  ConfluentEventReader confluent() {
    if (confluent == null) {
      confluent = new ConfluentEventReader(new SchemaRegistryClient(registry));
    }
    return confluent;
  }

  private ObjectMapper json() {
    if (json == null) {
      // nesting is what makes a small document expensive (a stack frame per level); strings and numbers cannot
      // pass the record's size anyway, but Jackson checks them before it buffers them
      JsonFactory f = JsonFactory.builder().streamReadConstraints(StreamReadConstraints.builder()
          .maxNestingDepth(limits.maxJsonDepth())
          .maxStringLength(limits.maxRecordBytes())
          .maxNumberLength(64)
          .maxNameLength(Math.min(limits.maxRecordBytes(), 50_000))
          .build()).build();
      json = new ObjectMapper(f);
    }
    return json;
  }

  public static Format parseFormat(String s) {
    try {
      return Format.valueOf(s.trim().toUpperCase(Locale.ROOT).replace('-', '_'));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("input.format must be auto, avro, avro-confluent, json or text, got '" + s
          + "'");
    }
  }

  @Override
  public void processElement(RawEvent raw, Context ctx, Collector<TextEvent> out) {
    TextEvent event;
    try {
      event = decode(raw);
    } catch (MalformedEvent e) {
      deadLetter(raw, e.reason, e.getMessage(), ctx);
      return;
    } catch (java.util.concurrent.CancellationException e) {
      // cancelled while waiting for the schema registry: the record is not decoded, and is no dead letter
      throw e;
    } catch (RuntimeException | StackOverflowError | LinkageError e) {
      // whatever one record makes a decoder throw is that record's dead letter, never a task failure and replay.
      // An OutOfMemoryError is not caught: within the bounds no record can cause one, so it is the JVM's state
      deadLetter(raw, DeadLetterReason.MALFORMED_EVENT, "decoding failed: " + e, ctx);
      return;
    }
    out.collect(event);
  }

  private static void deadLetter(RawEvent raw, DeadLetterReason reason, String message, Context ctx) {
    ctx.output(Enrichment.DEAD_LETTERS, DeadLetters.of(null, raw.value, reason,
        message + " (record " + raw.coordinates() + ")", Stage.DECODE, null));
  }

  TextEvent decode(RawEvent raw) {
    TextEvent event = decodeValue(raw);
    if (raw.modelsHeader != null && event.getModels().isEmpty()) {
      event.setModels(headerModels(raw.modelsHeader, limits.maxCollectionItems() - collectionItems(event)));
    }
    return event;
  }

  /** Items in the event's arrays and maps together: what {@code input.max-collection-items} bounds. */
  private static int collectionItems(TextEvent e) {
    return e.getTasks().size() + e.getAttributes().size() + e.getChoices().size() + e.getCandidateLabels().size()
        + e.getModels().size();
  }

  /**
   * The model names of a routing header ({@code inference.routing.header}): comma-separated, UTF-8 (bad bytes
   * replaced), blanks dropped. Bounded as the event's own lists are: the value by {@code input.max-record-bytes},
   * the names, with the event's other items, by {@code input.max-collection-items} ({@code room} is what the event
   * left): the value is scanned, never split whole, so a header of a million commas allocates no million strings.
   * Each name's length is bounded where it is looked up.
   */
  private List<String> headerModels(byte[] header, int room) {
    if (header.length > limits.maxRecordBytes()) {
      throw new MalformedEvent(DeadLetterReason.LIMIT_EXCEEDED, "routing header of " + header.length + " bytes is"
          + " over input.max-record-bytes (" + limits.maxRecordBytes() + ")");
    }
    String value = new String(header, StandardCharsets.UTF_8);
    List<String> names = new ArrayList<>();
    int start = 0;
    while (start <= value.length()) {
      int comma = value.indexOf(',', start);
      int end = comma < 0 ? value.length() : comma;
      if (!isBlank(value, start, end)) {
        if (names.size() >= room) {
          throw new MalformedEvent(DeadLetterReason.LIMIT_EXCEEDED, "routing header names more models than the"
              + " event leaves room for under input.max-collection-items (" + limits.maxCollectionItems() + ")");
        }
        names.add(value.substring(start, end).trim());
      }
      start = end + 1;
    }
    return names;
  }

  private static boolean isBlank(String s, int from, int to) {
    for (int i = from; i < to; i++) {
      if (!Character.isWhitespace(s.charAt(i))) {
        return false;
      }
    }
    return true;
  }

  private TextEvent decodeValue(RawEvent raw) {
    byte[] v = raw.value;
    if (v == null || v.length == 0) {
      throw new MalformedEvent("empty record");
    }
    if (v.length > limits.maxRecordBytes()) {
      throw new MalformedEvent(DeadLetterReason.LIMIT_EXCEEDED, "record of " + v.length + " bytes is over"
          + " input.max-record-bytes (" + limits.maxRecordBytes() + ")");
    }
    if (format == Format.AVRO_CONFLUENT || (format == Format.AUTO && registry != null
        && ConfluentWireFormat.looksLike(v))) {
      if (!ConfluentWireFormat.looksLike(v)) {
        throw new MalformedEvent(String.format("not in the Confluent wire format: the first byte is 0x%02X, not the"
            + " magic byte 0", v[0] & 0xff));
      }
      return confluent().decode(v, limits.maxCollectionItems());
    }
    boolean avro = v.length >= 2 && v[0] == (byte) 0xC3 && v[1] == (byte) 0x01;
    if (format == Format.AVRO || (format == Format.AUTO && avro)) {
      try {
        return TextEvents.decodeBounded(v, limits.maxCollectionItems());
      } catch (Exception e) {
        throw new MalformedEvent("not a TextEvent in Avro single-object encoding: " + e.getMessage());
      }
    }
    String s;
    try {
      s = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(v)).toString();
    } catch (CharacterCodingException e) {
      throw new MalformedEvent("invalid UTF-8");
    }
    if (format == Format.JSON || (format == Format.AUTO && s.stripLeading().startsWith("{"))) {
      return fromJson(json(), s, raw, limits.maxCollectionItems());
    }
    return TextEvent.newBuilder()
        .setId(raw.coordinates())
        .setKey(raw.key == null ? null : new String(raw.key, StandardCharsets.UTF_8))
        .setText(s)
        .setEventTime(Instant.ofEpochMilli(raw.timestamp))
        .build();
  }

  private static TextEvent fromJson(ObjectMapper json, String s, RawEvent raw, int maxItems) {
    JsonNode n;
    try {
      n = json.readTree(s);
    } catch (StreamConstraintsException e) {
      throw new MalformedEvent(DeadLetterReason.LIMIT_EXCEEDED, "JSON over a bound: " + firstLine(e.getMessage()));
    } catch (Exception e) {
      throw new MalformedEvent("invalid JSON: " + firstLine(e.getMessage()));
    }
    if (n == null || !n.isObject()) {
      throw new MalformedEvent("a JSON event must be an object");
    }
    int items = size(n.get("tasks")) + size(n.get("choices")) + size(n.get("attributes")) + size(n.get("models"));
    if (items > maxItems) {
      throw new MalformedEvent(DeadLetterReason.LIMIT_EXCEEDED, items + " items in tasks, models, choices and"
          + " attributes, over input.max-collection-items (" + maxItems + ")");
    }
    List<String> tasks = names(n, "tasks");
    List<String> models = names(n, "models");
    Map<String, String> attributes = new LinkedHashMap<>();
    JsonNode a = n.get("attributes");
    if (a != null && a.isObject()) {
      a.fields().forEachRemaining(e -> attributes.put(wellFormed(e.getKey()), wellFormed(e.getValue().asText())));
    }
    JsonNode time = n.get("event_time");
    return TextEvent.newBuilder()
        .setId(text(n, "id") != null ? text(n, "id") : raw.coordinates())
        .setKey(text(n, "key") != null ? text(n, "key")
            : raw.key == null ? null : new String(raw.key, StandardCharsets.UTF_8))
        .setText(text(n, "text"))
        .setQuestion(text(n, "question"))
        .setContext(text(n, "context"))
        .setTextPair(text(n, "text_pair"))
        .setChoices(choices(n))
        .setTasks(tasks)
        .setModels(models)
        .setAttributes(attributes)
        .setEventTime(Instant.ofEpochMilli(time != null && time.canConvertToLong() ? time.asLong() : raw.timestamp))
        .build();
  }

  /** A list of names ({@code tasks}, {@code models}): a string or an array of strings. */
  private static List<String> names(JsonNode n, String field) {
    List<String> out = new ArrayList<>();
    JsonNode t = n.get(field);
    if (t != null && t.isArray()) {
      t.forEach(x -> out.add(wellFormed(x.asText())));
    } else if (t != null && t.isTextual()) {
      out.add(wellFormed(t.asText()));
    } else if (t != null && !t.isNull()) {
      throw new MalformedEvent(field + " must be a string or an array of strings");
    }
    return out;
  }

  private static List<String> choices(JsonNode n) {
    JsonNode c = n.get("choices");
    if (c == null || c.isNull()) {
      return new ArrayList<>();
    }
    if (!c.isArray()) {
      throw new MalformedEvent("choices must be an array of strings");
    }
    List<String> out = new ArrayList<>(c.size());
    c.forEach(x -> out.add(wellFormed(x.asText())));
    return out;
  }

  private static String text(JsonNode n, String field) {
    JsonNode v = n.get(field);
    return v == null || v.isNull() ? null : wellFormed(v.asText());
  }

  private static int size(JsonNode n) {
    return n == null ? 0 : n.size();
  }

  /**
   * {@code s} with every lone surrogate (a JSON escape can write one; UTF-8 cannot) replaced by
   * U+FFFD, as a UTF-8 decoder replaces bytes it cannot read: the text is enriched, and the result encodes.
   */
  static String wellFormed(String s) {
    StringBuilder sb = null;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      boolean lone;
      if (Character.isHighSurrogate(c)) {
        lone = i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1));
        if (!lone) {
          if (sb != null) {
            sb.append(c).append(s.charAt(i + 1));
          }
          i++;
          continue;
        }
      } else {
        lone = Character.isLowSurrogate(c);
      }
      if (lone && sb == null) {
        sb = new StringBuilder(s.length()).append(s, 0, i);
      }
      if (sb != null) {
        sb.append(lone ? '\uFFFD' : c);
      }
    }
    return sb == null ? s : sb.toString();
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  /** A record that is not an event ({@code MALFORMED_EVENT}), or one over a bound ({@code LIMIT_EXCEEDED}). */
  static final class MalformedEvent extends RuntimeException {
    private static final long serialVersionUID = 1L;
    /** The dead-letter reason. */
    final DeadLetterReason reason;

    MalformedEvent(String message) {
      this(DeadLetterReason.MALFORMED_EVENT, message);
    }

    MalformedEvent(DeadLetterReason reason, String message) {
      super(message);
      this.reason = reason;
    }
  }
}
