package io.distilstream.operators;

import io.distilstream.runtime.hub.ModelSource;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.ModelOutputCache;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import java.io.Serializable;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.Configuration;

/**
 * The small serializable description of the inference work: which model runs which task, and how requests are
 * batched. It travels in the job graph; each subtask turns it into pipelines and batchers in {@code open()}.
 * Validated when built, so a misconfigured job fails at submission, not on the first event.
 */
public final class InferenceSpec implements Serializable {
  private static final long serialVersionUID = 1L;

  private final EnumMap<Task, String> models;
  private final List<Task> defaultTasks;
  private final PipelineOptions pipelineOptions;
  private final Duration maxWait;
  private final int capacity;
  private final Duration timeout;
  private final boolean ordered;
  private final int retryAttempts;
  private final Duration retryDelay;
  private final EventLimits limits;
  private final int maxResultBytes;
  /** Null when hot reload is off. */
  private final Duration reloadInterval;
  /** The output cache's bounds; null when the cache is off. */
  private final ModelOutputCache.Bounds cache;
  /** Size of the TaskManager's shared ONNX Runtime pool (0 = available processors); -1: per-session threads. */
  private final int taskManagerThreads;
  /** One session per model per TaskManager, shared by its slots. */
  private final boolean shareSessions;
  /** With {@link #shareSessions}: how long a session outlives its last slot, for a restart to take it over. */
  private final Duration sessionLinger;

  private InferenceSpec(Builder b) {
    this.models = new EnumMap<>(b.models);
    this.defaultTasks = Collections.unmodifiableList(
        b.defaultTasks.isEmpty() ? new ArrayList<>(b.models.keySet()) : new ArrayList<>(b.defaultTasks));
    this.pipelineOptions = b.pipelineOptions;
    this.maxWait = b.maxWait;
    this.capacity = b.capacity;
    this.timeout = b.timeout;
    this.ordered = b.ordered;
    this.retryAttempts = b.retryAttempts;
    this.retryDelay = b.retryDelay;
    this.limits = b.limits;
    this.maxResultBytes = b.maxResultBytes;
    this.reloadInterval = b.reloadInterval;
    this.cache = b.cache;
    this.taskManagerThreads = b.taskManagerThreads;
    this.shareSessions = b.shareSessions;
    this.sessionLinger = b.sessionLinger;
    validate();
  }

  private void validate() {
    if (models.isEmpty()) {
      throw new IllegalArgumentException("no model configured: set at least one of "
          + InferenceOptions.MODEL_PREFIX + "<task> (text-classification, token-classification,"
          + " question-answering, feature-extraction, fill-mask, multiple-choice, zero-shot-classification)");
    }
    for (Task t : defaultTasks) {
      if (!models.containsKey(t)) {
        throw new IllegalArgumentException(InferenceOptions.DEFAULT_TASKS.key() + " names " + t + ", but "
            + InferenceOptions.MODEL_PREFIX + t + " is not set");
      }
    }
    int maxBatch = pipelineOptions.batching().maxBatchSize();
    if (capacity < maxBatch) {
      throw new IllegalArgumentException(InferenceOptions.CAPACITY.key() + " (" + capacity + ") must be at least "
          + InferenceOptions.MAX_BATCH_SIZE.key() + " (" + maxBatch + "): with fewer requests in flight a batch"
          + " can never fill");
    }
    if (maxWait.isNegative()) {
      throw new IllegalArgumentException(InferenceOptions.MAX_WAIT.key() + " must not be negative");
    }
    if (timeout.compareTo(maxWait) <= 0) {
      throw new IllegalArgumentException(InferenceOptions.TIMEOUT.key() + " (" + timeout + ") must be longer than "
          + InferenceOptions.MAX_WAIT.key() + " (" + maxWait + ")");
    }
    if (retryAttempts < 0) {
      throw new IllegalArgumentException(InferenceOptions.RETRY_ATTEMPTS.key() + " must be >= 0");
    }
    if (reloadInterval != null && (reloadInterval.isNegative() || reloadInterval.isZero())) {
      throw new IllegalArgumentException(InferenceOptions.MODEL_RELOAD_INTERVAL.key() + " must be positive (unset"
          + " it to turn hot reload off), got " + reloadInterval);
    }
    if (maxResultBytes < 1024) {
      throw new IllegalArgumentException(InferenceOptions.MAX_RESULT_BYTES.key() + " must be >= 1024, got "
          + maxResultBytes);
    }
    for (Map.Entry<Task, String> e : models.entrySet()) {
      if (ModelSource.isHubId(e.getValue())) {
        // checked against the Hub now and pinned to its commit: the same model on every TaskManager and restart
        e.setValue(ModelSource.pin(e.getValue()));
      } else {
        ModelDirectory.of(ModelPaths.resolve(Path.of(e.getValue()))); // fails here, naming the path, if files are missing
      }
    }
  }

  /** Reads and validates the {@link InferenceOptions} of a Flink configuration. */
  public static InferenceSpec fromConfiguration(Configuration conf) {
    Builder b = builder();
    for (Task t : Task.values()) {
      conf.getOptional(org.apache.flink.configuration.ConfigOptions.key(InferenceOptions.MODEL_PREFIX + t.id())
          .stringType().noDefaultValue()).ifPresent(model -> b.model(t, model));
    }
    conf.getOptional(InferenceOptions.DEFAULT_TASKS).ifPresent(list -> {
      for (String s : list) {
        b.defaultTasks.add(Task.parse(s));
      }
    });
    PipelineOptions.LongText longText;
    PipelineOptions.WindowPool windowPool;
    try {
      longText = conf.getOptional(InferenceOptions.LONG_TEXT).map(PipelineOptions.LongText::parse).orElse(null);
      windowPool = PipelineOptions.WindowPool.parse(conf.get(InferenceOptions.WINDOW_POOL));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("inference." + e.getMessage(), e);
    }
    b.pipelineOptions = InferenceOptions.PIPELINE_KEYS.applyTo(b.pipelineOptions, conf).longText(longText)
        .windowPool(windowPool);
    return b.maxWait(conf.get(InferenceOptions.MAX_WAIT))
        .capacity(conf.get(InferenceOptions.CAPACITY))
        .timeout(conf.get(InferenceOptions.TIMEOUT))
        .ordered(conf.get(InferenceOptions.ORDERED))
        .retry(conf.get(InferenceOptions.RETRY_ATTEMPTS), conf.get(InferenceOptions.RETRY_DELAY))
        .limits(new EventLimits(conf.get(InferenceOptions.MAX_TEXT_CHARS), conf.get(InferenceOptions.MAX_ID_CHARS),
            conf.get(InferenceOptions.MAX_ATTRIBUTES_BYTES)))
        .maxResultBytes(conf.get(InferenceOptions.MAX_RESULT_BYTES))
        .reloadInterval(conf.getOptional(InferenceOptions.MODEL_RELOAD_INTERVAL).orElse(null))
        .cache(cacheBounds(conf))
        .taskManagerThreadPool(threadPool(conf))
        .shareSessions(conf.get(InferenceOptions.SHARE_SESSIONS))
        .sessionLinger(conf.get(InferenceOptions.SESSION_LINGER))
        .build();
  }

  /** -1 for per-session threads, else the shared pool's size (0 = available processors). */
  static int threadPool(org.apache.flink.configuration.ReadableConfig conf) {
    String pool = conf.get(InferenceOptions.THREAD_POOL).trim().toLowerCase(java.util.Locale.ROOT);
    int threads = conf.get(InferenceOptions.TASK_MANAGER_THREADS);
    if (threads < 0) {
      throw new IllegalArgumentException(InferenceOptions.TASK_MANAGER_THREADS.key() + " must be >= 0 (0 = the"
          + " available processors), got " + threads);
    }
    return switch (pool) {
      case "per-session" -> -1;
      case "task-manager" -> threads;
      default -> throw new IllegalArgumentException(InferenceOptions.THREAD_POOL.key()
          + " must be per-session or task-manager, got '" + pool + "'");
    };
  }

  /** The cache's bounds from {@code inference.cache.*}, or null when it is off. */
  static ModelOutputCache.Bounds cacheBounds(org.apache.flink.configuration.ReadableConfig conf) {
    if (!conf.get(InferenceOptions.CACHE_ENABLED)) {
      return null;
    }
    try {
      return new ModelOutputCache.Bounds(conf.get(InferenceOptions.CACHE_MAX_ENTRIES),
          conf.get(InferenceOptions.CACHE_MAX_BYTES).getBytes());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("inference." + e.getMessage(), e);
    }
  }

  public static Builder builder() {
    return new Builder();
  }

  public Map<Task, String> models() { return Collections.unmodifiableMap(models); }
  public List<Task> defaultTasks() { return defaultTasks; }
  public PipelineOptions pipelineOptions() { return pipelineOptions; }
  public Duration maxWait() { return maxWait; }
  public int capacity() { return capacity; }
  public Duration timeout() { return timeout; }
  public boolean ordered() { return ordered; }
  public int retryAttempts() { return retryAttempts; }
  public Duration retryDelay() { return retryDelay; }
  public int maxTextChars() { return limits.maxTextChars(); }
  /** The bounds on one event's cost (see {@link EventLimits}). */
  public EventLimits limits() { return limits; }
  /** Largest result, encoded with its key; larger ones become RESULT_TOO_LARGE dead letters. */
  public int maxResultBytes() { return maxResultBytes; }
  /** How often to look for a changed model; null = hot reload off. */
  public Duration reloadInterval() { return reloadInterval; }
  /** The output cache's bounds; null = no cache. */
  public ModelOutputCache.Bounds cache() { return cache; }
  /** -1: every session has threads of its own; else the TaskManager's shared pool's size (0 = processors). */
  public int taskManagerThreads() { return taskManagerThreads; }
  /** One session per model per TaskManager, shared by its slots. */
  public boolean shareSessions() { return shareSessions; }
  /** With {@link #shareSessions}: how long a session outlives its last slot (0: closed with it). */
  public Duration sessionLinger() { return sessionLinger; }

  /** Builds a spec in code; the same validation as {@link #fromConfiguration}. */
  public static final class Builder {
    private final EnumMap<Task, String> models = new EnumMap<>(Task.class);
    private final List<Task> defaultTasks = new ArrayList<>();
    private PipelineOptions pipelineOptions = PipelineOptions.defaults();
    private Duration maxWait = InferenceOptions.MAX_WAIT.defaultValue();
    private int capacity = InferenceOptions.CAPACITY.defaultValue();
    private Duration timeout = InferenceOptions.TIMEOUT.defaultValue();
    private boolean ordered = InferenceOptions.ORDERED.defaultValue();
    private int retryAttempts = InferenceOptions.RETRY_ATTEMPTS.defaultValue();
    private Duration retryDelay = InferenceOptions.RETRY_DELAY.defaultValue();
    private EventLimits limits = EventLimits.defaults();
    private int maxResultBytes = InferenceOptions.MAX_RESULT_BYTES.defaultValue();
    private Duration reloadInterval;
    private ModelOutputCache.Bounds cache;
    private int taskManagerThreads = -1;
    private boolean shareSessions;
    private Duration sessionLinger = InferenceOptions.SESSION_LINGER.defaultValue();

    public Builder model(Task task, Path dir) { models.put(task, dir.toAbsolutePath().toString()); return this; }
    /**
     * A model directory, pointer file or Hugging Face Hub id ({@code ORG/NAME[@REVISION]}; an existing local path
     * wins), as {@code inference.model.<task>} takes it. Where a Hub id, {@link #build} pins it to its commit.
     */
    public Builder model(Task task, String pathOrHubId) {
      models.put(task, ModelSource.absolute(pathOrHubId));
      return this;
    }
    public Builder defaultTasks(Task... tasks) { defaultTasks.clear(); defaultTasks.addAll(List.of(tasks)); return this; }
    public Builder pipelineOptions(PipelineOptions o) { this.pipelineOptions = o; return this; }
    public Builder maxWait(Duration d) { this.maxWait = d; return this; }
    public Builder capacity(int c) { this.capacity = c; return this; }
    public Builder timeout(Duration d) { this.timeout = d; return this; }
    public Builder ordered(boolean b) { this.ordered = b; return this; }
    public Builder retry(int attempts, Duration delay) { this.retryAttempts = attempts; this.retryDelay = delay; return this; }
    public Builder maxTextChars(int n) { this.limits = limits.withMaxTextChars(n); return this; }
    public Builder maxResultBytes(int n) { this.maxResultBytes = n; return this; }
    public Builder limits(EventLimits l) { this.limits = java.util.Objects.requireNonNull(l); return this; }
    /** Hot reload: look for a changed model this often; null = off. */
    public Builder reloadInterval(Duration d) { this.reloadInterval = d; return this; }

    /** Serve repeated inputs from the TaskManager's output cache with these bounds; null = off. */
    public Builder cache(ModelOutputCache.Bounds b) { this.cache = b; return this; }

    /**
     * Every session of the operator on the TaskManager's shared ONNX Runtime pool of this many threads (0 = the
     * available processors); -1 (the default): threads of their own.
     */
    public Builder taskManagerThreadPool(int threads) { this.taskManagerThreads = threads; return this; }
    /** One session per model per TaskManager, shared by its slots (default false: one per slot). */
    public Builder shareSessions(boolean b) { this.shareSessions = b; return this; }
    /** With {@link #shareSessions}: keep a session open this long after its last slot closed it (0: no). */
    public Builder sessionLinger(Duration d) {
      if (d.isNegative()) {
        throw new IllegalArgumentException(InferenceOptions.SESSION_LINGER.key() + " must be >= 0, got " + d);
      }
      this.sessionLinger = d;
      return this;
    }

    public InferenceSpec build() {
      return new InferenceSpec(this);
    }
  }
}
