package io.distilstream.operators.shadow;

import io.distilstream.schemas.InferenceOutput;

/**
 * One model's output of one event, tagged with the pair it belongs to and its side: a Flink POJO (the output is
 * serialized with Avro) keyed by {@link #joinKey()}.
 */
public final class ShadowSide {
  /** {@link ShadowPair#key()}. */
  public String pair;
  /** The event id. */
  public String id;
  /** True for the primary's output, false for the shadow's. */
  public boolean primary;
  /** A result or a dead letter. */
  public InferenceOutput output;

  public ShadowSide() {}

  public ShadowSide(String pair, String id, boolean primary, InferenceOutput output) {
    this.pair = pair;
    this.id = id;
    this.primary = primary;
    this.output = output;
  }

  /** Pair and event: the two sides of one comparison meet under this key. */
  public String joinKey() {
    return pair + '\n' + id;
  }
}
