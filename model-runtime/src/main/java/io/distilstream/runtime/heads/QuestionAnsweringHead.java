package io.distilstream.runtime.heads;

import io.distilstream.runtime.tokenizer.Encoding;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Start/end logits to answers, as Hugging Face's {@code QuestionAnsweringPipeline} does it, window by window:
 * tokens outside the context are masked (the [CLS] token stays, for the null answer), start and end logits go
 * through a softmax, a span's score is {@code p(start) * p(end)} with {@code start <= end < start + maxAnswerLen},
 * and spans are widened to whole words. The best spans over all windows win; with {@code handleImpossibleAnswer}
 * the null answer ("" at 0..0, scored by the lowest [CLS] start x end probability) competes with them.
 *
 * <p>One deliberate difference: Hugging Face takes the top-k spans first and then drops those that touch masked
 * tokens, which can return fewer than k answers; this head drops them first.
 */
public final class QuestionAnsweringHead {
  private static final float MASKED = -10000f;

  private final int maxAnswerLen;
  private final int topK;
  private final boolean handleImpossibleAnswer;

  public QuestionAnsweringHead(int maxAnswerLen, int topK, boolean handleImpossibleAnswer) {
    if (maxAnswerLen < 1 || topK < 1) {
      throw new IllegalArgumentException("max-answer-len and top-k must be >= 1");
    }
    this.maxAnswerLen = maxAnswerLen;
    this.topK = topK;
    this.handleImpossibleAnswer = handleImpossibleAnswer;
  }

  private record Span(int window, int start, int end, float score) {}

  /**
   * @param windows {@code [CLS] question [SEP] context-part [SEP]}; context tokens have sequence id 1 and offsets
   *     into {@code context}
   */
  public List<Answer> postprocess(String context, List<Encoding> windows, List<float[]> startLogits,
      List<float[]> endLogits) {
    List<Span> spans = new ArrayList<>();
    float minNull = Float.MAX_VALUE;
    for (int w = 0; w < windows.size(); w++) {
      Encoding enc = windows.get(w);
      int n = enc.length();
      boolean[] allowed = new boolean[n];
      float[] s = new float[n];
      float[] e = new float[n];
      for (int i = 0; i < n; i++) {
        // context tokens may be an answer; [CLS] (position 0) carries the null answer
        allowed[i] = enc.sequenceIds[i] == 1 || i == 0;
        s[i] = allowed[i] ? startLogits.get(w)[i] : MASKED;
        e[i] = allowed[i] ? endLogits.get(w)[i] : MASKED;
      }
      float[] ps = new float[n];
      float[] pe = new float[n];
      Softmax.softmax(s, 0, n, ps);
      Softmax.softmax(e, 0, n, pe);
      minNull = Math.min(minNull, ps[0] * pe[0]);
      ps[0] = 0;
      pe[0] = 0;
      for (int i = 1; i < n; i++) {
        if (!allowed[i]) {
          continue;
        }
        int last = Math.min(n - 1, i + maxAnswerLen - 1);
        for (int j = i; j <= last; j++) {
          if (allowed[j]) {
            offer(spans, new Span(w, i, j, ps[i] * pe[j]));
          }
        }
      }
    }
    List<Answer> answers = new ArrayList<>();
    for (Span sp : spans) {
      Encoding enc = windows.get(sp.window);
      int start = wordStart(enc, sp.start);
      int end = wordEnd(enc, sp.end);
      answers.add(new Answer(sp.score, start, end, context.substring(start, end)));
    }
    if (handleImpossibleAnswer) {
      answers.add(new Answer(minNull, 0, 0, ""));
    }
    answers.sort(Comparator.comparingDouble(Answer::score).reversed());
    return answers.size() > topK ? new ArrayList<>(answers.subList(0, topK)) : answers;
  }

  /** Keeps the topK best spans, best first; a small sorted list beats a heap for k of 1 to a few. */
  private void offer(List<Span> best, Span s) {
    if (best.size() == topK && best.get(topK - 1).score >= s.score) {
      return;
    }
    int at = best.size();
    while (at > 0 && best.get(at - 1).score < s.score) {
      at--;
    }
    best.add(at, s);
    if (best.size() > topK) {
      best.remove(topK);
    }
  }

  /** Hugging Face aligns answers to words: the first character of the start token's word (in this window). */
  private static int wordStart(Encoding enc, int token) {
    int word = enc.wordIds[token];
    int start = enc.starts[token];
    for (int i = token - 1; i >= 0 && enc.sequenceIds[i] == 1 && enc.wordIds[i] == word && word >= 0; i--) {
      start = enc.starts[i];
    }
    return start;
  }

  private static int wordEnd(Encoding enc, int token) {
    int word = enc.wordIds[token];
    int end = enc.ends[token];
    for (int i = token + 1; i < enc.length() && enc.sequenceIds[i] == 1 && enc.wordIds[i] == word && word >= 0;
        i++) {
      end = enc.ends[i];
    }
    return end;
  }
}
