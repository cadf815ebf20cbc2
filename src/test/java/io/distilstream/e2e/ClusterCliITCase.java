package io.distilstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.tools.cluster.ClusterCli;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distilstream cluster up --kafka|submit|status|rescale|down}: real JobManager, TaskManager and broker
 * processes that outlive the command, found again through the state file, the job jar submitted with {@code flink
 * run} and running, rescaled in place by the adaptive scheduler, and everything gone after {@code down}.
 */
class ClusterCliITCase {
  private record Run(int code, String out) {}

  private static Run cli(String... args) throws Exception {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(buf, true, StandardCharsets.UTF_8);
    int code = ClusterCli.run(args, out, out);
    return new Run(code, buf.toString(StandardCharsets.UTF_8));
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
    try {
      Run up = cli("up", "--state", state, "--dir", dir.toString(), "--taskmanagers", "1", "--slots", "2",
          "--kafka", "--scheduler", "adaptive");
      assertThat(up.code()).as(up.out()).isZero();
      assertThat(up.out()).contains("Kafka broker at 127.0.0.1:");
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
      assertThat(processes).hasSize(3).allMatch(ProcessHandle::isAlive);

      Run status = cli("status", "--state", state);
      assertThat(status.code()).as(status.out()).isZero();
      assertThat(status.out()).contains("jobmanager pid", "tm-1 pid", "kafka pid", "Flink 2.2", "taskmanagers 1",
          "slots 2 free of 2", "jobs running 0");

      Path model = Paths.get(System.getProperty("distilstream.shared", "../shared"), "models",
          "tiny-distilbert-sequence-classification").toAbsolutePath();
      Run submit = cli("submit", "--state", state, "--bootstrap-servers", p.getProperty("kafka.bootstrap.servers"),
          "--model", "text-classification=" + model, "--parallelism", "1");
      assertThat(submit.code()).as(submit.out()).isZero();
      assertThat(submit.out()).containsPattern("submitted job [0-9a-f]{32}");
      // a job is RUNNING before its tasks hold their slots: poll the status until the slot is taken
      // the adaptive scheduler takes the slot before the job runs: poll until both show
      Run running = awaitStatus(state, "RUNNING distilstream-enrichment", "slots 1 free of 2");
      assertThat(running.out()).contains("jobs running 1", "RUNNING distilstream-enrichment", "slots 1 free of 2");

      // in place, from a checkpoint: the same job, now on both slots
      Run rescale = cli("rescale", "--state", state, "--parallelism", "2");
      assertThat(rescale.code()).as(rescale.out()).isZero();
      assertThat(rescale.out()).containsPattern("job [0-9a-f]{32} rescaled 1 -> 2, running after");
      assertThat(awaitStatus(state, "RUNNING distilstream-enrichment", "slots 0 free of 2").out()).contains("jobs running 1", "slots 0 free of 2");

      assertThatThrownBy(() -> cli("up", "--state", state)).hasMessageContaining("already up");
    } finally {
      Run down = cli("down", "--state", state);
      assertThat(down.code()).as(down.out()).isZero();
    }
    assertThat(processes).noneMatch(ProcessHandle::isAlive);
    assertThat(dir).doesNotExist();
    assertThat(cli("status", "--state", state).code()).isEqualTo(3);
  }
}
