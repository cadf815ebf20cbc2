package io.distilstream.e2e;

import static io.distilstream.e2e.E2eModels.model;
import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.jobs.EnrichmentJob;
import io.distilstream.jobs.JobConfig;
import io.distilstream.operators.DeadLetterReason;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import io.distilstream.tools.local.LoopbackPorts;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The operator's metrics as a Prometheus server sees them: the enrichment job runs on a MiniCluster with Flink's
 * Prometheus reporter, and the test scrapes its HTTP endpoint (the text exposition format) while events flow; every
 * metric the Grafana dashboard (docker/grafana/dashboards/distilstream.json) queries must be in that scrape.
 */
class PrometheusScrapeITCase {
  private static final int PORT = freePort();

  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(1)
          .setConfiguration(reporter()).build());

  private static Configuration reporter() {
    Configuration c = new Configuration();
    c.setString("metrics.reporter.prom.factory.class",
        "org.apache.flink.metrics.prometheus.PrometheusReporterFactory");
    c.setString("metrics.reporter.prom.port", Integer.toString(PORT));
    return c;
  }

  /** The operator's metrics a dashboard reads, as the reporter names them (scope, group, metric). */
  static final List<String> NAMES = List.of("events", "tokens", "paddedTokens", "batches", "deadLetters",
      "cancelledRequests", "modelCallsRunning", "queueDepth", "eventsPerSecond", "tokensPerSecond", "batchSize", "paddingRatio",
      "batchLatencyMs", "eventLatencyMs", "reason_deadLetters", "task_model_version_serving", "modelReloads",
      "modelReloadFailures");

  private static final String PREFIX = PrometheusEndpoint.OPERATOR;

  @Test
  void theOperatorsMetricsAreScrapedAndItsCountersMove() throws Exception {
    try (KafkaFixture kafka = KafkaFixture.start(Map.of())) {
      Map<String, String> c = new LinkedHashMap<>();
      c.put("kafka.bootstrap.servers", kafka.bootstrapServers());
      c.put("job.name", "e2e-prometheus");
      c.put("source.bounded", "false");
      c.put("source.starting-offsets", "earliest");
      c.put("execution.checkpointing.interval", "500 ms");
      c.put("parallelism.default", "1");
      c.put("inference.max-wait", "5 ms");
      // registers the reload counters the dashboard shows; an hour: no reload happens during the test
      c.put("inference.model-reload-interval", "1 h");
      c.put("inference.model.text-classification", model("tiny-distilbert-sequence-classification").toString());
      kafka.createTopics(1, List.of("text-events", "text-labels", "text-dead-letters"));
      kafka.produce("text-events", events("a", 20));

      StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
      EnrichmentJob.build(env, JobConfig.of(c));
      JobClient job = env.executeAsync("e2e-prometheus");
      try {
        String first = awaitEvents(20);
        for (String name : NAMES) {
          assertThat(first).as("the scrape names %s", PREFIX + name).containsPattern("(?m)^" + PREFIX + name
              + "(_count|_sum)?\\{");
        }
        // the reporter writes a label's '-' as '_'
        assertThat(first).as("labelled with the job").contains("job_name=\"e2e_prometheus\"");
        // the dashboard queries nothing a real scrape does not have
        assertThat(PrometheusEndpoint.names(first)).as("series of the scrape")
            .containsAll(PrometheusEndpoint.dashboardMetrics());
        assertThat(PrometheusEndpoint.sum(first, PREFIX + "task_model_version_serving",
            "task=\"text_classification\"")).as("one version served").isEqualTo(1.0);
        for (DeadLetterReason r : DeadLetterReason.values()) {
          assertThat(first).as("a series for reason %s before any dead letter", r)
              .containsPattern("(?m)^" + PREFIX + "reason_deadLetters\\{[^}]*reason=\"" + r.code() + "\"");
        }

        List<byte[]> more = events("b", 30);
        more.add(TextEvents.encode(TextEvent.newBuilder().setId("blank").setText("   ").build()));
        kafka.produce("text-events", more);
        // a scrape reads each counter at its own moment while batches complete, so one scrape can show the events
        // of a batch whose batches/tokens were read a moment before it was counted: wait for all of them to move
        double firstTokens = counter(first, "tokens");
        double firstBatches = counter(first, "batches");
        String second = PrometheusEndpoint.awaitScrape(PORT, "50 events, one dead letter, more tokens and batches",
            Duration.ofMinutes(2), b -> PrometheusEndpoint.operator(b, "events") >= 50
                && PrometheusEndpoint.operator(b, "deadLetters") >= 1 && counter(b, "tokens") > firstTokens
                && counter(b, "batches") > firstBatches);
        assertThat(counter(second, "tokens")).isGreaterThan(counter(first, "tokens"));
        assertThat(counter(second, "batches")).isGreaterThan(counter(first, "batches"));
        assertThat(counter(second, "deadLetters")).isEqualTo(1.0);
        assertThat(PrometheusEndpoint.sum(second, PREFIX + "reason_deadLetters", "reason=\"INVALID_INPUT\""))
            .isEqualTo(1.0);
        assertThat(PrometheusEndpoint.sum(second, PREFIX + "reason_deadLetters", "")).isEqualTo(1.0);
      } finally {
        job.cancel().get(60, TimeUnit.SECONDS);
      }
    }
  }

  private static List<byte[]> events(String prefix, int n) throws IOException {
    List<byte[]> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(TextEvents.encode(TextEvent.newBuilder().setId(prefix + i).setText("event number " + i + " of " + n)
          .build()));
    }
    return out;
  }

  /** Scrapes until the operator's event counter reaches {@code n} (or two minutes pass) and returns that scrape. */
  private static String awaitEvents(long n) throws Exception {
    return PrometheusEndpoint.awaitScrape(PORT, "the events counter reaching " + n, Duration.ofMinutes(2),
        b -> PrometheusEndpoint.operator(b, "events") >= n);
  }

  /** The value of the operator's counter {@code name} in a scrape (0 when absent). */
  static double counter(String body, String name) {
    return PrometheusEndpoint.operator(body, name);
  }

  private static int freePort() {
    try {
      return LoopbackPorts.free();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }
}
