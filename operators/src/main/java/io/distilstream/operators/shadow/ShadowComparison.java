package io.distilstream.operators.shadow;

/**
 * One event's comparison of a primary's and a shadow's result, between the join and the summary: a Flink POJO
 * (public fields, no-argument constructor) so that it travels and checkpoints without Kryo.
 */
public final class ShadowComparison {
  /** {@link ShadowPair#key()}. */
  public String pair;
  /** The primary's name. */
  public String primary;
  /** The primary's version, or null when it had no result. */
  public String primaryVersion;
  /** The shadow's name. */
  public String shadow;
  /** The shadow's version, or null when it had no result. */
  public String shadowVersion;
  /** Hugging Face task id. */
  public String task;
  /** Why the event was not compared (a side's dead-letter reason, or PAIR_TIMEOUT); null when it was. */
  public String unpairedReason;
  /** The one event's {@code Agreement} as JSON ({@code Agreement#toJson}); null when not compared. */
  public String agreement;
  /** Processing time when the pair completed (or timed out), ms since the epoch. */
  public long time;

  public ShadowComparison() {}

  /** True when both sides had a result and were compared. */
  public boolean compared() {
    return unpairedReason == null;
  }

  @Override
  public String toString() {
    return "ShadowComparison[" + pair + " " + task + (compared() ? " " + agreement : " unpaired: " + unpairedReason)
        + "]";
  }
}
