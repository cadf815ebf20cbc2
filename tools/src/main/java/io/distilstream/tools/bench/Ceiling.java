package io.distilstream.tools.bench;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.distilstream.runtime.batch.BatchingOptions;
import io.distilstream.runtime.batch.DynamicBatcher;
import io.distilstream.runtime.model.Device;
import io.distilstream.runtime.model.ModelConfig;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.model.SessionOptions;
import io.distilstream.runtime.tokenizer.Encoding;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The bare ONNX Runtime loops over pre-tokenized texts (no Flink, no Kafka): what the model can do on this machine
 * with each way of forming batches, and the MatMul rate that bounds it (the roofline).
 */
final class Ceiling {
  static final int MAX_LEN = 128;

  /**
   * How a ceiling pattern forms its batches. {@code GROUPED} plans over every text at once (a global sort: the
   * oracle); {@code GROUPED_IN_WINDOWS} takes the texts in arrival order in windows of the batch size and groups by
   * length only within each window, as the operator can with one collected batch of arrivals (the realisable one).
   */
  enum Batching { PER_EVENT, ARRIVAL_ORDER, GROUPED, GROUPED_IN_WINDOWS, PADDED_TO_MAX }

  /**
   * A pattern's batches over the corpus, pass after pass ({@link BenchTexts#PASS} texts each, formed within the
   * pass), and which batch starts a pass: a run covers whole passes, so every pattern sees the corpus' lengths in
   * its proportions (issue 22: a short run of the oracle's shuffled batches timed 23.4 tokens per text against the
   * corpus' 29.6). {@code padRow}: each batch's last row pads it to {@link #MAX_LEN} and is not counted.
   */
  record Plan(List<List<Encoding>> batches, boolean[] passStart, boolean padRow) {}

  private Ceiling() {}

  /**
   * The batches of {@code how} over each pass of {@code encodings} (in the bench's pass order); the oracle
   * ({@code GROUPED}) plans over blocks of {@link BenchTexts#ORACLE_BLOCK} texts, each a whole number of passes.
   */
  static Plan plan(List<Encoding> encodings, Batching how, int size) {
    List<List<Encoding>> all = new ArrayList<>();
    List<Integer> starts = new ArrayList<>();
    int step = how == Batching.GROUPED ? BenchTexts.ORACLE_BLOCK : BenchTexts.PASS;
    for (int from = 0; from < encodings.size(); from += step) {
      starts.add(all.size());
      all.addAll(batches(encodings.subList(from, Math.min(encodings.size(), from + step)), how, size));
    }
    boolean[] passStart = new boolean[all.size()];
    starts.forEach(i -> passStart[i] = true);
    return new Plan(all, passStart, how == Batching.PADDED_TO_MAX);
  }

  /** Only the batches of {@code encodings}, in one piece (the service-time and test helpers). */
  static List<List<Encoding>> batches(List<Encoding> encodings, Batching how, int size) {
    List<List<Encoding>> batches = new ArrayList<>();
    if (how == Batching.GROUPED) {
      // the operator's own plan over all these texts at once: sorted by length, cut by size and token budget, padding
      // bounded; shuffled, so that sessions sharing a block do not end it on its longest batches together
      for (int[] g : DynamicBatcher.plan(encodings, new BatchingOptions(size, BatchingOptions.DEFAULT_MAX_TOKENS))) {
        List<Encoding> b = new ArrayList<>();
        for (int i : g) {
          b.add(encodings.get(i));
        }
        batches.add(b);
      }
      java.util.Collections.shuffle(batches, new Random(1));
      return batches;
    }
    if (how == Batching.GROUPED_IN_WINDOWS) {
      // the same plan, over each window of `size` arrivals on its own; the groups stay in arrival order
      BatchingOptions options = new BatchingOptions(size, BatchingOptions.DEFAULT_MAX_TOKENS);
      for (int from = 0; from < encodings.size(); from += size) {
        List<Encoding> window = encodings.subList(from, Math.min(encodings.size(), from + size));
        for (int[] g : DynamicBatcher.plan(window, options)) {
          List<Encoding> b = new ArrayList<>();
          for (int i : g) {
            b.add(window.get(i));
          }
          batches.add(b);
        }
      }
      return batches;
    }
    int step = how == Batching.PER_EVENT ? 1 : size;
    for (int i = 0; i < encodings.size(); i += step) {
      List<Encoding> b = new ArrayList<>(encodings.subList(i, Math.min(encodings.size(), i + step)));
      if (how == Batching.PADDED_TO_MAX) {
        b.add(Encoding.ofIds(new int[MAX_LEN], null)); // one full-length row pads the batch to MAX_LEN; not counted
      }
      batches.add(b);
    }
    return batches;
  }

  /**
   * {@code runs} timed runs of the plan on {@code sessions} sessions of {@code threads} intra-op threads each (one
   * Java thread per session, taking the next batch in turn), each run whole passes and at least {@code seconds}.
   */
  static void measure(Measurement m, Path onnx, SessionOptions base, Plan plan, int sessions, int threads, int runs,
      int seconds) throws Exception {
    measure(m, onnx, base, plan, sessions, threads, runs, seconds, ModelSession.Int8Policy.defaults());
  }

  /** As above, with how a per-tensor int8 graph is loaded (as it is and batched, rewritten, or per sequence). */
  static void measure(Measurement m, Path onnx, SessionOptions base, Plan plan, int sessions, int threads, int runs,
      int seconds, ModelSession.Int8Policy policy) throws Exception {
    try (Sessions open = new Sessions(onnx, base, plan, sessions, threads, policy)) {
      for (int r = 0; r < runs; r++) {
        m.runs.add(open.timed(plan, seconds));
      }
    }
  }

  /**
   * One run of the plan on sessions opened (and warmed up) for it alone: for a ceiling interleaved run by run with
   * other patterns ({@link Measurement#runInterleaved}).
   */
  static Measurement.RunOnce once(Path onnx, SessionOptions base, Plan plan, int sessions, int threads,
      int seconds) {
    return r -> {
      try (Sessions open = new Sessions(onnx, base, plan, sessions, threads, ModelSession.Int8Policy.defaults())) {
        return open.timed(plan, seconds);
      }
    };
  }

  /** Sessions of one ceiling pattern, each warmed up on a batch of the plan, and a thread per session. */
  private static final class Sessions implements AutoCloseable {
    private final List<ModelSession> open = new ArrayList<>();
    private final ExecutorService pool;

    Sessions(Path onnx, SessionOptions base, Plan plan, int sessions, int threads, ModelSession.Int8Policy policy)
        throws Exception {
      pool = Executors.newFixedThreadPool(sessions);
      try {
        for (int s = 0; s < sessions; s++) {
          open.add(ModelSession.open(onnx, copy(base).intraOpThreads(threads), policy));
          open.get(s).run(plan.batches().get(s % plan.batches().size())); // warm-up
        }
      } catch (Exception | Error e) {
        close();
        throw e;
      }
    }

    /** One run: whole passes, at least {@code seconds}; the sessions take the plan's batches in turn. */
    Measurement.Run timed(Plan plan, int seconds) throws Exception {
      Rss.reset();
      Cursor cursor = new Cursor();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
      long start = System.nanoTime();
      List<Future<long[]>> parts = new ArrayList<>();
      for (ModelSession session : open) {
        parts.add(pool.submit(() -> loop(session, plan, cursor, deadline)));
      }
      long[] sum = new long[3];
      for (Future<long[]> f : parts) {
        long[] p = f.get();
        for (int i = 0; i < 3; i++) {
          sum[i] += p[i];
        }
      }
      return new Measurement.Run(sum[0], sum[1], sum[2], (System.nanoTime() - start) / 1e9, Rss.peakMb(), null,
          null);
    }

    @Override
    public void close() {
      pool.shutdownNow();
      open.forEach(ModelSession::close);
    }
  }

  /** The next batch of a run, shared by its sessions; the run stops at the first pass start after the deadline. */
  private static final class Cursor {
    long next;
    boolean done;

    /** The index of the next batch to run, or -1 when the run is over. */
    synchronized int take(Plan plan, long deadline) {
      int k = (int) (next % plan.batches().size());
      if (done || next > 0 && plan.passStart()[k] && System.nanoTime() >= deadline) {
        done = true;
        return -1;
      }
      next++;
      return k;
    }
  }

  /**
   * One session of one intra-op thread running the texts one at a time, round-robin, for {@code seconds}: the
   * single-text service time of each call in {@link Measurement.Run#latenciesMs()}.
   */
  static Measurement.Run serviceTimes(Path onnx, SessionOptions base, List<Encoding> texts, int seconds)
      throws Exception {
    try (ModelSession session = ModelSession.open(onnx, copy(base).intraOpThreads(1))) {
      session.run(List.of(texts.get(0))); // warm-up
      List<Double> ms = new ArrayList<>();
      long tokens = 0;
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
      long start = System.nanoTime();
      for (int k = 0; System.nanoTime() < deadline; k = (k + 1) % texts.size()) {
        long t0 = System.nanoTime();
        session.run(List.of(texts.get(k)));
        ms.add((System.nanoTime() - t0) / 1e6);
        tokens += texts.get(k).length();
      }
      return new Measurement.Run(ms.size(), tokens, tokens, (System.nanoTime() - start) / 1e9, Rss.peakMb(), null,
          ms.stream().mapToDouble(Double::doubleValue).toArray());
    }
  }

  private static long[] loop(ModelSession s, Plan plan, Cursor cursor, long deadline) throws Exception {
    long events = 0;
    long tokens = 0;
    long padded = 0;
    for (int k; (k = cursor.take(plan, deadline)) >= 0; ) {
      List<Encoding> b = plan.batches().get(k);
      s.run(b);
      int longest = 0;
      int real = plan.padRow() ? b.size() - 1 : b.size();
      for (int i = 0; i < b.size(); i++) {
        longest = Math.max(longest, b.get(i).length());
        if (i < real) {
          events++;
          tokens += b.get(i).length();
        }
      }
      padded += (long) longest * real;
    }
    return new long[] {events, tokens, padded};
  }

  static SessionOptions copy(SessionOptions o) {
    return SessionOptions.defaults().device(o.device()).deviceId(o.deviceId()).optimizationLevel(
        o.optimizationLevel()).intraOpThreads(o.intraOpThreads());
  }

  /** Multiply-adds of one token through the encoder at sequence length {@code seqLen}, times two (FLOPs). */
  static double flopsPerToken(ModelConfig c, double seqLen) {
    double d = c.hiddenSize();
    double f = c.intermediateSize();
    // Q, K, V and output projections, the two feed-forward matrices, and attention's QK^T and AV
    double perLayer = 2 * (4 * d * d + 2 * d * f + 2 * seqLen * d);
    return perLayer * c.numLayers();
  }

  /**
   * The MatMul rate ONNX Runtime reaches here on the model's largest matrix (hidden x intermediate), with
   * {@code rows} rows (about one batch's tokens): the peak that the model's FLOPs are compared with.
   */
  static double matMulGflops(ModelConfig c, SessionOptions base, int threads, int rows, int seconds)
      throws Exception {
    int k = c.hiddenSize();
    int n = c.intermediateSize();
    float[] w = new float[k * n];
    Random r = new Random(3);
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) r.nextGaussian() * 0.02f;
    }
    java.nio.ByteBuffer wb = java.nio.ByteBuffer.allocate(w.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    wb.asFloatBuffer().put(w);
    TypeProto xType = TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
        .setElemType(TensorProto.DataType.FLOAT.getNumber()).setShape(TensorShapeProto.newBuilder()
            .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("rows"))
            .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(k)))).build();
    TypeProto yType = TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
        .setElemType(TensorProto.DataType.FLOAT.getNumber()).setShape(TensorShapeProto.newBuilder()
            .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("rows"))
            .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(n)))).build();
    GraphProto g = GraphProto.newBuilder().setName("matmul")
        .addInput(ValueInfoProto.newBuilder().setName("x").setType(xType))
        .addOutput(ValueInfoProto.newBuilder().setName("y").setType(yType))
        .addInitializer(TensorProto.newBuilder().setName("w").addDims(k).addDims(n)
            .setDataType(TensorProto.DataType.FLOAT.getNumber())
            .setRawData(com.google.protobuf.ByteString.copyFrom(wb.array())))
        .addNode(NodeProto.newBuilder().setOpType("MatMul").addInput("x").addInput("w").addOutput("y"))
        .build();
    byte[] model = ModelProto.newBuilder().setIrVersion(8).setProducerName("distilstream-bench").setGraph(g)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).build().toByteArray();
    OrtEnvironment env = ModelSession.environment();
    try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
      so.setIntraOpNumThreads(threads);
      so.setInterOpNumThreads(1);
      so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      if (base.device() == Device.CUDA) {
        so.addCUDA(base.deviceId());
      }
      float[] x = new float[rows * k];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) r.nextGaussian();
      }
      try (OrtSession session = env.createSession(model, so);
          OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), new long[] {rows, k})) {
        for (int i = 0; i < 3; i++) {
          session.run(Map.of("x", in)).close();
        }
        long calls = 0;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        long start = System.nanoTime();
        while (System.nanoTime() < deadline) {
          session.run(Map.of("x", in)).close();
          calls++;
        }
        double secs = (System.nanoTime() - start) / 1e9;
        return 2.0 * rows * k * n * calls / secs / 1e9;
      }
    }
  }
}
