package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.MicroBatcher;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model load that is still going when the operator closes the reloader (and the operator's thread is interrupted,
 * as Flink does when it cancels a task): the model it finishes loading is closed, session and batcher thread.
 */
class ModelReloaderCloseTest {
  @Test
  @SuppressWarnings("unchecked")
  void aLoadThatFinishesAfterCloseClosesWhatItLoaded(@TempDir Path tmp) throws Exception {
    Path v1 = ModelHotReloadITCase.copy(TestModels.model(TestModels.SEQ_CLS), tmp.resolve("v1"));
    Path v2 = ModelHotReloadITCase.copy(TestModels.model("tiny-distilbert-multi-label"), tmp.resolve("v2"));
    Path current = tmp.resolve("current");
    Files.createSymbolicLink(current, v1);
    String threadName = "reload-close-test";

    CompletableFuture<Void> loadStarted = new CompletableFuture<>();
    CompletableFuture<Void> finishLoad = new CompletableFuture<>();
    CompletableFuture<InferenceFunction.TaskRuntime<Object, Object>> loaded = new CompletableFuture<>();
    ModelReloader.Loader loader = (task, dir, version) -> {
      loadStarted.complete(null);
      finishLoad.join(); // a load in native code: deaf to the interrupt of shutdownNow
      Thread.interrupted();
      Pipeline<Object, Object> p = (Pipeline<Object, Object>) Pipeline.create(Task.TEXT_CLASSIFICATION, dir, PipelineOptions.defaults());
      MicroBatcher<Object, Object> b = new MicroBatcher<>(p, 8, 4096, Duration.ofMillis(5), null,
          "reload-close-test-batcher");
      InferenceFunction.TaskRuntime<Object, Object> r = new InferenceFunction.TaskRuntime<>(p, b, version.toModelInfo());
      loaded.complete(r);
      return r;
    };
    String serving = ModelVersion.of(ModelDirectory.of(v1), "current").version();
    ModelReloader reloader = new ModelReloader(Map.of("text-classification", current.toString()),
        Map.of("text-classification", serving), loader, Duration.ofMillis(10), new UnregisteredMetricsGroup(),
        threadName);
    ModelHotReloadITCase.pointTo(current, v2);
    loadStarted.join();

    // the operator closes while the load runs, and its thread is interrupted while close waits for the load
    Thread closer = new Thread(reloader::close, "closer");
    closer.start();
    while (closer.getState() != Thread.State.TIMED_WAITING && closer.isAlive()) {
      Thread.onSpinWait();
    }
    closer.interrupt();
    closer.join();
    finishLoad.complete(null);

    InferenceFunction.TaskRuntime<Object, Object> runtime = loaded.join();
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().equals(threadName)) {
        t.join();
      }
    }
    assertThat(runtime.isClosed()).as("the model loaded after close was closed").isTrue();
    assertThat(Thread.getAllStackTraces().keySet()).noneMatch(t -> t.getName().equals("reload-close-test-batcher"));
    assertThat(reloader.takeReady()).isEmpty();
  }
}
