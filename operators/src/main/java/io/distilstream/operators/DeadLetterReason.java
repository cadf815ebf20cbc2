package io.distilstream.operators;

import io.distilstream.runtime.pipeline.Outcome;

/**
 * Why an event was dead-lettered. The {@link #code} is the dead-letter record's {@code reason}: a stable contract,
 * consumers of the dead-letter topic match on it, so a constant is never renamed, only added.
 */
public enum DeadLetterReason {
  /** The Kafka record is not an event: not Avro or JSON of the schema, bad UTF-8, empty, cut short. */
  MALFORMED_EVENT,
  /** The event cannot run: text missing, blank or unprintable, a question without context, pre-processing threw. */
  INVALID_INPUT,
  /** The text is over {@code inference.max-text-chars} (reject policy), or a question is too long for any window. */
  TEXT_TOO_LONG,
  /** The event names a task this job has no model for. */
  UNKNOWN_TASK,
  /** ONNX Runtime failed on this event. */
  MODEL_ERROR,
  /** No result within {@code inference.timeout}. */
  TIMEOUT,
  /**
   * The event passes a documented cost bound other than text length (record bytes, id or key length, attributes,
   * task names, masks, choices); the message names the option.
   */
  LIMIT_EXCEEDED,
  /**
   * The result, encoded, would be larger than the sink's {@code max.request.size}: written, it would fail the job
   * on every replay. The message gives both sizes.
   */
  RESULT_TOO_LARGE,
  /** A hot reload found a new model that does not load; the previous model keeps serving. Not about one event. */
  MODEL_RELOAD_FAILED,
  /**
   * The event names a model this job does not have (its {@code models}, the routing header or an attribute rule):
   * one dead letter per event, quoting the names, and the event runs no model, so that replaying the dead letter
   * once the model exists gives each result once.
   */
  UNKNOWN_MODEL;


  /** The string written to the record's {@code reason}. */
  public String code() {
    return name();
  }

  /**
   * The reason for a pipeline's failed outcome. An exhaustive switch: a new {@link Outcome.Reason} does not compile
   * until it has its dead-letter reason here, so the two lists cannot drift.
   */
  public static DeadLetterReason of(Outcome.Reason reason) {
    return switch (reason) {
      case INVALID_INPUT -> INVALID_INPUT;
      case TEXT_TOO_LONG -> TEXT_TOO_LONG;
      case MODEL_ERROR -> MODEL_ERROR;
      case LIMIT_EXCEEDED -> LIMIT_EXCEEDED;
    };
  }
}
