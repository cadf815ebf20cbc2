package io.distilstream.e2e;

import static io.distilstream.e2e.E2eModels.model;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.jobs.EnrichmentJob;
import io.distilstream.jobs.JobConfig;
import io.distilstream.schemas.AnswerResult;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.EntityResult;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import io.distilstream.tools.local.TopicReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The enrichment job end to end: a real Kafka broker (KRaft, its own JVM), a Flink MiniCluster with two
 * TaskManagers, the tiny models from ../shared. Every event's results are counted on the output topics as a
 * read_committed consumer sees them: exactly one per requested task, across failures.
 */
class EnrichmentJobITCase {
  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder()
          .setNumberTaskManagers(2)
          .setNumberSlotsPerTaskManager(2)
          .build());

  private static KafkaFixture kafka;

  @BeforeAll
  static void startKafka() throws Exception {
    // room for the 1 MB hostile event
    kafka = KafkaFixture.start(Map.of("message.max.bytes", "4194304"));
  }

  @AfterAll
  static void stopKafka() {
    if (kafka != null) {
      kafka.close();
    }
  }

  /** Topics of one test run, so tests do not see each other's records. */
  private static Map<String, String> config(String run) throws Exception {
    Map<String, String> c = new LinkedHashMap<>();
    c.put("kafka.bootstrap.servers", kafka.bootstrapServers());
    c.put("job.name", "e2e-" + run);
    c.put("source.bounded", "true");
    c.put("source.starting-offsets", "earliest");
    c.put("execution.checkpointing.interval", "300 ms");
    c.put("parallelism.default", "2");
    c.put("inference.max-wait", "10 ms");
    c.put("inference.model.text-classification", model("tiny-distilbert-sequence-classification").toString());
    c.put("inference.model.token-classification", model("tiny-distilbert-token-classification").toString());
    c.put("inference.model.question-answering", model("tiny-distilbert-question-answering").toString());
    for (String t : List.of("input", "classifications", "entities", "answers", "embeddings", "dead-letters")) {
      c.put("topics." + t, run + "-" + t);
    }
    kafka.createTopics(2, c.entrySet().stream().filter(e -> e.getKey().startsWith("topics."))
        .map(Map.Entry::getValue).toList());
    return c;
  }

  private static void produce(String topic, List<byte[]> values) throws Exception {
    kafka.produce(topic, values);
  }

  /** n events: every one asks for text-classification and token-classification, every fifth also QA. */
  private static List<byte[]> events(int n) throws Exception {
    List<byte[]> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      List<String> tasks = new ArrayList<>(List.of("text-classification", "token-classification"));
      TextEvent.Builder b = TextEvent.newBuilder().setId("ev-" + i)
          .setText("Event " + i + ": Angela Merkel met engineers of Apple in Paris" + " again".repeat(i % 11));
      if (i % 5 == 0) {
        tasks.add("question-answering");
        b.setQuestion("Who met the engineers?");
      }
      out.add(TextEvents.encode(b.setTasks(tasks).build()));
    }
    return out;
  }

  /** Results per task and id, as a read_committed consumer sees them. */
  private static Map<String, Map<String, Integer>> readResults(Map<String, String> c) throws Exception {
    Map<String, Map<String, Integer>> counts = new HashMap<>();
    for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(),
        c.get("topics.classifications"))) {
      counts.computeIfAbsent("cls", k -> new HashMap<>())
          .merge(ClassificationResult.getDecoder().decode(r.value()).getId(), 1, Integer::sum);
    }
    for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(),
        c.get("topics.entities"))) {
      counts.computeIfAbsent("ner", k -> new HashMap<>())
          .merge(EntityResult.getDecoder().decode(r.value()).getId(), 1, Integer::sum);
    }
    for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(),
        c.get("topics.answers"))) {
      counts.computeIfAbsent("qa", k -> new HashMap<>())
          .merge(AnswerResult.getDecoder().decode(r.value()).getId(), 1, Integer::sum);
    }
    return counts;
  }

  private static void assertExactlyOnce(Map<String, Map<String, Integer>> counts, int n) {
    assertThat(counts.get("cls")).hasSize(n).allSatisfy((id, c) -> assertThat(c).as(id).isEqualTo(1));
    assertThat(counts.get("ner")).hasSize(n).allSatisfy((id, c) -> assertThat(c).as(id).isEqualTo(1));
    assertThat(counts.get("qa")).hasSize(n / 5).allSatisfy((id, c) -> assertThat(c).as(id).isEqualTo(1));
  }

  private static StreamExecutionEnvironment env(Map<String, String> c) {
    Configuration conf = new Configuration();
    conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
    conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 5);
    conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, java.time.Duration.ofMillis(200));
    return StreamExecutionEnvironment.getExecutionEnvironment(conf);
  }

  // ---- failure injection ------------------------------------------------------------------------------------
  // Both failure tests run the job unbounded: half the events first, a checkpoint, then the other half (so events
  // certainly flow after the checkpoint), the failure, and a wait until every result is on the output topics.

  /** Counts completed checkpoints that followed events; throws once on the first event after one, if armed. */
  static final class AfterCheckpoint extends RichMapFunction<TextEvent, TextEvent> implements CheckpointListener {
    static volatile CountDownLatch checkpointed = new CountDownLatch(1);
    static final AtomicBoolean ARMED = new AtomicBoolean();
    static final AtomicBoolean FAILED = new AtomicBoolean();
    private boolean seen;

    @Override
    public TextEvent map(TextEvent e) {
      seen = true;
      if (ARMED.get() && checkpointed.getCount() == 0 && FAILED.compareAndSet(false, true)) {
        throw new IllegalStateException("injected failure after a checkpoint");
      }
      return e;
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
      if (seen) {
        checkpointed.countDown();
      }
    }

    static void reset(boolean armed) {
      checkpointed = new CountDownLatch(1);
      ARMED.set(armed);
      FAILED.set(false);
    }
  }

  /** Starts the job unbounded on the first half of the events and returns once a checkpoint has completed. */
  private JobClient startAndCheckpoint(Map<String, String> c, List<byte[]> firstHalf) throws Exception {
    c.put("source.bounded", "false");
    produce(c.get("topics.input"), firstHalf);
    StreamExecutionEnvironment env = env(c);
    EnrichmentJob.build(env, JobConfig.of(c),
        s -> s.map(new AfterCheckpoint()).returns(new AvroTypeInfo<>(TextEvent.class)));
    JobClient job = env.executeAsync(c.get("job.name"));
    assertThat(AfterCheckpoint.checkpointed.await(120, TimeUnit.SECONDS)).as("a checkpoint completed").isTrue();
    return job;
  }

  /** Reads the output topics until every expected result is there (or three minutes pass), then stops the job. */
  private static Map<String, Map<String, Integer>> awaitResults(Map<String, String> c, JobClient job, int n)
      throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
    Map<String, Map<String, Integer>> counts = readResults(c);
    while (System.nanoTime() < deadline && !complete(counts, n)) {
      counts = readResults(c);
    }
    job.cancel().get(60, TimeUnit.SECONDS);
    return readResults(c); // once more after the cancel: nothing more may have appeared
  }

  private static boolean complete(Map<String, Map<String, Integer>> counts, int n) {
    return counts.getOrDefault("cls", Map.of()).size() >= n && counts.getOrDefault("ner", Map.of()).size() >= n
        && counts.getOrDefault("qa", Map.of()).size() >= n / 5;
  }

  @Test
  void exactlyOnceAcrossAnInjectedFailure() throws Exception {
    int n = 1000;
    Map<String, String> c = config("inject");
    List<byte[]> events = events(n);
    AfterCheckpoint.reset(true);
    JobClient job = startAndCheckpoint(c, events.subList(0, n / 2));
    produce(c.get("topics.input"), events.subList(n / 2, n));
    Map<String, Map<String, Integer>> results = awaitResults(c, job, n);
    assertThat(AfterCheckpoint.FAILED).as("the failure was injected").isTrue();
    assertExactlyOnce(results, n);
  }

  @Test
  void exactlyOnceWhenATaskManagerIsLost(@InjectMiniCluster MiniCluster mini) throws Exception {
    int n = 1000;
    Map<String, String> c = config("tm-loss");
    List<byte[]> events = events(n);
    AfterCheckpoint.reset(false);
    JobClient job = startAndCheckpoint(c, events.subList(0, n / 2));
    mini.terminateTaskManager(0).get(60, TimeUnit.SECONDS);
    mini.startTaskManager(); // as a cluster manager would replace the lost TaskManager
    produce(c.get("topics.input"), events.subList(n / 2, n));
    assertExactlyOnce(awaitResults(c, job, n), n);
  }

  @Test
  void aTransactionTimeoutTheBrokerWouldRefuseIsRejectedAtStart() throws Exception {
    Map<String, String> c = config("tx-timeout");
    c.put("kafka.transaction.timeout.ms", "1000000"); // the local broker allows at most 900000
    assertThatThrownBy(() -> EnrichmentJob.checkBroker(JobConfig.of(c)))
        .hasMessageContaining("kafka.transaction.timeout.ms (1000000)")
        .hasMessageContaining("transaction.max.timeout.ms (900000)");
    c.put("kafka.transaction.timeout.ms", "900000");
    EnrichmentJob.checkBroker(JobConfig.of(c));
  }

  @Test
  void hostileInputsGoToTheDeadLetterTopicAndTheRestIsProcessed() throws Exception {
    Map<String, String> c = config("hostile");
    List<byte[]> values = new ArrayList<>();
    values.add(TextEvents.encode(TextEvent.newBuilder().setId("good-1").setText("a fine comment")
        .setTasks(List.of("text-classification")).build()));
    values.add(new byte[] {(byte) 0xC3, 0x01, 9, 9, 9, 9, 9, 9, 9, 9, 1, 2}); // Avro header, unknown fingerprint
    values.add(new byte[] {'o', 'k', (byte) 0xC0, (byte) 0xAF}); // invalid UTF-8
    values.add("{\"id\":\"empty\",\"text\":\"\",\"tasks\":[\"text-classification\"]}".getBytes(StandardCharsets.UTF_8));
    values.add(("{\"id\":\"huge\",\"tasks\":[\"text-classification\"],\"text\":\"" + "word ".repeat(30_000) + "\"}")
        .getBytes(StandardCharsets.UTF_8)); // 150,000 chars: over inference.max-text-chars
    values.add("{\"id\":\"unknown\",\"text\":\"hi\",\"tasks\":[\"summarization\"]}".getBytes(StandardCharsets.UTF_8));
    values.add("{\"id\":\"qa-no-context\",\"question\":\"Who?\",\"tasks\":[\"question-answering\"]}"
        .getBytes(StandardCharsets.UTF_8));
    values.add("{\"id\":\"broken-json\",\"text\":".getBytes(StandardCharsets.UTF_8));
    values.add(TextEvents.encode(TextEvent.newBuilder().setId("good-2").setText("Paris is lovely")
        .setTasks(List.of("text-classification", "token-classification")).build()));
    produceLarge(c.get("topics.input"), values);
    StreamExecutionEnvironment env = env(c);
    EnrichmentJob.build(env, JobConfig.of(c));
    env.execute("e2e-hostile");

    Map<String, Map<String, Integer>> results = readResults(c);
    assertThat(results.get("cls")).containsOnlyKeys("good-1", "good-2");
    assertThat(results.get("ner")).containsOnlyKeys("good-2");
    Map<String, String> reasons = new HashMap<>();
    int malformed = 0;
    for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(),
        c.get("topics.dead-letters"))) {
      DeadLetter d = DeadLetter.getDecoder().decode(r.value());
      if (d.getId() == null) {
        assertThat(d.getReason()).isEqualTo("MALFORMED_EVENT");
        assertThat(d.getStage()).isEqualTo("decode");
        assertThat(d.getOriginal().remaining()).isPositive();
        malformed++;
      } else {
        reasons.put(d.getId(), d.getReason());
      }
    }
    assertThat(malformed).as("undecodable records: bad Avro, bad UTF-8, bad JSON").isEqualTo(3);
    assertThat(reasons).containsExactlyInAnyOrderEntriesOf(Map.of(
        "empty", "INVALID_INPUT",
        "huge", "TEXT_TOO_LONG",
        "unknown", "UNKNOWN_TASK",
        "qa-no-context", "INVALID_INPUT"));
  }

  private static void produceLarge(String topic, List<byte[]> values) throws Exception {
    kafka.produce(topic, values, Map.of(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 2_000_000));
  }
}
