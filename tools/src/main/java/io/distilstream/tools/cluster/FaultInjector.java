package io.distilstream.tools.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import io.distilstream.jobs.JobConfig;
import io.distilstream.tools.local.LocalKafka;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;

/**
 * The faults of a {@link ChaosRun} and the job they strike: submits the job, SIGKILLs a TaskManager and waits for the
 * recovery from a checkpoint, stops and restarts the broker, rescales through a savepoint; records each fault (for
 * the verifier and the report) and counts the restarts, those no fault explains apart.
 */
final class FaultInjector {
  private final ChaosRun run;
  private final ChaosOptions o;
  private final LocalFlinkCluster cluster;
  private final LocalKafka kafka;
  private final ResultCounter counter;
  private final Path jar;
  private JobID job;
  private final List<JobID> jobs = new ArrayList<>();
  private int currentParallelism = -1;
  private long restartsOfEarlierJobs;
  private long restartsAfterLastFault;
  private long unexplainedRestarts;
  private final List<String> unexplained = new ArrayList<>();
  private long lastFaultEnd;
  private final List<Map<String, Object>> faults = new ArrayList<>();

  FaultInjector(ChaosRun run, ChaosOptions o, LocalFlinkCluster cluster, LocalKafka kafka, ResultCounter counter,
      Path jar) {
    this.run = run;
    this.o = o;
    this.cluster = cluster;
    this.kafka = kafka;
    this.counter = counter;
    this.jar = jar;
  }

  /** Submits the job at the first parallelism and waits until it runs. */
  void submit() throws Exception {
    int p = o.parallelism.get(0);
    job = cluster.submit(jar, jobArgs(p), p, null);
    jobs.add(job);
    currentParallelism = p;
    // the adaptive scheduler may start a job on the first slots offered and scale it up once the rest are: wait for
    // the whole parallelism, and count restarts between faults from there
    LocalFlinkCluster.awaitCondition("job " + job + " running at parallelism " + p, Duration.ofMinutes(3),
        () -> cluster.rest().allTasksRunning(job) && highest(cluster.rest().vertexParallelism(job)) == p);
    restartsAfterLastFault = restartsNow();
    run.say("job %s running at parallelism %d (sink.transaction-naming %s; rescales: %s)", job, p,
        o.transactionNaming == null ? JobConfig.TRANSACTION_NAMING.defaultValue() + ", the job's default"
            : o.transactionNaming,
        o.adaptiveRescale() ? "in place, adaptive scheduler" : "through savepoints");
    lastFaultEnd = System.currentTimeMillis();
  }

  /** Injects one step of the plan; restarts after it count as its own until the next step. */
  void inject(FaultPlan.Step step) throws Exception {
    noteQuietRestarts();
    switch (step.kind()) {
      case KILL: kill(); break;
      case BROKER_RESTART: restartBroker(); break;
      default: rescale(o.parallelism.get(step.parallelismIndex()));
    }
    restartsAfterLastFault = restartsNow();
    lastFaultEnd = System.currentTimeMillis();
  }

  /** The job now (a rescale replaces it). */
  JobID job() {
    return job;
  }

  /** Every job the run submitted, in order. */
  List<JobID> jobs() {
    return jobs;
  }

  /** The faults so far, one map each (what the report prints). */
  List<Map<String, Object>> faults() {
    return faults;
  }

  /** Restarts that no injected fault explains. */
  long unexplainedRestarts() {
    return unexplainedRestarts;
  }

  /** The failures behind {@link #unexplainedRestarts()}. */
  List<String> unexplained() {
    return unexplained;
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
    for (String kv : o.jobOptions) {
      a.add("--set");
      a.add(kv);
    }
    o.models.forEach((task, dir) -> {
      a.add("--model");
      a.add(task + "=" + dir);
    });
    return a;
  }

  /** Restarts of every job so far (the current one's numRestarts metric plus earlier jobs'). */
  long restartsNow() {
    return restartsOfEarlierJobs + Math.max(0, cluster.rest().restarts(job));
  }

  /** A restart between faults had no injected cause: hostile input or a bug. */
  void noteQuietRestarts() {
    long now = restartsNow();
    if (now > restartsAfterLastFault) {
      unexplainedRestarts += now - restartsAfterLastFault;
      unexplained.addAll(cluster.rest().failures(job));
      run.say("WARNING: %d restart(s) with no fault injected: %s", now - restartsAfterLastFault,
          cluster.rest().failures(job));
      restartsAfterLastFault = now;
    }
  }

  private void kill() throws Exception {
    // recovery is from a checkpoint: make sure one has completed since the job (re)started
    long before = cluster.rest().completedCheckpoints(job);
    LocalFlinkCluster.awaitCondition("a completed checkpoint", Duration.ofMinutes(2),
        () -> cluster.rest().completedCheckpoints(job) > 0 && cluster.rest().completedCheckpoints(job) >= before);
    List<String> running = cluster.rest().taskManagersOf(job);
    running.retainAll(cluster.taskManagerIds());
    List<String> candidates = running.isEmpty() ? cluster.taskManagerIds() : running;
    String tm = candidates.get(new SplittableRandom(o.seed * 31 + faults.size()).nextInt(candidates.size()));
    LocalFlinkCluster.awaitCondition("the job's restart count", Duration.ofMinutes(1),
        () -> cluster.rest().restarts(job) >= 0);
    long restartsBefore = cluster.rest().restarts(job);
    Map<String, Integer> parallelism = cluster.rest().vertexParallelism(job);
    // strike between a transaction's first record and its commit: while an open transaction holds a result
    // partition (written, not yet committed), and while an event is in flight (sent, its result not yet seen): at
    // 100 events/s and a fast job only a few are at any moment, and on a loaded machine the producer falls behind,
    // so the fault waits (bounded) for both rather than strike between two events
    Map<String, Long> held = counter.heldPartitions();
    for (long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        (held.isEmpty() || run.inFlightNow() <= 0) && System.nanoTime() < deadline; ) {
      ChaosRun.sleep(20);
      held = counter.heldPartitions();
    }
    long resultsAt = counter.classifications();
    long inFlight = run.inFlight("kill");
    long t0 = System.currentTimeMillis();
    cluster.killTaskManager(tm);
    run.say("SIGKILLed TaskManager %s at %d results (%.0f%%), %d events in flight, %d result partitions held by open"
        + " transactions", tm, resultsAt, 100.0 * resultsAt / o.events, inFlight, held.size());
    String replacement = cluster.startTaskManager(); // as a process supervisor would
    cluster.awaitTaskManagers(o.taskManagers, Duration.ofMinutes(2));
    LocalFlinkCluster.awaitCondition("the job restarted after killing " + tm, Duration.ofMinutes(3),
        () -> cluster.rest().restarts(job) > restartsBefore && cluster.rest().allTasksRunning(job));
    long tasksRunning = System.currentTimeMillis();
    // the adaptive scheduler runs the job on the slots left (after 1 s) and scales it back when the replacement has
    // registered (LocalFlinkCluster.ADAPTIVE_SCHEDULER): that restart is this fault's, not one between faults
    Map<String, Integer> restartedAt = cluster.rest().vertexParallelism(job);
    boolean ranLower = !restartedAt.equals(parallelism);
    if (ranLower) {
      LocalFlinkCluster.awaitCondition("the job back at its parallelism after killing " + tm, Duration.ofMinutes(3),
          () -> cluster.rest().vertexParallelism(job).equals(parallelism) && cluster.rest().allTasksRunning(job));
    }
    // recovered: running again and a checkpoint completed after the kill (the killed TaskManager could ack none)
    awaitHealthy(t0);
    long recovered = System.currentTimeMillis();
    // the checkpoint statistics say what the recovery restored (they may lag the job's state a little)
    JsonNode[] restoredBox = new JsonNode[1];
    try {
      LocalFlinkCluster.awaitCondition("the restored checkpoint", Duration.ofSeconds(30), () -> {
        restoredBox[0] = cluster.rest().checkpoints(job).map(c -> c.path("latest").path("restored")).orElse(null);
        return restoredBox[0] != null && restoredBox[0].path("restore_timestamp").asLong() >= t0;
      });
    } catch (IOException e) {
      run.say("WARNING: %s", e.getMessage());
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
    if (ranLower) {
      f.put("restartedAtParallelism", highest(restartedAt)); // before it went back
    }
    f.put("recoveryMs", recovered - t0);
    f.put("restarts", cluster.rest().restarts(job) - restartsBefore);
    if (restored != null && !restored.isMissingNode() && !restored.isNull()) {
      f.put("restoredCheckpoint", restored.path("id").asLong());
      f.put("restoredFromSavepoint", restored.path("is_savepoint").asBoolean());
    }
    faults.add(f);
    run.say("recovered in %.1f s (tasks running after %.1f s, %s restart(s)) from checkpoint %s",
        (recovered - t0) / 1000.0, (tasksRunning - t0) / 1000.0, f.get("restarts"), f.get("restoredCheckpoint"));
  }

  /** The job's parallelism: the highest of its vertices' (some run at a parallelism of their own); 0 when none. */
  private static int highest(Map<String, Integer> vertexParallelism) {
    return vertexParallelism.values().stream().mapToInt(Integer::intValue).max().orElse(0);
  }

  /** Waits until every task runs and a checkpoint has completed after {@code sinceMillis}. */
  private void awaitHealthy(long sinceMillis) throws IOException {
    LocalFlinkCluster.awaitCondition("a checkpoint completed after the fault", Duration.ofMinutes(3),
        () -> cluster.rest().allTasksRunning(job) && cluster.rest().checkpoints(job)
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
        run.say("stop-with-savepoint failed (%s); trying again once the job is healthy", firstLine(e));
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
    long inFlight = run.inFlight("broker restart");
    long t0 = System.currentTimeMillis();
    kafka.stop();
    run.say("stopped the Kafka broker at %d results", resultsAt);
    ChaosRun.sleep(o.brokerDown.toMillis()); // the outage itself
    kafka.start();
    long up = System.currentTimeMillis();
    run.say("restarted the Kafka broker after %.1f s", (up - t0) / 1000.0);
    // recovered: all tasks running and new results committed (or none left to produce)
    counter.catchUp(Duration.ofMinutes(2));
    long baseline = counter.classifications();
    run.awaitOrStall("results after the broker restart", () -> cluster.rest().allTasksRunning(job)
        && (counter.classifications() > baseline || counter.classifications() >= o.events));
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
    run.say("results flowing again %.1f s after the broker stopped (%d job restarts)", (recovered - t0) / 1000.0,
        restartsNow() - restartsBefore);
  }

  private void rescale(int to) throws Exception {
    int from = currentParallelism;
    long w = o.window.toMillis();
    if (System.currentTimeMillis() < lastFaultEnd + w) {
      ChaosRun.sleep(lastFaultEnd + w - System.currentTimeMillis()); // a full measuring window since the last fault
    }
    long now = System.currentTimeMillis();
    long windowStart = Math.max(lastFaultEnd, now - w);
    double before = counter.rate(windowStart, now);
    long resultsAt = counter.classifications();
    long inFlight = run.inFlight("rescale " + from + " -> " + to);
    long t0 = System.currentTimeMillis();
    String savepoint = null;
    long restartsBefore = restartsNow();
    if (o.adaptiveRescale()) {
      // in place: the adaptive scheduler restarts the job from its next checkpoint at the new parallelism
      run.say("asking job %s for parallelism %d at %d results (%.0f results/s over the last %d s)", job, to,
          resultsAt, before, w / 1000);
      cluster.rescale(job, from, to, Duration.ofMinutes(3));
    } else {
      savepoint = stopWithSavepoint();
      run.say("stopped job %s with savepoint %s at %d results (%.0f results/s over the last %d s)", job, savepoint,
          resultsAt, before, w / 1000);
      restartsOfEarlierJobs += Math.max(0, cluster.rest().restarts(job));
      job = cluster.submit(jar, jobArgs(to), to, savepoint);
      jobs.add(job);
      cluster.awaitRunning(job, Duration.ofMinutes(3));
    }
    long running = System.currentTimeMillis();
    currentParallelism = to;
    restartsAfterLastFault = restartsNow();
    counter.catchUp(Duration.ofMinutes(2));
    long atRunning = counter.classifications();
    Double after = null;
    if (atRunning < o.events) {
      run.awaitOrStall("results after the rescale", () -> counter.classifications() > atRunning
          || counter.classifications() >= o.events);
      long first = System.currentTimeMillis();
      ChaosRun.sleep(w); // the measuring window
      after = counter.rate(first, first + w);
    }
    Map<String, Object> f = new LinkedHashMap<>();
    f.put("fault", "rescale");
    f.put("from", from);
    f.put("to", to);
    f.put("via", o.rescale);
    if (savepoint != null) {
      f.put("savepoint", savepoint);
    } else {
      f.put("restarts", restartsNow() - restartsBefore); // the in-place restart(s) of the rescale
    }
    f.put("atResults", resultsAt);
    f.put("inFlight", inFlight);
    f.put("startedAtMillis", t0);
    f.put("downtimeMs", running - t0);
    f.put("resultsPerSecondBefore", ChaosReport.round(before));
    f.put("windowBeforeMs", now - windowStart);
    f.put("resultsPerSecondAfter", after == null ? null : ChaosReport.round(after));
    f.put("backlogLeftAfter", o.events - counter.classifications());
    faults.add(f);
    run.say("job %s running at parallelism %d after %.1f s; %s results/s", job, to, (running - t0) / 1000.0,
        after == null ? "(no backlog left to measure)" : String.format(Locale.ROOT, "%.0f", after));
  }
}
