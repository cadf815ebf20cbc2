package io.distilstream.runtime.pipeline;

/** An input that could not be turned into a result, with the reason code. */
public class InferenceException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final Outcome.Reason reason;
  private final String detail;

  public InferenceException(Outcome.Reason reason, String message) {
    super(reason + ": " + message);
    this.reason = reason;
    this.detail = message;
  }

  public InferenceException(Outcome.Reason reason, String message, Throwable cause) {
    super(reason + ": " + message, cause);
    this.reason = reason;
    this.detail = message;
  }

  /** The message without the reason code in front. */
  public String detail() {
    return detail;
  }

  public Outcome.Reason reason() {
    return reason;
  }
}
