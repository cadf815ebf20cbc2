package io.distilstream.operators;

import io.distilstream.runtime.hub.ModelSource;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.pipeline.MicroBatcher;
import io.distilstream.runtime.pipeline.Outcome;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.TextEvent;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.streaming.api.functions.async.ResultFuture;
import org.apache.flink.streaming.api.functions.async.RichAsyncFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The async micro-batching inference function. Each subtask owns one pipeline and one {@link MicroBatcher} (with
 * its thread) per configured model ({@link ModelSpec}: several may run one task), created in {@link #open} from the
 * serializable {@link InferenceSpec} and closed in {@link #close}. {@link #asyncInvoke} hands one event's requests
 * (one per model {@link ModelRouting routing} selects for it) to the batchers and completes the event's
 * {@link ResultFuture} exactly once, with one output per model: a result or a dead letter.
 *
 * <p>Apply it with {@link Enrichment#apply}, which wires Flink's async operator (capacity, timeout, ordering,
 * retries) so that in-flight events are part of checkpoints.
 */
public class InferenceFunction extends RichAsyncFunction<TextEvent, InferenceOutput> {
  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(InferenceFunction.class);

  private final InferenceSpec spec;

  /** The serving runtime of each model, by the model's name, in the spec's order. */
  private transient Map<String, TaskRuntime<?, ?>> runtimes;
  private transient InferenceMetrics metrics;

  private transient ModelReloader reloader;
  /** Runtimes replaced by a reload that still have requests in flight; closed when those are done. */
  private transient List<TaskRuntime<?, ?>> retired;
  /**
   * Events in flight (by identity) and what {@link #timeout} needs of them: their batcher requests, to cancel, and
   * the reload notices they carry. Removed by whichever of completion and timeout comes first, so at most
   * {@code inference.capacity} entries.
   */
  private transient Map<TextEvent, Pending> pending;
  /** The requests of the event {@link #asyncInvoke} is handing out (operator thread only), else null. */
  private transient List<CompletableFuture<?>> collecting;

  /** One event in flight: its batcher requests and the reload notices to emit with its outputs. */
  private static final class Pending {
    final List<CompletableFuture<?>> requests = new ArrayList<>();
    final List<InferenceOutput> notices;

    Pending(List<InferenceOutput> notices) {
      this.notices = notices;
    }
  }

  /**
   * One task's pipeline, its batcher thread and the model's identity. After a hot reload the old one is
   * {@link #retire retired}: it takes no new requests and closes itself when its last one completes.
   */
  static final class TaskRuntime<I, O> implements AutoCloseable {
    /** What the operator runs of an event and what its results become; null only in tests that submit directly. */
    final TaskBinding<I, O, ?> binding;
    final Pipeline<I, O> pipeline;
    final MicroBatcher<I, O> batcher;
    final ModelInfo model;
    /** The name of a named model ({@code inference.models.<name>}); null for a per-task one. */
    final String named;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicBoolean closed = new AtomicBoolean();
    /** Completes once the runtime has closed its batcher and pipeline (a retired one closes on a thread of its own). */
    private final CompletableFuture<Void> whenClosed = new CompletableFuture<>();
    private volatile boolean retired;
    /** Told about every batcher request, so that a timed-out event can cancel its own. */
    private final Consumer<CompletableFuture<?>> tracker;

    TaskRuntime(Pipeline<I, O> pipeline, MicroBatcher<I, O> batcher, ModelInfo model) {
      this(null, pipeline, batcher, model, f -> {});
    }

    TaskRuntime(TaskBinding<I, O, ?> binding, Pipeline<I, O> pipeline, MicroBatcher<I, O> batcher, ModelInfo model,
        Consumer<CompletableFuture<?>> tracker) {
      this(binding, pipeline, batcher, model, null, tracker);
    }

    TaskRuntime(TaskBinding<I, O, ?> binding, Pipeline<I, O> pipeline, MicroBatcher<I, O> batcher, ModelInfo model,
        String named, Consumer<CompletableFuture<?>> tracker) {
      this.named = named;
      this.binding = binding;
      this.pipeline = pipeline;
      this.batcher = batcher;
      this.model = model;
      this.tracker = tracker;
    }

    CompletableFuture<Outcome<O>> submit(I input) {
      return submitPrepared(pipeline.prepare(input));
    }

    /** Every request goes through here, so a retired runtime never closes under one still in flight. */
    CompletableFuture<Outcome<O>> submitPrepared(Pipeline.Prepared<I> prepared) {
      inFlight.incrementAndGet();
      CompletableFuture<Outcome<O>> f = batcher.submitPrepared(prepared);
      f.whenComplete((o, e) -> {
        if (inFlight.decrementAndGet() == 0 && retired) {
          closeLater();
        }
      });
      tracker.accept(f);
      return f;
    }

    /** Takes no more requests; closes once the ones in flight have completed. */
    void retire() {
      retired = true;
      if (inFlight.get() == 0) {
        closeLater();
      }
    }

    boolean isClosed() {
      return closed.get();
    }

    /** Completes when {@link #close} has finished. */
    CompletableFuture<Void> whenClosed() {
      return whenClosed;
    }

    // not on the batcher's own thread: closing joins it
    private void closeLater() {
      Thread t = new Thread(this::close, "distilstream-retire-" + model.getName());
      t.setDaemon(true);
      t.start();
    }

    @Override
    public void close() {
      if (closed.compareAndSet(false, true)) {
        try {
          batcher.close();
          pipeline.close();
          LOG.info("closed {}@{}", model.getName(), model.getVersion());
        } finally {
          whenClosed.complete(null);
        }
      }
    }
  }

  public InferenceFunction(InferenceSpec spec) {
    this.spec = spec;
  }

  @Override
  public void open(OpenContext openContext) throws Exception {
    int subtask = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
    int parallelism = getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks();
    PipelineOptions configured = spec.pipelineOptions();
    // One thread per slot beats one slot of several threads on a CPU: give each subtask its share of the cores.
    int cores = Runtime.getRuntime().availableProcessors();
    PipelineOptions threaded;
    if (spec.taskManagerThreads() >= 0) {
      // first, before anything starts ONNX Runtime in this JVM: the pool is sized when its environment is created
      int pool = ModelSession.globalThreadPool(spec.taskManagerThreads());
      int wanted = spec.taskManagerThreads() > 0 ? spec.taskManagerThreads() : cores;
      if (pool != wanted) {
        LOG.warn("subtask {}: the TaskManager's ONNX Runtime pool has {} threads, not {} ({}): it was created"
            + " earlier in this JVM", subtask, pool < 0 ? "no" : pool, wanted,
            InferenceOptions.TASK_MANAGER_THREADS.key());
      }
      threaded = configured.session(configured.session().copy().sharedThreadPool(true));
    } else {
      threaded = configured.session().intraOpThreads() != 0 ? configured : configured.session(
          configured.session().copy().intraOpThreads(Math.max(1, cores / Math.min(parallelism, cores))));
    }
    PipelineOptions options = spec.shareSessions()
        ? threaded.session(threaded.session().copy().shareSession(true)) : threaded;
    runtimes = new java.util.LinkedHashMap<>();
    retired = new ArrayList<>();
    pending = Collections.synchronizedMap(new IdentityHashMap<>());
    metrics = new InferenceMetrics(getRuntimeContext().getMetricGroup(), this::queueDepth);
    try {
      Map<String, String> versions = new java.util.HashMap<>();
      Map<String, String> paths = new java.util.LinkedHashMap<>();
      for (ModelSpec m : spec.models()) {
        ModelDirectory dir = ModelPaths.open(m.source());
        TaskRuntime<?, ?> runtime = newRuntime(m, dir, ModelVersion.of(dir, ModelSource.displayName(m.source())),
            options, subtask);
        runtimes.put(m.name(), runtime);
        versions.put(m.name(), runtime.model.getVersion());
        paths.put(m.name(), m.source());
        metrics.onServing(m.name(), runtime.model);
      }
      if (spec.reloadInterval() != null) {
        reloader = new ModelReloader(paths, versions,
            (name, dir, version) -> newRuntime(spec.model(name), dir, version, options, subtask),
            spec.reloadInterval(),
            getRuntimeContext().getMetricGroup(), "distilstream-reload-" + subtask);
      }
    } catch (RuntimeException ex) {
      close();
      throw ex;
    }
  }

  /**
   * A named model's results carry its name in {@code ModelInfo.name} (a per-task model's carry its directory's name,
   * as before named models): what consumers of a shared topic, and the job's per-topic sinks, tell models apart by.
   */
  private TaskRuntime<?, ?> newRuntime(ModelSpec model, ModelDirectory dir, ModelVersion version,
      PipelineOptions options, int subtask) {
    ModelVersion v = model.perTaskKey() ? version
        : new ModelVersion(model.name(), version.version(), version.hash(), version.runtime());
    return newRuntime(model.name(), model.perTaskKey() ? null : model.name(), TaskBinding.of(model.task()), dir, v,
        options, subtask);
  }

  private <I, O> TaskRuntime<I, O> newRuntime(String name, String named, TaskBinding<I, O, ?> binding,
      ModelDirectory dir, ModelVersion version, PipelineOptions options, int subtask) {
    Task task = binding.task();
    Pipeline<I, O> pipeline = binding.open(dir, options);
    if (spec.cache() != null) {
      try {
        // keyed by the files' hash, not the version name: a publisher may keep the name and change the weights
        pipeline.useCache(spec.cache(), version.hash(), metrics);
      } catch (RuntimeException e) {
        pipeline.close();
        throw e;
      }
    }
    // queue room for every event in flight (one request per task each): submit blocks only on hostile events
    MicroBatcher<I, O> batcher = new MicroBatcher<>(pipeline, options.batching().maxBatchSize(),
        options.batching().maxTokens(), spec.maxWait(), spec.capacity(), metrics,
        "distilstream-" + name + "-" + subtask);
    LOG.info("subtask {}: model {} ({}) on {} = {} ({}, {}, max-wait={}, cache={})", subtask, name, task, dir,
        version, options.session(), options.batching(), spec.maxWait(), spec.cache() == null ? "off" : spec.cache());
    return new TaskRuntime<>(binding, pipeline, batcher, version.toModelInfo(), named, this::track);
  }

  /**
   * Switches to models a reload has made ready. Runs on the operator's thread before an event's requests are
   * handed out, so the switch falls between batches: requests before it run on the old model, after it on the new.
   */
  private List<InferenceOutput> applyReloads() {
    if (reloader == null || !reloader.hasNews()) {
      return List.of();
    }
    for (ModelReloader.Ready r : reloader.takeReady()) {
      TaskRuntime<?, ?> old = runtimes.put(r.model(), r.runtime());
      metrics.onServing(r.model(), r.runtime().model);
      LOG.info("switched {} from {} to {}", r.model(), old == null ? null : old.model.getVersion(),
          r.runtime().model.getVersion());
      if (old != null) {
        old.retire();
        retired.removeIf(TaskRuntime::isClosed);
        retired.add(old);
      }
    }
    List<InferenceOutput> notices = new ArrayList<>();
    for (ModelReloader.Failure f : reloader.takeFailures()) {
      notices.add(InferenceOutput.newBuilder().setDeadLetter(DeadLetters.of(null,
          f.path().getBytes(java.nio.charset.StandardCharsets.UTF_8), DeadLetterReason.MODEL_RELOAD_FAILED, f.message(),
          Stage.RELOAD, spec.model(f.model()).task().id())).build());
      metrics.onDeadLetter(DeadLetterReason.MODEL_RELOAD_FAILED);
    }
    return notices;
  }

  /** Notes a batcher request of the event being handed out (see {@link #collecting}). */
  private void track(CompletableFuture<?> request) {
    List<CompletableFuture<?>> c = collecting;
    if (c != null) {
      c.add(request);
    }
  }

  private int queueDepth() {
    int depth = 0;
    if (runtimes != null) {
      for (TaskRuntime<?, ?> r : runtimes.values()) {
        depth += r.batcher.queueDepth();
      }
    }
    return depth;
  }

  @Override
  public void asyncInvoke(TextEvent event, ResultFuture<InferenceOutput> resultFuture) {
    long start = System.nanoTime();
    Pending mine = new Pending(applyReloads());
    pending.put(event, mine);
    List<CompletableFuture<InferenceOutput>> parts = new ArrayList<>();
    Requested requested = requested(event);
    // bounds that hold for every model are checked once, before anything is tokenized or copied
    String exceeded = spec.limits().exceeded(event);
    collecting = mine.requests;
    byte[] encoded = exceeded == null ? null : DeadLetters.encode(event);
    try {
      for (TaskRuntime<?, ?> runtime : requested.runtimes()) {
        parts.add(exceeded != null
            ? done(forModel(runtime, DeadLetters.forEncoded(event.getId(), encoded, DeadLetterReason.LIMIT_EXCEEDED,
                exceeded, Stage.PREPROCESS, runtime.binding.task().id())))
            : submitGuarded(event, runtime, start));
      }
      parts.addAll(requested.unknownDeadLetters(event).stream().map(InferenceFunction::done).toList());
    } catch (RuntimeException | Error e) {
      pending.remove(event, mine);
      mine.requests.forEach(r -> r.cancel(false));
      throw e;
    } finally {
      collecting = null;
    }
    List<InferenceOutput> notices = mine.notices;
    CompletableFuture.allOf(parts.toArray(new CompletableFuture<?>[0])).whenComplete((ok, error) -> {
      if (!pending.remove(event, mine)) {
        return; // timeout() came first: it completed the event, notices included, and cancelled its requests
      }
      if (error != null) {
        Throwable cause = error instanceof CompletionException ? error.getCause() : error;
        if (cause instanceof CancellationException) {
          return; // the subtask is closing; the event is in the checkpoint and runs again after a restore
        }
        resultFuture.completeExceptionally(cause);
        return;
      }
      List<InferenceOutput> outputs = new ArrayList<>(notices);
      for (CompletableFuture<InferenceOutput> p : parts) {
        InferenceOutput o = fitted(event, p.join());
        if (o.getDeadLetter() != null) {
          metrics.onDeadLetter(o.getDeadLetter().getReason());
        }
        outputs.add(o);
      }
      metrics.onEventDone(System.nanoTime() - start);
      resultFuture.complete(outputs);
    });
  }

  /**
   * {@code o}, or a RESULT_TOO_LARGE dead letter in its place when its record would pass
   * {@code inference.max-result-bytes}: the sink would refuse it and fail the job on every replay.
   */
  private InferenceOutput fitted(TextEvent event, InferenceOutput o) {
    if (o.getDeadLetter() != null) {
      return o; // dead letters are bounded where they are built (DeadLetters)
    }
    long size = ResultSize.of(o);
    if (size <= spec.maxResultBytes()) {
      return o;
    }
    TaskBinding<?, ?, ?> b = TaskBinding.resultOf(o);
    String model = modelOf(b, o);
    return DeadLetters.forEvent(event, DeadLetterReason.RESULT_TOO_LARGE, (model != null ? "model '" + model + "': "
        : "") + "the result is " + size + " bytes encoded, over " + InferenceOptions.MAX_RESULT_BYTES.key() + " ("
        + spec.maxResultBytes() + ")", Stage.INFERENCE, b.task().id());
  }

  /** The named model of a result (the name its ModelInfo carries), or null for a per-task model's. */
  private <R extends org.apache.avro.specific.SpecificRecordBase> String modelOf(TaskBinding<?, ?, R> b,
      InferenceOutput o) {
    Object info = b.get(o).get("model");
    if (info instanceof ModelInfo m) {
      ModelSpec spec = this.spec.model(m.getName());
      return spec != null && !spec.perTaskKey() ? m.getName() : null;
    }
    return null;
  }

  /**
   * {@code o}, its dead letter (if any) saying which named model it is about: the message starts with
   * {@code model '<name>': } (the record's {@code task} says the task; a per-task model's messages are as before).
   */
  private static InferenceOutput forModel(TaskRuntime<?, ?> runtime, InferenceOutput o) {
    if (o.getDeadLetter() != null && runtime.named != null) {
      o.getDeadLetter().setMessage("model '" + runtime.named + "': " + o.getDeadLetter().getMessage());
    }
    return o;
  }

  /**
   * The models an event runs, each once ({@link ModelRouting#select}), as their serving runtimes; and the names
   * that no model or task answers to. A name no model has makes the whole event one {@code UNKNOWN_MODEL} dead
   * letter, running nothing; task names no model serves give one {@code UNKNOWN_TASK} dead letter per event beside
   * the tasks that run, as before named models.
   */
  record Requested(List<TaskRuntime<?, ?>> runtimes, ModelRouting.Selection selection, ModelRouting routing) {
    /** Unknown task names a dead letter quotes; the rest are counted. */
    static final int QUOTED = ModelRouting.QUOTED;

    /** The event's UNKNOWN_MODEL or UNKNOWN_TASK dead letter, or none. */
    List<InferenceOutput> unknownDeadLetters(TextEvent event) {
      List<String> models = selection.unknownModels();
      if (!models.isEmpty()) {
        return List.of(DeadLetters.forEvent(event, DeadLetterReason.UNKNOWN_MODEL,
            routing.unknownModelsMessage(models), Stage.PREPROCESS, null));
      }
      List<String> unknown = selection.unknownTasks();
      if (unknown.isEmpty()) {
        return List.of();
      }
      StringBuilder sb = new StringBuilder(unknown.size() == 1 ? "no model serves task " : "no model serves tasks ");
      for (int i = 0; i < Math.min(QUOTED, unknown.size()); i++) {
        String n = unknown.get(i);
        sb.append(i == 0 ? "'" : ", '").append(n.length() > 64 ? n.substring(0, 64) + "…" : n).append('\'');
      }
      if (unknown.size() > QUOTED) {
        sb.append(" and ").append(unknown.size() - QUOTED).append(" more");
      }
      sb.append(" (tasks: ").append(java.util.Arrays.stream(Task.values()).map(Task::id)
          .collect(java.util.stream.Collectors.joining(", "))).append("; a task is served when ")
          .append(InferenceOptions.MODEL_PREFIX).append("<task> or a model of it is set)");
      String first = unknown.get(0);
      return List.of(DeadLetters.forEvent(event, DeadLetterReason.UNKNOWN_TASK, sb.toString(), Stage.PREPROCESS,
          first.length() > 64 ? first.substring(0, 64) : first));
    }
  }

  Requested requested(TextEvent event) {
    ModelRouting routing = spec.routing();
    ModelRouting.Selection selection = routing.select(event);
    List<TaskRuntime<?, ?>> out = new ArrayList<>(selection.models().size());
    if (selection.unknownModels().isEmpty()) {
      for (ModelSpec m : selection.models()) {
        TaskRuntime<?, ?> r = runtimes.get(m.name());
        // a default model runs only where its task applies (question-answering only with a question, ...)
        if (selection.explicit() || byDefault(r, event)) {
          out.add(r);
        }
      }
    }
    return new Requested(out, selection, routing);
  }

  private <I, O> boolean byDefault(TaskRuntime<I, O> runtime, TextEvent event) {
    return runtime.binding.byDefault(event, spec, runtime.pipeline);
  }

  /**
   * {@link #submit}, with anything it throws for this event (a bug in pre-processing, a
   * {@link StackOverflowError}) turned into this event's dead letter: one record never fails the job. An
   * {@link OutOfMemoryError} still fails it: no event can cause one within the bounds, so it is the JVM's state.
   */
  private CompletableFuture<InferenceOutput> submitGuarded(TextEvent event, TaskRuntime<?, ?> runtime, long start) {
    try {
      return submitTo(runtime, event, start);
    } catch (RuntimeException | StackOverflowError | LinkageError e) {
      return done(forModel(runtime, DeadLetters.forEvent(event, DeadLetterReason.INVALID_INPUT,
          "pre-processing failed: " + e, Stage.PREPROCESS, runtime.binding.task().id())));
    }
  }

  private <I, O> CompletableFuture<InferenceOutput> submitTo(TaskRuntime<I, O> runtime, TextEvent event, long start) {
    TaskBinding.Request<I> request = runtime.binding.prepare(event, spec, runtime.pipeline);
    if (request.deadLetter() != null) {
      return done(forModel(runtime, request.deadLetter()));
    }
    return runtime.submitPrepared(request.prepared())
        .thenApply(outcome -> forModel(runtime, runtime.binding.output(event, runtime.model, outcome, start)));
  }

  /**
   * True when the text has one character that is neither a control character nor whitespace: the tokenizer drops
   * control characters, so a text of nothing else would be classified as the empty string.
   */
  static boolean printable(String text) {
    for (int i = 0; i < text.length(); ) {
      int cp = text.codePointAt(i);
      if (!Character.isISOControl(cp) && !Character.isWhitespace(cp) && !Character.isSpaceChar(cp)
          && Character.getType(cp) != Character.FORMAT) {
        return true;
      }
      i += Character.charCount(cp);
    }
    return false;
  }

  private static CompletableFuture<InferenceOutput> done(InferenceOutput o) {
    return CompletableFuture.completedFuture(o);
  }

  /**
   * Flink calls this when {@code inference.timeout} passes: the event's tasks become TIMEOUT dead letters, its
   * requests that have not run yet are cancelled (they never run), and a reload notice it carried is emitted with
   * them. A result that comes later is ignored (Flink completes a result future once).
   */
  @Override
  public void timeout(TextEvent event, ResultFuture<InferenceOutput> resultFuture) {
    List<InferenceOutput> outputs = new ArrayList<>();
    Pending p = pending.remove(event);
    if (p != null) {
      // the requests would run for nobody: drop them from the batchers' queues
      p.requests.forEach(r -> r.cancel(false));
      outputs.addAll(p.notices); // a reload notice riding on this event is not lost with it
    }
    Requested requested = requested(event);
    byte[] encoded = DeadLetters.encode(event);
    for (TaskRuntime<?, ?> runtime : requested.runtimes()) {
      outputs.add(forModel(runtime, DeadLetters.forEncoded(event.getId(), encoded, DeadLetterReason.TIMEOUT,
          "no result within " + InferenceOptions.TIMEOUT.key() + " = " + spec.timeout(), Stage.INFERENCE,
          runtime.binding.task().id())));
      metrics.onDeadLetter(DeadLetterReason.TIMEOUT);
    }
    for (InferenceOutput unknown : requested.unknownDeadLetters(event)) {
      outputs.add(unknown); // one outcome per event, as without the timeout
      metrics.onDeadLetter(unknown.getDeadLetter().getReason());
    }
    resultFuture.complete(outputs);
  }

  @Override
  public void close() throws Exception {
    if (pending != null) {
      pending.clear();
    }
    if (reloader != null) {
      reloader.close();
      reloader = null;
    }
    if (retired != null) {
      for (TaskRuntime<?, ?> r : retired) {
        r.close();
      }
      retired.clear();
    }
    if (runtimes != null) {
      for (TaskRuntime<?, ?> r : runtimes.values()) {
        r.close();
      }
      runtimes.clear();
    }
  }

  InferenceSpec spec() {
    return spec;
  }
}
