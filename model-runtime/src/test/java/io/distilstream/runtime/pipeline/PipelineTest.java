package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.batch.BatchingOptions;
import io.distilstream.runtime.heads.Answer;
import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.heads.TokenClassificationHead;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.ModelLoadException;
import io.distilstream.runtime.tokenizer.Encoding;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The pipelines end to end on the tiny models: tokenizer, batched session, heads. */
class PipelineTest {
  private static final List<String> TEXTS = List.of(
      "I loved this film, the acting was superb!",
      "Terrible.",
      "",
      "Angela Merkel met Emmanuel Macron in Paris on Tuesday to discuss the European Union budget for 2027.",
      "naïve café owners in Zürich 🙂 sell crème brûlée",
      "short");

  @Test
  void textClassificationIsSoftmaxOfTheModelsLogitsAndIndependentOfBatching() throws Exception {
    Path dir = SharedModels.model(SharedModels.SEQ_CLS);
    try (TextClassificationPipeline p = Pipeline.textClassification(dir,
        PipelineOptions.defaults().topK(0).batching(new BatchingOptions(4, 4096)))) {
      List<List<LabelScore>> batched = p.run(TEXTS);
      for (int i = 0; i < TEXTS.size(); i++) {
        Encoding e = p.tokenizer().encode(TEXTS.get(i), 512);
        float[] logits = p.session().run(List.of(e))[0][0];
        double z = Math.exp(logits[0]) + Math.exp(logits[1]);
        List<LabelScore> one = batched.get(i);
        assertThat(one).hasSize(2);
        for (LabelScore ls : one) {
          int idx = ls.label().equals("NEGATIVE") ? 0 : 1;
          assertThat((double) ls.score()).isCloseTo(Math.exp(logits[idx]) / z, within(1e-5));
        }
        assertThat(one.get(0).score()).isGreaterThanOrEqualTo(one.get(1).score());
        // alone, the same text gives the same scores as in the batch
        assertThat(p.run(TEXTS.get(i)).get(0).score()).isCloseTo(one.get(0).score(), within(1e-5f));
      }
    }
  }

  @Test
  void defaultTopKIsOneForSingleLabelAndAllForMultiLabel() {
    try (TextClassificationPipeline single = Pipeline.textClassification(SharedModels.model(SharedModels.SEQ_CLS),
        PipelineOptions.defaults());
        TextClassificationPipeline multi = Pipeline.textClassification(SharedModels.model(SharedModels.MULTI_LABEL),
            PipelineOptions.defaults())) {
      assertThat(single.run("hello world")).hasSize(1);
      List<LabelScore> labels = multi.run("you are an idiot");
      assertThat(labels).extracting(LabelScore::label).containsExactlyInAnyOrder(
          "toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate");
      // sigmoid scores are independent: they need not sum to one, each lies in (0, 1)
      assertThat(labels).allSatisfy(l -> assertThat(l.score()).isStrictlyBetween(0f, 1f));
    }
  }

  @Test
  void tokenClassificationSpansPointIntoTheText() {
    for (String model : List.of(SharedModels.TOKEN_CLS, SharedModels.BERT_TOKEN_CLS)) {
      for (TokenClassificationHead.Aggregation agg : TokenClassificationHead.Aggregation.values()) {
        try (TokenClassificationPipeline p = Pipeline.tokenClassification(SharedModels.model(model),
            PipelineOptions.defaults().aggregation(agg))) {
          List<List<Entity>> all = p.run(TEXTS);
          int spans = 0;
          for (int i = 0; i < TEXTS.size(); i++) {
            String text = TEXTS.get(i);
            for (Entity e : all.get(i)) {
              assertThat(e.start()).isBetween(0, text.length());
              assertThat(e.end()).isBetween(e.start(), text.length());
              assertThat(e.score()).isBetween(0f, 1f);
              if (agg == TokenClassificationHead.Aggregation.NONE) {
                assertThat(e.entity()).isNotEqualTo("O");
              } else {
                assertThat(e.entityGroup()).doesNotStartWith("B-").doesNotStartWith("I-");
              }
              spans++;
            }
          }
          // random weights still tag something in six sentences
          assertThat(spans).as("%s %s", model, agg).isPositive();
        }
      }
    }
  }

  @Test
  void longTextIsSplitIntoWindowsAndSpansCoverTheWholeText() {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 40; i++) {
      sb.append("Angela Merkel visited Paris and Berlin in May. ");
    }
    String text = sb.toString();
    try (TokenClassificationPipeline p = Pipeline.tokenClassification(SharedModels.model(SharedModels.TOKEN_CLS),
        PipelineOptions.defaults().maxLength(64).stride(8).aggregation(TokenClassificationHead.Aggregation.NONE))) {
      List<Entity> entities = p.run(text);
      assertThat(entities).isNotEmpty();
      int[] last = {-1};
      for (Entity e : entities) {
        assertThat(text.substring(e.start(), e.end())).isNotBlank();
        // sorted and never the same token twice, though windows overlap
        assertThat(e.start()).isGreaterThan(last[0]);
        last[0] = e.start();
      }
      assertThat(entities.get(entities.size() - 1).end()).isGreaterThan(text.length() / 2);
    }
  }

  @Test
  void windowsShareStrideTokensAndKeepOffsets() {
    int n = 100;
    int[] ids = new int[n + 2];
    int[] starts = new int[n + 2];
    int[] ends = new int[n + 2];
    int[] words = new int[n + 2];
    byte[] seqs = new byte[n + 2];
    ids[0] = 101;
    ids[n + 1] = 102;
    words[0] = words[n + 1] = -1;
    seqs[0] = seqs[n + 1] = -1;
    for (int i = 1; i <= n; i++) {
      ids[i] = 1000 + i;
      starts[i] = 3 * i;
      ends[i] = 3 * i + 2;
      words[i] = i;
    }
    Encoding full = new Encoding(ids, new int[n + 2], starts, ends, words, seqs);
    List<Encoding> windows = TokenClassificationPipeline.windows(full, 32, 6, 101, 102);
    // 30 text tokens per window, 24 new per step: 0..30, 24..54, 48..78, 72..100
    assertThat(windows).hasSize(4);
    List<Integer> seen = new ArrayList<>();
    for (Encoding w : windows) {
      assertThat(w.length()).isLessThanOrEqualTo(32);
      assertThat(w.ids[0]).isEqualTo(101);
      assertThat(w.ids[w.length() - 1]).isEqualTo(102);
      for (int t = 1; t < w.length() - 1; t++) {
        seen.add(w.ids[t]);
        assertThat(w.starts[t]).isEqualTo(3 * (w.ids[t] - 1000));
      }
    }
    assertThat(seen.stream().distinct().count()).isEqualTo(n);
    assertThat(windows.get(1).ids[1]).isEqualTo(1000 + 25);
    assertThat(TokenClassificationPipeline.windows(full, 200, 6, 101, 102)).containsExactly(full);
  }

  @Test
  void questionAnsweringAnswersAreSubstringsOfTheContextAcrossWindows() {
    String context = "The Flink job reads events from Kafka. ".repeat(30)
        + "The answer is forty-two. " + "Checkpoints are taken every ten seconds. ".repeat(30);
    try (QuestionAnsweringPipeline p = Pipeline.questionAnswering(SharedModels.model(SharedModels.QA),
        PipelineOptions.defaults().maxLength(64).docStride(16).topK(3))) {
      List<Answer> answers = p.run(new QuestionAnsweringPipeline.Question("What is the answer?", context));
      assertThat(answers).hasSize(3);
      for (Answer a : answers) {
        assertThat(a.answer()).isEqualTo(context.substring(a.start(), a.end()));
        assertThat(a.score()).isBetween(0f, 1f);
      }
      assertThat(answers.get(0).score()).isGreaterThanOrEqualTo(answers.get(1).score());
      assertThat(p.preprocess(new QuestionAnsweringPipeline.Question("What is the answer?", context)).size())
          .isGreaterThan(10);
    }
  }

  @Test
  void badInputsFailAloneWithAReason() {
    try (QuestionAnsweringPipeline p = Pipeline.questionAnswering(SharedModels.model(SharedModels.QA),
        PipelineOptions.defaults())) {
      List<Outcome<List<Answer>>> outcomes = p.runAll(Arrays.asList(
          new QuestionAnsweringPipeline.Question("Where?", "In Paris."),
          new QuestionAnsweringPipeline.Question(null, "no question"),
          new QuestionAnsweringPipeline.Question("Where?", "  "),
          null,
          new QuestionAnsweringPipeline.Question("word ".repeat(100), "a long question"),
          new QuestionAnsweringPipeline.Question("Who?", "Marie Curie.")));
      assertThat(outcomes).extracting(Outcome::isSuccess).containsExactly(true, false, false, false, false, true);
      assertThat(outcomes.get(1).reason()).isEqualTo(Outcome.Reason.INVALID_INPUT);
      assertThat(outcomes.get(1).message()).contains("question");
      assertThat(outcomes.get(2).message()).contains("context");
      assertThat(outcomes.get(4).reason()).isEqualTo(Outcome.Reason.TEXT_TOO_LONG);
      assertThat(outcomes.get(5).value().get(0).answer()).isEqualTo(
          "Marie Curie.".substring(outcomes.get(5).value().get(0).start(), outcomes.get(5).value().get(0).end()));
    }
  }

  @Test
  void aModelThatDoesNotFitTheTaskFailsAtLoadNamingTheFile() {
    Path qa = SharedModels.model(SharedModels.QA);
    assertThatThrownBy(() -> Pipeline.textClassification(qa, PipelineOptions.defaults()))
        .isInstanceOf(ModelLoadException.class)
        .hasMessageContaining(qa.toString());
    Path cls = SharedModels.model(SharedModels.SEQ_CLS);
    assertThatThrownBy(() -> Pipeline.questionAnswering(cls, PipelineOptions.defaults()))
        .isInstanceOf(ModelLoadException.class)
        .hasMessageContaining("model.onnx")
        .hasMessageContaining("start_logits")
        .hasMessageContaining("logits");
  }

  @Test
  void missingFilesAreNamed(@TempDir Path tmp) throws Exception {
    assertThatThrownBy(() -> ModelDirectory.of(tmp.resolve("nope")))
        .isInstanceOf(ModelLoadException.class).hasMessageContaining("nope").hasMessageContaining("does not exist");
    assertThatThrownBy(() -> ModelDirectory.of(tmp))
        .isInstanceOf(ModelLoadException.class).hasMessageContaining("config.json");
    Files.copy(SharedModels.model(SharedModels.SEQ_CLS).resolve("config.json"), tmp.resolve("config.json"));
    assertThatThrownBy(() -> ModelDirectory.of(tmp))
        .isInstanceOf(ModelLoadException.class).hasMessageContaining("tokenizer.json");
    Files.copy(SharedModels.model(SharedModels.SEQ_CLS).resolve("vocab.txt"), tmp.resolve("vocab.txt"));
    assertThatThrownBy(() -> ModelDirectory.of(tmp))
        .isInstanceOf(ModelLoadException.class).hasMessageContaining("model.onnx").hasMessageContaining("optimum-cli");
    Files.writeString(tmp.resolve("model.onnx"), "not an onnx file");
    assertThatThrownBy(() -> Pipeline.textClassification(tmp, PipelineOptions.defaults()))
        .isInstanceOf(ModelLoadException.class).hasMessageContaining("model.onnx");
  }
}
