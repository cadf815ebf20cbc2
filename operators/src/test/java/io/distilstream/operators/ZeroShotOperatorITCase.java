package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.distilstream.operators.sql.DistilBertFunctions;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.runtime.graph.Weights;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.model.ModelConfig;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.ZeroShotClassificationPipeline;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.TextEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.types.Row;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * zero-shot-classification through the operator (labels per event and per job, caps as dead letters, its own
 * stream) and SQL (model option or column), over a seeded NLI model: every result equals the pipeline's own.
 */
class ZeroShotOperatorITCase {
  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(1)
          .setConfiguration(new Configuration()).build());

  @TempDir
  static Path tmp;
  static Path nli;

  /** The sequence-classification fixture's config and tokenizer with NLI labels, and a seeded graph. */
  @BeforeAll
  static void buildNliModel() throws Exception {
    nli = Files.createDirectories(tmp.resolve("nli"));
    Path base = TestModels.model(TestModels.SEQ_CLS);
    ObjectMapper json = new ObjectMapper();
    ObjectNode c = (ObjectNode) json.readTree(base.resolve("config.json").toFile());
    ObjectNode id2label = c.putObject("id2label");
    ObjectNode label2id = c.putObject("label2id");
    List<String> labels = List.of("contradiction", "neutral", "entailment");
    for (int i = 0; i < labels.size(); i++) {
      id2label.put(Integer.toString(i), labels.get(i));
      label2id.put(labels.get(i), i);
    }
    Files.writeString(nli.resolve("config.json"), json.writeValueAsString(c));
    for (String f : List.of("vocab.txt", "tokenizer.json", "tokenizer_config.json")) {
      Files.copy(base.resolve(f), nli.resolve(f));
    }
    ModelConfig config = ModelConfig.read(nli.resolve("config.json"));
    Files.write(nli.resolve("model.onnx"), GraphBuilder.build(config, GraphBuilder.Head.SEQUENCE_CLASSIFICATION,
        Weights.seeded(11, 0.5)));
  }

  static PipelineOptions jobOptions() {
    return PipelineOptions.defaults().candidateLabels(List.of("spam", "ham", "news")).maxCandidateLabels(4);
  }

  static TextEvent.Builder event(String id, String text) {
    return TextEvent.newBuilder().setId(id).setText(text);
  }

  @Test
  void labelsPerEventOrPerJobCapsAndTheirOwnStream() throws Exception {
    InferenceSpec spec = InferenceSpec.builder().model(Task.ZERO_SHOT_CLASSIFICATION, nli)
        .pipelineOptions(jobOptions()).maxWait(Duration.ofMillis(5)).ordered(true).build();
    List<TextEvent> events = List.of(
        event("own", "The match ended in a draw.").setTasks(List.of("zero-shot-classification"))
            .setCandidateLabels(List.of("sports", "politics", "cooking")).build(),
        event("job", "Buy cheap watches now").build(), // no tasks: zero-shot is a default task, the job's labels
        event("multi", "I loved the soup").setCandidateLabels(List.of("food", "service"))
            .setHypothesisTemplate("The review is about {}.").setMultiLabel(true).build(),
        event("many", "too many").setCandidateLabels(List.of("a", "b", "c", "d", "e")).build(),
        event("template", "bad template").setHypothesisTemplate("no placeholder").build());
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    Enrichment.Streams streams = Enrichment.apply(env.fromData(events, new AvroTypeInfo<>(TextEvent.class)), spec);
    List<ClassificationResult> zeroShot = new ArrayList<>();
    List<DeadLetter> dead = new ArrayList<>();
    streams.zeroShot().executeAndCollect().forEachRemaining(zeroShot::add);
    StreamExecutionEnvironment env2 = StreamExecutionEnvironment.getExecutionEnvironment();
    env2.setParallelism(1);
    List<InferenceOutput> all = new ArrayList<>();
    try (CloseableIterator<InferenceOutput> it = Enrichment.inference(
        env2.fromData(events, new AvroTypeInfo<>(TextEvent.class)), spec).executeAndCollect()) {
      it.forEachRemaining(all::add);
    }
    for (InferenceOutput o : all) {
      assertThat(o.getClassification()).as("zero-shot never lands on the classification topic").isNull();
      if (o.getDeadLetter() != null) {
        dead.add(o.getDeadLetter());
      }
    }
    assertThat(zeroShot).extracting(ClassificationResult::getId).containsExactly("own", "job", "multi");
    assertThat(dead).extracting(DeadLetter::getId).containsExactly("many", "template");
    assertThat(dead.get(0).getReason()).isEqualTo("LIMIT_EXCEEDED");
    assertThat(dead.get(0).getMessage()).contains("5 candidate labels", "inference.max-candidate-labels (4)");
    assertThat(dead.get(0).getTask()).isEqualTo("zero-shot-classification");
    assertThat(dead.get(1).getReason()).isEqualTo("INVALID_INPUT");

    try (ZeroShotClassificationPipeline p = Pipeline.zeroShotClassification(nli, jobOptions())) {
      List<ZeroShotClassificationPipeline.Result> expected = List.of(
          p.run(new ZeroShotClassificationPipeline.Request("The match ended in a draw.",
              List.of("sports", "politics", "cooking"), null, null)),
          p.run(ZeroShotClassificationPipeline.Request.of("Buy cheap watches now")),
          p.run(new ZeroShotClassificationPipeline.Request("I loved the soup", List.of("food", "service"),
              "The review is about {}.", true)));
      for (int i = 0; i < expected.size(); i++) {
        List<LabelScore> want = expected.get(i).labels();
        assertThat(zeroShot.get(i).getLabels()).hasSize(want.size());
        for (int k = 0; k < want.size(); k++) {
          assertThat(zeroShot.get(i).getLabels().get(k).getLabel()).isEqualTo(want.get(k).label());
          assertThat(zeroShot.get(i).getLabels().get(k).getScore()).isCloseTo(want.get(k).score(), within(1e-6f));
        }
      }
      // multi-label scores do not sum to 1; single-label ones do
      double sum = zeroShot.get(0).getLabels().stream().mapToDouble(l -> l.getScore()).sum();
      assertThat(sum).isCloseTo(1.0, within(1e-5));
    }
  }

  @Test
  void jobOptionsAreReadFromTheConfiguration() {
    Configuration conf = new Configuration();
    conf.setString(InferenceOptions.MODEL_PREFIX + "zero-shot-classification", nli.toString());
    conf.setString("inference.zero-shot.candidate-labels", "spam;ham");
    conf.setString("inference.zero-shot.hypothesis-template", "It is {}.");
    conf.setString("inference.zero-shot.multi-label", "true");
    conf.setString("inference.max-candidate-labels", "8");
    InferenceSpec spec = InferenceSpec.fromConfiguration(conf);
    assertThat(spec.tasks()).containsOnly(Task.ZERO_SHOT_CLASSIFICATION);
    PipelineOptions o = spec.pipelineOptions();
    assertThat(o.candidateLabels()).containsExactly("spam", "ham");
    assertThat(o.hypothesisTemplate()).isEqualTo("It is {}.");
    assertThat(o.multiLabel()).isTrue();
    assertThat(o.maxCandidateLabels()).isEqualTo(8);
    conf.setString("inference.zero-shot.hypothesis-template", "no placeholder");
    assertThatThrownBy(() -> InferenceSpec.fromConfiguration(conf)).hasMessageContaining("{}");
  }

  @Test
  void sqlTableFunctionWithTheOptionsLabelsOrEachRowsOwn() throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    TableEnvironment tEnv = TableEnvironment.create(EnvironmentSettings.inStreamingMode());
    Map<String, String> options = new HashMap<>();
    options.put("candidate-labels", "spam;ham;news");
    options.put("max-wait", "5 ms");
    String fn = DistilBertFunctions.register(tEnv, Task.ZERO_SHOT_CLASSIFICATION, nli, options);
    assertThat(fn).isEqualTo("distilbert_zero_shot");
    List<Row> rows = new ArrayList<>();
    try (CloseableIterator<Row> it = tEnv.executeSql("SELECT t, label, score FROM (VALUES ('Buy now', CAST(NULL AS"
        + " ARRAY<STRING>)), ('Soup recipe', ARRAY['food', 'sports'])) AS v(t, labels),"
        + " LATERAL TABLE(distilbert_zero_shot(t, labels))").collect()) {
      it.forEachRemaining(rows::add);
    }
    try (ZeroShotClassificationPipeline p = Pipeline.zeroShotClassification(nli, jobOptions())) {
      List<Row> want = new ArrayList<>();
      for (LabelScore l : p.run(ZeroShotClassificationPipeline.Request.of("Buy now")).labels()) {
        want.add(Row.of("Buy now", l.label(), (double) l.score()));
      }
      for (LabelScore l : p.run(new ZeroShotClassificationPipeline.Request("Soup recipe", List.of("food", "sports"),
          null, null)).labels()) {
        want.add(Row.of("Soup recipe", l.label(), (double) l.score()));
      }
      // rows of one input come best first; inputs may interleave
      assertThat(rows).hasSize(5);
      for (Row w : want) {
        Row got = rows.stream().filter(r -> r.getField(0).equals(w.getField(0)) && r.getField(1).equals(w.getField(1)))
            .findFirst().orElseThrow();
        assertThat((double) got.getField(2)).isCloseTo((double) w.getField(2), within(1e-6));
      }
    }
  }
}
