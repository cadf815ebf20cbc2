package io.distilstream.e2e;

import static io.distilstream.e2e.E2eModels.model;
import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.jobs.EnrichmentJob;
import io.distilstream.jobs.JobConfig;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import io.distilstream.tools.local.TopicReader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.runtime.checkpoint.AbstractCheckpointStats;
import org.apache.flink.runtime.checkpoint.TaskStateStats;
import org.apache.flink.runtime.execution.ExecutionState;
import org.apache.flink.runtime.executiongraph.AccessExecutionGraph;
import org.apache.flink.runtime.executiongraph.AccessExecutionJobVertex;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The stall of issue 19, deterministically: a job restored at a lower parallelism from a checkpoint n, after its
 * sinks had passed the barriers of checkpoints that never completed, must leave no transaction of the old attempt
 * open, or every read_committed reader of the partitions that transaction wrote waits for the broker to time it out
 * ({@code kafka.transaction.timeout.ms}, 15 min by default).
 *
 * <p>The real job ({@link EnrichmentJob}, the tiny text-classification model from ../shared) on a real broker
 * (KRaft, its own JVM) and a MiniCluster; every checkpoint is triggered by the test (the periodic one is held off
 * by the min pause). At parallelism 2: both sinks write results into open transactions; checkpoint 1 completes and
 * commits them; checkpoints 2 and 3 pass every sink but never complete, because a side branch's snapshot blocks
 * (so the sinks' transactions of checkpoint 3 hold the results written after barrier 2, pre-committed, which a
 * cancel leaves open as a killed TaskManager does); the job is cancelled and restored from checkpoint 1 at
 * parallelism 1. After the restored job's first checkpoint (the latest a recovery can abort anything by) no
 * transaction the old attempt left open may still be open.
 *
 * <p>With {@code sink.transaction-naming=pooling} (the id subtask 1 listed as pre-committed in checkpoint 1 is
 * the one it reused after barrier 2; the restored writer skips it as pre-committed and, at parallelism 1, never
 * names a transaction with subtask id 1 again) the test fails. {@code -Dstall.transaction-naming=pooling} runs it
 * that way; by default it runs with the job's default.
 */
class DownscaleStallITCase {
  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder()
          .setNumberTaskManagers(1)
          .setNumberSlotsPerTaskManager(2)
          .build());

  private static final Duration PATIENCE = Duration.ofMinutes(2);
  private static final int PER_PARTITION = 6;
  private static KafkaFixture kafka;

  @BeforeAll
  static void startKafka() throws Exception {
    kafka = KafkaFixture.start(Map.of());
  }

  @AfterAll
  static void stopKafka() {
    if (kafka != null) {
      kafka.close();
    }
  }

  @Test
  void aRestoreAtALowerParallelismLeavesNoTransactionOfTheOldAttemptOpen(@InjectMiniCluster MiniCluster mini,
      @TempDir Path dir) throws Exception {
    Map<String, String> c = config(dir);
    String input = c.get("topics.input");
    String output = c.get("topics.classifications");
    String prefix = JobConfig.of(c).transactionalIdPrefix() + "-classifications-";
    produce(input, "a");
    Blocker.blockFrom(2);
    JobClient first = start(c);
    JobID firstId = first.getJobID();
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
      await("both sinks wrote the first events' results into open transactions",
          () -> count(output, "read_uncommitted") == 2 * PER_PARTITION);
      assertThat(subtasks(ongoing(admin, prefix).keySet(), prefix)).as("subtasks with open transactions")
          .containsExactlyInAnyOrder(0, 1);

      String checkpoint1 = mini.triggerCheckpoint(firstId).get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
      await("checkpoint 1's transactions committed", () -> count(output, "read_committed") == 2 * PER_PARTITION);

      // checkpoint 2: the sources emit its barrier before anything produced from now on
      CompletableFuture<String> checkpoint2 = mini.triggerCheckpoint(firstId);
      awaitAcknowledgedByAllButTheBlocker(mini, firstId, 2);
      produce(input, "b");
      await("both sinks wrote the later events' results", () -> count(output, "read_uncommitted")
          == 4 * PER_PARTITION);
      // checkpoint 3: the sinks pre-commit the transactions holding them (a cancel aborts only the current one)
      CompletableFuture<String> checkpoint3 = mini.triggerCheckpoint(firstId);
      awaitAcknowledgedByAllButTheBlocker(mini, firstId, 3);
      assertThat(checkpoint2).as("checkpoint 2, blocked, still pending").isNotDone();
      assertThat(checkpoint3).as("checkpoint 3, blocked, still pending").isNotDone();

      first.cancel().get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
      Blocker.release();
      mini.requestJobResult(firstId).get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
      Map<String, TransactionDescription> leftOpen = ongoing(admin, prefix);
      System.out.println("transactions the cancelled attempt left open: " + describe(leftOpen));
      assertThat(subtasks(leftOpen.keySet(), prefix)).as("subtasks whose transactions the cancel left open")
          .contains(1);

      Map<String, String> restored = new LinkedHashMap<>(c);
      restored.put("parallelism.default", "1");
      restored.put("execution.state-recovery.path", checkpoint1);
      Blocker.blockFrom(Long.MAX_VALUE);
      long restoredAt = System.nanoTime();
      JobClient second = start(restored);
      try {
        // the restored job replays the later events (after checkpoint 1) into its first transactions, so that its
        // first checkpoint commits every result
        await("the restored job wrote the later events' results again", () -> count(output, "read_uncommitted")
            == 6 * PER_PARTITION);
        awaitRunning(mini, second.getJobID());
        assertThat(mini.getExecutionGraph(second.getJobID()).join().getCheckpointStatsSnapshot()
            .getLatestRestoredCheckpoint().getCheckpointId()).as("the checkpoint the job restored").isEqualTo(1);
        mini.triggerCheckpoint(second.getJobID()).get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
        Map<String, TransactionDescription> now = describe(admin, leftOpen.keySet());
        Map<String, TransactionDescription> stillOpen = new TreeMap<>();
        leftOpen.forEach((id, before) -> {
          TransactionDescription d = now.get(id);
          if (d.state() == TransactionState.ONGOING && d.producerId() == before.producerId()
              && d.producerEpoch() == before.producerEpoch()) {
            stillOpen.put(id, d);
          }
        });
        System.out.println("after the restored job's first checkpoint: " + describe(now) + "; last stable offset "
            + "behind the high watermark on " + heldPartitions(output));
        assertThat(stillOpen).as("transactions of the old attempt still open after the restored job's first"
            + " checkpoint at parallelism 1 (read_committed readers of %s wait for the broker's transaction"
            + " timeout)", heldPartitions(output)).isEmpty();

        await("every result committed", () -> count(output, "read_committed") >= 4 * PER_PARTITION);
        System.out.printf("restored job submitted -> every result visible to read_committed: %.1f s%n",
            (System.nanoTime() - restoredAt) / 1e9);
        Map<String, Integer> perId = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(), output)) {
          perId.merge(ClassificationResult.getDecoder().decode(r.value()).getId(), 1, Integer::sum);
        }
        assertThat(perId).hasSize(4 * PER_PARTITION).allSatisfy((id, n) -> assertThat(n).as(id).isEqualTo(1));
      } finally {
        second.cancel().get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
      }
    } finally {
      Blocker.release();
      if (!mini.getJobStatus(firstId).get().isGloballyTerminalState()) {
        first.cancel().get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
      }
    }
  }

  /** The job's configuration: manual checkpoints, retained on cancellation; no restarts. */
  private static Map<String, String> config(Path dir) throws Exception {
    Map<String, String> c = new LinkedHashMap<>();
    c.put("kafka.bootstrap.servers", kafka.bootstrapServers());
    c.put("job.name", "stall");
    c.put("source.starting-offsets", "earliest");
    c.put("parallelism.default", "2");
    c.put("inference.max-wait", "10 ms");
    c.put("inference.model.text-classification", model("tiny-distilbert-sequence-classification").toString());
    for (String t : List.of("input", "classifications", "dead-letters")) {
      c.put("topics." + t, "stall-" + t);
    }
    String naming = System.getProperty("stall.transaction-naming");
    if (naming != null) {
      c.put("sink.transaction-naming", naming);
    }
    // the test triggers every checkpoint; the min pause keeps the periodic one (first at a random point in
    // [min pause, interval]) out of the test's minute; the blocked ones do not time out while it runs; the job's
    // default transaction timeout (15 min) stays above 2 × interval + timeout
    c.put("execution.checkpointing.interval", "5 min");
    c.put("execution.checkpointing.min-pause", "4 min");
    c.put("execution.checkpointing.timeout", "4 min");
    c.put("execution.checkpointing.max-concurrent-checkpoints", "2");
    c.put("execution.checkpointing.dir", dir.resolve("checkpoints").toUri().toString());
    c.put("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION");
    c.put("restart-strategy.type", "none");
    kafka.createTopics(2, List.of(c.get("topics.input"), c.get("topics.classifications"),
        c.get("topics.dead-letters")));
    return c;
  }

  /** The job, and beside it the branch whose snapshot blocks. */
  private static JobClient start(Map<String, String> c) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(Configuration.fromMap(c));
    EnrichmentJob.build(env, JobConfig.of(c), events -> {
      events.process(new Blocker()).returns(new AvroTypeInfo<>(TextEvent.class)).name(Blocker.NAME)
          .uid("stall-blocker").startNewChain().sinkTo(new DiscardingSink<>()).name("stall-discard")
          .uid("stall-discard");
      return events;
    });
    return env.executeAsync(c.get("job.name"));
  }

  /** Passes nothing on; its snapshot of a checkpoint from {@link #blockFrom} on waits until released. */
  static final class Blocker extends ProcessFunction<TextEvent, TextEvent> implements CheckpointedFunction {
    static final String NAME = "stall: blocks checkpoints";
    private static volatile long blockFrom = Long.MAX_VALUE;
    private static volatile CountDownLatch released = new CountDownLatch(1);

    static void blockFrom(long checkpointId) {
      released = new CountDownLatch(1);
      blockFrom = checkpointId;
    }

    static void release() {
      released.countDown();
    }

    @Override
    public void processElement(TextEvent e, Context ctx, Collector<TextEvent> out) {}

    @Override
    public void snapshotState(FunctionSnapshotContext ctx) throws Exception {
      if (ctx.getCheckpointId() >= blockFrom) {
        released.await();
      }
    }

    @Override
    public void initializeState(FunctionInitializationContext ctx) {}
  }

  /** Waits until every subtask of every vertex but the blocker's has acknowledged checkpoint {@code id}. */
  private static void awaitAcknowledgedByAllButTheBlocker(MiniCluster mini, JobID job, long id) {
    await(() -> "checkpoint " + id + " acknowledged by every task but the blocker's; checkpoints: "
        + checkpoints(mini, job), () -> {
      AccessExecutionGraph g = mini.getExecutionGraph(job).join();
      AbstractCheckpointStats s = g.getCheckpointStatsSnapshot().getHistory().getCheckpointById(id);
      if (s == null) {
        return false;
      }
      for (AccessExecutionJobVertex v : g.getAllVertices().values()) {
        TaskStateStats t = s.getTaskStateStats(v.getJobVertexId());
        if (!v.getName().contains(Blocker.NAME)
            && (t == null || t.getNumberOfAcknowledgedSubtasks() < v.getParallelism())) {
          return false;
        }
      }
      return true;
    });
  }

  /** Waits until every task of the job runs (a checkpoint is declined before). */
  private static void awaitRunning(MiniCluster mini, JobID job) {
    await("every task of " + job + " running", () -> {
      AccessExecutionGraph g = mini.getExecutionGraph(job).join();
      return g.getState() == JobStatus.RUNNING && java.util.stream.StreamSupport.stream(
          g.getAllExecutionVertices().spliterator(), false)
          .allMatch(v -> v.getExecutionState() == ExecutionState.RUNNING);
    });
  }

  /** Each checkpoint of the job, its status and the acknowledgements per vertex. */
  private static String checkpoints(MiniCluster mini, JobID job) {
    AccessExecutionGraph g = mini.getExecutionGraph(job).join();
    List<String> out = new ArrayList<>();
    for (AbstractCheckpointStats s : g.getCheckpointStatsSnapshot().getHistory().getCheckpoints()) {
      List<String> acks = new ArrayList<>();
      for (AccessExecutionJobVertex v : g.getAllVertices().values()) {
        TaskStateStats t = s.getTaskStateStats(v.getJobVertexId());
        acks.add(v.getName() + " " + (t == null ? "-" : t.getNumberOfAcknowledgedSubtasks()) + "/"
            + v.getParallelism());
      }
      out.add(s.getCheckpointId() + " " + s.getStatus() + " " + acks);
    }
    return out + ", counts " + g.getCheckpointStatsSnapshot().getCounts().getNumberOfInProgressCheckpoints()
        + " in progress";
  }

  /** PER_PARTITION events on each of the input's two partitions, ids {@code <batch>-<partition>-<i>}. */
  private static void produce(String topic, String batch) throws Exception {
    Map<String, Object> props = Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ProducerConfig.ACKS_CONFIG, "all",
        ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class,
        ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(props)) {
      for (int partition = 0; partition < 2; partition++) {
        for (int i = 0; i < PER_PARTITION; i++) {
          TextEvent e = TextEvent.newBuilder().setId(batch + "-" + partition + "-" + i)
              .setText("comment " + i + " of batch " + batch).setTasks(List.of("text-classification")).build();
          p.send(new ProducerRecord<>(topic, partition, null, TextEvents.encode(e))).get();
        }
      }
    }
  }

  /** The records of a topic as a consumer with this isolation level sees them now. */
  private static int count(String topic, String isolation) {
    Map<String, Object> props = Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation,
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
        ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class,
        ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
      List<TopicPartition> partitions = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      int n = 0;
      while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
        n += consumer.poll(Duration.ofMillis(200)).count();
      }
      return n;
    }
  }

  /** The partitions whose last stable offset (what read_committed readers get to) is behind the high watermark. */
  private static Map<TopicPartition, String> heldPartitions(String topic) {
    Map<TopicPartition, String> held = new TreeMap<>(java.util.Comparator.comparing(TopicPartition::toString));
    List<TopicPartition> partitions = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1));
    Map<TopicPartition, Long> stable = endOffsets(partitions, "read_committed");
    Map<TopicPartition, Long> high = endOffsets(partitions, "read_uncommitted");
    for (TopicPartition p : partitions) {
      if (stable.get(p) < high.get(p)) {
        held.put(p, "LSO " + stable.get(p) + " < HW " + high.get(p));
      }
    }
    return held;
  }

  private static Map<TopicPartition, Long> endOffsets(List<TopicPartition> partitions, String isolation) {
    Map<String, Object> props = Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation,
        ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class,
        ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
      return consumer.endOffsets(partitions);
    }
  }

  /** The open (ONGOING) transactions whose id starts with {@code prefix}, described. */
  private static Map<String, TransactionDescription> ongoing(Admin admin, String prefix) throws Exception {
    Set<String> ids = admin.listTransactions(new ListTransactionsOptions()
            .filterStates(List.of(TransactionState.ONGOING))).all().get().stream()
        .map(TransactionListing::transactionalId).filter(id -> id.startsWith(prefix)).collect(Collectors.toSet());
    return describe(admin, ids);
  }

  private static Map<String, TransactionDescription> describe(Admin admin, Set<String> ids) throws Exception {
    return ids.isEmpty() ? Map.of() : new TreeMap<>(admin.describeTransactions(ids).all().get());
  }

  private static String describe(Map<String, TransactionDescription> txs) {
    List<String> out = new ArrayList<>();
    txs.forEach((id, d) -> out.add(id + " " + d.state() + " (producer " + d.producerId() + " epoch "
        + d.producerEpoch() + ", " + d.topicPartitions() + ")"));
    return out.toString();
  }

  /** The subtask ids in transactional ids {@code <prefix><subtask>-<n>}. */
  private static Set<Integer> subtasks(Set<String> ids, String prefix) {
    return ids.stream().map(id -> Integer.parseInt(id.substring(prefix.length(), id.lastIndexOf('-'))))
        .collect(Collectors.toSet());
  }

  /** Polls a condition until it holds; fails if it does not within {@link #PATIENCE}. */
  private static void await(String what, BooleanSupplier condition) {
    await(() -> what, condition);
  }

  /** As {@link #await(String, BooleanSupplier)}, with a description of what it waits for made when it fails. */
  private static void await(java.util.function.Supplier<String> what, BooleanSupplier condition) {
    long deadline = System.nanoTime() + PATIENCE.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("waited " + PATIENCE + " in vain until " + what.get());
      }
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100)); // a polling interval, not a synchronisation
    }
  }
}
