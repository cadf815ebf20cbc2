package io.distilstream.runtime.batch;

import java.io.Serializable;

/**
 * Limits for one model call: at most {@code maxBatchSize} sequences, at most {@code maxTokens} padded tokens
 * (rows x longest row), and padded tokens at most {@code maxPaddingRatio} times the real ones. A single sequence
 * longer than {@code maxTokens} still runs, alone.
 *
 * <p>The padding bound is what makes batching pay on a CPU: there one thread at batch 1 is as fast per token as any
 * batch, so splitting a batch into groups of similar length costs nothing, while every pad token costs a real one.
 * On a GPU, where bigger batches win, raise it.
 */
public final class BatchingOptions implements Serializable {
  private static final long serialVersionUID = 1L;

  public static final int DEFAULT_MAX_BATCH_SIZE = 32;
  public static final int DEFAULT_MAX_TOKENS = 4096;
  public static final double DEFAULT_MAX_PADDING_RATIO = 1.10; // bench: +8% over 1.25 on CPU (padding x1.05 vs x1.15)
  /**
   * Batches' worth of queued requests a micro-batcher plans over when more than one batch waits (issue 22): a
   * wider window gives fuller length groups; 1 plans each batch of arrivals on its own, as before.
   */
  public static final int DEFAULT_PLAN_WINDOW_BATCHES = 4;

  private final int maxBatchSize;
  private final int maxTokens;
  private final double maxPaddingRatio;
  private final int planWindowBatches;

  public BatchingOptions(int maxBatchSize, int maxTokens) {
    this(maxBatchSize, maxTokens, DEFAULT_MAX_PADDING_RATIO);
  }

  public BatchingOptions(int maxBatchSize, int maxTokens, double maxPaddingRatio) {
    this(maxBatchSize, maxTokens, maxPaddingRatio, DEFAULT_PLAN_WINDOW_BATCHES);
  }

  /** As above, planning over {@code planWindowBatches} batches' worth of queued requests under load. */
  public BatchingOptions(int maxBatchSize, int maxTokens, double maxPaddingRatio, int planWindowBatches) {
    if (planWindowBatches < 1) {
      throw new IllegalArgumentException("plan-window must be >= 1 batch, got " + planWindowBatches);
    }
    this.planWindowBatches = planWindowBatches;
    if (!(maxPaddingRatio >= 1)) {
      throw new IllegalArgumentException("max-padding-ratio must be >= 1, got " + maxPaddingRatio);
    }
    this.maxPaddingRatio = maxPaddingRatio;
    if (maxBatchSize < 1) {
      throw new IllegalArgumentException("max-batch-size must be >= 1, got " + maxBatchSize);
    }
    if (maxTokens < 1) {
      throw new IllegalArgumentException("max-tokens must be >= 1, got " + maxTokens);
    }
    this.maxBatchSize = maxBatchSize;
    this.maxTokens = maxTokens;
  }

  public static BatchingOptions defaults() {
    return new BatchingOptions(DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_TOKENS);
  }

  public int maxBatchSize() { return maxBatchSize; }
  public int maxTokens() { return maxTokens; }
  public double maxPaddingRatio() { return maxPaddingRatio; }
  /** Batches' worth of queued requests planned together under load (see {@link #DEFAULT_PLAN_WINDOW_BATCHES}). */
  public int planWindowBatches() { return planWindowBatches; }

  @Override
  public String toString() {
    return "max-batch-size=" + maxBatchSize + ", max-tokens=" + maxTokens + ", max-padding-ratio=" + maxPaddingRatio
        + ", plan-window=" + planWindowBatches;
  }
}
