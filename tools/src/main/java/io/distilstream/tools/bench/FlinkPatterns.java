package io.distilstream.tools.bench;

import io.distilstream.jobs.EnrichmentJob;
import io.distilstream.jobs.JobConfig;
import io.distilstream.operators.Enrichment;
import io.distilstream.operators.InferenceSpec;
import io.distilstream.runtime.batch.BatchingOptions;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.model.SessionOptions;
import io.distilstream.runtime.pipeline.ModelOutputCache;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.QuestionAnsweringPipeline;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import io.distilstream.runtime.pipeline.TokenClassificationPipeline;
import io.distilstream.runtime.tokenizer.Encoding;
import io.distilstream.runtime.tokenizer.WordPieceTokenizer;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import io.distilstream.tools.local.LocalKafka;
import io.distilstream.tools.local.TopicReader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
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
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The Flink patterns of the benchmark, each on a local cluster in this JVM: what users write first (a per-record
 * AsyncFunction; a count window padded to its longest member or to 128), our micro-batching operator alone and end
 * to end through Kafka, and our operator under an open-loop load. Static fields carry timings out of the operators,
 * which run in this JVM.
 */
final class FlinkPatterns {
  private static final int MAX_LEN = Ceiling.MAX_LEN;
  /** The question-answering events' question in the mixed pattern, as in {@code distilstream chaos}. */
  static final String MIX_QUESTION = "What is this about?";
  /**
   * The question-answering windows' overlap in the mixed pattern (inference.doc-stride): the default 128 does not fit
   * windows of the bench's 128 tokens, so a long context is cut into windows sharing 32 tokens.
   */
  static final int MIX_DOC_STRIDE = 32;
  /** The operator's max-wait in this bench (inference.max-wait): how long a partial batch waits for more. */
  static final long MAX_WAIT_MS = 5;

  private FlinkPatterns() {}

  /**
   * Holds back a run's first input until every measured subtask has opened (its model loaded), then notes when the
   * first input is handed over: a run is timed from there to its last result ({@link Clock}), so start-up is not
   * timed and nothing else is left out. Timing from the first result instead would leave out the first batch of
   * every slot, which flattered the batched patterns by 10-20% (issue 22).
   *
   * <p>Placed directly before the measured operator, with its parallelism, it is chained to it, and Flink opens a
   * chain from its tail to its head: this gate opens after the operator. A measured operator that is not chained to
   * the gate (a window) calls {@link #opened()} at the end of its own {@code open}.
   */
  static final class Gate<T> extends RichMapFunction<T, T> {
    private static final long serialVersionUID = 1L;
    private static volatile CountDownLatch ready = new CountDownLatch(0);
    /** When the first input was handed over: nanoTime, and wall-clock ms for runs timed by the broker's clock. */
    static final AtomicLong START = new AtomicLong();
    static final AtomicLong START_MILLIS = new AtomicLong();
    private transient boolean open;

    /** Before a run: the gate opens once {@code parties} subtasks (gates and unchained operators) have opened. */
    static void reset(int parties) {
      ready = new CountDownLatch(parties);
      START.set(Long.MAX_VALUE);
      START_MILLIS.set(Long.MAX_VALUE);
    }

    static void opened() {
      ready.countDown();
    }

    @Override
    public void open(OpenContext ctx) {
      opened();
    }

    @Override
    public T map(T value) throws InterruptedException {
      if (!open) {
        if (!ready.await(10, TimeUnit.MINUTES)) {
          throw new IllegalStateException("bench: the measured operators did not open within 10 minutes");
        }
        START.accumulateAndGet(System.nanoTime(), Math::min);
        START_MILLIS.accumulateAndGet(System.currentTimeMillis(), Math::min);
        open = true;
      }
      return value;
    }
  }

  /** Notes the first and last result and counts them; a run lasts from {@link Gate#START} to the last result. */
  static final class Clock<T> extends RichMapFunction<T, T> {
    private static final long serialVersionUID = 1L;
    static final AtomicLong FIRST = new AtomicLong();
    static final AtomicLong LAST = new AtomicLong();
    static final AtomicLong COUNT = new AtomicLong();

    static void reset() {
      FIRST.set(Long.MAX_VALUE);
      LAST.set(0);
      COUNT.set(0);
    }

    /** Seconds from the first input handed over to the last result. */
    static double seconds() {
      return (LAST.get() - Gate.START.get()) / 1e9;
    }

    /** Seconds from the first result to the last: for open-loop runs, whose rate the generator sets. */
    static double resultSpan() {
      return (LAST.get() - FIRST.get()) / 1e9;
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

  /** The texts of one Flink run, with their token counts. */
  record Events(List<TextEvent> events, long tokens) {
    static Events of(List<String> texts, List<Encoding> encodings, int n, String prefix) {
      List<TextEvent> events = new ArrayList<>(n);
      long tokens = 0;
      for (int i = 0; i < n; i++) {
        events.add(TextEvent.newBuilder().setId(prefix + i).setText(texts.get(i % texts.size()))
            .setTasks(List.of(Task.TEXT_CLASSIFICATION.id())).build());
        tokens += encodings.get(i % encodings.size()).length();
      }
      return new Events(events, tokens);
    }

    /**
     * The demo's mix ({@code distilstream chaos}'s events): every event classified, every 4th also
     * token-classification, every 10th also question-answering (a fixed question about the text). Tokens count the
     * text once per task it asks for.
     */
    static Events mixed(List<String> texts, List<Encoding> encodings, int n, String prefix) {
      List<TextEvent> events = new ArrayList<>(n);
      long tokens = 0;
      for (int i = 0; i < n; i++) {
        List<String> tasks = new ArrayList<>(List.of(Task.TEXT_CLASSIFICATION.id()));
        TextEvent.Builder b = TextEvent.newBuilder().setId(prefix + i).setText(texts.get(i % texts.size()));
        if (i % 4 == 0) {
          tasks.add(Task.TOKEN_CLASSIFICATION.id());
        }
        if (i % 10 == 0) {
          tasks.add(Task.QUESTION_ANSWERING.id());
          b.setQuestion(MIX_QUESTION);
        }
        events.add(b.setTasks(tasks).build());
        tokens += (long) tasks.size() * encodings.get(i % encodings.size()).length();
      }
      return new Events(events, tokens);
    }

    /** The results the mix of {@code n} events must give, per kind: one per (event, task), no dead letter. */
    static Map<String, Long> mixExpected(int n) {
      Map<String, Long> m = new LinkedHashMap<>();
      m.put(MixCount.CLASSIFICATION, (long) n);
      m.put(MixCount.ENTITIES, (n + 3) / 4L);
      m.put(MixCount.ANSWER, (n + 9) / 10L);
      m.put(MixCount.DEAD_LETTER, 0L);
      return m;
    }

    /**
     * {@code n} events of which a share {@code repeats} (drawn with a seeded random) repeat an earlier event's text
     * exactly, the others taking the next new text in turn. A repeat picks among the texts seen so far by a Zipf law
     * over their first appearance (exponent 1: the k-th text is repeated in proportion to 1/k), so a few texts
     * repeat often and most rarely, as retweets and spam waves do.
     */
    static Events withRepeats(List<String> texts, List<Encoding> encodings, int n, String prefix, double repeats,
        long seed) {
      java.util.Random random = new java.util.Random(seed);
      double[] cumulative = new double[n]; // cumulative[k] = sum of 1/(j+1) for j <= k
      double sum = 0;
      for (int k = 0; k < n; k++) {
        sum += 1.0 / (k + 1);
        cumulative[k] = sum;
      }
      List<TextEvent> events = new ArrayList<>(n);
      List<Integer> seen = new ArrayList<>(); // text indices by first appearance
      long tokens = 0;
      for (int i = 0; i < n; i++) {
        int text;
        if (!seen.isEmpty() && random.nextDouble() < repeats) {
          double u = random.nextDouble() * cumulative[seen.size() - 1];
          int k = java.util.Arrays.binarySearch(cumulative, 0, seen.size(), u);
          text = seen.get(Math.min(seen.size() - 1, k >= 0 ? k : -k - 1));
        } else {
          text = seen.size() % texts.size();
          seen.add(text);
        }
        events.add(TextEvent.newBuilder().setId(prefix + i).setText(texts.get(text))
            .setTasks(List.of(Task.TEXT_CLASSIFICATION.id())).build());
        tokens += encodings.get(text).length();
      }
      return new Events(events, tokens);
    }
  }

  private static StreamExecutionEnvironment env(int parallelism) {
    Clock.reset();
    Gate.reset(parallelism);
    return StreamExecutionEnvironment.createLocalEnvironment(parallelism, BenchMetrics.addTo(new Configuration()));
  }

  private static DataStream<TextEvent> source(StreamExecutionEnvironment env, List<TextEvent> events) {
    return env.fromData(events, new AvroTypeInfo<>(TextEvent.class));
  }

  /** The events, through a {@link Gate} with the environment's parallelism (the measured operator's). */
  private static DataStream<TextEvent> gated(StreamExecutionEnvironment env, List<TextEvent> events) {
    return source(env, events).map(new Gate<>()).returns(new AvroTypeInfo<>(TextEvent.class)).name("bench: gate");
  }

  /** What users write first: an AsyncFunction that calls the model once per event on a thread of its own. */
  static final class PerRecord extends RichAsyncFunction<TextEvent, String> {
    private static final long serialVersionUID = 1L;
    private final String dir;
    private final SessionOptions session;
    private transient TextClassificationPipeline pipeline;
    private transient ExecutorService executor;

    PerRecord(String dir, SessionOptions session) {
      this.dir = dir;
      this.session = session;
    }

    @Override
    public void open(OpenContext ctx) {
      pipeline = Pipeline.textClassification(Path.of(dir), PipelineOptions.defaults().session(session)
          .maxLength(MAX_LEN));
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

  /** The per-record AsyncFunction on {@code slots} subtasks, each with its own session. */
  static Measurement.Run perRecord(Path dir, SessionOptions session, int slots, Events in) throws Exception {
    StreamExecutionEnvironment env = env(slots);
    Rss.reset();
    AsyncDataStream.unorderedWait(gated(env, in.events()), new PerRecord(dir.toString(), session), 600,
        TimeUnit.SECONDS, 100).map(new Clock<>()).sinkTo(new DiscardingSink<>());
    env.execute("bench-naive-per-record");
    return new Measurement.Run(in.events().size(), in.tokens(), 0, Clock.seconds(), Rss.peakMb(), null, null);
  }

  /** A count window of 32 in arrival order, padded to its longest member (or to 128): the naive Flink batch. */
  static final class CountWindowBatch extends ProcessAllWindowFunction<TextEvent, Integer, GlobalWindow> {
    private static final long serialVersionUID = 1L;
    static final AtomicLong PADDED = new AtomicLong();
    static final AtomicLong TOKENS = new AtomicLong();
    private final String dir;
    private final SessionOptions options;
    private final boolean padToMax;
    private transient ModelSession session;
    private transient WordPieceTokenizer tokenizer;

    CountWindowBatch(String dir, SessionOptions options, boolean padToMax) {
      this.dir = dir;
      this.options = options;
      this.padToMax = padToMax;
    }

    @Override
    public void open(OpenContext ctx) {
      tokenizer = WordPieceTokenizer.fromDirectory(Path.of(dir));
      session = ModelSession.open(Path.of(dir, "model.onnx"), options);
      Gate.opened(); // not chained to the gate (the window is a shuffle away): it says itself that it is ready
    }

    @Override
    public void process(Context ctx, Iterable<TextEvent> in, Collector<Integer> out) throws Exception {
      List<Encoding> batch = new ArrayList<>();
      int longest = 0;
      for (TextEvent e : in) {
        Encoding enc = tokenizer.encode(e.getText(), MAX_LEN);
        batch.add(enc);
        longest = Math.max(longest, enc.length());
        TOKENS.addAndGet(enc.length());
      }
      int real = batch.size();
      if (padToMax) {
        batch.add(Encoding.ofIds(new int[MAX_LEN], null));
        longest = MAX_LEN;
      }
      PADDED.addAndGet((long) longest * real);
      session.run(batch);
      out.collect(real);
    }

    @Override
    public void close() {
      session.close();
    }
  }

  static Measurement.Run countWindow(Path dir, SessionOptions session, Events in, boolean padToMax)
      throws Exception {
    StreamExecutionEnvironment env = env(1);
    Gate.reset(2); // the gate and the window function, which is not chained to it
    CountWindowBatch.PADDED.set(0);
    CountWindowBatch.TOKENS.set(0);
    Rss.reset();
    // one clock tick per window of 32 events
    gated(env, in.events()).countWindowAll(32).process(new CountWindowBatch(dir.toString(), session, padToMax))
        .map(new Clock<>()).sinkTo(new DiscardingSink<>());
    env.execute("bench-naive-count-window");
    long windows = Clock.COUNT.get();
    double secs = Clock.seconds();
    long events = windows * 32;
    return new Measurement.Run(events, CountWindowBatch.TOKENS.get(), CountWindowBatch.PADDED.get(), secs,
        Rss.peakMb(), null, null);
  }

  /** The operator's spec in this bench; {@code maxPaddingRatio} is bench --max-padding-ratio (the default otherwise). */
  static InferenceSpec spec(Path dir, SessionOptions session, double maxPaddingRatio) {
    return spec(dir, session, maxPaddingRatio, null, -1, false, BatchingOptions.DEFAULT_PLAN_WINDOW_BATCHES);
  }

  /**
   * As {@link #spec(Path, SessionOptions, double)}, with the output cache of these bounds (null: off), on the
   * TaskManager's shared ONNX Runtime pool of {@code taskManagerThreads} (-1: threads per session), with one
   * session shared by the slots if {@code shareSessions}, its batcher planning over {@code planWindowBatches}
   * batches' worth of queued requests under load.
   */
  static InferenceSpec spec(Path dir, SessionOptions session, double maxPaddingRatio, ModelOutputCache.Bounds cache,
      int taskManagerThreads, boolean shareSessions, int planWindowBatches) {
    return InferenceSpec.builder()
        .taskManagerThreadPool(taskManagerThreads)
        .shareSessions(shareSessions)
        .model(Task.TEXT_CLASSIFICATION, dir)
        .pipelineOptions(PipelineOptions.defaults().maxLength(MAX_LEN).session(session)
            .batching(new BatchingOptions(BatchingOptions.DEFAULT_MAX_BATCH_SIZE, BatchingOptions.DEFAULT_MAX_TOKENS,
                maxPaddingRatio, planWindowBatches)))
        .maxWait(Duration.ofMillis(MAX_WAIT_MS))
        .timeout(Duration.ofMinutes(10))
        .cache(cache)
        .build();
  }

  /** The micro-batching operator alone: events from memory, results discarded. */
  static Measurement.Run ours(Path dir, SessionOptions session, int slots, Events in, double maxPaddingRatio)
      throws Exception {
    return ours(dir, session, slots, in, maxPaddingRatio, null);
  }

  /** As {@link #ours(Path, SessionOptions, int, Events, double)}, with the output cache of these bounds (null: off). */
  static Measurement.Run ours(Path dir, SessionOptions session, int slots, Events in, double maxPaddingRatio,
      ModelOutputCache.Bounds cache) throws Exception {
    return ours(dir, session, slots, in, maxPaddingRatio, cache, -1, false);
  }

  /** As above, with the output cache off and the batcher planning over {@code planWindowBatches} batches' worth. */
  static Measurement.Run ours(Path dir, SessionOptions session, int slots, Events in, double maxPaddingRatio,
      int planWindowBatches) throws Exception {
    return ours(dir, session, slots, in, maxPaddingRatio, null, -1, false, planWindowBatches);
  }

  /** As below, with the batcher's default plan window. */
  static Measurement.Run ours(Path dir, SessionOptions session, int slots, Events in, double maxPaddingRatio,
      ModelOutputCache.Bounds cache, int taskManagerThreads, boolean shareSessions) throws Exception {
    return ours(dir, session, slots, in, maxPaddingRatio, cache, taskManagerThreads, shareSessions,
        BatchingOptions.DEFAULT_PLAN_WINDOW_BATCHES);
  }

  /**
   * The operator on the TaskManager's shared ONNX Runtime pool of {@code taskManagerThreads} (-1: per session), the
   * slots sharing one session if {@code shareSessions}, the batcher planning over {@code planWindowBatches} batches'
   * worth of queued requests under load (1: each collected batch on its own, as before issue 22).
   */
  static Measurement.Run ours(Path dir, SessionOptions session, int slots, Events in, double maxPaddingRatio,
      ModelOutputCache.Bounds cache, int taskManagerThreads, boolean shareSessions, int planWindowBatches)
      throws Exception {
    StreamExecutionEnvironment env = env(slots);
    Rss.reset();
    DataStream<InferenceOutput> out = Enrichment.inference(gated(env, in.events()),
        spec(dir, session, maxPaddingRatio, cache, taskManagerThreads, shareSessions, planWindowBatches));
    out.map(new Clock<>()).returns(new AvroTypeInfo<>(InferenceOutput.class)).sinkTo(new DiscardingSink<>());
    env.execute("bench-ours");
    return new Measurement.Run(in.events().size(), in.tokens(), 0, Clock.seconds(), Rss.peakMb(),
        BenchMetrics.snapshot(), null);
  }

  // ---- the demo's mix of tasks --------------------------------------------------------------------------------

  /** Counts the results of a mixed run per kind (the {@link InferenceOutput} field that is set). */
  static final class MixCount<T> extends RichMapFunction<T, T> {
    private static final long serialVersionUID = 1L;
    static final String CLASSIFICATION = "classification";
    static final String ENTITIES = "entities";
    static final String ANSWER = "answer";
    static final String DEAD_LETTER = "dead_letter";
    static final Map<String, AtomicLong> COUNTS = new java.util.concurrent.ConcurrentHashMap<>();

    static void reset() {
      COUNTS.clear();
    }

    static Map<String, Long> counts() {
      Map<String, Long> m = new LinkedHashMap<>();
      for (String k : List.of(CLASSIFICATION, ENTITIES, ANSWER, DEAD_LETTER)) {
        m.put(k, COUNTS.getOrDefault(k, new AtomicLong()).get());
      }
      return m;
    }

    @Override
    public T map(T value) {
      String kind;
      if (value instanceof InferenceOutput o) {
        kind = o.getClassification() != null ? CLASSIFICATION : o.getEntities() != null ? ENTITIES
            : o.getAnswer() != null ? ANSWER : o.getDeadLetter() != null ? DEAD_LETTER : "other";
      } else {
        kind = value.toString(); // the per-record function emits the kind of each result
      }
      COUNTS.computeIfAbsent(kind, k -> new AtomicLong()).incrementAndGet();
      return value;
    }
  }

  /** The mix as users write it first: one AsyncFunction calling a pipeline per task, once per event and task. */
  static final class PerRecordMix extends RichAsyncFunction<TextEvent, String> {
    private static final long serialVersionUID = 1L;
    private final Map<Task, String> dirs;
    private final SessionOptions session;
    private transient TextClassificationPipeline classify;
    private transient TokenClassificationPipeline entities;
    private transient QuestionAnsweringPipeline answer;
    private transient ExecutorService executor;

    PerRecordMix(Map<Task, Path> dirs, SessionOptions session) {
      this.dirs = new java.util.EnumMap<>(Task.class);
      dirs.forEach((t, d) -> this.dirs.put(t, d.toString()));
      this.session = session;
    }

    @Override
    public void open(OpenContext ctx) {
      PipelineOptions o = PipelineOptions.defaults().session(session).maxLength(MAX_LEN).docStride(MIX_DOC_STRIDE);
      classify = Pipeline.textClassification(Path.of(dirs.get(Task.TEXT_CLASSIFICATION)), o);
      entities = Pipeline.tokenClassification(Path.of(dirs.get(Task.TOKEN_CLASSIFICATION)), o);
      answer = Pipeline.questionAnswering(Path.of(dirs.get(Task.QUESTION_ANSWERING)), o);
      executor = Executors.newSingleThreadExecutor();
    }

    @Override
    public void asyncInvoke(TextEvent e, ResultFuture<String> rf) {
      executor.submit(() -> {
        try {
          List<String> kinds = new ArrayList<>();
          String text = e.getText().toString();
          classify.run(text);
          kinds.add(MixCount.CLASSIFICATION);
          if (e.getTasks().stream().anyMatch(t -> Task.TOKEN_CLASSIFICATION.id().equals(t.toString()))) {
            entities.run(text);
            kinds.add(MixCount.ENTITIES);
          }
          if (e.getTasks().stream().anyMatch(t -> Task.QUESTION_ANSWERING.id().equals(t.toString()))) {
            answer.run(new QuestionAnsweringPipeline.Question(e.getQuestion().toString(), text));
            kinds.add(MixCount.ANSWER);
          }
          rf.complete(kinds);
        } catch (RuntimeException ex) {
          rf.completeExceptionally(ex);
        }
      });
    }

    @Override
    public void close() {
      executor.shutdownNow();
      classify.close();
      entities.close();
      answer.close();
    }
  }

  /** The per-record mix on {@code slots} subtasks, each with its own sessions; results counted per kind. */
  static Measurement.Run perRecordMixed(Map<Task, Path> dirs, SessionOptions session, int slots, Events in)
      throws Exception {
    StreamExecutionEnvironment env = env(slots);
    MixCount.reset();
    Rss.reset();
    try (Rss.Threads threads = Rss.Threads.sample()) {
      AsyncDataStream.unorderedWait(gated(env, in.events()), new PerRecordMix(dirs, session), 600,
          TimeUnit.SECONDS, 100).map(new MixCount<>()).map(new Clock<>()).sinkTo(new DiscardingSink<>());
      env.execute("bench-naive-per-record-mixed");
      return new Measurement.Run(in.events().size(), in.tokens(), 0, Clock.seconds(), Rss.peakMb(), null, null)
          .withMix(MixCount.counts(), threads.peak());
    }
  }

  /** The operator with a model per task of the mix; results counted per kind. */
  static Measurement.Run oursMixed(Map<Task, Path> dirs, SessionOptions session, int slots, Events in,
      double maxPaddingRatio) throws Exception {
    StreamExecutionEnvironment env = env(slots);
    MixCount.reset();
    Rss.reset();
    InferenceSpec.Builder spec = InferenceSpec.builder()
        .pipelineOptions(PipelineOptions.defaults().maxLength(MAX_LEN).docStride(MIX_DOC_STRIDE).session(session)
            .batching(new BatchingOptions(BatchingOptions.DEFAULT_MAX_BATCH_SIZE, BatchingOptions.DEFAULT_MAX_TOKENS,
                maxPaddingRatio)))
        .maxWait(Duration.ofMillis(MAX_WAIT_MS))
        .timeout(Duration.ofMinutes(10));
    dirs.forEach(spec::model);
    try (Rss.Threads threads = Rss.Threads.sample()) {
      Enrichment.inference(gated(env, in.events()), spec.build()).map(new MixCount<>())
          .returns(new AvroTypeInfo<>(InferenceOutput.class)).map(new Clock<>())
          .returns(new AvroTypeInfo<>(InferenceOutput.class)).sinkTo(new DiscardingSink<>());
      env.execute("bench-ours-mixed");
      return new Measurement.Run(in.events().size(), in.tokens(), 0, Clock.seconds(), Rss.peakMb(),
          BenchMetrics.snapshot(), null).withMix(MixCount.counts(), threads.peak());
    }
  }

  /**
   * The enrichment job end to end: events produced to a Kafka topic first, then the job (Kafka source,
   * decode, operator, exactly-once Kafka sink, checkpoints every 2 s) with {@code slots} subtasks. Timed from the
   * first event handed to the opened operator to the moment its last result is committed: a read_committed consumer,
   * polling the output topic while the job runs, notes when it has seen all {@code n} results (what the job's
   * consumers see; its results are invisible until their transaction commits, at a checkpoint). The seconds to the
   * last result's append (its broker timestamp, before that commit) come with the run. Fails if a result is missing
   * or duplicated.
   */
  static Measurement.Run endToEnd(LocalKafka kafka, Path dir, int slots, int threads, Events in, int run,
      double maxPaddingRatio)
      throws Exception {
    String suffix = "-" + run;
    String inputTopic = "bench-events" + suffix;
    String outputTopic = "bench-labels" + suffix;
    kafka.createTopics(2, List.of(inputTopic, "bench-dead-letters" + suffix));
    // the broker stamps each result when it is appended, so the run is timed by the broker's clock, not by the
    // input records' timestamps, which the sink would otherwise copy
    try (org.apache.kafka.clients.admin.Admin admin = kafka.admin()) {
      admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic(outputTopic, 2, (short) 1)
          .configs(Map.of("message.timestamp.type", "LogAppendTime")))).all().get(60, TimeUnit.SECONDS);
    }
    List<byte[]> values = new ArrayList<>();
    for (TextEvent e : in.events()) {
      values.add(TextEvents.encode(e));
    }
    kafka.produceSpread(inputTopic, values, 2); // both slots get half of the events
    Map<String, String> conf = new LinkedHashMap<>();
    conf.put("kafka.bootstrap.servers", kafka.bootstrapServers());
    conf.put("job.name", "bench-end-to-end" + suffix);
    conf.put("topics.input", inputTopic);
    conf.put("topics.classifications", outputTopic);
    conf.put("topics.dead-letters", "bench-dead-letters" + suffix);
    conf.put("input.format", "avro");
    conf.put("source.bounded", "true");
    conf.put("source.starting-offsets", "earliest");
    conf.put("execution.checkpointing.interval", "2 s");
    conf.put("inference.model.text-classification", dir.toString());
    conf.put("inference.max-length", Integer.toString(MAX_LEN));
    conf.put("inference.intra-op-threads", Integer.toString(threads));
    conf.put("inference.max-padding-ratio", Double.toString(maxPaddingRatio));
    conf.put("parallelism.default", Integer.toString(slots));
    JobConfig cfg = JobConfig.of(conf);
    StreamExecutionEnvironment env = env(slots);
    Rss.reset();
    EnrichmentJob.checkBroker(cfg);
    // the gate between decoding and the operator: timed from the first event handed to an opened operator
    EnrichmentJob.build(env, cfg, s -> s.map(new Gate<>()).returns(new AvroTypeInfo<>(TextEvent.class)));
    int n = in.events().size();
    long committed;
    try (CommitWatch watch = CommitWatch.start(kafka.bootstrapServers(), outputTopic, n)) {
      env.execute(cfg.jobName());
      committed = watch.awaitAll(Duration.ofMinutes(2));
    }
    double rss = Rss.peakMb();
    List<ConsumerRecord<byte[], byte[]>> results = TopicReader.readCommitted(kafka.bootstrapServers(), outputTopic);
    Set<String> ids = new HashSet<>();
    long lastAppend = 0;
    for (ConsumerRecord<byte[], byte[]> r : results) {
      ids.add(ClassificationResult.getDecoder().decode(r.value()).getId().toString());
      lastAppend = Math.max(lastAppend, r.timestamp());
    }
    if (ids.size() != n || results.size() != n) {
      throw new IllegalStateException("end to end: " + n + " events in, " + results.size() + " results out, "
          + ids.size() + " distinct: not exactly once");
    }
    // all on this machine's wall clock: the gate's, the broker's append stamps and the watching consumer's
    long start = Gate.START_MILLIS.get();
    return new Measurement.Run(n, in.tokens(), 0, (committed - start) / 1e3, rss, BenchMetrics.snapshot(), null)
        .withAppendSeconds((lastAppend - start) / 1e3);
  }

  /**
   * A read_committed consumer on the end-to-end run's output topic, polling on a thread of its own while the job
   * runs: notes the wall-clock time at which it has seen all {@code n} results, i.e. when the last of them was
   * committed (its fetches long-poll: the broker answers one as soon as a commit makes results visible).
   */
  static final class CommitWatch implements AutoCloseable {
    private final Thread thread;
    private final CountDownLatch all = new CountDownLatch(1);
    private final AtomicLong seenAllAt = new AtomicLong();
    private volatile boolean stop;
    private volatile Exception failure;

    private CommitWatch(String bootstrapServers, String topic, int n) {
      Map<String, Object> props = Map.of(
          org.apache.kafka.clients.consumer.ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
          org.apache.kafka.clients.consumer.ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
          org.apache.kafka.clients.consumer.ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
          // a long poll: the broker parks the fetch and answers as soon as a commit moves the partition's last
          // stable offset, so the watch still sees a commit within a few ms; a short max-wait (10 ms before) made
          // ~100 empty fetches a second, and the broker's share of the run's cores (it runs beside the job) went
          // to the watch instead of the job it measures
          org.apache.kafka.clients.consumer.ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 500,
          org.apache.kafka.clients.consumer.ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG,
          org.apache.kafka.common.serialization.ByteArrayDeserializer.class,
          org.apache.kafka.clients.consumer.ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
          org.apache.kafka.common.serialization.ByteArrayDeserializer.class);
      thread = new Thread(() -> {
        try (org.apache.kafka.clients.consumer.KafkaConsumer<byte[], byte[]> consumer =
            new org.apache.kafka.clients.consumer.KafkaConsumer<>(props)) {
          List<org.apache.kafka.common.TopicPartition> partitions = consumer.partitionsFor(topic,
              Duration.ofSeconds(30)).stream().map(p -> new org.apache.kafka.common.TopicPartition(p.topic(),
              p.partition())).toList();
          consumer.assign(partitions);
          consumer.seekToBeginning(partitions);
          long seen = 0;
          while (!stop && seen < n) {
            seen += consumer.poll(Duration.ofMillis(500)).count();
          }
          if (seen >= n) {
            seenAllAt.set(System.currentTimeMillis());
          }
        } catch (Exception e) {
          failure = e;
        } finally {
          all.countDown();
        }
      }, "bench: commit watch");
      thread.setDaemon(true);
    }

    static CommitWatch start(String bootstrapServers, String topic, int n) {
      CommitWatch w = new CommitWatch(bootstrapServers, topic, n);
      w.thread.start();
      return w;
    }

    /** The wall-clock ms at which all results had been seen committed. */
    long awaitAll(Duration timeout) throws Exception {
      if (!all.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new IllegalStateException("end to end: the results were not all committed within " + timeout);
      }
      if (failure != null) {
        throw failure;
      }
      if (seenAllAt.get() == 0) {
        throw new IllegalStateException("end to end: the commit watch stopped before it saw every result");
      }
      return seenAllAt.get();
    }

    @Override
    public void close() throws InterruptedException {
      stop = true;
      thread.join(TimeUnit.SECONDS.toMillis(30));
    }
  }

  // ---- latency under load -----------------------------------------------------------------------------------

  private static final List<Double> LATENCIES = new ArrayList<>();

  /**
   * The open-loop generator's events: each reader emits at {@code rate / parallelism}, and its k-th event is due
   * at the reader's start + k / that rate, whatever the job is doing. The due time (nanoTime; this JVM) travels in
   * the event id.
   */
  static final class LoadEvents implements GeneratorFunction<Long, TextEvent> {
    private static final long serialVersionUID = 1L;
    private final ArrayList<String> texts;
    private final double rate;
    private transient double perReader;
    private transient long start;
    private transient long k;
    private transient int subtask;

    LoadEvents(List<String> texts, double rate) {
      this.texts = new ArrayList<>(texts);
      this.rate = rate;
    }

    @Override
    public void open(org.apache.flink.api.connector.source.SourceReaderContext ctx) {
      perReader = rate / ctx.currentParallelism();
      subtask = ctx.getIndexOfSubtask();
    }

    @Override
    public TextEvent map(Long i) {
      long now = System.nanoTime();
      if (k == 0) {
        start = now;
      }
      long due = start + Math.round(k++ * 1e9 / perReader);
      return TextEvent.newBuilder().setId(subtask + ":" + i + ":" + due).setText(texts.get((int) (i % texts.size())))
          .setTasks(List.of(Task.TEXT_CLASSIFICATION.id())).build();
    }
  }

  /**
   * Paces each reader of the generator open loop: its k-th event is released at start + k / rate whatever the job
   * is doing, and at once when it is late (Flink's own per-second limiter saves up permits while the job starts
   * and then bursts).
   */
  static final class OpenLoop implements RateLimiterStrategy {
    private static final long serialVersionUID = 1L;
    private static final java.util.concurrent.ScheduledExecutorService TIMER =
        Executors.newSingleThreadScheduledExecutor(r -> {
          Thread t = new Thread(r, "bench-open-loop");
          t.setDaemon(true);
          return t;
        });
    private final double rate;

    OpenLoop(double rate) {
      this.rate = rate;
    }

    @Override
    public org.apache.flink.api.connector.source.util.ratelimit.RateLimiter createRateLimiter(int parallelism) {
      double perReader = rate / parallelism;
      return new org.apache.flink.api.connector.source.util.ratelimit.RateLimiter() {
        private long start;
        private long k;

        @Override
        public java.util.concurrent.CompletionStage<Void> acquire(int permits) {
          long now = System.nanoTime();
          if (k == 0) {
            start = now;
          }
          long due = start + Math.round(k * 1e9 / perReader);
          k += permits;
          if (due <= now) {
            return java.util.concurrent.CompletableFuture.completedFuture(null);
          }
          java.util.concurrent.CompletableFuture<Void> f = new java.util.concurrent.CompletableFuture<>();
          TIMER.schedule(() -> f.complete(null), due - now, TimeUnit.NANOSECONDS);
          return f;
        }
      };
    }
  }

  /** Latency of each result from the time its event was due, so that a stalled job is not excused. */
  static final class Latency extends RichMapFunction<InferenceOutput, InferenceOutput> {
    private static final long serialVersionUID = 1L;

    @Override
    public InferenceOutput map(InferenceOutput out) {
      if (out.getClassification() != null) {
        String id = out.getClassification().getId().toString();
        long due = Long.parseLong(id.substring(id.lastIndexOf(':') + 1));
        synchronized (LATENCIES) {
          LATENCIES.add((System.nanoTime() - due) / 1e6);
        }
      }
      return out;
    }
  }

  /** Our operator fed by an open-loop generator at {@code rate} events/s for {@code seconds}. */
  static Measurement.Run underLoad(Path dir, SessionOptions session, int slots, List<String> texts,
      List<Encoding> encodings, double rate, int seconds, double maxPaddingRatio) throws Exception {
    // whole passes: the corpus' lengths in their proportions; one reader per slot, chained with the operator, as the
    // Kafka job's source is: no network hop before it
    return underLoad(dir, session, slots, texts, encodings, rate, Bench.wholePasses(rate * seconds), slots,
        maxPaddingRatio, -1);
  }

  /**
   * Our operator on {@code slots} subtasks fed {@code n} events (the texts in turn) by an open-loop generator at
   * {@code rate} events/s with {@code readers} readers (the slots': chained with the operator; 1: one stream dealt
   * round-robin to the slots, so that at a low rate each text arrives alone), its sessions on the TaskManager's
   * shared pool of {@code taskManagerThreads} (-1: threads per session).
   */
  static Measurement.Run underLoad(Path dir, SessionOptions session, int slots, List<String> texts,
      List<Encoding> encodings, double rate, long n, int readers, double maxPaddingRatio, int taskManagerThreads)
      throws Exception {
    StreamExecutionEnvironment env = env(slots);
    if (readers != slots) {
      // a network hop between the readers and the operator: flush each record at once, or a lone text waits for
      // the output buffer's timeout (100 ms by default) and arrives with the next ones
      env.setBufferTimeout(0);
    }
    synchronized (LATENCIES) {
      LATENCIES.clear();
    }
    DataGeneratorSource<TextEvent> source = new DataGeneratorSource<>(new LoadEvents(texts, rate), n,
        new OpenLoop(rate), new AvroTypeInfo<>(TextEvent.class));
    Rss.reset();
    DataStream<TextEvent> events = env.fromSource(source, WatermarkStrategy.noWatermarks(), "open-loop generator")
        .setParallelism(readers);
    Enrichment.inference(events, spec(dir, session, maxPaddingRatio, null, taskManagerThreads, false,
        BatchingOptions.DEFAULT_PLAN_WINDOW_BATCHES)).map(new Latency())
        .returns(new AvroTypeInfo<>(InferenceOutput.class)).map(new Clock<>())
        .returns(new AvroTypeInfo<>(InferenceOutput.class)).sinkTo(new DiscardingSink<>());
    env.execute("bench-under-load");
    long tokens = 0;
    for (int i = 0; i < n; i++) {
      tokens += encodings.get(i % encodings.size()).length();
    }
    double[] lat;
    synchronized (LATENCIES) {
      // the first tenth warms the sessions up; what a steady stream sees is the rest
      lat = LATENCIES.subList(LATENCIES.size() / 10, LATENCIES.size()).stream().mapToDouble(Double::doubleValue)
          .toArray();
    }
    return new Measurement.Run(n, tokens, 0, Clock.resultSpan(), Rss.peakMb(), BenchMetrics.snapshot(), lat);
  }
}
