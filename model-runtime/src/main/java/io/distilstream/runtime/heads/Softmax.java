package io.distilstream.runtime.heads;

/** Numerically stable softmax and sigmoid over slices of float arrays. */
final class Softmax {
  private Softmax() {}

  /** Softmax of {@code in[from .. from+n)} into {@code out[0 .. n)}. */
  static void softmax(float[] in, int from, int n, float[] out) {
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      max = Math.max(max, in[from + i]);
    }
    double sum = 0;
    for (int i = 0; i < n; i++) {
      double e = Math.exp(in[from + i] - max);
      out[i] = (float) e;
      sum += e;
    }
    for (int i = 0; i < n; i++) {
      out[i] = (float) (out[i] / sum);
    }
  }

  static float sigmoid(float x) {
    return (float) (1.0 / (1.0 + Math.exp(-x)));
  }

  static int argmax(float[] v, int from, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
      if (v[from + i] > v[from + best]) {
        best = i;
      }
    }
    return best;
  }
}
