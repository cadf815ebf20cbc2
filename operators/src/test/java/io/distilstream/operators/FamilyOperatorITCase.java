package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.runtime.graph.Weights;
import io.distilstream.runtime.heads.FillMaskHead;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.heads.MultipleChoiceHead;
import io.distilstream.runtime.model.ModelConfig;
import io.distilstream.runtime.pipeline.FillMaskPipeline;
import io.distilstream.runtime.pipeline.MultipleChoicePipeline;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import io.distilstream.schemas.ChoiceResult;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.FillMaskResult;
import io.distilstream.schemas.TextEvent;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The rest of the family through the operator on a MiniCluster: fill-mask, multiple choice, BERT sentence pairs
 * (TextEvent.text_pair) and chunked long-text classification, configured as a job configures them, each result equal
 * to the pipeline's own, and inputs without a mask or without choices dead-lettered with INVALID_INPUT.
 */
class FamilyOperatorITCase {
  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

  private static final ObjectMapper JSON = new ObjectMapper();

  /** A fixture's config with another architecture and labels, its tokenizer, a graph from seeded weights. */
  static Path seeded(Path dir, String base, String arch, List<String> labels, GraphBuilder.Head head, long seed)
      throws IOException {
    Files.createDirectories(dir);
    Path src = TestModels.model(base);
    ObjectNode c = (ObjectNode) JSON.readTree(src.resolve("config.json").toFile());
    c.putArray("architectures").add(arch);
    ObjectNode id2label = c.putObject("id2label");
    ObjectNode label2id = c.putObject("label2id");
    for (int i = 0; i < labels.size(); i++) {
      id2label.put(Integer.toString(i), labels.get(i));
      label2id.put(labels.get(i), i);
    }
    Files.writeString(dir.resolve("config.json"), c.toString());
    for (String f : List.of("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")) {
      if (Files.exists(src.resolve(f))) {
        Files.copy(src.resolve(f), dir.resolve(f));
      }
    }
    ModelConfig config = ModelConfig.parse(c, dir.resolve("config.json"));
    Files.write(dir.resolve("model.onnx"), GraphBuilder.build(config, head, Weights.seeded(seed, 0.3)));
    return dir;
  }

  static TextEvent.Builder event(String id, String text, String... tasks) {
    return TextEvent.newBuilder().setId(id).setText(text).setTasks(List.of(tasks));
  }

  @Test
  void fillMaskMultipleChoicePairsAndLongTexts(@TempDir Path tmp) throws Exception {
    Path mlm = TestModels.model("tiny-distilbert-masked-lm");
    Path mc = seeded(tmp.resolve("mc"), "tiny-distilbert-sequence-classification", "DistilBertForMultipleChoice",
        List.of("LABEL_0"), GraphBuilder.Head.MULTIPLE_CHOICE, 7);
    Path nli = seeded(tmp.resolve("nli"), "tiny-bert-token-classification", "BertForSequenceClassification",
        List.of("contradiction", "neutral", "entailment"), GraphBuilder.Head.SEQUENCE_CLASSIFICATION, 3);
    Configuration conf = new Configuration();
    conf.setString("inference.model.fill-mask", mlm.toString());
    conf.setString("inference.model.multiple-choice", mc.toString());
    conf.setString("inference.model.text-classification", nli.toString());
    conf.setString("inference.long-text", "chunk");
    conf.setString("inference.window-pool", "max");
    conf.setString("inference.max-length", "48");
    conf.setString("inference.stride", "8");
    conf.setString("inference.top-k", "0");
    conf.setString("inference.max-wait", "20 ms");
    InferenceSpec spec = InferenceSpec.fromConfiguration(conf);

    String longText = String.join(" ", java.util.Collections.nCopies(60, "the cat sat on the mat and purred."));
    List<TextEvent> events = List.of(
        event("mask", "the capital of france is [MASK].", "fill-mask").build(),
        event("masks", "[MASK] is the capital of [MASK].", "fill-mask").build(),
        event("nomask", "nothing to fill here", "fill-mask").build(),
        event("mc", "The sky is", "multiple-choice").setChoices(List.of("blue", "green", "made of cheese")).build(),
        event("nochoice", "The sky is", "multiple-choice").build(),
        event("pair", "A man plays a guitar.", "text-classification").setTextPair("A person makes music.").build(),
        event("single", "A man plays a guitar.", "text-classification").build(),
        event("long", longText, "text-classification").build(),
        // no tasks: text-classification, plus fill-mask because of the mask; no multiple-choice without choices
        TextEvent.newBuilder().setId("defaults").setText("a [MASK] day").build());

    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(2);
    Enrichment.Streams streams = Enrichment.apply(env.fromData(events, new AvroTypeInfo<>(TextEvent.class)), spec);
    List<ClassificationResult> labels = new ArrayList<>();
    List<FillMaskResult> fills = new ArrayList<>();
    List<ChoiceResult> choices = new ArrayList<>();
    List<DeadLetter> dead = new ArrayList<>();
    CloseableIterator<ClassificationResult> a = streams.classifications().collectAsync();
    CloseableIterator<FillMaskResult> b = streams.fillMasks().collectAsync();
    CloseableIterator<ChoiceResult> c = streams.choices().collectAsync();
    CloseableIterator<DeadLetter> d = streams.deadLetters().collectAsync();
    env.execute("family");
    a.forEachRemaining(labels::add);
    b.forEachRemaining(fills::add);
    c.forEachRemaining(choices::add);
    d.forEachRemaining(dead::add);

    Map<String, DeadLetter> deadById = new HashMap<>();
    dead.forEach(x -> deadById.put(x.getId(), x));
    assertThat(deadById.keySet()).containsExactlyInAnyOrder("nomask", "nochoice");
    assertThat(deadById.get("nomask").getReason()).isEqualTo("INVALID_INPUT");
    assertThat(deadById.get("nomask").getMessage()).contains("no mask token [MASK]");
    assertThat(deadById.get("nochoice").getReason()).isEqualTo("INVALID_INPUT");

    PipelineOptions options = spec.pipelineOptions();
    Map<String, FillMaskResult> fillById = new HashMap<>();
    fills.forEach(x -> fillById.put(x.getId(), x));
    assertThat(fillById.keySet()).containsExactlyInAnyOrder("mask", "masks", "defaults");
    try (FillMaskPipeline direct = Pipeline.fillMask(mlm, PipelineOptions.defaults())) {
      for (String id : List.of("mask", "masks", "defaults")) {
        String text = events.stream().filter(e -> e.getId().equals(id)).findFirst().orElseThrow().getText();
        List<List<FillMaskHead.Prediction>> expected = direct.run(text);
        FillMaskResult got = fillById.get(id);
        assertThat(got.getMasks()).hasSize(expected.size());
        for (int m = 0; m < expected.size(); m++) {
          // inference.top-k = 0 is "all" for classification; fill-mask keeps its default of 5
          assertThat(got.getMasks().get(m).getPredictions()).hasSize(5);
          for (int k = 0; k < 5; k++) {
            FillMaskHead.Prediction e = expected.get(m).get(k);
            var g = got.getMasks().get(m).getPredictions().get(k);
            assertThat(g.getToken()).isEqualTo(e.token());
            assertThat(g.getTokenStr()).isEqualTo(e.tokenStr());
            assertThat(g.getSequence()).isEqualTo(e.sequence());
            assertThat(g.getScore()).isCloseTo(e.score(), within(1e-5f));
          }
        }
      }
    }

    assertThat(choices).hasSize(1);
    try (MultipleChoicePipeline direct = Pipeline.multipleChoice(mc, PipelineOptions.defaults())) {
      MultipleChoiceHead.Result expected = direct.run(new MultipleChoicePipeline.Question("The sky is",
          List.of("blue", "green", "made of cheese")));
      ChoiceResult got = choices.get(0);
      assertThat(got.getBest()).isEqualTo(expected.best());
      assertThat(got.getBestChoice()).isEqualTo(expected.bestChoice());
      for (int i = 0; i < 3; i++) {
        assertThat(got.getChoices().get(i).getChoice()).isEqualTo(expected.choices().get(i));
        assertThat(got.getChoices().get(i).getLogit()).isCloseTo(expected.logits()[i], within(1e-4f));
        assertThat(got.getChoices().get(i).getScore()).isCloseTo(expected.scores()[i], within(1e-4f));
      }
    }

    Map<String, ClassificationResult> labelById = new HashMap<>();
    labels.forEach(x -> labelById.put(x.getId(), x));
    assertThat(labelById.keySet()).containsExactlyInAnyOrder("pair", "single", "long", "defaults");
    try (TextClassificationPipeline direct = Pipeline.textClassification(nli, options)) {
      List<LabelScore> pair = direct.runPairs(List.of(new TextClassificationPipeline.TextPair(
          "A man plays a guitar.", "A person makes music."))).get(0).value();
      assertSame(labelById.get("pair"), pair);
      assertSame(labelById.get("single"), direct.run("A man plays a guitar."));
      // the pair really is a pair: its scores differ from the text alone
      assertThat(labelById.get("pair").getLabels().get(0).getScore())
          .isNotCloseTo(labelById.get("single").getLabels().stream()
              .filter(l -> l.getLabel().equals(labelById.get("pair").getLabels().get(0).getLabel())).findFirst()
              .orElseThrow().getScore(), within(1e-6f));
      // the long text ran as max-pooled windows of 48 tokens
      assertThat(direct.prepare(longText).tokens()).isGreaterThan(48 * 5);
      assertSame(labelById.get("long"), direct.run(longText));
    }
  }

  private static void assertSame(ClassificationResult got, List<LabelScore> expected) {
    assertThat(got.getLabels()).hasSize(expected.size());
    for (int i = 0; i < expected.size(); i++) {
      assertThat(got.getLabels().get(i).getLabel()).isEqualTo(expected.get(i).label());
      assertThat(got.getLabels().get(i).getScore()).isCloseTo(expected.get(i).score(), within(1e-5f));
    }
  }
}
