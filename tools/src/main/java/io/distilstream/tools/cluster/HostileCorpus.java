package io.distilstream.tools.cluster;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.distilstream.operators.DeadLetterReason;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Input records that must never fail the job, each with the one outcome it must get: most must become exactly one
 * dead letter with a known reason (malformed Avro, invalid UTF-8, an empty record, an empty text, a 1 MB text, a
 * text of control characters, a 10k-token text as the job runs with {@code inference.long-text=reject}, an unknown
 * task, a question without a context, Avro lengths and counts far beyond the record, 60k unknown task names, deeply
 * nested JSON, 510 [MASK]s, 10k choices); some must be enriched normally, once per distinct task ({@link #OK}: the
 * same task listed 1,000 times, lone surrogate escapes in JSON text). {@code chaos --hostile DIR} adds records from
 * files ({@link #fromDirectory}).
 */
public final class HostileCorpus {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** The expected outcome of a record that must be enriched normally: one result per distinct task, no dead letter. */
  public static final String OK = "ok";

  /**
   * One hostile record and its expected outcome: a dead-letter {@code reason}, or {@link #OK} with the distinct
   * {@code tasks} that must each give one result. {@code id} is null when the job gives the record no id of its
   * own (undecodable: its dead letter is matched by its bytes; or decodable without an id: matched by the record's
   * coordinates once produced).
   */
  public record Hostile(String kind, String id, byte[] value, String reason, List<String> tasks) {
    public Hostile(String kind, String id, byte[] value, String reason) {
      this(kind, id, value, reason, List.of());
    }

    /** A record of the built-in corpus: its dead-letter reason's code. */
    public Hostile(String kind, String id, byte[] value, DeadLetterReason reason) {
      this(kind, id, value, reason.code());
    }

    public boolean ok() {
      return OK.equals(reason);
    }
  }

  public static final List<String> KINDS = List.of("malformed-avro", "invalid-utf8", "empty-record", "empty-text",
      "1mb-text", "control-characters", "10k-token-text", "unknown-task", "qa-without-context",
      "avro-string-length-2^31", "avro-array-count-2^30", "same-task-1000-times", "60k-unknown-tasks",
      "fill-mask-510-masks", "multiple-choice-10k-choices", "deeply-nested-json", "lone-surrogate-escapes");

  /** Kinds that are enriched normally rather than dead-lettered. */
  public static final Set<String> OK_KINDS = Set.of("same-task-1000-times",
      "lone-surrogate-escapes");

  private HostileCorpus() {}

  /**
   * The {@code n}-th hostile record for a job serving {@code tasks}: kinds in turn, each with a unique id or unique
   * bytes. A record for a task the job has no model for must get {@code UNKNOWN_TASK}; past the job's limits on
   * masks per text and choices per event, {@code LIMIT_EXCEEDED}.
   */
  public static Hostile nth(int n, java.util.Collection<String> tasks) {
    String kind = KINDS.get(n % KINDS.size());
    String id = "hostile-" + kind + "-" + n;
    switch (kind) {
      case "avro-string-length-2^31": {
        // 16 bytes: TextEvent's single-object header, then an id whose length is 2^31 - 16 (zigzag varint)
        return new Hostile(kind, null, avro(new byte[] {(byte) 0xE0, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x0F,
            'x'}), DeadLetterReason.MALFORMED_EVENT);
      }
      case "avro-array-count-2^30": {
        // an id, four null unions (key, text, question, context), then a tasks array block of 2^30 items
        byte[] name = id.getBytes(StandardCharsets.UTF_8);
        byte[] body = new byte[1 + name.length + 4 + 5 + 4];
        body[0] = (byte) (name.length * 2);
        System.arraycopy(name, 0, body, 1, name.length);
        int k = 1 + name.length + 4;
        for (byte b : new byte[] {(byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, 0x08, 2, 'x', 2, 'y'}) {
          body[k++] = b;
        }
        return new Hostile(kind, null, avro(body), DeadLetterReason.MALFORMED_EVENT);
      }
      case "same-task-1000-times":
        return new Hostile(kind, id, json(id, "the same task, listed a thousand times",
            java.util.Collections.nCopies(1000, "text-classification")), OK, List.of("text-classification"));
      case "60k-unknown-tasks": {
        List<String> names = new ArrayList<>(60_000);
        for (int i = 0; i < 60_000; i++) {
          names.add("x" + Integer.toString(i, 36)); // short names: 60k of them in ~420 KB, under 1 MiB records
        }
        return new Hostile(kind, id, json(id, "which task?", names), DeadLetterReason.UNKNOWN_TASK);
      }
      case "fill-mask-510-masks":
        return new Hostile(kind, id, json(id, "[MASK]".repeat(510), List.of("fill-mask")),
            tasks.contains("fill-mask") ? DeadLetterReason.LIMIT_EXCEEDED : DeadLetterReason.UNKNOWN_TASK);
      case "multiple-choice-10k-choices": {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        m.put("text", "Pick one");
        List<String> choices = new ArrayList<>(10_000);
        for (int i = 0; i < 10_000; i++) {
          choices.add("choice " + i);
        }
        m.put("choices", choices);
        m.put("tasks", List.of("multiple-choice"));
        return new Hostile(kind, id, bytes(m),
            tasks.contains("multiple-choice") ? DeadLetterReason.LIMIT_EXCEEDED : DeadLetterReason.UNKNOWN_TASK);
      }
      case "deeply-nested-json": {
        // over input.max-json-depth, so not decoded and matched by its bytes; the id makes them unique
        String head = "{\"id\":\"" + id + "\",\"text\":\"deep\",\"tasks\":[\"text-classification\"],\"x\":";
        return new Hostile(kind, null, (head + "[".repeat(100_000) + "]".repeat(100_000) + "}")
            .getBytes(StandardCharsets.UTF_8), DeadLetterReason.LIMIT_EXCEEDED);
      }
      case "lone-surrogate-escapes":
        // JSON escapes of unpaired surrogates: the text becomes U+FFFD there, as UTF-8 decoding does, and is enriched
        return new Hostile(kind, id, ("{\"id\":\"" + id + "\",\"text\":\"lone \\ud800 high, lone \\udc00 low,"
            + " reversed \\udc00\\ud800 pair\",\"tasks\":[\"text-classification\"]}")
            .getBytes(StandardCharsets.UTF_8), OK, List.of("text-classification"));
      default:
        return original(kind, id, n);
    }
  }

  /** {@link #nth(int, java.util.Collection)} for a job serving text-classification only. */
  public static Hostile nth(int n) {
    return nth(n, List.of("text-classification"));
  }

  /** The nine kinds of the first corpus. */
  private static Hostile original(String kind, String id, int n) {
    switch (kind) {
      case "malformed-avro": {
        // the single-object header, a fingerprint no schema has, then garbage that names the record
        byte[] tail = (id + "\u0000\u00ff").getBytes(StandardCharsets.UTF_8);
        byte[] v = new byte[10 + tail.length];
        v[0] = (byte) 0xC3;
        v[1] = 0x01;
        for (int i = 2; i < 10; i++) {
          v[i] = (byte) (0x5A ^ i ^ n);
        }
        System.arraycopy(tail, 0, v, 10, tail.length);
        return new Hostile(kind, null, v, DeadLetterReason.MALFORMED_EVENT);
      }
      case "invalid-utf8": {
        byte[] head = ("{\"id\":\"" + id + "\",\"text\":\"").getBytes(StandardCharsets.US_ASCII);
        byte[] v = new byte[head.length + 4];
        System.arraycopy(head, 0, v, 0, head.length);
        v[head.length] = (byte) 0xC0; // an overlong encoding of '/'
        v[head.length + 1] = (byte) 0xAF;
        v[head.length + 2] = (byte) 0xFF;
        v[head.length + 3] = '"';
        return new Hostile(kind, null, v, DeadLetterReason.MALFORMED_EVENT);
      }
      case "empty-record":
        return new Hostile(kind, null, new byte[0], DeadLetterReason.MALFORMED_EVENT);
      case "empty-text":
        return json(kind, id, "", List.of("text-classification"), null, DeadLetterReason.INVALID_INPUT);
      case "1mb-text":
        return json(kind, id, "lorem ".repeat(1_000_000 / 6), List.of("text-classification"), null,
            DeadLetterReason.TEXT_TOO_LONG);
      case "control-characters": {
        StringBuilder s = new StringBuilder();
        for (char c = 0; c < 0x20; c++) {
          s.append(c);
        }
        s.append('\u007f').append('\u0085').append('\u009f').append("\u200b\u00a0");
        return json(kind, id, s.toString().repeat(4), List.of("text-classification"), null,
            DeadLetterReason.INVALID_INPUT);
      }
      case "10k-token-text":
        return json(kind, id, "word ".repeat(10_000), List.of("text-classification"), null,
            DeadLetterReason.TEXT_TOO_LONG);
      case "unknown-task":
        return json(kind, id, "summarize this please", List.of("summarization"), null, DeadLetterReason.UNKNOWN_TASK);
      case "qa-without-context":
        return json(kind, id, null, List.of("question-answering"), "Who wrote this?", DeadLetterReason.INVALID_INPUT);
      default:
        throw new IllegalStateException(kind);
    }
  }

  /** The first {@code n} hostile records for a job serving {@code tasks} (every kind once when n is KINDS.size()). */
  public static List<Hostile> first(int n, java.util.Collection<String> tasks) {
    List<Hostile> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(nth(i, tasks));
    }
    return out;
  }

  /** {@link #first(int, java.util.Collection)} for a job serving text-classification only. */
  public static List<Hostile> first(int n) {
    return first(n, List.of("text-classification"));
  }

  /** TextEvent's single-object encoding header (marker and the current schema's fingerprint), then {@code body}. */
  private static byte[] avro(byte[] body) {
    long fp = org.apache.avro.SchemaNormalization.parsingFingerprint64(
        io.distilstream.schemas.TextEvent.getClassSchema());
    byte[] v = new byte[10 + body.length];
    v[0] = (byte) 0xC3;
    v[1] = 0x01;
    for (int i = 0; i < 8; i++) {
      v[2 + i] = (byte) (fp >>> (8 * i));
    }
    System.arraycopy(body, 0, v, 10, body.length);
    return v;
  }

  private static byte[] json(String id, String text, List<String> tasks) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", id);
    m.put("text", text);
    m.put("tasks", tasks);
    return bytes(m);
  }

  private static byte[] bytes(Map<String, Object> m) {
    try {
      return JSON.writeValueAsBytes(m);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The records of {@code chaos --hostile DIR}: one file per Kafka record value, named {@code NAME.REASON} (the
   * dead-letter reason it must get, e.g. {@code x.MALFORMED_EVENT}) or {@code NAME.ok} (enriched normally, once per
   * distinct task it names; it must name its tasks). Kind {@code file:NAME}.
   */
  public static List<Hostile> fromDirectory(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      throw new IllegalArgumentException("--hostile: not a directory: " + dir);
    }
    List<Path> files;
    try (Stream<Path> s = Files.list(dir)) {
      files = s.filter(Files::isRegularFile).sorted().toList();
    }
    List<Hostile> out = new ArrayList<>();
    for (Path f : files) {
      String name = f.getFileName().toString();
      int dot = name.lastIndexOf('.');
      String expected = dot > 0 ? name.substring(dot + 1) : "";
      if (!expected.equals(OK) && !expected.matches("[A-Z][A-Z_]*")) {
        throw new IllegalArgumentException("--hostile: " + f + " must be named NAME.REASON (a dead-letter reason"
            + " such as MALFORMED_EVENT) or NAME.ok");
      }
      byte[] value = Files.readAllBytes(f);
      String kind = "file:" + name.substring(0, dot);
      if (expected.equals(OK)) {
        Decoded event = decodeOk(f, value);
        Set<String> tasks = new LinkedHashSet<>();
        for (String t : event.tasks()) {
          try {
            tasks.add(Task.parse(t.toString()).id());
          } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--hostile: " + f + " is .ok but asks for " + e.getMessage());
          }
        }
        if (tasks.isEmpty()) {
          throw new IllegalArgumentException("--hostile: " + f + " is .ok but names no task (its results are"
              + " counted per task it names)");
        }
        out.add(new Hostile(kind, event.id(), value, OK, List.copyOf(tasks)));
      } else {
        out.add(new Hostile(kind, sniffId(value), value, expected));
      }
    }
    return out;
  }

  /** The id (null: none of its own) and tasks of an {@code .ok} record. */
  private record Decoded(String id, List<String> tasks) {}

  /** An {@code .ok} file as the job decodes it (Avro single-object, JSON object or text); it is trusted to decode. */
  private static Decoded decodeOk(Path f, byte[] v) {
    try {
      if (v.length >= 2 && v[0] == (byte) 0xC3 && v[1] == 0x01) {
        TextEvent e = TextEvents.decode(v);
        return new Decoded(e.getId().toString(), e.getTasks().stream().map(CharSequence::toString).toList());
      }
      String s = new String(v, StandardCharsets.UTF_8);
      if (!s.stripLeading().startsWith("{")) {
        return new Decoded(null, List.of());
      }
      JsonNode n = JSON.readTree(s);
      List<String> tasks = new ArrayList<>();
      JsonNode t = n.get("tasks");
      if (t != null && t.isArray()) {
        t.forEach(x -> tasks.add(x.asText()));
      } else if (t != null && t.isTextual()) {
        tasks.add(t.asText());
      }
      JsonNode id = n.get("id");
      return new Decoded(id == null || id.isNull() ? null : id.asText(), tasks);
    } catch (Exception | StackOverflowError | OutOfMemoryError e) {
      throw new IllegalArgumentException("--hostile: " + f + " is .ok but does not decode: " + e, e);
    }
  }

  /**
   * The id the job will give a record, as far as a look at the first bytes tells (null: none, or undecodable): an
   * Avro event's first field, or a JSON object's {@code id}. Reads no length it has not checked against the bytes.
   */
  static String sniffId(byte[] v) {
    if (v.length > 10 && v[0] == (byte) 0xC3 && v[1] == 0x01) {
      long zigzag = 0;
      int i = 10;
      for (int shift = 0; i < v.length && shift < 35; shift += 7) {
        byte b = v[i++];
        zigzag |= (long) (b & 0x7F) << shift;
        if (b >= 0) {
          long len = (zigzag >>> 1) ^ -(zigzag & 1);
          return len >= 0 && len <= v.length - i ? new String(v, i, (int) len, StandardCharsets.UTF_8) : null;
        }
      }
      return null;
    }
    try {
      JsonNode n = JSON.readTree(v);
      JsonNode id = n == null ? null : n.get("id");
      return id == null || id.isNull() || id.isContainerNode() ? null : id.asText();
    } catch (Exception | StackOverflowError e) {
      return null;
    }
  }

  private static Hostile json(String kind, String id, String text, List<String> tasks, String question,
      DeadLetterReason reason) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", id);
    if (text != null) {
      m.put("text", text);
    }
    if (question != null) {
      m.put("question", question);
    }
    m.put("tasks", tasks);
    try {
      return new Hostile(kind, id, JSON.writeValueAsBytes(m), reason);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
