package io.distilstream.tools.bench;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.tokenizer.Encoding;
import io.distilstream.schemas.TextEvent;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The cache pattern's events: 30% exact repeats, Zipf-skewed towards the first texts, the same for the same seed. */
class RepeatedEventsTest {
  @Test
  void aThirdOfTheEventsRepeatEarlierTextsMostlyTheFirstOnesAndTheSeedFixesWhich() {
    List<String> texts = new ArrayList<>();
    List<Encoding> encodings = new ArrayList<>();
    for (int i = 0; i < 4000; i++) {
      texts.add("text " + i);
      encodings.add(Encoding.ofIds(new int[] {101, i, 102}, null));
    }
    FlinkPatterns.Events a = FlinkPatterns.Events.withRepeats(texts, encodings, 2000, "c", 0.3, 22);
    FlinkPatterns.Events b = FlinkPatterns.Events.withRepeats(texts, encodings, 2000, "c", 0.3, 22);
    assertThat(a.events()).hasSize(2000).isEqualTo(b.events());
    assertThat(a.tokens()).isEqualTo(3L * 2000);

    Set<String> seen = new HashSet<>();
    Map<String, Integer> repeatsOf = new HashMap<>();
    int repeats = 0;
    for (TextEvent e : a.events()) {
      String t = e.getText().toString();
      if (!seen.add(t)) {
        repeats++;
        repeatsOf.merge(t, 1, Integer::sum);
      }
    }
    assertThat(repeats).isBetween(540, 660); // 30% of 2000, give or take the draw
    // Zipf: the first text is repeated far more often than the hundredth
    assertThat(repeatsOf.getOrDefault("text 0", 0)).isGreaterThan(20);
    assertThat(repeatsOf.getOrDefault("text 0", 0)).isGreaterThan(5 * repeatsOf.getOrDefault("text 99", 0));
  }
}
