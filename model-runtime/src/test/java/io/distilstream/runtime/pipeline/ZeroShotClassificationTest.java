package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.distilstream.runtime.FamilyModels;
import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.cli.RuntimeCli;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.model.ModelLoadException;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.model.SessionOptions;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Zero-shot classification over a seeded NLI model (the sequence-classification fixture's config and tokenizer with
 * id2label contradiction/neutral/entailment): every score equals the one computed here from the model's own logits
 * on each (text, hypothesis) pair, alone or in a batch, single- and multi-label, with any template; and the caps hold.
 */
class ZeroShotClassificationTest {
  static final long SEED = 11;
  static final double STD = 0.5;
  static final List<String> NLI = List.of("contradiction", "neutral", "entailment");

  @TempDir
  static Path tmp;
  static Path model;

  @BeforeAll
  static void build() throws Exception {
    model = FamilyModels.write(tmp.resolve("nli"), SharedModels.SEQ_CLS, "DistilBertForSequenceClassification", NLI,
        GraphBuilder.Head.SEQUENCE_CLASSIFICATION, SEED, STD);
  }

  /** The model's [contradiction, neutral, entailment] logits for one pair, run on their own. */
  private static float[] logits(ModelSession s, ZeroShotClassificationPipeline p, String text, String hypothesis)
      throws Exception {
    return s.run(List.of(p.tokenizer().encodePair(text, hypothesis, 0)))[s.outputIndex("logits")][0];
  }

  /** The scores by label, computed from the logits as Hugging Face's pipeline does. */
  private static Map<String, Double> reference(ModelSession s, ZeroShotClassificationPipeline p, String text,
      List<String> labels, String template, boolean multi) throws Exception {
    Map<String, Double> out = new HashMap<>();
    double z = 0;
    for (String label : labels) {
      float[] l = logits(s, p, text, template.replace("{}", label));
      if (multi) {
        out.put(label, Math.exp(l[2]) / (Math.exp(l[0]) + Math.exp(l[2])));
      } else {
        out.put(label, Math.exp(l[2]));
        z += Math.exp(l[2]);
      }
    }
    if (!multi) {
      for (String label : labels) {
        out.put(label, out.get(label) / z);
      }
    }
    return out;
  }

  private static void assertMatches(ZeroShotClassificationPipeline.Result r, Map<String, Double> ref) {
    assertThat(r.labels()).hasSize(ref.size());
    for (LabelScore l : r.labels()) {
      assertThat((double) l.score()).as(l.label()).isCloseTo(ref.get(l.label()), within(1e-5));
    }
    for (int i = 1; i < r.labels().size(); i++) {
      assertThat(r.labels().get(i).score()).isLessThanOrEqualTo(r.labels().get(i - 1).score());
    }
  }

  @Test
  void scoresAreTheEntailmentSoftmaxOrPerLabelAndIndependentOfTheBatch() throws Exception {
    List<String> labels = List.of("politics", "sports", "cooking", "spam");
    List<String> texts = List.of("The match ended in a draw after extra time.",
        "Parliament voted on the new budget today.", "Buy cheap watches now!!!");
    String template = PipelineOptions.DEFAULT_HYPOTHESIS_TEMPLATE;
    try (ZeroShotClassificationPipeline p = Pipeline.zeroShotClassification(model,
            PipelineOptions.defaults().candidateLabels(labels));
        ModelSession s = ModelSession.open(model.resolve("model.onnx"), SessionOptions.defaults())) {
      List<ZeroShotClassificationPipeline.Request> requests = new ArrayList<>();
      texts.forEach(t -> requests.add(ZeroShotClassificationPipeline.Request.of(t)));
      // one with its own labels and multi_label, in the same batch
      requests.add(new ZeroShotClassificationPipeline.Request(texts.get(0), List.of("a game", "a recipe"), null,
          true));
      List<Outcome<ZeroShotClassificationPipeline.Result>> batch = p.runAll(requests);
      double spread = 0;
      for (int i = 0; i < texts.size(); i++) {
        ZeroShotClassificationPipeline.Result r = batch.get(i).value();
        assertThat(r.sequence()).isEqualTo(texts.get(i));
        Map<String, Double> ref = reference(s, p, texts.get(i), labels, template, false);
        assertMatches(r, ref);
        assertThat(r.labels().stream().mapToDouble(LabelScore::score).sum()).isCloseTo(1.0, within(1e-5));
        spread = Math.max(spread, r.labels().get(0).score() - r.labels().get(labels.size() - 1).score());
        // alone: the same scores as in the batch
        ZeroShotClassificationPipeline.Result alone = p.run(requests.get(i));
        for (int k = 0; k < labels.size(); k++) {
          assertThat(alone.labels().get(k).label()).isEqualTo(r.labels().get(k).label());
          assertThat(alone.labels().get(k).score()).isCloseTo(r.labels().get(k).score(), within(1e-6f));
        }
      }
      assertThat(spread).as("the labels' scores really differ").isGreaterThan(1e-3);
      assertMatches(batch.get(3).value(), reference(s, p, texts.get(0), List.of("a game", "a recipe"), template,
          true));
    }
  }

  @Test
  void multiLabelTemplateAndASingleLabel() throws Exception {
    String text = "I loved the soup but the service was slow.";
    List<String> labels = List.of("food", "service", "price");
    String template = "The review is about {}.";
    try (ZeroShotClassificationPipeline p = Pipeline.zeroShotClassification(model,
            PipelineOptions.defaults().multiLabel(true).hypothesisTemplate(template));
        ModelSession s = ModelSession.open(model.resolve("model.onnx"), SessionOptions.defaults())) {
      ZeroShotClassificationPipeline.Result multi = p.run(new ZeroShotClassificationPipeline.Request(text, labels,
          null, null));
      assertMatches(multi, reference(s, p, text, labels, template, true));
      // the template is used: the default one gives other scores
      ZeroShotClassificationPipeline.Result other = p.run(new ZeroShotClassificationPipeline.Request(text, labels,
          PipelineOptions.DEFAULT_HYPOTHESIS_TEMPLATE, null));
      assertMatches(other, reference(s, p, text, labels, PipelineOptions.DEFAULT_HYPOTHESIS_TEMPLATE, true));
      // one label is scored on its own even without multi_label, as in Hugging Face
      ZeroShotClassificationPipeline.Result one = p.run(new ZeroShotClassificationPipeline.Request(text,
          List.of("food"), null, false));
      assertMatches(one, reference(s, p, text, List.of("food"), template, true));
    }
  }

  @Test
  void capsAndBadRequestsAreOutcomesOfTheirOwn() {
    List<String> tooMany = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      tooMany.add("label " + i);
    }
    try (ZeroShotClassificationPipeline p = Pipeline.zeroShotClassification(model,
        PipelineOptions.defaults().maxCandidateLabels(4))) {
      List<Outcome<ZeroShotClassificationPipeline.Result>> out = p.runAll(List.of(
          new ZeroShotClassificationPipeline.Request("text", tooMany, null, null),
          new ZeroShotClassificationPipeline.Request("text", List.of("x".repeat(257)), null, null),
          new ZeroShotClassificationPipeline.Request("text", List.of("a", "b"), "no placeholder", null),
          ZeroShotClassificationPipeline.Request.of("no labels anywhere"),
          new ZeroShotClassificationPipeline.Request("fine", List.of("a", "b"), null, null)));
      assertThat(out.get(0).reason()).isEqualTo(Outcome.Reason.LIMIT_EXCEEDED);
      assertThat(out.get(0).message()).contains("5 candidate labels", "max-candidate-labels (4)");
      assertThat(out.get(1).reason()).isEqualTo(Outcome.Reason.LIMIT_EXCEEDED);
      assertThat(out.get(2).reason()).isEqualTo(Outcome.Reason.INVALID_INPUT);
      assertThat(out.get(3).reason()).isEqualTo(Outcome.Reason.INVALID_INPUT);
      assertThat(out.get(4).isSuccess()).isTrue();
    }
    assertThatThrownBy(() -> PipelineOptions.defaults().hypothesisTemplate("no placeholder"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("{}");
  }

  @Test
  void aLongTextIsCutAndTheHypothesisKept() {
    String longText = "word ".repeat(600);
    try (ZeroShotClassificationPipeline p = Pipeline.zeroShotClassification(model,
        PipelineOptions.defaults().candidateLabels(List.of("a", "b")))) {
      Pipeline.Prepared<ZeroShotClassificationPipeline.Request> prepared =
          p.prepare(ZeroShotClassificationPipeline.Request.of(longText));
      assertThat(prepared.failed()).isFalse();
      assertThat(prepared.tokens()).isEqualTo(2 * p.maxLength());
    }
  }

  @Test
  void aModelWithoutAnEntailmentLabelIsRefused(@TempDir Path dir) throws Exception {
    Path sentiment = FamilyModels.write(dir.resolve("s"), SharedModels.SEQ_CLS,
        "DistilBertForSequenceClassification", List.of("NEGATIVE", "POSITIVE"),
        GraphBuilder.Head.SEQUENCE_CLASSIFICATION, SEED, STD);
    assertThatThrownBy(() -> Pipeline.zeroShotClassification(sentiment, PipelineOptions.defaults()))
        .isInstanceOf(ModelLoadException.class).hasMessageContaining("entail");
  }

  @Test
  void theCliPrintsHuggingFacesShape() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    String stdin = "The match ended in a draw.\n{\"text\":\"Soup recipe\",\"candidate_labels\":[\"food\",\"x\"]}\n";
    int rc = RuntimeCli.run(new String[] {"--task", "zero-shot-classification", "--model", model.toString(),
        "--candidate-labels", "sports, politics,cooking", "--multi-label"},
        new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)),
        new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    assertThat(rc).as(err.toString(StandardCharsets.UTF_8)).isZero();
    String[] lines = out.toString(StandardCharsets.UTF_8).split("\n");
    assertThat(lines).hasSize(2);
    JsonNode first = new ObjectMapper().readTree(lines[0]);
    assertThat(first.get("sequence").asText()).isEqualTo("The match ended in a draw.");
    List<String> got = new ArrayList<>();
    first.get("labels").forEach(l -> got.add(l.asText()));
    assertThat(got).containsExactlyInAnyOrder("sports", "politics", "cooking");
    assertThat(first.get("scores")).hasSize(3);
    JsonNode second = new ObjectMapper().readTree(lines[1]);
    assertThat(second.get("labels")).hasSize(2);
    assertThat(Files.exists(model.resolve("model.onnx"))).isTrue();
  }
}
