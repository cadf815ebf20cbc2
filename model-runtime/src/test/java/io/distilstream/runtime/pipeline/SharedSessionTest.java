package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.model.SessionOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 22, item 5: pipelines of one model with {@link SessionOptions#shareSession} hold one session (one copy of
 * the weights); run at once from two threads they give, byte for byte, what a pipeline with a session of its own
 * gives; the session closes with its last pipeline, and a pipeline of another model gets a session of its own.
 * With a linger (issue 19: a task restarted in its TaskManager), the session outlives its last pipeline for the next
 * one of the model to take over, until the job leaves ({@link ModelSession#closeIdle()}) or the model file changes.
 */
class SharedSessionTest {
  @Test
  void pipelinesOfOneModelShareOneSessionRunItAtOnceAndTheLastCloseClosesIt() throws Exception {
    var dir = SharedModels.model(SharedModels.TOKEN_CLS);
    List<String> texts = ModelOutputCacheTest.textsWithRepeats();
    PipelineOptions own = PipelineOptions.defaults().session(SessionOptions.defaults().intraOpThreads(1));
    PipelineOptions shared = own.session(SessionOptions.defaults().intraOpThreads(1).shareSession(true));
    List<byte[]> expected;
    try (var p = Pipeline.tokenClassification(dir, own)) {
      expected = ModelOutputCacheTest.run(p, texts, 16);
    }
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try (var a = Pipeline.tokenClassification(dir, shared);
         var b = Pipeline.tokenClassification(dir, shared);
         var other = Pipeline.textClassification(SharedModels.model(SharedModels.SEQ_CLS), shared)) {
      assertThat(b.session()).isSameAs(a.session());
      assertThat(other.session()).isNotSameAs(a.session());
      // both slots' batcher threads in the one session at once, several times over
      for (int round = 0; round < 3; round++) {
        Future<List<byte[]>> fa = pool.submit(() -> ModelOutputCacheTest.run(a, texts, 16));
        Future<List<byte[]>> fb = pool.submit(() -> ModelOutputCacheTest.run(b, texts, 7));
        ModelOutputCacheTest.assertSameBytes(expected, fa.get());
        ModelOutputCacheTest.assertSameBytes(expected, fb.get());
      }
      ModelSession session = a.session();
      a.close(); // a hot reload retires one slot's pipeline: the other keeps the session
      ModelOutputCacheTest.assertSameBytes(expected, ModelOutputCacheTest.run(b, texts, 16));
      b.close();
      // the last user closed it: a new pipeline opens a new session
      try (var c = Pipeline.tokenClassification(dir, shared)) {
        assertThat(c.session()).isNotSameAs(session);
        ModelOutputCacheTest.assertSameBytes(expected, ModelOutputCacheTest.run(c, texts, 16));
      }
    } finally {
      pool.shutdown();
    }
  }

  @Test
  void aLingeringSessionIsTakenOverByTheNextPipelineOfItsModelAndClosedWhenTheModelChangesOrTheJobLeaves(
      @TempDir Path tmp) throws Exception {
    ModelSession.closeIdle(); // sessions other tests of this JVM left lingering
    Path dir = Files.createDirectories(tmp.resolve("model"));
    try (var files = Files.list(SharedModels.model(SharedModels.TOKEN_CLS))) {
      for (Path f : files.toList()) {
        Files.copy(f, dir.resolve(f.getFileName().toString()));
      }
    }
    List<String> texts = ModelOutputCacheTest.textsWithRepeats();
    PipelineOptions lingering = PipelineOptions.defaults().session(
        SessionOptions.defaults().intraOpThreads(1).shareSession(true).shareLinger(Duration.ofHours(1)));
    List<byte[]> expected;
    ModelSession first;
    try (var a = Pipeline.tokenClassification(dir, lingering)) {
      first = a.session();
      expected = ModelOutputCacheTest.run(a, texts, 16);
    }
    assertThat(ModelSession.idleSessions()).as("open after its last pipeline closed").isEqualTo(1);
    // a restart of the task: its new pipeline takes the idle session over and computes the same bytes with it
    try (var b = Pipeline.tokenClassification(dir, lingering)) {
      assertThat(b.session()).isSameAs(first);
      assertThat(ModelSession.idleSessions()).isZero();
      ModelOutputCacheTest.assertSameBytes(expected, ModelOutputCacheTest.run(b, texts, 7));
    }
    // the tokenizer, immutable, is shared too (by its files' content), and a changed tokenizer file is parsed again
    try (var b = Pipeline.tokenClassification(dir, lingering); var own = Pipeline.tokenClassification(dir,
        PipelineOptions.defaults().session(SessionOptions.defaults().intraOpThreads(1)))) {
      assertThat(own.tokenizer()).isSameAs(b.tokenizer());
      Path tok = Files.isRegularFile(dir.resolve("tokenizer.json")) ? dir.resolve("tokenizer.json")
          : dir.resolve("vocab.txt");
      Files.setLastModifiedTime(tok, FileTime.fromMillis(Files.getLastModifiedTime(tok).toMillis() + 60_000));
      try (var touched = Pipeline.tokenClassification(dir, lingering)) {
        assertThat(touched.tokenizer()).as("same content, touched").isSameAs(b.tokenizer());
      }
      Files.writeString(tok, "\n", java.nio.file.StandardOpenOption.APPEND);
      try (var changed = Pipeline.tokenClassification(dir, lingering)) {
        assertThat(changed.tokenizer()).isNotSameAs(b.tokenizer());
      }
    }
    // the job leaves the TaskManager: its class loader's release hook closes what lingers
    assertThat(ModelSession.closeIdle()).isEqualTo(1);
    ModelSession second;
    try (var c = Pipeline.tokenClassification(dir, lingering)) {
      second = c.session();
      assertThat(second).isNotSameAs(first);
    }
    // the model file changes (a hot reload's new version): the old version's idle session is closed at once
    Path onnx = dir.resolve("model.onnx");
    Files.setLastModifiedTime(onnx, FileTime.fromMillis(Files.getLastModifiedTime(onnx).toMillis() + 60_000));
    try (var d = Pipeline.tokenClassification(dir, lingering)) {
      assertThat(d.session()).isNotSameAs(second);
      assertThat(ModelSession.idleSessions()).as("the old version's closed, the new one in use").isZero();
    }
    assertThat(ModelSession.closeIdle()).isEqualTo(1);
    // no linger (the default): closed with its last pipeline
    PipelineOptions plain = PipelineOptions.defaults().session(
        SessionOptions.defaults().intraOpThreads(1).shareSession(true));
    try (var e = Pipeline.tokenClassification(dir, plain)) {
      ModelOutputCacheTest.assertSameBytes(expected, ModelOutputCacheTest.run(e, texts, 16));
    }
    assertThat(ModelSession.idleSessions()).isZero();
  }
}
