package io.distilstream.operators;

import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.TextEvent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;

/** Builds dead-letter records. Reason codes are a stable contract: consumers of the dead-letter topic match on them. */
public final class DeadLetters {
  public static final String MALFORMED_EVENT = "MALFORMED_EVENT";
  public static final String INVALID_INPUT = "INVALID_INPUT";
  public static final String TEXT_TOO_LONG = "TEXT_TOO_LONG";
  public static final String UNKNOWN_TASK = "UNKNOWN_TASK";
  public static final String MODEL_ERROR = "MODEL_ERROR";
  public static final String TIMEOUT = "TIMEOUT";
  /**
   * The event passes a documented cost bound other than text length (record bytes, id or key length, attributes,
   * task names, masks, choices); the message names the option.
   */
  public static final String LIMIT_EXCEEDED = "LIMIT_EXCEEDED";
  /**
   * The result, encoded, would be larger than the sink's {@code max.request.size}: written, it would fail the job
   * on every replay. The message gives both sizes.
   */
  public static final String RESULT_TOO_LARGE = "RESULT_TOO_LARGE";
  /** A hot reload found a new model that does not load; the previous model keeps serving. Not about one event. */
  public static final String MODEL_RELOAD_FAILED = "MODEL_RELOAD_FAILED";

  public static final String STAGE_DECODE = "decode";
  public static final String STAGE_PREPROCESS = "preprocess";
  public static final String STAGE_INFERENCE = "inference";
  public static final String STAGE_RELOAD = "reload";

  /**
   * Originals are cut to this many bytes, so that a dead letter always fits a Kafka record of the default
   * {@code max.request.size} (1 MiB): a dead letter that cannot be written would fail the job it protects.
   */
  public static final int MAX_ORIGINAL_BYTES = 512 * 1024;
  /** Messages and ids are cut to this many chars, for the same reason: they can quote what a producer sent. */
  public static final int MAX_TEXT_CHARS = 4096;

  private DeadLetters() {}

  public static DeadLetter of(String id, byte[] original, String reason, String message, String stage, String task) {
    byte[] bytes = original == null ? new byte[0] : original;
    String msg = cut(message == null ? reason : message);
    if (bytes.length > MAX_ORIGINAL_BYTES) {
      msg += " [original cut from " + bytes.length + " to " + MAX_ORIGINAL_BYTES + " bytes]";
      bytes = java.util.Arrays.copyOf(bytes, MAX_ORIGINAL_BYTES);
    }
    return DeadLetter.newBuilder()
        .setId(id == null ? null : cut(id))
        .setOriginal(ByteBuffer.wrap(bytes))
        .setReason(reason)
        .setMessage(msg)
        .setStage(stage)
        .setTask(task == null ? null : cut(task))
        .setTime(Instant.now())
        .build();
  }

  /** A dead letter for a decoded event: its bytes are the event in Avro single-object encoding. */
  public static InferenceOutput forEvent(TextEvent event, String reason, String message, String stage, String task) {
    return forEncoded(event.getId(), encode(event), reason, message, stage, task);
  }

  /**
   * As {@link #forEvent}, with the event already encoded ({@link #encode}): an event that fails every one of its
   * tasks at once (a bound, a timeout) is encoded once, not once per task.
   */
  static InferenceOutput forEncoded(String id, byte[] encoded, String reason, String message, String stage,
      String task) {
    return InferenceOutput.newBuilder().setDeadLetter(of(id, encoded, reason, message, stage, task)).build();
  }

  private static String cut(String s) {
    return s.length() <= MAX_TEXT_CHARS ? s : s.substring(0, MAX_TEXT_CHARS) + "… [cut from " + s.length() + " chars]";
  }

  static byte[] encode(TextEvent event) {
    try {
      ByteBuffer b = TextEvent.getEncoder().encode(event);
      byte[] out = new byte[b.remaining()];
      b.get(out);
      return out;
    } catch (IOException | RuntimeException e) {
      return new byte[0];
    }
  }
}
