package io.distilstream.runtime.heads;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.runtime.tokenizer.Encoding;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Extractive QA over a context split into two overlapping windows, on hand-built logits. */
class QuestionAnsweringHeadTest {
  static final String CONTEXT = "Flink keeps state. Kafka keeps logs.";
  // context tokens: Flink keeps state . Kafka keeps logs .
  static final int[] STARTS = {0, 6, 12, 17, 19, 25, 31, 35};
  static final int[] ENDS = {5, 11, 17, 18, 24, 30, 35, 36};

  /** [CLS] who ? [SEP] context tokens from..to-1 [SEP] */
  static Encoding window(int from, int to) {
    int n = 4 + (to - from) + 1;
    int[] ids = new int[n];
    int[] types = new int[n];
    int[] starts = new int[n];
    int[] ends = new int[n];
    int[] words = new int[n];
    byte[] seqs = new byte[n];
    words[0] = words[3] = words[n - 1] = -1;
    seqs[0] = seqs[3] = seqs[n - 1] = -1;
    words[1] = 0;
    words[2] = 1;
    for (int k = 4; k < n - 1; k++) {
      int c = from + k - 4;
      starts[k] = STARTS[c];
      ends[k] = ENDS[c];
      words[k] = c;
      seqs[k] = 1;
      types[k] = 1;
    }
    types[n - 1] = 1;
    return new Encoding(ids, types, starts, ends, words, seqs);
  }

  static final Encoding W1 = window(0, 5); // Flink keeps state . Kafka   (positions 4..8)
  static final Encoding W2 = window(2, 8); // state . Kafka keeps logs .  (positions 4..9)

  static float[] logits(Encoding w, float cls, int at, float value) {
    float[] l = new float[w.length()];
    l[0] = cls;
    if (at >= 0) {
      l[at] = value;
    }
    // question tokens get a huge logit: they must be masked, never answers
    l[1] = 50;
    l[2] = 50;
    return l;
  }

  @Test
  void theBestSpanAcrossWindowsWinsAndTopKOrdersTheRest() {
    QuestionAnsweringHead head = new QuestionAnsweringHead(15, 2, false);
    // window 1 points at "state" (position 6) with logit 2; window 2 at "logs" (position 8) with logit 5
    List<Answer> answers = head.postprocess(CONTEXT, List.of(W1, W2),
        List.of(logits(W1, 0, 6, 2), logits(W2, 0, 8, 5)), List.of(logits(W1, 0, 6, 2), logits(W2, 0, 8, 5)));
    // allowed tokens: [CLS] and the context tokens (6 in window 2, 5 in window 1); masked ones weigh nothing
    double pLogs = Math.exp(5) / (Math.exp(5) + 6);
    double pState = Math.exp(2) / (Math.exp(2) + 5);
    assertThat(answers).hasSize(2);
    assertThat(answers.get(0).answer()).isEqualTo("logs");
    assertThat(answers.get(0).start()).isEqualTo(31);
    assertThat(answers.get(0).end()).isEqualTo(35);
    assertThat((double) answers.get(0).score()).isCloseTo(pLogs * pLogs, within(1e-6));
    assertThat(answers.get(1).answer()).isEqualTo("state");
    assertThat((double) answers.get(1).score()).isCloseTo(pState * pState, within(1e-6));
  }

  @Test
  void maxAnswerLenExcludesLongerSpans() {
    // start on "Kafka" (position 6 of window 2), end on "logs" (position 8): three tokens
    List<float[]> starts = List.of(logits(W1, 0, -1, 0), logits(W2, 0, 6, 5));
    List<float[]> ends = List.of(logits(W1, 0, -1, 0), logits(W2, 0, 8, 5));
    Answer wide = new QuestionAnsweringHead(15, 1, false).postprocess(CONTEXT, List.of(W1, W2), starts, ends).get(0);
    assertThat(wide.answer()).isEqualTo("Kafka keeps logs");
    double p = Math.exp(5) / (Math.exp(5) + 6);
    assertThat((double) wide.score()).isCloseTo(p * p, within(1e-6));
    Answer narrow = new QuestionAnsweringHead(2, 1, false).postprocess(CONTEXT, List.of(W1, W2), starts, ends).get(0);
    // window 1 is flat over [CLS] and five context tokens: its best span scores 1/6 x 1/6, more than any short
    // span of window 2, where start and end sit on tokens three apart
    assertThat(narrow.answer()).isNotEqualTo("Kafka keeps logs");
    assertThat((double) narrow.score()).isCloseTo(1.0 / 36, within(1e-6));
  }

  @Test
  void theNullAnswerWinsWhenEveryWindowPrefersClsAndItIsAllowed() {
    List<float[]> starts = List.of(logits(W1, 10, 6, 2), logits(W2, 10, 8, 5));
    List<float[]> ends = List.of(logits(W1, 10, 6, 2), logits(W2, 10, 8, 5));
    Answer none = new QuestionAnsweringHead(15, 1, true).postprocess(CONTEXT, List.of(W1, W2), starts, ends).get(0);
    double w1 = Math.exp(10) / (Math.exp(10) + Math.exp(2) + 4);
    double w2 = Math.exp(10) / (Math.exp(10) + Math.exp(5) + 5);
    assertThat(none.answer()).isEmpty();
    assertThat(none.start()).isZero();
    assertThat((double) none.score()).isCloseTo(Math.min(w1 * w1, w2 * w2), within(1e-6));
    Answer forced = new QuestionAnsweringHead(15, 1, false).postprocess(CONTEXT, List.of(W1, W2), starts, ends).get(0);
    assertThat(forced.answer()).isEqualTo("logs");
  }

  @Test
  void answersWidenToWholeWords() {
    // "keeps" split into two tokens ke + ##eps (same word id): pointing at ##eps still answers "keeps"
    int[] ids = new int[7];
    Encoding w = new Encoding(ids, new int[7], new int[] {0, 0, 0, 0, 6, 8, 0}, new int[] {0, 1, 0, 5, 8, 11, 0},
        new int[] {-1, 0, -1, 0, 1, 1, -1}, new byte[] {-1, 0, -1, 1, 1, 1, -1});
    float[] s = {0, 0, 0, 0, 0, 9, 0};
    Answer a = new QuestionAnsweringHead(15, 1, false).postprocess(CONTEXT, List.of(w), List.of(s), List.of(s)).get(0);
    assertThat(a.answer()).isEqualTo("keeps");
    assertThat(a.start()).isEqualTo(6);
    assertThat(a.end()).isEqualTo(11);
  }
}
