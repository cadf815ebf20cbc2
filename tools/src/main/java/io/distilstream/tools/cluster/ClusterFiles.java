package io.distilstream.tools.cluster;

import io.distilstream.tools.local.LoopbackPorts;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Stream;

/**
 * The directory of a {@link LocalFlinkCluster} and what goes in it: {@code conf/config.yaml} (written here), {@code
 * log/} (a file per JVM and per {@code flink run}), {@code tmp/}, {@code checkpoints/} and {@code savepoints/}; and,
 * as {@link Claim}, which of it the cluster may delete again.
 */
final class ClusterFiles {
  /** Flink's Prometheus reporter (flink-metrics-prometheus, on the cluster's classpath), as config.yaml names it. */
  static final Map<String, String> PROMETHEUS = Map.of("metrics.reporter.prom.factory.class",
      "org.apache.flink.metrics.prometheus.PrometheusReporterFactory");
  /** The reporter's HTTP port (a port or a range); each process gets its own as a dynamic property. */
  static final String PROMETHEUS_PORT = "metrics.reporter.prom.port";

  /** The cluster's directory; its JVMs run in it. */
  private final Path dir;

  ClusterFiles(Path dir) {
    this.dir = dir;
  }

  Path dir() {
    return dir;
  }

  /** The configuration directory the JVMs and {@code flink run} read ({@code --configDir}, FLINK_CONF_DIR). */
  Path conf() {
    return dir.resolve("conf");
  }

  /** The log of one process: {@code log/NAME.log} (NAME: jobmanager, tm-1, ...). */
  Path log(String name) {
    return dir.resolve("log/" + name + ".log");
  }

  /** A new log file for one {@code flink run}, creating {@code log/} if needed (the cluster may be another's). */
  Path newSubmitLog() throws IOException {
    Path logDir = Files.createDirectories(dir.resolve("log"));
    return logDir.resolve("submit-" + System.currentTimeMillis() + ".log");
  }

  Path savepoints() {
    return dir.resolve("savepoints");
  }

  /**
   * Writes {@code conf/config.yaml} (and makes {@code log/} and {@code tmp/}): everything on 127.0.0.1 with free
   * ports, {@code slots} slots and a small fixed memory budget per TaskManager, checkpoints and savepoints in this
   * directory, endless fixed-delay restarts and fast failure detection; Flink's Prometheus reporter when {@code
   * prometheus}. {@code overrides} add to or replace it.
   */
  void writeConfig(int restPort, int slots, boolean prometheus, Map<String, String> overrides) throws IOException {
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
    // fine-grained TaskManager memory (the bash scripts would derive the JVM flags from these; see
    // FlinkProcesses.startTaskManager())
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
    c.put("execution.checkpointing.savepoint-dir", savepoints().toUri().toString());
    c.put("restart-strategy.type", "fixed-delay");
    c.put("restart-strategy.fixed-delay.attempts", "2147483647");
    // a restart waits for nothing outside the job here (slot requests wait for a replacement TaskManager, see
    // start-up-time below), so a long delay only adds to every kill's downtime (1 s of it, measured)
    c.put("restart-strategy.fixed-delay.delay", "100 ms");
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
    if (prometheus) {
      c.putAll(PROMETHEUS);
    }
    c.putAll(overrides);
    Files.createDirectories(conf());
    Files.createDirectories(dir.resolve("log"));
    Files.createDirectories(dir.resolve("tmp"));
    // the header names the facade, as it did before the files had a type of their own
    StringBuilder yaml = new StringBuilder("# written by distilstream's LocalFlinkCluster\n");
    c.forEach((k, v) -> yaml.append(k).append(": '").append(v.replace("'", "''")).append("'\n"));
    Files.writeString(conf().resolve("config.yaml"), yaml.toString(), StandardCharsets.UTF_8);
  }

  /** A free TCP port on the loopback address (for the REST, RPC and blob server ports); see {@link LoopbackPorts}. */
  static int freePort() throws IOException {
    return LoopbackPorts.free();
  }

  /** The last 40 lines of a log, for an error message. */
  static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(no log at " + log + ")";
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

  /**
   * The cluster's directory and what in it the cluster may delete: all of it when {@code cluster up} created it, else
   * only the entries that were not there before (a {@code --dir} the user already had keeps its own files).
   *
   * @param kept top-level names that existed before, null when the directory was created
   */
  record Claim(Path dir, List<String> kept) {
    /** Entries a cluster makes in its directory: what {@link #remove(Path, Properties)} deletes for an old state. */
    static final List<String> CLUSTER_ENTRIES = List.of("conf", "log", "tmp", "checkpoints", "savepoints", "native");

    static Claim created(Path dir) {
      return new Claim(dir, null);
    }

    /** Takes {@code dir} for a cluster, creating it if needed and noting what was in it. */
    static Claim take(Path dir) throws IOException {
      if (!Files.exists(dir)) {
        return created(Files.createDirectories(dir));
      }
      try (Stream<Path> entries = Files.list(dir)) {
        return new Claim(dir, entries.map(e -> e.getFileName().toString()).sorted().toList());
      }
    }

    /** Notes the claim in {@code cluster up}'s state file, for {@link #remove(Path, Properties)}. */
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
        new Claim(dir, Boolean.parseBoolean(created) ? null
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
