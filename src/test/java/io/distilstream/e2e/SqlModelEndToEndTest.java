package io.distilstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.jobs.local.LocalKafka;
import io.distilstream.operators.InferenceMetrics;
import io.distilstream.operators.sql.DistilBertFunctions;
import io.distilstream.runtime.heads.Answer;
import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.pipeline.FeatureExtractionPipeline;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.QuestionAnsweringPipeline;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import io.distilstream.runtime.pipeline.TokenClassificationPipeline;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Metric;
import org.apache.flink.runtime.testutils.InMemoryReporter;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.types.Row;
import org.apache.flink.util.CloseableIterator;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Flink SQL over a Kafka table (real broker, JSON records) with {@code CREATE MODEL … 'provider' = 'distilbert'} and
 * {@code ML_PREDICT}, one statement per task, on a MiniCluster: every row's prediction equals model-runtime's on the
 * same input, and the operator's metrics show batches of more than one row.
 */
class SqlModelEndToEndTest {
  private static final InMemoryReporter REPORTER = InMemoryReporter.createWithRetainedMetrics();

  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder()
          .setNumberTaskManagers(1)
          .setNumberSlotsPerTaskManager(2)
          .setConfiguration(REPORTER.addToConfiguration(new Configuration()))
          .build());

  private static final int N = 120;
  private static final String TOPIC = "sql-comments";
  private static LocalKafka kafka;
  private static final Map<String, String> TEXT = new HashMap<>();
  private static final String QUESTION = "Who visited Paris?";

  @BeforeAll
  static void startKafka() throws Exception {
    kafka = LocalKafka.start(Map.of());
    kafka.createTopics(2, List.of(TOPIC));
    String[] words = {"the", "film", "was", "great", "terrible", "Angela", "Merkel", "visited", "Paris", "and",
        "Berlin", "with", "Apple", "engineers", "in", "May", "really", "boring", "😀", "naïve"};
    java.util.Random random = new java.util.Random(7);
    Map<String, Object> props = Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ProducerConfig.ACKS_CONFIG, "all",
        ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class,
        ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
      for (int i = 0; i < N; i++) {
        int len = 3 + random.nextInt(25);
        StringBuilder sb = new StringBuilder();
        for (int w = 0; w < len; w++) {
          sb.append(w == 0 ? "" : " ").append(words[random.nextInt(words.length)]);
        }
        String id = "c" + i;
        TEXT.put(id, sb.toString());
        String json = "{\"id\":\"" + id + "\",\"text\":\"" + sb + "\",\"question\":\"" + QUESTION + "\"}";
        producer.send(new ProducerRecord<>(TOPIC, json.getBytes(StandardCharsets.UTF_8)));
      }
      producer.flush();
    }
  }

  @AfterAll
  static void stopKafka() {
    if (kafka != null) {
      kafka.close();
    }
  }

  static Path model(String name) {
    Path dir = Paths.get(System.getProperty("distilstream.shared", "../shared"), "models", name);
    assertThat(dir).as("test model (see ../shared/README.md)").isDirectory();
    return dir.toAbsolutePath().normalize();
  }

  private static TableEnvironment tableEnv() {
    TableEnvironment t = TableEnvironment.create(EnvironmentSettings.inStreamingMode());
    t.getConfig().set("parallelism.default", "2");
    // enough rows in flight per subtask for batches to form
    t.getConfig().set("table.exec.async-ml-predict.max-concurrent-operations", "64");
    t.getConfig().set("table.exec.async-ml-predict.output-mode", "ALLOW_UNORDERED");
    t.executeSql("CREATE TABLE comments (id STRING, text STRING, question STRING) WITH ("
        + "'connector' = 'kafka', 'topic' = '" + TOPIC + "', "
        + "'properties.bootstrap.servers' = '" + kafka.bootstrapServers() + "', "
        + "'properties.group.id' = 'sql-test', "
        + "'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', "
        + "'format' = 'json')");
    return t;
  }

  private static List<Row> collect(TableEnvironment t, String sql) throws Exception {
    List<Row> rows = new ArrayList<>();
    try (CloseableIterator<Row> it = t.executeSql(sql).collect()) {
      it.forEachRemaining(rows::add);
    }
    return rows;
  }

  /** The largest batch any distilbert SQL function on this model ran, from the operator's own metrics. */
  private static long largestBatch(String modelName) {
    long largest = 0;
    for (Map.Entry<org.apache.flink.metrics.MetricGroup, Map<String, Metric>> g
        : REPORTER.getMetricsByGroup().entrySet()) {
      String scope = g.getKey().getMetricIdentifier("");
      if (!scope.contains(modelName) || !scope.contains(InferenceMetrics.GROUP)) {
        continue;
      }
      Metric m = g.getValue().get("batchSize");
      if (m != null) {
        largest = Math.max(largest, ((Histogram) m).getStatistics().getMax());
      }
    }
    return largest;
  }

  @Test
  void textClassificationOverAKafkaTableEqualsTheRuntimeAndBatches() throws Exception {
    Path dir = model("tiny-distilbert-sequence-classification");
    TableEnvironment t = tableEnv();
    t.executeSql("CREATE MODEL moderation INPUT (text STRING) OUTPUT (label STRING, score DOUBLE) WITH ("
        + "'provider' = 'distilbert', 'task' = 'text-classification', 'model-dir' = '" + dir + "', "
        + "'max-batch-size' = '32', 'max-wait' = '5 ms')");
    List<Row> rows = collect(t, "SELECT id, text, label, score FROM ML_PREDICT(TABLE comments, MODEL moderation,"
        + " DESCRIPTOR(text))");

    assertThat(rows).hasSize(N);
    assertThat(rows.stream().map(r -> (String) r.getField("id")).distinct()).hasSize(N);
    try (TextClassificationPipeline direct = Pipeline.textClassification(dir, PipelineOptions.defaults())) {
      for (Row r : rows) {
        String text = (String) r.getField("text");
        assertThat(text).isEqualTo(TEXT.get((String) r.getField("id")));
        LabelScore expected = direct.run(text).get(0);
        assertThat(r.getField("label")).isEqualTo(expected.label());
        assertThat((Double) r.getField("score")).isCloseTo(expected.score(), within(1e-5));
      }
    }
    long largest = largestBatch(dir.getFileName().toString());
    System.out.printf("SQL text-classification: %d rows, largest batch %d%n", rows.size(), largest);
    assertThat(largest).as("largest batch (batchSize metric)").isGreaterThan(1);
  }

  @Test
  void multiLabelClassificationGivesEveryLabelAsAnArrayOfRowsWithTheModelVersion() throws Exception {
    Path dir = model("tiny-distilbert-multi-label");
    TableEnvironment t = tableEnv();
    t.executeSql("CREATE MODEL toxicity INPUT (text STRING)"
        + " OUTPUT (labels ARRAY<ROW<label STRING, score DOUBLE>>, model_name STRING, model_version STRING,"
        + " model_runtime STRING) WITH ("
        + "'provider' = 'distilbert', 'task' = 'text-classification', 'model-dir' = '" + dir + "')");
    List<Row> rows = collect(t, "SELECT id, text, labels, model_name, model_version, model_runtime"
        + " FROM ML_PREDICT(TABLE comments, MODEL toxicity, DESCRIPTOR(text))");

    assertThat(rows).hasSize(N);
    String hash = io.distilstream.runtime.model.ModelDirectory.of(dir).contentHash();
    try (TextClassificationPipeline direct = Pipeline.textClassification(dir, PipelineOptions.defaults())) {
      for (Row r : rows) {
        List<LabelScore> expected = direct.run((String) r.getField("text"));
        Row[] labels = (Row[]) r.getField("labels");
        assertThat(labels).hasSize(6).hasSize(expected.size());
        for (int i = 0; i < labels.length; i++) {
          assertThat(labels[i].getField("label")).isEqualTo(expected.get(i).label());
          assertThat((Double) labels[i].getField("score")).isCloseTo(expected.get(i).score(), within(1e-5));
        }
        assertThat(r.getField("model_name")).isEqualTo("tiny-distilbert-multi-label");
        assertThat(r.getField("model_version")).isEqualTo(hash);
        assertThat((String) r.getField("model_runtime")).contains("onnxruntime/1.29");
      }
    }
  }

  @Test
  void tokenClassificationGivesEntitySpans() throws Exception {
    Path dir = model("tiny-distilbert-token-classification");
    TableEnvironment t = tableEnv();
    t.executeSql("CREATE MODEL ner INPUT (text STRING) OUTPUT (entities ARRAY<ROW<entity_group STRING,"
        + " word STRING, score DOUBLE, `start` INT, `end` INT>>) WITH ("
        + "'provider' = 'distilbert', 'task' = 'token-classification', 'model-dir' = '" + dir + "')");
    List<Row> rows = collect(t, "SELECT id, text, entities FROM ML_PREDICT(TABLE comments, MODEL ner,"
        + " DESCRIPTOR(text))");

    assertThat(rows).hasSize(N);
    int spans = 0;
    try (TokenClassificationPipeline direct = Pipeline.tokenClassification(dir, PipelineOptions.defaults())) {
      for (Row r : rows) {
        String text = (String) r.getField("text");
        List<Entity> expected = direct.run(text);
        Row[] entities = (Row[]) r.getField("entities");
        assertThat(entities).hasSize(expected.size());
        for (int i = 0; i < entities.length; i++) {
          Entity e = expected.get(i);
          assertThat(entities[i].getField("entity_group")).isEqualTo(e.entityGroup());
          assertThat(entities[i].getField("word")).isEqualTo(e.word());
          assertThat(entities[i].getField("start")).isEqualTo(e.start());
          assertThat(entities[i].getField("end")).isEqualTo(e.end());
          assertThat((Double) entities[i].getField("score")).isCloseTo(e.score(), within(1e-5));
          spans++;
        }
      }
    }
    assertThat(spans).as("entity spans in all rows").isPositive();
    assertThat(largestBatch(dir.getFileName().toString())).isGreaterThan(1);
  }

  @Test
  void questionAnsweringTakesTwoInputColumns() throws Exception {
    Path dir = model("tiny-distilbert-question-answering");
    TableEnvironment t = tableEnv();
    t.executeSql("CREATE MODEL qa INPUT (question STRING, context STRING)"
        + " OUTPUT (answer STRING, score DOUBLE, `start` INT, `end` INT) WITH ("
        + "'provider' = 'distilbert', 'task' = 'question-answering', 'model-dir' = '" + dir + "')");
    List<Row> rows = collect(t, "SELECT id, text, answer, score, `start`, `end`"
        + " FROM ML_PREDICT(TABLE comments, MODEL qa, DESCRIPTOR(question, text))");

    assertThat(rows).hasSize(N);
    try (QuestionAnsweringPipeline direct = Pipeline.questionAnswering(dir, PipelineOptions.defaults())) {
      for (Row r : rows) {
        String context = (String) r.getField("text");
        Answer expected = direct.run(new QuestionAnsweringPipeline.Question(QUESTION, context)).get(0);
        assertThat(r.getField("answer")).isEqualTo(expected.answer());
        assertThat(r.getField("start")).isEqualTo(expected.start());
        assertThat(r.getField("end")).isEqualTo(expected.end());
        assertThat((Double) r.getField("score")).isCloseTo(expected.score(), within(1e-5));
        assertThat(context.substring(expected.start(), expected.end())).isEqualTo(expected.answer());
      }
    }
  }

  @Test
  void featureExtractionGivesVectors(@TempDir Path tmp) throws Exception {
    // a bare encoder: the classifier's weights without a model.onnx, built (BASE head) at load
    Path src = model("tiny-distilbert-sequence-classification");
    Path dir = Files.createDirectories(tmp.resolve("tiny-distilbert-encoder"));
    for (String f : List.of("config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json",
        "model.safetensors")) {
      if (Files.exists(src.resolve(f))) {
        Files.copy(src.resolve(f), dir.resolve(f));
      }
    }
    TableEnvironment t = tableEnv();
    t.executeSql("CREATE MODEL embedder INPUT (text STRING) OUTPUT (embedding ARRAY<FLOAT>) WITH ("
        + "'provider' = 'distilbert', 'task' = 'feature-extraction', 'model-dir' = '" + dir + "')");
    List<Row> rows = collect(t, "SELECT id, text, embedding FROM ML_PREDICT(TABLE comments, MODEL embedder,"
        + " DESCRIPTOR(text))");

    assertThat(rows).hasSize(N);
    try (FeatureExtractionPipeline direct = Pipeline.featureExtraction(dir, PipelineOptions.defaults())) {
      for (Row r : rows) {
        float[] expected = direct.run((String) r.getField("text"));
        Float[] got = (Float[]) r.getField("embedding");
        assertThat(got).hasSize(expected.length).hasSize(32);
        for (int i = 0; i < got.length; i++) {
          assertThat(got[i]).isCloseTo(expected[i], within(1e-5f));
        }
      }
    }
  }

  @Test
  void aWrongOutputSchemaNamesTheColumnsTheTaskProduces() {
    Path dir = model("tiny-distilbert-token-classification");
    TableEnvironment t = tableEnv();
    t.executeSql("CREATE MODEL wrong INPUT (text STRING) OUTPUT (label STRING, score DOUBLE) WITH ("
        + "'provider' = 'distilbert', 'task' = 'token-classification', 'model-dir' = '" + dir + "')");
    assertThatThrownBy(() -> t.explainSql("SELECT id, label FROM ML_PREDICT(TABLE comments, MODEL wrong,"
        + " DESCRIPTOR(text))"))
        .hasStackTraceContaining("unknown column label")
        .hasStackTraceContaining("The task produces (entities ARRAY<ROW<entity_group STRING, word STRING,"
            + " score DOUBLE, `start` INT, `end` INT>>)");
    t.executeSql("CREATE MODEL nodir INPUT (text STRING) OUTPUT (label STRING, score DOUBLE) WITH ("
        + "'provider' = 'distilbert', 'task' = 'text-classification', 'model-dir' = '" + dir.resolve("nope")
        + "')");
    assertThatThrownBy(() -> t.explainSql("SELECT id, label FROM ML_PREDICT(TABLE comments, MODEL nodir,"
        + " DESCRIPTOR(text))"))
        .hasStackTraceContaining("option 'model-dir'").hasStackTraceContaining("does not exist");
    t.executeSql("CREATE MODEL badopt INPUT (text STRING) OUTPUT (label STRING, score DOUBLE) WITH ("
        + "'provider' = 'distilbert', 'task' = 'text-classification', 'model-dir' = '" + dir
        + "', 'max-batch-size' = 'many')");
    assertThatThrownBy(() -> t.explainSql("SELECT id, label FROM ML_PREDICT(TABLE comments, MODEL badopt,"
        + " DESCRIPTOR(text))"))
        .hasStackTraceContaining("max-batch-size");
  }

  @Test
  void tableFunctionsGiveOneRowPerEntityAndPerAnswer() throws Exception {
    Path ner = model("tiny-distilbert-token-classification");
    Path qa = model("tiny-distilbert-question-answering");
    TableEnvironment t = tableEnv();
    t.getConfig().set("table.exec.async-table.max-concurrent-operations", "64");
    DistilBertFunctions.register(t, Task.TOKEN_CLASSIFICATION, ner, Map.of("max-wait", "5 ms"));
    DistilBertFunctions.register(t, Task.QUESTION_ANSWERING, qa, Map.of());
    List<Row> entities = collect(t, "SELECT id, text, entity_group, word, score, `start`, `end`, model_version"
        + " FROM comments, LATERAL TABLE(distilbert_entities(text))");
    List<Row> answers = collect(t, "SELECT id, text, answer, score, `start`, `end`"
        + " FROM comments, LATERAL TABLE(distilbert_answer(question, text))");

    Map<String, List<Row>> byId = new HashMap<>();
    entities.forEach(r -> byId.computeIfAbsent((String) r.getField("id"), k -> new ArrayList<>()).add(r));
    String hash = io.distilstream.runtime.model.ModelDirectory.of(ner).contentHash();
    int expectedRows = 0;
    try (TokenClassificationPipeline direct = Pipeline.tokenClassification(ner, PipelineOptions.defaults())) {
      for (Map.Entry<String, String> e : TEXT.entrySet()) {
        List<Entity> expected = direct.run(e.getValue());
        expectedRows += expected.size();
        List<Row> got = new ArrayList<>(byId.getOrDefault(e.getKey(), List.of()));
        got.sort(java.util.Comparator.comparingInt(r -> (Integer) r.getField("start")));
        assertThat(got).as(e.getKey()).hasSize(expected.size());
        for (int i = 0; i < got.size(); i++) {
          assertThat(got.get(i).getField("entity_group")).isEqualTo(expected.get(i).entityGroup());
          assertThat(got.get(i).getField("word")).isEqualTo(expected.get(i).word());
          assertThat(got.get(i).getField("start")).isEqualTo(expected.get(i).start());
          assertThat(got.get(i).getField("end")).isEqualTo(expected.get(i).end());
          assertThat((Double) got.get(i).getField("score")).isCloseTo(expected.get(i).score(), within(1e-5));
          assertThat(got.get(i).getField("model_version")).isEqualTo(hash);
        }
      }
    }
    assertThat(entities).hasSize(expectedRows).isNotEmpty();

    assertThat(answers).hasSize(N);
    try (QuestionAnsweringPipeline direct = Pipeline.questionAnswering(qa, PipelineOptions.defaults())) {
      for (Row r : answers) {
        Answer expected = direct.run(new QuestionAnsweringPipeline.Question(QUESTION, (String) r.getField("text")))
            .get(0);
        assertThat(r.getField("answer")).isEqualTo(expected.answer());
        assertThat(r.getField("start")).isEqualTo(expected.start());
        assertThat((Double) r.getField("score")).isCloseTo(expected.score(), within(1e-5));
      }
    }
    assertThat(largestBatch(qa.getFileName().toString())).as("QA batches").isGreaterThan(1);
  }

  @Test
  void withTheValidatorABadModelFailsAtCreateModel() {
    Path ner = model("tiny-distilbert-token-classification");
    Configuration conf = new Configuration();
    conf.setString("table.catalog-modification.listeners", "distilbert");
    TableEnvironment t = TableEnvironment.create(
        EnvironmentSettings.newInstance().inStreamingMode().withConfiguration(conf).build());
    assertThatThrownBy(() -> t.executeSql("CREATE TEMPORARY MODEL wrong INPUT (text STRING)"
        + " OUTPUT (label STRING, score DOUBLE) WITH ('provider' = 'distilbert', 'task' = 'token-classification',"
        + " 'model-dir' = '" + ner + "')"))
        .hasStackTraceContaining("The task produces (entities ARRAY<ROW<entity_group STRING");
    assertThat(t.listTemporaryModels()).isEmpty();
    assertThatThrownBy(() -> t.executeSql("CREATE TEMPORARY MODEL typo INPUT (text STRING)"
        + " OUTPUT (entities ARRAY<ROW<word STRING, score DOUBLE>>) WITH ('provider' = 'distilbert',"
        + " 'task' = 'token-classification', 'model-dir' = '" + ner + "', 'max-batch' = '8')"))
        .hasStackTraceContaining("unknown option 'max-batch'");
    assertThatThrownBy(() -> t.executeSql("CREATE TEMPORARY MODEL missing INPUT (text STRING)"
        + " OUTPUT (entities ARRAY<ROW<word STRING, score DOUBLE>>) WITH ('provider' = 'distilbert',"
        + " 'task' = 'token-classification', 'model-dir' = '" + ner.resolve("nope") + "')"))
        .hasStackTraceContaining("option 'model-dir'");
    t.executeSql("CREATE TEMPORARY MODEL ok INPUT (text STRING) OUTPUT (entities ARRAY<ROW<word STRING,"
        + " score DOUBLE>>) WITH ('provider' = 'distilbert', 'task' = 'token-classification', 'model-dir' = '"
        + ner + "')");
    assertThat(t.listTemporaryModels()).hasSize(1);
  }
}
