package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.MicroBatcher;
import io.distilstream.runtime.pipeline.Outcome;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.ModelInfo;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A runtime replaced by a hot reload ({@link InferenceFunction.TaskRuntime#retire}) against a real model and
 * batcher, no cluster: it closes only once its last request has completed, and at once when none is in flight. A
 * request is held in flight by a batch that cannot fill (two requests, an hour's max-wait) rather than by timing,
 * and the close that runs on a thread of its own is awaited through {@code whenClosed()}.
 */
class TaskRuntimeRetireTest {
  @SuppressWarnings("unchecked")
  private static InferenceFunction.TaskRuntime<Object, Object> runtime(int maxBatch, Duration maxWait) {
    Pipeline<Object, Object> p = (Pipeline<Object, Object>) Pipeline.create(Task.TEXT_CLASSIFICATION,
        ModelDirectory.of(TestModels.model(TestModels.SEQ_CLS)), PipelineOptions.defaults());
    MicroBatcher<Object, Object> b = new MicroBatcher<>(p, maxBatch, 4096, maxWait, null, "retire-test");
    return new InferenceFunction.TaskRuntime<>(p, b, ModelInfo.newBuilder().setName("m").setVersion("v1")
        .setRuntime("test").build());
  }

  @Test
  void aRetiredRuntimeClosesOnlyAfterItsLastRequest() throws Exception {
    InferenceFunction.TaskRuntime<Object, Object> r = runtime(2, Duration.ofHours(1));
    CompletableFuture<Outcome<Object>> first = r.submit("held in a batch that cannot fill yet");
    r.retire();
    assertThat(first).isNotDone();
    assertThat(r.isClosed()).as("closed under a request in flight").isFalse();

    // a request from before the switch may still arrive (it was handed out before retire): it fills the batch
    CompletableFuture<Outcome<Object>> second = r.submit("the second fills it");
    assertThat(first.get().isSuccess()).isTrue();
    assertThat(second.get().isSuccess()).isTrue();
    r.whenClosed().get(30, TimeUnit.SECONDS); // closed once the last request completed
    assertThat(r.isClosed()).isTrue();
  }

  @Test
  void aRetiredRuntimeWithNothingInFlightClosesAtOnce() throws Exception {
    InferenceFunction.TaskRuntime<Object, Object> r = runtime(1, Duration.ZERO);
    assertThat(r.submit("done before the switch").get().isSuccess()).isTrue();
    r.retire();
    r.whenClosed().get(30, TimeUnit.SECONDS);
    assertThat(r.isClosed()).isTrue();
  }

  @Test
  void closingTwiceClosesOnce() {
    InferenceFunction.TaskRuntime<Object, Object> r = runtime(1, Duration.ZERO);
    r.close();
    r.close();
    assertThat(r.isClosed()).isTrue();
    assertThat(r.whenClosed()).isCompleted();
  }
}
