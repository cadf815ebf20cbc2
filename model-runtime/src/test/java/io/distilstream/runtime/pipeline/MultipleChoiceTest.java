package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.runtime.FamilyModels;
import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.runtime.graph.Weights;
import io.distilstream.runtime.heads.MultipleChoiceHead;
import io.distilstream.runtime.model.ModelConfig;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.model.SessionOptions;
import io.distilstream.runtime.tokenizer.Encoding;
import io.distilstream.runtime.tokenizer.WordPieceTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Multiple choice, DistilBERT and BERT: the built {@code [batch, num_choices, seq]} graph through the pipeline gives,
 * for every choice, the logit that a sequence classifier with one label, built from the same seeded weights,
 * gives the pair {@code prompt + choice} on its own.
 */
class MultipleChoiceTest {
  static final long SEED = 7;
  static final double STD = 0.3;

  @ParameterizedTest
  @CsvSource({
      SharedModels.SEQ_CLS + ",DistilBert",
      SharedModels.BERT_TOKEN_CLS + ",Bert"})
  void choiceLogitsEqualTheSequenceClassifiersScoreOfEachPair(String base, String family, @TempDir Path tmp)
      throws Exception {
    Path dir = FamilyModels.write(tmp.resolve("mc"), base, family + "ForMultipleChoice", List.of("LABEL_0"),
        GraphBuilder.Head.MULTIPLE_CHOICE, SEED, STD);
    ModelConfig seqConfig = FamilyModels.config(base, family + "ForSequenceClassification", List.of("LABEL_0"));
    byte[] seqGraph = GraphBuilder.build(seqConfig, GraphBuilder.Head.SEQUENCE_CLASSIFICATION,
        Weights.seeded(SEED, STD));
    List<MultipleChoicePipeline.Question> questions = List.of(
        new MultipleChoicePipeline.Question("The cat sat on the", List.of("mat.", "moon, far away from home.")),
        new MultipleChoicePipeline.Question("Paris is the capital of", List.of("France", "Spain", "a very long"
            + " answer that pads the others", "Germany")),
        new MultipleChoicePipeline.Question("Pick one", List.of("yes", "no")),
        new MultipleChoicePipeline.Question("Only one", List.of("lonely")));
    try (MultipleChoicePipeline p = Pipeline.multipleChoice(dir,
            PipelineOptions.defaults().batching(new io.distilstream.runtime.batch.BatchingOptions(4, 4096)));
        ModelSession seq = ModelSession.open(seqGraph, tmp.resolve("seq.onnx"), SessionOptions.defaults())) {
      assertThat(p.session().usesTokenTypeIds()).isEqualTo(family.equals("Bert"));
      List<Outcome<MultipleChoiceHead.Result>> out = p.runAll(questions);
      WordPieceTokenizer tok = p.tokenizer();
      double spread = 0;
      for (int q = 0; q < 3; q++) {
        MultipleChoiceHead.Result r = out.get(q).value();
        List<String> choices = questions.get(q).choices();
        assertThat(r.logits()).hasSize(choices.size());
        float[] reference = new float[choices.size()];
        for (int c = 0; c < choices.size(); c++) {
          Encoding pair = tok.encodePair(questions.get(q).prompt(), choices.get(c), 0);
          reference[c] = seq.run(List.of(pair))[seq.outputIndex("logits")][0][0];
          assertThat((double) r.logits()[c]).as("question %d choice %d", q, c)
              .isCloseTo(reference[c], within(1e-4));
          spread = Math.max(spread, Math.abs(reference[c] - reference[0]));
        }
        int best = 0;
        double z = 0;
        for (int c = 0; c < choices.size(); c++) {
          best = reference[c] > reference[best] ? c : best;
          z += Math.exp(reference[c]);
        }
        assertThat(r.best()).isEqualTo(best);
        assertThat(r.bestChoice()).isEqualTo(choices.get(best));
        for (int c = 0; c < choices.size(); c++) {
          assertThat((double) r.scores()[c]).isCloseTo(Math.exp(reference[c]) / z, within(1e-4));
        }
      }
      // the choices' logits really differ (the comparison is not between constants)
      assertThat(spread).isGreaterThan(1e-3);
      assertThat(out.get(3).reason()).isEqualTo(Outcome.Reason.INVALID_INPUT);
    }
  }

  @org.junit.jupiter.api.Test
  void headSoftmaxOverChoicesAndArgmax() {
    MultipleChoiceHead.Result r = new MultipleChoiceHead().postprocess(List.of("a", "b", "c"),
        new float[] {0.5f, 2f, 2f});
    double z = Math.exp(0.5) + 2 * Math.exp(2);
    assertThat((double) r.scores()[0]).isCloseTo(Math.exp(0.5) / z, within(1e-6));
    assertThat((double) r.scores()[1]).isCloseTo(Math.exp(2) / z, within(1e-6));
    assertThat(r.best()).isEqualTo(1);  // first of equal logits
    assertThat(r.bestChoice()).isEqualTo("b");
    List<Float> sum = new ArrayList<>();
    for (float s : r.scores()) {
      sum.add(s);
    }
    assertThat(sum.stream().mapToDouble(Float::doubleValue).sum()).isCloseTo(1.0, within(1e-6));
  }
}
