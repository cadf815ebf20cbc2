package io.distilstream.tools.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;
import org.apache.flink.client.deployment.StandaloneClusterId;
import org.apache.flink.client.program.rest.RestClusterClient;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.core.execution.SavepointFormatType;

/**
 * The JobManager's REST API on 127.0.0.1: the queries a fault run and {@code cluster status} make (overview, a job's
 * state, tasks, restarts, failures, checkpoints, the TaskManagers it runs on) as plain GETs, and the job actions
 * (cancel, stop with a savepoint) through Flink's own {@link RestClusterClient}. A query answers empty, or its
 * "unknown" value, when the JobManager does not answer, so that callers can poll while it starts or recovers.
 */
public final class FlinkRestClient {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** The REST port on 127.0.0.1. */
  private final int port;
  /** One client for every GET; a JobManager that is down fails the connect within 5 s rather than stall a poll. */
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  FlinkRestClient(int port) {
    this.port = port;
  }

  public int port() {
    return port;
  }

  public String url() {
    return "http://127.0.0.1:" + port;
  }

  /** GET on the JobManager's REST API; empty when it does not answer or answers with an error. */
  public Optional<JsonNode> get(String path) {
    try {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url() + path))
          .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
      return r.statusCode() == 200 ? Optional.of(JSON.readTree(r.body())) : Optional.empty();
    } catch (IOException e) {
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    }
  }

  public Optional<JsonNode> overview() {
    return get("/overview");
  }

  /** The job's state ({@code RUNNING}, {@code RESTARTING}, ...), or empty when the JobManager does not know it. */
  public Optional<String> jobState(JobID job) {
    return get("/jobs/" + job).map(j -> j.path("state").asText());
  }

  /** True when the job is RUNNING and every task of every vertex is RUNNING. */
  public boolean allTasksRunning(JobID job) {
    return get("/jobs/" + job).map(j -> {
      if (!"RUNNING".equals(j.path("state").asText())) {
        return false;
      }
      for (JsonNode v : j.path("vertices")) {
        if (!"RUNNING".equals(v.path("status").asText())) {
          return false;
        }
      }
      return true;
    }).orElse(false);
  }

  /** The job's restarts so far (the JobManager's {@code numRestarts} metric), -1 when unknown. */
  public long restarts(JobID job) {
    return get("/jobs/" + job + "/metrics?get=numRestarts").map(a -> {
      for (JsonNode m : a) {
        if ("numRestarts".equals(m.path("id").asText())) {
          return m.path("value").asLong(-1);
        }
      }
      return -1L;
    }).orElse(-1L);
  }

  /** The failures the job restarted from (the root exceptions of its exception history). */
  public List<String> failures(JobID job) {
    List<String> out = new ArrayList<>();
    get("/jobs/" + job + "/exceptions?maxExceptions=100").ifPresent(e -> {
      for (JsonNode x : e.path("exceptionHistory").path("entries")) {
        out.add(x.path("exceptionName").asText() + ": " + firstLine(x.path("stacktrace").asText()));
      }
    });
    return out;
  }

  /** The job's checkpoint statistics ({@code /jobs/:id/checkpoints}). */
  public Optional<JsonNode> checkpoints(JobID job) {
    return get("/jobs/" + job + "/checkpoints");
  }

  public long completedCheckpoints(JobID job) {
    return checkpoints(job).map(c -> c.path("counts").path("completed").asLong()).orElse(0L);
  }

  /** The TaskManager ids that run at least one of the job's subtasks. */
  public List<String> taskManagersOf(JobID job) {
    List<String> out = new ArrayList<>();
    get("/jobs/" + job).ifPresent(j -> {
      for (JsonNode v : j.path("vertices")) {
        get("/jobs/" + job + "/vertices/" + v.path("id").asText() + "/taskmanagers").ifPresent(t -> {
          for (JsonNode tm : t.path("taskmanagers")) {
            String id = tm.path("taskmanager-id").asText();
            if (!out.contains(id)) {
              out.add(id);
            }
          }
        });
      }
    });
    return out;
  }

  /** The parallelism of each of the job's vertices now, by vertex id (empty when the JobManager does not answer). */
  public Map<String, Integer> vertexParallelism(JobID job) {
    Map<String, Integer> out = new LinkedHashMap<>();
    get("/jobs/" + job).ifPresent(j -> {
      for (JsonNode v : j.path("vertices")) {
        out.put(v.path("id").asText(), v.path("parallelism").asInt());
      }
    });
    return out;
  }

  /**
   * Declarative rescaling (FLIP-291, the adaptive scheduler only): sets the upper bound of every vertex that runs at
   * {@code from} to {@code to} ({@code PUT /jobs/:id/resource-requirements}, lower bound 1, so that the job keeps
   * running on fewer slots after losing a TaskManager); vertices at another parallelism keep theirs. The scheduler
   * restarts the job in place from the checkpoint that completes next. Returns the vertices it changed.
   */
  List<String> rescale(JobID job, int from, int to) throws IOException {
    JsonNode current = get("/jobs/" + job + "/resource-requirements")
        .orElseThrow(() -> new IOException("GET /jobs/" + job + "/resource-requirements failed: is the cluster's"
            + " jobmanager.scheduler adaptive?"));
    ObjectNode body = JSON.createObjectNode();
    List<String> changed = new ArrayList<>();
    Map<String, Integer> now = vertexParallelism(job);
    current.fields().forEachRemaining(e -> {
      JsonNode bounds = e.getValue().path("parallelism");
      boolean scaled = now.getOrDefault(e.getKey(), bounds.path("upperBound").asInt()) == from;
      ObjectNode p = body.putObject(e.getKey()).putObject("parallelism");
      p.put("lowerBound", scaled ? 1 : bounds.path("lowerBound").asInt());
      p.put("upperBound", scaled ? to : bounds.path("upperBound").asInt());
      if (scaled) {
        changed.add(e.getKey());
      }
    });
    try {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url() + "/jobs/" + job
              + "/resource-requirements")).timeout(Duration.ofSeconds(30)).header("Content-Type", "application/json")
          .PUT(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build(),
          HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() / 100 != 2) {
        throw new IOException("PUT /jobs/" + job + "/resource-requirements answered " + r.statusCode() + ": "
            + r.body());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
    return changed;
  }

  // ---- job actions, through Flink's client ---------------------------------------------------------------------

  /** Stops the job with a savepoint (no drain) in {@code targetDirectory} (a URI) and returns the savepoint's path. */
  String stopWithSavepoint(JobID job, String targetDirectory) throws Exception {
    try (RestClusterClient<StandaloneClusterId> client = client()) {
      return client.stopWithSavepoint(job, false, targetDirectory, SavepointFormatType.CANONICAL)
          .get(5, TimeUnit.MINUTES);
    }
  }

  /** Asks the JobManager to cancel the job; the job is cancelled some time after this returns. */
  void cancel(JobID job) throws Exception {
    try (RestClusterClient<StandaloneClusterId> client = client()) {
      client.cancel(job).get(2, TimeUnit.MINUTES);
    }
  }

  /** A client per action, closed after it: Flink's client keeps threads and connections that nothing else needs. */
  private RestClusterClient<StandaloneClusterId> client() throws Exception {
    Configuration conf = new Configuration();
    conf.set(RestOptions.ADDRESS, "127.0.0.1");
    conf.set(RestOptions.PORT, port);
    return new RestClusterClient<>(conf, StandaloneClusterId.getInstance());
  }

  private static String firstLine(String s) {
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
