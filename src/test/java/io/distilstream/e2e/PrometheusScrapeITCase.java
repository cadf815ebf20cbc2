package io.distilstream.e2e;

import static io.distilstream.e2e.E2eModels.model;
import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.jobs.EnrichmentJob;
import io.distilstream.jobs.JobConfig;
import io.distilstream.operators.InferenceMetrics;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import io.distilstream.tools.local.LocalKafka;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The operator's metrics as a Prometheus server sees them: the enrichment job runs on a MiniCluster with Flink's
 * Prometheus reporter, and the test scrapes its HTTP endpoint (the text exposition format) while events flow.
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
      "cancelledRequests", "queueDepth", "eventsPerSecond", "tokensPerSecond", "batchSize", "paddingRatio",
      "batchLatencyMs", "eventLatencyMs");

  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private static final String PREFIX = "flink_taskmanager_job_task_operator_" + InferenceMetrics.GROUP + "_";

  @Test
  void theOperatorsMetricsAreScrapedAndItsCountersMove() throws Exception {
    try (LocalKafka kafka = LocalKafka.start(Map.of())) {
      Map<String, String> c = new LinkedHashMap<>();
      c.put("kafka.bootstrap.servers", kafka.bootstrapServers());
      c.put("job.name", "e2e-prometheus");
      c.put("source.bounded", "false");
      c.put("source.starting-offsets", "earliest");
      c.put("execution.checkpointing.interval", "500 ms");
      c.put("parallelism.default", "1");
      c.put("inference.max-wait", "5 ms");
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

        kafka.produce("text-events", events("b", 30));
        String second = awaitEvents(50);
        assertThat(counter(second, "tokens")).isGreaterThan(counter(first, "tokens"));
        assertThat(counter(second, "batches")).isGreaterThan(counter(first, "batches"));
        assertThat(counter(second, "deadLetters")).isZero();
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
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
    String body = "";
    while (System.nanoTime() < deadline) {
      body = scrape();
      if (body.contains(PREFIX + "events{") && counter(body, "events") >= n) {
        return body;
      }
      TimeUnit.MILLISECONDS.sleep(200); // polling an HTTP endpoint for a condition, not waiting in place of one
    }
    throw new AssertionError("the events counter did not reach " + n + " in two minutes; last scrape:\n" + body);
  }

  private static String scrape() throws IOException, InterruptedException {
    try {
      HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + PORT + "/metrics"))
          .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).isEqualTo(200);
      return r.body();
    } catch (java.net.ConnectException e) {
      return ""; // the reporter's server is not up yet
    }
  }

  /** The value of the operator's counter {@code name} in a scrape (0 when absent). */
  static double counter(String body, String name) {
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(PREFIX + name) + "\\{[^}]*\\} ([0-9.eE+-]+)$").matcher(body);
    double sum = 0;
    while (m.find()) {
      sum += Double.parseDouble(m.group(1));
    }
    return sum;
  }

  private static int freePort() {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }
}
