package io.distilstream.tools.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.BooleanSupplier;
import org.apache.flink.api.common.JobID;

/**
 * A real Flink standalone session cluster on this machine: one JobManager and TaskManagers, each in its own JVM, all
 * on 127.0.0.1, with a {@code conf/config.yaml}, logs, checkpoints and savepoints in one directory. Jobs are submitted
 * as {@code flink run} does; TaskManagers can be SIGKILLed and replaced, as a process supervisor would.
 *
 * <p>This is the facade; the work is in three types: {@link FlinkProcesses} (the JVMs), {@link FlinkRestClient} (the
 * JobManager's REST API, which {@link #rest()} hands out for queries) and {@link ClusterFiles} (the directory).
 */
public final class LocalFlinkCluster implements AutoCloseable {
  /**
   * What {@code cluster up --scheduler adaptive} and {@code chaos --rescale adaptive} add to config.yaml: Flink's
   * adaptive scheduler, which takes a new parallelism over the REST API ({@link #rescale}) and restarts the job in
   * place from a checkpoint. Two of its waits are cut, as reactive mode cuts them:
   * <ul>
   *   <li>the cooldown between two rescales (default 30 s, counted from each (re)start, a recovery's too) to 5 s: a
   *       rescale asked for soon after a TaskManager's loss would wait for it otherwise;
   *   <li>the resource stabilization timeout of a (re)start (default 10 s) to 1 s: after a TaskManager's loss left
   *       fewer slots than the job's parallelism but enough for its lower bound, the job waited up to 10 s for the
   *       replacement before it ran again (a kill at parallelism 3 on 2 × 2 slots: readers 12.5 s after it, over the
   *       12 s target). Now it runs on the slots left after 1 s and goes back to its parallelism when the
   *       replacement has registered (one more restart, from a checkpoint, while results keep flowing in between).
   *       Not 0 as in reactive mode: a submission's slots are offered one by one a few hundred ms apart, and at 0 the
   *       job started on the first and rescaled seconds later.
   * </ul>
   */
  public static final Map<String, String> ADAPTIVE_SCHEDULER = Map.of(
      "jobmanager.scheduler", "adaptive",
      "jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling", "5 s",
      "jobmanager.adaptive-scheduler.submission.resource-stabilization-timeout", "1 s");

  /** The cluster's directory: configuration, logs, checkpoints, savepoints. */
  private final ClusterFiles files;
  /** What of the directory {@link #close()} deletes: all of it, or only what the cluster added to the user's. */
  private final ClusterFiles.Claim claim;
  /** The JobManager and TaskManager JVMs. */
  private final FlinkProcesses processes;
  /** The JobManager's REST API. */
  private final FlinkRestClient rest;
  /** Set by {@link #detachDirectory()}: {@link #close()} then keeps the directory. */
  private boolean keepDirectory;

  private LocalFlinkCluster(ClusterFiles.Claim claim, int restPort, String classpath, boolean prometheus) {
    this.claim = claim;
    this.files = new ClusterFiles(claim.dir());
    this.processes = new FlinkProcesses(files, classpath, prometheus);
    this.rest = new FlinkRestClient(restPort);
  }

  /**
   * Writes the configuration into {@code dir} (a new temp directory when null), starts the JobManager and
   * {@code taskManagers} TaskManagers with {@code slots} slots each, and returns once all have registered.
   * {@code config} adds to or overrides the cluster's config.yaml.
   */
  public static LocalFlinkCluster start(Path dir, int taskManagers, int slots, Map<String, String> config)
      throws IOException {
    return start(dir, taskManagers, slots, false, config);
  }

  /**
   * As {@link #start(Path, int, int, Map)}; with {@code prometheus}, every process also runs Flink's Prometheus
   * reporter on a port of its own ({@link #metricsPorts()}).
   */
  public static LocalFlinkCluster start(Path dir, int taskManagers, int slots, boolean prometheus,
      Map<String, String> config) throws IOException {
    ClusterFiles.Claim claim = dir != null ? ClusterFiles.Claim.take(dir)
        : ClusterFiles.Claim.created(Files.createTempDirectory("distilstream-flink-"));
    LocalFlinkCluster c = new LocalFlinkCluster(claim, ClusterFiles.freePort(), FlinkProcesses.clusterClasspath(),
        prometheus);
    try {
      c.files.writeConfig(c.rest.port(), slots, prometheus, config);
      c.processes.startJobManager();
      awaitCondition("the JobManager's REST endpoint at " + c.restUrl(), Duration.ofMinutes(2), () -> {
        c.processes.requireJobManagerAlive();
        return c.rest.overview().isPresent();
      });
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
    return files.dir();
  }

  public int restPort() {
    return rest.port();
  }

  public String restUrl() {
    return rest.url();
  }

  /** The JobManager's REST API: job state, tasks, restarts, failures, checkpoints. */
  public FlinkRestClient rest() {
    return rest;
  }

  public Path savepointDirectory() {
    return files.savepoints();
  }

  // ---- TaskManagers -------------------------------------------------------------------------------------------

  /** Starts one more TaskManager (a new resource id) and returns its id; see {@link #awaitTaskManagers}. */
  public String startTaskManager() throws IOException {
    return processes.startTaskManager();
  }

  /** SIGKILLs a TaskManager process (no shutdown hooks, no goodbye to the JobManager). */
  public void killTaskManager(String id) {
    processes.killTaskManager(id);
  }

  /** Ids of the TaskManager processes this harness started that are still alive. */
  public List<String> taskManagerIds() {
    return processes.taskManagerIds();
  }

  /** Process ids of the JobManager and the TaskManagers (for {@code cluster up}'s state file). */
  public Map<String, Long> pids() {
    return processes.pids();
  }

  /**
   * The Prometheus reporter's port of each live process (jobmanager, tm-1, ...; scrape {@code
   * http://127.0.0.1:PORT/metrics}); empty when the cluster was started without the reporter.
   */
  public Map<String, Integer> metricsPorts() {
    return processes.metricsPorts();
  }

  /** Waits until {@code n} TaskManagers are registered with the JobManager; fails early when a process exits. */
  public void awaitTaskManagers(int n, Duration timeout) throws IOException {
    awaitCondition(n + " TaskManagers registered", timeout, () -> {
      processes.requireAllAlive();
      return rest.overview().map(o -> o.path("taskmanagers").asInt() >= n).orElse(false);
    });
  }

  // ---- jobs ---------------------------------------------------------------------------------------------------

  /**
   * Submits a job jar as {@code flink run -d} does (see {@link FlinkProcesses#submit}) and returns its id. Restores
   * from {@code savepoint} when not null.
   */
  public JobID submit(Path jar, List<String> args, int parallelism, String savepoint) throws IOException {
    return FlinkProcesses.submit(files, jar, args, parallelism, savepoint);
  }

  /** Stops the job with a savepoint (no drain) and returns the savepoint's path. */
  public String stopWithSavepoint(JobID job) throws Exception {
    return rest.stopWithSavepoint(job, savepointDirectory().toUri().toString());
  }

  /**
   * Rescales the job in place (the cluster runs Flink's adaptive scheduler: {@link #ADAPTIVE_SCHEDULER}): declares
   * parallelism {@code to} for the vertices at {@code from} over the REST API; the scheduler restarts the job from
   * the next checkpoint, with no savepoint and no new submission. Returns once every task runs at the new parallelism.
   */
  public void rescale(JobID job, int from, int to, Duration timeout) throws IOException {
    rescale(rest, job, from, to, timeout);
  }

  /** {@link #rescale(JobID, int, int, Duration)} on a cluster another JVM started ({@code cluster rescale}). */
  static void rescale(FlinkRestClient rest, JobID job, int from, int to, Duration timeout) throws IOException {
    List<String> vertices = rest.rescale(job, from, to);
    awaitCondition("job " + job + " running at parallelism " + to, timeout, () -> {
      Map<String, Integer> p = rest.vertexParallelism(job);
      return vertices.stream().allMatch(v -> p.getOrDefault(v, -1) == to) && rest.allTasksRunning(job);
    });
  }

  /** Cancels the job and waits until it has ended (or the JobManager no longer knows it). */
  public void cancel(JobID job) throws Exception {
    rest.cancel(job);
    awaitCondition("job " + job + " cancelled", Duration.ofMinutes(2),
        () -> rest.jobState(job).map(s -> s.equals("CANCELED") || s.equals("FINISHED") || s.equals("FAILED"))
            .orElse(true));
  }

  /** Waits until the job has every task running. */
  public void awaitRunning(JobID job, Duration timeout) throws IOException {
    awaitCondition("job " + job + " running", timeout, () -> rest.allTasksRunning(job));
  }

  /** The shaded job jar: {@code distilstream.job.jar}, else the newest {@code jobs/target/*-job.jar} above here. */
  public static Path jobJar() throws IOException {
    return FlinkProcesses.jobJar();
  }

  // ---- teardown and cluster up --------------------------------------------------------------------------------

  /** Stops every process (TaskManagers first, then the JobManager) and deletes the directory. */
  @Override
  public void close() {
    processes.stopAll();
    if (!keepDirectory) {
      claim.remove();
    }
  }

  /** {@link #close()} stops the processes but keeps the directory (logs, checkpoints). */
  public void detachDirectory() {
    keepDirectory = true;
  }

  /** Writes {@code cluster up}'s state file. */
  void writeState(Path file) throws IOException {
    Properties p = new Properties();
    p.setProperty("dir", files.dir().toString());
    p.setProperty("rest.port", String.valueOf(rest.port()));
    claim.store(p);
    pids().forEach((k, v) -> p.setProperty("pid." + k, String.valueOf(v)));
    metricsPorts().forEach((k, v) -> p.setProperty("metrics.port." + k, String.valueOf(v)));
    Files.createDirectories(file.toAbsolutePath().getParent());
    try (var w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
      p.store(w, "distilstream cluster up");
    }
  }

  /** Leaves the processes running (for {@code cluster up}): forgets them without stopping them. */
  void detach() {
    processes.forget();
  }

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
}
