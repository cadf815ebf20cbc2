package io.distilstream.jobs.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.distilstream.operators.DeadLetters;
import io.distilstream.operators.Enrichment;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
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
 * header), JSON objects, and plain UTF-8 text are accepted ({@code input.format}: auto, avro, json or text). A
 * record that cannot be decoded goes to the dead letters ({@link Enrichment#DEAD_LETTERS}) with its bytes and
 * {@code MALFORMED_EVENT}; the job goes on.
 */
public final class EventDecoder extends ProcessFunction<RawEvent, TextEvent> {
  private static final long serialVersionUID = 1L;
  private static final ObjectMapper JSON = new ObjectMapper();

  public enum Format { AUTO, AVRO, JSON, TEXT }

  private final Format format;

  public EventDecoder(Format format) {
    this.format = format;
  }

  public static Format parseFormat(String s) {
    try {
      return Format.valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("input.format must be auto, avro, json or text, got '" + s + "'");
    }
  }

  @Override
  public void processElement(RawEvent raw, Context ctx, Collector<TextEvent> out) {
    try {
      out.collect(decode(raw));
    } catch (MalformedEvent e) {
      DeadLetter dl = DeadLetters.of(null, raw.value, DeadLetters.MALFORMED_EVENT,
          e.getMessage() + " (record " + raw.coordinates() + ")", DeadLetters.STAGE_DECODE, null);
      ctx.output(Enrichment.DEAD_LETTERS, dl);
    }
  }

  TextEvent decode(RawEvent raw) {
    byte[] v = raw.value;
    if (v == null || v.length == 0) {
      throw new MalformedEvent("empty record");
    }
    boolean avro = v.length >= 2 && v[0] == (byte) 0xC3 && v[1] == (byte) 0x01;
    if (format == Format.AVRO || (format == Format.AUTO && avro)) {
      try {
        return TextEvents.decode(v);
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
      return fromJson(s, raw);
    }
    return TextEvent.newBuilder()
        .setId(raw.coordinates())
        .setKey(raw.key == null ? null : new String(raw.key, StandardCharsets.UTF_8))
        .setText(s)
        .setEventTime(Instant.ofEpochMilli(raw.timestamp))
        .build();
  }

  private static TextEvent fromJson(String s, RawEvent raw) {
    JsonNode n;
    try {
      n = JSON.readTree(s);
    } catch (Exception e) {
      throw new MalformedEvent("invalid JSON: " + firstLine(e.getMessage()));
    }
    if (n == null || !n.isObject()) {
      throw new MalformedEvent("a JSON event must be an object");
    }
    List<String> tasks = new ArrayList<>();
    JsonNode t = n.get("tasks");
    if (t != null && t.isArray()) {
      t.forEach(x -> tasks.add(x.asText()));
    } else if (t != null && t.isTextual()) {
      tasks.add(t.asText());
    } else if (t != null && !t.isNull()) {
      throw new MalformedEvent("tasks must be a string or an array of strings");
    }
    Map<String, String> attributes = new LinkedHashMap<>();
    JsonNode a = n.get("attributes");
    if (a != null && a.isObject()) {
      a.fields().forEachRemaining(e -> attributes.put(e.getKey(), e.getValue().asText()));
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
        .setAttributes(attributes)
        .setEventTime(Instant.ofEpochMilli(time != null && time.canConvertToLong() ? time.asLong() : raw.timestamp))
        .build();
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
    c.forEach(x -> out.add(x.asText()));
    return out;
  }

  private static String text(JsonNode n, String field) {
    JsonNode v = n.get(field);
    return v == null || v.isNull() ? null : v.asText();
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  /** A record that is not an event. */
  static final class MalformedEvent extends RuntimeException {
    private static final long serialVersionUID = 1L;

    MalformedEvent(String message) {
      super(message);
    }
  }
}
