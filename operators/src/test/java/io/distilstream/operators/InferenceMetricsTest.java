package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.invoke.VarHandle;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.SimpleCounter;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.junit.jupiter.api.Test;

/** The operator's counters under the threads that really update them: the operator's and every batcher's. */
class InferenceMetricsTest {
  /** A metric group that keeps what is registered and, like Flink's own groups, makes plain SimpleCounters. */
  static final class Recording extends UnregisteredMetricsGroup {
    final Map<String, Counter> counters = new HashMap<>();

    @Override
    public Counter counter(String name) {
      return counter(name, new SimpleCounter());
    }

    @Override
    public <C extends Counter> C counter(String name, C counter) {
      counters.put(name, counter);
      return counter;
    }

    @Override
    public MetricGroup addGroup(String name) {
      return this;
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
          metrics.onDeadLetter();
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
  }
}
