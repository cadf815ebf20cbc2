package io.distilstream.e2e;

import static io.distilstream.e2e.E2eModels.model;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.operators.InferenceMetrics;
import io.distilstream.operators.sql.DistilBertFunctions;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.runtime.heads.Answer;
import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.heads.FillMaskHead;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.heads.MultipleChoiceHead;
import io.distilstream.runtime.pipeline.FeatureExtractionPipeline;
import io.distilstream.runtime.pipeline.FillMaskPipeline;
import io.distilstream.runtime.pipeline.MultipleChoicePipeline;
import io.distilstream.runtime.pipeline.Outcome;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.QuestionAnsweringPipeline;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import io.distilstream.runtime.pipeline.TokenClassificationPipeline;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.types.Row;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Flink SQL over a Kafka table (real broker, JSON records) with {@code CREATE MODEL … 'provider' = 'distilbert'} and
 * {@code ML_PREDICT}, one statement per task (fill-mask, multiple choice and sentence pairs included), on a MiniCluster: every row's prediction equals model-runtime's on the
 * same input, and the operator's metrics show batches of more than one row.
 */
class SqlModelITCase {
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
  private static KafkaFixture kafka;
  private static final Map<String, String> TEXT = new HashMap<>();
  private static final String QUESTION = "Who visited Paris?";
  /** Per id: the text with one or two words masked (every tenth without a mask), a second sentence (every fifteenth
   * NULL), and choices for the text as a prompt (every twelfth only one, which the task rejects). */
  private static final Map<String, String> MASKED = new HashMap<>();
  private static final Map<String, String> PAIR = new HashMap<>();
  private static final Map<String, List<String>> CHOICES = new HashMap<>();
  private static final List<String> NLI = List.of("contradiction", "neutral", "entailment");

  @TempDir
  static Path models;
  /** Seeded models built here: a DistilBERT multiple-choice graph, a BERT NLI sequence classifier. */
  private static Path multipleChoice;
  private static Path nli;

  @BeforeAll
  static void startKafka() throws Exception {
    multipleChoice = E2eModels.seeded(models.resolve("sql-multiple-choice"),
        "tiny-distilbert-sequence-classification", "DistilBertForMultipleChoice", List.of("LABEL_0"),
        GraphBuilder.Head.MULTIPLE_CHOICE);
    nli = E2eModels.seeded(models.resolve("sql-bert-nli"), "tiny-bert-token-classification",
        "BertForSequenceClassification", NLI, GraphBuilder.Head.SEQUENCE_CLASSIFICATION);
    kafka = KafkaFixture.start(Map.of());
    kafka.createTopics(2, List.of(TOPIC));
    String[] words = {"the", "film", "was", "great", "terrible", "Angela", "Merkel", "visited", "Paris", "and",
        "Berlin", "with", "Apple", "engineers", "in", "May", "really", "boring", "😀", "naïve"};
    java.util.Random random = new java.util.Random(7);
    java.util.Random more = new java.util.Random(11);
    List<byte[]> values = new ArrayList<>();
    for (int i = 0; i < N; i++) {
      int len = 3 + random.nextInt(25);
      StringBuilder sb = new StringBuilder();
      for (int w = 0; w < len; w++) {
        sb.append(w == 0 ? "" : " ").append(words[random.nextInt(words.length)]);
      }
      String id = "c" + i;
      TEXT.put(id, sb.toString());
      String[] tokens = sb.toString().split(" ");
      if (i % 10 != 9) {
        int a = more.nextInt(tokens.length);
        tokens[a] = "[MASK]";
        if (i % 5 == 0) {
          tokens[(a + 1 + more.nextInt(tokens.length - 1)) % tokens.length] = "[MASK]";
        }
      }
      MASKED.put(id, String.join(" ", tokens));
      PAIR.put(id, i % 15 == 0 ? null : sentence(words, more, 3 + more.nextInt(8)));
      List<String> choices = new ArrayList<>();
      for (int c = i % 12 == 0 ? 1 : 2 + more.nextInt(3); c > 0; c--) {
        choices.add(sentence(words, more, 1 + more.nextInt(4)));
      }
      CHOICES.put(id, choices);
      String json = "{\"id\":\"" + id + "\",\"text\":\"" + sb + "\",\"question\":\"" + QUESTION + "\""
          + ",\"masked\":\"" + MASKED.get(id) + "\",\"pair\":"
          + (PAIR.get(id) == null ? "null" : "\"" + PAIR.get(id) + "\"")
          + ",\"choices\":[\"" + String.join("\",\"", choices) + "\"]}";
      values.add(json.getBytes(StandardCharsets.UTF_8));
    }
    kafka.produce(TOPIC, values);
  }

  private static String sentence(String[] words, java.util.Random random, int len) {
    StringBuilder sb = new StringBuilder();
    for (int w = 0; w < len; w++) {
      sb.append(w == 0 ? "" : " ").append(words[random.nextInt(words.length)]);
    }
    return sb.toString();
  }

  @AfterAll
  static void stopKafka() {
    if (kafka != null) {
      kafka.close();
    }
  }

  private static TableEnvironment tableEnv() {
    TableEnvironment t = TableEnvironment.create(EnvironmentSettings.inStreamingMode());
    t.getConfig().set("parallelism.default", "2");
    // enough rows in flight per subtask for batches to form
    t.getConfig().set("table.exec.async-ml-predict.max-concurrent-operations", "64");
    t.getConfig().set("table.exec.async-ml-predict.output-mode", "ALLOW_UNORDERED");
    t.executeSql("CREATE TABLE comments (id STRING, text STRING, question STRING, masked STRING, pair STRING,"
        + " choices ARRAY<STRING>) WITH ("
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
        + "'max-batch-size' = '32', 'max-wait' = '5 ms', "
        // within a thread budget of one thread (issue 21, item 5): the results must not change
        + "'scheduling' = 'fair', 'task-manager-threads' = '1')");
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
        assertThat(labels).hasSize(6);
        assertLabels(labels, expected);
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
          assertEntity(entities[i], expected.get(i));
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
        assertAnswer(r, expected);
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

    Map<String, List<Row>> byId = byId(entities);
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
          assertEntity(got.get(i), expected.get(i));
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
        assertAnswer(r, expected);
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

  private static void assertLabels(Row[] got, List<LabelScore> expected) {
    assertThat(got).hasSize(expected.size());
    for (int i = 0; i < got.length; i++) {
      assertThat(got[i].getField("label")).isEqualTo(expected.get(i).label());
      assertThat((Double) got[i].getField("score")).isCloseTo(expected.get(i).score(), within(1e-5));
    }
  }

  private static void assertEntity(Row got, Entity e) {
    assertThat(got.getField("entity_group")).isEqualTo(e.entityGroup());
    assertThat(got.getField("word")).isEqualTo(e.word());
    assertThat(got.getField("start")).isEqualTo(e.start());
    assertThat(got.getField("end")).isEqualTo(e.end());
    assertThat((Double) got.getField("score")).isCloseTo(e.score(), within(1e-5));
  }

  private static void assertAnswer(Row got, Answer expected) {
    assertThat(got.getField("answer")).isEqualTo(expected.answer());
    assertThat(got.getField("start")).isEqualTo(expected.start());
    assertThat(got.getField("end")).isEqualTo(expected.end());
    assertThat((Double) got.getField("score")).isCloseTo(expected.score(), within(1e-5));
  }

  private static void assertPredictions(Row[] got, List<List<FillMaskHead.Prediction>> expected) {
    int i = 0;
    for (int m = 0; m < expected.size(); m++) {
      for (FillMaskHead.Prediction p : expected.get(m)) {
        assertThat(got[i].getField("mask_index")).isEqualTo(m);
        assertThat(got[i].getField("token")).isEqualTo(p.token());
        assertThat(got[i].getField("token_str")).isEqualTo(p.tokenStr());
        assertThat(got[i].getField("sequence")).isEqualTo(p.sequence());
        assertThat((Double) got[i].getField("score")).isCloseTo(p.score(), within(1e-5));
        i++;
      }
    }
    assertThat(got).hasSize(i);
  }

  @Test
  void fillMaskGivesTheCandidatesOfEveryMaskAndTheReasonForATextWithoutOne() throws Exception {
    Path dir = model("tiny-distilbert-masked-lm");
    TableEnvironment t = tableEnv();
    t.executeSql("CREATE MODEL filler INPUT (text STRING) OUTPUT (predictions ARRAY<ROW<mask_index INT,"
        + " score DOUBLE, token INT, token_str STRING, `sequence` STRING>>, error STRING) WITH ("
        + "'provider' = 'distilbert', 'task' = 'fill-mask', 'model-dir' = '" + dir + "', 'top-k' = '3',"
        + " 'max-batch-size' = '16')");
    List<Row> rows = collect(t, "SELECT id, masked, predictions, error FROM ML_PREDICT(TABLE comments,"
        + " MODEL filler, DESCRIPTOR(masked))");

    assertThat(rows).hasSize(N);
    int twoMasks = 0;
    int noMask = 0;
    List<String> inputs = new ArrayList<>();
    rows.forEach(r -> inputs.add((String) r.getField("masked")));
    try (FillMaskPipeline direct = Pipeline.fillMask(dir, PipelineOptions.defaults().topK(3))) {
      List<Outcome<List<List<FillMaskHead.Prediction>>>> all = direct.runAll(inputs); // batched as the runtime does
      for (int k = 0; k < rows.size(); k++) {
        Row r = rows.get(k);
        String masked = (String) r.getField("masked");
        assertThat(masked).isEqualTo(MASKED.get((String) r.getField("id")));
        Outcome<List<List<FillMaskHead.Prediction>>> expected = all.get(k);
        if (expected.isSuccess()) {
          assertPredictions((Row[]) r.getField("predictions"), expected.value());
          assertThat(r.getField("error")).isNull();
          twoMasks += expected.value().size() == 2 ? 1 : 0;
        } else {
          assertThat(r.getField("predictions")).isNull();
          assertThat(r.getField("error")).isEqualTo(expected.reason() + ": " + expected.message());
          assertThat((String) r.getField("error")).startsWith("INVALID_INPUT: no mask token [MASK]");
          noMask++;
        }
      }
    }
    assertThat(twoMasks).isEqualTo(N / 5);
    assertThat(noMask).isEqualTo(N / 10);
    assertThat(largestBatch(dir.getFileName().toString())).as("fill-mask batches").isGreaterThan(1);
  }

  @Test
  void multipleChoiceTakesAPromptAndAnArrayOfChoices() throws Exception {
    TableEnvironment t = tableEnv();
    t.executeSql("CREATE MODEL chooser INPUT (prompt STRING, choices ARRAY<STRING>) OUTPUT (best INT,"
        + " best_choice STRING, score DOUBLE, scores ARRAY<DOUBLE>, error STRING) WITH ("
        + "'provider' = 'distilbert', 'task' = 'multiple-choice', 'model-dir' = '" + multipleChoice + "')");
    List<Row> rows = collect(t, "SELECT id, text, choices, best, best_choice, score, scores, error"
        + " FROM ML_PREDICT(TABLE comments, MODEL chooser, DESCRIPTOR(text, choices))");

    assertThat(rows).hasSize(N);
    int rejected = 0;
    double spread = 0;
    try (MultipleChoicePipeline direct = Pipeline.multipleChoice(multipleChoice, PipelineOptions.defaults())) {
      for (Row r : rows) {
        String id = (String) r.getField("id");
        assertThat((String[]) r.getField("choices")).containsExactlyElementsOf(CHOICES.get(id));
        Outcome<MultipleChoiceHead.Result> expected = direct.runAll(List.of(
            new MultipleChoicePipeline.Question((String) r.getField("text"), CHOICES.get(id)))).get(0);
        if (!expected.isSuccess()) {
          assertThat(r.getField("best")).isNull();
          assertThat((String) r.getField("error")).startsWith("INVALID_INPUT: multiple-choice needs at least 2");
          rejected++;
          continue;
        }
        MultipleChoiceHead.Result e = expected.value();
        assertThat(r.getField("best")).isEqualTo(e.best());
        assertThat(r.getField("best_choice")).isEqualTo(e.bestChoice());
        assertThat((Double) r.getField("score")).isCloseTo(e.scores()[e.best()], within(1e-5));
        Double[] scores = (Double[]) r.getField("scores");
        assertThat(scores).hasSize(e.scores().length);
        for (int c = 0; c < scores.length; c++) {
          assertThat(scores[c]).isCloseTo(e.scores()[c], within(1e-5));
          spread = Math.max(spread, Math.abs(scores[c] - scores[0]));
        }
        assertThat(r.getField("error")).isNull();
      }
    }
    assertThat(rejected).isEqualTo(N / 12);
    assertThat(spread).as("choices' scores differ").isGreaterThan(1e-4);
    assertThat(largestBatch(multipleChoice.getFileName().toString())).as("multiple-choice batches")
        .isGreaterThan(1);
  }

  @Test
  void textClassificationWithTwoInputColumnsClassifiesSentencePairs() throws Exception {
    TableEnvironment t = tableEnv();
    t.executeSql("CREATE MODEL entailment INPUT (premise STRING, hypothesis STRING)"
        + " OUTPUT (labels ARRAY<ROW<label STRING, score DOUBLE>>, label STRING) WITH ("
        + "'provider' = 'distilbert', 'task' = 'text-classification', 'model-dir' = '" + nli + "', 'top-k' = '0')");
    List<Row> rows = collect(t, "SELECT id, text, pair, labels, label FROM ML_PREDICT(TABLE comments,"
        + " MODEL entailment, DESCRIPTOR(text, pair))");

    assertThat(rows).hasSize(N);
    int pairsDiffer = 0;
    try (TextClassificationPipeline direct = Pipeline.textClassification(nli, PipelineOptions.defaults().topK(0))) {
      assertThat(direct.session().usesTokenTypeIds()).isTrue();
      for (Row r : rows) {
        String text = (String) r.getField("text");
        String pair = (String) r.getField("pair");
        assertThat(pair).isEqualTo(PAIR.get((String) r.getField("id")));
        List<LabelScore> expected = direct.runPairs(List.of(new TextClassificationPipeline.TextPair(text, pair)))
            .get(0).value();
        Row[] labels = (Row[]) r.getField("labels");
        assertThat(labels).hasSize(3);
        assertLabels(labels, expected);
        assertThat(r.getField("label")).isEqualTo(expected.get(0).label());
        List<LabelScore> alone = direct.run(text);
        if (pair == null) {
          assertThat((Double) labels[0].getField("score")).isCloseTo(alone.get(0).score(), within(1e-5));
        } else if (Math.abs(alone.get(0).score() - expected.get(0).score()) > 1e-4) {
          pairsDiffer++;
        }
      }
    }
    assertThat(pairsDiffer).as("rows whose pair changes the scores").isPositive();
  }

  @Test
  void tableFunctionsForFillMaskMultipleChoiceAndPairs() throws Exception {
    Path mlm = model("tiny-distilbert-masked-lm");
    TableEnvironment t = tableEnv();
    t.getConfig().set("table.exec.async-table.max-concurrent-operations", "64");
    DistilBertFunctions.register(t, Task.FILL_MASK, mlm, Map.of("top-k", "2"));
    DistilBertFunctions.register(t, Task.MULTIPLE_CHOICE, multipleChoice, Map.of());
    DistilBertFunctions.register(t, Task.TEXT_CLASSIFICATION, nli, Map.of("top-k", "0"));
    List<Row> fills = collect(t, "SELECT id, mask_index, score, token, token_str, `sequence`, model_version"
        + " FROM comments, LATERAL TABLE(distilbert_fill_mask(masked))");
    List<Row> choices = collect(t, "SELECT id, choice_index, choice, score, logit, is_best"
        + " FROM comments, LATERAL TABLE(distilbert_multiple_choice(text, choices))");
    List<Row> pairs = collect(t, "SELECT id, label, score FROM comments,"
        + " LATERAL TABLE(distilbert_classify(text, pair))");

    Map<String, List<Row>> fillsById = byId(fills);
    String hash = io.distilstream.runtime.model.ModelDirectory.of(mlm).contentHash();
    int expectedFills = 0;
    try (FillMaskPipeline direct = Pipeline.fillMask(mlm, PipelineOptions.defaults().topK(2))) {
      for (Map.Entry<String, String> e : MASKED.entrySet()) {
        Outcome<List<List<FillMaskHead.Prediction>>> expected = direct.runAll(List.of(e.getValue())).get(0);
        List<Row> got = new ArrayList<>(fillsById.getOrDefault(e.getKey(), List.of()));
        if (!expected.isSuccess()) {
          assertThat(got).as(e.getKey()).isEmpty();
          continue;
        }
        got.sort(java.util.Comparator.comparingInt((Row r) -> (Integer) r.getField("mask_index"))
            .thenComparing((Row r) -> -(Double) r.getField("score")));
        assertPredictions(got.toArray(new Row[0]), expected.value());
        got.forEach(r -> assertThat(r.getField("model_version")).isEqualTo(hash));
        expectedFills += got.size();
      }
    }
    assertThat(fills).hasSize(expectedFills).isNotEmpty();

    Map<String, List<Row>> choicesById = byId(choices);
    try (MultipleChoicePipeline direct = Pipeline.multipleChoice(multipleChoice, PipelineOptions.defaults())) {
      for (Map.Entry<String, List<String>> e : CHOICES.entrySet()) {
        Outcome<MultipleChoiceHead.Result> expected = direct.runAll(List.of(
            new MultipleChoicePipeline.Question(TEXT.get(e.getKey()), e.getValue()))).get(0);
        List<Row> got = new ArrayList<>(choicesById.getOrDefault(e.getKey(), List.of()));
        if (!expected.isSuccess()) {
          assertThat(got).as(e.getKey()).isEmpty();
          continue;
        }
        got.sort(java.util.Comparator.comparingInt(r -> (Integer) r.getField("choice_index")));
        MultipleChoiceHead.Result res = expected.value();
        assertThat(got).hasSize(e.getValue().size());
        for (int c = 0; c < got.size(); c++) {
          assertThat(got.get(c).getField("choice")).isEqualTo(e.getValue().get(c));
          assertThat((Double) got.get(c).getField("score")).isCloseTo(res.scores()[c], within(1e-5));
          assertThat((Double) got.get(c).getField("logit")).isCloseTo(res.logits()[c], within(1e-4));
          assertThat(got.get(c).getField("is_best")).isEqualTo(c == res.best());
        }
      }
    }
    assertThat(choices).hasSize(CHOICES.values().stream().mapToInt(c -> c.size() < 2 ? 0 : c.size()).sum());

    Map<String, List<Row>> pairsById = byId(pairs);
    assertThat(pairs).hasSize(3 * N);
    try (TextClassificationPipeline direct = Pipeline.textClassification(nli, PipelineOptions.defaults().topK(0))) {
      for (Map.Entry<String, String> e : TEXT.entrySet()) {
        List<LabelScore> expected = direct.runPairs(List.of(new TextClassificationPipeline.TextPair(e.getValue(),
            PAIR.get(e.getKey())))).get(0).value();
        for (Row r : pairsById.get(e.getKey())) {
          LabelScore l = expected.stream().filter(x -> x.label().equals(r.getField("label"))).findFirst()
              .orElseThrow();
          assertThat((Double) r.getField("score")).isCloseTo(l.score(), within(1e-5));
        }
      }
    }
  }

  private static Map<String, List<Row>> byId(List<Row> rows) {
    Map<String, List<Row>> byId = new HashMap<>();
    rows.forEach(r -> byId.computeIfAbsent((String) r.getField("id"), k -> new ArrayList<>()).add(r));
    return byId;
  }

  @Test
  void theValidatorNamesTheColumnsOfTheNewTasksAtCreateModel() {
    Configuration conf = new Configuration();
    conf.setString("table.catalog-modification.listeners", "distilbert");
    TableEnvironment t = TableEnvironment.create(
        EnvironmentSettings.newInstance().inStreamingMode().withConfiguration(conf).build());
    Path mlm = model("tiny-distilbert-masked-lm");
    assertThatThrownBy(() -> t.executeSql("CREATE TEMPORARY MODEL fm INPUT (text STRING)"
        + " OUTPUT (label STRING, score DOUBLE) WITH ('provider' = 'distilbert', 'task' = 'fill-mask',"
        + " 'model-dir' = '" + mlm + "')"))
        .hasStackTraceContaining("The task produces (predictions ARRAY<ROW<score DOUBLE, token INT,"
            + " token_str STRING, `sequence` STRING>>)");
    assertThatThrownBy(() -> t.executeSql("CREATE TEMPORARY MODEL mc INPUT (prompt STRING, choices STRING)"
        + " OUTPUT (best INT) WITH ('provider' = 'distilbert', 'task' = 'multiple-choice',"
        + " 'model-dir' = '" + multipleChoice + "')"))
        .hasStackTraceContaining("takes INPUT (prompt STRING, choices ARRAY<STRING>)");
    assertThatThrownBy(() -> t.executeSql("CREATE TEMPORARY MODEL three INPUT (a STRING, b STRING, c STRING)"
        + " OUTPUT (label STRING, score DOUBLE) WITH ('provider' = 'distilbert', 'task' = 'text-classification',"
        + " 'model-dir' = '" + nli + "')"))
        .hasStackTraceContaining("(text STRING, text_pair STRING) for sentence pairs");
    assertThat(t.listTemporaryModels()).isEmpty();
    t.executeSql("CREATE TEMPORARY MODEL ok INPUT (prompt STRING, choices ARRAY<STRING>) OUTPUT (best INT,"
        + " scores ARRAY<FLOAT>) WITH ('provider' = 'distilbert', 'task' = 'multiple-choice', 'model-dir' = '"
        + multipleChoice + "')");
    assertThat(t.listTemporaryModels()).hasSize(1);
  }
}
