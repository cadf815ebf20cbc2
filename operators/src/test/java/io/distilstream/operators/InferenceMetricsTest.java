package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.schemas.ModelInfo;
import java.lang.invoke.VarHandle;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.SimpleCounter;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.junit.jupiter.api.Test;

/** The operator's counters under the threads that really update them: the operator's and every batcher's. */
class InferenceMetricsTest {
  /** A metric group that keeps what is registered and, like Flink's own groups, makes plain SimpleCounters. */
  static final class Recording extends UnregisteredMetricsGroup {
    /** Counters by name, a key-value group's as {@code key=value/name}. */
    final Map<String, Counter> counters;
    /** Gauges by name, as the counters; registering one twice fails the test (Flink would ignore the second). */
    final Map<String, Gauge<?>> gauges;
    private final String prefix;

    Recording() {
      this(new HashMap<>(), new HashMap<>(), "");
    }

    private Recording(Map<String, Counter> counters, Map<String, Gauge<?>> gauges, String prefix) {
      this.counters = counters;
      this.gauges = gauges;
      this.prefix = prefix;
    }

    @Override
    public <T, G extends Gauge<T>> G gauge(String name, G gauge) {
      assertThat(gauges.put(prefix + name, gauge)).as("gauge %s registered once", prefix + name).isNull();
      return gauge;
    }

    @Override
    public Counter counter(String name) {
      return counter(name, new SimpleCounter());
    }

    @Override
    public <C extends Counter> C counter(String name, C counter) {
      counters.put(prefix + name, counter);
      return counter;
    }

    @Override
    public MetricGroup addGroup(String name) {
      return this;
    }

    @Override
    public MetricGroup addGroup(String key, String value) {
      return new Recording(counters, gauges, prefix + key + "=" + value + "/");
    }
  }

  @Test
  void deadLettersAndCancellationsCountedFromManyThreadsAreAllCounted() {
    Recording group = new Recording();
    InferenceMetrics metrics = new InferenceMetrics(group, () -> 0);
    int threads = 4;
    int each = 500_000;
    CountDownLatch go = new CountDownLatch(1);
    List<CompletableFuture<Void>> all = new java.util.ArrayList<>();
    for (int t = 0; t < threads; t++) {
      all.add(CompletableFuture.runAsync(() -> {
        try {
          go.await();
        } catch (InterruptedException e) {
          throw new IllegalStateException(e);
        }
        for (int i = 0; i < each; i++) {
          metrics.onDeadLetter(i % 2 == 0 ? DeadLetterReason.TIMEOUT : DeadLetterReason.MODEL_ERROR);
          metrics.onCancelled(1);
          // other work between two dead letters, as on a batcher thread: the JIT may not fold the increments
          VarHandle.fullFence();
        }
      }, r -> new Thread(r).start()));
    }
    go.countDown();
    all.forEach(CompletableFuture::join);
    assertThat(group.counters.get("deadLetters").getCount()).isEqualTo((long) threads * each);
    assertThat(group.counters.get("cancelledRequests").getCount()).isEqualTo((long) threads * each);
    assertThat(group.counters.get("reason=TIMEOUT/deadLetters").getCount()).isEqualTo((long) threads * each / 2);
    assertThat(group.counters.get("reason=MODEL_ERROR/deadLetters").getCount()).isEqualTo((long) threads * each / 2);
    // every reason has its series from the start
    for (DeadLetterReason r : DeadLetterReason.values()) {
      assertThat(group.counters).containsKey("reason=" + r.code() + "/deadLetters");
    }
  }

  /** The serving gauge follows reloads: 1 for the version served now, 0 for the replaced one, reused on a return. */
  @Test
  void theServingGaugeMarksTheVersionEachTaskServesNow() {
    Recording group = new Recording();
    InferenceMetrics metrics = new InferenceMetrics(group, () -> 0);
    String v1 = "task=text-classification/model=current/version=v1/serving";
    String v2 = "task=text-classification/model=current/version=v2/serving";
    metrics.onServing("text-classification", info("current", "v1"));
    metrics.onServing("token-classification", info("ner", "a"));
    assertThat(group.gauges.get(v1).getValue()).isEqualTo(1);
    metrics.onServing("text-classification", info("current", "v2"));
    assertThat(group.gauges.get(v1).getValue()).isEqualTo(0);
    assertThat(group.gauges.get(v2).getValue()).isEqualTo(1);
    assertThat(group.gauges.get("task=token-classification/model=ner/version=a/serving").getValue()).isEqualTo(1);
    metrics.onServing("text-classification", info("current", "v1")); // back: the same gauge, not a second one
    assertThat(group.gauges.get(v1).getValue()).isEqualTo(1);
    assertThat(group.gauges.get(v2).getValue()).isEqualTo(0);
  }

  /** Per model: its queue, its batches, and its waits for the thread budget, on top of the subtask's totals. */
  @Test
  void eachModelHasItsQueueBatchesAndBudgetWaits() {
    Recording group = new Recording();
    InferenceMetrics metrics = new InferenceMetrics(group, () -> 5);
    var classification = metrics.forModel("text-classification", () -> 3);
    var ner = metrics.forModel("token-classification", () -> 2);
    // a reload's new batcher reports to the same metrics: no second registration (Recording would fail)
    assertThat(metrics.forModel("text-classification", () -> 0)).isSameAs(classification);
    classification.onBudgetWait(2_000_000);
    classification.onBatch(4, 40, 44, 1_000_000);
    classification.onBatch(4, 40, 44, 1_000_000);
    ner.onBatch(2, 20, 20, 1_000_000);
    assertThat(group.gauges.get("task=text-classification/queueDepth").getValue()).isEqualTo(3);
    assertThat(group.gauges.get("task=token-classification/queueDepth").getValue()).isEqualTo(2);
    assertThat(group.gauges.get("queueDepth").getValue()).isEqualTo(5);
    assertThat(group.counters.get("task=text-classification/batches").getCount()).isEqualTo(2);
    assertThat(group.counters.get("task=token-classification/batches").getCount()).isEqualTo(1);
    assertThat(group.counters.get("batches").getCount()).isEqualTo(3);
    assertThat(group.counters.get("events").getCount()).isEqualTo(10);
    // batches inside their model call now, over the models
    assertThat(group.gauges.get("modelCallsRunning").getValue()).isEqualTo(0);
    classification.onModelCallStart();
    ner.onModelCallStart();
    assertThat(group.gauges.get("modelCallsRunning").getValue()).isEqualTo(2);
    classification.onModelCallEnd();
    ner.onModelCallEnd();
    assertThat(group.gauges.get("modelCallsRunning").getValue()).isEqualTo(0);
  }

  private static ModelInfo info(String name, String version) {
    return ModelInfo.newBuilder().setName(name).setVersion(version).setRuntime("test").build();
  }
}
