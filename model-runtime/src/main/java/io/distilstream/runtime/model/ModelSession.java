package io.distilstream.runtime.model;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import io.distilstream.runtime.graph.PerRowQuantization;
import io.distilstream.runtime.tokenizer.Encoding;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One ONNX Runtime session over an encoder with Optimum's input names ({@code input_ids}, {@code attention_mask},
 * optionally {@code token_type_ids}). {@link #run} pads one batch on the right to its own longest member and hands
 * back every output un-padded, one {@code float[]} per sequence.
 *
 * <p>Not thread-safe by design: one session belongs to one runtime (one Flink slot), and the input buffers are
 * reused across calls so the hot path allocates only the output arrays.
 */
public final class ModelSession implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ModelSession.class);

  static final String INPUT_IDS = "input_ids";
  static final String ATTENTION_MASK = "attention_mask";
  static final String TOKEN_TYPE_IDS = "token_type_ids";

  /** How one output's values relate to the sequence. */
  public enum OutputShape {
    /** {@code [batch, n]}: one vector per sequence (classification logits, pooled output). */
    PER_SEQUENCE,
    /** {@code [batch, seq]}: one value per token (QA start/end logits). */
    PER_TOKEN_SCALAR,
    /** {@code [batch, seq, n]}: one vector per token (token-classification logits, hidden states). */
    PER_TOKEN_VECTOR
  }

  /**
   * What to do with a graph whose results depend on batch composition (per-tensor dynamic int8, as Optimum and
   * ORT's {@code quantize_dynamic} write it).
   */
  public static final class Int8Policy {
    /** Rewrite per-tensor dynamic quantization into the per-row form at load ({@link PerRowQuantization}). */
    public final boolean rewrite;
    /** Batch a graph that stays batch-dependent anyway, instead of running each sequence alone. */
    public final boolean allowBatchDependentResults;

    public Int8Policy(boolean rewrite, boolean allowBatchDependentResults) {
      this.rewrite = rewrite;
      this.allowBatchDependentResults = allowBatchDependentResults;
    }

    /**
     * Rewrite off, batch-dependent batching off: a per-tensor graph runs each sequence alone, exactly as the
     * publisher's graph gives it (the rewrite changes results by about 1% cosine on all-MiniLM-L6-v2, so it is asked
     * for, not imposed). {@link SessionOptions#int8Rewrite} and {@link SessionOptions#allowBatchDependentResults}
     * ({@code inference.int8-rewrite}, {@code inference.allow-batch-dependent-results}) set them.
     */
    public static Int8Policy defaults() {
      return new Int8Policy(false, false);
    }

    /** The graph as it is, batched: results depend on what shares a batch (the behaviour before issue 17). */
    public static Int8Policy asIsBatched() {
      return new Int8Policy(false, true);
    }
  }

  private final OrtEnvironment env;
  private final OrtSession session;
  private final Path modelFile;
  private final Device device;
  private final boolean int32Inputs;
  private final boolean hasTokenTypes;
  /** Inputs {@code [batch, num_choices, seq]} (a multiple-choice export): run with {@link #runChoices}. */
  private final boolean choiceInputs;
  private final List<String> outputNames;
  private final OutputShape[] outputShapes;
  private final int[] outputWidths;
  /** False: a sequence's outputs depend on what else is in its batch. */
  private final boolean batchInvariant;
  /** Run every sequence alone: the graph is batch-dependent and batching it was not allowed. */
  private final boolean perSequence;
  private final String int8Path;

  /**
   * Input buffers, one set per calling thread: ONNX Runtime's {@code run} is thread-safe, and a session shared by the
   * slots of a TaskManager ({@link #shared}) is run by each slot's batcher thread at once.
   */
  private final ThreadLocal<Buffers> buffers = ThreadLocal.withInitial(Buffers::new);

  private static final class Buffers {
    ByteBuffer ids = allocate(0);
    ByteBuffer mask = allocate(0);
    ByteBuffer types = allocate(0);
  }

  private ModelSession(OrtEnvironment env, OrtSession session, Path modelFile, Device device, Loaded loaded)
      throws OrtException {
    this.batchInvariant = loaded.batchInvariant;
    this.perSequence = loaded.perSequence;
    this.int8Path = loaded.path;
    this.env = env;
    this.session = session;
    this.modelFile = modelFile;
    this.device = device;
    Map<String, NodeInfo> inputs = session.getInputInfo();
    for (String required : new String[] {INPUT_IDS, ATTENTION_MASK}) {
      if (!inputs.containsKey(required)) {
        throw new ModelLoadException(modelFile, "model inputs input_ids and attention_mask (Optimum's names)",
            "inputs " + inputs.keySet());
      }
    }
    this.hasTokenTypes = inputs.containsKey(TOKEN_TYPE_IDS);
    for (String name : inputs.keySet()) {
      if (!name.equals(INPUT_IDS) && !name.equals(ATTENTION_MASK) && !name.equals(TOKEN_TYPE_IDS)) {
        throw new ModelLoadException(modelFile, "only inputs input_ids, attention_mask, token_type_ids",
            "an extra input '" + name + "'");
      }
    }
    OnnxJavaType idType = ((TensorInfo) inputs.get(INPUT_IDS).getInfo()).type;
    if (idType != OnnxJavaType.INT64 && idType != OnnxJavaType.INT32) {
      throw new ModelLoadException(modelFile, "int64 or int32 input_ids", idType.toString());
    }
    this.int32Inputs = idType == OnnxJavaType.INT32;
    this.choiceInputs = ((TensorInfo) inputs.get(INPUT_IDS).getInfo()).getShape().length == 3;

    Map<String, NodeInfo> outputs = session.getOutputInfo();
    this.outputNames = List.copyOf(outputs.keySet());
    this.outputShapes = new OutputShape[outputNames.size()];
    this.outputWidths = new int[outputNames.size()];
    for (int i = 0; i < outputNames.size(); i++) {
      TensorInfo info = (TensorInfo) outputs.get(outputNames.get(i)).getInfo();
      long[] shape = info.getShape();
      // Dynamic axes show as -1: [batch, n] is per sequence, [batch, seq] per token, [batch, seq, n] a vector per token.
      if (shape.length == 3) {
        outputShapes[i] = OutputShape.PER_TOKEN_VECTOR;
        outputWidths[i] = (int) shape[2];
      } else if (shape.length == 2 && shape[1] < 0) {
        outputShapes[i] = OutputShape.PER_TOKEN_SCALAR;
        outputWidths[i] = 1;
      } else if (shape.length == 2) {
        outputShapes[i] = OutputShape.PER_SEQUENCE;
        outputWidths[i] = (int) shape[1];
      } else {
        throw new ModelLoadException(modelFile, "outputs of rank 2 or 3 with a leading batch axis",
            "output '" + outputNames.get(i) + "' of shape " + java.util.Arrays.toString(shape));
      }
    }
  }

  /** Opens {@code model.onnx} (or any ONNX file) with the given options. */
  public static ModelSession open(Path modelFile, SessionOptions options) {
    return open(modelFile, options, null, options.int8Policy());
  }

  /** As {@link #open(Path, SessionOptions)}, with what to do about batch-dependent (per-tensor int8) graphs. */
  public static ModelSession open(Path modelFile, SessionOptions options, Int8Policy policy) {
    return open(modelFile, options, null, policy);
  }

  /** How a graph was loaded: as it is or rewritten, and whether it may be batched. */
  private static final class Loaded {
    byte[] bytes;
    boolean batchInvariant = true;
    boolean perSequence;
    String path = "float or batch-invariant";
  }

  /**
   * Looks for per-tensor dynamic quantization (a cheap pre-check of the op types first, so a float graph is not
   * parsed) and rewrites it to the per-row form if the policy says so; says how the session must batch what is left.
   */
  private static Loaded load(Path modelFile, byte[] bytes, Int8Policy policy) {
    Loaded l = new Loaded();
    l.bytes = bytes;
    ByteBuffer scan;
    try {
      if (bytes != null) {
        scan = ByteBuffer.wrap(bytes);
      } else {
        try (FileChannel ch = FileChannel.open(modelFile)) {
          if (ch.size() > Integer.MAX_VALUE) {
            return l; // a > 2 GB graph is no int8 encoder; ORT opens it from its path
          }
          scan = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
        }
      }
    } catch (IOException e) {
      throw new ModelLoadException(modelFile + ": cannot read the model: " + e.getMessage(), e);
    }
    if (!PerRowQuantization.mayBeBatchDependent(scan)) {
      return l;
    }
    long start = System.nanoTime();
    ModelProto model;
    try {
      model = bytes != null ? ModelProto.parseFrom(bytes) : ModelProto.parseFrom(scan);
    } catch (IOException e) {
      throw new ModelLoadException(modelFile + ": not an ONNX model: " + e.getMessage(), e);
    }
    boolean external = model.getGraph().getInitializerList().stream()
        .anyMatch(t -> t.getDataLocation() == TensorProto.DataLocation.EXTERNAL);
    PerRowQuantization.Result r = PerRowQuantization.rewrite(model);
    if (r.rewritten == 0 && r.batchInvariant()) {
      return l; // the op names were only in node names or strings
    }
    String dependent = null;
    if (!policy.rewrite) {
      dependent = "per-tensor dynamic int8, not rewritten to per-row (int8-rewrite=false)";
    } else if (external) {
      // the weights live beside the file; a rewritten graph held in memory could not find them
      dependent = "per-tensor dynamic int8 with external weight files, not rewritten";
    } else if (r.rewritten > 0) {
      l.bytes = r.model.toByteArray();
      l.path = "per-tensor dynamic int8 rewritten to per-row: " + r.rewritten + " activation quantizations";
      if (!r.batchInvariant()) {
        dependent = l.path + ", but " + r.leftBatchDependent + " op(s) could not be (" + r.refusal + ")";
      }
    } else {
      dependent = "per-tensor dynamic int8 that cannot be rewritten (" + r.refusal + ")";
    }
    if (dependent == null) {
      LOG.info("{}: {} in {} ms; results do not depend on batch composition", modelFile, l.path,
          (System.nanoTime() - start) / 1_000_000);
      return l;
    }
    l.batchInvariant = false;
    l.perSequence = !policy.allowBatchDependentResults;
    l.path = dependent + (l.perSequence ? "; each sequence runs alone (set inference.allow-batch-dependent-results"
        + "=true to batch it, with results that depend on batch composition)"
        : "; batched anyway (allow-batch-dependent-results): results depend on batch composition");
    if (l.perSequence) {
      LOG.warn("{}: {}", modelFile, l.path);
    } else {
      LOG.info("{}: {}", modelFile, l.path);
    }
    return l;
  }

  private static ModelSession open(Path modelFile, SessionOptions options, byte[] bytes, Int8Policy policy) {
    if (bytes == null && !Files.isRegularFile(modelFile)) {
      throw new ModelLoadException(modelFile, "an ONNX model file",
          "no such file (export one with `optimum-cli export onnx --model <hub-id> <dir>`, or build one from "
              + "model.safetensors with `bin/distilstream build-model`)");
    }
    Loaded loaded = load(modelFile, bytes, policy);
    bytes = loaded.bytes;
    OrtEnvironment env = environment();
    try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
      so.setOptimizationLevel(optLevel(options.optimizationLevel()));
      if (options.sharedThreadPool() && globalThreadPool() > 0) {
        so.disablePerSessionThreads(); // the process's pool: sessions of all slots share its threads
      } else {
        if (options.sharedThreadPool()) {
          LOG.warn("{}: no process-wide ONNX Runtime thread pool (another library created the environment first);"
              + " the session uses threads of its own", modelFile);
        }
        if (options.intraOpThreads() > 0) {
          so.setIntraOpNumThreads(options.intraOpThreads());
        }
        so.setInterOpNumThreads(1);
      }
      Device device = options.device();
      if (device == Device.CUDA) {
        try {
          so.addCUDA(options.deviceId());
        } catch (OrtException | UnsatisfiedLinkError | RuntimeException e) {
          String why = "CUDA execution provider unavailable (" + e.getMessage()
              + "); build with -Pgpu (onnxruntime_gpu) on a machine with an NVIDIA GPU, CUDA and cuDNN";
          if (!options.cudaFallbackToCpu()) {
            throw new ModelLoadException(why, e);
          }
          LOG.warn("{}: falling back to the CPU", why);
          device = Device.CPU;
        }
      }
      OrtSession session = bytes != null ? env.createSession(bytes, so) : env.createSession(modelFile.toString(), so);
      try {
        return new ModelSession(env, session, modelFile, device, loaded);
      } catch (RuntimeException | OrtException e) {
        session.close();
        throw e;
      }
    } catch (OrtException e) {
      throw new ModelLoadException(modelFile + ": ONNX Runtime could not load the model: " + e.getMessage(), e);
    }
  }

  /**
   * Opens a graph held in memory (built by {@link io.distilstream.runtime.graph.GraphBuilder}); {@code source}
   * names it in messages.
   */
  public static ModelSession open(byte[] onnx, Path source, SessionOptions options) {
    return open(source, options, onnx, options.int8Policy());
  }

  /** As {@link #open(byte[], Path, SessionOptions)}, with what to do about batch-dependent graphs. */
  public static ModelSession open(byte[] onnx, Path source, SessionOptions options, Int8Policy policy) {
    return open(source, options, onnx, policy);
  }

  private static volatile OrtEnvironment environment;
  /** Threads of the environment's global intra-op pool; 0 until the environment exists, -1 when it has none. */
  private static int globalThreads;

  /**
   * JVM-wide record of the global pool's size, in a system property: ONNX Runtime's classes load parent-first in a
   * TaskManager, so its environment outlives this class, which a job restart loads again in a new user class loader.
   * That copy finds the environment made and must still know whether it has a pool, and how large.
   */
  static final String GLOBAL_POOL_PROPERTY = "distilstream.onnxruntime.global-intra-op-threads";
  /** What {@link #environment()} will size the global pool to; 0 = the available processors. */
  private static int wantedGlobalThreads;

  /**
   * Sizes the process-wide intra-op thread pool that sessions with {@link SessionOptions#sharedThreadPool()} share
   * (0 = the available processors). ONNX Runtime creates its environment, and that pool, once per process: this takes
   * effect only before the first session or {@link #environment()} call, and later calls keep the first size.
   *
   * @return the pool's size from now on (-1 when the environment was created without one, see {@link #environment()})
   */
  public static synchronized int globalThreadPool(int threads) {
    if (threads < 0) {
      throw new IllegalArgumentException("thread pool size must be >= 0 (0 = available processors), got " + threads);
    }
    if (environment == null) {
      wantedGlobalThreads = threads;
    }
    environment();
    return globalThreads;
  }

  /** Threads of the process-wide pool, or -1 when ONNX Runtime's environment was created without one. */
  public static synchronized int globalThreadPool() {
    environment();
    return globalThreads;
  }

  /**
   * The process-wide ONNX Runtime environment, created on a thread of its own with a large stack: creating it
   * takes more native stack than a JVM main thread may have left (seen as a segfault when the launcher's long
   * class path had used part of it).
   *
   * <p>It is created with a global intra-op pool ({@link #globalThreadPool(int)}, spinning off so idle threads sleep)
   * that only sessions with {@link SessionOptions#sharedThreadPool()} use; the others keep pools of their own. If
   * another library of the process (DJL) created the environment first, there is no global pool and such sessions
   * fall back to their own threads, with a warning. An environment made by an earlier copy of this class (a job
   * restarted in the same TaskManager) keeps its pool: its size is in {@link #GLOBAL_POOL_PROPERTY}.
   */
  public static OrtEnvironment environment() {
    OrtEnvironment env = environment;
    if (env != null) {
      return env;
    }
    synchronized (ModelSession.class) {
      if (environment == null) {
        OrtEnvironment[] made = new OrtEnvironment[1];
        RuntimeException[] failed = new RuntimeException[1];
        int threads = wantedGlobalThreads > 0 ? wantedGlobalThreads : Runtime.getRuntime().availableProcessors();
        int[] pool = {threads};
        Thread t = new Thread(null, () -> {
          try (OrtEnvironment.ThreadingOptions threading = new OrtEnvironment.ThreadingOptions()) {
            threading.setGlobalIntraOpNumThreads(threads);
            threading.setGlobalInterOpNumThreads(1);
            threading.setGlobalSpinControl(false); // a pool shared by slots: a spinning idle thread steals a core
            made[0] = OrtEnvironment.getEnvironment(OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING,
                OrtEnvironment.DEFAULT_NAME, threading);
            System.setProperty(GLOBAL_POOL_PROPERTY, String.valueOf(threads));
          } catch (IllegalStateException e) {
            // the process's environment exists: made by an earlier copy of this class (a job restart's new class
            // loader), which recorded its pool; else by another library (DJL), and it has no global pool to share
            made[0] = OrtEnvironment.getEnvironment();
            pool[0] = Integer.getInteger(GLOBAL_POOL_PROPERTY, -1);
          } catch (RuntimeException | OrtException e) {
            failed[0] = e instanceof RuntimeException r ? r : new IllegalStateException(e);
          }
        }, "onnxruntime-init", 16L << 20);
        t.start();
        try {
          t.join();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted while starting ONNX Runtime", e);
        }
        if (failed[0] != null) {
          throw failed[0];
        }
        globalThreads = pool[0];
        environment = made[0];
      }
      return environment;
    }
  }

  private static OrtSession.SessionOptions.OptLevel optLevel(String level) {
    switch (level) {
      case "none": return OrtSession.SessionOptions.OptLevel.NO_OPT;
      case "basic": return OrtSession.SessionOptions.OptLevel.BASIC_OPT;
      case "extended": return OrtSession.SessionOptions.OptLevel.EXTENDED_OPT;
      default: return OrtSession.SessionOptions.OptLevel.ALL_OPT;
    }
  }

  public Path modelFile() { return modelFile; }
  /** The device the session actually runs on (CPU after a CUDA fallback). */
  public Device device() { return device; }
  public boolean usesTokenTypeIds() { return hasTokenTypes; }
  public List<String> outputNames() { return outputNames; }
  /** True for a multiple-choice graph, whose inputs are {@code [batch, num_choices, seq]}. */
  public boolean multipleChoice() { return choiceInputs; }

  /** False when a sequence's outputs depend on what shares its batch (per-tensor dynamic int8 left as it is). */
  public boolean batchInvariant() { return batchInvariant; }
  /** True when {@link #run} runs every sequence alone because the graph is batch-dependent. */
  public boolean runsPerSequence() { return perSequence; }
  /** How the graph was loaded, for logs and the bench: as it is, rewritten to per-row int8, or run per sequence. */
  public String loadPath() { return int8Path; }

  public int outputIndex(String name) {
    int i = outputNames.indexOf(name);
    if (i < 0) {
      throw new ModelLoadException(modelFile, "an output named '" + name + "'", "outputs " + outputNames);
    }
    return i;
  }

  public OutputShape outputShape(int output) { return outputShapes[output]; }

  /** n for {@code [batch, n]} and {@code [batch, seq, n]} outputs, 1 for {@code [batch, seq]}. */
  public int outputWidth(int output) { return outputWidths[output]; }

  /**
   * Runs one batch, padded on the right to its longest sequence.
   *
   * @return {@code [output][row]}: per-sequence vectors as they are, per-token outputs cut to the row's own length
   *     ({@code length x width}, row-major)
   */
  public float[][][] run(List<Encoding> batch) throws OrtException {
    return run(batch, null);
  }

  /**
   * The token rows of a per-token vector output that a caller keeps, for one sequence, ascending. A masked LM's
   * logits are {@code length x vocab} per row (8 rows of 512 tokens: 500 MB); fill-mask needs only the rows of its
   * masks, so it copies those out of the output tensor and nothing else.
   */
  @FunctionalInterface
  public interface TokenRows {
    int[] of(Encoding sequence);
  }

  /**
   * As {@link #run(List)}, keeping of each per-token vector output only the rows {@code keep} names
   * ({@code kept x width}, in {@code keep}'s order); {@code null} keeps them all.
   */
  public float[][][] run(List<Encoding> batch, TokenRows keep) throws OrtException {
    if (choiceInputs) {
      throw new IllegalStateException(modelFile + " is a multiple-choice model ([batch, num_choices, seq] inputs):"
          + " run it with runChoices");
    }
    int rows = batch.size();
    int seq = longest(batch);
    if (rows == 0) {
      return new float[outputNames.size()][0][];
    }
    if (seq == 0) {
      throw new IllegalArgumentException("cannot run a batch of empty sequences");
    }
    if (perSequence && rows > 1) {
      // a batch-dependent graph: every sequence alone, so its result is the one it gets without neighbours
      float[][][] out = new float[outputNames.size()][rows][];
      for (int r = 0; r < rows; r++) {
        float[][][] one = run(List.of(batch.get(r)));
        for (int o = 0; o < out.length; o++) {
          out[o][r] = one[o][0];
        }
      }
      return out;
    }
    return runPadded(batch, seq, new long[] {rows, seq}, result -> {
      float[][][] out = new float[outputNames.size()][rows][];
      for (int o = 0; o < outputNames.size(); o++) {
        OnnxValue v = result.get(o);
        FloatBuffer fb = ((OnnxTensor) v).getFloatBuffer();
        if (fb == null) {
          throw new IllegalStateException("output '" + outputNames.get(o) + "' is not a float tensor");
        }
        split(fb, o, batch, seq, keep, out[o]);
      }
      return out;
    });
  }

  /**
   * Runs a multiple-choice batch: {@code flat} holds {@code rows x choices} sequences, each row's choices
   * consecutive, fed as {@code [rows, choices, seq]} padded on the right to the longest of them all.
   *
   * @return the output {@code name} ({@code [rows, choices]} logits) as {@code [rows x choices]}, row-major
   */
  public float[] runChoices(List<Encoding> flat, int choices, String name) throws OrtException {
    if (!choiceInputs) {
      throw new IllegalStateException(modelFile + " is not a multiple-choice model");
    }
    if (choices < 1 || flat.size() % choices != 0) {
      throw new IllegalArgumentException(flat.size() + " sequences are not rows of " + choices + " choices");
    }
    int rows = flat.size() / choices;
    int seq = longest(flat);
    if (rows == 0) {
      return new float[0];
    }
    if (perSequence && rows > 1) {
      // a question's choices belong to one event and stay together; questions run one at a time
      float[] out = new float[flat.size()];
      for (int r = 0; r < rows; r++) {
        float[] one = runChoices(flat.subList(r * choices, (r + 1) * choices), choices, name);
        System.arraycopy(one, 0, out, r * choices, choices);
      }
      return out;
    }
    return runPadded(flat, seq, new long[] {rows, choices, seq}, result -> {
      FloatBuffer fb = ((OnnxTensor) result.get(outputIndex(name))).getFloatBuffer();
      if (fb == null || fb.remaining() != flat.size()) {
        throw new IllegalStateException("output '" + name + "' is not float [" + rows + ", " + choices + "]");
      }
      float[] out = new float[flat.size()];
      fb.get(out);
      return out;
    });
  }

  private static int longest(List<Encoding> sequences) {
    int seq = 0;
    for (Encoding e : sequences) {
      seq = Math.max(seq, e.length());
    }
    return seq;
  }

  /** Reads what a run needs from its result while the result is open. */
  @FunctionalInterface
  private interface ResultReader<T> {
    T read(OrtSession.Result result) throws OrtException;
  }

  /**
   * Fills the input buffers with {@code sequences}, each padded on the right to {@code seq} tokens, runs the session
   * on them as tensors of {@code shape} and reads the result; the input tensors are closed and the buffers cleared
   * afterwards.
   */
  private <T> T runPadded(List<Encoding> sequences, int seq, long[] shape, ResultReader<T> read)
      throws OrtException {
    int n = sequences.size() * seq;
    int elem = int32Inputs ? 4 : 8;
    Buffers b = buffers.get();
    ByteBuffer idsBuf = b.ids = ensure(b.ids, n * elem);
    ByteBuffer maskBuf = b.mask = ensure(b.mask, n * elem);
    ByteBuffer typesBuf = hasTokenTypes ? (b.types = ensure(b.types, n * elem)) : b.types;
    for (Encoding e : sequences) {
      int len = e.length();
      for (int t = 0; t < seq; t++) {
        boolean real = t < len;
        put(idsBuf, real ? e.ids[t] : 0);
        put(maskBuf, real ? 1 : 0);
        if (hasTokenTypes) {
          put(typesBuf, real ? e.typeIds[t] : 0);
        }
      }
    }
    Map<String, OnnxTensor> inputs = new HashMap<>(4);
    try {
      inputs.put(INPUT_IDS, tensor(idsBuf, shape));
      inputs.put(ATTENTION_MASK, tensor(maskBuf, shape));
      if (hasTokenTypes) {
        inputs.put(TOKEN_TYPE_IDS, tensor(typesBuf, shape));
      }
      try (OrtSession.Result result = session.run(inputs)) {
        return read.read(result);
      }
    } finally {
      for (OnnxTensor t : inputs.values()) {
        t.close();
      }
      idsBuf.clear();
      maskBuf.clear();
      typesBuf.clear();
    }
  }

  private void split(FloatBuffer fb, int o, List<Encoding> batch, int seq, TokenRows keep, float[][] into) {
    int width = outputWidths[o];
    for (int r = 0; r < batch.size(); r++) {
      int len = batch.get(r).length();
      float[] row;
      switch (outputShapes[o]) {
        case PER_SEQUENCE:
          row = new float[width];
          fb.get(r * width, row);
          break;
        case PER_TOKEN_SCALAR:
          row = new float[len];
          fb.get(r * seq, row);
          break;
        default:
          if (keep == null) {
            row = new float[len * width];
            fb.get(r * seq * width, row);
          } else {
            int[] rows = keep.of(batch.get(r));
            row = new float[rows.length * width];
            for (int k = 0; k < rows.length; k++) {
              if (rows[k] < 0 || rows[k] >= len) {
                throw new IndexOutOfBoundsException("token row " + rows[k] + " of a sequence of " + len);
              }
              fb.get((r * seq + rows[k]) * width, row, k * width, width);
            }
          }
      }
      into[r] = row;
    }
  }

  private OnnxTensor tensor(ByteBuffer buf, long[] shape) throws OrtException {
    buf.flip();
    if (int32Inputs) {
      IntBuffer ib = buf.asIntBuffer();
      return OnnxTensor.createTensor(env, ib, shape);
    }
    LongBuffer lb = buf.asLongBuffer();
    return OnnxTensor.createTensor(env, lb, shape);
  }

  private void put(ByteBuffer buf, int value) {
    if (int32Inputs) {
      buf.putInt(value);
    } else {
      buf.putLong(value);
    }
  }

  private static ByteBuffer allocate(int bytes) {
    return ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder());
  }

  private static ByteBuffer ensure(ByteBuffer buf, int bytes) {
    if (buf.capacity() >= bytes) {
      buf.clear();
      return buf;
    }
    // grow geometrically so a stream of slowly growing batches does not reallocate every call
    return allocate(Math.max(bytes, buf.capacity() * 2));
  }

  /** Sessions shared by the pipelines of one JVM, by {@link #shared}'s key, with their user counts. */
  private static final Map<String, Shared> SHARED = new HashMap<>();
  /** The key this session is shared under; null for a session of one owner. */
  private String sharedKey;

  private static final class Shared {
    final ModelSession session;
    /** The model regardless of its version: a hot reload's old and new sessions have one family. */
    final String family;
    /** How long the session stays open, idle, after its last user closed it; 0: closed with it. */
    final long lingerNanos;
    int users;
    /** When the last user closed it ({@link System#nanoTime()}); meaningful while {@code users == 0}. */
    long idleSince;

    Shared(ModelSession session, String family, long lingerNanos) {
      this.session = session;
      this.family = family;
      this.lingerNanos = lingerNanos;
    }
  }

  /**
   * The session of this JVM for {@code key} (the model's identity and every option that shapes the session), opened
   * by {@code open} for its first user: the slots of a TaskManager then hold one copy of the model's weights instead
   * of one each. Each user calls {@link #close} once; the last one closes the native session.
   */
  public static ModelSession shared(String key, java.util.function.Supplier<ModelSession> open) {
    return shared(key, key, java.time.Duration.ZERO, open);
  }

  /**
   * {@link #shared(String, java.util.function.Supplier)}, and after its last user closes it the session stays open,
   * idle, for {@code linger}: a new user of the same key in that time (the job's task restarted in this TaskManager
   * after a failure or a rescale) takes it over instead of loading the model again. An idle session is closed when
   * its linger has passed (seen at the next call here), when a session of another version of its {@code family}
   * (the same model file, changed: a hot reload) is opened or in use, and by {@link #closeIdle()}.
   */
  public static ModelSession shared(String key, String family, java.time.Duration linger,
      java.util.function.Supplier<ModelSession> open) {
    synchronized (SHARED) {
      closeIdle(e -> System.nanoTime() - e.idleSince >= e.lingerNanos);
      Shared s = SHARED.get(key);
      if (s == null) {
        closeIdle(e -> e.family.equals(family)); // another version of this model: stale
        ModelSession session = open.get(); // under the lock: a second slot waits instead of loading a copy
        session.sharedKey = key;
        s = new Shared(session, family, linger.toNanos());
        SHARED.put(key, s);
      } else if (s.users == 0) {
        LOG.info("{}: taking over the idle shared session (idle for {} ms)", s.session.modelFile,
            (System.nanoTime() - s.idleSince) / 1_000_000);
      }
      s.users++;
      return s.session;
    }
  }

  /**
   * Closes every shared session that no pipeline uses (lingering ones), e.g. when the job leaves the TaskManager
   * (its user class loader's release hook), and returns how many.
   */
  public static int closeIdle() {
    synchronized (SHARED) {
      return closeIdle(e -> true);
    }
  }

  /** Shared sessions no pipeline uses at the moment (lingering). For tests and logs. */
  public static int idleSessions() {
    synchronized (SHARED) {
      return (int) SHARED.values().stream().filter(e -> e.users == 0).count();
    }
  }

  /** Closes the idle sessions that {@code which} picks; call holding {@code SHARED}'s lock. */
  private static int closeIdle(java.util.function.Predicate<Shared> which) {
    int closed = 0;
    for (var it = SHARED.values().iterator(); it.hasNext(); ) {
      Shared e = it.next();
      if (e.users == 0 && which.test(e)) {
        it.remove();
        e.session.closeNative();
        closed++;
      }
    }
    return closed;
  }

  /** Users of the shared session under {@code key}; 0 when there is none. For tests and logs. */
  public static int sharedUsers(String key) {
    synchronized (SHARED) {
      Shared s = SHARED.get(key);
      return s == null ? 0 : s.users;
    }
  }

  /** Closes the native session; a {@link #shared} session only when its last user closes it. */
  @Override
  public void close() {
    if (sharedKey != null) {
      synchronized (SHARED) {
        Shared s = SHARED.get(sharedKey);
        if (s == null || s.session != this || s.users == 0 || --s.users > 0) {
          return; // closed by its last user already, or still in use
        }
        boolean newerInUse = SHARED.values().stream()
            .anyMatch(e -> e != s && e.users > 0 && e.family.equals(s.family));
        if (s.lingerNanos > 0 && !newerInUse) {
          s.idleSince = System.nanoTime(); // for the next user of the key: a restart of the job's task
          return;
        }
        SHARED.remove(sharedKey);
      }
    }
    closeNative();
  }

  private void closeNative() {
    try {
      session.close();
    } catch (OrtException e) {
      LOG.warn("closing ONNX Runtime session for {} failed", modelFile, e);
    }
  }
}
