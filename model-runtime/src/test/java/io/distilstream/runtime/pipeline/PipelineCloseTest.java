package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * Closing a batcher and its pipeline while a batch is inside its ONNX Runtime call: the session is freed only after
 * the call, which returns real logits, and the closed pipeline then refuses work instead of touching a freed session.
 */
class PipelineCloseTest {
  @Test
  void closeWaitsForTheRunningBatchBeforeFreeingTheSession() throws Exception {
    GatedPipeline pipeline = new GatedPipeline();
    List<Float> expected;
    try (GatedPipeline reference = new GatedPipeline()) {
      float[] l = reference.run("closing under a running batch").logits();
      expected = List.of(l[0], l[1]);
    }
    MicroBatcher<String, GatedPipeline.Result> batcher =
        new MicroBatcher<>(pipeline, 1, 4096, Duration.ZERO, null, "close-test");
    CompletableFuture<Void> gate = pipeline.hold();
    CompletableFuture<Outcome<GatedPipeline.Result>> running = batcher.submit("closing under a running batch");
    assertThat(pipeline.started.take()).containsExactly("closing under a running batch");

    // the pipeline (its session) closed from another thread while the batch is inside its model call, as a
    // batcher whose close gave up waiting would leave it
    CompletableFuture<Void> closed = new CompletableFuture<>();
    Thread closer = new Thread(() -> {
      pipeline.close();
      closed.complete(null);
    }, "closer");
    closer.start();
    // the closer either frees the session at once (the defect) or blocks until the model call is over
    while (!closed.isDone() && closer.getState() != Thread.State.BLOCKED) {
      Thread.onSpinWait();
    }
    assertThat(closed).as("close() returned while a batch was inside its model call").isNotDone();
    gate.complete(null);
    closed.join();
    batcher.close();

    Outcome<GatedPipeline.Result> o = running.join();
    assertThat(o.isSuccess()).as(String.valueOf(o.message())).isTrue();
    assertThat(o.value().logits()).containsExactly(expected.get(0), expected.get(1));
    assertThat(pipeline.batches).hasSize(1);

    Outcome<GatedPipeline.Result> after = pipeline.runAll(List.of("after close")).get(0);
    assertThat(after.isSuccess()).isFalse();
    assertThat(after.reason()).isEqualTo(Outcome.Reason.MODEL_ERROR);
    assertThat(after.message()).contains("closed");
  }
}
