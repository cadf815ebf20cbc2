package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.model.SessionOptions;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Issue 22, item 5: pipelines of one model with {@link SessionOptions#shareSession} hold one session (one copy of
 * the weights); run at once from two threads they give, byte for byte, what a pipeline with a session of its own
 * gives; the session closes with its last pipeline, and a pipeline of another model gets a session of its own.
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
}
