package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.heads.TokenClassificationHead;
import io.distilstream.runtime.tokenizer.Encoding;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Texts longer than the model's window: NER over merged windows, classification over pooled windows. */
public class LongTextTest {
  private static final String[] WORDS = {"John", "Smith", "visited", "New", "York", "and", "Paris", "with",
      "Microsoft", "engineers", "on", "Monday", "the", "company", "Berlin", "Café", "naïve", "said", "🙂", "Angela",
      "Merkel", "met", "Google", "in", "London.", "Zürich,", "while", "Ölmühle", "Washington", "unbelievably",
      "Tokyo!", "a", "of", "Amsterdam", "reported", "Müller", "Renée"};

  /** A document of {@code n} words, single spaces, punctuation glued to its word. */
  public static String document(int n, long seed) {
    Random r = new Random(seed);
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < n; i++) {
      if (i > 0) {
        sb.append(' ');
      }
      sb.append(WORDS[r.nextInt(WORDS.length)]);
    }
    return sb.toString();
  }

  /** What the uncased tokenizer makes of a span: lower case, accents stripped. */
  static String uncased(String s) {
    return Normalizer.normalize(s, Normalizer.Form.NFD).replaceAll("\\p{Mn}", "").toLowerCase(Locale.ROOT);
  }

  @Test
  void nerOverAFiveThousandWordDocument() {
    String text = document(5000, 11);
    assertThat(text.split(" ")).hasSize(5000);
    try (TokenClassificationPipeline p = Pipeline.tokenClassification(SharedModels.model(SharedModels.TOKEN_CLS),
        PipelineOptions.defaults())) {
      Pipeline.Prepared<String> prepared = p.prepare(text);
      List<Encoding> windows = prepared.windows;
      assertThat(windows.size()).isGreaterThan(5);
      assertThat(p.config().maxPositionEmbeddings()).isEqualTo(512);
      for (Encoding w : windows) {
        assertThat(w.length()).isLessThanOrEqualTo(512);
      }
      List<Entity> merged = p.run(text);
      assertThat(merged.size()).isGreaterThan(100);

      Encoding full = p.tokenizer().encode(text, 0);
      Set<Integer> tokenStarts = new HashSet<>();
      Set<Integer> tokenEnds = new HashSet<>();
      for (int i = 1; i < full.length() - 1; i++) {
        tokenStarts.add(full.starts[i]);
        tokenEnds.add(full.ends[i]);
      }
      // offsets index the original text exactly: the span is the entity's word, and lies on token boundaries
      for (Entity e : merged) {
        assertThat(e.start()).isGreaterThanOrEqualTo(0).isLessThan(e.end());
        assertThat(e.end()).isLessThanOrEqualTo(text.length());
        // (a group that starts inside a word keeps the ## of its first piece, as Hugging Face's decode does)
        String word = e.word().startsWith("##") ? e.word().substring(2) : e.word();
        assertThat(uncased(text.substring(e.start(), e.end()))).as("entity %s", e).isEqualTo(word);
        assertThat(tokenStarts).contains(e.start());
        assertThat(tokenEnds).contains(e.end());
      }
      // no duplicates: merged spans are sorted and never overlap
      for (int i = 1; i < merged.size(); i++) {
        assertThat(merged.get(i).start()).as("entity %d overlaps the one before", i)
            .isGreaterThanOrEqualTo(merged.get(i - 1).end());
      }

      // each window alone, through the same head
      TokenClassificationHead head = new TokenClassificationHead(p.config().id2label(),
          TokenClassificationHead.Aggregation.SIMPLE, Set.of("O"));
      int logits = p.session().outputIndex("logits");
      int textTokens = full.length() - 2;
      int capacity = 512 - 2;
      int step = capacity - p.options().stride();
      Set<Entity> fromWindows = new HashSet<>();
      int exclusiveChecked = 0;
      for (int w = 0; w < windows.size(); w++) {
        List<Entity> alone;
        try {
          alone = head.postprocess(text, windows.get(w), p.session().run(List.of(windows.get(w)))[logits][0],
              p.tokenizer()::idToToken);
        } catch (Exception ex) {
          throw new AssertionError(ex);
        }
        fromWindows.addAll(alone);
        // the window's text tokens [from, to) of the whole text; the part no other window sees
        int from = w * step;
        int to = Math.min(textTokens, from + capacity);
        int exFrom = w == 0 ? from : Math.min(to, from + p.options().stride());
        int exTo = w == windows.size() - 1 ? to : (w + 1) * step;
        assertThat(windows.get(w).starts[1]).isEqualTo(full.starts[from + 1]);
        int charFrom = full.starts[exFrom + 1];
        int charTo = full.ends[exTo];  // token exTo - 1 of the text is exTo in the full encoding
        for (Entity e : alone) {
          if (e.start() >= charFrom && e.end() <= charTo) {
            assertThat(merged).as("window %d's entity %s", w, e).contains(e);
            exclusiveChecked++;
          }
        }
      }
      assertThat(exclusiveChecked).isGreaterThan(100);
      // and nothing is invented: every merged entity is one that some window found
      assertThat(fromWindows).containsAll(merged);

      // other policies: truncate keeps the first window, reject refuses
      PipelineOptions truncate = PipelineOptions.defaults().longText(PipelineOptions.LongText.TRUNCATE);
      try (TokenClassificationPipeline t = Pipeline.tokenClassification(SharedModels.model(SharedModels.TOKEN_CLS),
          truncate)) {
        List<Entity> first = t.run(text);
        int firstEnd = windows.get(0).ends[windows.get(0).length() - 2];
        assertThat(first).isNotEmpty().allSatisfy(e -> assertThat(e.end()).isLessThanOrEqualTo(firstEnd));
      }
      try (TokenClassificationPipeline t = Pipeline.tokenClassification(SharedModels.model(SharedModels.TOKEN_CLS),
          PipelineOptions.defaults().longText(PipelineOptions.LongText.REJECT))) {
        assertThat(t.runAll(List.of(text)).get(0).reason()).isEqualTo(Outcome.Reason.TEXT_TOO_LONG);
      }
    }
  }

  @Test
  void classificationOverChunksPoolsWindowScores() throws Exception {
    String text = document(300, 5);
    for (PipelineOptions.WindowPool pool : PipelineOptions.WindowPool.values()) {
      PipelineOptions options = PipelineOptions.defaults().maxLength(64).stride(8).topK(0)
          .longText(PipelineOptions.LongText.CHUNK).windowPool(pool);
      try (TextClassificationPipeline p = Pipeline.textClassification(SharedModels.model(SharedModels.SEQ_CLS),
          options)) {
        List<Encoding> windows = p.prepare(text).windows;
        assertThat(windows.size()).isGreaterThan(4);
        float[][] logits = p.session().run(windows)[p.session().outputIndex("logits")];
        double[] expected = new double[2];
        if (pool == PipelineOptions.WindowPool.MAX) {
          expected[0] = expected[1] = Double.NEGATIVE_INFINITY;
        }
        for (float[] l : logits) {
          double z = Math.exp(l[0]) + Math.exp(l[1]);
          for (int k = 0; k < 2; k++) {
            double s = Math.exp(l[k]) / z;
            expected[k] = pool == PipelineOptions.WindowPool.MAX ? Math.max(expected[k], s)
                : expected[k] + s / logits.length;
          }
        }
        List<LabelScore> got = p.run(text);
        assertThat(got).hasSize(2);
        for (LabelScore s : got) {
          int k = s.label().equals("NEGATIVE") ? 0 : 1;
          assertThat((double) s.score()).as(pool + " " + s.label()).isCloseTo(expected[k], within(1e-5));
        }
        // a short text is one window, as without chunking
        List<LabelScore> shortOne = p.run("a short text");
        try (TextClassificationPipeline plain = Pipeline.textClassification(
            SharedModels.model(SharedModels.SEQ_CLS), PipelineOptions.defaults().topK(0))) {
          assertThat(shortOne.get(0).score()).isCloseTo(plain.run("a short text").get(0).score(), within(1e-6f));
          // truncation (the default) sees only the first window
          assertThat(plain.prepare(text).windows).hasSize(1);
        }
      }
    }
  }

  @Test
  void windowPoolingOnHandBuiltLogits() {
    var head = new io.distilstream.runtime.heads.TextClassificationHead(List.of("a", "b"), false, 0,
        java.util.Map.of());
    List<float[]> windows = new ArrayList<>(List.of(new float[] {0, 0}, new float[] {2, 0}));
    double s1 = Math.exp(2) / (Math.exp(2) + 1);
    List<LabelScore> mean = head.postprocessWindows(windows, false);
    assertThat(mean.get(0).label()).isEqualTo("a");
    assertThat((double) mean.get(0).score()).isCloseTo((0.5 + s1) / 2, within(1e-6));
    assertThat((double) mean.get(1).score()).isCloseTo((0.5 + 1 - s1) / 2, within(1e-6));
    List<LabelScore> max = head.postprocessWindows(windows, true);
    assertThat((double) max.get(0).score()).isCloseTo(s1, within(1e-6));
    assertThat((double) max.get(1).score()).isCloseTo(0.5, within(1e-6));
  }
}
