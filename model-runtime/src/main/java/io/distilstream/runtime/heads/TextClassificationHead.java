package io.distilstream.runtime.heads;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Logits to labels as Hugging Face's text-classification pipeline does: softmax for single-label models, a sigmoid
 * per label for multi-label ones (and for a single logit), sorted by score, cut to {@code topK}; then labels under
 * their own threshold (if one is set) are dropped.
 */
public final class TextClassificationHead {
  private final List<String> id2label;
  private final boolean multiLabel;
  private final int topK;
  private final Map<String, Float> thresholds;

  /**
   * @param topK labels to keep, 0 = all
   * @param thresholds minimum score per label; labels without one are kept
   */
  public TextClassificationHead(List<String> id2label, boolean multiLabel, int topK, Map<String, Float> thresholds) {
    this.id2label = List.copyOf(id2label);
    this.multiLabel = multiLabel;
    this.topK = topK;
    this.thresholds = Map.copyOf(thresholds);
  }

  public List<LabelScore> postprocess(float[] logits) {
    return rank(scores(logits));
  }

  /**
   * A text classified window by window: each window's scores (softmax or sigmoid) are pooled label by label, their
   * mean ({@code max = false}) or their maximum, then sorted, cut and thresholded as for one window.
   */
  public List<LabelScore> postprocessWindows(List<float[]> windowLogits, boolean max) {
    int n = id2label.size();
    float[] pooled = new float[n];
    if (max) {
      java.util.Arrays.fill(pooled, Float.NEGATIVE_INFINITY);
    }
    for (float[] logits : windowLogits) {
      float[] s = scores(logits);
      for (int i = 0; i < n; i++) {
        pooled[i] = max ? Math.max(pooled[i], s[i]) : pooled[i] + s[i] / windowLogits.size();
      }
    }
    return rank(pooled);
  }

  private float[] scores(float[] logits) {
    int n = id2label.size();
    if (logits.length != n) {
      throw new IllegalArgumentException("expected " + n + " logits (id2label), got " + logits.length);
    }
    float[] scores = new float[n];
    if (multiLabel) {
      for (int i = 0; i < n; i++) {
        scores[i] = Softmax.sigmoid(logits[i]);
      }
    } else {
      Softmax.softmax(logits, 0, n, scores);
    }
    return scores;
  }

  private List<LabelScore> rank(float[] scores) {
    int n = scores.length;
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> Float.compare(scores[b], scores[a]));
    int keep = topK <= 0 ? n : Math.min(topK, n);
    List<LabelScore> out = new ArrayList<>(keep);
    for (int k = 0; k < keep; k++) {
      String label = id2label.get(order[k]);
      Float min = thresholds.get(label);
      if (min == null || scores[order[k]] >= min) {
        out.add(new LabelScore(label, scores[order[k]]));
      }
    }
    return out;
  }
}
