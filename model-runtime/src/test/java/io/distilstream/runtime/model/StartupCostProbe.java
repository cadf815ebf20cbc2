package io.distilstream.runtime.model;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.distilstream.runtime.graph.PerRowQuantization;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.QuestionAnsweringPipeline;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.tokenizer.WordPieceTokenizer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A measurement, not a test: what opening a task's models costs in a fresh JVM (issue 19: a restarted task's
 * start-up), one model after the other as a Flink subtask opens them. Run it once per JVM; repeat the JVM for a spread.
 *
 * <p>Args: {@code MODE TASK=DIR...}; system property {@code probe.classes} is printed to tell runs apart. Mode {@code
 * phases} splits each model's open: the content hash (the model's version), config.json, the tokenizer, the int8 scan
 * ({@link PerRowQuantization#mayBeBatchDependent} over the mapped file), ONNX Runtime's environment (first model
 * only), a bare {@code createSession}, {@link ModelSession#open} (its own int8 scan and session), and the first run. Mode {@code pipeline} times {@link Pipeline#create} and a first run per model,
 * the path a task takes; {@code parallelN} does that for every model at once on N threads. Modes {@code session-all}, {@code session-save}, {@code session-cached} time only the
 * sessions: graph optimisation {@code all} as today; {@code all} writing the optimised graph beside a temp dir; and
 * loading that optimised graph with optimisation off.
 */
public final class StartupCostProbe {
  public static void main(String[] args) throws Exception {
    String mode = args[0];
    Map<String, Path> models = new LinkedHashMap<>();
    for (int i = 1; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      models.put(args[i].substring(0, eq), Path.of(args[i].substring(eq + 1)));
    }
    long jvmStart = java.lang.management.ManagementFactory.getRuntimeMXBean().getStartTime();
    System.out.printf("# mode %s, JVM up %d ms before main%n", mode, System.currentTimeMillis() - jvmStart);
    long all = System.nanoTime();
    if (mode.startsWith("parallel")) {
      // every model's Pipeline.create and first run at once, on this many threads
      int threads = Integer.parseInt(mode.substring("parallel".length()));
      var pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
      List<java.util.concurrent.Future<String>> done = new ArrayList<>();
      for (Map.Entry<String, Path> m : models.entrySet()) {
        done.add(pool.submit(() -> {
          Map<String, Double> t = new LinkedHashMap<>();
          long s0 = System.nanoTime();
          pipeline(Task.parse(m.getKey()), m.getValue(), t);
          return String.format("%-22s open+first-run %.0f ms", m.getKey(), (System.nanoTime() - s0) / 1e6);
        }));
      }
      for (var f : done) {
        System.out.println(f.get());
      }
      pool.shutdown();
      System.out.printf("# all models %.0f ms%n", (System.nanoTime() - all) / 1e6);
      return;
    }
    List<String> rows = new ArrayList<>();
    for (Map.Entry<String, Path> m : models.entrySet()) {
      Map<String, Double> t = new LinkedHashMap<>();
      switch (mode) {
        case "phases": phases(m.getValue(), t); break;
        case "pipeline": pipeline(Task.parse(m.getKey()), m.getValue(), t); break;
        default: sessionOnly(mode, m.getValue(), t);
      }
      StringBuilder row = new StringBuilder(String.format("%-22s", m.getKey()));
      double sum = 0;
      for (Map.Entry<String, Double> e : t.entrySet()) {
        row.append(String.format(" %s=%.0f", e.getKey(), e.getValue()));
        sum += e.getValue();
      }
      rows.add(row.append(String.format(" | total=%.0f ms", sum)).toString());
    }
    rows.forEach(System.out::println);
    System.out.printf("# all models %.0f ms%n", (System.nanoTime() - all) / 1e6);
  }

  private static final ThreadLocal<long[]> T0 = ThreadLocal.withInitial(() -> new long[1]);

  private static void start() {
    T0.get()[0] = System.nanoTime();
  }

  private static void stop(Map<String, Double> t, String phase) {
    t.merge(phase, (System.nanoTime() - T0.get()[0]) / 1e6, Double::sum);
    T0.get()[0] = System.nanoTime();
  }

  private static void phases(Path dir, Map<String, Double> t) throws Exception {
    start();
    ModelDirectory d = ModelDirectory.of(dir);
    d.contentHash();
    stop(t, "hash");
    d.readConfig();
    stop(t, "config");
    WordPieceTokenizer tok = WordPieceTokenizer.fromDirectory(dir);
    stop(t, "tokenizer");
    boolean int8;
    try (FileChannel ch = FileChannel.open(d.onnxFile())) {
      int8 = PerRowQuantization.mayBeBatchDependent(ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()));
    }
    stop(t, "int8-scan");
    OrtEnvironment env = ModelSession.environment();
    stop(t, "ort-env");
    try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
      so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      so.setIntraOpNumThreads(1);
      so.setInterOpNumThreads(1);
      env.createSession(d.onnxFile().toString(), so).close();
    }
    stop(t, "createSession");
    try (ModelSession s = ModelSession.open(d.onnxFile(), SessionOptions.defaults().intraOpThreads(1))) {
      stop(t, "ModelSession.open");
      if (!s.multipleChoice()) {
        s.run(List.of(tok.encode("Hello, a first run of the model.", 64)));
      }
      stop(t, "first-run");
    }
    if (int8) {
      System.out.println("# " + dir + " may be batch-dependent int8");
    }
  }

  private static void pipeline(Task task, Path dir, Map<String, Double> t) throws Exception {
    start();
    PipelineOptions o = PipelineOptions.defaults().session(SessionOptions.defaults().intraOpThreads(1));
    Pipeline<?, ?> p = Pipeline.create(task, ModelDirectory.of(dir), o);
    stop(t, "open");
    firstRun(p);
    stop(t, "first-run");
    p.close();
  }

  @SuppressWarnings("unchecked")
  private static void firstRun(Pipeline<?, ?> p) {
    switch (p.task()) {
      case QUESTION_ANSWERING:
        ((Pipeline<QuestionAnsweringPipeline.Question, ?>) p).run(
            new QuestionAnsweringPipeline.Question("Who runs?", "The first run of the model runs here."));
        break;
      case FILL_MASK:
        ((Pipeline<String, ?>) p).run("Hello, a [MASK] run of the model.");
        break;
      default:
        ((Pipeline<String, ?>) p).run("Hello, a first run of the model.");
    }
  }

  private static void sessionOnly(String mode, Path dir, Map<String, Double> t) throws Exception {
    OrtEnvironment env = ModelSession.environment();
    Path onnx = ModelDirectory.of(dir).onnxFile();
    Path cached = Path.of(System.getProperty("java.io.tmpdir"), "startup-probe-" + dir.getFileName() + ".ort.onnx");
    start();
    try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
      so.setIntraOpNumThreads(1);
      so.setInterOpNumThreads(1);
      switch (mode) {
        case "session-all":
          so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
          break;
        case "session-save":
          so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
          so.setOptimizedModelFilePath(cached.toString());
          break;
        case "session-cached":
          so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
          onnx = cached;
          break;
        default: throw new IllegalArgumentException(mode);
      }
      env.createSession(onnx.toString(), so).close();
    }
    stop(t, "session");
  }
}
