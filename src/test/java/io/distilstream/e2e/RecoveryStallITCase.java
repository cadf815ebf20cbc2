package io.distilstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.tools.cluster.ChaosOptions;
import io.distilstream.tools.cluster.ChaosRun;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A TaskManager SIGKILLed while its sinks' transactions hold written, uncommitted results, with a read_committed
 * reader on every result partition: the recovery must abort what the killed TaskManager left open, so that the
 * reader sees results again within the checkpoint interval + 10 s on every partition, not when the broker times
 * the transaction out (15 min by default here). Real processes: a Flink JobManager and two TaskManagers, a Kafka
 * broker, the job jar submitted with {@code flink run}.
 *
 * <p>{@code -Drecovery.transaction-naming=pooling} runs it with the sinks' other naming (a recovery lists the open
 * transactions instead of probing ids); by default it runs with the job's default (incrementing).
 * {@link DownscaleStallITCase} is the sequence pooling does not recover from.
 */
class RecoveryStallITCase {
  @Test
  void readersSeeResultsAgainSoonAfterATaskManagerIsKilledMidTransaction(@TempDir Path out) throws Exception {
    ChaosOptions o = new ChaosOptions();
    o.events = 1500;
    o.rate = 100; // events arrive through the kill: the sinks' transactions hold results when it lands
    o.kills = 1;
    o.brokerRestarts = 0;
    o.parallelism = List.of(2);
    o.hostileEvery = 0;
    o.checkpointInterval = Duration.ofSeconds(2);
    o.window = Duration.ofSeconds(2);
    o.stallTimeout = Duration.ofSeconds(40); // a stalled reader fails the run well before the broker's timeout
    o.enforceTargets = true;
    o.transactionNaming = System.getProperty("recovery.transaction-naming");
    o.models = Map.of("text-classification", ChaosOptions.defaultModels(
        Paths.get(System.getProperty("distilstream.shared", "../shared"), "models")).get("text-classification"));
    o.out = out;

    Map<String, Object> r = ChaosRun.run(o, System.out);

    @SuppressWarnings("unchecked")
    List<Map<String, Object>> faults = (List<Map<String, Object>>) r.get("faults");
    assertThat(faults).singleElement().satisfies(k -> {
      assertThat(k).containsEntry("fault", "kill");
      assertThat((Long) k.get("inFlight")).as("events in flight at the kill").isPositive();
      assertThat((Integer) k.get("heldByOpenTransactions")).as("result partitions an open transaction held")
          .isPositive();
      assertThat((Long) k.get("readerResumeMs")).as("kill to the first visible result, every partition")
          .isLessThanOrEqualTo(o.checkpointInterval.toMillis() + 10_000);
      assertThat(k).containsEntry("withinTarget", true);
    });
    assertThat(r).containsEntry("lost", 0L).containsEntry("duplicated", 0L).containsEntry("targetsMet", true)
        .containsEntry("pass", true);
  }
}
