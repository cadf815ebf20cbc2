package io.distilstream.operators;

import io.distilstream.schemas.TextEvent;
import java.io.Serializable;
import java.util.Map;

/**
 * The bounds on one event's cost that the operator checks before it tokenizes, runs or copies anything in
 * proportion to a field: text lengths, id and key, attributes (copied into every result) and the task list (each
 * distinct task is one model run). The model-runtime bounds (masks per text, choices per question, the window) sit
 * in {@link io.distilstream.runtime.pipeline.PipelineOptions}; the record's own size and shape are bounded by the
 * decoder before this.
 *
 * @param maxTextChars longest text, text pair, question or context ({@code inference.max-text-chars})
 * @param maxIdChars longest id or key ({@code inference.max-id-chars})
 * @param maxAttributesBytes most UTF-8 bytes of all attribute keys and values ({@code inference.max-attributes-bytes})
 *
 * <p>Task names need no bound of their own: repeats collapse, and names no model serves give one dead letter per
 * event, so an event costs at most one run per task the job serves, whatever its list holds.
 */
public record EventLimits(int maxTextChars, int maxIdChars, int maxAttributesBytes)
    implements Serializable {
  public EventLimits {
    positive(InferenceOptions.MAX_TEXT_CHARS.key(), maxTextChars);
    positive(InferenceOptions.MAX_ID_CHARS.key(), maxIdChars);
    positive(InferenceOptions.MAX_ATTRIBUTES_BYTES.key(), maxAttributesBytes);
  }

  public static EventLimits defaults() {
    return new EventLimits(InferenceOptions.MAX_TEXT_CHARS.defaultValue(),
        InferenceOptions.MAX_ID_CHARS.defaultValue(), InferenceOptions.MAX_ATTRIBUTES_BYTES.defaultValue());
  }

  public EventLimits withMaxTextChars(int n) {
    return new EventLimits(n, maxIdChars, maxAttributesBytes);
  }

  /**
   * Why {@code event} passes a bound that applies to all its tasks ({@code LIMIT_EXCEEDED}), or {@code null}. Text
   * lengths are per task ({@code TEXT_TOO_LONG}, as before) and checked where the task's input is built.
   */
  public String exceeded(TextEvent event) {
    if (length(event.getId()) > maxIdChars) {
      return "id of " + length(event.getId()) + " chars is over " + InferenceOptions.MAX_ID_CHARS.key() + " ("
          + maxIdChars + ")";
    }
    if (length(event.getKey()) > maxIdChars) {
      return "key of " + length(event.getKey()) + " chars is over " + InferenceOptions.MAX_ID_CHARS.key() + " ("
          + maxIdChars + ")";
    }
    long bytes = attributesBytes(event.getAttributes(), maxAttributesBytes);
    if (bytes > maxAttributesBytes) {
      return "attributes of more than " + maxAttributesBytes + " bytes, over "
          + InferenceOptions.MAX_ATTRIBUTES_BYTES.key();
    }
    return null;
  }

  /** UTF-8 bytes of keys and values, counted up to just past {@code stop}. */
  static long attributesBytes(Map<? extends CharSequence, ? extends CharSequence> attributes, long stop) {
    long bytes = 0;
    if (attributes != null) {
      for (Map.Entry<? extends CharSequence, ? extends CharSequence> e : attributes.entrySet()) {
        bytes += utf8(e.getKey()) + utf8(e.getValue());
        if (bytes > stop) {
          break;
        }
      }
    }
    return bytes;
  }

  private static long utf8(CharSequence s) {
    if (s == null) {
      return 0;
    }
    // at most 3 bytes per char (a surrogate pair is 4 bytes for 2 chars); exact enough for a bound, no copy
    long n = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      n += c < 0x80 ? 1 : c < 0x800 ? 2 : Character.isSurrogate(c) ? 2 : 3;
    }
    return n;
  }

  private static int length(CharSequence s) {
    return s == null ? 0 : s.length();
  }

  private static void positive(String key, int n) {
    if (n < 1) {
      throw new IllegalArgumentException(key + " must be >= 1, got " + n);
    }
  }
}
