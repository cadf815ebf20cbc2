package io.distilstream.tools.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.flink.api.common.JobID;
import org.apache.flink.client.deployment.StandaloneClusterId;
import org.apache.flink.client.program.rest.RestClusterClient;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.core.execution.SavepointFormatType;

/**
 * A real Flink standalone session cluster on this machine: one JobManager ({@code StandaloneSessionClusterEntrypoint})
 * and TaskManagers ({@code TaskManagerRunner}), each in its own JVM, started from the Flink jars Maven resolved for
 * the tools module (flink-dist is not on Maven Central), all on 127.0.0.1, with a {@code conf/config.yaml}, logs,
 * checkpoints and savepoints in one directory. Jobs are submitted as {@code flink run} does: the jar's {@code main}
 * builds the job graph on this side and {@link RestClusterClient} uploads it with the jar. TaskManagers can be
 * killed with SIGKILL ({@link Process#destroyForcibly()}) and replaced, as a process supervisor would.
 */
public final class LocalFlinkCluster implements AutoCloseable {
  /** File listing the tools module's runtime classpath; written by its build ({@code tools/target/classpath.txt}). */
  public static final String CLASSPATH_PROPERTY = "distilstream.classpath.file";
  /** The shaded job jar ({@code jobs/target/distilstream-jobs-VERSION-job.jar}). */
  public static final String JOB_JAR_PROPERTY = "distilstream.job.jar";

  /**
   * What travels in the job jar and so stays off the cluster's classpath, as it would be with flink-dist's lib/
   * (the benchmark-only jars too). ONNX Runtime stays on it and is loaded parent-first, as a native library in
   * lib/ should be: a second user class loader in the same TaskManager (after a restart or a resubmission)
   * cannot load the same native library again.
   */
  private static final List<String> NOT_ON_CLUSTER = List.of("distilstream-", "flink-connector-kafka", "flink-avro",
      "avro-", "kafka-clients", "api-", "tokenizers-", "onnxruntime-engine", "xchart", "VectorGraphics2D", "pdfbox",
      "fontbox", "graphics2d", "animated-gif", "gson-", "jna-", "tribuo", "protobuf-java", "async-profiler");

  /** JDK 17 module openings Flink needs (what flink-dist's config.yaml puts in env.java.opts.all). */
  private static final List<String> JAVA_OPENS = List.of(
      "--add-exports=java.base/sun.net.util=ALL-UNNAMED", "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
      "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
      "--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=java.base/java.net=ALL-UNNAMED",
      "--add-opens=java.base/java.io=ALL-UNNAMED", "--add-opens=java.base/java.nio=ALL-UNNAMED",
      "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED", "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
      "--add-opens=java.base/java.text=ALL-UNNAMED", "--add-opens=java.base/java.time=ALL-UNNAMED",
      "--add-opens=java.base/java.util=ALL-UNNAMED", "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
      "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
      "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED");

  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path dir;
  private final int restPort;
  private final int slots;
  private final String classpath;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private Process jobManager;
  private final Map<String, Process> taskManagers = new LinkedHashMap<>();
  private int nextTaskManager = 1;
  private boolean keepDirectory;
  private ClusterDir claim;

  private LocalFlinkCluster(Path dir, int restPort, int slots, String classpath) {
    this.dir = dir;
    this.claim = ClusterDir.created(dir);
    this.restPort = restPort;
    this.slots = slots;
    this.classpath = classpath;
  }

  /**
   * Writes the configuration into {@code dir} (a new temp directory when null), starts the JobManager and
   * {@code taskManagers} TaskManagers with {@code slots} slots each, and returns once all have registered.
   * {@code config} adds to or overrides the cluster's config.yaml.
   */
  public static LocalFlinkCluster start(Path dir, int taskManagers, int slots, Map<String, String> config)
      throws IOException {
    ClusterDir claim = dir != null ? ClusterDir.claim(dir)
        : ClusterDir.created(Files.createTempDirectory("distilstream-flink-"));
    LocalFlinkCluster c = new LocalFlinkCluster(claim.dir(), freePort(), slots, clusterClasspath());
    c.claim = claim;
    try {
      c.writeConfig(config);
      c.startJobManager();
      for (int i = 0; i < taskManagers; i++) {
        c.startTaskManager();
      }
      c.awaitTaskManagers(taskManagers, Duration.ofMinutes(2));
      return c;
    } catch (IOException | RuntimeException e) {
      c.close();
      throw e;
    }
  }

  public Path directory() {
    return dir;
  }

  public int restPort() {
    return restPort;
  }

  public String restUrl() {
    return "http://127.0.0.1:" + restPort;
  }

  public Path savepointDirectory() {
    return dir.resolve("savepoints");
  }

  // ---- configuration and processes --------------------------------------------------------------------------

  private void writeConfig(Map<String, String> overrides) throws IOException {
    Map<String, String> c = new LinkedHashMap<>();
    c.put("jobmanager.rpc.address", "127.0.0.1");
    c.put("jobmanager.rpc.port", String.valueOf(freePort()));
    c.put("jobmanager.bind-host", "127.0.0.1");
    c.put("rest.address", "127.0.0.1");
    c.put("rest.bind-address", "127.0.0.1");
    c.put("rest.port", String.valueOf(restPort));
    c.put("blob.server.port", String.valueOf(freePort()));
    c.put("taskmanager.host", "127.0.0.1");
    c.put("taskmanager.bind-host", "127.0.0.1");
    c.put("taskmanager.numberOfTaskSlots", String.valueOf(slots));
    // fine-grained TaskManager memory (the bash scripts would derive the JVM flags from these; see taskManager())
    c.put("taskmanager.cpu.cores", String.valueOf(slots));
    c.put("taskmanager.memory.task.heap.size", "256m");
    c.put("taskmanager.memory.task.off-heap.size", "0m");
    c.put("taskmanager.memory.framework.heap.size", "128m");
    c.put("taskmanager.memory.framework.off-heap.size", "128m");
    c.put("taskmanager.memory.managed.size", "16m");
    c.put("taskmanager.memory.network.min", "64m");
    c.put("taskmanager.memory.network.max", "64m");
    c.put("taskmanager.memory.jvm-metaspace.size", "256m");
    c.put("taskmanager.memory.jvm-overhead.min", "192m");
    c.put("taskmanager.memory.jvm-overhead.max", "192m");
    c.put("jobmanager.memory.process.size", "1024m");
    c.put("parallelism.default", "1");
    c.put("execution.checkpointing.dir", dir.resolve("checkpoints").toUri().toString());
    c.put("execution.checkpointing.savepoint-dir", savepointDirectory().toUri().toString());
    c.put("restart-strategy.type", "fixed-delay");
    c.put("restart-strategy.fixed-delay.attempts", "2147483647");
    c.put("restart-strategy.fixed-delay.delay", "1 s");
    // a SIGKILLed TaskManager is noticed within seconds, not the default 50 s
    c.put("heartbeat.interval", "1000");
    c.put("heartbeat.timeout", "5000");
    c.put("metrics.fetcher.update-interval", "1000");
    // the REST views of jobs and checkpoints are cached for this long (default 3 s)
    c.put("web.refresh-interval", "500");
    c.put("rest.cache.checkpoint-statistics.timeout", "500 ms");
    c.put("taskmanager.load-balance.mode", "SLOTS");
    // slot requests wait (up to slot.request.timeout) for a replacement TaskManager instead of failing at once
    c.put("resourcemanager.standalone.start-up-time", "1 h");
    c.put("classloader.parent-first-patterns.additional", "ai.onnxruntime.");
    c.put("io.tmp.dirs", dir.resolve("tmp").toString());
    c.put("high-availability.type", "NONE");
    c.putAll(overrides);
    Files.createDirectories(dir.resolve("conf"));
    Files.createDirectories(dir.resolve("log"));
    Files.createDirectories(dir.resolve("tmp"));
    StringBuilder yaml = new StringBuilder("# written by distilstream's LocalFlinkCluster\n");
    c.forEach((k, v) -> yaml.append(k).append(": '").append(v.replace("'", "''")).append("'\n"));
    Files.writeString(dir.resolve("conf/config.yaml"), yaml.toString(), StandardCharsets.UTF_8);
  }

  private void startJobManager() throws IOException {
    jobManager = java("jobmanager", List.of("-Xmx512m"),
        "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
        "--configDir", dir.resolve("conf").toString());
    awaitCondition("the JobManager's REST endpoint at " + restUrl(), Duration.ofMinutes(2), () -> {
      requireAlive(jobManager, "jobmanager");
      return overview().isPresent();
    });
  }

  /** Starts one more TaskManager (a new resource id) and returns its id; see {@link #awaitTaskManagers}. */
  public synchronized String startTaskManager() throws IOException {
    String id = "tm-" + nextTaskManager++;
    Process p = java(id, List.of("-Xmx448m", "-Xms448m", "-XX:MaxDirectMemorySize=256m",
            "-XX:MaxMetaspaceSize=256m"),
        "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
        "--configDir", dir.resolve("conf").toString(), "-Dtaskmanager.resource-id=" + id);
    taskManagers.put(id, p);
    return id;
  }

  /** SIGKILLs a TaskManager process (no shutdown hooks, no goodbye to the JobManager). */
  public synchronized void killTaskManager(String id) {
    Process p = taskManagers.remove(id);
    if (p == null) {
      throw new IllegalArgumentException("no running TaskManager " + id);
    }
    p.destroyForcibly();
    try {
      p.waitFor(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Ids of the TaskManager processes this harness started that are still alive. */
  public synchronized List<String> taskManagerIds() {
    return taskManagers.entrySet().stream().filter(e -> e.getValue().isAlive()).map(Map.Entry::getKey)
        .collect(Collectors.toList());
  }

  /** Process ids of the JobManager and the TaskManagers (for {@code cluster up}'s state file). */
  public synchronized Map<String, Long> pids() {
    Map<String, Long> out = new LinkedHashMap<>();
    out.put("jobmanager", jobManager.pid());
    taskManagers.forEach((id, p) -> out.put(id, p.pid()));
    return out;
  }

  /** Waits until {@code n} TaskManagers are registered with the JobManager. */
  public void awaitTaskManagers(int n, Duration timeout) throws IOException {
    awaitCondition(n + " TaskManagers registered", timeout, () -> {
      requireAlive(jobManager, "jobmanager");
      taskManagers.forEach((id, p) -> requireAlive(p, id));
      return overview().map(o -> o.path("taskmanagers").asInt() >= n).orElse(false);
    });
  }

  private Process java(String name, List<String> jvm, String mainClass, String... args) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(jvm);
    cmd.add("-XX:+UseG1GC");
    cmd.addAll(JAVA_OPENS);
    cmd.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=info");
    cmd.add("-Dorg.slf4j.simpleLogger.showDateTime=true");
    cmd.add("-Dorg.slf4j.simpleLogger.log.org.apache.kafka=warn");
    cmd.add("-Ddistilstream.process=" + name);
    cmd.add("-cp");
    cmd.add(classpath);
    cmd.add(mainClass);
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("log/" + name + ".log").toFile()))
        .start();
  }

  private void requireAlive(Process p, String name) {
    if (!p.isAlive()) {
      throw new IllegalStateException("the " + name + " process exited with " + p.exitValue() + ":\n"
          + tail(dir.resolve("log/" + name + ".log")));
    }
  }

  // ---- REST ---------------------------------------------------------------------------------------------------

  /** GET on the JobManager's REST API; empty when it does not answer or answers with an error. */
  public Optional<JsonNode> rest(String path) {
    try {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(restUrl() + path))
          .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
      return r.statusCode() == 200 ? Optional.of(JSON.readTree(r.body())) : Optional.empty();
    } catch (IOException e) {
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    }
  }

  public Optional<JsonNode> overview() {
    return rest("/overview");
  }

  /** The job's state ({@code RUNNING}, {@code RESTARTING}, ...), or empty when the JobManager does not know it. */
  public Optional<String> jobState(JobID job) {
    return rest("/jobs/" + job).map(j -> j.path("state").asText());
  }

  /** True when the job is RUNNING and every task of every vertex is RUNNING. */
  public boolean allTasksRunning(JobID job) {
    return rest("/jobs/" + job).map(j -> {
      if (!"RUNNING".equals(j.path("state").asText())) {
        return false;
      }
      for (JsonNode v : j.path("vertices")) {
        if (!"RUNNING".equals(v.path("status").asText())) {
          return false;
        }
      }
      return true;
    }).orElse(false);
  }

  /** The job's restarts so far (the JobManager's {@code numRestarts} metric), -1 when unknown. */
  public long restarts(JobID job) {
    return rest("/jobs/" + job + "/metrics?get=numRestarts").map(a -> {
      for (JsonNode m : a) {
        if ("numRestarts".equals(m.path("id").asText())) {
          return m.path("value").asLong(-1);
        }
      }
      return -1L;
    }).orElse(-1L);
  }

  /** The failures the job restarted from (the root exceptions of its exception history). */
  public List<String> failures(JobID job) {
    List<String> out = new ArrayList<>();
    rest("/jobs/" + job + "/exceptions?maxExceptions=100").ifPresent(e -> {
      for (JsonNode x : e.path("exceptionHistory").path("entries")) {
        out.add(x.path("exceptionName").asText() + ": " + firstLine(x.path("stacktrace").asText()));
      }
    });
    return out;
  }

  /** The job's checkpoint statistics ({@code /jobs/:id/checkpoints}). */
  public Optional<JsonNode> checkpoints(JobID job) {
    return rest("/jobs/" + job + "/checkpoints");
  }

  public long completedCheckpoints(JobID job) {
    return checkpoints(job).map(c -> c.path("counts").path("completed").asLong()).orElse(0L);
  }

  /** The TaskManager ids that run at least one of the job's subtasks. */
  public List<String> taskManagersOf(JobID job) {
    List<String> out = new ArrayList<>();
    rest("/jobs/" + job).ifPresent(j -> {
      for (JsonNode v : j.path("vertices")) {
        rest("/jobs/" + job + "/vertices/" + v.path("id").asText() + "/taskmanagers").ifPresent(t -> {
          for (JsonNode tm : t.path("taskmanagers")) {
            String id = tm.path("taskmanager-id").asText();
            if (!out.contains(id)) {
              out.add(id);
            }
          }
        });
      }
    });
    return out;
  }

  // ---- jobs ---------------------------------------------------------------------------------------------------

  public RestClusterClient<StandaloneClusterId> client() throws Exception {
    return new RestClusterClient<>(clientConfig(restPort), StandaloneClusterId.getInstance());
  }

  static Configuration clientConfig(int restPort) {
    Configuration conf = new Configuration();
    conf.set(RestOptions.ADDRESS, "127.0.0.1");
    conf.set(RestOptions.PORT, restPort);
    return conf;
  }

  /**
   * Submits a job jar with {@code flink run -d}: Flink's own {@code CliFrontend} in a JVM of its own, on the
   * cluster's classpath and configuration (as the {@code flink} script runs it), which runs the jar's main class to
   * build the job graph and submits it and the jar over REST. Restores from {@code savepoint} when not null.
   */
  public JobID submit(Path jar, List<String> args, int parallelism, String savepoint) throws IOException {
    return submit(dir, jar, args, parallelism, savepoint);
  }

  static JobID submit(Path clusterDir, Path jar, List<String> args, int parallelism, String savepoint)
      throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx512m");
    cmd.addAll(JAVA_OPENS);
    cmd.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
    cmd.add("-cp");
    cmd.add(clusterClasspath());
    cmd.add("org.apache.flink.client.cli.CliFrontend");
    cmd.addAll(List.of("run", "-d", "-p", String.valueOf(parallelism)));
    if (savepoint != null) {
      cmd.addAll(List.of("-s", savepoint));
    }
    cmd.add(jar.toString());
    cmd.addAll(args);
    Path logDir = Files.createDirectories(clusterDir.resolve("log"));
    Path log = logDir.resolve("submit-" + System.currentTimeMillis() + ".log");
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(clusterDir.toFile()).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    pb.environment().put("FLINK_CONF_DIR", clusterDir.resolve("conf").toString());
    Process p = pb.start();
    try {
      if (!p.waitFor(5, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        throw new IOException("flink run did not finish within 5 minutes:\n" + tail(log));
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while submitting", e);
    }
    String out = Files.readString(log, StandardCharsets.UTF_8);
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("JobID ([0-9a-f]{32})").matcher(out);
    if (p.exitValue() != 0 || !m.find()) {
      throw new IOException("flink run failed (exit " + p.exitValue() + "):\n" + tail(log));
    }
    return JobID.fromHexString(m.group(1));
  }

  /** Stops the job with a savepoint (no drain) and returns the savepoint's path. */
  public String stopWithSavepoint(JobID job) throws Exception {
    try (RestClusterClient<StandaloneClusterId> client = client()) {
      return client.stopWithSavepoint(job, false, savepointDirectory().toUri().toString(),
          SavepointFormatType.CANONICAL).get(5, TimeUnit.MINUTES);
    }
  }

  public void cancel(JobID job) throws Exception {
    try (RestClusterClient<StandaloneClusterId> client = client()) {
      client.cancel(job).get(2, TimeUnit.MINUTES);
    }
    awaitCondition("job " + job + " cancelled", Duration.ofMinutes(2),
        () -> jobState(job).map(s -> s.equals("CANCELED") || s.equals("FINISHED") || s.equals("FAILED"))
            .orElse(true));
  }

  /** Waits until the job has every task running. */
  public void awaitRunning(JobID job, Duration timeout) throws IOException {
    awaitCondition("job " + job + " running", timeout, () -> allTasksRunning(job));
  }

  // ---- teardown -----------------------------------------------------------------------------------------------

  /** Stops every process (TaskManagers first, then the JobManager) and deletes the directory. */
  @Override
  public void close() {
    List<Process> all = new ArrayList<>(taskManagers.values());
    if (jobManager != null) {
      all.add(jobManager);
    }
    stopProcesses(all.stream().map(Process::toHandle).collect(Collectors.toList()));
    taskManagers.clear();
    jobManager = null;
    if (!keepDirectory) {
      claim.remove();
    }
  }

  /** {@link #close()} stops the processes but keeps the directory (logs, checkpoints). */
  public void detachDirectory() {
    keepDirectory = true;
  }

  /** SIGTERM, up to 30 s to exit, then SIGKILL. */
  static void stopProcesses(List<ProcessHandle> processes) {
    for (ProcessHandle p : processes) {
      p.destroy();
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    for (ProcessHandle p : processes) {
      try {
        long left = Math.max(1, deadline - System.nanoTime());
        p.onExit().get(left, TimeUnit.NANOSECONDS);
      } catch (Exception e) {
        p.destroyForcibly();
      }
    }
  }

  static void deleteRecursively(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
    } catch (IOException | UncheckedIOException ignored) {
      // a temp directory left behind is not worth failing for
    }
  }

  // ---- helpers ------------------------------------------------------------------------------------------------

  /** Polls {@code condition} every 200 ms until it holds; an exception from it ends the wait. */
  public static void awaitCondition(String what, Duration timeout, BooleanSupplier condition) throws IOException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new IOException("timed out after " + timeout.toSeconds() + " s waiting for " + what);
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while waiting for " + what, e);
      }
    }
  }

  /** The Flink jars of the tools module's runtime classpath, without what the job jar carries. */
  static String clusterClasspath() throws IOException {
    String all = Files.readString(findFile(CLASSPATH_PROPERTY, "tools/target/classpath.txt")).trim();
    return Stream.of(all.split(File.pathSeparator))
        .filter(p -> NOT_ON_CLUSTER.stream().noneMatch(x -> Paths.get(p).getFileName().toString().startsWith(x)))
        .collect(Collectors.joining(File.pathSeparator));
  }

  /** The shaded job jar: {@value #JOB_JAR_PROPERTY}, else the newest {@code jobs/target/*-job.jar} above here. */
  public static Path jobJar() throws IOException {
    String prop = System.getProperty(JOB_JAR_PROPERTY);
    if (prop != null && Files.isRegularFile(Paths.get(prop))) {
      return Paths.get(prop).toAbsolutePath();
    }
    for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
      Path target = p.resolve("jobs/target");
      if (Files.isDirectory(target)) {
        try (Stream<Path> s = Files.list(target)) {
          Optional<Path> jar = s.filter(f -> f.getFileName().toString().endsWith("-job.jar")).findFirst();
          if (jar.isPresent()) {
            return jar.get().toAbsolutePath();
          }
        }
      }
    }
    throw new IOException("the job jar was not found (" + JOB_JAR_PROPERTY + ", jobs/target/*-job.jar): build it"
        + " with ./mvnw -pl jobs -am package -DskipTests");
  }

  static Path findFile(String property, String relative) throws IOException {
    String prop = System.getProperty(property);
    List<Path> candidates = new ArrayList<>();
    if (prop != null) {
      candidates.add(Paths.get(prop));
    }
    for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
      candidates.add(p.resolve(relative));
    }
    for (Path c : candidates) {
      if (Files.isRegularFile(c)) {
        return c;
      }
    }
    throw new IOException(relative + " was not found (" + property + "): build the tools module first"
        + " (./mvnw -pl tools -am package -DskipTests)");
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 0, java.net.InetAddress.getLoopbackAddress())) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    }
  }

  static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(no log at " + log + ")";
    }
  }

  private static String firstLine(String s) {
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  /** Writes {@code cluster up}'s state file. */
  void writeState(Path file) throws IOException {
    Properties p = new Properties();
    p.setProperty("dir", dir.toString());
    p.setProperty("rest.port", String.valueOf(restPort));
    claim.store(p);
    pids().forEach((k, v) -> p.setProperty("pid." + k, String.valueOf(v)));
    Files.createDirectories(file.toAbsolutePath().getParent());
    try (var w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
      p.store(w, "distilstream cluster up");
    }
  }

  /** A view of a running cluster's REST API (for {@code cluster status}); it owns no process. */
  static LocalFlinkCluster attach(Path dir, int restPort) {
    return new LocalFlinkCluster(dir, restPort, 0, "");
  }

  /** Leaves the processes running (for {@code cluster up}): forgets them without stopping them. */
  void detach() {
    taskManagers.clear();
    jobManager = null;
  }

  /**
   * The cluster's directory and what in it the cluster may delete: all of it when {@code cluster up} created it, else
   * only the entries that were not there before (a {@code --dir} the user already had keeps its own files).
   *
   * @param kept top-level names that existed before, null when the directory was created
   */
  record ClusterDir(Path dir, List<String> kept) {
    /** Entries a cluster makes in its directory: what {@link #remove(Path, Properties)} deletes for an old state. */
    static final List<String> CLUSTER_ENTRIES = List.of("conf", "log", "tmp", "checkpoints", "savepoints");

    static ClusterDir created(Path dir) {
      return new ClusterDir(dir, null);
    }

    /** Takes {@code dir} for a cluster, creating it if needed and noting what was in it. */
    static ClusterDir claim(Path dir) throws IOException {
      if (!Files.exists(dir)) {
        return created(Files.createDirectories(dir));
      }
      try (Stream<Path> entries = Files.list(dir)) {
        return new ClusterDir(dir, entries.map(e -> e.getFileName().toString()).sorted().toList());
      }
    }

    void store(Properties p) {
      p.setProperty("dir.created", String.valueOf(kept == null));
      if (kept != null) {
        p.setProperty("dir.kept", String.join("/", kept)); // '/' cannot be part of a file name
      }
    }

    /** Deletes what the cluster made. */
    void remove() {
      if (kept == null) {
        deleteRecursively(dir);
        return;
      }
      try (Stream<Path> entries = Files.list(dir)) {
        for (Path e : entries.toList()) {
          if (!kept.contains(e.getFileName().toString())) {
            deleteRecursively(e);
          }
        }
      } catch (IOException | UncheckedIOException ignored) {
        // as deleteRecursively: what is left behind is not worth failing for
      }
    }

    /**
     * Deletes what the cluster of a state file made in {@code dir}. A state file from before {@code dir.created}
     * does not say whether the directory was the user's: only the cluster's own entries go, and the directory if it
     * is then empty.
     */
    static void remove(Path dir, Properties state) {
      String created = state.getProperty("dir.created");
      if (created != null) {
        String kept = state.getProperty("dir.kept", "");
        new ClusterDir(dir, Boolean.parseBoolean(created) ? null
            : kept.isEmpty() ? List.of() : List.of(kept.split("/"))).remove();
        return;
      }
      for (String e : CLUSTER_ENTRIES) {
        deleteRecursively(dir.resolve(e));
      }
      try (Stream<Path> entries = Files.list(dir)) {
        if (entries.findAny().isEmpty()) {
          Files.delete(dir);
        }
      } catch (IOException | UncheckedIOException ignored) {
        // left behind
      }
    }
  }
}
