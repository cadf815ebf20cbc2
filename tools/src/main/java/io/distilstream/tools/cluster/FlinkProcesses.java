package io.distilstream.tools.cluster;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.flink.api.common.JobID;

/**
 * The JVMs of a {@link LocalFlinkCluster}, as a process supervisor would keep them: the JobManager ({@code
 * StandaloneSessionClusterEntrypoint}) and TaskManagers ({@code TaskManagerRunner}), started from the Flink jars
 * Maven resolved for the tools module (flink-dist is not on Maven Central) with the cluster's {@code conf/}, each
 * logging to its own file in {@code log/}; TaskManagers are SIGKILLed ({@link Process#destroyForcibly()}) and
 * replaced on demand. {@code flink run} ({@link #submit}) runs here too: it is one more JVM on the same classpath.
 */
final class FlinkProcesses {
  /** File listing the tools module's runtime classpath; written by its build ({@code tools/target/classpath.txt}). */
  static final String CLASSPATH_PROPERTY = "distilstream.classpath.file";
  /** The shaded job jar ({@code jobs/target/distilstream-jobs-VERSION-job.jar}). */
  static final String JOB_JAR_PROPERTY = "distilstream.job.jar";

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

  /** The cluster's directory: the JVMs' working directory, configuration and logs. */
  private final ClusterFiles files;
  /** The JVMs' classpath ({@link #clusterClasspath()}). */
  private final String classpath;
  /** The JobManager; null before {@link #startJobManager()} and after {@link #stopAll()} or {@link #forget()}. */
  private Process jobManager;
  /** The TaskManagers by resource id, in start order; a killed one leaves the map. */
  private final Map<String, Process> taskManagers = new LinkedHashMap<>();
  /** Number of the next TaskManager id: ids are not reused, so a replacement is a new resource to the JobManager. */
  private int nextTaskManager = 1;
  /**
   * The Prometheus reporter's port of each process by name (jobmanager, tm-1, ...), when config.yaml enables the
   * reporter ({@link ClusterFiles#PROMETHEUS}); empty otherwise. A free port per process, given to it as a dynamic
   * property, so that {@code cluster status} can say which endpoint is whose (a port range in config.yaml would
   * leave that to the order in which the JVMs bind).
   */
  private final Map<String, Integer> metricsPorts = new LinkedHashMap<>();
  /** Whether the processes start Flink's Prometheus reporter. */
  private final boolean prometheus;
  /**
   * The TaskManagers' flag naming ONNX Runtime's native libraries, extracted once into the cluster's directory
   * ({@link OnnxRuntimeNatives}); empty when there are none to extract; null until the first TaskManager starts.
   */
  private List<String> nativeLibraries;

  FlinkProcesses(ClusterFiles files, String classpath, boolean prometheus) {
    this.files = files;
    this.classpath = classpath;
    this.prometheus = prometheus;
  }

  /** Starts the JobManager; it is up once its REST endpoint answers (which the caller waits for). */
  void startJobManager() throws IOException {
    jobManager = java("jobmanager", List.of("-Xmx512m"),
        "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
        withMetricsPort("jobmanager", "--configDir", files.conf().toString()));
  }

  /** {@code args}, plus the reporter's port for process {@code name} when the reporter is on. */
  private synchronized String[] withMetricsPort(String name, String... args) throws IOException {
    if (!prometheus) {
      return args;
    }
    int port = ClusterFiles.freePort();
    metricsPorts.put(name, port);
    List<String> out = new ArrayList<>(List.of(args));
    out.add("-D" + ClusterFiles.PROMETHEUS_PORT + "=" + port);
    return out.toArray(new String[0]);
  }

  /**
   * The Prometheus reporter's port of each process started here that is still alive (an empty map when the reporter
   * is off): jobmanager first, then the TaskManagers in start order.
   */
  synchronized Map<String, Integer> metricsPorts() {
    Map<String, Integer> out = new LinkedHashMap<>();
    metricsPorts.forEach((name, port) -> {
      Process p = name.equals("jobmanager") ? jobManager : taskManagers.get(name);
      if (p != null && p.isAlive()) {
        out.put(name, port);
      }
    });
    return out;
  }

  /** Starts one more TaskManager (a new resource id) and returns its id. */
  synchronized String startTaskManager() throws IOException {
    String id = "tm-" + nextTaskManager++;
    if (nativeLibraries == null) {
      Path dir = OnnxRuntimeNatives.extract(classpath,
          files.dir().toAbsolutePath().resolve("native").resolve("onnxruntime"));
      nativeLibraries = dir == null ? List.of() : List.of("-D" + OnnxRuntimeNatives.PROPERTY + "=" + dir);
    }
    // the JVM flags the bash scripts would derive from config.yaml's fine-grained TaskManager memory
    List<String> jvm = new ArrayList<>(List.of("-Xmx448m", "-Xms448m", "-XX:MaxDirectMemorySize=256m",
        "-XX:MaxMetaspaceSize=256m"));
    jvm.addAll(nativeLibraries);
    Process p = java(id, jvm,
        "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
        withMetricsPort(id, "--configDir", files.conf().toString(), "-Dtaskmanager.resource-id=" + id));
    taskManagers.put(id, p);
    return id;
  }

  /** SIGKILLs a TaskManager process (no shutdown hooks, no goodbye to the JobManager). */
  synchronized void killTaskManager(String id) {
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

  /** Ids of the TaskManager processes started here that are still alive. */
  synchronized List<String> taskManagerIds() {
    return taskManagers.entrySet().stream().filter(e -> e.getValue().isAlive()).map(Map.Entry::getKey)
        .collect(Collectors.toList());
  }

  /** Process ids of the JobManager and the TaskManagers. */
  synchronized Map<String, Long> pids() {
    Map<String, Long> out = new LinkedHashMap<>();
    out.put("jobmanager", jobManager.pid());
    taskManagers.forEach((id, p) -> out.put(id, p.pid()));
    return out;
  }

  /** Throws, with the tail of its log, when the JobManager has exited. */
  void requireJobManagerAlive() {
    requireAlive(jobManager, "jobmanager");
  }

  /** Throws, with the tail of its log, when the JobManager or a TaskManager not killed here has exited. */
  void requireAllAlive() {
    requireAlive(jobManager, "jobmanager");
    taskManagers.forEach((id, p) -> requireAlive(p, id));
  }

  private void requireAlive(Process p, String name) {
    if (!p.isAlive()) {
      throw new IllegalStateException("the " + name + " process exited with " + p.exitValue() + ":\n"
          + ClusterFiles.tail(files.log(name)));
    }
  }

  /** Stops every process, TaskManagers first, then the JobManager (see {@link #stop}). */
  void stopAll() {
    List<Process> all = new ArrayList<>(taskManagers.values());
    if (jobManager != null) {
      all.add(jobManager);
    }
    stop(all.stream().map(Process::toHandle).collect(Collectors.toList()));
    forget();
  }

  /** Forgets the processes without stopping them (they outlive this JVM: {@code cluster up}). */
  void forget() {
    taskManagers.clear();
    metricsPorts.clear();
    jobManager = null;
  }

  /** SIGTERM, up to 30 s to exit, then SIGKILL. */
  static void stop(List<ProcessHandle> processes) {
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
    return new ProcessBuilder(cmd).directory(files.dir().toFile()).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(files.log(name).toFile()))
        .start();
  }

  /**
   * Submits a job jar with {@code flink run -d}: Flink's own {@code CliFrontend} in a JVM of its own, on the
   * cluster's classpath and configuration (as the {@code flink} script runs it), which runs the jar's main class to
   * build the job graph and submits it and the jar over REST. Restores from {@code savepoint} when not null. Static:
   * {@code cluster submit} submits to a cluster that another JVM started.
   */
  static JobID submit(ClusterFiles files, Path jar, List<String> args, int parallelism, String savepoint)
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
    Path log = files.newSubmitLog();
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(files.dir().toFile()).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    pb.environment().put("FLINK_CONF_DIR", files.conf().toString());
    Process p = pb.start();
    try {
      if (!p.waitFor(5, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        throw new IOException("flink run did not finish within 5 minutes:\n" + ClusterFiles.tail(log));
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while submitting", e);
    }
    String out = Files.readString(log, StandardCharsets.UTF_8);
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("JobID ([0-9a-f]{32})").matcher(out);
    if (p.exitValue() != 0 || !m.find()) {
      throw new IOException("flink run failed (exit " + p.exitValue() + "):\n" + ClusterFiles.tail(log));
    }
    return JobID.fromHexString(m.group(1));
  }

  // ---- what the JVMs run: the build's classpath and job jar -----------------------------------------------------

  /** The Flink jars of the tools module's runtime classpath, without what the job jar carries. */
  static String clusterClasspath() throws IOException {
    String all = Files.readString(findFile(CLASSPATH_PROPERTY, "tools/target/classpath.txt")).trim();
    return Stream.of(all.split(File.pathSeparator))
        .filter(p -> NOT_ON_CLUSTER.stream().noneMatch(x -> Paths.get(p).getFileName().toString().startsWith(x)))
        .collect(Collectors.joining(File.pathSeparator));
  }

  /** The shaded job jar: {@value #JOB_JAR_PROPERTY}, else the newest {@code jobs/target/*-job.jar} above here. */
  static Path jobJar() throws IOException {
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

  private static Path findFile(String property, String relative) throws IOException {
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
}
