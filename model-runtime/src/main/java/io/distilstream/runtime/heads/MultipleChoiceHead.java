package io.distilstream.runtime.heads;

import java.util.List;

/**
 * Multiple-choice logits ({@code [num_choices]}, one per prompt+choice pair) to a score per choice, the softmax over
 * the choices as {@code DistilBertForMultipleChoice}'s cross-entropy training defines it, and the best choice
 * (the arg-max; the first on ties).
 */
public final class MultipleChoiceHead {
  /** A prompt's choices with their logits and scores, in the order given; {@code best} indexes them. */
  public record Result(List<String> choices, float[] logits, float[] scores, int best) {
    public String bestChoice() {
      return choices.get(best);
    }
  }

  public Result postprocess(List<String> choices, float[] logits) {
    int n = choices.size();
    if (logits.length != n) {
      throw new IllegalArgumentException("expected " + n + " logits (one per choice), got " + logits.length);
    }
    float[] scores = new float[n];
    Softmax.softmax(logits, 0, n, scores);
    return new Result(List.copyOf(choices), logits.clone(), scores, Softmax.argmax(logits, 0, n));
  }
}
