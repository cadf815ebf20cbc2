package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.TextEvent;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.metrics.Counter;
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

/**
 * What a timeout leaves behind, on a real MiniCluster and real models: the timed-out events' requests are dropped
 * from the batcher (never run, counted in {@code cancelledRequests}), and a reload notice riding on a timed-out event
 * still comes out.
 */
class TimeoutCancellationITCase {
  private static final InMemoryReporter REPORTER = InMemoryReporter.createWithRetainedMetrics();

  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder()
          .setNumberTaskManagers(1)
          .setNumberSlotsPerTaskManager(1)
          .setConfiguration(REPORTER.addToConfiguration(new Configuration()))
          .build());

  private static final AvroTypeInfo<TextEvent> EVENT_TYPE = new AvroTypeInfo<>(TextEvent.class);

  static long counter(String name, String job) {
    long total = 0;
    for (Map.Entry<org.apache.flink.metrics.MetricGroup, Map<String, Metric>> g
        : REPORTER.getMetricsByGroup().entrySet()) {
      String id = g.getKey().getMetricIdentifier("");
      if (id.contains(InferenceMetrics.GROUP) && id.contains(job) && g.getValue().get(name) instanceof Counter) {
        total += ((Counter) g.getValue().get(name)).getCount();
      }
    }
    return total;
  }

  private static List<InferenceOutput> run(DataStream<TextEvent> source, InferenceSpec spec, String job)
      throws Exception {
    List<InferenceOutput> out = new ArrayList<>();
    try (CloseableIterator<InferenceOutput> it = Enrichment.inference(source, spec).executeAndCollect(job)) {
      it.forEachRemaining(out::add);
    }
    return out;
  }

  @Test
  void theRequestsOfTimedOutEventsAreCancelledAndNeverRun() throws Exception {
    // one request per model call, each a long QA context of many windows, more in flight than can finish within
    // the timeout: without cancellation every one of them runs, for nobody once its event has timed out
    InferenceSpec spec = TestModels.slowQuestionAnswering();
    List<TextEvent> events = TestModels.longQuestions(200);
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    String job = "timeout-cancellation";
    Map<String, Integer> seen = new HashMap<>();
    int timeouts = 0;
    int answers = 0;
    for (InferenceOutput o : run(env.fromData(events, EVENT_TYPE), spec, job)) {
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

    long ran = counter("events", job); // requests the model ran
    long cancelled = counter("cancelledRequests", job);
    System.out.printf("timeouts: %d timed out, %d answered; the model ran %d requests, %d were cancelled%n",
        timeouts, answers, ran, cancelled);
    // every request either ran or was dropped; the dropped ones are timed-out events' requests
    assertThat(ran + cancelled).isEqualTo(200);
    assertThat(cancelled).isPositive().isLessThanOrEqualTo(timeouts);
    // work for nobody: only requests already inside a model call when their event timed out
    assertThat(ran - answers).isLessThan(timeouts);
  }

  /** Publishes the corrupt model before the one event passes, and holds it until the reload has failed. */
  static final class CorruptBeforeTheEvent implements MapFunction<TextEvent, TextEvent> {
    private final String link;
    private final String corrupt;
    private final String job;

    CorruptBeforeTheEvent(Path link, Path corrupt, String job) {
      this.link = link.toString();
      this.corrupt = corrupt.toString();
      this.job = job;
    }

    @Override
    public TextEvent map(TextEvent e) throws Exception {
      ModelHotReloadITCase.pointTo(Path.of(link), Path.of(corrupt));
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (counter("modelReloadFailures", job) < 1) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("the corrupt model was not tried");
        }
        java.util.concurrent.locks.LockSupport.parkNanos(2_000_000); // a poll with a deadline, not a timed wait
      }
      return e;
    }
  }

  @Test
  void aReloadNoticeOnAnEventThatTimesOutIsNotLost(@TempDir Path tmp) throws Exception {
    Path v1 = ModelHotReloadITCase.copy(TestModels.model(TestModels.SEQ_CLS), tmp.resolve("v1"));
    Path broken = ModelHotReloadITCase.copy(TestModels.model(TestModels.SEQ_CLS), tmp.resolve("v2-broken"));
    Files.write(broken.resolve("model.onnx"), "not an ONNX model".getBytes(StandardCharsets.UTF_8));
    Path current = tmp.resolve("current");
    Files.createSymbolicLink(current, v1);
    // the event after the failed reload asks a question over a context of some hundred windows: far more than
    // the 5 ms timeout
    InferenceSpec spec = InferenceSpec.builder()
        .model(Task.TEXT_CLASSIFICATION, current)
        .model(Task.QUESTION_ANSWERING, TestModels.model(TestModels.QA))
        .maxWait(Duration.ofMillis(1))
        .timeout(Duration.ofMillis(5))
        .reloadInterval(Duration.ofMillis(20))
        .build();
    String context = "Flink checkpoints the state of every operator and Kafka keeps the log. ".repeat(1300);
    TextEvent slow = TextEvent.newBuilder().setId("slow").setQuestion("What keeps the log?").setContext(context)
        .setTasks(List.of("question-answering")).build();
    String job = "reload-notice-timeout";
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    DataStream<TextEvent> source = env.fromData(List.of(slow), EVENT_TYPE)
        .map(new CorruptBeforeTheEvent(current, broken, job)).returns(EVENT_TYPE);
    List<DeadLetter> dead = new ArrayList<>();
    for (InferenceOutput o : run(source, spec, job)) {
      assertThat(o.getDeadLetter()).as("only dead letters: %s", o).isNotNull();
      dead.add(o.getDeadLetter());
    }
    assertThat(dead).extracting(DeadLetter::getReason)
        .containsExactlyInAnyOrder("TIMEOUT", "MODEL_RELOAD_FAILED");
    DeadLetter notice = dead.stream().filter(d -> d.getReason().equals("MODEL_RELOAD_FAILED"))
        .findFirst().orElseThrow();
    assertThat(notice.getTask()).isEqualTo("text-classification");
    assertThat(notice.getMessage()).contains("keeps serving");
    assertThat(counter("modelReloadFailures", job)).isEqualTo(1);
  }
}
