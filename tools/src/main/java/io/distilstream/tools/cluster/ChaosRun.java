package io.distilstream.tools.cluster;

import io.distilstream.jobs.JobConfig;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import io.distilstream.tools.local.LocalKafka;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.JobID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * {@code distilstream chaos}: a fault run of the enrichment job on a {@link LocalFlinkCluster} (separate JobManager
 * and TaskManager JVMs) against a {@link LocalKafka} broker. Produces N events with the hostile corpus mixed in,
 * submits the job jar, and while it works through them: SIGKILLs a TaskManager (the one running tasks) at random
 * points and waits for recovery from the checkpoint, stops and restarts the broker, stops the job with a savepoint
 * and restarts it at other parallelisms. A read_committed consumer then compares ids with the input and the run
 * prints {@code lost=N duplicated=N dead-lettered=N}; it fails unless nothing is lost or duplicated, every dead
 * letter is a hostile record with its expected reason, and the job never restarted outside a fault.
 *
 * <p>This class sets up, produces the events and waits; {@link ChaosOptions} holds the options, {@link FaultPlan}
 * says when to inject what, {@link FaultInjector} injects it, {@link ChaosVerifier} judges what was read back and
 * {@link ChaosReport} writes it down.
 */
public final class ChaosRun {
  private static final String QUESTION = "What is this about?";

  private final ChaosOptions o;
  private final PrintStream log;
  private final long started = System.currentTimeMillis();
  private LocalKafka kafka;
  private LocalFlinkCluster cluster;
  private ResultCounter counter;
  private FaultInjector injector;
  private int goodEvents;
  private final List<HostileCorpus.Hostile> hostile = new ArrayList<>();
  private final Map<String, Object> report = new LinkedHashMap<>();

  private ChaosRun(ChaosOptions o, PrintStream log) {
    this.o = o;
    this.log = log;
  }

  /** {@code distilstream chaos}: exits 0 when the run held, 1 when not. */
  public static int run(String[] argv, PrintStream out) throws Exception {
    ChaosOptions o = ChaosOptions.parse(argv);
    Map<String, Object> r = run(o, out);
    return Boolean.TRUE.equals(r.get("pass")) ? 0 : 1;
  }

  /** Runs the fault run and returns its report (also written to {@code o.out}); {@code pass} says whether it held. */
  public static Map<String, Object> run(ChaosOptions o, PrintStream log) throws Exception {
    if (o.models.isEmpty()) {
      o.models = ChaosOptions.defaultModels(Paths.get(System.getProperty("distilstream.shared", "../shared"),
          "models"));
    }
    for (Path m : o.models.values()) {
      if (!Files.isDirectory(m)) {
        throw new IllegalArgumentException("model directory not found: " + m + " (--models DIR or --model TASK=DIR)");
      }
    }
    ChaosRun r = new ChaosRun(o, log);
    try {
      r.execute();
    } finally {
      r.teardown();
    }
    return r.report;
  }

  // ---- the run ------------------------------------------------------------------------------------------------

  private void execute() throws Exception {
    Path jar = LocalFlinkCluster.jobJar();
    say("starting a Kafka broker and a Flink cluster (1 JobManager, %d TaskManagers x %d slots)",
        o.taskManagers, o.slots);
    java.util.concurrent.CompletableFuture<LocalKafka> broker = java.util.concurrent.CompletableFuture.supplyAsync(
        () -> {
          try {
            return LocalKafka.start(Map.of("message.max.bytes", "4194304", "replica.fetch.max.bytes", "4194304"));
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        });
    try {
      cluster = LocalFlinkCluster.start(null, o.taskManagers, o.slots,
          o.adaptiveRescale() ? LocalFlinkCluster.ADAPTIVE_SCHEDULER : Map.of());
    } finally {
      kafka = broker.join();
    }
    List<String> resultTopics = List.of("text-labels", "text-entities", "text-answers", "text-embeddings",
        "text-fill-mask", "text-choices", "text-dead-letters");
    List<String> topics = new ArrayList<>(List.of("text-events"));
    topics.addAll(resultTopics);
    kafka.createTopics(6, topics);
    logAppendTime(resultTopics);
    say("cluster at %s, directory %s", cluster.restUrl(), cluster.directory());

    if (o.rate <= 0) {
      long t = System.currentTimeMillis();
      produce();
      say("produced %d events and %d hostile records in %.1f s", goodEvents, hostile.size(),
          (System.currentTimeMillis() - t) / 1000.0);
    }

    Map<String, String> topicToTask = new LinkedHashMap<>();
    topicToTask.put("text-labels", "text-classification");
    if (o.models.containsKey("token-classification")) {
      topicToTask.put("text-entities", "token-classification");
    }
    if (o.models.containsKey("question-answering")) {
      topicToTask.put("text-answers", "question-answering");
    }
    // only hostile records (.ok files) ask for these
    Map<String, String> more = Map.of("feature-extraction", "text-embeddings", "fill-mask", "text-fill-mask",
        "multiple-choice", "text-choices");
    more.forEach((task, topic) -> {
      if (o.models.containsKey(task)) {
        topicToTask.put(topic, task);
      }
    });
    counter = new ResultCounter(kafka.bootstrapServers(), topicToTask, "text-dead-letters");

    injector = new FaultInjector(this, o, cluster, kafka, counter, jar);
    injector.submit();
    if (o.rate > 0) {
      produce();
      say("producing %d events and %d hostile records at %.0f events/s", goodEvents, hostile.size(), o.rate);
    }

    // before any fault: the hostile corpus, every kind of it, reaches the dead letters and restarts nothing
    Set<String> deadKinds = new java.util.TreeSet<>();
    hostile.stream().filter(h -> !h.ok()).forEach(h -> deadKinds.add(h.kind()));
    if (!deadKinds.isEmpty()) {
      say("waiting for the %d kinds of hostile records in the dead letters", deadKinds.size());
      awaitOrStall("every kind of hostile record dead-lettered",
          () -> kindsDeadLettered().keySet().containsAll(deadKinds));
      Map<String, String> seen = kindsDeadLettered();
      long r = injector.restartsNow();
      report.put("hostileKindsBeforeFirstFault", seen);
      report.put("restartsBeforeFirstFault", r);
      say("dead letters before any fault: %s; restarts %d", seen, r);
    }
    List<FaultPlan.Step> plan = FaultPlan.of(o);
    // the faults share what is left of the run: where the wait above took results past the plan's start, the plan
    // is squeezed into [now, 90 %], so that no fault is due before it can be injected (a short run with sparse
    // hostile records spends most of its input there); a fault that still finds nothing in flight fails the run
    double now = progress();
    if (now > 0.1 && now < 0.9) {
      plan = FaultPlan.squeezed(plan, now);
      say("moved the faults into [%.0f%%, 90%%] of the results", now * 100);
    }
    for (FaultPlan.Step step : plan) {
      awaitProgress(step.at());
      injector.inject(step);
    }
    awaitAll();
    long end = System.currentTimeMillis();
    injector.noteQuietRestarts();
    long restartsTotal = injector.restartsNow();
    cluster.cancel(injector.job());
    counter.catchUp(Duration.ofMinutes(2));
    readerSide(end);
    verify(restartsTotal);
  }

  /** Good events (fortunes; every 4th also asks for entities, every 10th for an answer) with hostile ones mixed in. */
  private void produce() throws Exception {
    List<String> texts = fortunes();
    Map<String, Object> props = Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ProducerConfig.ACKS_CONFIG, "all",
        ProducerConfig.LINGER_MS_CONFIG, 50,
        ProducerConfig.BATCH_SIZE_CONFIG, 262_144,
        ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 4_000_000,
        ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class,
        ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    boolean ner = o.models.containsKey("token-classification");
    boolean qa = o.models.containsKey("question-answering");
    List<HostileCorpus.Hostile> files = o.hostileDir == null ? List.of() : HostileCorpus.fromDirectory(o.hostileDir);
    hostile.addAll(files);
    for (int i = 0; i < o.events; i++) {
      if (isHostileSlot(i)) {
        hostile.add(HostileCorpus.nth(hostile.size() - files.size(), o.models.keySet()));
      }
    }
    goodEvents = o.events;
    Runnable send = () -> {
      long start = System.nanoTime();
      int h = 0;
      try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
        for (; h < files.size(); h++) {
          sendHostile(producer, h);
        }
        for (int i = 0; i < o.events; i++) {
          if (isHostileSlot(i)) {
            sendHostile(producer, h++);
          }
          String text = texts.get(i % texts.size());
          List<String> tasks = new ArrayList<>(List.of("text-classification"));
          TextEvent.Builder b = TextEvent.newBuilder().setId("ev-" + i).setText(text);
          if (ner && i % 4 == 0) {
            tasks.add("token-classification");
          }
          if (qa && i % 10 == 0) {
            tasks.add("question-answering");
            b.setQuestion(QUESTION);
          }
          byte[] key = ("ev-" + i).getBytes(StandardCharsets.UTF_8);
          producer.send(new ProducerRecord<>("text-events", key, TextEvents.encode(b.setTasks(tasks).build())));
          produced.incrementAndGet();
          if (o.rate > 0) {
            long due = start + (long) ((i + 1) * 1e9 / o.rate);
            long wait = due - System.nanoTime();
            if (wait > 0) {
              TimeUnit.NANOSECONDS.sleep(wait); // the generator's schedule
            }
          }
        }
        producer.flush();
      } catch (Exception e) {
        producerFailure = e;
      }
    };
    if (o.rate > 0) {
      Thread t = new Thread(send, "chaos-producer");
      t.setDaemon(true);
      t.start();
    } else {
      send.run();
    }
    if (producerFailure != null) {
      throw new IOException("producing the events failed: " + producerFailure, producerFailure);
    }
  }

  private volatile Exception producerFailure;
  /** Where each hostile record without an id landed ({@code topic-partition-offset}: the id the job gives it). */
  private final Map<Integer, String> coordinates = new java.util.concurrent.ConcurrentHashMap<>();

  private void sendHostile(KafkaProducer<byte[], byte[]> producer, int index) {
    HostileCorpus.Hostile h = hostile.get(index);
    producer.send(new ProducerRecord<>("text-events", null, h.value()), (md, e) -> {
      if (md != null && h.id() == null) {
        coordinates.put(index, md.topic() + "-" + md.partition() + "-" + md.offset());
      }
    });
    if (h.ok() && h.tasks().contains("text-classification")) {
      produced.incrementAndGet();
    }
  }

  /** Records sent that ask for text classification (good events and enriched hostile ones). */
  private final AtomicLong produced = new AtomicLong();
  /** Faults that found no event in flight: they test nothing; reported, and fail the run with --enforce-targets. */
  private final List<String> faultsAfterLastInput = new ArrayList<>();

  /**
   * Events in flight when a fault is injected: sent, with their classification not yet visible to the reader. A
   * fault that finds none (it landed after the last input's result) is noted in the report and, with
   * {@code --enforce-targets}, fails the run.
   */
  long inFlight(String fault) {
    long n = inFlightNow();
    if (n <= 0) {
      faultsAfterLastInput.add(fault + " at " + counter.classifications() + " results, none in flight");
      say("WARNING: the %s finds no event in flight: it tests nothing (use more --events or a higher --rate)",
          fault);
    }
    return Math.max(0, n);
  }

  /** Events sent whose classification the reader has not seen yet, at this moment. */
  long inFlightNow() {
    return produced.get() - counter.classifications();
  }

  /** The result topics time their records by the broker's clock (LogAppendTime): the write side of the gaps. */
  private void logAppendTime(List<String> topics) throws IOException {
    try (Admin admin = kafka.admin()) {
      Map<ConfigResource, Collection<AlterConfigOp>> ops = new LinkedHashMap<>();
      for (String t : topics) {
        ops.put(new ConfigResource(ConfigResource.Type.TOPIC, t), List.of(new AlterConfigOp(
            new ConfigEntry("message.timestamp.type", "LogAppendTime"), AlterConfigOp.OpType.SET)));
      }
      admin.incrementalAlterConfigs(ops).all().get(60, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      throw new IOException("setting LogAppendTime on " + topics + " failed: " + e, e);
    }
  }

  private boolean isHostileSlot(int i) {
    return o.hostileEvery > 0 && i % o.hostileEvery == o.hostileEvery / 2;
  }

  private static List<String> fortunes() throws IOException {
    try (InputStream in = ChaosRun.class.getResourceAsStream("/io/distilstream/tools/bench/fortunes.txt")) {
      if (in == null) {
        throw new IOException("fortunes.txt is missing from the class path");
      }
      List<String> out = new ArrayList<>();
      BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
      for (String line; (line = r.readLine()) != null; ) {
        if (!line.isBlank()) {
          // well inside the models' 512-token window: the job rejects longer texts in this run
          out.add(line.length() > 300 ? line.substring(0, 300) : line);
        }
      }
      return out;
    }
  }

  private double progress() {
    return counter.classifications() / (double) goodEvents;
  }

  private void awaitProgress(double fraction) throws IOException {
    say("waiting for %.0f%% of the results", fraction * 100);
    awaitOrStall("progress " + fraction, () -> progress() >= fraction);
  }

  /** Waits for a condition while results keep arriving; fails after {@code stallTimeout} without any. */
  void awaitOrStall(String what, java.util.function.BooleanSupplier condition) throws IOException {
    long last = counter.classifications();
    long lastChange = System.nanoTime();
    while (!condition.getAsBoolean()) {
      if (producerFailure != null) {
        throw new IOException("producing the events failed: " + producerFailure, producerFailure);
      }
      long now = counter.classifications();
      if (now != last) {
        last = now;
        lastChange = System.nanoTime();
      } else if (System.nanoTime() - lastChange > o.stallTimeout.toNanos()) {
        throw new IOException("no results for " + o.stallTimeout.toSeconds() + " s while waiting for " + what
            + " (job " + injector.job() + " " + cluster.rest().jobState(injector.job()).orElse("?") + ", failures "
            + cluster.rest().failures(injector.job()) + ")");
      }
      sleep(200);
    }
  }

  /** Hostile kinds seen on the dead-letter topic so far, with the reason given. */
  private Map<String, String> kindsDeadLettered() {
    return ChaosVerifier.judgeHostile(hostile, coordinates, counter.deadLetters(), Map.of()).kindsDeadLettered();
  }

  private void awaitAll() throws IOException {
    say("waiting for every result");
    awaitOrStall("every result", () -> progress() >= 1.0 && ChaosVerifier.expectedLeft(o, goodEvents,
        counter.counts(), counter.deadLetters(), hostile, coordinates) == 0);
  }

  // ---- verdict and report -------------------------------------------------------------------------------------

  /** What the reader saw of each fault ({@link ChaosVerifier#readerSide}), into the report and the log. */
  private void readerSide(long end) {
    List<Map<String, Object>> faults = injector.faults();
    ChaosVerifier.ReaderSide side = ChaosVerifier.readerSide(faults, counter.timelines(), o.checkpointInterval, end);
    report.put("readerSide", side.summary());
    report.put("targetsMet", side.targetsMet());
    for (Map<String, Object> f : faults) {
      say("reader side: %s at %s results: resume max %s ms (p50 %s), largest gap %s ms, written again after %s ms;"
          + " target %s ms: %s", f.get("fault"), f.get("atResults"), f.get("readerResumeMs"),
          f.get("readerResumeP50Ms"), f.get("readerGapMs"), f.get("writeResumeMs"), f.get("targetMs"),
          Boolean.TRUE.equals(f.get("withinTarget")) ? "within" : "MISSED");
    }
    if (!faultsAfterLastInput.isEmpty()) {
      report.put("faultsAfterLastInput", faultsAfterLastInput);
    }
  }

  /** Counts ({@link ChaosVerifier#count}), decides, writes the report and prints the verdict line. */
  private void verify(long restartsTotal) throws IOException {
    List<ResultCounter.Dead> dead = counter.deadLetters();
    ChaosVerifier.Counts c = ChaosVerifier.count(o, goodEvents, counter.counts(), dead, hostile, coordinates);
    long lost = c.lost();
    long duplicated = c.duplicated();
    List<String> wrong = c.hostile().wrong();
    long unexplainedRestarts = injector.unexplainedRestarts();
    List<Map<String, Object>> faults = injector.faults();
    boolean targetsMet = Boolean.TRUE.equals(report.get("targetsMet"));
    boolean pass = lost == 0 && duplicated == 0 && wrong.isEmpty() && unexplainedRestarts == 0
        && ((faultsAfterLastInput.isEmpty() && targetsMet) || !o.enforceTargets);

    report.put("pass", pass);
    report.put("events", goodEvents);
    report.put("hostile", hostile.size());
    report.put("expectedResults", c.expectedPerTask());
    report.put("results", c.resultsPerTask());
    report.put("lost", lost);
    report.put("duplicated", duplicated);
    report.put("deadLettered", dead.size());
    report.put("deadLettersNotHostileOrWrongReason", wrong.size());
    if (!wrong.isEmpty()) {
      report.put("deadLetterProblems", wrong.subList(0, Math.min(20, wrong.size())));
    }
    report.put("deadLetterReasonsByKind", c.hostile().reasonsByKind());
    report.put("restarts", restartsTotal);
    report.put("restartsWithoutInjectedFault", unexplainedRestarts);
    if (!injector.unexplained().isEmpty()) {
      report.put("unexplainedFailures", injector.unexplained());
    }
    report.put("kills", faults.stream().filter(f -> f.get("fault").equals("kill")).count());
    report.put("faults", faults);
    report.put("jobs", injector.jobs().stream().map(JobID::toString).toList());
    report.put("checkpointInterval", o.checkpointInterval.toMillis() + " ms");
    report.put("rescale", o.rescale);
    report.put("transactionNaming", o.transactionNaming == null
        ? JobConfig.TRANSACTION_NAMING.defaultValue() + " (job default)" : o.transactionNaming);
    report.put("jobOptions", o.jobOptions);
    report.put("parallelism", o.parallelism);
    report.put("seed", o.seed);
    report.put("rate", o.rate > 0 ? o.rate : "backlog");
    report.put("durationSeconds", ChaosReport.round((System.currentTimeMillis() - started) / 1000.0));
    ChaosReport.write(o.out, report, faults);
    say("report: %s, %s", o.out.resolve("report.md"), o.out.resolve("report.json"));
    log.printf("lost=%d duplicated=%d dead-lettered=%d%n", lost, duplicated, dead.size());
    if (!pass) {
      log.println("FAILED: " + ChaosReport.failure(lost, duplicated, wrong, unexplainedRestarts,
          faultsAfterLastInput, targetsMet, o.enforceTargets));
    }
  }

  private void teardown() {
    if (counter != null) {
      counter.close();
    }
    if (cluster != null) {
      if (o.keep) {
        say("kept the cluster's directory %s", cluster.directory());
        cluster.detachDirectory();
      }
      cluster.close();
    }
    if (kafka != null) {
      if (o.keep) {
        say("kept the broker's directory %s", kafka.directory());
        kafka.stop();
      } else {
        kafka.close();
      }
    }
  }

  void say(String format, Object... args) {
    log.printf(Locale.ROOT, "[%6.1f s] %s%n", (System.currentTimeMillis() - started) / 1000.0,
        String.format(Locale.ROOT, format, args));
  }

  static void sleep(long ms) {
    try {
      TimeUnit.MILLISECONDS.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}
