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
import java.util.EnumMap;
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
 * its thread) per configured task, created in {@link #open} from the serializable {@link InferenceSpec} and closed
 * in {@link #close}. {@link #asyncInvoke} hands one event's requests (one per task it asks for) to the batchers and
 * completes the event's {@link ResultFuture} exactly once, with one output per task: a result or a dead letter.
 *
 * <p>Apply it with {@link Enrichment#apply}, which wires Flink's async operator (capacity, timeout, ordering,
 * retries) so that in-flight events are part of checkpoints.
 */
public class InferenceFunction extends RichAsyncFunction<TextEvent, InferenceOutput> {
  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(InferenceFunction.class);

  private final InferenceSpec spec;

  private transient EnumMap<Task, TaskRuntime<?, ?>> runtimes;
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
    runtimes = new EnumMap<>(Task.class);
    retired = new ArrayList<>();
    pending = Collections.synchronizedMap(new IdentityHashMap<>());
    metrics = new InferenceMetrics(getRuntimeContext().getMetricGroup(), this::queueDepth);
    try {
      Map<Task, String> versions = new EnumMap<>(Task.class);
      Map<Task, String> paths = new EnumMap<>(Task.class);
      for (ModelSpec m : spec.models()) {
        if (runtimes.containsKey(m.task())) {
          continue; // still one model per task here; the next step runs each model
        }
        ModelDirectory dir = ModelPaths.open(m.source());
        TaskRuntime<?, ?> runtime = newRuntime(m.task(), dir, ModelVersion.of(dir,
            ModelSource.displayName(m.source())), options, subtask);
        runtimes.put(m.task(), runtime);
        versions.put(m.task(), runtime.model.getVersion());
        paths.put(m.task(), m.source());
        metrics.onServing(m.task().id(), runtime.model);
      }
      if (spec.reloadInterval() != null) {
        reloader = new ModelReloader(paths, versions,
            (task, dir, version) -> newRuntime(task, dir, version, options, subtask), spec.reloadInterval(),
            getRuntimeContext().getMetricGroup(), "distilstream-reload-" + subtask);
      }
    } catch (RuntimeException ex) {
      close();
      throw ex;
    }
  }

  private TaskRuntime<?, ?> newRuntime(Task task, ModelDirectory dir, ModelVersion version, PipelineOptions options,
      int subtask) {
    return newRuntime(TaskBinding.of(task), dir, version, options, subtask);
  }

  private <I, O> TaskRuntime<I, O> newRuntime(TaskBinding<I, O, ?> binding, ModelDirectory dir, ModelVersion version,
      PipelineOptions options, int subtask) {
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
        "distilstream-" + task.id() + "-" + subtask);
    LOG.info("subtask {}: {} on {} = {} ({}, {}, max-wait={}, cache={})", subtask, task, dir, version,
        options.session(), options.batching(), spec.maxWait(), spec.cache() == null ? "off" : spec.cache());
    return new TaskRuntime<>(binding, pipeline, batcher, version.toModelInfo(), this::track);
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
      TaskRuntime<?, ?> old = runtimes.put(r.task(), r.runtime());
      metrics.onServing(r.task().id(), r.runtime().model);
      LOG.info("switched {} from {} to {}", r.task(), old == null ? null : old.model.getVersion(),
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
          Stage.RELOAD, f.task().id())).build());
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
    // bounds that hold for every task are checked once, before anything is tokenized or copied
    String exceeded = spec.limits().exceeded(event);
    collecting = mine.requests;
    byte[] encoded = exceeded == null ? null : DeadLetters.encode(event);
    try {
      for (Task task : requested.tasks()) {
        parts.add(exceeded != null
            ? done(DeadLetters.forEncoded(event.getId(), encoded, DeadLetterReason.LIMIT_EXCEEDED, exceeded,
                Stage.PREPROCESS, task.id()))
            : submitGuarded(event, task, start));
      }
      if (!requested.unknown().isEmpty()) {
        parts.add(done(requested.unknownDeadLetter(event)));
      }
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
    String task = TaskBinding.resultOf(o).task().id();
    return DeadLetters.forEvent(event, DeadLetterReason.RESULT_TOO_LARGE, "the result is " + size + " bytes encoded,"
        + " over " + InferenceOptions.MAX_RESULT_BYTES.key() + " (" + spec.maxResultBytes() + ")",
        Stage.INFERENCE, task);
  }

  /**
   * The tasks an event asks for, each once: a task named twice (or by an alias, {@code ner} and
   * {@code token-classification}) runs once. Names that no model of this job serves are collected apart and give
   * one {@code UNKNOWN_TASK} dead letter per event, however many there are.
   */
  record Requested(List<Task> tasks, List<String> unknown) {
    /** Unknown names a dead letter quotes; the rest are counted. */
    static final int QUOTED = 5;

    InferenceOutput unknownDeadLetter(TextEvent event) {
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
          .append(InferenceOptions.MODEL_PREFIX).append("<task> is set)");
      String first = unknown.get(0);
      return DeadLetters.forEvent(event, DeadLetterReason.UNKNOWN_TASK, sb.toString(), Stage.PREPROCESS,
          first.length() > 64 ? first.substring(0, 64) : first);
    }
  }

  Requested requested(TextEvent event) {
    if (event.getTasks() == null || event.getTasks().isEmpty()) {
      return new Requested(defaultTasks(event), List.of());
    }
    java.util.EnumSet<Task> tasks = java.util.EnumSet.noneOf(Task.class);
    List<Task> ordered = new ArrayList<>();
    java.util.LinkedHashSet<String> unknown = new java.util.LinkedHashSet<>();
    for (CharSequence name : event.getTasks()) {
      String n = String.valueOf(name);
      Task t = Task.find(n);
      if (t != null && runtimes.containsKey(t)) {
        if (tasks.add(t)) {
          ordered.add(t);
        }
      } else {
        unknown.add(n);
      }
    }
    return new Requested(ordered, new ArrayList<>(unknown));
  }

  // an event that names no task gets the job's default tasks that apply to it (its binding says: question-answering
  // only if it asks a question, multiple-choice only with choices, ...)
  private List<Task> defaultTasks(TextEvent event) {
    List<Task> tasks = new ArrayList<>(spec.defaultTasks().size());
    for (Task t : spec.defaultTasks()) {
      if (byDefault(runtimes.get(t), event)) {
        tasks.add(t);
      }
    }
    return tasks;
  }

  private <I, O> boolean byDefault(TaskRuntime<I, O> runtime, TextEvent event) {
    return runtime.binding.byDefault(event, spec, runtime.pipeline);
  }

  /**
   * {@link #submit}, with anything it throws for this event (a bug in pre-processing, a
   * {@link StackOverflowError}) turned into this event's dead letter: one record never fails the job. An
   * {@link OutOfMemoryError} still fails it: no event can cause one within the bounds, so it is the JVM's state.
   */
  private CompletableFuture<InferenceOutput> submitGuarded(TextEvent event, Task task, long start) {
    try {
      return submit(event, task, start);
    } catch (RuntimeException | StackOverflowError | LinkageError e) {
      return done(DeadLetters.forEvent(event, DeadLetterReason.INVALID_INPUT, "pre-processing failed: " + e,
          Stage.PREPROCESS, task.id()));
    }
  }

  private CompletableFuture<InferenceOutput> submit(TextEvent event, Task task, long start) {
    return submitTo(runtimes.get(task), event, start);
  }

  private <I, O> CompletableFuture<InferenceOutput> submitTo(TaskRuntime<I, O> runtime, TextEvent event, long start) {
    TaskBinding.Request<I> request = runtime.binding.prepare(event, spec, runtime.pipeline);
    if (request.deadLetter() != null) {
      return done(request.deadLetter());
    }
    return runtime.submitPrepared(request.prepared())
        .thenApply(outcome -> runtime.binding.output(event, runtime.model, outcome, start));
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
    for (Task task : requested.tasks()) {
      outputs.add(DeadLetters.forEncoded(event.getId(), encoded, DeadLetterReason.TIMEOUT, "no result within "
          + InferenceOptions.TIMEOUT.key() + " = " + spec.timeout(), Stage.INFERENCE, task.id()));
      metrics.onDeadLetter(DeadLetterReason.TIMEOUT);
    }
    if (!requested.unknown().isEmpty()) {
      outputs.add(requested.unknownDeadLetter(event)); // one outcome per distinct name, as without the timeout
      metrics.onDeadLetter(DeadLetterReason.UNKNOWN_TASK);
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
