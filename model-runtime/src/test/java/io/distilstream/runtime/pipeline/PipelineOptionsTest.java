package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class PipelineOptionsTest {
  @Test
  void aSetterReturnsAChangedCopyAndLeavesTheOriginalAsItWas() {
    PipelineOptions base = PipelineOptions.defaults();
    PipelineOptions changed = base.topK(3).maxLength(256).threshold("toxic", 0.8f)
        .longText(PipelineOptions.LongText.CHUNK).pooling(PipelineOptions.Pooling.CLS);

    assertThat(changed).isNotSameAs(base);
    assertThat(changed.topK()).isEqualTo(3);
    assertThat(changed.maxLength()).isEqualTo(256);
    assertThat(changed.thresholds()).containsEntry("toxic", 0.8f);
    assertThat(changed.longText()).isEqualTo(PipelineOptions.LongText.CHUNK);
    assertThat(changed.pooling()).isEqualTo(PipelineOptions.Pooling.CLS);
    // the defaults another subtask or spec shares are untouched
    assertThat(base.topK()).isEqualTo(-1);
    assertThat(base.maxLength()).isZero();
    assertThat(base.thresholds()).isEmpty();
    assertThat(base.longText()).isNull();
    assertThat(base.pooling()).isEqualTo(PipelineOptions.Pooling.MEAN);
  }

  @Test
  void whatAGetterHandsOutCannotChangeTheOptions() {
    PipelineOptions o = PipelineOptions.defaults().threshold("a", 0.5f);
    assertThatThrownBy(() -> o.thresholds().put("b", 0.1f)).isInstanceOf(UnsupportedOperationException.class);
    assertThat(o.threshold("b", 0.1f).thresholds()).containsOnlyKeys("a", "b");
    assertThat(o.thresholds()).containsOnlyKeys("a");
  }

  @Test
  void invalidValuesAreRefusedWithTheOptionsName() {
    PipelineOptions o = PipelineOptions.defaults();
    assertThatThrownBy(() -> o.maxLength(-1)).hasMessageContaining("max-length");
    assertThatThrownBy(() -> o.topK(-2)).hasMessageContaining("top-k");
    assertThatThrownBy(() -> o.maxChoices(0)).hasMessageContaining("max-choices");
    assertThatThrownBy(() -> PipelineOptions.Pooling.parse("max")).hasMessageContaining("pooling must be mean or cls");
    assertThat(PipelineOptions.Pooling.parse(" CLS ")).isEqualTo(PipelineOptions.Pooling.CLS);
  }
}
