package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.TextEvent;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A checkpoint taken while requests are in flight in the async operator (counted: events in before the barrier less
 * results out before it), then a failure, then a restore from it: every event's result comes out exactly once (the
 * collect sink is exactly-once with checkpointing on).
 */
class CheckpointRestoreITCase {
  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder()
          .setNumberTaskManagers(1)
          .setNumberSlotsPerTaskManager(2)
          .build());

  /**
   * Counts the events that enter the async operator, and at each snapshot adds its count to
   * {@link #EVENTS_AT} (both subtasks: with a forward connection the barrier follows the same records).
   */
  static final class CountIn extends RichMapFunction<TextEvent, TextEvent> implements CheckpointedFunction {
    static final Map<Long, Long> EVENTS_AT = new ConcurrentHashMap<>();
    private long count;

    @Override
    public TextEvent map(TextEvent value) {
      count++;
      return value;
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) {
      EVENTS_AT.merge(context.getCheckpointId(), count, Long::sum);
    }

    @Override
    public void initializeState(FunctionInitializationContext context) {}
  }

  /**
   * Counts the results that leave the async operator ({@link #RESULTS_AT} at each snapshot), notes the checkpoint a
   * restore started from, and fails the job once, after a checkpoint has completed whose snapshot held requests
   * in flight in the operator.
   */
  static final class FailOnceAfterCheckpoint extends RichMapFunction<InferenceOutput, InferenceOutput>
      implements CheckpointListener, CheckpointedFunction {
    static final AtomicBoolean FAILED = new AtomicBoolean();
    static final AtomicBoolean ARMED = new AtomicBoolean();
    static final Map<Long, Long> RESULTS_AT = new ConcurrentHashMap<>();
    static final AtomicLong RESTORED = new AtomicLong(-1);
    private long count;

    @Override
    public InferenceOutput map(InferenceOutput value) {
      if (ARMED.get() && FAILED.compareAndSet(false, true)) {
        throw new IllegalStateException("injected failure after a checkpoint");
      }
      count++;
      return value;
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) {
      RESULTS_AT.merge(context.getCheckpointId(), count, Long::sum);
    }

    @Override
    public void initializeState(FunctionInitializationContext context) {
      context.getRestoredCheckpointId().ifPresent(RESTORED::set);
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
      // a completed checkpoint has both subtasks' counts
      if (inFlightAt(checkpointId) > 0) {
        ARMED.set(true);
      }
    }

    static long inFlightAt(long checkpointId) {
      return CountIn.EVENTS_AT.getOrDefault(checkpointId, 0L) - RESULTS_AT.getOrDefault(checkpointId, 0L);
    }
  }

  @Test
  void inFlightRequestsAreRestoredAndEachResultComesOutOnce() throws Exception {
    int n = 3000;
    InferenceSpec spec = InferenceSpec.builder()
        .model(Task.TEXT_CLASSIFICATION, TestModels.model(TestModels.SEQ_CLS))
        // a burst's last, partial batch waits for max-wait, longer than the checkpoint interval: snapshots find
        // requests in the operator
        .maxWait(Duration.ofMillis(500))
        .capacity(64)
        .build();
    Configuration conf = new Configuration();
    conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
    conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 3);
    conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(100));
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    env.setParallelism(2);
    env.enableCheckpointing(100, CheckpointingMode.EXACTLY_ONCE);
    FailOnceAfterCheckpoint.FAILED.set(false);
    FailOnceAfterCheckpoint.ARMED.set(false);
    FailOnceAfterCheckpoint.RESULTS_AT.clear();
    FailOnceAfterCheckpoint.RESTORED.set(-1);
    CountIn.EVENTS_AT.clear();

    // a few hundred events per checkpoint: events are still flowing after the first checkpoint, however fast the
    // model or slow the machine, so the failure always lands mid-stream
    GeneratorFunction<Long, TextEvent> event = i -> TextEvent.newBuilder().setId("e" + i)
        .setText("event number " + i + " says hello").setTasks(List.of("text-classification")).build();
    var events = env.fromSource(new DataGeneratorSource<>(event, n, RateLimiterStrategy.perCheckpoint(600),
        new AvroTypeInfo<>(TextEvent.class)), WatermarkStrategy.noWatermarks(), "events");
    var counted = events.map(new CountIn()).returns(new AvroTypeInfo<>(TextEvent.class));
    var results = Enrichment.inference(counted, spec)
        .map(new FailOnceAfterCheckpoint())
        .returns(new AvroTypeInfo<>(InferenceOutput.class));
    Map<String, Integer> counts = new HashMap<>();
    try (CloseableIterator<InferenceOutput> it = results.executeAndCollect("checkpoint-restore")) {
      it.forEachRemaining(o -> {
        assertThat(o.getDeadLetter()).isNull();
        counts.merge(o.getClassification().getId(), 1, Integer::sum);
      });
    }
    assertThat(FailOnceAfterCheckpoint.FAILED).as("the failure was injected").isTrue();
    long restored = FailOnceAfterCheckpoint.RESTORED.get();
    assertThat(restored).as("the job restored a checkpoint").isPositive();
    // events that had entered the operator before the barrier, less the results it had emitted before it: the
    // requests its snapshot held, which the restore had to run again
    assertThat(FailOnceAfterCheckpoint.inFlightAt(restored)).as("requests in flight in checkpoint " + restored)
        .isPositive();
    assertThat(counts).hasSize(n);
    assertThat(counts.values()).allSatisfy(c -> assertThat(c).isEqualTo(1));
  }
}
