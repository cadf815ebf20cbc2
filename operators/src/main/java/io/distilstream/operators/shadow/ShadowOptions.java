package io.distilstream.operators.shadow;

import io.distilstream.runtime.compare.Agreement;
import java.io.Serializable;
import java.time.Duration;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;

/** How shadow models are compared with their primaries ({@code inference.shadow.*}). */
public final class ShadowOptions {
  public static final ConfigOption<Integer> SUMMARY_EVERY = ConfigOptions.key("inference.shadow.summary-every")
      .intType().defaultValue(1000)
      .withDescription("A ShadowSummary is written per primary/shadow pair every this many compared events (events"
          + " where both models had a result). A partial window at the end of a bounded input is not written.");
  public static final ConfigOption<Duration> PAIR_TIMEOUT = ConfigOptions.key("inference.shadow.pair-timeout")
      .durationType().defaultValue(Duration.ofMinutes(5))
      .withDescription("How long one model's result of an event waits for the other model's (processing time);"
          + " then it is counted as unpaired and its state dropped. Bounds the join's state.");
  public static final ConfigOption<Integer> MAX_FLIP_PAIRS = ConfigOptions.key("inference.shadow.max-flip-pairs")
      .intType().defaultValue(Agreement.DEFAULT_MAX_FLIP_PAIRS)
      .withDescription("Distinct label flip pairs (from→to) kept per summary; flips of further pairs are counted in"
          + " the summary's flips_other.");

  private ShadowOptions() {}

  /** The settings the shadow operators run with. */
  public record Settings(int summaryEvery, Duration pairTimeout, int maxFlipPairs) implements Serializable {
    public Settings {
      if (summaryEvery < 1) {
        throw new IllegalArgumentException(SUMMARY_EVERY.key() + " must be >= 1, got " + summaryEvery);
      }
      if (pairTimeout.isNegative() || pairTimeout.isZero()) {
        throw new IllegalArgumentException(PAIR_TIMEOUT.key() + " must be positive, got " + pairTimeout);
      }
      if (maxFlipPairs < 0) {
        throw new IllegalArgumentException(MAX_FLIP_PAIRS.key() + " must be >= 0, got " + maxFlipPairs);
      }
    }

    public static Settings of(ReadableConfig c) {
      return new Settings(c.get(SUMMARY_EVERY), c.get(PAIR_TIMEOUT), c.get(MAX_FLIP_PAIRS));
    }
  }
}
