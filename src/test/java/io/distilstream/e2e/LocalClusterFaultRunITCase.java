package io.distilstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.tools.cluster.ChaosOptions;
import io.distilstream.tools.cluster.ChaosRun;
import io.distilstream.tools.cluster.HostileCorpus;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The short fault run: a real Flink cluster (a JobManager and two TaskManagers, each its own JVM, from the Flink
 * jars), the shaded job jar submitted with {@code flink run}, a real Kafka broker, the tiny models. Before any fault
 * every kind of hostile record reaches the dead-letter topic with its reason and nothing restarts; then one
 * TaskManager is SIGKILLed (recovery from a checkpoint) and the job is rescaled from 2 to 3 through a savepoint.
 * A read_committed consumer finds every result exactly once.
 */
class LocalClusterFaultRunITCase {
  @Test
  void shortFaultRunLosesAndDuplicatesNothing(@TempDir Path out) throws Exception {
    ChaosOptions o = new ChaosOptions();
    o.events = 3000;
    o.rate = 100; // events keep arriving through the faults
    o.kills = 1;
    o.brokerRestarts = 0;
    o.parallelism = List.of(2, 3);
    o.hostileEvery = 100;
    o.checkpointInterval = Duration.ofSeconds(1);
    o.window = Duration.ofSeconds(2);
    o.models = ChaosOptions.defaultModels(Paths.get(System.getProperty("distilstream.shared", "../shared"), "models"));
    o.out = out;

    Map<String, Object> r = ChaosRun.run(o, System.out);

    assertThat(r).containsEntry("lost", 0L).containsEntry("duplicated", 0L)
        .containsEntry("deadLettersNotHostileOrWrongReason", 0)
        .containsEntry("restartsWithoutInjectedFault", 0L);
    assertThat(r.get("hostile")).isEqualTo(30);
    // every hostile record once: a dead letter, or (the enriched kinds) its results, counted with the rest
    List<HostileCorpus.Hostile> corpus = HostileCorpus.first(30, o.models.keySet());
    assertThat(r.get("deadLettered")).isEqualTo((int) corpus.stream().filter(h -> !h.ok()).count());
    assertThat(r.get("results")).isEqualTo(r.get("expectedResults"));

    // the hostile corpus, before any fault: every dead-lettered kind with its reason, no restart
    Map<String, String> expected = new TreeMap<>();
    for (HostileCorpus.Hostile h : HostileCorpus.first(HostileCorpus.KINDS.size(), o.models.keySet())) {
      if (!h.ok()) {
        expected.put(h.kind(), h.reason());
      }
    }
    assertThat(r.get("hostileKindsBeforeFirstFault")).isEqualTo(expected);
    assertThat(r.get("restartsBeforeFirstFault")).isEqualTo(0L);

    @SuppressWarnings("unchecked")
    List<Map<String, Object>> faults = (List<Map<String, Object>>) r.get("faults");
    assertThat(faults).filteredOn(f -> f.get("fault").equals("kill")).singleElement().satisfies(k -> {
      assertThat((Long) k.get("restoredCheckpoint")).isPositive();
      assertThat(k.get("restoredFromSavepoint")).isEqualTo(false);
    });
    assertThat(faults).filteredOn(f -> f.get("fault").equals("rescale")).singleElement().satisfies(s -> {
      assertThat(s).containsEntry("from", 2).containsEntry("to", 3);
      assertThat((String) s.get("savepoint")).contains("savepoint-");
    });
    assertThat((Long) r.get("restarts")).isPositive();
    assertThat(r.get("pass")).isEqualTo(true);
    assertThat(out.resolve("report.md")).content().contains("PASS", "lost=0 duplicated=0 dead-lettered="
        + corpus.stream().filter(h -> !h.ok()).count());
    assertThat(out.resolve("report.json")).isRegularFile();
  }
}
