package io.distilstream.operators.sql;

import io.distilstream.operators.InferenceMetrics;
import io.distilstream.operators.ModelPaths;
import io.distilstream.operators.ModelVersion;
import io.distilstream.runtime.batch.InferenceBudget;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.MicroBatcher;
import io.distilstream.runtime.pipeline.Outcome;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import java.util.concurrent.CompletableFuture;
import org.apache.flink.table.functions.FunctionContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One subtask's model for SQL: the task's pipeline and a {@link MicroBatcher} over it (the same pieces, options and
 * metrics as the DataStream operator), opened in a function's {@code open()} and closed in its {@code close()}.
 */
final class SqlRuntime<Q, I, O> implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SqlRuntime.class);

  final SqlBinding<Q, I, O> binding;
  final Pipeline<I, O> pipeline;
  final MicroBatcher<I, O> batcher;
  final ModelVersion version;
  final InferenceMetrics metrics;

  private SqlRuntime(SqlBinding<Q, I, O> binding, Pipeline<I, O> pipeline, MicroBatcher<I, O> batcher,
      ModelVersion version, InferenceMetrics metrics) {
    this.binding = binding;
    this.pipeline = pipeline;
    this.batcher = batcher;
    this.version = version;
    this.metrics = metrics;
  }

  static <Q, I, O> SqlRuntime<Q, I, O> open(SqlBinding<Q, I, O> binding, SqlModelSpec spec, FunctionContext context,
      String function) {
    int subtask = context.getTaskInfo().getIndexOfThisSubtask();
    int parallelism = context.getTaskInfo().getNumberOfParallelSubtasks();
    PipelineOptions options = spec.pipelineOptions;
    if (options.session().intraOpThreads() == 0) {
      int cores = Runtime.getRuntime().availableProcessors();
      options = options.session(options.session().copy().intraOpThreads(Math.max(1, cores / Math.min(parallelism, cores))));
    }
    ModelDirectory dir = ModelPaths.open(spec.modelDir); // a Hub id is fetched here, into this process's HF cache
    ModelVersion version = ModelVersion.of(dir);
    Pipeline<I, O> pipeline = binding.open(dir, options);
    Holder h = new Holder();
    InferenceMetrics metrics;
    MicroBatcher<I, O> batcher;
    try {
      metrics = new InferenceMetrics(context.getMetricGroup().addGroup("model", dir.name()), () -> {
        MicroBatcher<?, ?> b = h.batcher;
        return b == null ? 0 : b.queueDepth();
      });
      if (spec.cache != null) {
        pipeline.useCache(spec.cache, version.hash(), metrics);
      }
      String thread = "distilstream-sql-" + spec.task.id() + "-" + subtask;
      // a static of a class in the job's jar: one budget per job, TaskManager, size and policy, shared by every
      // model (statement or operator) of the job that names the same one (see InferenceBudget)
      InferenceBudget.Lane lane = spec.scheduling == null ? null : InferenceBudget.shared(
          spec.budgetThreads > 0 ? spec.budgetThreads : Runtime.getRuntime().availableProcessors(), spec.scheduling)
          .lane(thread, options.session().intraOpThreads());
      batcher = new MicroBatcher<>(pipeline, options.batching().maxBatchSize(), options.batching().maxTokens(),
          spec.maxWait, MicroBatcher.DEFAULT_QUEUE_BATCHES * options.batching().maxBatchSize(), metrics, thread,
          lane);
      h.batcher = batcher;
    } catch (RuntimeException e) {
      pipeline.close();
      throw e;
    }
    LOG.info("subtask {}: {} {} on {} ({}, {}, max-wait={}, cache={})", subtask, function, spec.task, version,
        options.session(), options.batching(), spec.maxWait, spec.cache == null ? "off" : spec.cache);
    return new SqlRuntime<>(binding, pipeline, batcher, version, metrics);
  }

  private static final class Holder {
    volatile MicroBatcher<?, ?> batcher;
  }

  /** Queues one input, tokenized as its task says (a text pair as a sentence pair). */
  CompletableFuture<Outcome<O>> submit(Q input) {
    return batcher.submitPrepared(binding.prepare(pipeline, input));
  }

  @Override
  public void close() {
    batcher.close();
    pipeline.close();
  }
}
