package io.distilstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import io.distilstream.tools.cluster.ClusterCli;
import io.distilstream.tools.local.LocalSchemaRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
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
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distilstream cluster up --kafka --metrics --schema-registry --scheduler adaptive|submit|status|rescale|down}:
 * real JobManager, TaskManager, broker and schema registry processes that outlive the command, found again through
 * the state file, the job jar submitted with {@code flink run} (writing {@code avro-confluent} through the cluster's
 * registry) and running, rescaled in place by the adaptive scheduler, each process's Prometheus endpoint serving the
 * operator's series (every one the Grafana dashboard queries) with counters that move as events arrive, and
 * everything gone after {@code down}. Without a Java 21+ runtime for the registry the same runs without it.
 */
class ClusterCliITCase {
  private record Run(int code, String out) {}

  private static Run cli(String... args) throws Exception {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(buf, true, StandardCharsets.UTF_8);
    int code = ClusterCli.run(args, out, out);
    return new Run(code, buf.toString(StandardCharsets.UTF_8));
  }

  /** The registry's subjects, as its JSON array. */
  private static String subjects(String registryUrl) throws Exception {
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(registryUrl + "/subjects")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return r.body().replace(" ", "");
  }

  private static List<byte[]> events(String prefix, int n) throws IOException {
    List<byte[]> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(TextEvents.encode(TextEvent.newBuilder().setId(prefix + i).setText("event number " + i).build()));
    }
    return out;
  }

  /** Polls {@code cluster status} until its output contains every one of {@code expected} (at most 60 s). */
  private static Run awaitStatus(String state, String... expected) throws Exception {
    Run status = cli("status", "--state", state);
    long deadline = System.nanoTime() + java.time.Duration.ofSeconds(60).toNanos();
    while (!java.util.Arrays.stream(expected).allMatch(status.out()::contains) && System.nanoTime() < deadline) {
      java.util.concurrent.locks.LockSupport.parkNanos(200_000_000L);
      status = cli("status", "--state", state);
    }
    return status;
  }

  @Test
  void upStatusDown(@TempDir Path tmp) throws Exception {
    String state = tmp.resolve("state.properties").toString();
    Path dir = tmp.resolve("cluster");
    List<ProcessHandle> processes = new ArrayList<>();
    String noRegistry = LocalSchemaRegistry.unavailableReason();
    if (noRegistry != null) {
      System.err.println("ClusterCliITCase runs without --schema-registry: " + noRegistry);
    }
    boolean withRegistry = noRegistry == null;
    Path registryDir = null;
    try {
      List<String> upArgs = new ArrayList<>(List.of("up", "--state", state, "--dir", dir.toString(),
          "--taskmanagers", "1", "--slots", "2", "--kafka", "--metrics",
          "--scheduler", "adaptive"));
      if (withRegistry) {
        upArgs.add("--schema-registry");
      }
      Run up = cli(upArgs.toArray(String[]::new));
      assertThat(up.code()).as(up.out()).isZero();
      assertThat(up.out()).contains("Kafka broker at 127.0.0.1:", "jobmanager metrics http://127.0.0.1:",
          "tm-1 metrics http://127.0.0.1:");
      assertThat(dir.resolve("conf/config.yaml")).content().contains("taskmanager.numberOfTaskSlots: '2'",
          "jobmanager.scheduler: 'adaptive'");
      Properties p = new Properties();
      try (var r = Files.newBufferedReader(Path.of(state))) {
        p.load(r);
      }
      for (String k : p.stringPropertyNames()) {
        if (k.startsWith("pid.")) {
          processes.add(ProcessHandle.of(Long.parseLong(p.getProperty(k))).orElseThrow());
        }
      }
      assertThat(processes).hasSize(withRegistry ? 4 : 3).allMatch(ProcessHandle::isAlive);
      int jmMetrics = Integer.parseInt(p.getProperty("metrics.port.jobmanager"));
      int tmMetrics = Integer.parseInt(p.getProperty("metrics.port.tm-1"));
      assertThat(jmMetrics).isNotEqualTo(tmMetrics);
      String registryUrl = p.getProperty("registry.url");
      if (withRegistry) {
        registryDir = Path.of(p.getProperty("registry.dir"));
        assertThat(up.out()).contains("schema registry at " + registryUrl);
        assertThat(subjects(registryUrl)).isEqualTo("[]");
      }

      Run status = cli("status", "--state", state);
      assertThat(status.code()).as(status.out()).isZero();
      assertThat(status.out()).contains("jobmanager pid", "tm-1 pid", "kafka pid", "Flink 2.2", "taskmanagers 1",
          "slots 2 free of 2", "jobs running 0", "metrics http://127.0.0.1:" + jmMetrics + "/metrics",
          "running, metrics http://127.0.0.1:" + tmMetrics + "/metrics");
      if (withRegistry) {
        assertThat(status.out()).contains("schema registry: " + registryUrl, "registry pid");
      }

      Path model = Paths.get(System.getProperty("distilstream.shared", "../shared"), "models",
          "tiny-distilbert-sequence-classification").toAbsolutePath();
      List<String> submitArgs = new ArrayList<>(List.of("submit", "--state", state, "--bootstrap-servers",
          p.getProperty("kafka.bootstrap.servers"), "--model", "text-classification=" + model, "--parallelism", "1",
          // registers the reload counters the dashboard shows; no reload happens within the hour
          "--set", "inference.model-reload-interval=1 h"));
      if (withRegistry) {
        // no schema.registry.url: submit passes the cluster's
        submitArgs.addAll(List.of("--set", "output.format=avro-confluent"));
      }
      Run submit = cli(submitArgs.toArray(String[]::new));
      assertThat(submit.code()).as(submit.out()).isZero();
      assertThat(submit.out()).containsPattern("submitted job [0-9a-f]{32}");
      if (withRegistry) {
        // the job registered its output schemas while `flink run` built it, in the cluster's registry
        assertThat(submit.out()).contains("schema.registry.url=" + registryUrl);
        assertThat(subjects(registryUrl)).contains("\"text-labels-value\"", "\"text-dead-letters-value\"");
      }
      // the adaptive scheduler takes the slot before the job runs: poll until both show
      Run running = awaitStatus(state, "RUNNING distilstream-enrichment", "slots 1 free of 2");
      assertThat(running.out()).contains("jobs running 1", "RUNNING distilstream-enrichment", "slots 1 free of 2");

      // in place, from a checkpoint: the same job, now on both slots
      Run rescale = cli("rescale", "--state", state, "--parallelism", "2");
      assertThat(rescale.code()).as(rescale.out()).isZero();
      assertThat(rescale.out()).containsPattern("job [0-9a-f]{32} rescaled 1 -> 2, running after");
      assertThat(awaitStatus(state, "RUNNING distilstream-enrichment", "slots 0 free of 2").out()).contains("jobs running 1", "slots 0 free of 2");

      // the TaskManager's endpoint: the operator's series, counters that move with the events
      String bootstrap = p.getProperty("kafka.bootstrap.servers");
      KafkaFixture.produce(bootstrap, "text-events", events("a", 20), Map.of());
      String first = PrometheusEndpoint.awaitScrape(tmMetrics, "20 events on tm-1", Duration.ofMinutes(2),
          b -> PrometheusEndpoint.operator(b, "events") >= 20);
      KafkaFixture.produce(bootstrap, "text-events", events("b", 20), Map.of());
      // a scrape reads each series on its own, not a snapshot of all: one can show a batch's events before its
      // tokens (seen in CI). Wait until all three moved; the wait times out, and fails, if tokens or batches never do
      double firstTokens = PrometheusEndpoint.operator(first, "tokens");
      double firstBatches = PrometheusEndpoint.operator(first, "batches");
      String second = PrometheusEndpoint.awaitScrape(tmMetrics, "40 events on tm-1, with their tokens and batches",
          Duration.ofMinutes(2), b -> PrometheusEndpoint.operator(b, "events") >= 40
              && PrometheusEndpoint.operator(b, "tokens") > firstTokens
              && PrometheusEndpoint.operator(b, "batches") > firstBatches);
      assertThat(second).contains("job_name=\"distilstream_enrichment\"");
      // the JobManager's endpoint: the cluster's and the job's own series
      String jm = PrometheusEndpoint.scrape(jmMetrics);
      assertThat(PrometheusEndpoint.sum(jm, "flink_jobmanager_numRegisteredTaskManagers", "")).isEqualTo(1.0);
      // what the dashboard queries is served by the cluster's processes
      Set<String> served = new TreeSet<>(PrometheusEndpoint.names(second));
      served.addAll(PrometheusEndpoint.names(jm));
      assertThat(served).containsAll(PrometheusEndpoint.dashboardMetrics());

      assertThatThrownBy(() -> cli("up", "--state", state)).hasMessageContaining("already up");
    } finally {
      Run down = cli("down", "--state", state);
      assertThat(down.code()).as(down.out()).isZero();
    }
    assertThat(processes).noneMatch(ProcessHandle::isAlive);
    assertThat(dir).doesNotExist();
    if (registryDir != null) {
      assertThat(registryDir).doesNotExist();
    }
    assertThat(cli("status", "--state", state).code()).isEqualTo(3);
  }
}
