package io.distilstream.runtime.batch;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class DynamicBatcherPlanTest {
  @Test
  void groupsByLengthAndBoundsPadding() {
    int[] lengths = {100, 10, 41, 12, 10, 40, 11};
    List<int[]> groups = DynamicBatcher.plan(lengths, new BatchingOptions(32, 4096, 1.25));
    // indices by length: 10(1) 10(4) 11(6) 12(3) | 40(5) 41(2) | 100(0)
    assertThat(groups).containsExactly(new int[] {1, 4, 6, 3}, new int[] {5, 2}, new int[] {0});
  }

  @Test
  void withoutAPaddingBoundOnlySizeAndTokensCut() {
    int[] lengths = {100, 10, 41, 12, 10, 40, 11};
    assertThat(DynamicBatcher.plan(lengths, new BatchingOptions(32, 4096, 1000))).hasSize(1);
    assertThat(DynamicBatcher.plan(lengths, new BatchingOptions(3, 4096, 1000)))
        .containsExactly(new int[] {1, 4, 6}, new int[] {3, 5, 2}, new int[] {0});
    // 4 x 41 = 164 > 150 tokens: the fourth row goes to the next batch
    assertThat(DynamicBatcher.plan(new int[] {41, 41, 41, 41}, new BatchingOptions(32, 150, 1000))).hasSize(2);
  }
}
