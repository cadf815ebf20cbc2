package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.TextEvent;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
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
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The TaskManager goes away while a batch is inside ONNX Runtime (a batcher thread seen in {@code OrtSession.run}):
 * its tasks are cancelled and the operator closes while the native call runs. The session must outlive that call
 * (no crash of the JVM that hosts the test), the job recovers on a replacement TaskManager from its checkpoint, and
 * every event's result comes out exactly once.
 */
class TaskManagerLossMidBatchITCase {
  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder()
          .setNumberTaskManagers(1)
          .setNumberSlotsPerTaskManager(2)
          .build());

  /** Counts completed checkpoints. */
  static final class Checkpoints extends RichMapFunction<InferenceOutput, InferenceOutput>
      implements CheckpointListener {
    static final AtomicLong COMPLETED = new AtomicLong();

    @Override
    public InferenceOutput map(InferenceOutput value) {
      return value;
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
      COMPLETED.incrementAndGet();
    }
  }

  @Test
  void aTaskManagerLostWhileABatchRunsInOnnxRuntimeRecoversExactlyOnce(@InjectMiniCluster MiniCluster mini)
      throws Exception {
    int n = 6000;
    InferenceSpec spec = InferenceSpec.builder()
        .model(Task.TEXT_CLASSIFICATION, TestModels.model(TestModels.SEQ_CLS))
        .maxWait(Duration.ofMillis(30))
        .capacity(64)
        .build();
    Configuration conf = new Configuration();
    conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
    conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 5);
    conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(200));
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    env.setParallelism(2);
    env.enableCheckpointing(100, CheckpointingMode.EXACTLY_ONCE);
    Checkpoints.COMPLETED.set(0);

    GeneratorFunction<Long, TextEvent> event = i -> TextEvent.newBuilder().setId("e" + i)
        .setText("event number " + i + " says hello" + " again".repeat((int) (i % 40)))
        .setTasks(List.of("text-classification")).build();
    var events = env.fromSource(new DataGeneratorSource<>(event, n, RateLimiterStrategy.perCheckpoint(300),
        new AvroTypeInfo<>(TextEvent.class)), WatermarkStrategy.noWatermarks(), "events");
    var results = Enrichment.inference(events, spec)
        .map(new Checkpoints())
        .returns(new AvroTypeInfo<>(InferenceOutput.class));

    // a few hundred events per checkpoint keep the job busy for seconds after the first one completes;
    // once a checkpoint has completed: wait until a batcher thread is inside OrtSession.run, then lose the
    // TaskManager at once and start a replacement, as a cluster manager would
    CompletableFuture<String> lost = CompletableFuture.supplyAsync(() -> {
      try {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (Checkpoints.COMPLETED.get() == 0 && System.nanoTime() < deadline) {
          Thread.onSpinWait();
        }
        String inside = null;
        while (inside == null && System.nanoTime() < deadline) {
          inside = threadInsideOrt();
        }
        if (inside == null) {
          return null;
        }
        mini.terminateTaskManager(0).get(60, TimeUnit.SECONDS);
        mini.startTaskManager();
        return inside;
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    Map<String, Integer> counts = new HashMap<>();
    try (CloseableIterator<InferenceOutput> it = results.executeAndCollect("tm-loss-mid-batch")) {
      it.forEachRemaining(o -> {
        assertThat(o.getDeadLetter()).isNull();
        counts.merge(o.getClassification().getId(), 1, Integer::sum);
      });
    }
    assertThat(lost.get(60, TimeUnit.SECONDS)).as("a batcher thread was seen inside OrtSession.run")
        .startsWith("distilstream-text-classification-");
    assertThat(counts).hasSize(n);
    assertThat(counts.values()).allSatisfy(c -> assertThat(c).isEqualTo(1));
  }

  /** The name of a batcher thread whose stack is in {@code OrtSession.run} now, else null. */
  private static String threadInsideOrt() {
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (!t.getName().startsWith("distilstream-text-classification-")) {
        continue;
      }
      for (StackTraceElement f : t.getStackTrace()) {
        if (f.getClassName().equals("ai.onnxruntime.OrtSession") && f.getMethodName().equals("run")) {
          return t.getName();
        }
      }
    }
    return null;
  }
}
