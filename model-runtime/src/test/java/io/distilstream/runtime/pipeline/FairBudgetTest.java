package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.batch.InferenceBudget;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.tokenizer.Encoding;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Two micro-batchers on one thread budget of one permit, on the real classification fixture: a "fast" model and a
 * "slow" one whose every model call takes 10 units of the budget's clock against the fast one's 1. The clock is
 * logical (each model call advances it by its model's cost; with one permit the calls run one at a time), so the
 * order of grants does not depend on the machine: the tests assert on that order and on the outputs, never on time.
 */
class FairBudgetTest {
  private static final int FAST_REQUESTS = 50;
  private static final int SLOW_REQUESTS = 10;

  /** The budget's clock: advanced by each model call. */
  private static final AtomicLong clock = new AtomicLong();
  /** The model of each call, in call order. */
  private static final List<String> calls = new CopyOnWriteArrayList<>();
  private static ClockedPipeline fast;
  private static ClockedPipeline slow;

  /** The classification fixture, whose model call advances {@link #clock} by {@code cost} and notes its name. */
  static final class ClockedPipeline extends Pipeline<String, float[]> {
    private final String name;
    private final long cost;

    ClockedPipeline(String name, long cost) {
      super(Task.TEXT_CLASSIFICATION, ModelDirectory.of(SharedModels.model(SharedModels.SEQ_CLS)),
          PipelineOptions.defaults(), 0);
      this.name = name;
      this.cost = cost;
    }

    @Override
    protected List<Encoding> preprocess(String input) {
      return List.of(encodeOneWindow(input));
    }

    @Override
    protected float[][][] runModel(List<Encoding> flat, int[] windowsPerInput) throws Exception {
      calls.add(name);
      clock.addAndGet(cost);
      return super.runModel(flat, windowsPerInput);
    }

    @Override
    protected float[] postprocess(String input, List<Encoding> windows, float[][][] outputs) {
      return outputs[0][0];
    }
  }

  @BeforeAll
  static void load() {
    fast = new ClockedPipeline("fast", 1);
    slow = new ClockedPipeline("slow", 10);
  }

  @AfterAll
  static void unload() {
    fast.close();
    slow.close();
  }

  private static MicroBatcher<String, float[]> batcher(ClockedPipeline p, InferenceBudget budget, int capacity) {
    // one request per batch, so that every grant is one model call of a known model
    return new MicroBatcher<>(p, 1, 4096, Duration.ZERO, capacity, MicroBatcher.Listener.NONE, "test-" + p.name,
        budget == null ? null : budget.lane(p.name, 1));
  }

  /** Runs both models' requests, queued while a blocker holds the only permit; returns outputs by input. */
  private static Map<String, float[]> run(InferenceBudget.Policy policy) throws Exception {
    calls.clear();
    InferenceBudget budget = new InferenceBudget(1, policy, clock::get);
    InferenceBudget.Lane blocker = budget.lane("blocker", 1);
    assertThat(blocker.acquire()).isGreaterThanOrEqualTo(0);
    Map<String, CompletableFuture<Outcome<float[]>>> futures = new LinkedHashMap<>();
    try (MicroBatcher<String, float[]> f = batcher(fast, budget, FAST_REQUESTS);
        MicroBatcher<String, float[]> s = batcher(slow, budget, SLOW_REQUESTS)) {
      for (int i = 0; i < FAST_REQUESTS; i++) {
        futures.put("fast " + i, f.submit("fast " + i));
      }
      for (int i = 0; i < SLOW_REQUESTS; i++) {
        futures.put("slow " + i, s.submit("slow " + i));
      }
      budget.awaitWaiting(2); // both batchers hold their first batch and wait for the permit
      assertThat(calls).isEmpty();
      blocker.release(false);
      CompletableFuture.allOf(futures.values().toArray(new CompletableFuture<?>[0])).join();
    }
    assertThat(budget.free()).isEqualTo(1);
    Map<String, float[]> outputs = new LinkedHashMap<>();
    futures.forEach((input, future) -> {
      Outcome<float[]> o = future.join();
      assertThat(o.isSuccess()).as(input + ": " + o.message()).isTrue();
      outputs.put(input, o.value());
    });
    return outputs;
  }

  /** Calls of the slow model among the calls before the fast model's last one. */
  private static long slowCallsWhileFastBusy() {
    int lastFast = calls.lastIndexOf("fast");
    return calls.subList(0, lastFast).stream().filter("slow"::equals).count();
  }

  @Test
  void fairBudgetGivesTheFastModelItsShareAndLeavesOutputsAsTheyAre() throws Exception {
    Map<String, float[]> fair = run(InferenceBudget.Policy.FAIR);
    assertThat(calls).hasSize(FAST_REQUESTS + SLOW_REQUESTS);
    // by run time: about one slow call per 10 fast ones while both are busy (+1: who goes first is a tie)
    assertThat(slowCallsWhileFastBusy()).isLessThanOrEqualTo(FAST_REQUESTS / 10 + 1);
    // and the slow model is not starved either: every window of 11 calls has one of its calls while it waits
    List<String> busy = calls.subList(0, calls.lastIndexOf("fast"));
    for (int i = 0; i + 11 <= busy.size(); i++) {
      assertThat(busy.subList(i, i + 11)).as("calls %d..%d", i, i + 10).contains("slow");
    }

    // the same inputs without a budget: the same outputs, bit for bit
    Map<String, float[]> unbudgeted = new LinkedHashMap<>();
    try (MicroBatcher<String, float[]> f = batcher(fast, null, FAST_REQUESTS);
        MicroBatcher<String, float[]> s = batcher(slow, null, SLOW_REQUESTS)) {
      for (String input : fair.keySet()) {
        unbudgeted.put(input, (input.startsWith("fast") ? f : s).submit(input).join().value());
      }
    }
    assertThat(unbudgeted.keySet()).containsExactlyElementsOf(fair.keySet());
    fair.forEach((input, logits) -> assertThat(unbudgeted.get(input)).as(input).containsExactly(logits));
  }

  @Test
  void fifoBudgetAlternatesBatchesWhateverTheyCost() throws Exception {
    run(InferenceBudget.Policy.FIFO);
    // batch for batch: the fast model waits behind every slow call, all 10 of them before its last
    assertThat(slowCallsWhileFastBusy()).isEqualTo(SLOW_REQUESTS);
  }

  @Test
  void aBatchWaitingForTheBudgetIsCancelledWhenItsBatcherCloses() throws Exception {
    calls.clear();
    InferenceBudget budget = new InferenceBudget(1, InferenceBudget.Policy.FAIR, clock::get);
    InferenceBudget.Lane blocker = budget.lane("blocker", 1);
    blocker.acquire();
    CompletableFuture<Outcome<float[]>> waiting;
    CompletableFuture<Outcome<float[]>> queued;
    try (MicroBatcher<String, float[]> f = batcher(fast, budget, 4)) {
      waiting = f.submit("first");
      queued = f.submit("second");
      budget.awaitWaiting(1);
    }
    assertThatThrownBy(waiting::join).isInstanceOf(CancellationException.class);
    assertThatThrownBy(queued::join).isInstanceOf(CancellationException.class);
    assertThat(budget.waiting()).isZero();
    blocker.release(false);
    assertThat(budget.free()).isEqualTo(1);
    assertThat(calls).isEmpty();
  }

  @Test
  void aLaneNeverAsksForMoreThanTheBudgetHas() {
    InferenceBudget budget = new InferenceBudget(2, InferenceBudget.Policy.FAIR);
    InferenceBudget.Lane wide = budget.lane("wide", 8);
    assertThat(wide.cost()).isEqualTo(2);
    assertThat(wide.acquire()).isGreaterThanOrEqualTo(0);
    assertThat(budget.free()).isZero();
    wide.release(false);
    assertThat(budget.free()).isEqualTo(2);
    List<InferenceBudget.Lane> lanes = new ArrayList<>();
    lanes.add(budget.lane("a", 1));
    lanes.add(budget.lane("b", 1));
    lanes.forEach(InferenceBudget.Lane::acquire); // two lanes of one permit run at once
    assertThat(budget.free()).isZero();
    lanes.forEach(l -> l.release(false));
    assertThat(budget.grants()).isEqualTo(3);
  }
}
