package io.distilstream.tools.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import io.distilstream.runtime.cli.Args;
import io.distilstream.tools.local.LocalKafka;
import io.distilstream.tools.local.LocalSchemaRegistry;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import org.apache.flink.api.common.JobID;

/**
 * {@code distilstream cluster up|down|status|submit}: a Flink standalone session cluster on this machine
 * (a JobManager and TaskManagers in their own JVMs, on 127.0.0.1), left running between commands; its
 * directory, REST port and process ids live in a state file.
 */
public final class ClusterCli {
  public static final String USAGE = String.join("\n",
      "usage: distilstream cluster up|down|status|submit|rescale [options]",
      "  up       start a JobManager and TaskManagers as separate JVMs on 127.0.0.1 and leave them running",
      "           --taskmanagers N (2)  --slots N (2)  --dir DIR (a new temp dir)  --set KEY=VALUE (config.yaml)",
      "           --scheduler adaptive: Flink's adaptive scheduler (jobmanager.scheduler), so that `rescale` works",
      "           --kafka: also a Kafka broker (KRaft, its own JVM) with the job's default topics",
      "           --schema-registry: also a schema registry (Apicurio, Confluent-compatible API; needs a Java 21+",
      "           runtime, see docs/schema-registry.md); submit then passes its URL as schema.registry.url",
      "           --metrics: Flink's Prometheus reporter in every process, each on a free port of its own",
      "           (status lists the scrape URLs, http://127.0.0.1:PORT/metrics)",
      "  status   the processes, the REST endpoint, TaskManagers, slots and jobs; the scrape URLs (--metrics)",
      "  submit   submit the job jar as `flink run` does; the rest of the line is the job's options",
      "           (see `distilstream job --help`), e.g. submit --config job.properties --parallelism 2;",
      "           with the cluster's registry and no schema.registry.url of its own, --set schema.registry.url=URL",
      "           --jar JAR (jobs/target/*-job.jar)  --savepoint PATH (restore from it)",
      "  rescale  --parallelism N [--job ID (the running job)]: rescale in place from the next checkpoint (needs",
      "           up --scheduler adaptive; PUT /jobs/:id/resource-requirements), returns once it runs at N",
      "  down     stop the processes (SIGTERM, then SIGKILL after 30 s) and delete the cluster's directory (of a",
      "           --dir that existed before up, only what the cluster put in it)",
      "  --state FILE  the state file (default: $TMPDIR/distilstream-cluster.properties)");

  private ClusterCli() {}

  static Path defaultState() {
    return Paths.get(System.getProperty("java.io.tmpdir"), "distilstream-cluster.properties");
  }

  public static int run(String[] argv, PrintStream out, PrintStream err) throws Exception {
    if (argv.length == 0) {
      throw new Args.UsageException("cluster needs up, down, status, submit or rescale");
    }
    String action = argv[0];
    String[] rest = Arrays.copyOfRange(argv, 1, argv.length);
    switch (action) {
      case "up": return up(rest, out);
      case "down": return down(rest, out);
      case "status": return status(rest, out);
      case "submit": return submit(rest, out);
      case "rescale": return rescale(rest, out);
      default: throw new Args.UsageException("unknown cluster action '" + action + "'");
    }
  }

  private static int up(String[] argv, PrintStream out) throws Exception {
    Args args = Args.parse(argv, Set.of("kafka", "schema-registry", "metrics"));
    Path state = Paths.get(args.string("state", defaultState().toString()));
    boolean withKafka = args.flag("kafka");
    boolean withRegistry = args.flag("schema-registry");
    boolean withMetrics = args.flag("metrics");
    int tms = Integer.parseInt(args.string("taskmanagers", "2"));
    int slots = Integer.parseInt(args.string("slots", "2"));
    String dir = args.string("dir", null);
    String scheduler = args.string("scheduler", null);
    Map<String, String> conf = new java.util.LinkedHashMap<>();
    if ("adaptive".equals(scheduler)) {
      conf.putAll(LocalFlinkCluster.ADAPTIVE_SCHEDULER);
    } else if (scheduler != null && !scheduler.equals("default")) {
      throw new Args.UsageException("--scheduler takes adaptive or default, got '" + scheduler + "'");
    }
    for (String kv : args.all("set")) {
      int eq = kv.indexOf('=');
      if (eq <= 0) {
        throw new Args.UsageException("--set takes KEY=VALUE, got '" + kv + "'");
      }
      conf.put(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
    }
    args.rejectUnknown();
    if (Files.exists(state) && alive(load(state))) {
      throw new IllegalArgumentException("a cluster is already up (" + state + "); run 'distilstream cluster down'");
    }
    String noRegistry = withRegistry ? LocalSchemaRegistry.unavailableReason() : null;
    if (noRegistry != null) {
      // before anything starts: nothing to clean up
      throw new IllegalArgumentException("--schema-registry: " + noRegistry);
    }
    LocalFlinkCluster c = LocalFlinkCluster.start(dir == null ? null : Paths.get(dir), tms, slots, withMetrics,
        conf);
    c.writeState(state);
    LocalKafka kafka = null;
    LocalSchemaRegistry registry = null;
    try {
      Properties p = load(state);
      if (withKafka) {
        kafka = LocalKafka.start(Map.of("message.max.bytes", "4194304"));
        kafka.createTopics(2, List.of("text-events", "text-labels", "text-entities", "text-answers",
            "text-embeddings", "text-dead-letters"));
        p.setProperty("pid.kafka", String.valueOf(kafka.pid()));
        p.setProperty("kafka.dir", kafka.directory().toString());
        p.setProperty("kafka.bootstrap.servers", kafka.bootstrapServers());
      }
      if (withRegistry) {
        registry = LocalSchemaRegistry.start();
        p.setProperty("pid.registry", String.valueOf(registry.pid()));
        p.setProperty("registry.dir", registry.directory().toString());
        p.setProperty("registry.url", registry.url());
      }
      try (var w = Files.newBufferedWriter(state)) {
        p.store(w, "distilstream cluster up");
      }
    } catch (Exception e) {
      if (registry != null) {
        registry.close();
      }
      if (kafka != null) {
        kafka.close();
      }
      c.close();
      Files.deleteIfExists(state);
      throw e;
    }
    if (kafka != null) {
      out.println("Kafka broker at " + kafka.bootstrapServers() + " (pid " + kafka.pid() + ", topics text-events,"
          + " text-labels, text-entities, text-answers, text-embeddings, text-dead-letters)");
    }
    if (registry != null) {
      out.println("schema registry at " + registry.url() + " (Apicurio, pid " + registry.pid() + ", log "
          + registry.directory().resolve("registry.log") + ")");
      registry.detach();
    }
    out.println("cluster up: JobManager and " + tms + " TaskManagers (" + slots + " slots each) on 127.0.0.1");
    out.println("  web/REST: " + c.restUrl());
    out.println("  dir:      " + c.directory() + " (conf/config.yaml, log/, checkpoints/, savepoints/)");
    c.pids().forEach((k, v) -> out.println("  " + k + " pid " + v));
    c.metricsPorts().forEach((k, v) -> out.println("  " + k + " metrics " + scrapeUrl(v)));
    out.println("submit the job with: distilstream cluster submit --config job.properties");
    c.detach();
    return 0;
  }

  /** The Prometheus reporter's endpoint on {@code port}. */
  private static String scrapeUrl(int port) {
    return "http://127.0.0.1:" + port + "/metrics";
  }

  private static Properties load(Path state) throws Exception {
    Properties p = new Properties();
    try (var r = Files.newBufferedReader(state)) {
      p.load(r);
    }
    return p;
  }

  /** The processes of the state file that are still alive and still ours (their command line names the dir). */
  private static List<ProcessHandle> processes(Properties p) {
    List<ProcessHandle> out = new ArrayList<>();
    String dir = p.getProperty("dir");
    for (String k : p.stringPropertyNames()) {
      if (k.startsWith("pid.")) {
        Optional<ProcessHandle> h = ProcessHandle.of(Long.parseLong(p.getProperty(k)));
        String mark = k.equals("pid.kafka") ? p.getProperty("kafka.dir")
            : k.equals("pid.registry") ? p.getProperty("registry.dir") : dir;
        h.filter(ProcessHandle::isAlive)
            .filter(x -> x.info().arguments().map(a -> String.join(" ", a).contains(mark)).orElse(true))
            .ifPresent(out::add);
      }
    }
    return out;
  }

  private static boolean alive(Properties p) {
    return !processes(p).isEmpty();
  }

  private static int down(String[] argv, PrintStream out) throws Exception {
    Args args = Args.parse(argv, Set.of());
    Path state = Paths.get(args.string("state", defaultState().toString()));
    args.rejectUnknown();
    if (!Files.exists(state)) {
      out.println("no cluster is up (" + state + " does not exist)");
      return 0;
    }
    Properties p = load(state);
    List<ProcessHandle> procs = processes(p);
    // TaskManagers first, then the JobManager
    procs.sort((a, b) -> Boolean.compare(isJobManager(p, a), isJobManager(p, b)));
    FlinkProcesses.stop(procs);
    // only what up made: a --dir that existed before keeps its own files
    ClusterFiles.Claim.remove(Paths.get(p.getProperty("dir")), p);
    if (p.getProperty("kafka.dir") != null) {
      ClusterFiles.deleteRecursively(Paths.get(p.getProperty("kafka.dir")));
    }
    if (p.getProperty("registry.dir") != null) {
      ClusterFiles.deleteRecursively(Paths.get(p.getProperty("registry.dir")));
    }
    Files.delete(state);
    boolean kept = Files.exists(Paths.get(p.getProperty("dir")));
    out.println("cluster down: stopped " + procs.size() + " processes, deleted " + (kept
        ? "the cluster's files in " : "") + p.getProperty("dir"));
    return 0;
  }

  private static boolean isJobManager(Properties p, ProcessHandle h) {
    return String.valueOf(h.pid()).equals(p.getProperty("pid.jobmanager"));
  }

  private static int status(String[] argv, PrintStream out) throws Exception {
    Args args = Args.parse(argv, Set.of());
    Path state = Paths.get(args.string("state", defaultState().toString()));
    args.rejectUnknown();
    if (!Files.exists(state)) {
      out.println("down (no " + state + ")");
      return 3;
    }
    Properties p = load(state);
    int port = Integer.parseInt(p.getProperty("rest.port"));
    List<ProcessHandle> alive = processes(p);
    out.println("dir: " + p.getProperty("dir"));
    if (p.getProperty("kafka.bootstrap.servers") != null) {
      out.println("kafka: " + p.getProperty("kafka.bootstrap.servers") + " (" + p.getProperty("kafka.dir") + ")");
    }
    if (p.getProperty("registry.url") != null) {
      out.println("schema registry: " + p.getProperty("registry.url") + " (" + p.getProperty("registry.dir") + ")");
    }
    for (String k : new java.util.TreeSet<>(p.stringPropertyNames())) {
      if (k.startsWith("pid.")) {
        long pid = Long.parseLong(p.getProperty(k));
        boolean up = alive.stream().anyMatch(h -> h.pid() == pid);
        String scrape = p.getProperty("metrics.port." + k.substring(4));
        out.println("  " + k.substring(4) + " pid " + pid + (up ? " running" : " not running")
            + (scrape == null ? "" : ", metrics " + scrapeUrl(Integer.parseInt(scrape))));
      }
    }
    FlinkRestClient rest = new FlinkRestClient(port);
    Optional<JsonNode> o = rest.overview();
    if (o.isEmpty()) {
      out.println("REST http://127.0.0.1:" + port + ": not answering");
      return 1;
    }
    JsonNode v = o.get();
    out.println("REST http://127.0.0.1:" + port + ": Flink " + v.path("flink-version").asText()
        + ", taskmanagers " + v.path("taskmanagers").asInt() + ", slots " + v.path("slots-available").asInt()
        + " free of " + v.path("slots-total").asInt() + ", jobs running " + v.path("jobs-running").asInt()
        + ", finished " + v.path("jobs-finished").asInt() + ", cancelled " + v.path("jobs-cancelled").asInt()
        + ", failed " + v.path("jobs-failed").asInt());
    rest.get("/jobs/overview").ifPresent(j -> {
      for (JsonNode job : j.path("jobs")) {
        out.println("  job " + job.path("jid").asText() + " " + job.path("state").asText() + " "
            + job.path("name").asText());
      }
    });
    return alive.size() == p.stringPropertyNames().stream().filter(k -> k.startsWith("pid.")).count() ? 0 : 1;
  }

  private static int rescale(String[] argv, PrintStream out) throws Exception {
    Args args = Args.parse(argv, Set.of());
    Path state = Paths.get(args.string("state", defaultState().toString()));
    int to = args.integer("parallelism", -1);
    String jobArg = args.string("job", null);
    args.rejectUnknown();
    if (to < 1) {
      throw new Args.UsageException("rescale needs --parallelism N (at least 1)");
    }
    if (!Files.exists(state)) {
      throw new IllegalArgumentException("no cluster is up (" + state + "); run 'distilstream cluster up' first");
    }
    FlinkRestClient rest = new FlinkRestClient(Integer.parseInt(load(state).getProperty("rest.port")));
    JobID job;
    if (jobArg != null) {
      job = JobID.fromHexString(jobArg);
    } else {
      List<String> running = new ArrayList<>();
      rest.get("/jobs/overview").ifPresent(j -> j.path("jobs").forEach(x -> {
        if (x.path("state").asText().equals("RUNNING")) {
          running.add(x.path("jid").asText());
        }
      }));
      if (running.size() != 1) {
        throw new IllegalArgumentException(running.size() + " jobs are running (" + running + "): name one, --job ID");
      }
      job = JobID.fromHexString(running.get(0));
    }
    int from = rest.vertexParallelism(job).values().stream().mapToInt(Integer::intValue).max()
        .orElseThrow(() -> new IllegalArgumentException("job " + job + " is not known to the cluster"));
    long t0 = System.currentTimeMillis();
    LocalFlinkCluster.rescale(rest, job, from, to, java.time.Duration.ofMinutes(3));
    out.printf(java.util.Locale.ROOT, "job %s rescaled %d -> %d, running after %.1f s%n", job, from, to,
        (System.currentTimeMillis() - t0) / 1000.0);
    return 0;
  }

  private static int submit(String[] argv, PrintStream out) throws Exception {
    Path state = defaultState();
    Path jar = null;
    String savepoint = null;
    int parallelism = 1;
    List<String> jobArgs = new ArrayList<>();
    for (int i = 0; i < argv.length; i++) {
      String a = argv[i];
      if ((a.equals("--state") || a.equals("--jar") || a.equals("--savepoint")) && i + 1 < argv.length) {
        String v = argv[++i];
        if (a.equals("--state")) {
          state = Paths.get(v);
        } else if (a.equals("--jar")) {
          jar = Paths.get(v);
        } else {
          savepoint = v;
        }
      } else {
        if (a.equals("--parallelism") && i + 1 < argv.length) {
          parallelism = Integer.parseInt(argv[i + 1]);
        }
        jobArgs.add(a);
      }
    }
    if (!Files.exists(state)) {
      throw new IllegalArgumentException("no cluster is up (" + state + "); run 'distilstream cluster up' first");
    }
    Properties p = load(state);
    String registryUrl = p.getProperty("registry.url");
    if (registryUrl != null && !setsRegistryUrl(jobArgs)) {
      jobArgs.add("--set");
      jobArgs.add("schema.registry.url=" + registryUrl);
      out.println("schema.registry.url=" + registryUrl + " (the cluster's registry)");
    }
    JobID id = FlinkProcesses.submit(new ClusterFiles(Paths.get(p.getProperty("dir"))),
        jar != null ? jar : LocalFlinkCluster.jobJar(), jobArgs, parallelism, savepoint);
    out.println("submitted job " + id + " to http://127.0.0.1:" + p.getProperty("rest.port"));
    return 0;
  }

  /** Whether the job's own options set {@code schema.registry.url}: with {@code --set}, or in its {@code --config}. */
  static boolean setsRegistryUrl(List<String> jobArgs) throws java.io.IOException {
    // the job's own parser, so that --set=K=V and --config=FILE count too
    Args args = Args.parse(jobArgs.toArray(String[]::new), Set.of("dry-run"));
    for (String kv : args.all("set")) {
      if (kv.trim().startsWith("schema.registry.url=")) {
        return true;
      }
    }
    String config = args.string("config", null);
    if (config != null && Files.isRegularFile(Paths.get(config))) {
      Properties file = new Properties();
      try (var r = Files.newBufferedReader(Paths.get(config))) {
        file.load(r);
      }
      return file.getProperty("schema.registry.url") != null;
    }
    return false;
  }
}
