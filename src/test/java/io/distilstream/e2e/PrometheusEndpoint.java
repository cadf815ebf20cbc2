package io.distilstream.e2e;

import io.distilstream.e2e.docker.DockerFiles;
import io.distilstream.operators.InferenceMetrics;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tools.jackson.databind.JsonNode;

/**
 * Flink's Prometheus reporter as a Prometheus server reads it: the text exposition format from {@code
 * http://127.0.0.1:PORT/metrics}, its series names and values; and the metric names the Grafana dashboard
 * (docker/grafana/dashboards/distilstream.json) queries, to hold against a real scrape.
 */
final class PrometheusEndpoint {
  /** How the reporter names the operator's metrics: scope, the operator's group, then the metric. */
  static final String OPERATOR = "flink_taskmanager_job_task_operator_" + InferenceMetrics.GROUP + "_";

  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  /** A sample line: name, optional labels, value. */
  private static final Pattern SAMPLE = Pattern.compile("(?m)^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[^}]*\\})? (\\S+)");
  /** A metric name in PromQL: Flink's reporter starts every one with {@code flink_}. */
  private static final Pattern PROMQL_NAME = Pattern.compile("\\b(flink_[a-zA-Z0-9_:]+)");

  private PrometheusEndpoint() {}

  /** One scrape of the reporter on {@code port}; "" while its server is not up yet. */
  static String scrape(int port) throws IOException, InterruptedException {
    try {
      HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
          .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 200) {
        throw new IOException("GET http://127.0.0.1:" + port + "/metrics answered " + r.statusCode());
      }
      return r.body();
    } catch (ConnectException e) {
      return "";
    }
  }

  /** Scrapes until {@code done} holds for a scrape (or {@code timeout} passes) and returns that scrape. */
  static String awaitScrape(int port, String what, Duration timeout, Predicate<String> done) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    String body = "";
    while (System.nanoTime() < deadline) {
      body = scrape(port);
      if (done.test(body)) {
        return body;
      }
      TimeUnit.MILLISECONDS.sleep(200); // polling an HTTP endpoint for a condition, not waiting in place of one
    }
    throw new AssertionError(what + " did not happen in " + timeout.toSeconds() + " s; last scrape of port " + port
        + ":\n" + body);
  }

  /** The sum over every series of {@code name} whose labels contain {@code labels} ("" for all); 0 when none. */
  static double sum(String body, String name, String labels) {
    Matcher m = SAMPLE.matcher(body);
    double sum = 0;
    while (m.find()) {
      if (m.group(1).equals(name) && (labels.isEmpty() || (m.group(2) != null && m.group(2).contains(labels)))) {
        sum += Double.parseDouble(m.group(3));
      }
    }
    return sum;
  }

  /** The operator's metric {@code metric} summed over its series (0 when absent). */
  static double operator(String body, String metric) {
    return sum(body, OPERATOR + metric, "");
  }

  /** The names of the series a scrape holds. */
  static Set<String> names(String body) {
    Set<String> out = new TreeSet<>();
    Matcher m = SAMPLE.matcher(body);
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }

  /**
   * Every metric name the dashboard's PromQL uses: the panels' target expressions and the template variables'
   * queries.
   */
  static Set<String> dashboardMetrics() throws IOException {
    JsonNode dashboard = DockerFiles.JSON.readTree(DockerFiles.docker("grafana/dashboards/distilstream.json")
        .toFile());
    Set<String> out = new TreeSet<>();
    for (JsonNode panel : dashboard.path("panels")) {
      for (JsonNode target : panel.path("targets")) {
        collect(target.path("expr").asString(""), out);
      }
    }
    for (JsonNode variable : dashboard.path("templating").path("list")) {
      collect(variable.path("query").isObject() ? variable.path("query").path("query").asString("")
          : variable.path("query").asString(""), out);
    }
    return out;
  }

  private static void collect(String promql, Set<String> out) {
    Matcher m = PROMQL_NAME.matcher(promql);
    while (m.find()) {
      out.add(m.group(1));
    }
  }
}
