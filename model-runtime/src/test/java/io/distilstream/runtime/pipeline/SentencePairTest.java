package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.runtime.FamilyModels;
import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.tokenizer.Encoding;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** NLI-style pairs through a BERT sequence classifier: token type ids 0 for the text, 1 for the pair. */
public class SentencePairTest {
  public static final List<String> NLI = List.of("contradiction", "neutral", "entailment");

  /** A BERT sequence classifier with seeded weights and the bert-base-NER-uncased tokenizer. */
  public static Path bertNli(Path dir) throws Exception {
    return FamilyModels.write(dir, SharedModels.BERT_TOKEN_CLS, "BertForSequenceClassification", NLI,
        GraphBuilder.Head.SEQUENCE_CLASSIFICATION, 3, 0.3);
  }

  @Test
  void pairsCarryTokenTypes(@TempDir Path tmp) throws Exception {
    Path dir = bertNli(tmp.resolve("nli"));
    try (TextClassificationPipeline p = Pipeline.textClassification(dir, PipelineOptions.defaults().topK(0))) {
      assertThat(p.session().usesTokenTypeIds()).isTrue();
      String premise = "A man inspects the uniform of a figure in some East Asian country.";
      String hypothesis = "The man is sleeping.";
      List<Outcome<List<LabelScore>>> out = p.runPairs(List.of(
          new TextClassificationPipeline.TextPair(premise, hypothesis),
          new TextClassificationPipeline.TextPair(premise, null),
          new TextClassificationPipeline.TextPair(null, hypothesis)));
      List<LabelScore> pair = out.get(0).value();
      assertThat(pair).extracting(LabelScore::label).containsExactlyInAnyOrderElementsOf(NLI);

      Encoding e = p.tokenizer().encodePair(premise, hypothesis, 0);
      int sep = Arrays.asList(Arrays.stream(e.ids).boxed().toArray(Integer[]::new)).indexOf(p.tokenizer().sepId());
      assertThat(e.typeIds[sep]).isZero();
      assertThat(e.typeIds[sep + 1]).isEqualTo(1);
      assertThat(e.typeIds[e.length() - 1]).isEqualTo(1);
      int logits = p.session().outputIndex("logits");
      float[] withTypes = p.session().run(List.of(e))[logits][0];
      float[] zeroTypes = p.session().run(List.of(new Encoding(e.ids, new int[e.length()], e.starts, e.ends,
          e.wordIds, e.sequenceIds)))[logits][0];
      double z = 0;
      for (float l : withTypes) {
        z += Math.exp(l);
      }
      for (LabelScore s : pair) {
        assertThat((double) s.score()).isCloseTo(Math.exp(withTypes[NLI.indexOf(s.label())]) / z, within(1e-5));
      }
      // the token types matter: without them the logits differ
      double diff = 0;
      for (int k = 0; k < 3; k++) {
        diff = Math.max(diff, Math.abs(withTypes[k] - zeroTypes[k]));
      }
      assertThat(diff).isGreaterThan(1e-3);
      // no pair: the text alone, as run() gives it
      assertThat(out.get(1).value().get(0).score()).isCloseTo(p.run(premise).get(0).score(), within(1e-6f));
      assertThat(out.get(2).reason()).isEqualTo(Outcome.Reason.INVALID_INPUT);
    }
  }
}
