package io.distilstream.operators;

import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.TextEvent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;

/**
 * Builds dead-letter records. Reasons and stages are enums ({@link DeadLetterReason}, {@link Stage}) whose codes are
 * a stable contract: consumers of the dead-letter topic match on them.
 */
public final class DeadLetters {
  /**
   * Originals are cut to this many bytes, so that a dead letter always fits a Kafka record of the default
   * {@code max.request.size} (1 MiB): a dead letter that cannot be written would fail the job it protects.
   */
  public static final int MAX_ORIGINAL_BYTES = 512 * 1024;
  /** Messages and ids are cut to this many chars, for the same reason: they can quote what a producer sent. */
  public static final int MAX_TEXT_CHARS = 4096;

  private DeadLetters() {}

  public static DeadLetter of(String id, byte[] original, DeadLetterReason reason, String message, Stage stage,
      String task) {
    byte[] bytes = original == null ? new byte[0] : original;
    String msg = cut(message == null ? reason.code() : message);
    if (bytes.length > MAX_ORIGINAL_BYTES) {
      msg += " [original cut from " + bytes.length + " to " + MAX_ORIGINAL_BYTES + " bytes]";
      bytes = java.util.Arrays.copyOf(bytes, MAX_ORIGINAL_BYTES);
    }
    return DeadLetter.newBuilder()
        .setId(id == null ? null : cut(id))
        .setOriginal(ByteBuffer.wrap(bytes))
        .setReason(reason.code())
        .setMessage(msg)
        .setStage(stage.code())
        .setTask(task == null ? null : cut(task))
        .setTime(Instant.now())
        .build();
  }

  /** A dead letter for a decoded event: its bytes are the event in Avro single-object encoding. */
  public static InferenceOutput forEvent(TextEvent event, DeadLetterReason reason, String message, Stage stage,
      String task) {
    return forEncoded(event.getId(), encode(event), reason, message, stage, task);
  }

  /**
   * As {@link #forEvent}, with the event already encoded ({@link #encode}): an event that fails every one of its
   * tasks at once (a bound, a timeout) is encoded once, not once per task.
   */
  static InferenceOutput forEncoded(String id, byte[] encoded, DeadLetterReason reason, String message, Stage stage,
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
