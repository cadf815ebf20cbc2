package io.distilstream.runtime.heads;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Masked-LM logits to predictions as Hugging Face's fill-mask pipeline does: for every {@code [MASK]} in the input,
 * a softmax over the whole vocabulary at that position, the {@code topK} most likely tokens, and for each the input
 * with the mask replaced and decoded ({@code sequence}). With one mask the sequence skips special tokens; with more
 * than one it keeps them (the other masks show as {@code [MASK]}), as Hugging Face's pipeline does.
 */
public final class FillMaskHead {
  /** Hugging Face's {@code top_k} default. */
  public static final int DEFAULT_TOP_K = 5;

  /** One candidate for one mask: {@code {score, token, token_str, sequence}}. */
  public record Prediction(float score, int token, String tokenStr, String sequence) {}

  /** Decodes ids as {@code tokenizer.decode(ids, skip_special_tokens)}. */
  @FunctionalInterface
  public interface Decoder {
    String decode(int[] ids, boolean skipSpecialTokens);
  }

  private final int topK;

  /** @param topK candidates per mask; capped at the vocabulary size, 0 = the whole vocabulary */
  public FillMaskHead(int topK) {
    if (topK < 0) {
      throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
    }
    this.topK = topK;
  }

  /** Positions of {@code maskId} in {@code ids}. */
  public static int[] maskPositions(int[] ids, int maskId) {
    return java.util.stream.IntStream.range(0, ids.length).filter(i -> ids[i] == maskId).toArray();
  }

  /**
   * Most tokens of decoded {@code sequence} text one result carries, over all its candidates: each candidate
   * repeats the whole input, so 510 masks x 5 candidates of a 512-token text would be 1.3M tokens. Past this
   * bound {@code sequence} is left empty and the result carries {@code token} and {@code token_str} alone.
   */
  public static final int MAX_SEQUENCE_TOKENS = 16_384;

  /**
   * @param ids the input's token ids (no padding)
   * @param logits {@code [ids.length x vocab]}, row-major
   * @param masks the positions to fill, in order
   * @return one list of predictions per mask, best first
   */
  public List<List<Prediction>> postprocess(int[] ids, float[] logits, int vocab, int[] masks, int padId,
      Decoder decoder) {
    if (logits.length != ids.length * vocab) {
      throw new IllegalArgumentException("expected " + ids.length + " x " + vocab + " logits, got " + logits.length);
    }
    if (masks.length == 0) {
      throw new IllegalArgumentException("no mask position");
    }
    float[] rows = new float[masks.length * vocab];
    for (int i = 0; i < masks.length; i++) {
      System.arraycopy(logits, masks[i] * vocab, rows, i * vocab, vocab);
    }
    return postprocessMaskRows(ids, rows, vocab, masks, padId, decoder);
  }

  /**
   * As {@link #postprocess}, from the logits rows of the masks alone.
   *
   * @param maskLogits {@code [masks.length x vocab]}, row-major, row {@code i} at position {@code masks[i]}
   */
  public List<List<Prediction>> postprocessMaskRows(int[] ids, float[] maskLogits, int vocab, int[] masks,
      int padId, Decoder decoder) {
    if (masks.length == 0) {
      throw new IllegalArgumentException("no mask position");
    }
    if (maskLogits.length != masks.length * vocab) {
      throw new IllegalArgumentException("expected " + masks.length + " x " + vocab + " logits, got "
          + maskLogits.length);
    }
    int k = topK == 0 ? vocab : Math.min(topK, vocab);
    boolean single = masks.length == 1;
    boolean sequences = (long) masks.length * k * ids.length <= MAX_SEQUENCE_TOKENS;
    List<List<Prediction>> out = new ArrayList<>(masks.length);
    float[] probs = new float[vocab];
    for (int i = 0; i < masks.length; i++) {
      int m = masks[i];
      Softmax.softmax(maskLogits, i * vocab, vocab, probs);
      int[] best = topK(probs, k);
      List<Prediction> row = new ArrayList<>(k);
      for (int token : best) {
        String sequence = "";
        if (sequences) {
          int[] filled = ids.clone();
          filled[m] = token;
          int[] kept = Arrays.stream(filled).filter(id -> id != padId).toArray();
          sequence = decoder.decode(kept, single);
        }
        row.add(new Prediction(probs[token], token, decoder.decode(new int[] {token}, false), sequence));
      }
      out.add(row);
    }
    return out;
  }

  /** Indices of the k largest values, largest first; ties by lower index first. */
  static int[] topK(float[] v, int k) {
    if (k >= v.length / 4) {
      Integer[] idx = new Integer[v.length];
      for (int i = 0; i < v.length; i++) {
        idx[i] = i;
      }
      Arrays.sort(idx, (a, b) -> v[a] != v[b] ? Float.compare(v[b], v[a]) : Integer.compare(a, b));
      int[] out = new int[k];
      for (int i = 0; i < k; i++) {
        out[i] = idx[i];
      }
      return out;
    }
    // a min-heap of size k over a large vocabulary
    java.util.Comparator<Integer> ascending =
        (a, b) -> v[a] != v[b] ? Float.compare(v[a], v[b]) : Integer.compare(b, a);
    java.util.PriorityQueue<Integer> heap = new java.util.PriorityQueue<>(k + 1, ascending);
    for (int i = 0; i < v.length; i++) {
      if (heap.size() == k && ascending.compare(i, heap.peek()) < 0) {
        continue; // would be polled straight away: most of the vocabulary, without boxing it
      }
      heap.add(i);
      if (heap.size() > k) {
        heap.poll();
      }
    }
    int[] out = new int[heap.size()];
    for (int i = out.length - 1; i >= 0; i--) {
      out[i] = heap.poll();
    }
    return out;
  }
}
