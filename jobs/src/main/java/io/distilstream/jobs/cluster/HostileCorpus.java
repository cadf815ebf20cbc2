package io.distilstream.jobs.cluster;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.distilstream.operators.DeadLetters;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Input records that must each become exactly one dead letter, with a known reason, and must never fail the job:
 * malformed Avro, invalid UTF-8, an empty record, an empty text, a 1 MB text, a text of control characters, a
 * 10k-token text (the job runs with {@code inference.long-text=reject}), an unknown task and a question without a
 * context. Each asks for one task only, so it yields one dead letter and no result.
 */
public final class HostileCorpus {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One hostile record: {@code id} is null when the record cannot be decoded (matched by its bytes then). */
  public record Hostile(String kind, String id, byte[] value, String reason) {}

  public static final List<String> KINDS = List.of("malformed-avro", "invalid-utf8", "empty-record", "empty-text",
      "1mb-text", "control-characters", "10k-token-text", "unknown-task", "qa-without-context");

  private HostileCorpus() {}

  /** The {@code n}-th hostile record: kinds in turn, each with a unique id or unique bytes. */
  public static Hostile nth(int n) {
    String kind = KINDS.get(n % KINDS.size());
    String id = "hostile-" + kind + "-" + n;
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
        return new Hostile(kind, null, v, DeadLetters.MALFORMED_EVENT);
      }
      case "invalid-utf8": {
        byte[] head = ("{\"id\":\"" + id + "\",\"text\":\"").getBytes(StandardCharsets.US_ASCII);
        byte[] v = new byte[head.length + 4];
        System.arraycopy(head, 0, v, 0, head.length);
        v[head.length] = (byte) 0xC0; // an overlong encoding of '/'
        v[head.length + 1] = (byte) 0xAF;
        v[head.length + 2] = (byte) 0xFF;
        v[head.length + 3] = '"';
        return new Hostile(kind, null, v, DeadLetters.MALFORMED_EVENT);
      }
      case "empty-record":
        return new Hostile(kind, null, new byte[0], DeadLetters.MALFORMED_EVENT);
      case "empty-text":
        return json(kind, id, "", List.of("text-classification"), null, DeadLetters.INVALID_INPUT);
      case "1mb-text":
        return json(kind, id, "lorem ".repeat(1_000_000 / 6), List.of("text-classification"), null,
            DeadLetters.TEXT_TOO_LONG);
      case "control-characters": {
        StringBuilder s = new StringBuilder();
        for (char c = 0; c < 0x20; c++) {
          s.append(c);
        }
        s.append('\u007f').append('\u0085').append('\u009f').append("\u200b\u00a0");
        return json(kind, id, s.toString().repeat(4), List.of("text-classification"), null,
            DeadLetters.INVALID_INPUT);
      }
      case "10k-token-text":
        return json(kind, id, "word ".repeat(10_000), List.of("text-classification"), null,
            DeadLetters.TEXT_TOO_LONG);
      case "unknown-task":
        return json(kind, id, "summarize this please", List.of("summarization"), null, DeadLetters.UNKNOWN_TASK);
      case "qa-without-context":
        return json(kind, id, null, List.of("question-answering"), "Who wrote this?", DeadLetters.INVALID_INPUT);
      default:
        throw new IllegalStateException(kind);
    }
  }

  /** The first {@code n} hostile records (every kind once when n is KINDS.size()). */
  public static List<Hostile> first(int n) {
    List<Hostile> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(nth(i));
    }
    return out;
  }

  private static Hostile json(String kind, String id, String text, List<String> tasks, String question,
      String reason) {
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
