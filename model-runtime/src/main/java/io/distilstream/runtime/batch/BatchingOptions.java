package io.distilstream.runtime.batch;

import java.io.Serializable;

/**
 * Limits for one model call: at most {@code maxBatchSize} sequences and at most {@code maxTokens} padded tokens
 * (rows x longest row). A single sequence longer than {@code maxTokens} still runs, alone.
 */
public final class BatchingOptions implements Serializable {
  private static final long serialVersionUID = 1L;

  public static final int DEFAULT_MAX_BATCH_SIZE = 32;
  public static final int DEFAULT_MAX_TOKENS = 4096;

  private final int maxBatchSize;
  private final int maxTokens;

  public BatchingOptions(int maxBatchSize, int maxTokens) {
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

  @Override
  public String toString() {
    return "max-batch-size=" + maxBatchSize + ", max-tokens=" + maxTokens;
  }
}
