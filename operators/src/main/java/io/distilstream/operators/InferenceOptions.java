package io.distilstream.operators;

import java.time.Duration;
import java.util.List;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.MemorySize;

/**
 * The inference operator's options, as Flink {@link ConfigOption}s: set them in a job's configuration, a properties
 * file or on the command line. {@link InferenceSpec#fromConfiguration} reads and validates them.
 */
public final class InferenceOptions {
  private InferenceOptions() {}

  public static final String MODEL_PREFIX = "inference.model.";

  public static final ConfigOption<String> MODEL_TEXT_CLASSIFICATION = model("text-classification");
  public static final ConfigOption<String> MODEL_TOKEN_CLASSIFICATION = model("token-classification");
  public static final ConfigOption<String> MODEL_QUESTION_ANSWERING = model("question-answering");
  public static final ConfigOption<String> MODEL_FEATURE_EXTRACTION = model("feature-extraction");
  public static final ConfigOption<String> MODEL_FILL_MASK = model("fill-mask");
  public static final ConfigOption<String> MODEL_MULTIPLE_CHOICE = model("multiple-choice");
  public static final ConfigOption<String> MODEL_ZERO_SHOT_CLASSIFICATION = model("zero-shot-classification");

  public static final ConfigOption<List<String>> DEFAULT_TASKS = ConfigOptions.key("inference.default-tasks")
      .stringType().asList().noDefaultValue()
      .withDescription("Tasks for events that name none; default: every task with a model.");

  // ---- named models and routing (docs/job.md, "Several models") ----

  /** Prefix of the named models' keys: {@code inference.models.<name>.<property>}. */
  public static final String MODELS_PREFIX = "inference.models.";
  /** Most models one job declares, per-task keys included: each is a pipeline and a batcher thread per subtask. */
  public static final int MAX_MODELS = 32;

  /** Documents the key pattern; read by {@link InferenceSpec#fromConfiguration} for every {@code <name>}. */
  public static final ConfigOption<String> NAMED_MODEL_TASK = ConfigOptions.key(MODELS_PREFIX + "<name>.task")
      .stringType().noDefaultValue()
      .withDescription("The task of the model <name> (text-classification, token-classification, ...). Declares"
          + " the model: a name is [a-z0-9][a-z0-9-_]{0,63}, at most " + MAX_MODELS + " models per job. Each"
          + " inference.model.<task> key declares one more, named after its task.");

  /** Documents the key pattern (see {@link #NAMED_MODEL_TASK}). */
  public static final ConfigOption<String> NAMED_MODEL_PATH = ConfigOptions.key(MODELS_PREFIX + "<name>.path")
      .stringType().noDefaultValue()
      .withDescription("The model <name>'s directory, pointer file or Hugging Face Hub id, as"
          + " inference.model.<task> takes it (Hub ids pinned to their commit at submission; hot reload per model).");

  /** Documents the key pattern (see {@link #NAMED_MODEL_TASK}). */
  public static final ConfigOption<String> NAMED_MODEL_TOPIC = ConfigOptions.key(MODELS_PREFIX + "<name>.topic")
      .stringType().noDefaultValue()
      .withDescription("The topic of the model <name>'s results; default <the task's topic>-<name> (e.g."
          + " text-labels-toxicity). Set it to the task's topic to share it: every result of a named model carries"
          + " the model's name in model.name. A shadow's default is <its primary's topic>-shadow, and a shadow may"
          + " not write to a topic a model that is no shadow writes.");

  /** Documents the key pattern (see {@link #NAMED_MODEL_TASK}). */
  public static final ConfigOption<String> NAMED_MODEL_SHADOWS = ConfigOptions.key(MODELS_PREFIX + "<name>.shadows")
      .stringType().noDefaultValue()
      .withDescription("The name of another model of the same task that the model <name> shadows: it runs on"
          + " the events its primary runs on, its results never go to the primary's consumers. The primary is no"
          + " shadow itself.");

  public static final ConfigOption<List<String>> DEFAULT_MODELS = ConfigOptions.key(MODELS_PREFIX + "default")
      .stringType().asList().noDefaultValue()
      .withDescription("Models for events that select none (no models, no matching routing rule, no tasks);"
          + " default: every model that is no shadow (of inference.default-tasks' tasks, where that is set)."
          + " Separated by ';' or ','.");

  public static final ConfigOption<String> ROUTING_HEADER = ConfigOptions.key("inference.routing.header")
      .stringType().noDefaultValue()
      .withDescription("A Kafka record header whose value (UTF-8) is a comma-separated list of model names: an"
          + " event whose own models list is empty runs those. Unset: headers are not read.");

  /** Prefix of the attribute rules: {@code inference.routing.attribute.<attribute>.<value>=<model>,...}. */
  public static final String ROUTING_ATTRIBUTE_PREFIX = "inference.routing.attribute.";

  /** Documents the key pattern; read by {@link InferenceSpec#fromConfiguration} for every attribute and value. */
  public static final ConfigOption<String> ROUTING_ATTRIBUTE =
      ConfigOptions.key(ROUTING_ATTRIBUTE_PREFIX + "<attribute>.<value>").stringType().noDefaultValue()
      .withDescription("Comma-separated model names for events that name no models and whose attribute"
          + " <attribute> is <value> (e.g. inference.routing.attribute.lang.de=toxicity-de). The attribute is up to"
          + " the first '.', the value the rest; where several attributes match, the first attribute in name order"
          + " decides.");

  public static final ConfigOption<Integer> MAX_BATCH_SIZE = ConfigOptions.key("inference.max-batch-size")
      .intType().defaultValue(32)
      .withDescription("A batch is run as soon as it holds this many requests.");

  public static final ConfigOption<Integer> MAX_TOKENS = ConfigOptions.key("inference.max-tokens")
      .intType().defaultValue(4096)
      .withDescription("A batch is run as soon as its requests hold this many tokens; a model call pads to at"
          + " most this many tokens (rows x longest row).");

  public static final ConfigOption<Double> MAX_PADDING_RATIO = ConfigOptions.key("inference.max-padding-ratio")
      .doubleType().defaultValue(io.distilstream.runtime.batch.BatchingOptions.DEFAULT_MAX_PADDING_RATIO)
      .withDescription("A batch is split into length groups so that padded tokens stay within this multiple of"
          + " the real ones. On a CPU small groups cost nothing and padding costs a token each; raise it on a GPU.");

  public static final ConfigOption<Duration> MAX_WAIT = ConfigOptions.key("inference.max-wait")
      .durationType().defaultValue(Duration.ofMillis(5))
      .withDescription("Longest time a request waits for its batch to fill.");

  public static final ConfigOption<Integer> CAPACITY = ConfigOptions.key("inference.capacity")
      .intType().defaultValue(256)
      .withDescription("Requests in flight per subtask; beyond it the operator back-pressures. Must be at least"
          + " max-batch-size or batches can never fill. Also the bound of each task's batcher queue.");

  public static final ConfigOption<Duration> TIMEOUT = ConfigOptions.key("inference.timeout")
      .durationType().defaultValue(Duration.ofSeconds(60))
      .withDescription("A request with no result after this long becomes a TIMEOUT dead letter, and its"
          + " model requests that have not run yet are cancelled. Keep it well above max-wait.");

  public static final ConfigOption<Boolean> ORDERED = ConfigOptions.key("inference.ordered")
      .booleanType().defaultValue(false)
      .withDescription("Emit results in input order (AsyncDataStream.orderedWait) instead of as they complete.");

  public static final ConfigOption<Integer> RETRY_ATTEMPTS = ConfigOptions.key("inference.retry.max-attempts")
      .intType().defaultValue(0)
      .withDescription("Retries of an event whose inference failed (MODEL_ERROR) before it is dead-lettered"
          + " (Flink's AsyncRetryStrategy).");

  public static final ConfigOption<Duration> RETRY_DELAY = ConfigOptions.key("inference.retry.delay")
      .durationType().defaultValue(Duration.ofMillis(100))
      .withDescription("Delay between retries (inference.retry.max-attempts).");

  public static final ConfigOption<String> DEVICE = ConfigOptions.key("inference.device")
      .stringType().defaultValue("cpu")
      .withDescription("ONNX Runtime execution provider: cpu or cuda (cuda needs a build with"
          + " -Pgpu).");

  public static final ConfigOption<Integer> INTRA_OP_THREADS = ConfigOptions.key("inference.intra-op-threads")
      .intType().defaultValue(0)
      .withDescription("ONNX Runtime threads per subtask; 0 = cores / subtasks, so slots do not fight over cores.");

  public static final ConfigOption<String> THREAD_POOL = ConfigOptions.key("inference.thread-pool")
      .stringType().defaultValue("per-session")
      .withDescription("per-session: every model of every subtask runs on ONNX Runtime threads of its own"
          + " (inference.intra-op-threads each). task-manager: all of them share one intra-op pool per TaskManager"
          + " (ONNX Runtime's global thread pool, sized by inference.task-manager-threads), so a lone long text uses"
          + " every idle core and several busy tasks never oversubscribe them. The pool is created once per JVM,"
          + " with the first model: its size cannot change afterwards.");

  public static final ConfigOption<Integer> TASK_MANAGER_THREADS = ConfigOptions.key("inference.task-manager-threads")
      .intType().defaultValue(0)
      .withDescription("The TaskManager's inference threads: with inference.thread-pool=task-manager the size of"
          + " its shared pool, with inference.scheduling=fair or fifo the size of its thread budget;"
          + " 0 = the available processors.");

  public static final ConfigOption<String> SCHEDULING = ConfigOptions.key("inference.scheduling")
      .stringType().defaultValue("none")
      .withDescription("none: every model's micro-batcher runs a batch as soon as it has one. fair: the batchers of"
          + " all models and slots of a TaskManager share one thread budget (inference.task-manager-threads); a"
          + " batch takes its session's threads from it (1 on the shared pool) and gives them back after, and when"
          + " threads free up the model that has used the least run time lately goes first, so a slow model does"
          + " not starve the others. fifo: the same budget, batches in the order they asked.");

  public static final ConfigOption<Boolean> SHARE_SESSIONS = ConfigOptions.key("inference.share-sessions")
      .booleanType().defaultValue(false)
      .withDescription("Share one ONNX Runtime session per model between the slots of a TaskManager (one copy of"
          + " the weights instead of one per slot; ONNX Runtime runs a session from several threads at once). The"
          + " session closes with the last slot that uses it; a hot reload opens the new model's beside it. Weights"
          + " live outside the JVM heap: size taskmanager.memory.task.off-heap.size for them (docs/job.md).");

  public static final ConfigOption<Duration> SESSION_LINGER = ConfigOptions.key("inference.session-linger")
      .durationType().defaultValue(Duration.ofMinutes(1))
      .withDescription("With inference.share-sessions: how long a TaskManager keeps a model's session open after the"
          + " last slot using it closed, so that the job's tasks restarted in it (after a failure or a rescale) take"
          + " the session over instead of loading the model again, most of a task's start-up. 0 closes it with its"
          + " last slot. A hot reload closes the old model's at once; the job leaving the TaskManager closes the"
          + " rest (its class loader's release hook).");

  public static final ConfigOption<Integer> MAX_TEXT_CHARS = ConfigOptions.key("inference.max-text-chars")
      .intType().defaultValue(100_000)
      .withDescription("Longer texts (or contexts) are dead-lettered as TEXT_TOO_LONG before tokenization.");

  public static final ConfigOption<String> LONG_TEXT = ConfigOptions.key("inference.long-text")
      .stringType().noDefaultValue()
      .withDescription("Texts longer than the model's window: truncate (the default for text-classification and"
          + " feature-extraction), reject (TEXT_TOO_LONG dead letter) or chunk (the default for token-classification:"
          + " windows sharing inference.stride tokens, spans merged; text-classification pools the windows' scores,"
          + " inference.window-pool). Question answering always uses windows.");

  public static final ConfigOption<String> WINDOW_POOL = ConfigOptions.key("inference.window-pool")
      .stringType().defaultValue("mean")
      .withDescription("text-classification with inference.long-text = chunk: mean or max of the windows'"
          + " scores, label by label.");

  public static final ConfigOption<Integer> MAX_LENGTH = ConfigOptions.key("inference.max-length")
      .intType().defaultValue(0)
      .withDescription("Longest window in tokens; 0 = the model's own (384 for question-answering).");

  public static final ConfigOption<Integer> TOP_K = ConfigOptions.key("inference.top-k")
      .intType().defaultValue(-1)
      .withDescription("text-classification labels per event (0 = all; -1, the default: 1, all for"
          + " multi-label models); question-answering answers per event (default 1); fill-mask candidates"
          + " per mask (default 5).");

  public static final ConfigOption<String> AGGREGATION = ConfigOptions.key("inference.aggregation")
      .stringType().defaultValue("simple")
      .withDescription("token-classification aggregation: none, simple, first, average or max.");

  public static final ConfigOption<Integer> STRIDE = ConfigOptions.key("inference.stride")
      .intType().defaultValue(16)
      .withDescription("token-classification (and chunked text-classification): tokens shared by consecutive"
          + " windows of a long text.");

  public static final ConfigOption<Integer> DOC_STRIDE = ConfigOptions.key("inference.doc-stride")
      .intType().defaultValue(128)
      .withDescription("question-answering: tokens shared by consecutive context windows.");

  public static final ConfigOption<Integer> MAX_ANSWER_LEN = ConfigOptions.key("inference.max-answer-len")
      .intType().defaultValue(15)
      .withDescription("question-answering: longest answer in tokens.");

  public static final ConfigOption<Duration> MODEL_RELOAD_INTERVAL =
      ConfigOptions.key("inference.model-reload-interval").durationType().noDefaultValue()
      .withDescription("Hot reload: how often each subtask looks for a changed model directory (a symlink swapped"
          + " to a new directory, files replaced). Off when unset. A new model is loaded beside the old one and"
          + " switched to between batches; one that fails to load leaves the old one serving and is reported"
          + " (log, modelReloadFailures metric, MODEL_RELOAD_FAILED dead letter).");

  // ---- cost bounds: every dimension of an event is bounded before anything proportional to it is allocated ----

  public static final ConfigOption<Integer> MAX_MASKS = ConfigOptions.key("inference.max-masks")
      .intType().defaultValue(io.distilstream.runtime.pipeline.PipelineOptions.DEFAULT_MAX_MASKS)
      .withDescription("fill-mask: most mask tokens in one text (within the model's window); more is a"
          + " LIMIT_EXCEEDED dead letter. Each mask costs a softmax over the vocabulary and top-k decoded texts.");

  public static final ConfigOption<Integer> MAX_CHOICES = ConfigOptions.key("inference.max-choices")
      .intType().defaultValue(io.distilstream.runtime.pipeline.PipelineOptions.DEFAULT_MAX_CHOICES)
      .withDescription("multiple-choice: most choices in one event; more is a LIMIT_EXCEEDED dead letter, checked"
          + " before tokenizing. Each choice is a sequence of up to a window through the model.");

  public static final ConfigOption<Integer> MAX_CANDIDATE_LABELS = ConfigOptions.key("inference.max-candidate-labels")
      .intType().defaultValue(io.distilstream.runtime.pipeline.PipelineOptions.DEFAULT_MAX_CANDIDATE_LABELS)
      .withDescription("zero-shot-classification: most candidate labels for one event; more is a LIMIT_EXCEEDED"
          + " dead letter, checked before tokenizing. Each label is a sequence of up to a window through the model.");

  public static final ConfigOption<List<String>> ZERO_SHOT_CANDIDATE_LABELS =
      ConfigOptions.key("inference.zero-shot.candidate-labels").stringType().asList().noDefaultValue()
      .withDescription("zero-shot-classification: the labels of an event that brings no candidate_labels of its"
          + " own. Unset: such an event is an INVALID_INPUT dead letter (and zero-shot is no default task for it).");

  public static final ConfigOption<String> ZERO_SHOT_HYPOTHESIS_TEMPLATE =
      ConfigOptions.key("inference.zero-shot.hypothesis-template").stringType()
      .defaultValue(io.distilstream.runtime.pipeline.PipelineOptions.DEFAULT_HYPOTHESIS_TEMPLATE)
      .withDescription("zero-shot-classification: the hypothesis each label becomes, {} standing for the label;"
          + " an event's hypothesis_template overrides it.");

  public static final ConfigOption<Boolean> ZERO_SHOT_MULTI_LABEL =
      ConfigOptions.key("inference.zero-shot.multi-label").booleanType().defaultValue(false)
      .withDescription("zero-shot-classification: score each label on its own (entailment against contradiction)"
          + " instead of a softmax across the labels; an event's multi_label overrides it.");

  public static final ConfigOption<Integer> MAX_ID_CHARS = ConfigOptions.key("inference.max-id-chars")
      .intType().defaultValue(1024)
      .withDescription("Longest event id and key; longer is a LIMIT_EXCEEDED dead letter (carrying the id cut to"
          + " this length). Both are copied into every result.");

  public static final ConfigOption<Integer> MAX_ATTRIBUTES_BYTES = ConfigOptions.key("inference.max-attributes-bytes")
      .intType().defaultValue(16 * 1024)
      .withDescription("Most UTF-8 bytes of an event's attributes, keys and values together; more is a"
          + " LIMIT_EXCEEDED dead letter. Attributes are copied into every result.");

  public static final ConfigOption<Integer> MAX_RESULT_BYTES = ConfigOptions.key("inference.max-result-bytes")
      .intType().defaultValue(1024 * 1024 - 1024)
      .withDescription("Largest result, encoded (value and key); a larger one becomes a RESULT_TOO_LARGE dead"
          + " letter instead of failing the sink on every replay. Keep it under the producers' max.request.size"
          + " (the Kafka job derives it from kafka.max.request.size when it is unset).");

  public static final ConfigOption<Boolean> INT8_REWRITE = ConfigOptions.key("inference.int8-rewrite")
      .booleanType().defaultValue(false)
      .withDescription("A per-tensor dynamic int8 graph (Optimum's or Xenova's model_quantized.onnx): rewrite its"
          + " DynamicQuantizeLinear activations into per-row quantization when it loads, so it batches without its"
          + " results depending on batch neighbours (they move by about 1-3% cosine from the published graph's)."
          + " Off: such a graph runs one sequence per model call. Graphs built by build-model are per-row already.");

  public static final ConfigOption<Boolean> ALLOW_BATCH_DEPENDENT_RESULTS =
      ConfigOptions.key("inference.allow-batch-dependent-results").booleanType().defaultValue(false)
      .withDescription("Batch a graph whose results depend on what shares its batch (per-tensor int8 not"
          + " rewritten) anyway: faster, but an event can be labelled differently on replay. Off by default.");

  // ---- the output cache for repeated inputs ----

  public static final ConfigOption<Boolean> CACHE_ENABLED = ConfigOptions.key("inference.cache.enabled")
      .booleanType().defaultValue(false)
      .withDescription("Serve repeated inputs (retweets, spam, copy-paste) from a cache of model outputs, one per"
          + " TaskManager, shared by its slots: an input whose token ids a slot of the same TaskManager has run"
          + " through the same model (content hash), task and session options skips the model call; post-processing"
          + " still runs on its own text and options, so results are the same as without the cache. A hot reload"
          + " drops the old model's entries. Metrics: cacheHits, cacheMisses, cacheEvictions.");

  public static final ConfigOption<Integer> CACHE_MAX_ENTRIES = ConfigOptions.key("inference.cache.max-entries")
      .intType().defaultValue(10_000)
      .withDescription("Most inputs the TaskManager's cache holds; the least recently used goes first.");

  public static final ConfigOption<MemorySize> CACHE_MAX_BYTES = ConfigOptions.key("inference.cache.max-bytes")
      .memoryType().defaultValue(MemorySize.parse("64mb"))
      .withDescription("Most bytes (estimated: token ids and model outputs) the TaskManager's cache holds, on the"
          + " JVM heap; the least recently used goes first. An input whose entry would pass a sixteenth of it is"
          + " not cached (decided from its token count before anything is allocated).");

  /** The options above that {@link PipelineOptionKeys#applyTo} reads. */
  public static final PipelineOptionKeys PIPELINE_KEYS = new PipelineOptionKeys(DEVICE, INTRA_OP_THREADS,
      MAX_BATCH_SIZE, MAX_TOKENS, MAX_PADDING_RATIO, MAX_LENGTH, TOP_K, AGGREGATION, STRIDE, DOC_STRIDE,
      MAX_ANSWER_LEN, MAX_MASKS, MAX_CHOICES, MAX_CANDIDATE_LABELS, ZERO_SHOT_CANDIDATE_LABELS,
      ZERO_SHOT_HYPOTHESIS_TEMPLATE, ZERO_SHOT_MULTI_LABEL, INT8_REWRITE, ALLOW_BATCH_DEPENDENT_RESULTS);

  private static ConfigOption<String> model(String task) {
    return ConfigOptions.key(MODEL_PREFIX + task).stringType().noDefaultValue()
        .withDescription("Model directory for " + task + (task.startsWith("zero-shot") ? " (an NLI model)" : "")
            + ": config.json, tokenizer.json or vocab.txt, model.onnx (or model.safetensors); a symlink or a"
            + " pointer file for hot reload. Or a Hugging Face Hub id, ORG/NAME[@REVISION] (an existing local path"
            + " wins): checked and pinned to its commit when the job is submitted, fetched by each TaskManager into"
            + " its Hugging Face cache (HF_HOME).");
  }
}
