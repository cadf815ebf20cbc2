package io.distilstream.runtime.compare;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.distilstream.runtime.FamilyModels;
import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.runtime.heads.Answer;
import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.heads.FillMaskHead;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.heads.TokenClassificationHead;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.QuestionAnsweringPipeline;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import io.distilstream.runtime.pipeline.TokenClassificationPipeline;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each figure of {@link Agreement} on hand-made results, then on two seeds of the same architecture. */
class AgreementTest {
  private static final List<String> SENTIMENT = List.of("NEGATIVE", "POSITIVE");
  private static final List<String> NER = List.of("O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG",
      "B-LOC", "I-LOC");

  private static List<LabelScore> labels(Object... labelScore) {
    List<LabelScore> out = new ArrayList<>();
    for (int i = 0; i < labelScore.length; i += 2) {
      out.add(new LabelScore((String) labelScore[i], ((Number) labelScore[i + 1]).floatValue()));
    }
    return out;
  }

  private static Entity span(String label, int start, int end) {
    return new Entity(null, label, 0.9f, "w", start, end, -1);
  }

  private static Answer answer(String text) {
    return new Answer(0.5f, 0, text.length(), text);
  }

  @Test
  void topOneAgreementScoreDeltaAndFlipsOfLabels() {
    Agreement a = new Agreement()
        .addLabels(labels("POSITIVE", 0.9, "NEGATIVE", 0.1), labels("POSITIVE", 0.7, "NEGATIVE", 0.3))
        .addLabels(labels("POSITIVE", 0.6, "NEGATIVE", 0.4), labels("NEGATIVE", 0.8, "POSITIVE", 0.2))
        .addLabels(labels("NEGATIVE", 0.55), labels("POSITIVE", 0.51)) // top-k 1: no score of NEGATIVE to compare
        .addLabels(labels("POSITIVE", 0.5, "NEGATIVE", 0.5), labels("POSITIVE", 0.5, "NEGATIVE", 0.5));
    assertThat(a.compared()).isEqualTo(4);
    assertThat(a.top1Agreement()).isEqualTo(0.5);
    // |0.9-0.7| + |0.6-0.2| + |0.5-0.5| over the three decisions where the shadow reported the label
    assertThat(a.meanAbsScoreDelta()).isCloseTo((0.2 + 0.4 + 0.0) / 3, within(1e-6));
    assertThat(a.flips()).containsExactly(Map.entry("POSITIVE→NEGATIVE", 1L), Map.entry("NEGATIVE→POSITIVE", 1L));
    assertThat(a.spanF1()).isNull();
    assertThat(a.exactMatch()).isNull();
  }

  @Test
  void flipPairsAreBoundedAndTheRestCountedAsOther() {
    Agreement a = new Agreement(2);
    for (String to : List.of("b", "c", "d", "e", "b", "d")) {
      a.addLabels(labels("a", 0.9), labels(to, 0.9));
    }
    assertThat(a.flips()).containsExactly(Map.entry("a→b", 2L), Map.entry("a→c", 1L));
    assertThat(a.otherFlips()).isEqualTo(3);
    assertThat(a.top1Agreement()).isZero();
  }

  @Test
  void fillMaskAgreesOnlyWhenEveryMasksTopTokenDoes() {
    FillMaskHead.Prediction paris = new FillMaskHead.Prediction(0.6f, 1, "paris", "");
    FillMaskHead.Prediction rome = new FillMaskHead.Prediction(0.3f, 2, "rome", "");
    FillMaskHead.Prediction romeTop = new FillMaskHead.Prediction(0.5f, 2, "rome", "");
    FillMaskHead.Prediction parisLow = new FillMaskHead.Prediction(0.4f, 1, "paris", "");
    Agreement a = new Agreement()
        .addMasks(List.of(List.of(paris, rome), List.of(paris)), List.of(List.of(paris, rome), List.of(paris)))
        .addMasks(List.of(List.of(paris, rome), List.of(paris)), List.of(List.of(paris, rome),
            List.of(romeTop, parisLow)));
    assertThat(a.top1Agreement()).isEqualTo(0.5);
    // four decisions (masks), the last one 0.6 against 0.4
    assertThat(a.meanAbsScoreDelta()).isCloseTo(0.2 / 4, within(1e-6));
    assertThat(a.flips()).containsExactly(Map.entry("paris→rome", 1L));
  }

  @Test
  void spanF1IsMicroAveragedOverEventsOnExactSpanAndLabel() {
    Agreement a = new Agreement()
        // tp 1 (PER 0-5), fp 1 (LOC 10-15 has another label), fn 1 (ORG 10-15)
        .addEntities(List.of(span("PER", 0, 5), span("ORG", 10, 15)), List.of(span("PER", 0, 5),
            span("LOC", 10, 15)))
        // tp 0, fp 1 (shifted span), fn 1
        .addEntities(List.of(span("PER", 0, 5)), List.of(span("PER", 0, 4)))
        // nothing on either side: adds nothing
        .addEntities(List.of(), List.of());
    // 2*1 / (2*1 + 2 + 2): micro over events, not the mean of per-event F1s (0.5, 0, 1)
    assertThat(a.spanF1()).isCloseTo(2.0 / 6, within(1e-9));
    assertThat(a.top1Agreement()).isNull();
    assertThat(new Agreement().addEntities(List.of(), List.of()).spanF1()).isEqualTo(1.0);
  }

  @Test
  void exactMatchUsesSquadsNormalisation() {
    assertThat(Agreement.normalizeAnswer("  The Eiffel-Tower, in   PARIS! ")).isEqualTo("eiffeltower in paris");
    assertThat(Agreement.normalizeAnswer("an apple a day")).isEqualTo("apple day");
    assertThat(Agreement.normalizeAnswer("theatre")).isEqualTo("theatre");
    Agreement a = new Agreement()
        .addAnswers(List.of(answer("the Eiffel Tower")), List.of(answer("Eiffel tower.")))
        .addAnswers(List.of(answer("Paris")), List.of(answer("in Paris")))
        .addAnswers(List.of(), List.of(answer("a")));
    assertThat(a.exactMatch()).isCloseTo(2.0 / 3, within(1e-9));
    assertThat(a.compared()).isEqualTo(3);
  }

  @Test
  void mergeAddsCountsAndJsonRoundTrips() throws Exception {
    Agreement left = new Agreement(1)
        .addLabels(labels("a", 0.9, "b", 0.1), labels("b", 0.6, "a", 0.4))
        .addEntities(List.of(span("PER", 0, 5)), List.of(span("PER", 0, 5)));
    Agreement right = new Agreement(1)
        .addLabels(labels("a", 0.9), labels("c", 0.9))
        .addAnswers(List.of(answer("x")), List.of(answer("x")));
    Agreement all = new Agreement(1)
        .addLabels(labels("a", 0.9, "b", 0.1), labels("b", 0.6, "a", 0.4))
        .addEntities(List.of(span("PER", 0, 5)), List.of(span("PER", 0, 5)))
        .addLabels(labels("a", 0.9), labels("c", 0.9))
        .addAnswers(List.of(answer("x")), List.of(answer("x")));
    Agreement merged = new Agreement(1).merge(left).merge(right);
    assertThat(merged).isEqualTo(all);
    assertThat(merged.compared()).isEqualTo(4);
    assertThat(merged.flips()).containsExactly(Map.entry("a→b", 1L));
    assertThat(merged.otherFlips()).isEqualTo(1);
    String json = new ObjectMapper().writeValueAsString(merged.toJson());
    Agreement back = Agreement.fromJson(new ObjectMapper().readTree(json));
    assertThat(back).isEqualTo(merged);
    assertThat(back.top1Agreement()).isEqualTo(merged.top1Agreement()).isZero();
    assertThat(back.meanAbsScoreDelta()).isEqualTo(merged.meanAbsScoreDelta());
    assertThat(back.spanF1()).isEqualTo(1.0);
    assertThat(back.exactMatch()).isEqualTo(1.0);
  }

  private static final List<String> TEXTS = List.of(
      "I loved this film, the acting was superb!", "Terrible.", "Angela Merkel met Emmanuel Macron in Paris.",
      "naïve café owners in Zürich sell crème brûlée", "short", "The service was slow but the food was great",
      "Never again.", "What a wonderful day in Berlin", "meh", "It rained all week in London and Rome");

  @Test
  void twoSeedsOfOneClassifierAgreeWithThemselvesAndPartlyWithEachOther(@TempDir Path tmp) throws Exception {
    Path seedA = FamilyModels.write(tmp.resolve("a"), SharedModels.SEQ_CLS, "DistilBertForSequenceClassification",
        SENTIMENT, GraphBuilder.Head.SEQUENCE_CLASSIFICATION, 1, 0.5);
    Path seedB = FamilyModels.write(tmp.resolve("b"), SharedModels.SEQ_CLS, "DistilBertForSequenceClassification",
        SENTIMENT, GraphBuilder.Head.SEQUENCE_CLASSIFICATION, 2, 0.5);
    PipelineOptions all = PipelineOptions.defaults().topK(0);
    try (TextClassificationPipeline a = Pipeline.textClassification(seedA, all);
        TextClassificationPipeline b = Pipeline.textClassification(seedB, all)) {
      List<List<LabelScore>> ra = a.run(TEXTS);
      List<List<LabelScore>> rb = b.run(TEXTS);
      Agreement self = new Agreement();
      Agreement cross = new Agreement();
      int same = 0;
      double delta = 0;
      for (int i = 0; i < TEXTS.size(); i++) {
        self.addLabels(ra.get(i), a.run(TEXTS.get(i)));
        cross.addLabels(ra.get(i), rb.get(i));
        LabelScore top = ra.get(i).get(0);
        same += top.label().equals(rb.get(i).get(0).label()) ? 1 : 0;
        float other = rb.get(i).stream().filter(l -> l.label().equals(top.label())).findFirst().orElseThrow().score();
        delta += Math.abs(top.score() - other);
      }
      assertThat(self.top1Agreement()).isEqualTo(1.0);
      assertThat(self.flips()).isEmpty();
      assertThat(self.meanAbsScoreDelta()).isLessThan(1e-5);
      assertThat(cross.top1Agreement()).isEqualTo((double) same / TEXTS.size());
      assertThat(cross.meanAbsScoreDelta()).isCloseTo(delta / TEXTS.size(), within(1e-6));
      // different seeds are different models: their scores differ on every text
      assertThat(cross.meanAbsScoreDelta()).isGreaterThan(1e-3);
      assertThat(cross.flips().values().stream().mapToLong(Long::longValue).sum())
          .isEqualTo(TEXTS.size() - same);
    }
  }

  @Test
  void twoSeedsOfOneTaggerAndOneReaderOnRealOutputs(@TempDir Path tmp) throws Exception {
    Path tagA = FamilyModels.write(tmp.resolve("ta"), SharedModels.TOKEN_CLS, "DistilBertForTokenClassification",
        NER, GraphBuilder.Head.TOKEN_CLASSIFICATION, 1, 0.5);
    Path tagB = FamilyModels.write(tmp.resolve("tb"), SharedModels.TOKEN_CLS, "DistilBertForTokenClassification",
        NER, GraphBuilder.Head.TOKEN_CLASSIFICATION, 2, 0.5);
    PipelineOptions simple = PipelineOptions.defaults().aggregation(TokenClassificationHead.Aggregation.SIMPLE);
    try (TokenClassificationPipeline a = Pipeline.tokenClassification(tagA, simple);
        TokenClassificationPipeline b = Pipeline.tokenClassification(tagB, simple)) {
      List<List<Entity>> ra = a.run(TEXTS);
      List<List<Entity>> rb = b.run(TEXTS);
      Agreement self = new Agreement();
      Agreement cross = new Agreement();
      for (int i = 0; i < TEXTS.size(); i++) {
        self.addEntities(ra.get(i), ra.get(i));
        cross.addEntities(ra.get(i), rb.get(i));
      }
      assertThat(self.spanF1()).isEqualTo(1.0);
      assertThat(cross.spanF1()).isBetween(0.0, 1.0).isLessThan(1.0);
    }
    Path qaA = FamilyModels.write(tmp.resolve("qa"), SharedModels.QA, "DistilBertForQuestionAnswering",
        List.of("LABEL_0", "LABEL_1"), GraphBuilder.Head.QUESTION_ANSWERING, 1, 0.5);
    Path qaB = FamilyModels.write(tmp.resolve("qb"), SharedModels.QA, "DistilBertForQuestionAnswering",
        List.of("LABEL_0", "LABEL_1"), GraphBuilder.Head.QUESTION_ANSWERING, 2, 0.5);
    try (QuestionAnsweringPipeline a = Pipeline.questionAnswering(qaA, PipelineOptions.defaults());
        QuestionAnsweringPipeline b = Pipeline.questionAnswering(qaB, PipelineOptions.defaults())) {
      Agreement self = new Agreement();
      Agreement cross = new Agreement();
      int same = 0;
      for (String context : TEXTS) {
        QuestionAnsweringPipeline.Question q = new QuestionAnsweringPipeline.Question("Where?", context);
        List<Answer> pa = a.run(q);
        List<Answer> pb = b.run(q);
        self.addAnswers(pa, pa);
        cross.addAnswers(pa, pb);
        same += Agreement.normalizeAnswer(pa.get(0).answer()).equals(Agreement.normalizeAnswer(pb.get(0).answer()))
            ? 1 : 0;
      }
      assertThat(self.exactMatch()).isEqualTo(1.0);
      assertThat(cross.exactMatch()).isEqualTo((double) same / TEXTS.size());
    }
  }
}
