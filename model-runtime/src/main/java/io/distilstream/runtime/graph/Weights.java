package io.distilstream.runtime.graph;

import java.util.Random;

/** Where the graph builder takes its weights: a safetensors checkpoint, or a seeded random initialisation. */
public interface Weights {
  boolean has(String name);

  /** The tensor, row-major, checked against {@code shape}. */
  float[] get(String name, long... shape);

  static Weights of(SafeTensors file) {
    return new Weights() {
      @Override
      public boolean has(String name) {
        return file.has(name);
      }

      @Override
      public float[] get(String name, long... shape) {
        return file.floats(name, shape);
      }
    };
  }

  /**
   * Hugging Face's initialisation, reproducibly: normal(0, {@code std}) for matrices and embeddings, ones for
   * LayerNorm weights, zeros for biases. Each tensor's values depend only on the seed and its name.
   */
  static Weights seeded(long seed, double std) {
    return new Weights() {
      @Override
      public boolean has(String name) {
        return true;
      }

      @Override
      public float[] get(String name, long... shape) {
        long n = 1;
        for (long d : shape) {
          n *= d;
        }
        float[] out = new float[Math.toIntExact(n)];
        boolean norm = name.contains("LayerNorm") || name.contains("layer_norm");
        if (name.endsWith(".bias") || name.endsWith(".beta")) {
          return out;
        }
        if (norm) {
          java.util.Arrays.fill(out, 1f);
          return out;
        }
        Random r = new Random(seed * 1_000_003L + name.hashCode());
        for (int i = 0; i < out.length; i++) {
          out[i] = (float) (r.nextGaussian() * std);
        }
        return out;
      }
    };
  }
}
