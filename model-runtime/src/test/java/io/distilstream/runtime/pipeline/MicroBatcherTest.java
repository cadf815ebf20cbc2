package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The micro-batcher on a real model whose calls a test can hold ({@link GatedPipeline}), in the spirit of Flink's
 * {@code StreamElementQueueTest}: batch triggers, order, cancellation, the bounded queue and close. No sleeps: the
 * tests wait on the batcher's own futures and on the pipeline's record of started batches.
 */
class MicroBatcherTest {
  private static final Duration FOREVER = Duration.ofHours(1);

  // one model session for all the tests: they take milliseconds, loading it does not
  private static GatedPipeline pipeline;
  private final AtomicInteger cancelled = new AtomicInteger();
  private final List<Integer> batchSizes = new ArrayList<>();
  /** Model calls started less ended, as the listener hears them. */
  private final AtomicInteger inModelCall = new AtomicInteger();
  private final MicroBatcher.Listener listener = new MicroBatcher.Listener() {
    @Override
    public void onModelCallStart() {
      inModelCall.incrementAndGet();
    }

    @Override
    public void onModelCallEnd() {
      inModelCall.decrementAndGet();
    }

    @Override
    public void onBatch(int size, int tokens, int paddedTokens, long nanos) {
      synchronized (batchSizes) {
        batchSizes.add(size);
      }
    }

    @Override
    public void onCancelled(int count) {
      cancelled.addAndGet(count);
    }
  };
  private MicroBatcher<String, GatedPipeline.Result> batcher;

  private MicroBatcher<String, GatedPipeline.Result> batcher(int maxBatchSize, int maxTokens, Duration maxWait,
      int capacity) {
    batcher = new MicroBatcher<>(pipeline, maxBatchSize, maxTokens, maxWait, capacity, listener, "test-batcher");
    return batcher;
  }

  @BeforeAll
  static void load() {
    pipeline = new GatedPipeline();
  }

  @AfterAll
  static void unload() {
    pipeline.close();
  }

  @BeforeEach
  void reset() {
    pipeline.reset();
  }

  @AfterEach
  void close() {
    pipeline.reset();
    if (batcher != null) {
      batcher.close();
    }
  }

  private static String input(Outcome<GatedPipeline.Result> o) {
    assertThat(o.isSuccess()).as(String.valueOf(o.message())).isTrue();
    assertThat(o.value().logits()).hasSize(2);
    return o.value().input();
  }

  @Test
  void aFullBatchRunsWithoutWaitingAndRequestsKeepTheirOrderAndOwnResults() {
    var b = batcher(4, 4096, FOREVER, 64);
    List<CompletableFuture<Outcome<GatedPipeline.Result>>> futures = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      futures.add(b.submit("request number " + i + " " + "word ".repeat(i)));
    }
    for (int i = 0; i < 8; i++) {
      assertThat(input(futures.get(i).join())).startsWith("request number " + i + " ");
    }
    // max-wait is an hour: only the size trigger can have run them, in arrival order
    assertThat(pipeline.batches).hasSize(2);
    assertThat(pipeline.batches.get(0)).allMatch(s -> s.matches("request number [0-3] .*"));
    assertThat(pipeline.batches.get(1)).allMatch(s -> s.matches("request number [4-7] .*"));
    assertThat(batchSizes).containsExactly(4, 4);
  }

  @Test
  void theTokenBudgetClosesABatchEarly() {
    String text = "eight tokens in this short text";
    int tokens = pipeline.prepare(text).tokens();
    var b = batcher(32, 2 * tokens, FOREVER, 64);
    List<CompletableFuture<Outcome<GatedPipeline.Result>>> futures = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      futures.add(b.submit(text));
    }
    futures.forEach(f -> input(f.join()));
    assertThat(batchSizes).containsExactly(2, 2, 2);
  }

  @Test
  void aLoneRequestRunsAfterMaxWait() {
    var b = batcher(32, 4096, Duration.ofMillis(5), 64);
    assertThat(input(b.submit("all alone").join())).isEqualTo("all alone");
    assertThat(batchSizes).containsExactly(1);
  }

  @Test
  void aCancelledRequestNeverRunsAndIsCounted() throws Exception {
    var b = batcher(1, 4096, Duration.ZERO, 64);
    CompletableFuture<Void> gate = pipeline.hold();
    var first = b.submit("first");
    assertThat(pipeline.started.take()).containsExactly("first");
    var second = b.submit("second");
    var third = b.submit("third");
    assertThat(b.queueDepth()).isEqualTo(2);

    assertThat(second.cancel(false)).isTrue();
    assertThat(b.queueDepth()).as("a cancelled request leaves the queue at once").isEqualTo(1);
    assertThat(cancelled).hasValue(1);
    gate.complete(null);

    assertThat(input(first.join())).isEqualTo("first");
    assertThat(input(third.join())).isEqualTo("third");
    assertThat(second).isCancelled();
    assertThat(pipeline.batches).containsExactly(List.of("first"), List.of("third"));
    assertThat(cancelled).hasValue(1);
  }

  /** The listener hears a batch enter its model call and leave it: what the modelCallsRunning gauge counts. */
  @Test
  void theListenerHearsABatchEnterAndLeaveItsModelCall() throws Exception {
    var b = batcher(1, 4096, Duration.ZERO, 8);
    assertThat(inModelCall).hasValue(0);
    CompletableFuture<Void> gate = pipeline.hold();
    var first = b.submit("first");
    assertThat(pipeline.started.take()).containsExactly("first");
    assertThat(inModelCall).as("held inside the model call").hasValue(1);
    assertThat(batchSizes).isEmpty();
    gate.complete(null);
    assertThat(input(first.join())).isEqualTo("first");
    // onBatch (and the end of the call) come before the future completes
    assertThat(inModelCall).hasValue(0);
    assertThat(batchSizes).containsExactly(1);
  }

  @Test
  void aFullQueueBlocksTheCallerUntilThereIsRoom() throws Exception {
    var b = batcher(1, 4096, Duration.ZERO, 2);
    CompletableFuture<Void> gate = pipeline.hold();
    var first = b.submit("first");
    assertThat(pipeline.started.take()).containsExactly("first");
    var second = b.submit("second");
    var third = b.submit("third");

    CompletableFuture<CompletableFuture<Outcome<GatedPipeline.Result>>> fourth =
        CompletableFuture.supplyAsync(() -> b.submit("fourth"));
    while (b.blockedSubmitters() == 0) {
      Thread.onSpinWait();
    }
    assertThat(fourth).as("the queue holds 2: the fourth request waits for room").isNotDone();
    assertThat(b.queueDepth()).isEqualTo(2);

    second.cancel(false); // room for one
    var queuedFourth = fourth.join();
    assertThat(b.queueDepth()).isEqualTo(2);
    gate.complete(null);

    assertThat(input(first.join())).isEqualTo("first");
    assertThat(input(third.join())).isEqualTo("third");
    assertThat(input(queuedFourth.join())).isEqualTo("fourth");
    assertThat(pipeline.batches).containsExactly(List.of("first"), List.of("third"), List.of("fourth"));
  }

  @Test
  void closeCompletesEverythingExactlyOnceAndWaitsForTheRunningBatch() throws Exception {
    var b = batcher(1, 4096, Duration.ZERO, 2);
    CompletableFuture<Void> gate = pipeline.hold();
    var running = b.submit("running");
    assertThat(pipeline.started.take()).containsExactly("running");
    var queued1 = b.submit("queued 1");
    var queued2 = b.submit("queued 2");
    CompletableFuture<CompletableFuture<Outcome<GatedPipeline.Result>>> blocked =
        CompletableFuture.supplyAsync(() -> b.submit("blocked"));
    while (b.blockedSubmitters() == 0) {
      Thread.onSpinWait();
    }
    AtomicInteger completions = new AtomicInteger();
    for (var f : List.of(running, queued1, queued2)) {
      f.whenComplete((o, e) -> completions.incrementAndGet());
    }

    CompletableFuture<Void> closed = CompletableFuture.runAsync(b::close);
    // queued and blocked requests are cancelled at once, not after the running batch
    for (var f : List.of(queued1, queued2, blocked.join())) {
      assertThatThrownBy(f::join).isInstanceOf(CancellationException.class);
    }
    assertThat(running).isNotDone();
    assertThat(closed).isNotDone();
    gate.complete(null);
    closed.join();

    assertThat(input(running.join())).isEqualTo("running");
    assertThat(completions).hasValue(3);
    assertThat(pipeline.batches).containsExactly(List.of("running"));
    assertThat(cancelled).as("cancelled by close, not by their callers").hasValue(0);
    assertThat(b.submit("after close")).isCancelled();
  }

  @Test
  void inputsThatFailTokenizationCompleteAtOnce() {
    var b = batcher(4, 4096, FOREVER, 4);
    Outcome<GatedPipeline.Result> o = b.submit(null).join();
    assertThat(o.isSuccess()).isFalse();
    assertThat(o.reason()).isEqualTo(Outcome.Reason.INVALID_INPUT);
    assertThat(pipeline.batches).isEmpty();
  }

  /**
   * Issue 22: with more than one batch queued, the batcher plans over the queue (up to plan-window batches) and runs
   * full length groups, not the first max-batch-size arrivals; every request still gets its own result, the one it
   * gets alone (within float rounding).
   */
  @Test
  void underLoadFullLengthGroupsRunFirstAndEachRequestKeepsItsOwnResult() throws Exception {
    var b = batcher(4, 4096, FOREVER, 64);
    CompletableFuture<Void> gate = pipeline.hold();
    List<CompletableFuture<Outcome<GatedPipeline.Result>>> warmUp = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      warmUp.add(b.submit("warm up " + i));
    }
    assertThat(pipeline.started.take()).hasSize(4); // a full batch, held at the gate
    // two batches' worth queued while the first runs, short and long texts alternating
    List<String> texts = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      texts.add("short " + i);
      texts.add("a much longer text, with many more words than the short one has, number " + i);
    }
    List<CompletableFuture<Outcome<GatedPipeline.Result>>> futures = new ArrayList<>();
    texts.forEach(t -> futures.add(b.submit(t)));
    assertThat(b.queueDepth()).isEqualTo(8);
    gate.complete(null);

    warmUp.forEach(f -> input(f.join()));
    for (int i = 0; i < texts.size(); i++) {
      assertThat(input(futures.get(i).join())).isEqualTo(texts.get(i));
    }
    // without planning: [short 0, long 0, short 1, long 1], [short 2, ...]; planned: one length per batch
    assertThat(pipeline.batches).hasSize(3);
    assertThat(pipeline.batches.get(1)).containsExactly("short 0", "short 1", "short 2", "short 3");
    assertThat(pipeline.batches.get(2)).allMatch(s -> s.startsWith("a much longer text")).hasSize(4);
    assertThat(batchSizes).containsExactly(4, 4, 4);
    // the same outputs as alone: a result never depends on the batch it ran in
    for (int i = 0; i < texts.size(); i++) {
      float[] alone = pipeline.runPrepared(List.of(pipeline.prepare(texts.get(i)))).get(0).value().logits();
      float[] batched = futures.get(i).join().value().logits();
      for (int k = 0; k < alone.length; k++) {
        assertThat(batched[k]).isCloseTo(alone[k], org.assertj.core.data.Offset.offset(1e-5f));
      }
    }
  }
}
