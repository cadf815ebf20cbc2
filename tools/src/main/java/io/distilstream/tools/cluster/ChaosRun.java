package io.distilstream.tools.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.distilstream.tools.local.LocalKafka;
import io.distilstream.runtime.cli.Args;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
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
 */
public final class ChaosRun {
  public static final String USAGE = String.join("\n",
      "usage: distilstream chaos [options]",
      "  A fault run on a local Flink cluster (a JobManager and TaskManagers in their own JVMs) and Kafka broker.",
      "  --events N               good events (100000)",
      "  --kills N                TaskManager SIGKILLs at random points, each followed by recovery (5)",
      "  --broker-restarts N      Kafka broker stops and restarts mid-run (1)",
      "  --broker-down D          how long the broker stays down ('5 s')",
      "  --parallelism LIST       the job's parallelism, changed by stop-with-savepoint and restore ('2,3,1')",
      "  --hostile-every N        one hostile record per N good events; 0 for none (1000)",
      "  --hostile DIR            more hostile records, one file per record value: NAME.REASON (the dead-letter",
      "                           reason it must get) or NAME.ok (enriched once per distinct task it names)",
      "  --rate R                 events per second while the job runs, so that every fault meets events in",
      "                           flight; 0 produces all before the job starts, a backlog (400)",
      "  --checkpoint-interval D  ('2 s')",
      "  --window D               throughput window before and after each rescale ('10 s')",
      "  --seed N                 chooses the kill points and the TaskManagers (1)",
      "  --models DIR             test models (../shared/models), or --model TASK=DIR (repeatable)",
      "  --taskmanagers N --slots N   cluster shape (2, 2)",
      "  --stall-timeout D        give up when no result arrives for this long ('3 min')",
      "  --transaction-naming S   the sinks' sink.transaction-naming: pooling (the job's default) or incrementing",
      "  --enforce-targets        fail unless every fault's reader-side recovery is inside its target: a kill",
      "                           within checkpoint interval + 10 s, a broker restart within 10 s of the broker",
      "                           being back, a rescale's downtime under 10 s",
      "  --out DIR                report.md and report.json (chaos-out)",
      "  --keep                   keep the cluster's and the broker's directories (logs)");

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  private static final String QUESTION = "What is this about?";

  /** Options of one run. */
  public static final class Options {
    public int events = 100_000;
    public int kills = 5;
    public int brokerRestarts = 1;
    public Duration brokerDown = Duration.ofSeconds(5);
    public List<Integer> parallelism = List.of(2, 3, 1);
    public int hostileEvery = 1000;
    /** {@code --hostile DIR}: extra records from files, produced before the good events (null: none). */
    public Path hostileDir;
    /** Events per second from the generator; 0 produces them all before the job starts (a backlog). */
    public double rate = 400;
    public Duration checkpointInterval = Duration.ofSeconds(2);
    public Duration window = Duration.ofSeconds(10);
    public long seed = 1;
    public Map<String, Path> models = new LinkedHashMap<>();
    public int taskManagers = 2;
    public int slots = 2;
    public Duration stallTimeout = Duration.ofMinutes(3);
    public Path out = Paths.get("chaos-out");
    public boolean keep;
    /** {@code sink.transaction-naming} for the job; null for the job's default. */
    public String transactionNaming;
    /** Fail the run when a fault's reader-side recovery misses its target (else only reported). */
    public boolean enforceTargets;
  }

  /** A broker restart's and a rescale's target: results flowing again within this long. */
  static final long TARGET_MS = 10_000;

  private final Options o;
  private final PrintStream log;
  private final long started = System.currentTimeMillis();
  private LocalKafka kafka;
  private LocalFlinkCluster cluster;
  private ResultCounter counter;
  private JobID job;
  private final List<JobID> jobs = new ArrayList<>();
  private long restartsOfEarlierJobs;
  private long unexplainedRestarts;
  private final List<String> unexplained = new ArrayList<>();
  private long restartsAfterLastFault;
  private int goodEvents;
  private final List<HostileCorpus.Hostile> hostile = new ArrayList<>();
  private final Map<String, Object> report = new LinkedHashMap<>();
  private final List<Map<String, Object>> faults = new ArrayList<>();

  private ChaosRun(Options o, PrintStream log) {
    this.o = o;
    this.log = log;
  }

  public static int run(String[] argv, PrintStream out) throws Exception {
    Options o = parse(argv);
    Map<String, Object> r = run(o, out);
    return Boolean.TRUE.equals(r.get("pass")) ? 0 : 1;
  }

  static Options parse(String[] argv) {
    Args a = Args.parse(argv, Set.of("keep", "enforce-targets"));
    Options o = new Options();
    o.events = a.integer("events", o.events);
    o.kills = a.integer("kills", o.kills);
    o.brokerRestarts = a.integer("broker-restarts", o.brokerRestarts);
    o.brokerDown = duration(a.string("broker-down", "5 s"));
    String p = a.string("parallelism", "2,3,1");
    o.parallelism = new ArrayList<>();
    for (String x : p.split(",")) {
      int n = Integer.parseInt(x.trim());
      if (n < 1) {
        throw new Args.UsageException("--parallelism takes numbers of at least 1, got '" + p + "'");
      }
      o.parallelism.add(n);
    }
    o.hostileEvery = a.integer("hostile-every", o.hostileEvery);
    String hostileDir = a.string("hostile", null);
    o.hostileDir = hostileDir == null ? null : Paths.get(hostileDir);
    o.rate = Double.parseDouble(a.string("rate", "400"));
    o.checkpointInterval = duration(a.string("checkpoint-interval", "2 s"));
    o.window = duration(a.string("window", "10 s"));
    o.seed = Long.parseLong(a.string("seed", "1"));
    String models = a.string("models", null);
    if (models != null) {
      o.models = defaultModels(Paths.get(models));
    }
    for (String m : a.all("model")) {
      int eq = m.indexOf('=');
      if (eq <= 0) {
        throw new Args.UsageException("--model takes TASK=DIR, got '" + m + "'");
      }
      o.models.put(m.substring(0, eq), Paths.get(m.substring(eq + 1)).toAbsolutePath());
    }
    o.taskManagers = a.integer("taskmanagers", o.taskManagers);
    o.slots = a.integer("slots", o.slots);
    o.stallTimeout = duration(a.string("stall-timeout", "3 min"));
    o.out = Paths.get(a.string("out", "chaos-out"));
    o.keep = a.flag("keep");
    o.enforceTargets = a.flag("enforce-targets");
    o.transactionNaming = a.string("transaction-naming", null);
    a.rejectUnknown();
    if (o.events < 10) {
      throw new Args.UsageException("--events must be at least 10");
    }
    int maxP = o.parallelism.stream().mapToInt(Integer::intValue).max().orElse(1);
    if (maxP > o.taskManagers * o.slots) {
      throw new Args.UsageException("parallelism " + maxP + " needs more than " + o.taskManagers + " x "
          + o.slots + " slots");
    }
    return o;
  }

  private static Duration duration(String s) {
    return org.apache.flink.util.TimeUtils.parseDuration(s);
  }

  /**
   * The tiny test models under {@code dir}: text, token classification and question answering for the events, and
   * fill-mask so that the hostile corpus's 510-[MASK] text meets a real fill-mask model.
   */
  public static Map<String, Path> defaultModels(Path dir) {
    Map<String, Path> m = new LinkedHashMap<>();
    m.put("text-classification", dir.resolve("tiny-distilbert-sequence-classification").toAbsolutePath());
    m.put("token-classification", dir.resolve("tiny-distilbert-token-classification").toAbsolutePath());
    m.put("question-answering", dir.resolve("tiny-distilbert-question-answering").toAbsolutePath());
    m.put("fill-mask", dir.resolve("tiny-distilbert-masked-lm").toAbsolutePath());
    return m;
  }

  /** Runs the fault run and returns its report (also written to {@code o.out}); {@code pass} says whether it held. */
  public static Map<String, Object> run(Options o, PrintStream log) throws Exception {
    if (o.models.isEmpty()) {
      o.models = defaultModels(Paths.get(System.getProperty("distilstream.shared", "../shared"), "models"));
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
      cluster = LocalFlinkCluster.start(null, o.taskManagers, o.slots, Map.of());
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

    int p = o.parallelism.get(0);
    job = cluster.submit(jar, jobArgs(p), p, null);
    jobs.add(job);
    currentParallelism = p;
    cluster.awaitRunning(job, Duration.ofMinutes(3));
    say("job %s running at parallelism %d (sink.transaction-naming %s)", job, p,
        o.transactionNaming == null ? "pooling, the job's default" : o.transactionNaming);
    lastFaultEnd = System.currentTimeMillis();
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
      long r = restartsNow();
      report.put("hostileKindsBeforeFirstFault", seen);
      report.put("restartsBeforeFirstFault", r);
      say("dead letters before any fault: %s; restarts %d", seen, r);
    }
    List<double[]> plan = plan(); // {fraction, kind: 0 kill, 1 broker, 2 rescale, index}
    // the faults share what is left of the run: where the wait above took results past the plan's start, the plan
    // is squeezed into [now, 90 %], so that no fault is due before it can be injected (a short run with sparse
    // hostile records spends most of its input there); a fault that still finds nothing in flight fails the run
    double now = progress();
    if (now > 0.1 && now < 0.9) {
      for (double[] step : plan) {
        step[0] = now + (step[0] - 0.1) * (0.9 - now) / 0.8;
      }
      say("moved the faults into [%.0f%%, 90%%] of the results", now * 100);
    }
    for (double[] step : plan) {
      awaitProgress(step[0]);
      noteQuietRestarts();
      switch ((int) step[1]) {
        case 0: kill(); break;
        case 1: restartBroker(); break;
        default: rescale(o.parallelism.get((int) step[2]), jar);
      }
      restartsAfterLastFault = restartsNow();
      lastFaultEnd = System.currentTimeMillis();
    }
    awaitAll();
    long end = System.currentTimeMillis();
    noteQuietRestarts();
    long restartsTotal = restartsNow();
    cluster.cancel(job);
    counter.catchUp(Duration.ofMinutes(2));
    readerSide(end);
    verify(restartsTotal);
  }

  private List<String> jobArgs(int parallelism) {
    List<String> a = new ArrayList<>(List.of(
        "--bootstrap-servers", kafka.bootstrapServers(),
        "--parallelism", String.valueOf(parallelism),
        "--checkpoint-interval", o.checkpointInterval.toMillis() + " ms",
        "--set", "job.name=distilstream-chaos",
        "--set", "sink.transactional-id-prefix=distilstream-chaos",
        "--set", "source.group-id=distilstream-chaos",
        "--set", "source.starting-offsets=earliest",
        // a 10k-token text is a dead letter, not a truncated classification
        "--set", "inference.long-text=reject",
        // no kafka.transaction.timeout.ms here: the default (15 min) is what users run, and a transaction a killed
        // TaskManager left open must be aborted by the recovery, not by the broker's timeout (readerResumeMs shows it)
        "--set", "kafka.max.request.size=2097152"));
    if (o.transactionNaming != null) {
      a.add("--set");
      a.add("sink.transaction-naming=" + o.transactionNaming);
    }
    o.models.forEach((task, dir) -> {
      a.add("--model");
      a.add(task + "=" + dir);
    });
    return a;
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
  private long inFlight(String fault) {
    long n = produced.get() - counter.classifications();
    if (n <= 0) {
      faultsAfterLastInput.add(fault + " at " + counter.classifications() + " results, none in flight");
      say("WARNING: the %s finds no event in flight: it tests nothing (use more --events or a higher --rate)",
          fault);
    }
    return Math.max(0, n);
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

  /**
   * The faults at their progress fractions, in order: [0.1, 0.9] cut into one slot per fault, each fault at a random
   * point of its slot; the rescales spread evenly over the slots, kills and broker restarts in random order between.
   */
  private List<double[]> plan() {
    SplittableRandom rnd = new SplittableRandom(o.seed);
    int changes = o.parallelism.size() - 1;
    int n = o.kills + o.brokerRestarts + changes;
    List<double[]> others = new ArrayList<>();
    for (int i = 0; i < o.kills; i++) {
      others.add(new double[] {0, 0, 0});
    }
    for (int i = 0; i < o.brokerRestarts; i++) {
      others.add(new double[] {0, 1, 0});
    }
    java.util.Collections.shuffle(others, new Random(rnd.nextLong()));
    Set<Integer> rescaleSlots = new java.util.HashSet<>();
    for (int j = 1; j <= changes; j++) {
      rescaleSlots.add((int) Math.round(j * n / (changes + 1.0)));
    }
    List<double[]> plan = new ArrayList<>();
    int change = 1;
    int other = 0;
    double width = 0.8 / Math.max(1, n);
    for (int slot = 0; slot < n; slot++) {
      double at = 0.1 + width * (slot + rnd.nextDouble());
      if (rescaleSlots.contains(slot) && change <= changes) {
        plan.add(new double[] {at, 2, change++});
      } else if (other < others.size()) {
        double[] f = others.get(other++);
        plan.add(new double[] {at, f[1], 0});
      } else {
        plan.add(new double[] {at, 2, change++});
      }
    }
    return plan;
  }

  private double progress() {
    return counter.classifications() / (double) goodEvents;
  }

  private void awaitProgress(double fraction) throws IOException {
    say("waiting for %.0f%% of the results", fraction * 100);
    awaitOrStall("progress " + fraction, () -> progress() >= fraction);
  }

  /** Waits for a condition while results keep arriving; fails after {@code stallTimeout} without any. */
  private void awaitOrStall(String what, java.util.function.BooleanSupplier condition) throws IOException {
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
            + " (job " + job + " " + cluster.jobState(job).orElse("?") + ", failures "
            + cluster.failures(job) + ")");
      }
      sleep(200);
    }
  }

  /** Restarts of every job so far (the current one's numRestarts metric plus earlier jobs'). */
  private long restartsNow() {
    return restartsOfEarlierJobs + Math.max(0, cluster.restarts(job));
  }

  /** A restart between faults had no injected cause: hostile input or a bug. */
  private void noteQuietRestarts() {
    long now = restartsNow();
    if (now > restartsAfterLastFault) {
      unexplainedRestarts += now - restartsAfterLastFault;
      unexplained.addAll(cluster.failures(job));
      say("WARNING: %d restart(s) with no fault injected: %s", now - restartsAfterLastFault, cluster.failures(job));
      restartsAfterLastFault = now;
    }
  }

  private void kill() throws Exception {
    // recovery is from a checkpoint: make sure one has completed since the job (re)started
    long before = cluster.completedCheckpoints(job);
    LocalFlinkCluster.awaitCondition("a completed checkpoint", Duration.ofMinutes(2),
        () -> cluster.completedCheckpoints(job) > 0 && cluster.completedCheckpoints(job) >= before);
    List<String> running = cluster.taskManagersOf(job);
    running.retainAll(cluster.taskManagerIds());
    List<String> candidates = running.isEmpty() ? cluster.taskManagerIds() : running;
    String tm = candidates.get(new SplittableRandom(o.seed * 31 + faults.size()).nextInt(candidates.size()));
    LocalFlinkCluster.awaitCondition("the job's restart count", Duration.ofMinutes(1),
        () -> cluster.restarts(job) >= 0);
    long restartsBefore = cluster.restarts(job);
    long resultsAt = counter.classifications();
    // strike between a transaction's first record and its commit: while an open transaction holds a result
    // partition (written, not yet committed); with events flowing that is almost always at once
    Map<String, Long> held = counter.heldPartitions();
    for (long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        held.isEmpty() && System.nanoTime() < deadline; ) {
      sleep(50);
      held = counter.heldPartitions();
    }
    long inFlight = inFlight("kill");
    long t0 = System.currentTimeMillis();
    cluster.killTaskManager(tm);
    say("SIGKILLed TaskManager %s at %d results (%.0f%%), %d events in flight, %d result partitions held by open"
        + " transactions", tm, resultsAt, 100.0 * resultsAt / goodEvents, inFlight, held.size());
    String replacement = cluster.startTaskManager(); // as a process supervisor would
    cluster.awaitTaskManagers(o.taskManagers, Duration.ofMinutes(2));
    LocalFlinkCluster.awaitCondition("the job restarted after killing " + tm, Duration.ofMinutes(3),
        () -> cluster.restarts(job) > restartsBefore && cluster.allTasksRunning(job));
    long tasksRunning = System.currentTimeMillis();
    // recovered: running again and a checkpoint completed after the kill (the killed TaskManager could ack none)
    awaitHealthy(t0);
    long recovered = System.currentTimeMillis();
    // the checkpoint statistics say what the recovery restored (they may lag the job's state a little)
    JsonNode[] restoredBox = new JsonNode[1];
    try {
      LocalFlinkCluster.awaitCondition("the restored checkpoint", Duration.ofSeconds(30), () -> {
        restoredBox[0] = cluster.checkpoints(job).map(c -> c.path("latest").path("restored")).orElse(null);
        return restoredBox[0] != null && restoredBox[0].path("restore_timestamp").asLong() >= t0;
      });
    } catch (IOException e) {
      say("WARNING: %s", e.getMessage());
    }
    JsonNode restored = restoredBox[0];
    Map<String, Object> f = new LinkedHashMap<>();
    f.put("fault", "kill");
    f.put("taskManager", tm);
    f.put("replacement", replacement);
    f.put("atResults", resultsAt);
    f.put("inFlight", inFlight);
    f.put("heldByOpenTransactions", held.size());
    f.put("startedAtMillis", t0);
    f.put("tasksRunningMs", tasksRunning - t0);
    f.put("recoveryMs", recovered - t0);
    f.put("restarts", cluster.restarts(job) - restartsBefore);
    if (restored != null && !restored.isMissingNode() && !restored.isNull()) {
      f.put("restoredCheckpoint", restored.path("id").asLong());
      f.put("restoredFromSavepoint", restored.path("is_savepoint").asBoolean());
    }
    faults.add(f);
    say("recovered in %.1f s (tasks running after %.1f s, %s restart(s)) from checkpoint %s",
        (recovered - t0) / 1000.0, (tasksRunning - t0) / 1000.0, f.get("restarts"), f.get("restoredCheckpoint"));
  }

  /** Waits until every task runs and a checkpoint has completed after {@code sinceMillis}. */
  private void awaitHealthy(long sinceMillis) throws IOException {
    LocalFlinkCluster.awaitCondition("a checkpoint completed after the fault", Duration.ofMinutes(3),
        () -> cluster.allTasksRunning(job) && cluster.checkpoints(job)
            .map(c -> c.path("latest").path("completed").path("latest_ack_timestamp").asLong() > sinceMillis)
            .orElse(false));
  }

  /** Stop-with-savepoint; when it fails because the job was not running, waits until it is and tries again. */
  private String stopWithSavepoint() throws Exception {
    for (int attempt = 1; ; attempt++) {
      try {
        return cluster.stopWithSavepoint(job);
      } catch (Exception e) {
        if (attempt >= 5) {
          throw e;
        }
        say("stop-with-savepoint failed (%s); trying again once the job is healthy", firstLine(e));
        awaitHealthy(System.currentTimeMillis());
      }
    }
  }

  private static String firstLine(Throwable e) {
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    String m = String.valueOf(root.getMessage());
    return m.length() > 200 ? m.substring(0, 200) : m;
  }

  private void restartBroker() throws Exception {
    long restartsBefore = restartsNow();
    long resultsAt = counter.classifications();
    long inFlight = inFlight("broker restart");
    long t0 = System.currentTimeMillis();
    kafka.stop();
    say("stopped the Kafka broker at %d results", resultsAt);
    sleep(o.brokerDown.toMillis()); // the outage itself
    kafka.start();
    long up = System.currentTimeMillis();
    say("restarted the Kafka broker after %.1f s", (up - t0) / 1000.0);
    // recovered: all tasks running and new results committed (or none left to produce)
    counter.catchUp(Duration.ofMinutes(2));
    long baseline = counter.classifications();
    awaitOrStall("results after the broker restart", () -> cluster.allTasksRunning(job)
        && (counter.classifications() > baseline || counter.classifications() >= goodEvents));
    awaitHealthy(up);
    long recovered = System.currentTimeMillis();
    Map<String, Object> f = new LinkedHashMap<>();
    f.put("fault", "broker-restart");
    f.put("atResults", resultsAt);
    f.put("inFlight", inFlight);
    f.put("startedAtMillis", t0);
    f.put("backAtMillis", up);
    f.put("downMs", up - t0);
    f.put("recoveryMs", recovered - t0);
    f.put("restarts", restartsNow() - restartsBefore);
    faults.add(f);
    say("results flowing again %.1f s after the broker stopped (%d job restarts)", (recovered - t0) / 1000.0,
        restartsNow() - restartsBefore);
  }

  private void rescale(int to, Path jar) throws Exception {
    int from = currentParallelism;
    long w = o.window.toMillis();
    if (System.currentTimeMillis() < lastFaultEnd + w) {
      sleep(lastFaultEnd + w - System.currentTimeMillis()); // a full measuring window since the last fault
    }
    long now = System.currentTimeMillis();
    long windowStart = Math.max(lastFaultEnd, now - w);
    double before = counter.rate(windowStart, now);
    long resultsAt = counter.classifications();
    long inFlight = inFlight("rescale " + from + " -> " + to);
    long t0 = System.currentTimeMillis();
    String savepoint = stopWithSavepoint();
    say("stopped job %s with savepoint %s at %d results (%.0f results/s over the last %d s)", job, savepoint,
        resultsAt, before, w / 1000);
    restartsOfEarlierJobs += Math.max(0, cluster.restarts(job));
    job = cluster.submit(jar, jobArgs(to), to, savepoint);
    jobs.add(job);
    cluster.awaitRunning(job, Duration.ofMinutes(3));
    long running = System.currentTimeMillis();
    currentParallelism = to;
    restartsAfterLastFault = restartsNow();
    counter.catchUp(Duration.ofMinutes(2));
    long atRunning = counter.classifications();
    Double after = null;
    if (atRunning < goodEvents) {
      awaitOrStall("results after the rescale", () -> counter.classifications() > atRunning
          || counter.classifications() >= goodEvents);
      long first = System.currentTimeMillis();
      sleep(w); // the measuring window
      after = counter.rate(first, first + w);
    }
    Map<String, Object> f = new LinkedHashMap<>();
    f.put("fault", "rescale");
    f.put("from", from);
    f.put("to", to);
    f.put("savepoint", savepoint);
    f.put("atResults", resultsAt);
    f.put("inFlight", inFlight);
    f.put("startedAtMillis", t0);
    f.put("downtimeMs", running - t0);
    f.put("resultsPerSecondBefore", round(before));
    f.put("windowBeforeMs", now - windowStart);
    f.put("resultsPerSecondAfter", after == null ? null : round(after));
    f.put("backlogLeftAfter", goodEvents - counter.classifications());
    faults.add(f);
    say("job %s running at parallelism %d after %.1f s; %s results/s", job, to, (running - t0) / 1000.0,
        after == null ? "(no backlog left to measure)" : String.format(Locale.ROOT, "%.0f", after));
  }

  private int currentParallelism = -1;

  private long lastFaultEnd;
  /** Hostile kinds seen on the dead-letter topic so far, with the reason given. */
  private Map<String, String> kindsDeadLettered() {
    return judgeHostile(hostile, coordinates, counter.deadLetters(), Map.of()).kindsDeadLettered();
  }

  private void awaitAll() throws IOException {
    say("waiting for every result");
    awaitOrStall("every result", () -> progress() >= 1.0 && expectedLeft() == 0);
  }

  /** Results and dead letters still missing (cheap enough to poll: a few hundred thousand map lookups). */
  private long expectedLeft() {
    Map<String, Map<String, Integer>> counts = counter.counts();
    long missing = 0;
    for (int i = 0; i < goodEvents; i++) {
      for (String task : tasksOf(i)) {
        if (!counts.getOrDefault(task, Map.of()).containsKey("ev-" + i)) {
          missing++;
        }
      }
    }
    return missing + judgeHostile(hostile, coordinates, counter.deadLetters(), counts).lost();
  }

  private List<String> tasksOf(int i) {
    List<String> t = new ArrayList<>(List.of("text-classification"));
    if (o.models.containsKey("token-classification") && i % 4 == 0) {
      t.add("token-classification");
    }
    if (o.models.containsKey("question-answering") && i % 10 == 0) {
      t.add("question-answering");
    }
    return t;
  }

  // ---- verdict and report -------------------------------------------------------------------------------------

  /**
   * What a read_committed reader of the result topics saw of each fault, per partition: from the fault (for a broker
   * restart: from the broker being back) to the first result visible after it, and the largest time between two
   * consecutive visible results up to the next fault; beside it the same from the results' LogAppendTime (when the
   * job wrote again: the difference is commit latency, and any transaction left open holding the reader back).
   * Each fault is held to its target; the report gives p50 and max over the faults of each kind.
   */
  private void readerSide(long end) {
    Map<String, long[][]> timelines = counter.timelines();
    Map<String, List<Long>> resumes = new TreeMap<>();
    Map<String, List<Long>> gaps = new TreeMap<>();
    boolean met = true;
    for (int i = 0; i < faults.size(); i++) {
      Map<String, Object> f = faults.get(i);
      String kind = (String) f.get("fault");
      long t0 = (Long) f.get("startedAtMillis");
      long from = kind.equals("broker-restart") ? (Long) f.get("backAtMillis") : t0;
      long until = i + 1 < faults.size() ? (Long) faults.get(i + 1).get("startedAtMillis") : end;
      Map<String, Object> perPartition = new TreeMap<>();
      List<Long> partitionResumes = new ArrayList<>();
      long resume = -1;
      long gap = -1;
      long written = -1;
      for (var e : timelines.entrySet()) {
        ResultCounter.Gap g = ResultCounter.gapAround(e.getValue()[0], from, until);
        ResultCounter.Gap fromFault = ResultCounter.gapAround(e.getValue()[0], t0, until);
        long[] appended = e.getValue()[1].clone();
        java.util.Arrays.sort(appended);
        ResultCounter.Gap w = ResultCounter.gapAround(appended, t0, until);
        if (g == null || fromFault == null) {
          continue; // nothing left for this partition after the fault
        }
        partitionResumes.add(g.resumeMs());
        resume = Math.max(resume, g.resumeMs());
        gap = Math.max(gap, fromFault.gapMs());
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("resumeMs", g.resumeMs());
        p.put("gapMs", fromFault.gapMs());
        if (w != null) {
          p.put("writeResumeMs", w.resumeMs());
          written = Math.max(written, w.resumeMs());
        }
        perPartition.put(e.getKey(), p);
      }
      long target = kind.equals("kill") ? o.checkpointInterval.toMillis() + TARGET_MS : TARGET_MS;
      // a rescale's target is its downtime (stop-with-savepoint to running again); the others' the reader's wait
      long measured = kind.equals("rescale") ? (Long) f.get("downtimeMs") : resume;
      boolean within = measured >= 0 && measured <= target;
      met &= within;
      f.put("readerResumeMs", resume < 0 ? null : resume);
      f.put("readerResumeP50Ms", ResultCounter.percentile(partitionResumes, 0.5));
      f.put("readerGapMs", gap < 0 ? null : gap);
      f.put("writeResumeMs", written < 0 ? null : written);
      f.put("targetMs", target);
      f.put("withinTarget", within);
      f.put("readerPerPartition", perPartition);
      if (resume >= 0) {
        resumes.computeIfAbsent(kind, k -> new ArrayList<>()).add(resume);
        gaps.computeIfAbsent(kind, k -> new ArrayList<>()).add(gap);
      }
    }
    Map<String, Object> summary = new TreeMap<>();
    resumes.forEach((kind, r) -> {
      Map<String, Object> k = new LinkedHashMap<>();
      k.put("faults", r.size());
      k.put("resumeP50Ms", ResultCounter.percentile(r, 0.5));
      k.put("resumeMaxMs", ResultCounter.percentile(r, 1.0));
      k.put("gapP50Ms", ResultCounter.percentile(gaps.get(kind), 0.5));
      k.put("gapMaxMs", ResultCounter.percentile(gaps.get(kind), 1.0));
      summary.put(kind, k);
    });
    report.put("readerSide", summary);
    report.put("targetsMet", met);
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

  private void verify(long restartsTotal) throws IOException {
    Map<String, Map<String, Integer>> counts = counter.counts();
    long lost = 0;
    long duplicated = 0;
    long unexpected = 0;
    Map<String, Long> expectedPerTask = new TreeMap<>();
    Map<String, Long> resultsPerTask = new TreeMap<>();
    for (int i = 0; i < goodEvents; i++) {
      for (String task : tasksOf(i)) {
        expectedPerTask.merge(task, 1L, Long::sum);
        int c = counts.getOrDefault(task, Map.of()).getOrDefault("ev-" + i, 0);
        if (c == 0) {
          lost++;
        } else {
          duplicated += c - 1;
        }
      }
    }
    // hostile records: each dead-lettered once with its reason, or (.ok) enriched once per distinct task
    List<ResultCounter.Dead> dead = counter.deadLetters();
    HostileVerdict h = judgeHostile(hostile, coordinates, dead, counts);
    h.okTasksById().values().forEach(tasks -> tasks.forEach(t -> expectedPerTask.merge(t, 1L, Long::sum)));
    for (var e : counts.entrySet()) {
      long total = e.getValue().values().stream().mapToLong(Integer::longValue).sum();
      resultsPerTask.put(e.getKey(), total);
      for (String id : e.getValue().keySet()) {
        boolean good = id.startsWith("ev-") && tasksOf(Integer.parseInt(id.substring(3))).contains(e.getKey());
        if (!good && !h.okTasksById().getOrDefault(id, List.of()).contains(e.getKey())) {
          unexpected += e.getValue().get(id);
        }
      }
    }
    List<String> wrong = h.wrong();
    Map<String, Map<String, Integer>> reasonsByKind = h.reasonsByKind();
    lost += h.lost();
    duplicated += h.duplicated() + unexpected;
    boolean targetsMet = Boolean.TRUE.equals(report.get("targetsMet"));
    boolean pass = lost == 0 && duplicated == 0 && wrong.isEmpty() && unexplainedRestarts == 0
        && ((faultsAfterLastInput.isEmpty() && targetsMet) || !o.enforceTargets);

    report.put("pass", pass);
    report.put("events", goodEvents);
    report.put("hostile", hostile.size());
    report.put("expectedResults", expectedPerTask);
    report.put("results", resultsPerTask);
    report.put("lost", lost);
    report.put("duplicated", duplicated);
    report.put("deadLettered", dead.size());
    report.put("deadLettersNotHostileOrWrongReason", wrong.size());
    if (!wrong.isEmpty()) {
      report.put("deadLetterProblems", wrong.subList(0, Math.min(20, wrong.size())));
    }
    report.put("deadLetterReasonsByKind", reasonsByKind);
    report.put("restarts", restartsTotal);
    report.put("restartsWithoutInjectedFault", unexplainedRestarts);
    if (!unexplained.isEmpty()) {
      report.put("unexplainedFailures", unexplained);
    }
    report.put("kills", faults.stream().filter(f -> f.get("fault").equals("kill")).count());
    report.put("faults", faults);
    report.put("jobs", jobs.stream().map(JobID::toString).toList());
    report.put("checkpointInterval", o.checkpointInterval.toMillis() + " ms");
    report.put("transactionNaming", o.transactionNaming == null ? "pooling (job default)" : o.transactionNaming);
    report.put("parallelism", o.parallelism);
    report.put("seed", o.seed);
    report.put("rate", o.rate > 0 ? o.rate : "backlog");
    report.put("durationSeconds", round((System.currentTimeMillis() - started) / 1000.0));
    writeReport();
    log.printf("lost=%d duplicated=%d dead-lettered=%d%n", lost, duplicated, dead.size());
    if (!pass) {
      log.println("FAILED: " + (lost > 0 ? "results lost; " : "") + (duplicated > 0 ? "results duplicated; " : "")
          + (wrong.isEmpty() ? "" : wrong.size() + " dead letters not hostile or with the wrong reason "
          + wrong.subList(0, Math.min(5, wrong.size())) + "; ")
          + (unexplainedRestarts > 0 ? unexplainedRestarts + " restarts without an injected fault; " : "")
          + (faultsAfterLastInput.isEmpty() || !o.enforceTargets ? ""
              : "faults with no event in flight " + faultsAfterLastInput + "; ")
          + (targetsMet || !o.enforceTargets ? "" : "a fault's recovery missed its target (see report.md)"));
    }
  }

  /**
   * What the hostile records got against what each must get: {@code lost} counts missing dead letters and missing
   * results of {@code .ok} records, {@code duplicated} extra ones; {@code wrong} lists dead letters that are not
   * hostile or carry another reason (an {@code .ok} record's dead letter among them).
   */
  record HostileVerdict(long lost, long duplicated, List<String> wrong,
      Map<String, Map<String, Integer>> reasonsByKind, Map<String, String> kindsDeadLettered,
      Map<String, List<String>> okTasksById) {}

  /**
   * Judges the hostile records. A dead letter is matched by its id (a record's own, or for a record without one
   * the {@code coordinates} it was produced at), else (undecodable records) by its original bytes; records with
   * the same bytes form one group that expects one dead letter per member.
   */
  static HostileVerdict judgeHostile(List<HostileCorpus.Hostile> hostile, Map<Integer, String> coordinates,
      List<ResultCounter.Dead> dead, Map<String, Map<String, Integer>> counts) {
    Map<String, List<Integer>> groups = new HashMap<>();
    Map<String, String> alias = new HashMap<>();
    for (int i = 0; i < hostile.size(); i++) {
      HostileCorpus.Hostile h = hostile.get(i);
      String key = h.id() != null ? "id:" + h.id() : bytesKey(h.value());
      groups.computeIfAbsent(key, k -> new ArrayList<>()).add(i);
      String c = coordinates.get(i);
      if (h.id() == null && c != null) {
        alias.put("id:" + c, key);
      }
    }
    Map<String, Integer> seen = new HashMap<>();
    List<String> wrong = new ArrayList<>();
    Map<String, Map<String, Integer>> reasonsByKind = new TreeMap<>();
    Map<String, String> kinds = new TreeMap<>();
    for (ResultCounter.Dead d : dead) {
      String key = d.id() != null ? "id:" + d.id() : bytesKey(bytes(d.original()));
      key = alias.getOrDefault(key, key);
      List<Integer> group = groups.get(key);
      if (group == null) {
        wrong.add("not hostile: id=" + d.id() + " reason=" + d.reason());
        continue;
      }
      seen.merge(key, 1, Integer::sum);
      HostileCorpus.Hostile h = hostile.get(group.get(0));
      reasonsByKind.computeIfAbsent(h.kind(), k -> new TreeMap<>()).merge(d.reason(), 1, Integer::sum);
      kinds.put(h.kind(), d.reason());
      if (!h.reason().equals(d.reason())) {
        wrong.add(h.kind() + " " + (d.id() != null ? d.id() : "") + ": reason " + d.reason() + ", expected "
            + (h.ok() ? "a result per task " + h.tasks() : h.reason()));
      }
    }
    long lost = 0;
    long duplicated = 0;
    for (var e : groups.entrySet()) {
      long expected = e.getValue().stream().filter(i -> !hostile.get(i).ok()).count();
      int s = seen.getOrDefault(e.getKey(), 0);
      lost += Math.max(0, expected - s);
      if (expected > 0) {
        duplicated += Math.max(0, s - expected); // an .ok record's dead letters are wrong, counted above
      }
    }
    Map<String, List<String>> okTasks = new HashMap<>();
    for (int i = 0; i < hostile.size(); i++) {
      HostileCorpus.Hostile h = hostile.get(i);
      if (!h.ok()) {
        continue;
      }
      String id = h.id() != null ? h.id() : coordinates.get(i);
      if (id == null) {
        lost += h.tasks().size(); // not produced (yet)
        continue;
      }
      okTasks.put(id, h.tasks());
      for (String task : h.tasks()) {
        int c = counts.getOrDefault(task, Map.of()).getOrDefault(id, 0);
        lost += c == 0 ? 1 : 0;
        duplicated += Math.max(0, c - 1);
      }
    }
    return new HostileVerdict(lost, duplicated, wrong, reasonsByKind, kinds, okTasks);
  }

  private static byte[] bytes(ByteBuffer b) {
    ByteBuffer x = b.duplicate();
    byte[] out = new byte[x.remaining()];
    x.get(out);
    return out;
  }

  /** Undecodable records are matched by their bytes, as far as a dead letter carries them. */
  private static String bytesKey(byte[] v) {
    int n = Math.min(v.length, io.distilstream.operators.DeadLetters.MAX_ORIGINAL_BYTES);
    return "bytes:" + Base64.getEncoder().encodeToString(n == v.length ? v : java.util.Arrays.copyOf(v, n));
  }

  private void writeReport() throws IOException {
    Files.createDirectories(o.out);
    JSON.writeValue(o.out.resolve("report.json").toFile(), report);
    StringBuilder md = new StringBuilder("# distilstream fault run\n\n");
    md.append(String.format(Locale.ROOT, "**%s**: lost=%s duplicated=%s dead-lettered=%s%n%n",
        Boolean.TRUE.equals(report.get("pass")) ? "PASS" : "FAIL", report.get("lost"), report.get("duplicated"),
        report.get("deadLettered")));
    md.append("| | |\n|---|---|\n");
    for (String k : List.of("events", "hostile", "expectedResults", "results", "restarts",
        "restartsBeforeFirstFault", "hostileKindsBeforeFirstFault", "rate",
        "restartsWithoutInjectedFault", "kills", "deadLetterReasonsByKind", "parallelism", "checkpointInterval",
        "seed", "transactionNaming", "targetsMet", "durationSeconds")) {
      md.append("| ").append(k).append(" | ").append(report.get(k)).append(" |\n");
    }
    md.append("\n## Faults\n\n| # | fault | at results | detail |\n|---|---|---|---|\n");
    int i = 1;
    for (Map<String, Object> f : faults) {
      Map<String, Object> detail = new LinkedHashMap<>(f);
      detail.remove("fault");
      detail.remove("atResults");
      detail.remove("readerPerPartition"); // in report.json
      md.append("| ").append(i++).append(" | ").append(f.get("fault")).append(" | ").append(f.get("atResults"))
          .append(" | ").append(detail).append(" |\n");
    }
    md.append("\n## What a read_committed reader saw\n\nPer fault, over the result partitions: from the fault (a broker"
        + " restart: from the broker being back) to the first visible result after it (max and p50 over partitions),"
        + " the largest time between two consecutive visible results up to the next fault, and when the job wrote"
        + " again (LogAppendTime of the first committed result after the fault). Target: a kill within checkpoint"
        + " interval + 10 s, a broker restart within 10 s, a rescale's downtime under 10 s.\n\n"
        + "| # | fault | in flight | resume max ms | resume p50 ms | largest gap ms | written again ms | downtime ms"
        + " | target ms | within |\n|---|---|---|---|---|---|---|---|---|---|\n");
    i = 1;
    for (Map<String, Object> f : faults) {
      md.append(String.format(Locale.ROOT, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n", i++,
          f.get("fault"), f.get("inFlight"), f.get("readerResumeMs"), f.get("readerResumeP50Ms"),
          f.get("readerGapMs"), f.get("writeResumeMs"), f.getOrDefault("downtimeMs", ""), f.get("targetMs"),
          f.get("withinTarget")));
    }
    md.append("\nOver the faults of each kind: ").append(report.get("readerSide")).append("; targets met: ")
        .append(report.get("targetsMet")).append('\n');
    Files.writeString(o.out.resolve("report.md"), md.toString(), StandardCharsets.UTF_8);
    say("report: %s, %s", o.out.resolve("report.md"), o.out.resolve("report.json"));
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

  private void say(String format, Object... args) {
    log.printf(Locale.ROOT, "[%6.1f s] %s%n", (System.currentTimeMillis() - started) / 1000.0,
        String.format(Locale.ROOT, format, args));
  }

  private static double round(double d) {
    return Math.round(d * 10) / 10.0;
  }

  private static void sleep(long ms) {
    try {
      TimeUnit.MILLISECONDS.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}
