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
  void aCeilingPlanCoversWholePassesEachWithTheCorpusLengths() {
    int[] lengths = lengths();
    int[] order = BenchTexts.passOrder(lengths, 22);
    List<Encoding> encodings = new ArrayList<>();
    for (int i : order) {
      encodings.add(Encoding.ofIds(new int[Math.min(Ceiling.MAX_LEN, lengths[i])], null));
    }
    double mean = encodings.stream().mapToInt(Encoding::length).average().orElseThrow();
    for (Ceiling.Batching how : Ceiling.Batching.values()) {
      Ceiling.Plan plan = Ceiling.plan(encodings, how, 32);
      List<long[]> passes = new ArrayList<>(); // texts, tokens
      for (int k = 0; k < plan.batches().size(); k++) {
        if (plan.passStart()[k]) {
          passes.add(new long[2]);
        }
        List<Encoding> b = plan.batches().get(k);
        for (int i = 0; i < b.size() - (plan.padRow() ? 1 : 0); i++) {
          passes.get(passes.size() - 1)[0]++;
          passes.get(passes.size() - 1)[1] += b.get(i).length();
        }
      }
      int unit = how == Ceiling.Batching.GROUPED ? BenchTexts.ORACLE_BLOCK : BenchTexts.PASS;
      assertThat(passes).as("%s", how).hasSize(encodings.size() / unit);
      assertThat(passes.stream().mapToLong(p -> p[0]).sum()).as("%s: every text once", how)
          .isEqualTo(encodings.size());
      for (long[] p : passes) {
        assertThat(p[0]).as("%s: whole passes", how).isEqualTo(unit);
        assertThat((double) p[1] / p[0]).as("%s: a pass's tokens per text", how).isCloseTo(mean,
            org.assertj.core.data.Percentage.withPercentage(2));
      }
    }
  }
}
