package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.TextEvent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 22, item 4, on a real MiniCluster of 2 slots: the operator with two tasks on the TaskManager's shared ONNX
 * Runtime pool ({@code inference.thread-pool=task-manager}) gives, byte for byte, the outputs it gives with threads
 * per session (today's default), and with one thread per session: results do not depend on the thread layout. And
 * with both slots sharing one session per model ({@code inference.share-sessions}, issue 22, item 5), and with
 * every batch within one fair thread budget ({@code inference.scheduling=fair}, issue 21, item 3).
 */
class SharedThreadPoolITCase {
  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder()
          .setNumberTaskManagers(1)
          .setNumberSlotsPerTaskManager(2)
          .setConfiguration(new Configuration())
          .build());

  @Test
  void outputsOnTheSharedPoolAreByteForByteThoseOnThreadsPerSession() throws Exception {
    Map<String, byte[]> perSession = run(InferenceSpec.builder(), "per-session");
    Map<String, byte[]> oneThread = run(InferenceSpec.builder().pipelineOptions(
        io.distilstream.runtime.pipeline.PipelineOptions.defaults().session(
            io.distilstream.runtime.model.SessionOptions.defaults().intraOpThreads(1))), "one-thread");
    Map<String, byte[]> shared = run(InferenceSpec.builder().taskManagerThreadPool(0), "task-manager-pool");
    // issue 22, item 5: both slots on one session per model
    Map<String, byte[]> oneSession = run(InferenceSpec.builder().shareSessions(true), "shared-sessions");
    // issue 21, item 3: both tasks' batchers of both slots on one fair thread budget of one thread
    Map<String, byte[]> budgeted = run(InferenceSpec.builder()
        .scheduling(io.distilstream.runtime.batch.InferenceBudget.Policy.FAIR, 1), "fair-budget");

    // no other library created ONNX Runtime's environment in this JVM, so the pool exists, at its default size
    assertThat(ModelSession.globalThreadPool()).isEqualTo(Runtime.getRuntime().availableProcessors());
    assertThat(shared.keySet()).isEqualTo(perSession.keySet()).hasSize(2 * OutputCacheITCase.N);
    for (String k : perSession.keySet()) {
      assertThat(shared.get(k)).as(k).isEqualTo(perSession.get(k));
      assertThat(oneThread.get(k)).as(k).isEqualTo(perSession.get(k));
      assertThat(oneSession.get(k)).as(k).isEqualTo(perSession.get(k));
      assertThat(budgeted.get(k)).as(k).isEqualTo(perSession.get(k));
    }
  }

  private Map<String, byte[]> run(InferenceSpec.Builder builder, String job) throws Exception {
    InferenceSpec spec = builder
        .model(Task.TEXT_CLASSIFICATION, TestModels.model(TestModels.SEQ_CLS))
        .model(Task.TOKEN_CLASSIFICATION, TestModels.model(TestModels.TOKEN_CLS))
        .maxWait(Duration.ofMillis(5))
        .build();
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(2);
    List<TextEvent> events = OutputCacheITCase.eventsWithRepeats(); // a third are repeats; that does not matter here
    CloseableIterator<InferenceOutput> it = Enrichment.inference(
        env.fromData(events, new AvroTypeInfo<>(TextEvent.class)), spec).collectAsync();
    env.execute(job);
    List<InferenceOutput> outputs = new ArrayList<>();
    it.forEachRemaining(outputs::add);
    Map<String, byte[]> byKey = new TreeMap<>();
    for (InferenceOutput o : outputs) {
      assertThat(o.getDeadLetter()).as("no dead letters").isNull();
      String key = o.getClassification() != null ? o.getClassification().getId() + " classification"
          : o.getEntities().getId() + " entities";
      byKey.put(key, OutputCacheITCase.encode(o));
    }
    return byKey;
  }
}
