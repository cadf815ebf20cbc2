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
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * docker/k8s/flinkdeployment.yaml against the Flink Kubernetes Operator's CRD (vendored in
 * src/test/resources/docker-schemas): the {@code openAPIV3Schema} of the served version the manifest names, with
 * unknown fields refused as {@code kubectl apply --validate=strict} refuses them (Kubernetes would otherwise
 * silently prune a misspelt field). And the same job as the image: jar, entry class, arguments.
 */
class DockerK8sManifestTest {
  private static JsonNode crd;

  @BeforeAll
  static void loadCrd() throws IOException {
    crd = DockerFiles.yaml(DockerFiles.root().resolve("src/test/resources/docker-schemas/flinkdeployments.flink.apache.org-v1.yml"));
  }

  static JsonNode manifest() throws IOException {
    return DockerFiles.yaml(DockerFiles.docker("k8s/flinkdeployment.yaml"));
  }

  /** Errors of a manifest: apiVersion and kind against the CRD's names, then the version's schema. */
  static List<String> validate(JsonNode doc) {
    List<String> errors = new ArrayList<>();
    String group = crd.at("/spec/group").asString();
    String kind = crd.at("/spec/names/kind").asString();
    if (!kind.equals(doc.path("kind").asString(""))) {
      errors.add("kind must be " + kind + ", is " + doc.path("kind"));
    }
    JsonNode version = null;
    for (JsonNode v : crd.at("/spec/versions")) {
      if ((group + "/" + v.get("name").asString()).equals(doc.path("apiVersion").asString("")) && v.get("served").asBoolean()) {
        version = v;
      }
    }
    if (version == null) {
      errors.add("apiVersion " + doc.path("apiVersion") + " is not a served version of " + group);
      return errors;
    }
    ObjectNode openApi = (ObjectNode) strict(version.at("/schema/openAPIV3Schema").deepCopy());
    // apiVersion and kind were checked above; metadata is the API server's ObjectMeta, not in the CRD's schema
    ObjectNode props = (ObjectNode) openApi.get("properties");
    props.putObject("apiVersion").put("type", "string");
    props.putObject("kind").put("type", "string");
    props.putObject("metadata").put("type", "object").putObject("properties").putObject("name").put("type", "string");
    Schema schema = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_4).getSchema(openApi);
    for (Error e : schema.validate(doc)) {
      errors.add(e.toString());
    }
    return errors;
  }

  /**
   * Structural schemas allow unknown fields unless told otherwise (the API server prunes them); strict field
   * validation reports them. Every object schema with properties, no additionalProperties and no
   * x-kubernetes-preserve-unknown-fields gets additionalProperties: false.
   */
  static JsonNode strict(JsonNode node) {
    if (node instanceof ObjectNode o) {
      if (o.has("properties") && !o.has("additionalProperties")
          && !o.path("x-kubernetes-preserve-unknown-fields").asBoolean(false)) {
        o.put("additionalProperties", false);
      }
      for (Map.Entry<String, JsonNode> e : o.properties()) {
        strict(e.getValue());
      }
    } else if (node != null && node.isArray()) {
      node.forEach(DockerK8sManifestTest::strict);
    }
    return node;
  }

  @Test
  void theManifestFollowsTheOperatorsCrd() throws IOException {
    assertThat(validate(manifest())).isEmpty();
  }

  @Test
  void theCrdCheckRefusesMisspeltFieldsUnknownVersionsAndWrongTypes() throws IOException {
    ObjectNode typo = (ObjectNode) manifest();
    ObjectNode job = (ObjectNode) typo.at("/spec/job");
    job.set("jarUri", job.remove("jarURI"));
    assertThat(validate(typo)).anySatisfy(e -> assertThat(e).contains("jarUri"));

    ObjectNode version = (ObjectNode) manifest();
    ((ObjectNode) version.get("spec")).put("flinkVersion", "v2_99");
    assertThat(validate(version)).anySatisfy(e -> assertThat(e).contains("flinkVersion"));

    ObjectNode parallelism = (ObjectNode) manifest();
    ((ObjectNode) parallelism.at("/spec/job")).put("parallelism", "two");
    assertThat(validate(parallelism)).anySatisfy(e -> assertThat(e).contains("parallelism"));

    ObjectNode api = (ObjectNode) manifest();
    api.put("apiVersion", "flink.apache.org/v1alpha1");
    assertThat(validate(api)).isNotEmpty();
  }

  @Test
  void itRunsTheImagesJobWithTheImagesArguments() throws IOException {
    JsonNode spec = manifest().get("spec");
    List<String> cmd = DockerFiles.dockerfile("Dockerfile").last("CMD").execForm();
    // the operator hands args to main() itself: they are the words after the image's `--`
    assertThat(DockerFiles.strings(spec.at("/job/args"))).isEqualTo(cmd.subList(cmd.indexOf("--") + 1, cmd.size()));
    assertThat(spec.at("/job/entryClass").asString()).isEqualTo(cmd.get(cmd.indexOf("--job-classname") + 1));
    assertThat(spec.at("/job/jarURI").asString()).isEqualTo("local:///opt/flink/usrlib/distilstream-job.jar");

    String flink = System.getProperty("distilstream.flink.version", "2.2.0");
    assertThat(spec.get("flinkVersion").asString()).isEqualTo("v" + flink.replaceAll("^(\\d+)\\.(\\d+).*", "$1_$2"));
    JsonNode compose = DockerFiles.yaml(DockerFiles.docker("compose.yaml"));
    assertThat(spec.get("image").asString())
        .isEqualTo(DockerFiles.interpolateDefaults(compose.at("/services/jobmanager/image").asString()));
    assertThat(spec.at("/flinkConfiguration/taskmanager.numberOfTaskSlots").asString()).isEqualTo("2");
  }

  @Test
  void theModelsAreMountedReadOnlyAtModels() throws IOException {
    JsonNode pod = manifest().at("/spec/podTemplate/spec");
    JsonNode main = null;
    for (JsonNode c : pod.get("containers")) {
      if (c.get("name").asString().equals("flink-main-container")) {
        main = c;
      }
    }
    assertThat(main).as("the operator's main container").isNotNull();
    JsonNode mount = null;
    for (JsonNode m : main.get("volumeMounts")) {
      if (m.get("mountPath").asString().equals("/models")) {
        mount = m;
      }
    }
    assertThat(mount).isNotNull();
    assertThat(mount.get("readOnly").asBoolean()).isTrue();
    String volume = mount.get("name").asString();
    boolean declared = false;
    for (JsonNode v : pod.get("volumes")) {
      declared |= v.get("name").asString().equals(volume);
    }
    assertThat(declared).as("volume " + volume + " is declared").isTrue();
  }

  /**
   * Every pod runs the Prometheus reporter, exposes its port as {@code metrics} and carries the prometheus.io
   * annotations on that port, which docker/k8s/prometheus-scrape.yaml keeps and follows.
   */
  @Test
  void everyPodServesPrometheusMetricsWhereItsAnnotationsSay() throws IOException {
    JsonNode spec = manifest().get("spec");
    assertThat(spec.at("/flinkConfiguration/metrics.reporter.prom.factory.class").asString())
        .isEqualTo("org.apache.flink.metrics.prometheus.PrometheusReporterFactory");
    String port = spec.at("/flinkConfiguration/metrics.reporter.prom.port").asString();
    JsonNode annotations = spec.at("/podTemplate/metadata/annotations");
    assertThat(annotations.get("prometheus.io/scrape").asString()).isEqualTo("true");
    assertThat(annotations.get("prometheus.io/port").asString()).isEqualTo(port);
    assertThat(annotations.get("prometheus.io/path").asString()).isEqualTo("/metrics");
    JsonNode main = spec.at("/podTemplate/spec/containers/0");
    assertThat(main.get("name").asString()).isEqualTo("flink-main-container");
    assertThat(main.at("/ports/0/name").asString()).isEqualTo("metrics");
    assertThat(main.at("/ports/0/containerPort").asInt()).isEqualTo(Integer.parseInt(port));

    JsonNode scrape = DockerFiles.yaml(DockerFiles.docker("k8s/prometheus-scrape.yaml"));
    String relabels = scrape.at("/scrape_configs/0/relabel_configs").toString();
    assertThat(relabels).contains("__meta_kubernetes_pod_annotation_prometheus_io_scrape",
        "__meta_kubernetes_pod_annotation_prometheus_io_port", "__meta_kubernetes_pod_annotation_prometheus_io_path");
  }
}
