package io.distilstream.tools.bench;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.distilstream.runtime.batch.BatchingOptions;
import io.distilstream.runtime.cli.Args;
import io.distilstream.runtime.cli.BuildModelCli;
import io.distilstream.runtime.graph.Int8Quantizer;
import io.distilstream.runtime.graph.Precision;
import io.distilstream.runtime.model.Device;
import io.distilstream.runtime.model.ModelConfig;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.ModelLoadException;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.model.SessionOptions;
import io.distilstream.runtime.pipeline.ModelOutputCache;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.tokenizer.Encoding;
import io.distilstream.runtime.tokenizer.WordPieceTokenizer;
import io.distilstream.tools.local.LocalKafka;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code distilstream bench}: one model and one set of texts through the bare ONNX Runtime loop (the ceiling and
 * the roofline), the naive Flink patterns users write first, DJL, and our micro-batching operator alone, end to end
 * through Kafka and under open-loop load; every pattern warmed up and run several times, in one process. Prints a
 * table and writes report.md, report.json and PNG plots.
 */
public final class Bench {
  public static final String USAGE = String.join("\n",
      "usage: distilstream bench [--model DIR | --seeded distilbert-base|distilbert-small] [--seconds N] [--runs N]",
      "                          [--threads N] [--device cpu|cuda] [--patterns LIST] [--max-padding-ratio R]",
      "                          [--out DIR]",
      "  text-classification on 4,000 fortunes (Debian's fortunes packages), every pattern warmed up, then --runs",
      "  runs (3) of about --seconds seconds (6) each; figures are medians with their spread. --threads (2) is the",
      "  machine's thread budget: one session of N threads, or N sessions (slots) of one. Patterns (all but mixed,",
      "  pool, plan, models and lone by default):",
      "    ceiling  bare ONNX Runtime: per event, batches of 32 in arrival order, grouped by length (over all texts:",
      "             the oracle; and within windows of 32 arrivals: what the operator can reach), padded to 128, and",
      "             the MatMul rate (roofline); grouped again with the model in int8 (build-model --quantize",
      "             int8), and in fp16 on --device cuda",
      "    naive    Flink: per-record AsyncFunction, count window of 32 (arrival order, and padded to 128)",
      "    peer     DJL Predictor.batchPredict (Hugging Face translator, ONNX Runtime engine), batches of 32",
      "    ours     the micro-batching operator, 1 slot x N threads and N slots x 1 thread; with ceiling, the",
      "             operator on the int8 model too, in the better layout",
      "    e2e      the enrichment job: Kafka in, exactly-once Kafka out, timed to its last result committed (a",
      "             read_committed consumer), N slots x 1 thread, interleaved with ours and its ceilings",
      "    load     the operator under an open-loop generator at 25/50/75/90% of its maximum: p50/p95/p99, and",
      "             the target p99 <= max-wait + 2 x the p99 single-text service time of the longest texts (97-128",
      "             tokens, one thread, measured in the same run) at 50%, met or missed",
      "    cache    the operator on the texts with 30% exact repeats (Zipf-distributed, seeded), its output cache",
      "             (inference.cache.enabled) off and on, N slots x 1 thread; prints the hit rate",
      "    pool     the operator with threads per session (1 slot x N threads, N slots x 1 thread) against the",
      "             TaskManager's shared pool of N threads (inference.thread-pool=task-manager), 1 slot and N slots,",
      "             and N slots x 1 thread sharing one session (inference.share-sessions); peak RSS in the report",
      "    plan     the operator's batcher planning each collected batch alone (plan window 1) against planning",
      "             over the default window of queued requests (4 batches) and twice it, beside the oracle and",
      "             windowed ceilings, N slots x 1 thread, interleaved run by run (on request only)",
      "    lone     a long text alone on an idle job (97-128 tokens, one at a time), threads per session against",
      "             the TaskManager's shared pool (inference.thread-pool=task-manager), and both at 50% load",
      "             against the latency target, N slots, interleaved run by run (on request only; not with peer)",
      "    mixed    the demo's mix: every event classified, every 4th also token-classification, every 10th also",
      "             question-answering (seeded models of each task), the operator against per-record functions,",
      "             N slots x 1 thread; result counts, peak threads and peak RSS in the report (on request only)",
      "    models   three named models on one stream (issue 21): toxicity and spam (text-classification, seeded 1 and",
      "             2) and answers (question-answering); one operator with the three, without and with the fair thread",
      "             budget of N (inference.scheduling=fair), against three jobs of one model each run at once; N slots",
      "             x 1 thread per model in all; an event is done when its three results are out (on request only)",
      "  --max-padding-ratio R sets the operator's inference.max-padding-ratio in ours, e2e and load (1.1).",
      "  Writes OUT/report.md, OUT/report.json, OUT/events-per-second.png and OUT/load.png (default bench-out).");

  /** The patterns run by default. */
  static final List<String> ALL_PATTERNS = List.of("ceiling", "naive", "peer", "ours", "e2e", "load",
      "cache");
  /**
   * Patterns run only when --patterns names them: mixed would lengthen the default run by more than a fifth, models
   * (three models per event, in three layouts) by more; pool needs ONNX Runtime's process-wide environment made with our thread pool, which DJL (peer) cannot share.
   */
  static final List<String> OPT_IN_PATTERNS = List.of("mixed", "pool", "models", "plan", "lone");
  /** Share of the cache pattern's events that repeat an earlier text. */
  static final double REPEATS = 0.3;
  static final double[] LOAD_STEPS = {0.25, 0.5, 0.75, 0.9};
  /** The realisable ceiling's pattern: what the operator can plan with one collected batch of arrivals. */
  static final String WINDOWED = "grouped within windows of 32 arrivals";
  /** The oracle ceiling's pattern: the operator's plan over a whole pass at once. */
  static final String GROUPED = "batches of 32, grouped by length";

  /** The shortest length, in tokens, of the length histogram's last bucket: the latency target's longest texts. */
  static final int LONGEST_BUCKET_FROM = 97;

  /** Full batches each slot runs at least, per Flink run. */
  static final int MIN_BATCHES_PER_SLOT = 20;

  private Bench() {}

  public static int run(String[] argv, PrintStream out) throws Exception {
    Args args = Args.parse(argv, Set.of());
    String modelArg = args.string("model", null);
    String seeded = args.string("seeded", "distilbert-base");
    int seconds = args.integer("seconds", 6);
    int runs = args.integer("runs", 3);
    int threads = args.integer("threads", 2);
    Device device = Device.parse(args.string("device", "cpu"));
    Set<String> patterns = new LinkedHashSet<>(Arrays.asList(args.string("patterns", String.join(",",
        ALL_PATTERNS)).split(",")));
    Path outDir = Path.of(args.string("out", "bench-out"));
    double maxPaddingRatio = Double.parseDouble(args.string("max-padding-ratio",
        Double.toString(BatchingOptions.DEFAULT_MAX_PADDING_RATIO)));
    args.rejectUnknown();
    for (String p : patterns) {
      if (!ALL_PATTERNS.contains(p) && !OPT_IN_PATTERNS.contains(p)) {
        throw new IllegalArgumentException("--patterns: unknown pattern '" + p + "' (one of " + ALL_PATTERNS
            + " or " + OPT_IN_PATTERNS + ")");
      }
    }
    if (seconds < 1 || runs < 1 || threads < 1) {
      throw new IllegalArgumentException("--seconds, --runs and --threads must be at least 1");
    }
    long benchStart = System.nanoTime();
    // ONNX Runtime makes one environment per process, and DJL's engine makes it with threading options of its own
    // (it fails on one that exists): DJL first when it runs, else ours, with the shared pool sized to the budget
    for (String pooled : List.of("pool", "lone")) {
      if (patterns.contains("peer") && patterns.contains(pooled)) {
        throw new IllegalArgumentException("--patterns: run 'peer' and '" + pooled + "' in separate runs: DJL"
            + " creates ONNX Runtime's process-wide environment itself, and the shared pool needs it made by ours");
      }
    }
    if (patterns.contains("peer")) {
      DjlPeer.startEngine();
    } else {
      ModelSession.globalThreadPool(threads);
    }

    Path model;
    String modelName;
    if (modelArg != null) {
      model = Path.of(modelArg);
      modelName = model.toString();
    } else {
      model = Files.createTempDirectory("distilstream-bench-model-");
      modelName = "seeded " + seeded + " (random weights; timing does not depend on them)";
      out.println("building " + modelName + "...");
      BuildModelCli.build(BuildModelCli.Request.seeded(seeded, "text-classification", 1, model));
    }
    ModelDirectory dir = ModelDirectory.of(model);
    ModelConfig config = ModelConfig.read(dir.path().resolve(ModelDirectory.CONFIG));
    Path onnx = dir.onnxFile();
    SessionOptions base = SessionOptions.defaults().device(device);
    WordPieceTokenizer tokenizer = WordPieceTokenizer.fromDirectory(dir.path());
    List<String> fortunes = BenchTexts.fortunes();
    List<Encoding> tokenized = new ArrayList<>();
    for (String t : fortunes) {
      tokenized.add(tokenizer.encode(t, Ceiling.MAX_LEN));
    }
    // every pattern gets the texts in pass order and covers whole passes: the same length distribution for all
    int[] order = BenchTexts.passOrder(tokenized.stream().mapToInt(Encoding::length).toArray(), 22);
    List<String> texts = new ArrayList<>();
    List<Encoding> encodings = new ArrayList<>();
    for (int i : order) {
      texts.add(fortunes.get(i));
      encodings.add(tokenized.get(i));
    }
    BenchReport report = new BenchReport(modelName, config, device, threads, seconds, runs, encodings);
    out.println(report.header());

    // ceiling: the bare runtime
    int perThread = 1;
    Measurement perEvent = null;
    if (patterns.contains("ceiling") || patterns.contains("naive") || patterns.contains("ours")) {
      perEvent = report.add(new Measurement("ceiling-per-event", "ceiling", "per event (batch 1)",
          "1 x " + threads + " thr"));
      Ceiling.Plan single = Ceiling.plan(encodings, Ceiling.Batching.PER_EVENT, 1);
      Ceiling.measure(perEvent, onnx, base, single, 1, threads, runs, seconds);
      if (perEvent.startRerun()) {
        Ceiling.measure(perEvent, onnx, base, single, 1, threads, runs, seconds);
      }
      out.println(report.line(perEvent));
    }
    Path int8 = null;
    // the oracle and windowed ceilings in each layout; with ours in the run, they are measured beside the operator
    // in its layout, interleaved run by run, so that ours / ceiling never compares runs made under different load
    boolean besideOurs = patterns.contains("ours");
    Map<String, Measurement> deferred = new java.util.LinkedHashMap<>();
    Ceiling.Plan groupedPlan = Ceiling.plan(encodings, Ceiling.Batching.GROUPED, 32);
    Ceiling.Plan windowedPlan = Ceiling.plan(encodings, Ceiling.Batching.GROUPED_IN_WINDOWS, 32);
    if (patterns.contains("ceiling")) {
      ceiling(report, out, "ceiling-arrival", "batches of 32, arrival order", Ceiling.Batching.ARRIVAL_ORDER, onnx,
          base, encodings, 1, threads, runs, seconds);
      for (String[] row : new String[][] {{"ceiling-grouped", GROUPED}, {"ceiling-windowed", WINDOWED}}) {
        if (besideOurs) {
          deferred.put(row[0], report.add(new Measurement(row[0], "ceiling", row[1], "1 x " + threads + " thr")));
        } else {
          ceiling(report, out, row[0], row[1], row[0].equals("ceiling-grouped") ? Ceiling.Batching.GROUPED
              : Ceiling.Batching.GROUPED_IN_WINDOWS, onnx, base, encodings, 1, threads, runs, seconds);
        }
      }
      int8 = reducedModel(modelArg, seeded, dir, Precision.int8(), out);
      if (int8 != null) {
        ceiling(report, out, "ceiling-grouped-int8", "batches of 32, grouped by length, int8 (dynamic)",
            Ceiling.Batching.GROUPED, int8, base, encodings, 1, threads, runs, seconds);
        // issue 17: Optimum's per-tensor form of the same model, as it is (results depend on the batch) and
        // rewritten to per-row at load
        Path perTensor = perTensorModel(onnx, out);
        if (perTensor != null) {
          for (boolean rewrite : new boolean[] {false, true}) {
            String id = rewrite ? "ceiling-grouped-int8-rewritten" : "ceiling-grouped-int8-per-tensor";
            Measurement m = report.add(new Measurement(id, "ceiling", "batches of 32, grouped by length, int8 "
                + (rewrite ? "per-tensor rewritten to per-row at load" : "per-tensor (batch-dependent)"),
                "1 x " + threads + " thr"));
            Ceiling.measure(m, perTensor, base, groupedPlan, 1, threads, runs, seconds,
                new ModelSession.Int8Policy(rewrite, true));
            out.println(report.line(m));
          }
        }
      }
      Path fp16 = device == Device.CUDA ? reducedModel(modelArg, seeded, dir, Precision.fp16(), out) : null;
      if (fp16 != null) {
        ceiling(report, out, "ceiling-grouped-fp16", "batches of 32, grouped by length, fp16",
            Ceiling.Batching.GROUPED, fp16, base, encodings, 1, threads, runs, seconds);
      }
      ceiling(report, out, "ceiling-padded", "batches of 32, padded to 128", Ceiling.Batching.PADDED_TO_MAX, onnx,
          base, encodings, 1, threads, runs, seconds);
      if (threads > 1) {
        ceiling(report, out, "ceiling-per-event-slots", "per event (batch 1)", Ceiling.Batching.PER_EVENT, onnx,
            base, encodings, threads, perThread, runs, seconds);
        String slotsLayout = threads + " x " + perThread + " thr";
        if (besideOurs) {
          deferred.put("ceiling-grouped-slots", report.add(new Measurement("ceiling-grouped-slots", "ceiling",
              GROUPED, slotsLayout)));
          deferred.put("ceiling-windowed-slots", report.add(new Measurement("ceiling-windowed-slots", "ceiling",
              WINDOWED, slotsLayout)));
        } else {
          ceiling(report, out, "ceiling-grouped-slots", GROUPED, Ceiling.Batching.GROUPED, onnx, base, encodings,
              threads, perThread, runs, seconds);
          ceiling(report, out, "ceiling-windowed-slots", WINDOWED, Ceiling.Batching.GROUPED_IN_WINDOWS, onnx, base,
              encodings, threads, perThread, runs, seconds);
        }
      }
      double fpt = Ceiling.flopsPerToken(config, report.meanTokens());
      double peak = Ceiling.matMulGflops(config, base, threads, 1024, Math.max(2, seconds / 2));
      report.roofline(fpt, peak);
      out.printf(Locale.ROOT, "roofline: MatMul %dx%d at %.0f GFLOP/s (%d threads); model %.1f MFLOP per token%n",
          config.hiddenSize(), config.intermediateSize(), peak, threads, fpt / 1e6);
    }

    // the Flink runs get as many events as the per-event ceiling does in the time, and at least
    // MIN_BATCHES_PER_SLOT full batches per slot, so that a run is not mostly its first and last batch
    double rate = perEvent != null ? perEvent.eventsPerSecond() : 50;
    int batch = BatchingOptions.DEFAULT_MAX_BATCH_SIZE;
    int n = wholePasses(Math.max(MIN_BATCHES_PER_SLOT * batch * threads, rate * seconds));
    // the count windows (one slot, a quarter of the operator's speed) get their minimum: 20 windows, whole passes
    int windowed = wholePasses(MIN_BATCHES_PER_SLOT * batch);
    // the per-record functions form no batches: --seconds at the per-event ceiling's rate, whole passes
    int single = wholePasses(rate * seconds);
    SessionOptions oneSession = Ceiling.copy(base).intraOpThreads(threads);
    SessionOptions oneThread = Ceiling.copy(base).intraOpThreads(perThread);
    Measurement prSlots = null;
    if (patterns.contains("naive")) {
      Measurement pr = report.add(new Measurement("naive-per-record", "naive", "per-record AsyncFunction",
          "1 slot x " + threads + " thr"));
      prSlots = threads > 1 ? report.add(new Measurement("naive-per-record-slots", "naive",
          "per-record AsyncFunction", threads + " slots x 1 thr")) : null;
      Measurement win = report.add(new Measurement("naive-window", "naive", "count window of 32, arrival order",
          "1 slot x " + threads + " thr"));
      Measurement win128 = report.add(new Measurement("naive-window-padded", "naive",
          "count window of 32, padded to 128", "1 slot x " + threads + " thr"));
      Measurement.RunOnce perRecord = r -> FlinkPatterns.perRecord(dir.path(), oneSession, 1,
          events(texts, encodings, single, "p"));
      Measurement.RunOnce perRecordSlots = r -> FlinkPatterns.perRecord(dir.path(), oneThread, threads,
          events(texts, encodings, single, "ps"));
      Measurement.RunOnce window = r -> FlinkPatterns.countWindow(dir.path(), oneSession,
          events(texts, encodings, windowed, "w"), false);
      Measurement.RunOnce window128 = r -> FlinkPatterns.countWindow(dir.path(), oneSession,
          events(texts, encodings, windowed, "x"), true);
      List<Measurement> rows = new ArrayList<>(List.of(pr, win, win128));
      List<Measurement.RunOnce> how = new ArrayList<>(List.of(perRecord, window, window128));
      if (prSlots != null) {
        rows.add(1, prSlots);
        how.add(1, perRecordSlots);
      }
      Measurement.runInterleaved(runs, rows, how);
      rows.forEach(m -> out.println(report.line(m)));
    }
    if (patterns.contains("peer")) {
      Measurement djl = report.add(new Measurement("peer-djl", "peer", "DJL batchPredict, batches of 32",
          "1 x " + threads + " thr"));
      DjlPeer.measure(djl, dir, texts, encodings, threads, runs, seconds, false);
      out.println(report.line(djl));
      Measurement djlSorted = report.add(new Measurement("peer-djl-sorted", "peer",
          "DJL batchPredict, batches of 32 sorted by length", "1 x " + threads + " thr"));
      DjlPeer.measure(djlSorted, dir, texts, encodings, threads, runs, seconds, true);
      out.println(report.line(djlSorted));
    }
    // the Kafka job end to end, N slots x 1 thread (1 slot with one thread): with ours in the run it is measured in
    // the operator's group of that layout, interleaved run by run with the operator and that layout's ceilings, so
    // that end to end / ceiling compares runs made under the same load (issue 22: measured alone, minutes after its
    // ceiling, it came out above it)
    int e2eSlots = threads > 1 ? threads : 1;
    Measurement e2e = null;
    Measurement.RunOnce endToEnd = null;
    Measurement best = null;
    int bestSlots = 1;
    LocalKafka kafka = patterns.contains("e2e") ? LocalKafka.start(Map.of()) : null;
    try {
      if (kafka != null) {
        e2e = report.add(new Measurement("ours-end-to-end", "ours",
            "enrichment job, Kafka in, exactly-once Kafka out", e2eSlots + " slot" + (e2eSlots > 1 ? "s" : "")
            + " x " + threads / e2eSlots + " thr"));
        int[] topics = {0}; // each run writes to topics of its own
        LocalKafka broker = kafka;
        endToEnd = r -> FlinkPatterns.endToEnd(broker, dir.path(), e2eSlots, threads / e2eSlots,
            events(texts, encodings, n, "k"), topics[0]++, maxPaddingRatio);
        // one untimed run first, as every other pattern has its warm-up: the job's Kafka clients, decoder and sinks
        // are code no other pattern runs, and without it the JIT compiled them during the first timed runs (a
        // compiler thread at 10-30 % of a core beside the job, measured on 2 cores)
        endToEnd.run(-1);
      }
      if (patterns.contains("ours") || patterns.contains("load") || patterns.contains("lone")) {
        Measurement one = report.add(new Measurement("ours-1-slot", "ours", "micro-batching operator",
            "1 slot x " + threads + " thr"));
        Measurement many = threads > 1 ? report.add(new Measurement("ours-slots", "ours", "micro-batching operator",
            threads + " slots x 1 thr")) : null;
        Measurement.RunOnce oursOne = r -> FlinkPatterns.ours(dir.path(), oneSession, 1,
            events(texts, encodings, n, "o"), maxPaddingRatio);
        Measurement.RunOnce oursMany = r -> FlinkPatterns.ours(dir.path(), oneThread, threads,
            events(texts, encodings, n, "s"), maxPaddingRatio);
        // each layout's operator beside the oracle and windowed ceilings of that layout (when the ceilings run)
        List<Measurement> rows = new ArrayList<>(List.of(one));
        List<Measurement.RunOnce> how = new ArrayList<>(List.of(oursOne));
        besideCeilings(deferred, "", onnx, base, groupedPlan, windowedPlan, 1, threads, seconds, rows, how);
        if (many != null) {
          rows.add(many);
          how.add(oursMany);
          besideCeilings(deferred, "-slots", onnx, base, groupedPlan, windowedPlan, threads, perThread, seconds, rows,
              how);
        }
        if (e2e != null && patterns.contains("ours")) {
          rows.add(e2e); // beside the operator and the ceilings of its layout (the last ones added)
          how.add(endToEnd);
        }
        Measurement.runInterleaved(runs, rows, how);
        rows.forEach(m -> out.println(report.line(m)));
        best = one;
        if (many != null) {
          best = many.eventsPerSecond() > one.eventsPerSecond() ? many : one;
        }
      }
      bestSlots = best != null && best.id.equals("ours-slots") ? threads : 1;
      if (patterns.contains("ours") && patterns.contains("ceiling") && int8 != null
          && int8.getFileName().toString().equals(ModelDirectory.MODEL_ONNX)) {
        // the operator on the int8 model directory the ceiling built, in the best layout of the fp32 runs
        Measurement q = report.add(new Measurement("ours-int8", "ours", "micro-batching operator, int8 model",
            best.layout));
        SessionOptions bestSession = bestSlots > 1 ? oneThread : oneSession;
        int int8Slots = bestSlots;
        Path int8Dir = int8.getParent();
        Measurement.RunOnce oursInt8 = r -> FlinkPatterns.ours(int8Dir, bestSession, int8Slots,
            events(texts, encodings, n, "q"), maxPaddingRatio);
        List<Measurement> rows = new ArrayList<>(List.of(q));
        List<Measurement.RunOnce> how = new ArrayList<>(List.of(oursInt8));
        if (patterns.contains("naive")) {
          // the naive per-record function on the same int8 model and layout, interleaved: the like-for-like ratio
          rows.add(report.add(new Measurement("naive-per-record-int8", "naive", "per-record AsyncFunction, int8 model",
              best.layout)));
          how.add(r -> FlinkPatterns.perRecord(int8Dir, bestSession, int8Slots, events(texts, encodings, n, "pq")));
        }
        Measurement.runInterleaved(runs, rows, how);
        rows.forEach(m -> out.println(report.line(m)));
      }
      if (e2e != null && e2e.runs.isEmpty()) { // without ours: alone
        for (int r = 0; r < runs; r++) {
          e2e.runs.add(endToEnd.run(r));
        }
        e2e.rerunIfNoisy(runs, endToEnd);
        out.println(report.line(e2e));
      }
    } finally {
      if (kafka != null) {
        kafka.close();
      }
    }
    Measurement service = null;
    if ((patterns.contains("load") || patterns.contains("lone")) && best != null) {
      // issue 22, item 6: the latency target's yardstick, measured in this run: the single-text service time of
      // the longest texts (the length histogram's last bucket) on one thread, one at a time
      int from = longestBucket(encodings).stream().mapToInt(Encoding::length).min().orElse(0);
      service = report.add(new Measurement("service-longest", "ceiling", String.format(Locale.ROOT,
          "one text at a time, longest bucket (%d-%d tokens)", from, Ceiling.MAX_LEN), "1 x 1 thr"));
      for (int r = 0; r < runs; r++) {
        service.runs.add(Ceiling.serviceTimes(onnx, base, longestBucket(encodings), Math.max(1, seconds / 2)));
      }
      out.println(report.line(service));
    }
    if (patterns.contains("load") && best != null) {
      double max = best.eventsPerSecond();
      SessionOptions session = bestSlots > 1 ? oneThread : oneSession;
      int loadSeconds = seconds + 2;
      for (double step : LOAD_STEPS) {
        Measurement m = report.add(new Measurement("load-" + Math.round(step * 100), "load",
            String.format(Locale.ROOT, "open loop at %.0f%% of max (%.1f/s)", step * 100, step * max),
            best.layout));
        m.offeredRate = step * max;
        m.runs.add(FlinkPatterns.underLoad(dir.path(), session, bestSlots, texts, encodings, step * max,
            loadSeconds, maxPaddingRatio));
        out.println(report.line(m));
      }
      out.println(report.latencyTarget());
    }
    if (patterns.contains("lone") && best != null) {
      lone(report, out, dir.path(), texts, encodings, threads, runs, seconds, maxPaddingRatio, oneThread, base,
          service, find(report, "ours-slots", best));
    }
    if (patterns.contains("pool")) {
      // issue 22, item 4: today's threads per session in both layouts against the TaskManager's shared pool, in one
      // sitting, interleaved run by run
      String slotsLayout = threads + " slots";
      Measurement one = report.add(new Measurement("pool-per-session-1-slot", "ours",
          "micro-batching operator, threads per session", "1 slot x " + threads + " thr"));
      Measurement many = report.add(new Measurement("pool-per-session-slots", "ours",
          "micro-batching operator, threads per session", slotsLayout + " x 1 thr"));
      Measurement sharedOne = report.add(new Measurement("pool-shared-1-slot", "ours",
          "micro-batching operator, TaskManager pool", "1 slot, pool of " + threads));
      Measurement sharedMany = report.add(new Measurement("pool-shared-slots", "ours",
          "micro-batching operator, TaskManager pool", slotsLayout + ", pool of " + threads));
      Measurement sharedSession = report.add(new Measurement("pool-shared-sessions-slots", "ours",
          "micro-batching operator, one session shared by the slots", slotsLayout + " x 1 thr"));
      List<Measurement> rows = List.of(one, many, sharedOne, sharedMany, sharedSession);
      List<Measurement.RunOnce> how = List.of(
          r -> FlinkPatterns.ours(dir.path(), oneSession, 1, events(texts, encodings, n, "t"), maxPaddingRatio),
          r -> FlinkPatterns.ours(dir.path(), oneThread, threads, events(texts, encodings, n, "u"), maxPaddingRatio),
          r -> FlinkPatterns.ours(dir.path(), base, 1, events(texts, encodings, n, "v"), maxPaddingRatio, null,
              threads, false),
          r -> FlinkPatterns.ours(dir.path(), base, threads, events(texts, encodings, n, "w"), maxPaddingRatio,
              null, threads, false),
          r -> FlinkPatterns.ours(dir.path(), oneThread, threads, events(texts, encodings, n, "y"), maxPaddingRatio,
              null, -1, true));
      Measurement.runInterleaved(runs, rows, how);
      rows.forEach(m -> out.println(report.line(m)));
    }
    if (patterns.contains("cache")) {
      // the same events (with repeats) and layout, the cache off and on, interleaved run by run
      int slots = threads;
      SessionOptions session = slots > 1 ? oneThread : oneSession;
      String layout = slots + " slot" + (slots > 1 ? "s" : "") + " x " + threads / slots + " thr";
      String what = String.format(Locale.ROOT, "micro-batching operator, %.0f%% repeats", 100 * REPEATS);
      Measurement off = report.add(new Measurement("ours-repeats-cache-off", "ours", what + ", no cache", layout));
      Measurement on = report.add(new Measurement("ours-repeats-cache-on", "ours", what + ", output cache",
          layout));
      FlinkPatterns.Events repeated = FlinkPatterns.Events.withRepeats(texts, encodings, n, "c", REPEATS, 22);
      ModelOutputCache.Bounds bounds = new ModelOutputCache.Bounds(
          io.distilstream.operators.InferenceOptions.CACHE_MAX_ENTRIES.defaultValue(),
          io.distilstream.operators.InferenceOptions.CACHE_MAX_BYTES.defaultValue().getBytes());
      Measurement.RunOnce cacheOff = r -> FlinkPatterns.ours(dir.path(), session, slots, repeated, maxPaddingRatio);
      Measurement.RunOnce cacheOn = r -> FlinkPatterns.ours(dir.path(), session, slots, repeated, maxPaddingRatio,
          bounds);
      Measurement.runInterleaved(runs, List.of(off, on), List.of(cacheOff, cacheOn));
      out.println(report.line(off));
      out.println(report.line(on));
    }
    if (patterns.contains("plan")) {
      plan(report, out, dir.path(), onnx, base, groupedPlan, windowedPlan, texts, encodings, n, threads, runs,
          seconds, maxPaddingRatio, threads > 1 ? oneThread : oneSession);
    }
    if (patterns.contains("mixed")) {
      mixed(report, out, modelArg, seeded, dir, texts, encodings, n, threads, runs, maxPaddingRatio,
          threads > 1 ? oneThread : oneSession);
    }
    if (patterns.contains("models")) {
      models(report, out, modelArg, seeded, dir, texts, encodings, n, threads, runs, maxPaddingRatio, oneThread);
    }
    Files.createDirectories(outDir);
    report.write(outDir, (System.nanoTime() - benchStart) / 1e9);
    out.println();
    out.print(report.ratiosTable());
    out.println("report: " + outDir.resolve("report.md") + ", " + outDir.resolve("report.json") + ", plots "
        + outDir.resolve("events-per-second.png") + ", " + outDir.resolve("load.png"));
    return 0;
  }

  /**
   * Issue 22, item 7: the demo's mix through the operator (one spec, a model per task) and through per-record
   * functions (a pipeline per task, called once per event and task), both N slots x 1 thread, interleaved run by
   * run. The token-classification and question-answering models are built seeded as the bench's own model is;
   * with --model the row is skipped (there is only a text-classification model to measure).
   */
  private static void mixed(BenchReport report, PrintStream out, String modelArg, String seeded, ModelDirectory dir,
      List<String> texts, List<Encoding> encodings, int n, int threads, int runs, double maxPaddingRatio,
      SessionOptions session) throws Exception {
    if (modelArg != null) {
      out.println("no mixed rows: --model gives a text-classification model only; the mix needs one per task");
      return;
    }
    Map<Task, Path> dirs = new EnumMap<>(Task.class);
    dirs.put(Task.TEXT_CLASSIFICATION, dir.path());
    for (Task t : List.of(Task.TOKEN_CLASSIFICATION, Task.QUESTION_ANSWERING)) {
      Path built = Files.createTempDirectory("distilstream-bench-" + t.id() + "-");
      BuildModelCli.build(BuildModelCli.Request.seeded(seeded, t.id(), 1, built));
      dirs.put(t, built);
    }
    int slots = threads;
    String layout = slots + " slot" + (slots > 1 ? "s" : "") + " x " + threads / slots + " thr";
    String mix = "the demo's mix (all classified, 1/4 NER, 1/10 QA)";
    Measurement naive = report.add(new Measurement("naive-per-record-mixed", "naive",
        "per-record AsyncFunction, " + mix, layout));
    Measurement ours = report.add(new Measurement("ours-mixed", "ours", "micro-batching operator, " + mix,
        layout));
    FlinkPatterns.Events events = FlinkPatterns.Events.mixed(texts, encodings, n, "m");
    Map<String, Long> expected = FlinkPatterns.Events.mixExpected(n);
    Measurement.RunOnce perRecord = r -> checked(FlinkPatterns.perRecordMixed(dirs, session, slots, events),
        expected, naive.id);
    Measurement.RunOnce operator = r -> checked(FlinkPatterns.oursMixed(dirs, session, slots, events,
        maxPaddingRatio), expected, ours.id);
    Measurement.runInterleaved(runs, List.of(naive, ours), List.of(perRecord, operator));
    out.println(report.line(naive));
    out.println(report.line(ours));
  }

  /**
   * Issue 21's row: three named models on one stream, one operator with the three (threads of their own, then the fair
   * thread budget of N threads) against three jobs of one model each run at once, all N slots x 1 thread per model,
   * interleaved run by run. Skipped with --model, as mixed is.
   */
  private static void models(BenchReport report, PrintStream out, String modelArg, String seeded, ModelDirectory dir,
      List<String> texts, List<Encoding> encodings, int n, int threads, int runs, double maxPaddingRatio,
      SessionOptions oneThread) throws Exception {
    if (modelArg != null) {
      out.println("no models rows: --model gives a text-classification model only; the row needs three models");
      return;
    }
    Map<String, Path> dirs = new java.util.LinkedHashMap<>();
    long seed = 1;
    for (Map.Entry<String, Task> m : ThreeModels.MODELS.entrySet()) {
      if (m.getValue() == Task.TEXT_CLASSIFICATION && seed == 1) {
        dirs.put(m.getKey(), dir.path()); // the bench's own model (seed 1)
      } else {
        Path built = Files.createTempDirectory("distilstream-bench-" + m.getKey() + "-");
        BuildModelCli.build(BuildModelCli.Request.seeded(seeded, m.getValue().id(), seed, built));
        dirs.put(m.getKey(), built);
      }
      seed++;
    }
    String what = "three named models on one stream (toxicity, spam: classifiers; answers: QA)";
    String slots = threads + " slot" + (threads > 1 ? "s" : "");
    Measurement jobs = report.add(new Measurement("models-three-jobs", "ours",
        "three jobs of one model each, run at once, " + what, "3 jobs x " + slots + " x 1 thr"));
    Measurement one = report.add(new Measurement("models-one-stream", "ours",
        "one operator with three models, " + what, slots + " x 3 models x 1 thr"));
    Measurement fair = report.add(new Measurement("models-one-stream-fair", "ours",
        "one operator with three models, fair thread budget, " + what,
        slots + " x 3 models x 1 thr, budget " + threads));
    FlinkPatterns.Events all = ThreeModels.events(texts, encodings, n, "3m");
    Map<String, Long> expected = ThreeModels.expected(n);
    List<Measurement> rows = List.of(jobs, one, fair);
    List<Measurement.RunOnce> how = List.of(
        r -> checked(ThreeModels.threeJobs(dirs, oneThread, threads, all, maxPaddingRatio), expected, jobs.id),
        r -> checked(ThreeModels.oneStream(dirs, oneThread, threads, threads, all, maxPaddingRatio, null), expected,
            one.id),
        r -> checked(ThreeModels.oneStream(dirs, oneThread, threads, threads, all, maxPaddingRatio,
            io.distilstream.runtime.batch.InferenceBudget.Policy.FAIR), expected, fair.id));
    Measurement.runInterleaved(runs, rows, how);
    rows.forEach(m -> out.println(report.line(m)));
  }

  /**
   * Issue 22, item 3: the operator's batcher planning each collected batch on its own (plan window 1, as before)
   * against planning over the default window of queued requests and twice it, beside the oracle and windowed
   * ceilings in the same layout (N slots x 1 thread), all five interleaved run by run: the before and after in one
   * sitting.
   */
  private static void plan(BenchReport report, PrintStream out, Path dir, Path onnx, SessionOptions base,
      Ceiling.Plan grouped, Ceiling.Plan windowed, List<String> texts, List<Encoding> encodings, int n, int threads,
      int runs, int seconds, double maxPaddingRatio, SessionOptions session) throws Exception {
    int slots = threads;
    int perSlot = threads / slots;
    String layout = slots + " slot" + (slots > 1 ? "s" : "") + " x " + perSlot + " thr";
    String ceilingLayout = slots + " x " + perSlot + " thr";
    // one batch (as before), the default, and twice it (the default queue holds 256 requests: 8 batches' worth)
    int window = BatchingOptions.DEFAULT_PLAN_WINDOW_BATCHES;
    List<Measurement> rows = new ArrayList<>();
    List<Measurement.RunOnce> how = new ArrayList<>();
    for (int w : new int[] {1, window, 2 * window}) {
      rows.add(report.add(new Measurement("plan-ours-window-" + w, "ours", "micro-batching operator, plan window "
          + w + (w == 1 ? " batch" : " batches"), layout)));
      how.add(r -> FlinkPatterns.ours(dir, session, slots, events(texts, encodings, n, "w" + w + "-"),
          maxPaddingRatio, w));
    }
    rows.add(report.add(new Measurement("plan-ceiling-grouped", "ceiling", GROUPED, ceilingLayout)));
    how.add(Ceiling.once(onnx, base, grouped, slots, perSlot, seconds));
    rows.add(report.add(new Measurement("plan-ceiling-windowed", "ceiling", WINDOWED, ceilingLayout)));
    how.add(Ceiling.once(onnx, base, windowed, slots, perSlot, seconds));
    Measurement.runInterleaved(runs, rows, how);
    rows.forEach(m -> out.println(report.line(m)));
  }

  /** The run, after checking that it gave the mix's results: one per (event, task), no dead letter. */
  private static Measurement.Run checked(Measurement.Run run, Map<String, Long> expected, String id) {
    if (!expected.equals(run.results())) {
      throw new IllegalStateException(id + ": results " + run.results() + ", expected " + expected);
    }
    return run;
  }

  private static void ceiling(BenchReport report, PrintStream out, String id, String pattern, Ceiling.Batching how,
      Path onnx, SessionOptions base, List<Encoding> encodings, int sessions, int threads, int runs, int seconds)
      throws Exception {
    String layout = sessions > 1 ? sessions + " x " + threads + " thr" : "1 x " + threads + " thr";
    Measurement m = report.add(new Measurement(id, "ceiling", pattern, layout));
    Ceiling.Plan plan = Ceiling.plan(encodings, how, 32);
    Ceiling.measure(m, onnx, base, plan, sessions, threads, runs, seconds);
    if (m.startRerun()) {
      Ceiling.measure(m, onnx, base, plan, sessions, threads, runs, seconds);
    }
    out.println(report.line(m));
  }

  /**
   * The bench's float32 model quantized as Optimum and ORT's {@code quantize_dynamic} do (activations per tensor,
   * {@code DynamicQuantizeLinear}), in a temp file; null (rows skipped) when its weights are not named as the
   * builder names them.
   */
  private static Path perTensorModel(Path fp32, PrintStream out) throws Exception {
    try {
      ModelProto q = Int8Quantizer.quantize(ModelProto.parseFrom(Files.readAllBytes(fp32)), false,
          Int8Quantizer.encoderWeights(false), Int8Quantizer.Activation.PER_TENSOR);
      Path file = Files.createTempFile("distilstream-bench-int8-per-tensor-", ".onnx");
      Files.write(file, q.toByteArray());
      return file;
    } catch (ModelLoadException e) {
      out.println("no per-tensor int8 rows: " + e.getMessage());
      return null;
    }
  }

  /**
   * The bench's model in another precision ({@code build-model --quantize int8} or {@code --dtype fp16}): built from
   * the same seed, or from {@code --model DIR}'s model.safetensors; {@code DIR/model_quantized.onnx} as it is for
   * int8. Null (the row is skipped) when there is nothing to build it from.
   */
  private static Path reducedModel(String modelArg, String seeded, ModelDirectory dir, Precision precision,
      PrintStream out) throws Exception {
    String value = precision.kind() == Precision.Kind.INT8 ? "int8" : "fp16";
    boolean int8 = precision.kind() == Precision.Kind.INT8;
    Path quantized = dir.path().resolve(ModelDirectory.MODEL_QUANTIZED_ONNX);
    if (modelArg != null && int8 && Files.isRegularFile(quantized)) {
      return quantized;
    }
    if (modelArg != null && !Files.isRegularFile(dir.safetensorsFile())) {
      out.println("no " + value + " row: " + dir + " has neither model.safetensors nor model_quantized.onnx");
      return null;
    }
    Path built = Files.createTempDirectory("distilstream-bench-" + value + "-");
    BuildModelCli.Request request = modelArg == null
        ? BuildModelCli.Request.seeded(seeded, "text-classification", 1, built)
        : BuildModelCli.Request.of(dir.configFile(), "text-classification", dir.safetensorsFile(), dir.path(), built);
    BuildModelCli.build(request.withPrecision(precision));
    return built.resolve(ModelDirectory.MODEL_ONNX);
  }

  /**
   * Adds the oracle and windowed ceilings of one layout ({@code suffix} "" or "-slots"), deferred from the ceiling
   * section, to an interleaved group beside the operator of that layout; nothing when the ceilings did not run.
   */
  private static void besideCeilings(Map<String, Measurement> deferred, String suffix, Path onnx, SessionOptions base,
      Ceiling.Plan grouped, Ceiling.Plan windowed, int sessions, int threads, int seconds, List<Measurement> rows,
      List<Measurement.RunOnce> how) {
    Measurement g = deferred.get("ceiling-grouped" + suffix);
    Measurement w = deferred.get("ceiling-windowed" + suffix);
    if (g != null) {
      rows.add(g);
      how.add(Ceiling.once(onnx, base, grouped, sessions, threads, seconds));
    }
    if (w != null) {
      rows.add(w);
      how.add(Ceiling.once(onnx, base, windowed, sessions, threads, seconds));
    }
  }

  /**
   * Issue 22, item 6's second half: a long text alone on an idle TaskManager, with threads per session (N slots x 1
   * thread, the default: cores / parallelism per slot) against the TaskManager's shared pool of N threads
   * ({@code inference.thread-pool=task-manager}), and the same two at 50 % of the operator's maximum (N slots x 1
   * thread), all four interleaved run by run. The lone texts are the longest bucket's, one stream dealt round-robin to
   * the slots, one every 4 single-text service times (p99, one thread; at least {@link #LONE_MIN_RATE} a second), so
   * each finds the job idle.
   */
  private static void lone(BenchReport report, PrintStream out, Path dir, List<String> texts,
      List<Encoding> encodings, int threads, int runs, int seconds, double maxPaddingRatio, SessionOptions oneThread,
      SessionOptions base, Measurement service, Measurement max) throws Exception {
    int slots = threads;
    String layout = slots + " slot" + (slots > 1 ? "s" : "");
    List<String> longTexts = new ArrayList<>();
    List<Encoding> longEncodings = new ArrayList<>();
    int from = longestBucket(encodings).stream().mapToInt(Encoding::length).min().orElse(0);
    for (int i = 0; i < encodings.size(); i++) {
      if (encodings.get(i).length() >= from) {
        longTexts.add(texts.get(i));
        longEncodings.add(encodings.get(i));
      }
    }
    // at least LONE_MIN_RATE: a loaded machine's service-time tail would otherwise stretch a run to minutes
    double loneRate = Math.max(LONE_MIN_RATE, 1000 / (4 * service.latencyMs(0.99)));
    long loneN = Math.max(LONE_TEXTS, Math.round(loneRate * seconds));
    double half = 0.5 * max.eventsPerSecond();
    long halfN = wholePasses(half * (seconds + 2));
    String lone = String.format(Locale.ROOT, "one long text at a time (%d-%d tokens, %.1f/s), idle job",
        longEncodings.stream().mapToInt(Encoding::length).min().orElse(0), Ceiling.MAX_LEN, loneRate);
    String load = String.format(Locale.ROOT, "open loop at 50%% of max (%.1f/s)", half);
    Measurement loneOwn = report.add(new Measurement("lone-per-session", "load", lone + ", threads per session",
        layout + " x " + threads / slots + " thr"));
    Measurement lonePool = report.add(new Measurement("lone-shared-pool", "load", lone + ", TaskManager pool",
        layout + ", pool of " + threads));
    Measurement halfOwn = report.add(new Measurement("lone-load-50-per-session", "load",
        load + ", threads per session", layout + " x " + threads / slots + " thr"));
    Measurement halfPool = report.add(new Measurement("lone-load-50-shared-pool", "load",
        load + ", TaskManager pool", layout + ", pool of " + threads));
    List<Measurement> rows = List.of(loneOwn, lonePool, halfOwn, halfPool);
    List<Measurement.RunOnce> how = List.of(
        r -> FlinkPatterns.underLoad(dir, oneThread, slots, longTexts, longEncodings, loneRate, loneN, 1,
            maxPaddingRatio, -1),
        r -> FlinkPatterns.underLoad(dir, base, slots, longTexts, longEncodings, loneRate, loneN, 1, maxPaddingRatio,
            threads),
        r -> FlinkPatterns.underLoad(dir, oneThread, slots, texts, encodings, half, halfN, slots, maxPaddingRatio,
            -1),
        r -> FlinkPatterns.underLoad(dir, base, slots, texts, encodings, half, halfN, slots, maxPaddingRatio,
            threads));
    // interleaved run by run, and never rerun for a spread of events/s: these rows' events/s is the rate offered,
    // their figures are latencies
    for (int r = 0; r < runs; r++) {
      for (int i = 0; i < rows.size(); i++) {
        rows.get(i).runs.add(how.get(i).run(r));
      }
    }
    rows.forEach(m -> out.println(report.line(m)));
  }

  /** Lone texts per run of the lone pattern, at least (the first tenth is warm-up). */
  static final int LONE_TEXTS = 40;
  /** The lone pattern's least rate, texts per second (DistilBERT-base's long texts need about 3 at 4 x p99). */
  static final double LONE_MIN_RATE = 2;

  /** The length histogram's last bucket (from {@link #LONGEST_BUCKET_FROM} tokens), else the longest texts. */
  private static List<Encoding> longestBucket(List<Encoding> encodings) {
    List<Encoding> longest = encodings.stream().filter(e -> e.length() >= LONGEST_BUCKET_FROM).toList();
    if (longest.isEmpty()) { // a tokenizer that keeps every text short: its longest texts
      int max = encodings.stream().mapToInt(Encoding::length).max().orElse(0);
      longest = encodings.stream().filter(e -> e.length() == max).toList();
    }
    return longest; // in pass order: a short service-time run sees the bucket's lengths in their proportions
  }

  private static Measurement find(BenchReport report, String id, Measurement otherwise) {
    return report.measurements().stream().filter(m -> m.id.equals(id) && !m.runs.isEmpty()).findFirst()
        .orElse(otherwise);
  }

  /** {@code events} rounded up to whole passes of the corpus ({@link BenchTexts#PASS}). */
  static int wholePasses(double events) {
    int passes = (int) Math.max(1, Math.ceil(events / BenchTexts.PASS));
    return passes * BenchTexts.PASS;
  }

  private static FlinkPatterns.Events events(List<String> texts, List<Encoding> encodings, int n, String prefix) {
    return FlinkPatterns.Events.of(texts, encodings, n, prefix);
  }
}
