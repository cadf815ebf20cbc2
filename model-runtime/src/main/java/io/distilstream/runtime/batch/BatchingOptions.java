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

  private final int maxBatchSize;
  private final int maxTokens;
  private final double maxPaddingRatio;

  public BatchingOptions(int maxBatchSize, int maxTokens) {
    this(maxBatchSize, maxTokens, DEFAULT_MAX_PADDING_RATIO);
  }

  public BatchingOptions(int maxBatchSize, int maxTokens, double maxPaddingRatio) {
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

  @Override
  public String toString() {
    return "max-batch-size=" + maxBatchSize + ", max-tokens=" + maxTokens + ", max-padding-ratio=" + maxPaddingRatio;
  }
}
