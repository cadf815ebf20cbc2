package io.distilstream.operators;

/** Where in the job an event was dead-lettered. The {@link #code} is the record's {@code stage}, a stable contract. */
public enum Stage {
  /** Decoding the Kafka record into an event. */
  DECODE("decode"),
  /** The checks and pre-processing before the model runs: text, tasks, bounds, tokenization. */
  PREPROCESS("preprocess"),
  /** Running the model, or its result: a model error, a timeout, a result too large to write. */
  INFERENCE("inference"),
  /** A hot reload of a model; not about one event. */
  RELOAD("reload");

  private final String code;

  Stage(String code) {
    this.code = code;
  }

  /** The string written to the record's {@code stage}. */
  public String code() {
    return code;
  }
}
