package io.distilstream.e2e.docker;

import static org.assertj.core.api.Assertions.assertThat;

import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * docker/compose.yaml and docker/compose.gpu.yaml against the Compose Specification's JSON schema (vendored in
 * src/test/resources/docker-schemas), and against what the job and the images expect: the same start command as
 * the image, the topics, the broker address, the model mount, two slots.
 */
class DockerComposeTest {
  private static Schema schema;

  @BeforeAll
  static void loadSchema() throws IOException {
    ObjectNode spec = (ObjectNode) DockerFiles.resourceJson("compose-spec.json");
    // the file's "$id" is the bare name "compose_spec.json", which the validator refuses as a base URI; give it
    // the schema's published address. It names its dialect (draft-07) with an https URL the validator does not
    // know, so the dialect is set here instead. The schema's content is used as it is.
    spec.put("$id", "https://raw.githubusercontent.com/compose-spec/compose-spec/main/schema/compose-spec.json");
    spec.remove("$schema");
    schema = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_7).getSchema(spec);
  }

  static List<String> validate(JsonNode doc) {
    List<String> errors = new ArrayList<>();
    for (Error e : schema.validate(doc)) {
      errors.add(e.toString());
    }
    return errors;
  }

  static JsonNode compose(String name) throws IOException {
    return DockerFiles.yaml(DockerFiles.docker(name));
  }

  @Test
  void composeFilesFollowTheComposeSpecification() throws IOException {
    for (String name : List.of("compose.yaml", "compose.gpu.yaml")) {
      assertThat(validate(compose(name))).as(name).isEmpty();
    }
  }

  /** The validator really checks: a misspelt key, a wrong type and an unknown condition are each refused. */
  @Test
  void theSchemaRefusesWhatComposeWouldRefuse() throws IOException {
    ObjectNode typo = (ObjectNode) compose("compose.yaml");
    ((ObjectNode) typo.get("services").get("taskmanager")).put("comand", "taskmanager");
    assertThat(validate(typo)).anySatisfy(e -> assertThat(e).contains("comand"));

    ObjectNode wrongType = (ObjectNode) compose("compose.yaml");
    ((ObjectNode) wrongType.get("services").get("jobmanager")).put("ports", 8081);
    assertThat(validate(wrongType)).isNotEmpty();

    ObjectNode condition = (ObjectNode) compose("compose.yaml");
    ((ObjectNode) condition.get("services").get("topics").get("depends_on").get("kafka"))
        .put("condition", "service_ready");
    assertThat(validate(condition)).isNotEmpty();
  }

  @Test
  void theJobManagerStartsTheJobWithTheImagesOwnCommand() throws IOException {
    JsonNode services = compose("compose.yaml").get("services");
    List<String> cmd = DockerFiles.dockerfile("Dockerfile").last("CMD").execForm();
    assertThat(DockerFiles.strings(services.get("jobmanager").get("command"))).isEqualTo(cmd);
    assertThat(DockerFiles.strings(services.get("taskmanager").get("command"))).containsExactly("taskmanager");
    for (String s : List.of("jobmanager", "taskmanager")) {
      assertThat(services.get(s).get("build").get("dockerfile").asString()).isEqualTo("docker/Dockerfile");
      assertThat(DockerFiles.root().resolve("docker").resolve(services.get(s).get("build").get("context").asString()).normalize()
          .resolve("docker/Dockerfile")).as("build context + dockerfile").isRegularFile();
      assertThat(DockerFiles.flinkProperties(services.get(s))).containsEntry("jobmanager.rpc.address", "jobmanager");
    }
    assertThat(services.get("jobmanager").get("hostname").asString()).isEqualTo("jobmanager");
    assertThat(DockerFiles.flinkProperties(services.get("taskmanager")))
        .containsEntry("taskmanager.numberOfTaskSlots", "2");
    assertThat(services.get("jobmanager").get("depends_on").get("topics").get("condition").asString())
        .isEqualTo("service_completed_successfully");
    for (String s : List.of("jobmanager", "taskmanager")) {
      assertThat(services.get(s).get("depends_on").get("models").get("condition").asString())
          .as(s + " starts once the models are there").isEqualTo("service_completed_successfully");
    }
  }

  @Test
  void gpuOverrideUsesTheCudaImageItsCommandAndTheNvidiaDevices() throws IOException {
    JsonNode services = compose("compose.gpu.yaml").get("services");
    List<String> gpuCmd = DockerFiles.dockerfile("Dockerfile.gpu").last("CMD").execForm();
    assertThat(DockerFiles.strings(services.get("jobmanager").get("command"))).isEqualTo(gpuCmd);
    assertThat(gpuCmd).containsSubsequence("--set", "inference.device=cuda");
    for (String s : List.of("jobmanager", "taskmanager")) {
      assertThat(services.get(s).get("build").get("dockerfile").asString()).isEqualTo("docker/Dockerfile.gpu");
    }
    JsonNode device = services.get("taskmanager").at("/deploy/resources/reservations/devices/0");
    assertThat(device.get("driver").asString()).isEqualTo("nvidia");
    assertThat(DockerFiles.strings(device.get("capabilities"))).contains("gpu");
    assertThat(services.get("taskmanager").at("/environment/NVIDIA_DRIVER_CAPABILITIES").asString())
        .contains("compute");
  }

  @Test
  void theModelsAreMountedReadOnlyWhereTheJobLooksForThem() throws IOException {
    JsonNode services = compose("compose.yaml").get("services");
    Properties job = DockerFiles.jobProperties();
    List<String> modelDirs = job.stringPropertyNames().stream().filter(k -> k.startsWith("inference.model."))
        .map(job::getProperty).toList();
    assertThat(modelDirs).isNotEmpty();
    for (String s : List.of("jobmanager", "taskmanager")) {
      List<String> volumes = DockerFiles.strings(services.get(s).get("volumes"));
      String models = volumes.stream().map(DockerFiles::interpolateDefaults)
          .filter(v -> v.contains(":/models")).findFirst().orElseThrow();
      assertThat(models).as(s).isEqualTo("./models:/models:ro");
      assertThat(modelDirs).allSatisfy(d -> assertThat(d).startsWith("/models/"));
    }
  }

  @Test
  void kafkaIsOneKraftNodeWhereTheJobLooksForIt() throws IOException {
    JsonNode kafka = compose("compose.yaml").get("services").get("kafka");
    Properties job = DockerFiles.jobProperties();
    assertThat(kafka.get("image").asString())
        .isEqualTo("apache/kafka:" + System.getProperty("distilstream.kafka.version", "4.2.0"));
    JsonNode env = kafka.get("environment");
    assertThat(env.get("KAFKA_PROCESS_ROLES").asString()).isEqualTo("broker,controller");
    assertThat(env.get("KAFKA_CONTROLLER_QUORUM_VOTERS").asString()).isEqualTo("1@kafka:9093");
    assertThat(env.get("CLUSTER_ID").asString()).matches("[A-Za-z0-9_-]{22}");
    assertThat(env.get("KAFKA_ADVERTISED_LISTENERS").asString())
        .contains("PLAINTEXT://" + job.getProperty("kafka.bootstrap.servers"));
    assertThat(Long.parseLong(env.get("KAFKA_TRANSACTION_MAX_TIMEOUT_MS").asString()))
        .as("the broker admits the job's transaction timeout")
        .isGreaterThanOrEqualTo(Long.parseLong(job.getProperty("kafka.transaction.timeout.ms")));
    assertThat(env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE").asString()).isEqualTo("false");
  }

  @Test
  void theTopicServiceCreatesExactlyTheJobsTopicsAndTheClientsUseThem() throws IOException {
    JsonNode services = compose("compose.yaml").get("services");
    Properties job = DockerFiles.jobProperties();
    TreeSet<String> jobTopics = new TreeSet<>();
    job.stringPropertyNames().stream().filter(k -> k.startsWith("topics.")).forEach(k -> jobTopics.add(job.getProperty(k)));

    String script = DockerFiles.interpolateDefaults(String.join("\n", DockerFiles.strings(services.get("topics").get("command"))));
    Matcher loop = Pattern.compile("for topic in ([^;]+);").matcher(script);
    assertThat(loop.find()).as(script).isTrue();
    assertThat(new TreeSet<>(List.of(loop.group(1).trim().split("\\s+")))).isEqualTo(jobTopics);
    assertThat(script).contains("--topic \"$topic\"").contains("--if-not-exists");
    assertThat(services.get("topics").get("restart").asString()).isEqualTo("no");

    String producer = DockerFiles.interpolateDefaults(String.join("\n", DockerFiles.strings(services.get("producer").get("command"))));
    assertThat(producer).contains("--topic " + job.getProperty("topics.input"));
    List<String> consumer = DockerFiles.strings(services.get("consumer").get("command"));
    assertThat(consumer).containsSubsequence("--topic", job.getProperty("topics.classifications"));
    assertThat(consumer).containsSubsequence("--isolation-level", "read_committed");
    for (String client : List.of("producer", "consumer")) {
      assertThat(services.get(client).get("depends_on").get("topics").get("condition").asString())
          .isEqualTo("service_completed_successfully");
    }
  }

  /** What `docker compose config` would print for the producer's script: $$ becomes $, nothing else changes. */
  @Test
  void theProducerEmitsJsonEventsTheJobReads() throws IOException {
    String script = DockerFiles.interpolateDefaults(String.join("\n",
        DockerFiles.strings(compose("compose.yaml").get("services").get("producer").get("command"))));
    Matcher echo = Pattern.compile("echo \"(.*)\"").matcher(script);
    assertThat(echo.find()).isTrue();
    String line = echo.group(1).replace("\\\"", "\"").replace("$i", "7").replace("$text", "Paris is lovely");
    JsonNode event = DockerFiles.JSON.readTree(line);
    assertThat(event.get("id").asString()).isEqualTo("ev-7");
    assertThat(event.get("text").asString()).isEqualTo("Paris is lovely");
    assertThat(DockerFiles.strings(event.get("tasks"))).containsExactly("text-classification", "token-classification");
    assertThat(Map.of("input.format", DockerFiles.jobProperties().getProperty("input.format")))
        .as("JSON input needs auto or json").containsAnyOf(Map.entry("input.format", "auto"),
            Map.entry("input.format", "json"));
  }

  /**
   * {@code --profile metrics}: every Flink service runs the Prometheus reporter on the port Prometheus scrapes (the
   * JobManager by name, the TaskManagers by DNS, so scaled replicas too); Prometheus and Grafana stay out of the
   * default {@code up}; Grafana's provisioning and the dashboard it mounts exist.
   */
  @Test
  void theMetricsProfileScrapesEveryFlinkProcessAndProvisionsTheDashboard() throws IOException {
    JsonNode services = compose("compose.yaml").get("services");
    for (String s : List.of("jobmanager", "taskmanager")) {
      assertThat(DockerFiles.flinkProperties(services.get(s))).as(s)
          .containsEntry("metrics.reporter.prom.factory.class",
              "org.apache.flink.metrics.prometheus.PrometheusReporterFactory")
          .containsEntry("metrics.reporter.prom.port", "9249");
    }
    for (String s : List.of("prometheus", "grafana")) {
      assertThat(DockerFiles.strings(services.get(s).get("profiles"))).as(s + " only with --profile metrics")
          .containsExactly("metrics");
      assertThat(services.get(s).get("image").asString()).as(s + " image pinned").matches("[^:]+:v?\\d+\\.\\d+\\.\\d+");
      for (String v : DockerFiles.strings(services.get(s).get("volumes"))) {
        assertThat(DockerFiles.docker(v.substring(0, v.indexOf(':')))).as("%s mounts %s", s, v).exists();
      }
    }
    for (String s : List.of("kafka", "jobmanager", "taskmanager", "producer", "consumer")) {
      assertThat(services.get(s).has("profiles")).as(s + " is in the default up").isFalse();
    }

    JsonNode prometheus = DockerFiles.yaml(DockerFiles.docker("prometheus/prometheus.yml"));
    List<String> targets = new ArrayList<>();
    for (JsonNode job : prometheus.get("scrape_configs")) {
      job.path("static_configs").forEach(c -> targets.addAll(DockerFiles.strings(c.get("targets"))));
      job.path("dns_sd_configs").forEach(c -> DockerFiles.strings(c.get("names"))
          .forEach(n -> targets.add(n + ":" + c.get("port").asString())));
    }
    assertThat(targets).containsExactlyInAnyOrder("jobmanager:9249", "taskmanager:9249");

    JsonNode datasource = DockerFiles.yaml(DockerFiles.docker("grafana/provisioning/datasources/prometheus.yaml"));
    assertThat(datasource.at("/datasources/0/url").asString()).isEqualTo("http://prometheus:9090");
    JsonNode dashboards = DockerFiles.yaml(DockerFiles.docker("grafana/provisioning/dashboards/distilstream.yaml"));
    String path = dashboards.at("/providers/0/options/path").asString();
    assertThat(DockerFiles.strings(services.get("grafana").get("volumes")))
        .contains("./grafana/dashboards:" + path + ":ro");
    JsonNode dashboard = DockerFiles.JSON.readTree(DockerFiles.docker("grafana/dashboards/distilstream.json")
        .toFile());
    assertThat(dashboard.get("uid").asString()).isEqualTo("distilstream");
    assertThat(dashboard.get("panels")).isNotEmpty();
  }
}
