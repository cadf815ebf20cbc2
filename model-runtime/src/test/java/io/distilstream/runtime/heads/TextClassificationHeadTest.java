package io.distilstream.runtime.heads;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TextClassificationHeadTest {
  static final List<String> LABELS = List.of("a", "b", "c");
  static final float[] LOGITS = {1f, 3f, -2f};

  @Test
  void softmaxSortedAndCut() {
    double z = Math.exp(1) + Math.exp(3) + Math.exp(-2);
    List<LabelScore> all = new TextClassificationHead(LABELS, false, 0, Map.of()).postprocess(LOGITS);
    assertThat(all).extracting(LabelScore::label).containsExactly("b", "a", "c");
    assertThat((double) all.get(0).score()).isCloseTo(Math.exp(3) / z, within(1e-6));
    assertThat((double) all.get(2).score()).isCloseTo(Math.exp(-2) / z, within(1e-6));
    assertThat(new TextClassificationHead(LABELS, false, 1, Map.of()).postprocess(LOGITS)).hasSize(1);
    // large logits do not overflow
    assertThat(new TextClassificationHead(LABELS, false, 1, Map.of()).postprocess(new float[] {1000, 999, 0})
        .get(0).score()).isCloseTo((float) (1 / (1 + Math.exp(-1))), within(1e-6f));
  }

  @Test
  void sigmoidPerLabelWithThresholds() {
    List<LabelScore> out = new TextClassificationHead(LABELS, true, 0, Map.of("a", 0.8f)).postprocess(LOGITS);
    // a: sigmoid(1) = .731 is under its threshold .8; c has none and stays
    assertThat(out).extracting(LabelScore::label).containsExactly("b", "c");
    assertThat((double) out.get(0).score()).isCloseTo(1 / (1 + Math.exp(-3)), within(1e-6));
    assertThat((double) out.get(1).score()).isCloseTo(1 / (1 + Math.exp(2)), within(1e-6));
  }

  @Test
  void poolingAndNormalisation() {
    float[] hidden = {1, 2, 3, 4, 5, 6}; // 3 tokens x 2
    assertThat(FeatureExtractionHead.meanPool(hidden, 3, 2)).containsExactly(3f, 4f);
    assertThat(FeatureExtractionHead.clsPool(hidden, 3, 2)).containsExactly(1f, 2f);
    float[] v = {3, 4};
    FeatureExtractionHead.l2Normalize(v);
    assertThat(v).containsExactly(0.6f, 0.8f);
  }
}
