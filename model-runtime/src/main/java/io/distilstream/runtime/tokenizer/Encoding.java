package io.distilstream.runtime.tokenizer;

import java.util.Arrays;

/**
 * One tokenized sequence (or one window of an overflowing sequence), as Hugging Face's fast tokenizers return it.
 *
 * <p>Arrays are parallel and have exactly {@link #length()} entries: no padding is stored here, padding is the
 * batcher's job. Offsets are Java {@code String} indices (UTF-16 code units) into the string the token came from
 * (the first or the second sequence of a pair, see {@link #sequenceIds}), so {@code text.substring(start, end)} is
 * the token's text. Special tokens have offsets {@code (0, 0)}, word id {@code -1} and sequence id {@code -1}.
 */
public final class Encoding {
  public final int[] ids;
  public final int[] typeIds;
  public final int[] starts;
  public final int[] ends;
  /** Index of the pre-tokenized word the token belongs to, counted within its own sequence; -1 for specials. */
  public final int[] wordIds;
  /** 0 for the first sequence, 1 for the second, -1 for special tokens. */
  public final byte[] sequenceIds;

  public Encoding(int[] ids, int[] typeIds, int[] starts, int[] ends, int[] wordIds, byte[] sequenceIds) {
    int n = ids.length;
    if (typeIds.length != n || starts.length != n || ends.length != n || wordIds.length != n
        || sequenceIds.length != n) {
      throw new IllegalArgumentException("Encoding arrays must all have length " + n);
    }
    this.ids = ids;
    this.typeIds = typeIds;
    this.starts = starts;
    this.ends = ends;
    this.wordIds = wordIds;
    this.sequenceIds = sequenceIds;
  }

  /** An encoding of bare ids (no text behind them), e.g. pre-tokenized input: offsets and word ids are unknown. */
  public static Encoding ofIds(int[] ids, int[] typeIds) {
    int n = ids.length;
    int[] minus = new int[n];
    Arrays.fill(minus, -1);
    byte[] seq = new byte[n];
    return new Encoding(ids, typeIds == null ? new int[n] : typeIds, new int[n], new int[n], minus, seq);
  }

  public int length() {
    return ids.length;
  }

  public boolean isSpecial(int i) {
    return sequenceIds[i] < 0;
  }

  @Override
  public String toString() {
    return "Encoding" + Arrays.toString(ids);
  }
}
