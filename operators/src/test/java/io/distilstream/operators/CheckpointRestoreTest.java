package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.TextEvent;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A checkpoint taken while requests are in flight in the async operator, then a failure, then a restore: every
 * event's result comes out exactly once (the collect sink is exactly-once with checkpointing on).
 */
class CheckpointRestoreTest {
  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder()
          .setNumberTaskManagers(1)
          .setNumberSlotsPerTaskManager(2)
          .build());

  /** Fails the job once, after a checkpoint has completed and some results have passed. */
  static final class FailOnceAfterCheckpoint extends RichMapFunction<InferenceOutput, InferenceOutput>
      implements CheckpointListener {
    static final AtomicBoolean FAILED = new AtomicBoolean();
    static final AtomicLong CHECKPOINTS = new AtomicLong();

    @Override
    public InferenceOutput map(InferenceOutput value) {
      if (CHECKPOINTS.get() > 0 && FAILED.compareAndSet(false, true)) {
        throw new IllegalStateException("injected failure after a checkpoint");
      }
      return value;
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
      CHECKPOINTS.incrementAndGet();
    }
  }

  @Test
  void inFlightRequestsAreRestoredAndEachResultComesOutOnce() throws Exception {
    int n = 3000;
    InferenceSpec spec = InferenceSpec.builder()
        .model(Task.TEXT_CLASSIFICATION, TestModels.model(TestModels.SEQ_CLS))
        .maxWait(Duration.ofMillis(30))
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
    FailOnceAfterCheckpoint.CHECKPOINTS.set(0);

    // a few hundred events per checkpoint: events are still flowing after the first checkpoint, however fast the
    // model or slow the machine, so the failure always lands mid-stream
    GeneratorFunction<Long, TextEvent> event = i -> TextEvent.newBuilder().setId("e" + i)
        .setText("event number " + i + " says hello").setTasks(List.of("text-classification")).build();
    var events = env.fromSource(new DataGeneratorSource<>(event, n, RateLimiterStrategy.perCheckpoint(600),
        new AvroTypeInfo<>(TextEvent.class)), WatermarkStrategy.noWatermarks(), "events");
    var results = Enrichment.inference(events, spec)
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
    assertThat(counts).hasSize(n);
    assertThat(counts.values()).allSatisfy(c -> assertThat(c).isEqualTo(1));
  }
}
