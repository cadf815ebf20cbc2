package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import io.distilstream.runtime.pipeline.TokenClassificationPipeline;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.EntityResult;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.TextEvent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Metric;
import org.apache.flink.runtime.testutils.InMemoryReporter;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The async micro-batching operator on a real MiniCluster (two slots), real ONNX models, real outputs. */
class InferenceOperatorITCase {
  private static final InMemoryReporter REPORTER = InMemoryReporter.createWithRetainedMetrics();

  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder()
          .setNumberTaskManagers(1)
          .setNumberSlotsPerTaskManager(2)
          .setConfiguration(REPORTER.addToConfiguration(new Configuration()))
          .build());

  private static final AvroTypeInfo<TextEvent> EVENT_TYPE = new AvroTypeInfo<>(TextEvent.class);

  static TextEvent event(String id, String text, String... tasks) {
    return TextEvent.newBuilder().setId(id).setText(text).setTasks(List.of(tasks)).build();
  }

  static List<TextEvent> corpus(int n) {
    String[] words = {"the", "film", "was", "great", "terrible", "Angela", "Merkel", "visited", "Paris", "and",
        "Berlin", "with", "Apple", "engineers", "in", "May", "really", "boring", "😀", "naïve"};
    java.util.Random random = new java.util.Random(42);
    List<TextEvent> events = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int len = 3 + (int) Math.round(Math.exp(random.nextGaussian() * 0.6 + 2.5)); // log-normal lengths
      StringBuilder sb = new StringBuilder();
      for (int w = 0; w < len; w++) {
        sb.append(w == 0 ? "" : " ").append(words[random.nextInt(words.length)]);
      }
      events.add(event("e" + i, sb.toString(), "text-classification", "token-classification"));
    }
    return events;
  }

  private static List<InferenceOutput> run(StreamExecutionEnvironment env, List<TextEvent> events,
      InferenceSpec spec) throws Exception {
    DataStream<TextEvent> source = env.fromData(events, EVENT_TYPE);
    List<InferenceOutput> out = new ArrayList<>();
    try (CloseableIterator<InferenceOutput> it = Enrichment.inference(source, spec).executeAndCollect()) {
      it.forEachRemaining(out::add);
    }
    return out;
  }

  @Test
  void resultsEqualDirectRuntimeCallsAndBatchesFormUnderLoad() throws Exception {
    Path cls = TestModels.model(TestModels.SEQ_CLS);
    Path ner = TestModels.model(TestModels.TOKEN_CLS);
    InferenceSpec spec = InferenceSpec.builder()
        .model(Task.TEXT_CLASSIFICATION, cls)
        .model(Task.TOKEN_CLASSIFICATION, ner)
        .maxWait(Duration.ofMillis(20))
        .build();
    List<TextEvent> events = corpus(400);
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(2);
    DataStream<TextEvent> source = env.fromData(events, EVENT_TYPE);
    Enrichment.Streams streams = Enrichment.apply(source, spec);
    List<ClassificationResult> labels = new ArrayList<>();
    List<EntityResult> entities = new ArrayList<>();
    List<DeadLetter> dead = new ArrayList<>();
    CloseableIterator<ClassificationResult> a = streams.classifications().collectAsync();
    CloseableIterator<EntityResult> b = streams.entities().collectAsync();
    CloseableIterator<DeadLetter> c = streams.deadLetters().collectAsync();
    JobExecutionResult job = env.execute("operator-equivalence");
    a.forEachRemaining(labels::add);
    b.forEachRemaining(entities::add);
    c.forEachRemaining(dead::add);

    assertThat(dead).isEmpty();
    assertThat(labels).hasSize(events.size());
    assertThat(entities).hasSize(events.size());

    Map<String, String> textById = new HashMap<>();
    events.forEach(e -> textById.put(e.getId(), e.getText()));
    try (TextClassificationPipeline direct = Pipeline.textClassification(cls, PipelineOptions.defaults());
        TokenClassificationPipeline directNer = Pipeline.tokenClassification(ner, PipelineOptions.defaults())) {
      for (ClassificationResult r : labels) {
        List<LabelScore> expected = direct.run(textById.get(r.getId()));
        assertThat(r.getLabels()).hasSize(expected.size());
        assertThat(r.getLabels().get(0).getLabel()).isEqualTo(expected.get(0).label());
        assertThat(r.getLabels().get(0).getScore()).isCloseTo(expected.get(0).score(), within(1e-5f));
        assertThat(r.getModel().getName()).isEqualTo(TestModels.SEQ_CLS);
        assertThat(r.getModel().getRuntime()).contains("onnxruntime/1.29");
      }
      for (EntityResult r : entities) {
        List<Entity> expected = directNer.run(textById.get(r.getId()));
        assertThat(r.getEntities()).hasSize(expected.size());
        for (int i = 0; i < expected.size(); i++) {
          assertThat(r.getEntities().get(i).getStart()).isEqualTo(expected.get(i).start());
          assertThat(r.getEntities().get(i).getEnd()).isEqualTo(expected.get(i).end());
          assertThat(r.getEntities().get(i).getLabel()).isEqualTo(expected.get(i).entityGroup());
          assertThat(r.getEntities().get(i).getScore()).isCloseTo(expected.get(i).score(), within(1e-5f));
        }
      }
    }

    // batches larger than one formed, as the operator's own metrics say
    long batches = 0;
    long requests = 0;
    long largest = 0;
    for (Map.Entry<org.apache.flink.metrics.MetricGroup, Map<String, Metric>> g
        : REPORTER.getMetricsByGroup().entrySet()) {
      String scope = g.getKey().getMetricIdentifier("");
      if (!scope.contains("operator-equivalence") || !scope.contains(InferenceMetrics.GROUP)) {
        continue;
      }
      for (Map.Entry<String, Metric> m : g.getValue().entrySet()) {
        switch (m.getKey()) {
          case "batches": batches += ((Counter) m.getValue()).getCount(); break;
          case "events": requests += ((Counter) m.getValue()).getCount(); break;
          case "batchSize":
            largest = Math.max(largest, ((Histogram) m.getValue()).getStatistics().getMax());
            break;
          default:
        }
      }
    }
    assertThat(requests).as("requests counted by the batchers").isEqualTo(2L * events.size());
    assertThat(largest).as("largest batch").isGreaterThan(1);
    assertThat(batches).as("model calls").isLessThan(requests);
    System.out.printf("400 events x 2 tasks, parallelism 2: %d requests in %d batches (mean %.1f, largest %d)%n",
        requests, batches, (double) requests / batches, largest);
  }

  @Test
  void aLoneEventWaitsForMaxWaitNotForAFullBatch() throws Exception {
    InferenceSpec spec = InferenceSpec.builder()
        .model(Task.TEXT_CLASSIFICATION, TestModels.model(TestModels.SEQ_CLS))
        .maxWait(Duration.ofMillis(400))
        .timeout(Duration.ofSeconds(60))
        .build();
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    List<InferenceOutput> out = run(env, List.of(event("lonely", "all alone in the stream")), spec);
    assertThat(out).hasSize(1);
    long micros = out.get(0).getClassification().getLatencyMicros();
    // it waited for the deadline (its batch of 32 never filled) and was then run, well before the 60 s timeout
    assertThat(micros).isGreaterThanOrEqualTo(400_000L).isLessThan(30_000_000L);
  }

  @Test
  void orderedModeKeepsInputOrder() throws Exception {
    InferenceSpec spec = InferenceSpec.builder()
        .model(Task.TEXT_CLASSIFICATION, TestModels.model(TestModels.SEQ_CLS))
        .maxWait(Duration.ofMillis(10))
        .ordered(true)
        .build();
    // lengths vary, so length grouping inside each batch completes requests out of arrival order
    List<TextEvent> events = corpus(200);
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    List<String> ids = new ArrayList<>();
    for (InferenceOutput o : run(env, events, spec)) {
      if (o.getClassification() != null) {
        ids.add(o.getClassification().getId());
      }
    }
    // the corpus asks for two tasks; only text-classification has a model: the other is a dead letter per event
    assertThat(ids).containsExactlyElementsOf(events.stream().map(TextEvent::getId).toList());
  }

  @Test
  void badInputsModelFailuresAndTimeoutsBecomeDeadLettersAndTheJobFinishes(@TempDir Path tmp) throws Exception {
    Path broken = TestModels.withOutOfRangeWord(tmp.resolve("broken-vocab"));
    InferenceSpec spec = InferenceSpec.builder()
        .model(Task.TEXT_CLASSIFICATION, broken)
        .maxWait(Duration.ofMillis(5))
        .maxTextChars(1000)
        .build();
    List<TextEvent> events = new ArrayList<>();
    events.add(event("ok-1", "a perfectly fine comment", "text-classification"));
    events.add(event("boom", "this one says " + TestModels.BOOM + " and breaks the model", "text-classification"));
    events.add(event("empty", "", "text-classification"));
    events.add(TextEvent.newBuilder().setId("null-text").setTasks(List.of("text-classification")).build());
    events.add(event("huge", "x".repeat(5000), "text-classification"));
    events.add(event("unknown-task", "hello", "summarization"));
    events.add(event("no-model", "hello", "question-answering"));
    events.add(event("ok-2", "another fine comment", "text-classification"));
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    Map<String, String> reasons = new HashMap<>();
    List<String> ok = new ArrayList<>();
    for (InferenceOutput o : run(env, events, spec)) {
      if (o.getDeadLetter() != null) {
        reasons.put(o.getDeadLetter().getId(), o.getDeadLetter().getReason());
        assertThat(o.getDeadLetter().getOriginal().remaining()).isPositive();
      } else {
        ok.add(o.getClassification().getId());
      }
    }
    assertThat(ok).containsExactlyInAnyOrder("ok-1", "ok-2");
    assertThat(reasons).containsExactlyInAnyOrderEntriesOf(Map.of(
        "boom", "MODEL_ERROR",
        "empty", "INVALID_INPUT",
        "null-text", "INVALID_INPUT",
        "huge", "TEXT_TOO_LONG",
        "unknown-task", "UNKNOWN_TASK",
        "no-model", "UNKNOWN_TASK"));
  }

  @Test
  void requestsPastTheTimeoutBecomeTimeoutDeadLettersExactlyOnce() throws Exception {
    // One request per model call, each a long QA context of many windows, and more of them in flight than can
    // finish within the timeout: the tail of the queue must time out, and nothing may come out twice.
    InferenceSpec spec = TestModels.slowQuestionAnswering();
    List<TextEvent> events = TestModels.longQuestions(200);
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    Map<String, Integer> seen = new HashMap<>();
    int timeouts = 0;
    int answers = 0;
    for (InferenceOutput o : run(env, events, spec)) {
      String id = o.getDeadLetter() != null ? o.getDeadLetter().getId() : o.getAnswer().getId();
      seen.merge(id, 1, Integer::sum);
      if (o.getDeadLetter() != null) {
        assertThat(o.getDeadLetter().getReason()).isEqualTo("TIMEOUT");
        timeouts++;
      } else {
        answers++;
      }
    }
    assertThat(seen).hasSize(200).allSatisfy((id, count) -> assertThat(count).as(id).isEqualTo(1));
    assertThat(timeouts).isPositive();
    System.out.printf("timeouts: %d of 200 timed out, %d answered%n", timeouts, answers);
  }

  @Test
  void optionsAreValidatedWhenTheJobIsBuilt() {
    Configuration conf = new Configuration();
    assertThatThrownBy(() -> InferenceSpec.fromConfiguration(conf)).hasMessageContaining("inference.model.");
    conf.setString("inference.model.text-classification", TestModels.model(TestModels.SEQ_CLS).toString());
    conf.set(InferenceOptions.CAPACITY, 8);
    assertThatThrownBy(() -> InferenceSpec.fromConfiguration(conf))
        .hasMessageContaining("inference.capacity (8)").hasMessageContaining("inference.max-batch-size (32)");
    conf.set(InferenceOptions.CAPACITY, 64);
    conf.set(InferenceOptions.TIMEOUT, Duration.ofMillis(1));
    conf.set(InferenceOptions.MAX_WAIT, Duration.ofMillis(5));
    assertThatThrownBy(() -> InferenceSpec.fromConfiguration(conf)).hasMessageContaining("inference.timeout");
    conf.set(InferenceOptions.TIMEOUT, Duration.ofSeconds(5));
    conf.setString("inference.model.question-answering", "/no/such/model");
    assertThatThrownBy(() -> InferenceSpec.fromConfiguration(conf)).hasMessageContaining("/no/such/model");
    conf.removeKey("inference.model.question-answering");
    conf.setString("inference.aggregation", "median");
    assertThatThrownBy(() -> InferenceSpec.fromConfiguration(conf)).hasMessageContaining("median");
    conf.setString("inference.aggregation", "first");
    InferenceSpec spec = InferenceSpec.fromConfiguration(conf);
    assertThat(spec.capacity()).isEqualTo(64);
    assertThat(spec.defaultTasks()).containsExactly(Task.TEXT_CLASSIFICATION);
  }
}
