package io.distilstream.runtime.graph;

import ai.onnxruntime.OrtException;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.tokenizer.Encoding;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * How far a reduced-precision graph (int8, fp16) drifts from its float32 original on the same inputs: top-1
 * agreement (the arg-max of every output vector: per sequence for classification, per token for token
 * classification, over positions for question-answering start/end), the largest and mean absolute output
 * difference, and the time each took. Both sessions see the same batches (sorted by length, like the pipelines do),
 * because dynamic quantization scales activations by the min and max of the whole batch tensor.
 */
public final class PrecisionReport {
  public final int sequences;
  public final long compared;
  public final long agreed;
  public final double maxAbsDiff;
  public final double meanAbsDiff;
  public final double referenceSeconds;
  public final double candidateSeconds;
  /** The float32 gap between the top two values, median over all compared vectors. */
  public final double medianMargin;
  /** The largest float32 top-two gap among the vectors whose top-1 changed (0 when none did). */
  public final double maxFlippedMargin;

  private PrecisionReport(int sequences, long compared, long agreed, double maxAbsDiff, double meanAbsDiff,
      double referenceSeconds, double candidateSeconds, double medianMargin, double maxFlippedMargin) {
    this.medianMargin = medianMargin;
    this.maxFlippedMargin = maxFlippedMargin;
    this.sequences = sequences;
    this.compared = compared;
    this.agreed = agreed;
    this.maxAbsDiff = maxAbsDiff;
    this.meanAbsDiff = meanAbsDiff;
    this.referenceSeconds = referenceSeconds;
    this.candidateSeconds = candidateSeconds;
  }

  public double top1Agreement() {
    return compared == 0 ? 1 : (double) agreed / compared;
  }

  /** Reference time over candidate time: above 1 when the candidate is faster. */
  public double speedup() {
    return referenceSeconds / candidateSeconds;
  }

  /** Runs {@code encodings} through both sessions in batches of {@code batchSize}. */
  public static PrecisionReport compare(ModelSession reference, ModelSession candidate, List<Encoding> encodings,
      int batchSize) throws OrtException {
    if (!reference.outputNames().equals(candidate.outputNames())) {
      throw new IllegalArgumentException("the graphs have different outputs: " + reference.outputNames() + " and "
          + candidate.outputNames());
    }
    List<Encoding> sorted = new ArrayList<>(encodings);
    sorted.sort(Comparator.comparingInt(Encoding::length));
    List<List<Encoding>> batches = new ArrayList<>();
    for (int i = 0; i < sorted.size(); i += batchSize) {
      batches.add(sorted.subList(i, Math.min(sorted.size(), i + batchSize)));
    }
    // warm both sessions up on the first batch
    reference.run(batches.get(0));
    candidate.run(batches.get(0));
    // batch by batch, alternating which runs first, so that a busy machine slows both alike
    List<float[][][]> ref = new ArrayList<>();
    List<float[][][]> cand = new ArrayList<>();
    long refNanos = 0;
    long candNanos = 0;
    for (int i = 0; i < batches.size(); i++) {
      List<Encoding> b = batches.get(i);
      for (int turn = 0; turn < 2; turn++) {
        boolean refTurn = (turn == 0) == (i % 2 == 0);
        long t = System.nanoTime();
        if (refTurn) {
          ref.add(reference.run(b));
          refNanos += System.nanoTime() - t;
        } else {
          cand.add(candidate.run(b));
          candNanos += System.nanoTime() - t;
        }
      }
    }

    long compared = 0;
    long agreed = 0;
    double max = 0;
    double sum = 0;
    long values = 0;
    List<Double> margins = new ArrayList<>();
    double maxFlipped = 0;
    for (int b = 0; b < batches.size(); b++) {
      for (int o = 0; o < reference.outputNames().size(); o++) {
        int width = reference.outputWidth(o);
        boolean overPositions = reference.outputShape(o) == ModelSession.OutputShape.PER_TOKEN_SCALAR;
        float[][] r = ref.get(b)[o];
        float[][] c = cand.get(b)[o];
        for (int row = 0; row < r.length; row++) {
          for (int k = 0; k < r[row].length; k++) {
            double d = Math.abs(r[row][k] - c[row][k]);
            max = Math.max(max, Double.isNaN(d) ? Double.POSITIVE_INFINITY : d);
            sum += d;
            values++;
          }
          int step = overPositions ? r[row].length : width;
          for (int start = 0; start + step <= r[row].length; start += step) {
            compared++;
            double margin = margin(r[row], start, step);
            margins.add(margin);
            if (argmax(r[row], start, step) == argmax(c[row], start, step)) {
              agreed++;
            } else {
              maxFlipped = Math.max(maxFlipped, margin);
            }
          }
        }
      }
    }
    return new PrecisionReport(encodings.size(), compared, agreed, max, values == 0 ? 0 : sum / values,
        refNanos / 1e9, candNanos / 1e9, margins.isEmpty() ? 0 : margins.stream().sorted().toList()
            .get(margins.size() / 2), maxFlipped);
  }

  private static double margin(float[] v, int from, int n) {
    double first = Double.NEGATIVE_INFINITY;
    double second = Double.NEGATIVE_INFINITY;
    for (int i = from; i < from + n; i++) {
      if (v[i] > first) {
        second = first;
        first = v[i];
      } else if (v[i] > second) {
        second = v[i];
      }
    }
    return n < 2 ? 0 : first - second;
  }

  private static int argmax(float[] v, int from, int n) {
    int best = from;
    for (int i = from + 1; i < from + n; i++) {
      if (v[i] > v[best]) {
        best = i;
      }
    }
    return best - from;
  }

  @Override
  public String toString() {
    return String.format(java.util.Locale.ROOT, "%d sequences: top-1 agreement %.2f%% (%d/%d), max abs diff %.4g,"
        + " mean abs diff %.4g; float32 top-two margin: median %.4g, largest among flips %.4g; %.2f s float32, %.2f s"
        + " candidate (x%.2f)", sequences, 100 * top1Agreement(), agreed, compared, maxAbsDiff, meanAbsDiff,
        medianMargin, maxFlippedMargin, referenceSeconds, candidateSeconds, speedup());
  }
}
