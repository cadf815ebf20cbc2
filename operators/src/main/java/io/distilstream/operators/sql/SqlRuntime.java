package io.distilstream.operators.sql;

import io.distilstream.operators.InferenceMetrics;
import io.distilstream.operators.ModelVersion;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.MicroBatcher;
import io.distilstream.runtime.pipeline.Outcome;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import org.apache.flink.table.functions.FunctionContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One subtask's model for SQL: the task's pipeline and a {@link MicroBatcher} over it (the same pieces, options and
 * metrics as the DataStream operator), opened in a function's {@code open()} and closed in its {@code close()}.
 */
final class SqlRuntime implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SqlRuntime.class);

  final Pipeline<Object, Object> pipeline;
  final MicroBatcher<Object, Object> batcher;
  final ModelVersion version;
  final InferenceMetrics metrics;

  private SqlRuntime(Pipeline<Object, Object> pipeline, MicroBatcher<Object, Object> batcher, ModelVersion version,
      InferenceMetrics metrics) {
    this.pipeline = pipeline;
    this.batcher = batcher;
    this.version = version;
    this.metrics = metrics;
  }

  @SuppressWarnings("unchecked")
  static SqlRuntime open(SqlModelSpec spec, FunctionContext context, String function) {
    int subtask = context.getTaskInfo().getIndexOfThisSubtask();
    int parallelism = context.getTaskInfo().getNumberOfParallelSubtasks();
    PipelineOptions options = spec.pipelineOptions;
    if (options.session().intraOpThreads() == 0) {
      int cores = Runtime.getRuntime().availableProcessors();
      options.session(options.session().copy().intraOpThreads(Math.max(1, cores / Math.min(parallelism, cores))));
    }
    ModelDirectory dir = ModelDirectory.of(Path.of(spec.modelDir));
    ModelVersion version = ModelVersion.of(dir);
    Pipeline<Object, Object> pipeline = (Pipeline<Object, Object>) Pipeline.create(spec.task, dir, options);
    Holder h = new Holder();
    InferenceMetrics metrics;
    MicroBatcher<Object, Object> batcher;
    try {
      metrics = new InferenceMetrics(context.getMetricGroup().addGroup("model", dir.name()), () -> {
        MicroBatcher<?, ?> b = h.batcher;
        return b == null ? 0 : b.queueDepth();
      });
      batcher = new MicroBatcher<>(pipeline, options.batching().maxBatchSize(), options.batching().maxTokens(),
          spec.maxWait, metrics, "distilstream-sql-" + spec.task.id() + "-" + subtask);
      h.batcher = batcher;
    } catch (RuntimeException e) {
      pipeline.close();
      throw e;
    }
    LOG.info("subtask {}: {} {} on {} ({}, {}, max-wait={})", subtask, function, spec.task, version,
        options.session(), options.batching(), spec.maxWait);
    return new SqlRuntime(pipeline, batcher, version, metrics);
  }

  private static final class Holder {
    volatile MicroBatcher<?, ?> batcher;
  }

  /** Queues one input; a {@link TextClassificationPipeline.TextPair} is encoded as a sentence pair. */
  @SuppressWarnings({"unchecked", "rawtypes"})
  CompletableFuture<Outcome<Object>> submit(Object input) {
    if (input instanceof TextClassificationPipeline.TextPair) {
      TextClassificationPipeline.TextPair p = (TextClassificationPipeline.TextPair) input;
      Pipeline.Prepared prepared = ((TextClassificationPipeline) (Pipeline) pipeline).preparePair(p.text(),
          p.textPair());
      return batcher.submitPrepared(prepared);
    }
    return batcher.submit(input);
  }

  @Override
  public void close() {
    batcher.close();
    pipeline.close();
  }
}
