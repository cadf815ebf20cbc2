package io.distilstream.jobs.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.distilstream.operators.Enrichment;
import io.distilstream.operators.InferenceSpec;
import io.distilstream.runtime.batch.BatchingOptions;
import io.distilstream.runtime.batch.DynamicBatcher;
import io.distilstream.runtime.cli.Args;
import io.distilstream.runtime.cli.BuildModelCli;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.model.SessionOptions;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import io.distilstream.runtime.tokenizer.Encoding;
import io.distilstream.runtime.tokenizer.WordPieceTokenizer;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.TextEvent;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.streaming.api.datastream.AsyncDataStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.async.ResultFuture;
import org.apache.flink.streaming.api.functions.async.RichAsyncFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.api.functions.windowing.ProcessAllWindowFunction;
import org.apache.flink.streaming.api.windowing.windows.GlobalWindow;
import org.apache.flink.util.Collector;

/**
 * {@code distilstream bench}: the same model and texts through the bare ONNX Runtime loop (the ceiling), the naive
 * Flink patterns users write first, and our micro-batching operator, in one process; a table, report.md and
 * report.json with the ratios. A first slice of the benchmark issue: no Kafka end to end, DJL or load sweep yet.
 */
public final class Bench {
  public static final String USAGE = String.join("\n",
      "usage: distilstream bench [--model DIR | --seeded distilbert-base|distilbert-small] [--seconds N] [--out DIR]",
      "  text-classification on generated short texts (log-normal lengths), each pattern for about N seconds (20):",
      "  ceiling (bare ORT: per event, batches of 32 in arrival order, grouped by length, padded to 128),",
      "  naive Flink per-record AsyncFunction, naive count window of 32, and the micro-batching operator with",
      "  1 slot x 2 threads and 2 slots x 1 thread. Writes OUT/report.md and OUT/report.json (default bench-out).");

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int MAX_LEN = 128;

  /** One measured pattern. */
  record Result(String pattern, String layout, long events, long tokens, long paddedTokens, double seconds) {
    double eventsPerSecond() { return events / seconds; }
    double tokensPerSecond() { return tokens / seconds; }
    double padding() { return paddedTokens == 0 ? 1 : (double) paddedTokens / tokens; }
  }

  private Bench() {}

  public static int run(String[] argv, PrintStream out) throws Exception {
    Args args = Args.parse(argv, Set.of());
    String modelArg = args.string("model", null);
    String seeded = args.string("seeded", "distilbert-base");
    int seconds = args.integer("seconds", 20);
    Path outDir = Path.of(args.string("out", "bench-out"));
    args.rejectUnknown();

    Path model;
    if (modelArg != null) {
      model = Path.of(modelArg);
    } else {
      model = Files.createTempDirectory("distilstream-bench-model-");
      out.println("building seeded " + seeded + " (random weights; timing does not depend on them)...");
      BuildModelCli.run(new String[] {"--config", seeded, "--task", "text-classification", "--seed", "1",
          "--out", model.toString()}, new PrintStream(OutputStream.nullOutputStream()));
    }
    ModelDirectory dir = ModelDirectory.of(model);
    WordPieceTokenizer tokenizer = WordPieceTokenizer.fromDirectory(dir.path());
    List<String> texts = BenchTexts.generate(4000, 7);
    List<Encoding> encodings = new ArrayList<>();
    int[] lengths = new int[texts.size()];
    for (int i = 0; i < texts.size(); i++) {
      encodings.add(tokenizer.encode(texts.get(i), MAX_LEN));
      lengths[i] = encodings.get(i).length();
    }
    int[] sorted = lengths.clone();
    java.util.Arrays.sort(sorted);
    double mean = java.util.Arrays.stream(lengths).average().orElse(0);
    out.printf("model %s; %d texts, tokens per text: mean %.1f, median %d, p90 %d, max %d; %d cores%n",
        dir, texts.size(), mean, sorted[sorted.length / 2], sorted[(int) (sorted.length * 0.9)],
        sorted[sorted.length - 1], Runtime.getRuntime().availableProcessors());

    List<Result> results = new ArrayList<>();
    Result perEvent = ceiling(dir, encodings, "per event (batch 1)", 1, false, false, 2, seconds);
    results.add(report(out, perEvent));
    results.add(report(out, ceiling(dir, encodings, "batches of 32, arrival order", 32, false, false, 2, seconds)));
    Result grouped = report(out, ceiling(dir, encodings, "batches of 32, grouped by length", 32, true, false, 2,
        seconds));
    results.add(grouped);
    results.add(report(out, ceiling(dir, encodings, "batches of 32, padded to 128", 32, false, true, 2, seconds)));
    results.add(report(out, ceiling(dir, encodings, "per event (batch 1)", 1, false, false, 1, seconds)));

    // Flink runs get as many events as the ceiling's per-event rate would do in the time
    int n = (int) Math.max(200, perEvent.eventsPerSecond() * seconds);
    List<TextEvent> events = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      events.add(TextEvent.newBuilder().setId("b" + i).setText(texts.get(i % texts.size()))
          .setTasks(List.of("text-classification")).build());
    }
    results.add(report(out, naivePerRecord(dir, events, encodings)));
    results.add(report(out, naiveCountWindow(dir, events, encodings)));
    Result ours1 = report(out, ours(dir, events, encodings, 1, 2));
    results.add(ours1);
    Result ours2 = report(out, ours(dir, events, encodings, 2, 1));
    results.add(ours2);

    Files.createDirectories(outDir);
    writeReports(outDir, dir, results, mean, ours1, ours2, grouped);
    out.println("report: " + outDir.resolve("report.md") + ", " + outDir.resolve("report.json"));
    return 0;
  }

  private static Result report(PrintStream out, Result r) {
    out.printf(Locale.ROOT, "%-16s %-34s %-14s %9.1f events/s %10.0f tokens/s  padding x%.2f%n",
        r.layout().startsWith("bare") ? "ceiling" : "flink", r.pattern(), r.layout(), r.eventsPerSecond(),
        r.tokensPerSecond(), r.padding());
    return r;
  }

  /** The bare ONNX Runtime loop over pre-tokenized texts for about {@code seconds}. */
  static Result ceiling(ModelDirectory dir, List<Encoding> encodings, String name, int batch, boolean grouped,
      boolean padTo128, int threads, int seconds) throws Exception {
    try (ModelSession s = ModelSession.open(dir.onnxFile(), SessionOptions.defaults().intraOpThreads(threads))) {
      List<List<Encoding>> batches = new ArrayList<>();
      if (grouped) {
        for (int[] g : DynamicBatcher.plan(encodings, new BatchingOptions(batch, Integer.MAX_VALUE))) {
          List<Encoding> b = new ArrayList<>();
          for (int i : g) {
            b.add(encodings.get(i));
          }
          batches.add(b);
        }
        java.util.Collections.shuffle(batches, new java.util.Random(1));
      } else {
        for (int i = 0; i < encodings.size(); i += batch) {
          List<Encoding> b = new ArrayList<>(encodings.subList(i, Math.min(encodings.size(), i + batch)));
          if (padTo128) {
            b.add(Encoding.ofIds(new int[MAX_LEN], null)); // one full-length row pads the batch to 128
          }
          batches.add(b);
        }
      }
      s.run(batches.get(0)); // warm-up
      long events = 0;
      long tokens = 0;
      long padded = 0;
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
      long start = System.nanoTime();
      for (int k = 0; System.nanoTime() < deadline; k = (k + 1) % batches.size()) {
        List<Encoding> b = batches.get(k);
        s.run(b);
        int longest = 0;
        for (int i = 0; i < b.size(); i++) {
          longest = Math.max(longest, b.get(i).length());
          if (!(padTo128 && i == b.size() - 1)) {
            events++;
            tokens += b.get(i).length();
          }
        }
        padded += (long) longest * b.size();
      }
      return new Result(name, "bare ORT, " + threads + " thr", events, tokens, padded,
          (System.nanoTime() - start) / 1e9);
    }
  }

  private static long tokens(List<TextEvent> events, List<Encoding> encodings) {
    long t = 0;
    for (int i = 0; i < events.size(); i++) {
      t += encodings.get(i % encodings.size()).length();
    }
    return t;
  }

  /**
   * Notes when the first and the last result pass, so a Flink run is timed from its first result to its last and
   * job start-up does not count. The local cluster runs in this JVM, so static fields reach it.
   */
  static final class Clock<T> extends org.apache.flink.api.common.functions.RichMapFunction<T, T> {
    private static final long serialVersionUID = 1L;
    static final java.util.concurrent.atomic.AtomicLong FIRST = new java.util.concurrent.atomic.AtomicLong();
    static final java.util.concurrent.atomic.AtomicLong LAST = new java.util.concurrent.atomic.AtomicLong();
    static final java.util.concurrent.atomic.AtomicLong COUNT = new java.util.concurrent.atomic.AtomicLong();

    static void reset() {
      FIRST.set(Long.MAX_VALUE);
      LAST.set(0);
      COUNT.set(0);
    }

    /** Seconds from the first result to the last, scaled to cover every result (the first one had no wait). */
    static double seconds() {
      long n = COUNT.get();
      double span = (LAST.get() - FIRST.get()) / 1e9;
      return n > 1 ? span * n / (n - 1) : span;
    }

    @Override
    public T map(T value) {
      long now = System.nanoTime();
      FIRST.accumulateAndGet(now, Math::min);
      LAST.accumulateAndGet(now, Math::max);
      COUNT.incrementAndGet();
      return value;
    }
  }

  private static StreamExecutionEnvironment env(int parallelism) {
    Clock.reset();
    return StreamExecutionEnvironment.createLocalEnvironment(parallelism, new Configuration());
  }

  private static DataStream<TextEvent> source(StreamExecutionEnvironment env, List<TextEvent> events) {
    return env.fromData(events, new AvroTypeInfo<>(TextEvent.class));
  }

  /** What users write first: an AsyncFunction that calls the model once per event on a thread of its own. */
  static final class PerRecord extends RichAsyncFunction<TextEvent, String> {
    private static final long serialVersionUID = 1L;
    private final String dir;
    private transient TextClassificationPipeline pipeline;
    private transient ExecutorService executor;

    PerRecord(String dir) {
      this.dir = dir;
    }

    @Override
    public void open(OpenContext ctx) {
      pipeline = Pipeline.textClassification(Path.of(dir), PipelineOptions.defaults()
          .session(SessionOptions.defaults().intraOpThreads(2)).maxLength(MAX_LEN));
      executor = Executors.newSingleThreadExecutor();
    }

    @Override
    public void asyncInvoke(TextEvent e, ResultFuture<String> rf) {
      executor.submit(() -> rf.complete(List.of(pipeline.run(e.getText()).get(0).label())));
    }

    @Override
    public void close() {
      executor.shutdownNow();
      pipeline.close();
    }
  }

  static Result naivePerRecord(ModelDirectory dir, List<TextEvent> events, List<Encoding> encodings)
      throws Exception {
    StreamExecutionEnvironment env = env(1);
    AsyncDataStream.unorderedWait(source(env, events), new PerRecord(dir.path().toString()), 600, TimeUnit.SECONDS,
        100).map(new Clock<>()).sinkTo(new DiscardingSink<>());
    env.execute("bench-naive-per-record");
    return new Result("per-record AsyncFunction", "1 slot x 2 thr", events.size(), tokens(events, encodings), 0,
        Clock.seconds());
  }

  /** A count window of 32 in arrival order, padded to its longest member: the naive way to batch in Flink. */
  static final class CountWindowBatch extends ProcessAllWindowFunction<TextEvent, String, GlobalWindow> {
    private static final long serialVersionUID = 1L;
    private final String dir;
    private transient ModelSession session;
    private transient WordPieceTokenizer tokenizer;

    CountWindowBatch(String dir) {
      this.dir = dir;
    }

    @Override
    public void open(OpenContext ctx) {
      tokenizer = WordPieceTokenizer.fromDirectory(Path.of(dir));
      session = ModelSession.open(Path.of(dir, "model.onnx"), SessionOptions.defaults().intraOpThreads(2));
    }

    @Override
    public void process(Context ctx, Iterable<TextEvent> in, Collector<String> out) throws Exception {
      List<Encoding> batch = new ArrayList<>();
      for (TextEvent e : in) {
        batch.add(tokenizer.encode(e.getText(), MAX_LEN));
      }
      float[][][] logits = session.run(batch);
      out.collect(Integer.toString(logits[0].length));
    }

    @Override
    public void close() {
      session.close();
    }
  }

  static Result naiveCountWindow(ModelDirectory dir, List<TextEvent> events, List<Encoding> encodings)
      throws Exception {
    StreamExecutionEnvironment env = env(1);
    // one clock tick per window: scale the count by 32 events per window
    source(env, events).countWindowAll(32).process(new CountWindowBatch(dir.path().toString()))
        .map(new Clock<>()).sinkTo(new DiscardingSink<>());
    env.execute("bench-naive-count-window");
    long windows = Clock.COUNT.get();
    double secs = (Clock.LAST.get() - Clock.FIRST.get()) / 1e9 * windows / Math.max(1, windows - 1);
    return new Result("count window of 32, arrival order", "1 slot x 2 thr", windows * 32,
        tokens(events.subList(0, (int) Math.min(events.size(), windows * 32)), encodings), 0, secs);
  }

  static Result ours(ModelDirectory dir, List<TextEvent> events, List<Encoding> encodings, int slots, int threads)
      throws Exception {
    StreamExecutionEnvironment env = env(slots);
    InferenceSpec spec = InferenceSpec.builder()
        .model(Task.TEXT_CLASSIFICATION, dir.path())
        .pipelineOptions(PipelineOptions.defaults().maxLength(MAX_LEN)
            .session(SessionOptions.defaults().intraOpThreads(threads)))
        .maxWait(Duration.ofMillis(5))
        .timeout(Duration.ofMinutes(10))
        .build();
    DataStream<InferenceOutput> out = Enrichment.inference(source(env, events), spec);
    out.map(new Clock<>()).returns(new AvroTypeInfo<>(InferenceOutput.class)).sinkTo(new DiscardingSink<>());
    env.execute("bench-ours");
    return new Result("micro-batching operator", slots + " slot x " + threads + " thr", events.size(),
        tokens(events, encodings), 0, Clock.seconds());
  }

  private static void writeReports(Path outDir, ModelDirectory dir, List<Result> results, double meanTokens,
      Result ours1, Result ours2, Result grouped) throws Exception {
    Result best = ours2.eventsPerSecond() >= ours1.eventsPerSecond() ? ours2 : ours1;
    Result perRecord = find(results, "per-record AsyncFunction");
    Result window = find(results, "count window of 32, arrival order");
    Result arrival = find(results, "batches of 32, arrival order");
    ObjectNode json = JSON.createObjectNode();
    json.put("model", dir.toString());
    json.put("cores", Runtime.getRuntime().availableProcessors());
    json.put("mean_tokens_per_text", meanTokens);
    ArrayNode rows = json.putArray("results");
    StringBuilder md = new StringBuilder("# distilstream bench\n\nModel: `" + dir + "`, " + Runtime.getRuntime()
        .availableProcessors() + " cores, generated texts (mean " + String.format(Locale.ROOT, "%.1f", meanTokens)
        + " tokens, truncated to " + MAX_LEN + ").\nFlink rows are timed from the first result to the last (job start-up excluded).\n\n"
        + "| pattern | layout | events/s | tokens/s | padding |\n|---|---|---|---|---|\n");
    for (Result r : results) {
      ObjectNode row = rows.addObject();
      row.put("pattern", r.pattern());
      row.put("layout", r.layout());
      row.put("events", r.events());
      row.put("seconds", r.seconds());
      row.put("events_per_second", r.eventsPerSecond());
      row.put("tokens_per_second", r.tokensPerSecond());
      row.put("padding_ratio", r.padding());
      md.append(String.format(Locale.ROOT, "| %s | %s | %.1f | %.0f | %s |%n", r.pattern(), r.layout(),
          r.eventsPerSecond(), r.tokensPerSecond(), r.paddedTokens() == 0 ? "" : String.format(Locale.ROOT, "x%.2f",
              r.padding())));
    }
    ObjectNode ratios = json.putObject("ratios");
    ratios.put("ours_over_grouped_ceiling", best.eventsPerSecond() / grouped.eventsPerSecond());
    ratios.put("ours_over_naive_per_record", best.eventsPerSecond() / perRecord.eventsPerSecond());
    ratios.put("ours_over_naive_count_window", best.eventsPerSecond() / window.eventsPerSecond());
    ratios.put("grouped_over_arrival_order_ceiling", grouped.eventsPerSecond() / arrival.eventsPerSecond());
    ratios.put("ours_2x1_over_ours_1x2", ours2.eventsPerSecond() / ours1.eventsPerSecond());
    md.append("\n| ratio | value |\n|---|---|\n");
    ratios.fields().forEachRemaining(e -> md.append(String.format(Locale.ROOT, "| %s | %.2f |%n", e.getKey(),
        e.getValue().asDouble())));
    Files.writeString(outDir.resolve("report.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(json));
    Files.writeString(outDir.resolve("report.md"), md.toString());
  }

  private static Result find(List<Result> results, String pattern) {
    return results.stream().filter(r -> r.pattern().equals(pattern)).findFirst().orElseThrow();
  }
}
