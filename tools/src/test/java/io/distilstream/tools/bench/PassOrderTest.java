package io.distilstream.tools.bench;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.tokenizer.Encoding;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Issue 22, item 1: the bench feeds every pattern whole passes of the corpus, and each pass has the corpus' length
 * distribution, so events/s of patterns covering different passes compare like with like. The fortunes' word counts
 * stand in for their token counts here (the same long-tailed shape, no model needed).
 */
class PassOrderTest {
  private static int[] lengths() {
    return BenchTexts.fortunes().stream().mapToInt(t -> 2 + t.split("\\W+").length).toArray();
  }

  @Test
  void everyPassHasTheCorpusLengthsAndTheSeedFixesTheOrder() {
    int[] lengths = lengths();
    int[] order = BenchTexts.passOrder(lengths, 22);
    assertThat(order).isEqualTo(BenchTexts.passOrder(lengths, 22));
    assertThat(Arrays.stream(order).sorted().toArray()).as("a permutation").isEqualTo(
        java.util.stream.IntStream.range(0, lengths.length).toArray());
    assertThat(lengths.length % BenchTexts.PASS).as("the corpus is whole passes").isZero();
    double mean = Arrays.stream(lengths).average().orElseThrow();
    int[] sorted = Arrays.stream(lengths).sorted().toArray();
    int p90 = sorted[(int) (0.9 * sorted.length)];
    for (int from = 0; from < order.length; from += BenchTexts.PASS) {
      int[] pass = Arrays.stream(order, from, from + BenchTexts.PASS).map(i -> lengths[i]).toArray();
      assertThat(Arrays.stream(pass).average().orElseThrow()).as("pass from %d", from)
          .isCloseTo(mean, org.assertj.core.data.Percentage.withPercentage(2));
      assertThat(Arrays.stream(pass).filter(l -> l > p90).count()).as("pass from %d: its long tail", from)
          .isBetween((long) (0.09 * BenchTexts.PASS), (long) (0.11 * BenchTexts.PASS));
    }
    // within a pass the texts come in a shuffled (arrival) order, not sorted by length
    int[] first = Arrays.stream(order, 0, BenchTexts.PASS).map(i -> lengths[i]).toArray();
    assertThat(first).isNotEqualTo(Arrays.stream(first).sorted().toArray());
  }

  @Test
  void aCeilingPlanFormsItsBatchesWithinEachPassAndMarksWhereEachStarts() {
    int[] lengths = lengths();
    int[] order = BenchTexts.passOrder(lengths, 22);
    List<Encoding> encodings = new ArrayList<>();
    for (int i : order) {
      encodings.add(Encoding.ofIds(new int[Math.min(Ceiling.MAX_LEN, lengths[i])], null));
    }
    for (Ceiling.Batching how : Ceiling.Batching.values()) {
      Ceiling.Plan plan = Ceiling.plan(encodings, how, 32);
      int passes = 0;
      int texts = 0;
      for (int k = 0; k < plan.batches().size(); k++) {
        if (plan.passStart()[k]) {
          assertThat(texts).as("%s: a pass starts after whole passes", how).isEqualTo(passes * BenchTexts.PASS);
          passes++;
        }
        texts += plan.batches().get(k).size() - (plan.padRow() ? 1 : 0);
      }
      assertThat(passes).as("%s", how).isEqualTo(encodings.size() / BenchTexts.PASS);
      assertThat(texts).as("%s: every text once", how).isEqualTo(encodings.size());
    }
  }
}
