package io.distilstream.tools.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The reader-side gap of a fault, without a cluster: from the fault to the first result a read_committed reader
 * saw after it, and the largest time between two consecutive results up to the next fault.
 */
class ReaderGapTest {
  @Test
  void resumeCountsFromTheFaultAndTheGapFromTheLastResultBeforeIt() {
    // results every second, the fault at 4500, nothing visible until 19000 (an open transaction held it back)
    long[] seen = {1000, 2000, 3000, 4000, 19000, 20000, 21000};
    ResultCounter.Gap g = ResultCounter.gapAround(seen, 4500, 30_000);
    assertThat(g.resumeMs()).isEqualTo(14_500);
    assertThat(g.gapMs()).isEqualTo(15_000);
  }

  @Test
  void theGapLooksOnlyUpToTheNextFault() {
    long[] seen = {1000, 2000, 5000, 6000, 20000};
    // the fault at 2500, the next one at 10000: of the 14 s before 20000, this fault's window holds 4
    ResultCounter.Gap g = ResultCounter.gapAround(seen, 2500, 10_000);
    assertThat(g.resumeMs()).isEqualTo(2500);
    assertThat(g.gapMs()).isEqualTo(4000);
    // the next fault's own gap starts at its last result before it
    assertThat(ResultCounter.gapAround(seen, 10_000, 30_000).gapMs()).isEqualTo(14_000);
  }

  @Test
  void aResultAtTheFaultsInstantIsBeforeIt() {
    long[] seen = {1000, 4000, 4100};
    ResultCounter.Gap g = ResultCounter.gapAround(seen, 4000, 10_000);
    assertThat(g.resumeMs()).isEqualTo(100);
    assertThat(g.gapMs()).isEqualTo(100);
  }

  @Test
  void aPartitionWithoutResultsBeforeTheFaultCountsFromTheFault() {
    long[] seen = {7000, 8000};
    ResultCounter.Gap g = ResultCounter.gapAround(seen, 3000, 10_000);
    assertThat(g.resumeMs()).isEqualTo(4000);
    assertThat(g.gapMs()).isEqualTo(4000);
  }

  @Test
  void aPartitionWithNothingAfterTheFaultHasNoGap() {
    assertThat(ResultCounter.gapAround(new long[] {1000, 2000}, 2000, 10_000)).isNull();
    assertThat(ResultCounter.gapAround(new long[0], 0, 10_000)).isNull();
  }

  @Test
  void percentilesAreNearestRank() {
    assertThat(ResultCounter.percentile(List.of(5L, 1L, 3L, 2L, 4L), 0.5)).isEqualTo(3L);
    assertThat(ResultCounter.percentile(List.of(5L, 1L, 3L, 2L), 0.5)).isEqualTo(2L);
    assertThat(ResultCounter.percentile(List.of(5L, 1L, 3L), 1.0)).isEqualTo(5L);
    assertThat(ResultCounter.percentile(List.of(7L), 0.5)).isEqualTo(7L);
    assertThat(ResultCounter.percentile(List.of(), 0.5)).isNull();
  }
}
