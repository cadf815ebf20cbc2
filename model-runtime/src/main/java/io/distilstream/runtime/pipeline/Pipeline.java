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

  protected Pipeline(Task task, ModelDirectory directory, PipelineOptions options, int defaultMaxLength) {
    this.task = task;
    this.directory = directory;
    this.options = options;
    this.config = directory.readConfig();
    this.tokenizer = WordPieceTokenizer.fromDirectory(directory.path());
    int limit = config.maxPositionEmbeddings();
    int wanted = options.maxLength() > 0 ? options.maxLength() : defaultMaxLength;
    this.maxLength = wanted > 0 ? Math.min(wanted, limit) : limit;
    this.session = directory.needsBuild()
        ? ModelSession.open(GraphBuilder.build(config, GraphBuilder.Head.forTask(task.id(), config),
            Weights.of(SafeTensors.open(directory.safetensorsFile()))), directory.safetensorsFile(), options.session())
        : ModelSession.open(directory.onnxFile(), options.session());
    this.batcher = new DynamicBatcher(session, options.batching());
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

  /** The model call and post-processing for inputs already {@link #prepare prepared}, in one batched run. */
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
    List<Encoding> flat = new ArrayList<>();
    for (Prepared<I> p : batch) {
      outcomes.add(p.failed() ? Outcome.failure(p.reason, p.message) : null);
      if (!p.failed()) {
        flat.addAll(p.windows);
      }
    }
    int[] windowsPerInput = new int[n];
    for (int i = 0; i < n; i++) {
      windowsPerInput[i] = batch.get(i).failed() ? 0 : batch.get(i).windows.size();
    }
    float[][][] out;
    try {
      out = runModel(flat, windowsPerInput);
    } catch (Exception | LinkageError e) {
      // A batch failed: retry its inputs one by one so that only an input that breaks the model fails.
      return runOneByOne(batch, outcomes);
    }
    int next = 0;
    for (int i = 0; i < n; i++) {
      Prepared<I> p = batch.get(i);
      if (p.failed()) {
        continue;
      }
      outcomes.set(i, finish(p.input, p.windows, slice(out, next, p.windows.size())));
      next += p.windows.size();
    }
    return outcomes;
  }

  private List<Outcome<O>> runOneByOne(List<Prepared<I>> batch, List<Outcome<O>> outcomes) {
    for (int i = 0; i < batch.size(); i++) {
      Prepared<I> p = batch.get(i);
      if (p.failed()) {
        continue;
      }
      try {
        outcomes.set(i, finish(p.input, p.windows,
            slice(runModel(p.windows, new int[] {p.windows.size()}), 0, p.windows.size())));
      } catch (Exception | LinkageError e) {
        outcomes.set(i, Outcome.failure(Outcome.Reason.MODEL_ERROR, "inference failed: " + e.getMessage()));
      }
    }
    return outcomes;
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
      session.close();
    }
  }
}
