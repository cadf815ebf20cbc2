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
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.Configuration;

/**
 * The small serializable description of the inference work: which models the job serves ({@link ModelSpec}: a
 * name, a task, a source), how events are routed to them ({@link ModelRouting}), and how requests are batched. It travels in the job graph; each subtask turns it into pipelines and batchers in {@code open()}.
 * Validated when built, so a misconfigured job fails at submission, not on the first event.
 */
public final class InferenceSpec implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Every model: the per-task keys' first, in task order, then the named ones in name order. */
  private final List<ModelSpec> models;
  /** Which models an event runs. */
  private final ModelRouting routing;
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

  private InferenceSpec(Builder b) {
    List<ModelSpec> all = new ArrayList<>(b.perTask.values());
    all.addAll(b.named.values());
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
    validateModels(all);
    this.routing = new ModelRouting(all, defaults(b, all), b.routingHeader, b.attributeRules);
    validate();
    this.models = pinned(all); // last: it reads files or asks the Hub
  }

  /** {@code inference.models.default}, else the models of {@code inference.default-tasks}, else null (every one). */
  private static List<String> defaults(Builder b, List<ModelSpec> models) {
    if (!b.defaultModels.isEmpty()) {
      if (!b.defaultTasks.isEmpty()) {
        throw new IllegalArgumentException("set " + InferenceOptions.DEFAULT_MODELS.key() + " or "
            + InferenceOptions.DEFAULT_TASKS.key() + ", not both");
      }
      return b.defaultModels;
    }
    if (b.defaultTasks.isEmpty()) {
      return null;
    }
    List<String> names = new ArrayList<>();
    for (Task t : b.defaultTasks) {
      boolean served = false;
      for (ModelSpec m : models) {
        if (m.task() == t) {
          served = true;
          if (!m.isShadow() && !names.contains(m.name())) {
            names.add(m.name());
          }
        }
      }
      if (!served) {
        throw new IllegalArgumentException(InferenceOptions.DEFAULT_TASKS.key() + " names " + t + ", but "
            + InferenceOptions.MODEL_PREFIX + t + " is not set");
      }
    }
    return names;
  }

  /** Checks the models as a set: some, not too many, names unique, shadows of declared primaries. */
  private static void validateModels(List<ModelSpec> models) {
    if (models.isEmpty()) {
      throw new IllegalArgumentException("no model configured: set at least one of "
          + InferenceOptions.MODEL_PREFIX + "<task> (text-classification, token-classification,"
          + " question-answering, feature-extraction, fill-mask, multiple-choice, zero-shot-classification) or "
          + InferenceOptions.NAMED_MODEL_TASK.key() + " and " + InferenceOptions.NAMED_MODEL_PATH.key());
    }
    if (models.size() > InferenceOptions.MAX_MODELS) {
      throw new IllegalArgumentException(models.size() + " models declared, over " + InferenceOptions.MAX_MODELS
          + " per job: each is a pipeline and a batcher per subtask");
    }
    Map<String, ModelSpec> byName = new java.util.HashMap<>();
    for (ModelSpec m : models) {
      ModelSpec before = byName.put(m.name(), m);
      if (before != null) {
        throw new IllegalArgumentException("model '" + m.name() + "' is declared twice: by "
            + InferenceOptions.MODEL_PREFIX + before.task().id() + " (a per-task key declares a model named after"
            + " its task) and by " + InferenceOptions.MODELS_PREFIX + m.name() + ".*");
      }
    }
    for (ModelSpec m : models) {
      ModelSpec named = m.perTaskKey() ? byName.get(m.recordName()) : null;
      if (named != null && !named.perTaskKey()) {
        // results tell models apart by ModelInfo.name: a per-task model's is its directory's name
        throw new IllegalArgumentException(InferenceOptions.MODEL_PREFIX + m.task().id() + "'s directory is named '"
            + named.name() + "', the name of a model of " + InferenceOptions.MODELS_PREFIX + named.name()
            + ".*: their results could not be told apart; rename one");
      }
    }
    for (ModelSpec m : models) {
      if (m.shadows() == null) {
        continue;
      }
      String key = InferenceOptions.MODELS_PREFIX + m.name() + ".shadows";
      ModelSpec primary = byName.get(m.shadows());
      if (primary == null) {
        throw new IllegalArgumentException(key + " names '" + m.shadows() + "', which is not declared");
      }
      if (primary == m) {
        throw new IllegalArgumentException(key + " names the model itself");
      }
      if (primary.task() != m.task()) {
        throw new IllegalArgumentException(key + ": '" + m.name() + "' runs " + m.task().id() + " but '"
            + primary.name() + "' runs " + primary.task().id() + "; a shadow runs its primary's task");
      }
      if (primary.isShadow()) {
        // no chains, so no cycles: every shadow's primary serves
        throw new IllegalArgumentException(key + " names '" + primary.name() + "', itself a shadow (of '"
            + primary.shadows() + "'): shadow the primary instead");
      }
    }
  }

  /** The models with Hub ids pinned to their commit; fails, naming the path, where a directory's files are missing. */
  private static List<ModelSpec> pinned(List<ModelSpec> models) {
    List<ModelSpec> pinned = new ArrayList<>(models.size());
    for (ModelSpec m : models) {
      if (ModelSource.isHubId(m.source())) {
        // checked against the Hub now and pinned to its commit: the same model on every TaskManager and restart
        pinned.add(m.withSource(ModelSource.pin(m.source())));
      } else {
        ModelDirectory.of(ModelPaths.resolve(Path.of(m.source()))); // fails here, naming the path, if files are missing
        pinned.add(m);
      }
    }
    return List.copyOf(pinned);
  }

  private void validate() {
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
    readModels(conf.toMap(), b);
    conf.getOptional(InferenceOptions.DEFAULT_MODELS).ifPresent(list -> b.defaultModels.addAll(names(list)));
    b.routingHeader = conf.getOptional(InferenceOptions.ROUTING_HEADER).map(String::trim).orElse(null);
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
        .build();
  }

  /**
   * The {@code inference.models.<name>.*} and {@code inference.routing.attribute.*} keys. Any other property under
   * a model's name is refused: a typo ({@code .pth}) would otherwise leave the model without its path silently.
   */
  static void readModels(Map<String, String> conf, Builder b) {
    Map<String, Map<String, String>> byName = new java.util.TreeMap<>();
    for (Map.Entry<String, String> e : new java.util.TreeMap<>(conf).entrySet()) {
      String key = e.getKey();
      if (key.startsWith(InferenceOptions.ROUTING_ATTRIBUTE_PREFIX)) {
        String rest = key.substring(InferenceOptions.ROUTING_ATTRIBUTE_PREFIX.length());
        int dot = rest.indexOf('.');
        if (dot <= 0 || dot == rest.length() - 1) {
          throw new IllegalArgumentException(key + ": expected " + InferenceOptions.ROUTING_ATTRIBUTE.key());
        }
        b.routeAttribute(rest.substring(0, dot), rest.substring(dot + 1),
            names(List.of(e.getValue())).toArray(String[]::new));
        continue;
      }
      if (!key.startsWith(InferenceOptions.MODELS_PREFIX) || key.equals(InferenceOptions.DEFAULT_MODELS.key())) {
        continue;
      }
      String rest = key.substring(InferenceOptions.MODELS_PREFIX.length());
      int dot = rest.indexOf('.');
      if (dot < 0) {
        throw new IllegalArgumentException(key + ": expected " + InferenceOptions.MODELS_PREFIX
            + "<name>.task, .path, .topic or .shadows");
      }
      String name = rest.substring(0, dot);
      ModelSpec.checkName(name);
      String property = rest.substring(dot + 1);
      if (!List.of("task", "path", "topic", "shadows").contains(property)) {
        throw new IllegalArgumentException(key + ": unknown property '" + property + "' of model '" + name
            + "' (task, path, topic, shadows)");
      }
      byName.computeIfAbsent(name, n -> new java.util.HashMap<>()).put(property, e.getValue().trim());
    }
    for (Map.Entry<String, Map<String, String>> m : byName.entrySet()) {
      String name = m.getKey();
      Map<String, String> p = m.getValue();
      for (String required : List.of("task", "path")) {
        if (p.get(required) == null || p.get(required).isEmpty()) {
          throw new IllegalArgumentException("model '" + name + "' has no " + InferenceOptions.MODELS_PREFIX + name
              + "." + required);
        }
      }
      Task task;
      try {
        task = Task.parse(p.get("task"));
      } catch (IllegalArgumentException ex) {
        throw new IllegalArgumentException(InferenceOptions.MODELS_PREFIX + name + ".task: " + ex.getMessage(), ex);
      }
      String shadows = p.get("shadows");
      b.model(new ModelSpec(name, task, ModelSource.absolute(p.get("path")), p.get("topic"),
          shadows == null || shadows.isEmpty() ? null : shadows, false));
    }
  }

  /** Model names from list items, each of which may itself be comma-separated; blanks dropped. */
  static List<String> names(List<String> items) {
    List<String> out = new ArrayList<>();
    for (String item : items) {
      for (String n : item.split(",")) {
        if (!n.isBlank()) {
          out.add(n.trim());
        }
      }
    }
    return out;
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

  /** Every model the job serves: the per-task keys' first (task order), then the named ones (name order). */
  public List<ModelSpec> models() { return models; }
  /** The model of that name, or null. */
  public ModelSpec model(String name) {
    for (ModelSpec m : models) {
      if (m.name().equals(name)) {
        return m;
      }
    }
    return null;
  }
  /** The tasks the models run, in task order. */
  public java.util.Set<Task> tasks() {
    java.util.EnumSet<Task> out = java.util.EnumSet.noneOf(Task.class);
    models.forEach(m -> out.add(m.task()));
    return out;
  }
  /** Which models an event runs: defaults, the routing header, attribute rules. */
  public ModelRouting routing() { return routing; }
  /** The distinct tasks of the default models, in the defaults' order. */
  public List<Task> defaultTasks() {
    List<Task> out = new ArrayList<>();
    for (String n : routing.defaults()) {
      Task t = model(n).task();
      if (!out.contains(t)) {
        out.add(t);
      }
    }
    return out;
  }
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

  /** Builds a spec in code; the same validation as {@link #fromConfiguration}. */
  public static final class Builder {
    private final EnumMap<Task, ModelSpec> perTask = new EnumMap<>(Task.class);
    private final java.util.TreeMap<String, ModelSpec> named = new java.util.TreeMap<>();
    private final List<Task> defaultTasks = new ArrayList<>();
    private final List<String> defaultModels = new ArrayList<>();
    private String routingHeader;
    private final Map<String, Map<String, List<String>>> attributeRules = new java.util.TreeMap<>();
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

    public Builder model(Task task, Path dir) { return model(task, dir.toAbsolutePath().toString()); }
    /**
     * A model directory, pointer file or Hugging Face Hub id ({@code ORG/NAME[@REVISION]}; an existing local path
     * wins), as {@code inference.model.<task>} takes it. Where a Hub id, {@link #build} pins it to its commit.
     */
    public Builder model(Task task, String pathOrHubId) {
      perTask.put(task, ModelSpec.perTask(task, ModelSource.absolute(pathOrHubId)));
      return this;
    }
    /** A named model ({@code inference.models.<name>.*}); its source as {@link #model(Task, String)} takes it. */
    public Builder model(ModelSpec m) {
      if (named.put(m.name(), m) != null) {
        throw new IllegalArgumentException("model '" + m.name() + "' is declared twice");
      }
      return this;
    }
    /** A named model on its default topic, shadowing nothing. */
    public Builder model(String name, Task task, Path dir) {
      return model(new ModelSpec(name, task, dir.toAbsolutePath().toString(), null, null, false));
    }
    /** The models for events that select none ({@code inference.models.default}). */
    public Builder defaultModels(String... names) { defaultModels.clear(); defaultModels.addAll(List.of(names)); return this; }
    /** {@code inference.routing.header}: the record header that lists an event's models; null = none. */
    public Builder routingHeader(String header) { this.routingHeader = header; return this; }
    /** {@code inference.routing.attribute.<attribute>.<value>=<models>}. */
    public Builder routeAttribute(String attribute, String value, String... models) {
      attributeRules.computeIfAbsent(attribute, a -> new java.util.TreeMap<>()).put(value, List.of(models));
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

    public InferenceSpec build() {
      return new InferenceSpec(this);
    }
  }
}
