package io.distilstream.runtime.pipeline;

import java.util.Objects;

/**
 * The result of one input in a batch: a value, or the reason it has none. A batch never fails as a whole because
 * one input is bad, so a stream processor can dead-letter exactly the inputs that failed.
 */
public final class Outcome<O> {
  /** Why an input has no result. Stable codes: dead-letter records and CLI error lines carry them. */
  public enum Reason {
    /** Null text, a missing question or context, a malformed request. */
    INVALID_INPUT,
    /** Over the configured limit with the reject policy, or a question too long for any window. */
    TEXT_TOO_LONG,
    /** ONNX Runtime failed on this input. */
    MODEL_ERROR,
    /**
     * Over one of the documented cost bounds other than length (masks per text, choices per question): the bound
     * is checked before the work it limits is allocated or run.
     */
    LIMIT_EXCEEDED
  }

  private final O value;
  private final Reason reason;
  private final String message;

  private Outcome(O value, Reason reason, String message) {
    this.value = value;
    this.reason = reason;
    this.message = message;
  }

  public static <O> Outcome<O> success(O value) {
    return new Outcome<>(Objects.requireNonNull(value), null, null);
  }

  public static <O> Outcome<O> failure(Reason reason, String message) {
    return new Outcome<>(null, Objects.requireNonNull(reason), message);
  }

  public boolean isSuccess() { return reason == null; }
  public O value() {
    if (reason != null) {
      throw new InferenceException(reason, message);
    }
    return value;
  }
  public Reason reason() { return reason; }
  public String message() { return message; }

  @Override
  public String toString() {
    return isSuccess() ? "Outcome[" + value + "]" : "Outcome[" + reason + ": " + message + "]";
  }
}
