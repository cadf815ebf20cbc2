package io.distilstream.runtime.batch;

import ai.onnxruntime.OrtException;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.tokenizer.Encoding;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs many sequences through one session in as few, as tightly padded calls as the limits allow.
 *
 * <p>Sequences are sorted by length and cut into consecutive groups, so every group is padded only to its own
 * longest member: padding in arrival order costs about 2.3x on a CPU, because attention and the feed-forward
 * layers pay for every pad token. Each result goes back to the position its sequence had in the request.
 */
public final class DynamicBatcher {
  private final ModelSession session;
  private final BatchingOptions options;

  public DynamicBatcher(ModelSession session, BatchingOptions options) {
    this.session = session;
    this.options = options;
  }

  public ModelSession session() { return session; }
  public BatchingOptions options() { return options; }

  /**
   * @return {@code [output][i]}: the outputs of {@code sequences.get(i)}, un-padded (see {@link ModelSession#run})
   */
  public float[][][] run(List<Encoding> sequences) throws OrtException {
    return run(sequences, null);
  }

  /** As {@link #run(List)}, keeping only the token rows {@code keep} names (see {@link ModelSession#run(List,
   * ModelSession.TokenRows)}). */
  public float[][][] run(List<Encoding> sequences, ModelSession.TokenRows keep) throws OrtException {
    int n = sequences.size();
    float[][][] out = new float[session.outputNames().size()][n][];
    for (int[] group : plan(sequences, options)) {
      List<Encoding> batch = new ArrayList<>(group.length);
      for (int i : group) {
        batch.add(sequences.get(i));
      }
      float[][][] res = session.run(batch, keep);
      for (int o = 0; o < out.length; o++) {
        for (int r = 0; r < group.length; r++) {
          out[o][group[r]] = res[o][r];
        }
      }
    }
    return out;
  }

  /**
   * Groups sequence indices into batches: ascending length, at most {@code maxBatchSize} rows and {@code maxTokens}
   * padded tokens per batch, and no more padding than {@code maxPaddingRatio} allows. Exposed for tests and the
   * benchmark.
   */
  public static List<int[]> plan(List<Encoding> sequences, BatchingOptions options) {
    int n = sequences.size();
    int[] lengths = new int[n];
    for (int i = 0; i < n; i++) {
      lengths[i] = sequences.get(i).length();
    }
    return plan(lengths, options);
  }

  public static List<int[]> plan(int[] lengths, BatchingOptions options) {
    int n = lengths.length;
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    // stable: equal lengths keep arrival order
    java.util.Arrays.sort(order, (a, b) -> Integer.compare(lengths[a], lengths[b]));
    List<int[]> groups = new ArrayList<>();
    int start = 0;
    while (start < n) {
      int end = start + 1;
      long real = lengths[order[start]];
      // sorted ascending, so the candidate's length is the group's padded length
      while (end < n && end - start < options.maxBatchSize()) {
        long padded = (long) (end - start + 1) * lengths[order[end]];
        if (padded > options.maxTokens() || padded > options.maxPaddingRatio() * (real + lengths[order[end]])) {
          break;
        }
        real += lengths[order[end]];
        end++;
      }
      int[] g = new int[end - start];
      for (int k = 0; k < g.length; k++) {
        g[k] = order[start + k];
      }
      groups.add(g);
      start = end;
    }
    return groups;
  }
}
