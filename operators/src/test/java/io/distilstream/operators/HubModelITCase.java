package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.hub.HubException;
import io.distilstream.runtime.hub.LocalHub;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.TextEvent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.types.Row;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Models named by Hugging Face Hub id, fetched from {@link LocalHub} (the Hub's HTTP interface on 127.0.0.1) into a
 * huggingface_hub cache, on a real MiniCluster: the job pins the id to its commit when it is built, each subtask
 * opens the model through the cache (one download for both), and every result names that commit; the same in SQL's
 * {@code 'model-dir'}. The MiniCluster's TaskManager runs in this JVM, so {@code -DHF_ENDPOINT} and {@code
 * -DHF_HUB_CACHE} (system properties over the environment, as {@code HubOptions.fromEnvironment} reads them) point
 * both the client side and the subtasks at the local hub.
 */
class HubModelITCase {
  private static final String ID = "distilstream-test/tiny-sst2";

  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder()
          .setNumberTaskManagers(1)
          .setNumberSlotsPerTaskManager(2)
          .build());

  /** Each test's own cache, so that what it downloads is its own. */
  @TempDir
  Path cache;
  private static LocalHub hub;
  private static LocalHub.Repo repo;

  @BeforeAll
  static void startHub() throws Exception {
    hub = new LocalHub();
    repo = hub.add(ID, TestModels.model(TestModels.SEQ_CLS), false, Map.of());
    System.setProperty("HF_ENDPOINT", hub.endpoint());
  }

  @BeforeEach
  void freshCache() {
    System.setProperty("HF_HUB_CACHE", cache.toString());
  }

  @AfterAll
  static void stopHub() {
    System.clearProperty("HF_ENDPOINT");
    System.clearProperty("HF_HUB_CACHE");
    if (hub != null) {
      hub.close();
    }
  }

  private static final String[] TEXTS = {"the film was great", "really boring and terrible", "Angela visited Paris",
      "naïve 😀 engineers in May", "the the the"};

  @Test
  void aJobOpensAModelByHubIdAndEveryResultNamesItsCommit() throws Exception {
    int before = hub.requests.size();
    Configuration conf = new Configuration();
    conf.setString("inference.model.text-classification", ID);
    conf.set(InferenceOptions.MAX_WAIT, Duration.ofMillis(20));
    InferenceSpec spec = InferenceSpec.fromConfiguration(conf);
    assertThat(spec.model(Task.TEXT_CLASSIFICATION.id()).source()).isEqualTo(ID + "@" + repo.commit());
    assertThat(hub.requests.subList(before, hub.requests.size()))
        .noneMatch(r -> r.contains("/resolve/") || r.contains("/cdn/")); // pinned, not fetched

    List<TextEvent> events = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      events.add(TextEvent.newBuilder().setId("e" + i).setText(TEXTS[i % TEXTS.length])
          .setTasks(List.of("text-classification")).build());
    }
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(2);
    Enrichment.Streams streams = Enrichment.apply(env.fromData(events, new AvroTypeInfo<>(TextEvent.class)), spec);
    List<ClassificationResult> labels = new ArrayList<>();
    List<DeadLetter> dead = new ArrayList<>();
    CloseableIterator<ClassificationResult> a = streams.classifications().collectAsync();
    CloseableIterator<DeadLetter> d = streams.deadLetters().collectAsync();
    env.execute("hub-model");
    a.forEachRemaining(labels::add);
    d.forEachRemaining(dead::add);

    assertThat(dead).isEmpty();
    assertThat(labels).hasSize(events.size());
    Map<String, String> textById = events.stream().collect(Collectors.toMap(TextEvent::getId, TextEvent::getText));
    try (TextClassificationPipeline direct =
        Pipeline.textClassification(TestModels.model(TestModels.SEQ_CLS), PipelineOptions.defaults())) {
      for (ClassificationResult r : labels) {
        assertThat(r.getModel().getName()).isEqualTo(ID);
        assertThat(r.getModel().getVersion()).isEqualTo(repo.commit());
        LabelScore expected = direct.run(textById.get(r.getId())).get(0);
        assertThat(r.getLabels().get(0).getLabel()).isEqualTo(expected.label());
        assertThat(r.getLabels().get(0).getScore()).isCloseTo(expected.score(), within(1e-5f));
      }
    }
    // both subtasks opened it through one cache: the ONNX graph came from the CDN once
    assertThat(hub.requests.subList(before, hub.requests.size()).stream().filter(r -> r.startsWith("GET /cdn/")))
        .hasSize(1);
    Path snapshot = cache.resolve("models--distilstream-test--tiny-sst2/snapshots").resolve(repo.commit());
    assertThat(snapshot.resolve("model.onnx")).isSymbolicLink();
  }

  @Test
  void aWrongHubIdFailsWhenTheJobIsBuiltSayingWhy() {
    assertThatThrownBy(() -> InferenceSpec.builder().model(Task.TEXT_CLASSIFICATION, "distilstream-test/nope")
        .build()).isInstanceOf(HubException.class).hasMessageContaining("repository not found");
    assertThatThrownBy(() -> InferenceSpec.builder().model(Task.TEXT_CLASSIFICATION, ID + "@v9").build())
        .isInstanceOf(HubException.class).hasMessageContaining("no revision 'v9'");
    assertThatThrownBy(() -> InferenceSpec.builder().model(Task.TEXT_CLASSIFICATION, "distilstream-test/na me")
        .build()).hasMessageContaining("neither a local path").hasMessageContaining("'na me' is not a Hub name");
  }

  @Test
  void sqlModelDirTakesAHubIdAndEveryRowNamesItsCommit() throws Exception {
    TableEnvironment t = TableEnvironment.create(EnvironmentSettings.inStreamingMode());
    t.getConfig().set("parallelism.default", "2");
    StringBuilder values = new StringBuilder();
    for (int i = 0; i < TEXTS.length; i++) {
      values.append(i == 0 ? "" : ", ").append("('r").append(i).append("', '").append(TEXTS[i]).append("')");
    }
    t.executeSql("CREATE TEMPORARY VIEW comments AS SELECT * FROM (VALUES " + values + ") AS v(id, text)");
    t.executeSql("CREATE TEMPORARY MODEL sst2 INPUT (text STRING) OUTPUT (label STRING, score DOUBLE,"
        + " model_name STRING, model_version STRING) WITH ('provider' = 'distilbert',"
        + " 'task' = 'text-classification', 'model-dir' = '" + ID + "')");
    List<Row> rows = new ArrayList<>();
    try (CloseableIterator<Row> it = t.executeSql("SELECT id, text, label, score, model_name, model_version"
        + " FROM ML_PREDICT(TABLE comments, MODEL sst2, DESCRIPTOR(text))").collect()) {
      it.forEachRemaining(rows::add);
    }
    assertThat(rows).hasSize(TEXTS.length);
    Map<String, LabelScore> expected = new HashMap<>();
    try (TextClassificationPipeline direct =
        Pipeline.textClassification(TestModels.model(TestModels.SEQ_CLS), PipelineOptions.defaults())) {
      for (String text : TEXTS) {
        expected.put(text, direct.run(text).get(0));
      }
    }
    for (Row r : rows) {
      assertThat(r.getField("model_name")).isEqualTo(ID);
      assertThat(r.getField("model_version")).isEqualTo(repo.commit());
      LabelScore e = expected.get((String) r.getField("text"));
      assertThat(r.getField("label")).isEqualTo(e.label());
      assertThat((Double) r.getField("score")).isCloseTo(e.score(), within(1e-5));
    }
    t.executeSql("CREATE TEMPORARY MODEL nope INPUT (text STRING) OUTPUT (label STRING, score DOUBLE) WITH ("
        + "'provider' = 'distilbert', 'task' = 'text-classification', 'model-dir' = '" + ID + "@v9')");
    assertThatThrownBy(() -> t.executeSql("SELECT id, label FROM ML_PREDICT(TABLE comments, MODEL nope,"
        + " DESCRIPTOR(text))")).hasStackTraceContaining("option 'model-dir'")
        .hasStackTraceContaining("no revision 'v9'");
  }
}
