package io.distilstream.runtime.heads;

/** Pooling of an encoder's last hidden state ({@code len x dim}, row-major, padding already removed). */
public final class FeatureExtractionHead {
  private FeatureExtractionHead() {}

  /** Mean over the sequence's tokens (specials included, as sentence-transformers' mean pooling does). */
  public static float[] meanPool(float[] hidden, int len, int dim) {
    double[] sum = new double[dim];
    for (int t = 0; t < len; t++) {
      int off = t * dim;
      for (int d = 0; d < dim; d++) {
        sum[d] += hidden[off + d];
      }
    }
    float[] out = new float[dim];
    for (int d = 0; d < dim; d++) {
      out[d] = (float) (sum[d] / len);
    }
    return out;
  }

  /** The first ([CLS]) token's vector. */
  public static float[] clsPool(float[] hidden, int len, int dim) {
    if (len < 1) {
      throw new IllegalArgumentException("empty sequence");
    }
    return java.util.Arrays.copyOf(hidden, dim);
  }

  /** Scales {@code v} to unit length in place (a zero vector stays zero). */
  public static void l2Normalize(float[] v) {
    double s = 0;
    for (float f : v) {
      s += (double) f * f;
    }
    double norm = Math.max(Math.sqrt(s), 1e-12);
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (v[i] / norm);
    }
  }
}
