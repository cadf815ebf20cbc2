package io.distilstream.runtime.pipeline;

import io.distilstream.runtime.batch.DynamicBatcher;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.runtime.graph.SafeTensors;
import io.distilstream.runtime.graph.Weights;
import io.distilstream.runtime.model.ModelConfig;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.ModelLoadException;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.tokenizer.Encoding;
import io.distilstream.runtime.tokenizer.WordPieceTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A task over one model, in the spirit of Hugging Face's {@code pipeline(task, model)}: one line to load, one call to
 * run a batch.
 *
 * <pre>{@code
 * try (var classifier = Pipeline.textClassification(Path.of("models/toxic"), PipelineOptions.defaults())) {
 *   List<List<LabelScore>> labels = classifier.run(List.of("you are great", "you are not"));
 * }
 * }</pre>
 *
 * <p>As in DJL's {@code Translator}, each task is three separate pieces: {@link #preprocess} turns an input into one
 * or more token windows, the shared model call runs the windows of the whole batch through the
 * {@link DynamicBatcher}, and {@link #postprocess} turns each input's window outputs into its result. Calls are
 * serialised: one pipeline owns one ONNX Runtime session and its buffers.
 *
 * @param <I> the input: text, or a {@link QuestionAnsweringPipeline.Question}
 * @param <O> the result of one input
 */
public abstract class Pipeline<I, O> implements AutoCloseable {
  protected final Task task;
  protected final ModelDirectory directory;
  protected final ModelConfig config;
  protected final WordPieceTokenizer tokenizer;
  protected final ModelSession session;
  protected final DynamicBatcher batcher;
  protected final PipelineOptions options;
  /** Longest window fed to the model, special tokens included. */
  protected final int maxLength;
  /** Set by {@link #close}; guarded by {@code this}, like every model call. */
  private boolean closed;
  /** Outputs of inputs seen before; null (the default) when every input runs through the model. */
  private ModelOutputCache.Scope cache;

  protected Pipeline(Task task, ModelDirectory directory, PipelineOptions options, int defaultMaxLength) {
    this.task = task;
    this.directory = directory;
    this.options = options;
    this.config = directory.readConfig();
    this.tokenizer = WordPieceTokenizer.shared(directory.path());
    int limit = config.maxPositionEmbeddings();
    int wanted = options.maxLength() > 0 ? options.maxLength() : defaultMaxLength;
    this.maxLength = wanted > 0 ? Math.min(wanted, limit) : limit;
    this.session = options.session().shareSession()
        ? ModelSession.shared(sessionKey(), modelFamily(), options.session().shareLinger(), this::openSession)
        : openSession();
    this.batcher = new DynamicBatcher(session, options.batching());
  }

  private ModelSession openSession() {
    return directory.needsBuild()
        ? ModelSession.open(GraphBuilder.build(config, GraphBuilder.Head.forTask(task.id(), config),
            Weights.of(SafeTensors.open(directory.safetensorsFile()))), directory.safetensorsFile(), options.session())
        : ModelSession.open(directory.onnxFile(), options.session());
  }

  /** The model file whatever its version, and the task: what a hot reload's old and new sessions have in common. */
  private String modelFamily() {
    java.nio.file.Path file = directory.needsBuild() ? directory.safetensorsFile() : directory.onnxFile();
    try {
      return file.toRealPath() + " " + task.id();
    } catch (java.io.IOException e) {
      throw new ModelLoadException(file, "a readable model file", e.toString());
    }
  }

  /**
   * What a shared session is shared by: the model file (its real path, size and modification time, so a file
   * replaced in place is another model, as the hot reloader sees it), the task (a graph built from safetensors has
   * the task's head) and every session option.
   */
  private String sessionKey() {
    java.nio.file.Path file = directory.needsBuild() ? directory.safetensorsFile() : directory.onnxFile();
    try {
      java.nio.file.Path real = file.toRealPath();
      return real + " " + java.nio.file.Files.size(real) + " " + java.nio.file.Files.getLastModifiedTime(real).toMillis()
          + " " + task.id() + " " + options.session().sessionKey();
    } catch (java.io.IOException e) {
      throw new ModelLoadException(file, "a readable model file", e.toString());
    }
  }

  // ---- factories -------------------------------------------------------------------------------------------

  public static TextClassificationPipeline textClassification(Path modelDir, PipelineOptions options) {
    return new TextClassificationPipeline(ModelDirectory.of(modelDir), options);
  }

  public static TokenClassificationPipeline tokenClassification(Path modelDir, PipelineOptions options) {
    return new TokenClassificationPipeline(ModelDirectory.of(modelDir), options);
  }

  public static QuestionAnsweringPipeline questionAnswering(Path modelDir, PipelineOptions options) {
    return new QuestionAnsweringPipeline(ModelDirectory.of(modelDir), options);
  }

  public static FeatureExtractionPipeline featureExtraction(Path modelDir, PipelineOptions options) {
    return new FeatureExtractionPipeline(ModelDirectory.of(modelDir), options);
  }

  public static FillMaskPipeline fillMask(Path modelDir, PipelineOptions options) {
    return new FillMaskPipeline(ModelDirectory.of(modelDir), options);
  }

  public static MultipleChoicePipeline multipleChoice(Path modelDir, PipelineOptions options) {
    return new MultipleChoicePipeline(ModelDirectory.of(modelDir), options);
  }

  public static ZeroShotClassificationPipeline zeroShotClassification(Path modelDir, PipelineOptions options) {
    return new ZeroShotClassificationPipeline(ModelDirectory.of(modelDir), options);
  }

  /** The pipeline for a task chosen at run time (CLI, operator configuration). */
  public static Pipeline<?, ?> create(Task task, ModelDirectory dir, PipelineOptions options) {
    return task.open(dir, options);
  }

  // ---- the three pieces ------------------------------------------------------------------------------------

  /** Tokenizes one input into the windows the model sees. Throws {@link InferenceException} for bad input. */
  protected abstract List<Encoding> preprocess(I input);

  /**
   * Turns the model's outputs for one input into its result.
   *
   * @param outputs {@code [window][output]}, un-padded, output order as in {@link ModelSession#outputNames()}
   */
  protected abstract O postprocess(I input, List<Encoding> windows, float[][][] outputs);

  // ---- running ---------------------------------------------------------------------------------------------

  /** Runs a batch; fails on the first input that has no result. */
  public List<O> run(List<I> inputs) {
    List<Outcome<O>> outcomes = runAll(inputs);
    List<O> out = new ArrayList<>(outcomes.size());
    for (Outcome<O> o : outcomes) {
      out.add(o.value());
    }
    return out;
  }

  public O run(I input) {
    return run(List.of(input)).get(0);
  }

  /**
   * Tokenizes one input: the first half of {@link #runAll}, safe to call from any thread (the tokenizer is
   * immutable), so a caller can count an input's tokens before it joins a batch.
   */
  public Prepared<I> prepare(I input) {
    try {
      return new Prepared<>(input, preprocess(input), null, null);
    } catch (InferenceException e) {
      return new Prepared<>(input, null, e.reason(), e.detail());
    } catch (RuntimeException | StackOverflowError | LinkageError e) {
      // one input's bad luck stays that input's outcome, whatever it threw. An OutOfMemoryError is not caught: every
      // input's cost is bounded before it is allocated, so one means the JVM is short, not that this input is bad
      String message = e instanceof IllegalArgumentException || e instanceof NullPointerException
          ? String.valueOf(e.getMessage()) : e.getClass().getSimpleName() + ": " + e.getMessage();
      return new Prepared<>(input, null, Outcome.Reason.INVALID_INPUT, message);
    }
  }

  /** Runs a batch; every input gets its own outcome, and one bad input fails only itself. */
  public List<Outcome<O>> runAll(List<? extends I> inputs) {
    List<Prepared<I>> prepared = new ArrayList<>(inputs.size());
    for (I input : inputs) {
      prepared.add(prepare(input));
    }
    return runPrepared(prepared);
  }

  /**
   * The model call and post-processing for inputs already {@link #prepare prepared}, in one batched run. With a
   * {@link #useCache cache}, inputs whose windows were seen before (or earlier in this batch) skip the model call.
   */
  public synchronized List<Outcome<O>> runPrepared(List<Prepared<I>> batch) {
    int n = batch.size();
    if (closed) {
      List<Outcome<O>> failed = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        failed.add(Outcome.failure(Outcome.Reason.MODEL_ERROR, "the pipeline is closed"));
      }
      return failed;
    }
    List<Outcome<O>> outcomes = new ArrayList<>(n);
    // per input: its windows' outputs [window][output], from the cache or the model call
    float[][][][] outputs = new float[n][][][];
    ModelOutputCache.Key[] keys = cache == null ? null : new ModelOutputCache.Key[n];
    // an input whose windows an earlier input of this batch has too: that input's index, else -1
    int[] repeatOf = new int[n];
    java.util.Arrays.fill(repeatOf, -1);
    java.util.Map<ModelOutputCache.Key, Integer> firstOfKey = cache == null ? null : new java.util.HashMap<>();
    List<Integer> toRun = new ArrayList<>(n);
    int hits = 0;
    for (int i = 0; i < n; i++) {
      Prepared<I> p = batch.get(i);
      outcomes.add(p.failed() ? Outcome.failure(p.reason, p.message) : null);
      if (p.failed()) {
        continue;
      }
      if (cache != null && (keys[i] = cache.key(p.windows)) != null) {
        Integer first = firstOfKey.putIfAbsent(keys[i], i);
        if (first != null) {
          repeatOf[i] = first;
          hits++;
          continue;
        }
        if ((outputs[i] = cache.get(keys[i])) != null) {
          hits++;
          continue;
        }
      }
      toRun.add(i);
    }
    if (cache != null) {
      cache.count(hits, toRun.size());
    }
    runModelFor(batch, toRun, keys, outputs, outcomes);
    for (int i = 0; i < n; i++) {
      int first = repeatOf[i];
      if (first >= 0) {
        // a copy: post-processing owns the arrays it is given
        outputs[i] = outputs[first] == null ? null : ModelOutputCache.copy(outputs[first]);
        if (outputs[first] == null) {
          outcomes.set(i, outcomes.get(first));
        }
      }
    }
    for (int i = 0; i < n; i++) {
      if (outputs[i] != null) {
        Prepared<I> p = batch.get(i);
        outcomes.set(i, finish(p.input, p.windows, outputs[i]));
      }
    }
    return outcomes;
  }

  /**
   * Runs the model over the windows of the inputs {@code toRun} in one call and keeps each input's outputs (and a
   * copy in the cache, before post-processing can touch them). If the call fails, retries them one by one so that
   * only an input that breaks the model fails.
   */
  private void runModelFor(List<Prepared<I>> batch, List<Integer> toRun, ModelOutputCache.Key[] keys,
      float[][][][] outputs, List<Outcome<O>> outcomes) {
    if (toRun.isEmpty()) {
      return;
    }
    List<Encoding> flat = new ArrayList<>();
    int[] windowsPerInput = new int[toRun.size()];
    for (int r = 0; r < toRun.size(); r++) {
      List<Encoding> windows = batch.get(toRun.get(r)).windows;
      flat.addAll(windows);
      windowsPerInput[r] = windows.size();
    }
    float[][][] out;
    try {
      out = runModel(flat, windowsPerInput);
    } catch (Exception | LinkageError e) {
      for (int i : toRun) {
        List<Encoding> windows = batch.get(i).windows;
        try {
          keep(i, slice(runModel(windows, new int[] {windows.size()}), 0, windows.size()), keys, outputs);
        } catch (Exception | LinkageError e2) {
          outcomes.set(i, Outcome.failure(Outcome.Reason.MODEL_ERROR, "inference failed: " + e2.getMessage()));
        }
      }
      return;
    }
    int next = 0;
    for (int i : toRun) {
      int count = batch.get(i).windows.size();
      keep(i, slice(out, next, count), keys, outputs);
      next += count;
    }
  }

  private void keep(int i, float[][][] inputOutputs, ModelOutputCache.Key[] keys, float[][][][] outputs) {
    outputs[i] = inputOutputs;
    if (keys != null && keys[i] != null) {
      cache.put(keys[i], inputOutputs);
    }
  }

  /**
   * The model call over the windows of a batch, {@code windowsPerInput} consecutive windows per input (0 for the
   * inputs that failed): {@code [output][window]}. The {@link DynamicBatcher} by default.
   */
  protected float[][][] runModel(List<Encoding> flat, int[] windowsPerInput) throws Exception {
    return batcher.run(flat, tokenRows());
  }

  /**
   * The token rows of per-token vector outputs that {@link #postprocess} reads; {@code null} (the default) keeps
   * every row. A task that reads a few rows of a wide output says which, so the rest is never copied.
   */
  protected ModelSession.TokenRows tokenRows() {
    return null;
  }

  /** An input after tokenization: its windows, or why it has none. */
  public static final class Prepared<I> {
    final I input;
    final List<Encoding> windows;
    final Outcome.Reason reason;
    final String message;

    Prepared(I input, List<Encoding> windows, Outcome.Reason reason, String message) {
      this.input = input;
      this.windows = windows;
      this.reason = reason;
      this.message = message;
    }

    public I input() { return input; }
    public boolean failed() { return windows == null; }
    public Outcome.Reason reason() { return reason; }
    public String message() { return message; }

    /** Tokens the model will see for this input (0 when it failed). */
    public int tokens() {
      int t = 0;
      if (windows != null) {
        for (Encoding e : windows) {
          t += e.length();
        }
      }
      return t;
    }
  }

  private Outcome<O> finish(I input, List<Encoding> windows, float[][][] outputs) {
    try {
      return Outcome.success(postprocess(input, windows, outputs));
    } catch (InferenceException e) {
      return Outcome.failure(e.reason(), e.detail());
    } catch (RuntimeException e) {
      return Outcome.failure(Outcome.Reason.MODEL_ERROR, "post-processing failed: " + e);
    }
  }

  /** {@code [output][i]} over the flat batch to {@code [window][output]} for one input's windows. */
  private static float[][][] slice(float[][][] out, int from, int count) {
    float[][][] s = new float[count][out.length][];
    for (int w = 0; w < count; w++) {
      for (int o = 0; o < out.length; o++) {
        s[w][o] = out[o][from + w];
      }
    }
    return s;
  }

  /**
   * Serves repeated inputs from a {@link ModelOutputCache} of this JVM: inputs whose token windows were run before
   * by a pipeline of the same model (content hash), task and session options skip the model call. The pipeline owns
   * the scope from here and closes it when it closes, which drops the scope's entries once no other pipeline uses it
   * (a hot reload's old model). Call before the first batch.
   *
   * @param modelHash the model files' content hash ({@link ModelDirectory#contentHash()}), which the caller has
   */
  public synchronized void useCache(ModelOutputCache.Bounds bounds, String modelHash,
      ModelOutputCache.Listener listener) {
    if (cache != null || closed) {
      throw new IllegalStateException(closed ? "the pipeline is closed" : "the pipeline has a cache already");
    }
    SessionOptionsKey key = new SessionOptionsKey(options);
    cache = ModelOutputCache.open(bounds, modelHash + " " + task.id() + " " + getClass().getSimpleName() + " " + key,
        listener);
  }

  /** This pipeline's scope of the output cache, or null when it has none. */
  public synchronized ModelOutputCache.Scope cache() {
    return cache;
  }

  /**
   * The session options that can change the model's outputs for given tokens; thread counts are left out, since
   * results must not depend on them (and slots with different shares of the cores should share entries).
   */
  private record SessionOptionsKey(String device, String optimization, boolean int8Rewrite,
      boolean batchDependent) {
    SessionOptionsKey(PipelineOptions o) {
      this(o.session().device() + ":" + o.session().deviceId() + (o.session().cudaFallbackToCpu() ? "/cpu" : ""),
          o.session().optimizationLevel(), o.session().int8Rewrite(), o.session().allowBatchDependentResults());
    }
  }

  // ---- helpers for the tasks -------------------------------------------------------------------------------

  /** Requires an output of the given name and shape; the message names the file, the expectation and the find. */
  protected final int requireOutput(String name, ModelSession.OutputShape shape, int width) {
    int idx = session.outputNames().indexOf(name);
    if (idx < 0 || session.outputShape(idx) != shape || (width > 0 && session.outputWidth(idx) != width)) {
      String found = idx < 0 ? "outputs " + session.outputNames()
          : "'" + name + "' " + session.outputShape(idx) + " of width " + session.outputWidth(idx);
      throw new ModelLoadException(directory.onnxFile(), "for " + task + ": output '" + name + "' " + shape
          + (width > 0 ? " of width " + width + " (id2label in config.json)" : ""), found);
    }
    return idx;
  }

  /** Closes the session if a subclass constructor's checks fail. */
  protected final ModelLoadException closeAndFail(ModelLoadException e) {
    session.close();
    return e;
  }

  /** One window of the text: truncated to {@link #maxLength}, or rejected when the options say not to truncate. */
  protected final Encoding encodeOneWindow(String text) {
    requireText(text, "text");
    if (options.truncate()) {
      return tokenizer.encode(text, maxLength);
    }
    Encoding e = tokenizer.encode(text, 0);
    if (e.length() > maxLength) {
      throw new InferenceException(Outcome.Reason.TEXT_TOO_LONG,
          "text has " + e.length() + " tokens, over the model's window of " + maxLength);
    }
    return e;
  }

  protected static String requireText(String text, String what) {
    if (text == null) {
      throw new InferenceException(Outcome.Reason.INVALID_INPUT, what + " is null");
    }
    return text;
  }

  public Task task() { return task; }
  public ModelDirectory directory() { return directory; }
  public ModelConfig config() { return config; }
  public WordPieceTokenizer tokenizer() { return tokenizer; }
  public ModelSession session() { return session; }
  public PipelineOptions options() { return options; }
  public int maxLength() { return maxLength; }

  /**
   * Frees the session. Waits for a batch that is running on another thread (model calls hold this pipeline's
   * monitor), so the native session is never closed under one; batches after it fail with MODEL_ERROR.
   */
  @Override
  public synchronized void close() {
    if (!closed) {
      closed = true;
      try {
        session.close();
      } finally {
        if (cache != null) {
          cache.close();
        }
      }
    }
  }
}
