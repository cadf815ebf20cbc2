package io.distilstream.e2e.docker;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.hub.LocalHub;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * docker/compose.yaml's one-shot {@code models} service: it seeds a model directory for each task of
 * job.properties, with the job image's own java, shaded jar and Flink lib/. Its command runs here as it is
 * written, with the image's paths mapped to this machine, and the model it writes must load and answer.
 */
class DockerModelsServiceTest {
  @Test
  void theModelsServiceBuildsAModelForEveryTaskOfTheJobWithTheImagesClasspath(@TempDir Path models) throws Exception {
    JsonNode service = DockerFiles.yaml(DockerFiles.docker("compose.yaml")).at("/services/models");
    String script = DockerFiles.interpolateDefaults(String.join("\n", DockerFiles.strings(service.get("command"))));

    // it seeds exactly the tasks job.properties has models for, at the paths it names
    Properties job = DockerFiles.jobProperties();
    TreeSet<String> tasks = new TreeSet<>();
    for (String key : job.stringPropertyNames()) {
      if (key.startsWith("inference.model.")) {
        String task = key.substring("inference.model.".length());
        assertThat(job.getProperty(key)).isEqualTo("/models/" + task);
        tasks.add(task);
      }
    }
    Matcher loop = Pattern.compile("for task in ([^;]+);").matcher(script);
    assertThat(loop.find()).as(script).isTrue();
    assertThat(new TreeSet<>(List.of(loop.group(1).trim().split("\\s+")))).isEqualTo(tasks);
    assertThat(DockerFiles.strings(service.get("volumes")).stream().map(DockerFiles::interpolateDefaults))
        .containsExactly("./models:/models", "hf-cache:/hf");

    // its java command, word by word (shell quoting removed), with the image's paths mapped here
    Matcher java = Pattern.compile("(?m)^\\s*(java .*)$").matcher(script);
    assertThat(java.find()).as(script).isTrue();
    String flinkLib = Files.readString(Paths.get(System.getProperty("distilstream.flink.lib.classpath.file",
        "target/flink-lib.classpath"))).trim();
    List<String> command = new ArrayList<>();
    for (String word : shellWords(java.group(1))) {
      command.add(word
          .replace("/opt/flink/usrlib/distilstream-job.jar:/opt/flink/lib/*",
              DockerfileTest.jobJar() + File.pathSeparator + flinkLib)
          .replace("$task", "text-classification")
          .replace("/models/", models + "/"));
    }
    assertThat(command.get(0)).isEqualTo("java");
    command.set(0, Paths.get(System.getProperty("java.home"), "bin", "java").toString());
    Path log = models.resolve("build.log");
    Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    assertThat(p.waitFor(5, TimeUnit.MINUTES)).as("build-model finished").isTrue();
    assertThat(p.exitValue()).as(Files.readString(log, StandardCharsets.UTF_8)).isZero();

    Path dir = models.resolve("text-classification");
    assertThat(dir.resolve("config.json")).isRegularFile();
    assertThat(dir.resolve("model.onnx")).isRegularFile();
    JsonNode config = DockerFiles.JSON.readTree(Files.readString(dir.resolve("config.json")));
    TreeSet<String> labels = new TreeSet<>();
    config.get("id2label").forEach(l -> labels.add(l.asString()));
    try (TextClassificationPipeline classifier = Pipeline.textClassification(dir, PipelineOptions.defaults())) {
      List<List<LabelScore>> out = classifier.run(List.of("The parcel arrived late but intact"));
      assertThat(out).hasSize(1);
      assertThat(labels).contains(out.get(0).get(0).label());
    }
  }

  /**
   * Its second part: every {@code inference.model.*} of job.properties that is not a path (a Hub id) is fetched into
   * the shared Hugging Face cache. The loop runs here with bash, as written, against {@link LocalHub}, the image's
   * paths mapped to this machine; the Flink services share that cache (HF_HOME=/hf on the hf-cache volume).
   */
  @Test
  void theModelsServiceFetchesTheHubIdsOfTheJobIntoTheSharedCache(@TempDir Path tmp) throws Exception {
    JsonNode compose = DockerFiles.yaml(DockerFiles.docker("compose.yaml"));
    for (String s : List.of("models", "jobmanager", "taskmanager")) {
      JsonNode service = compose.at("/services/" + s);
      assertThat(service.at("/environment/HF_HOME").asString()).as(s).isEqualTo("/hf");
      assertThat(DockerFiles.strings(service.get("volumes")).stream().map(DockerFiles::interpolateDefaults))
          .as(s).contains("hf-cache:/hf");
    }
    String script = DockerFiles.interpolateDefaults(String.join("\n",
        DockerFiles.strings(compose.at("/services/models").get("command"))));
    Matcher loop = Pattern.compile("(?m)^\\s*sed -n .*\\n\\s*java .*\\n\\s*done$").matcher(script);
    assertThat(loop.find()).as(script).isTrue();
    String flinkLib = Files.readString(Paths.get(System.getProperty("distilstream.flink.lib.classpath.file",
        "target/flink-lib.classpath"))).trim();
    Path properties = tmp.resolve("job.properties");
    Files.writeString(properties, "inference.model.text-classification=/models/text-classification\n"
        + "inference.model.fill-mask = distilstream-test/tiny-sst2@main\n# inference.model.x=org/commented-out\n");
    String mapped = loop.group().replace("/opt/distilstream/job.properties", properties.toString())
        .replace("/opt/flink/usrlib/distilstream-job.jar:/opt/flink/lib/*",
            DockerfileTest.jobJar() + File.pathSeparator + flinkLib)
        .replace("java -cp", Paths.get(System.getProperty("java.home"), "bin", "java") + " -cp");
    try (LocalHub hub = new LocalHub()) {
      LocalHub.Repo repo = hub.add("distilstream-test/tiny-sst2",
          SharedModels.model(SharedModels.SEQ_CLS), false, java.util.Map.of());
      ProcessBuilder pb = new ProcessBuilder("bash", "-ec", mapped).redirectErrorStream(true)
          .redirectOutput(tmp.resolve("fetch.log").toFile());
      pb.environment().put("HF_HOME", tmp.resolve("hf").toString());
      pb.environment().put("HF_ENDPOINT", hub.endpoint());
      pb.environment().remove("HF_HUB_OFFLINE");
      Process p = pb.start();
      assertThat(p.waitFor(5, TimeUnit.MINUTES)).as("the fetch finished").isTrue();
      assertThat(p.exitValue()).as(Files.readString(tmp.resolve("fetch.log"), StandardCharsets.UTF_8)).isZero();
      Path snapshot = tmp.resolve("hf/hub/models--distilstream-test--tiny-sst2/snapshots").resolve(repo.commit());
      assertThat(snapshot.resolve("config.json")).isRegularFile();
      assertThat(snapshot.resolve("model.onnx")).isRegularFile();
      assertThat(hub.requests).noneMatch(r -> r.contains("commented-out"));
    }
  }

  /** Splits a shell command line into words: double quotes group, backslashes are not used here. */
  static List<String> shellWords(String line) {
    List<String> words = new ArrayList<>();
    StringBuilder w = new StringBuilder();
    boolean quoted = false;
    boolean any = false;
    for (char c : line.trim().toCharArray()) {
      if (c == '"') {
        quoted = !quoted;
        any = true;
      } else if (Character.isWhitespace(c) && !quoted) {
        if (any) {
          words.add(w.toString());
          w.setLength(0);
          any = false;
        }
      } else {
        w.append(c);
        any = true;
      }
    }
    if (any) {
      words.add(w.toString());
    }
    return words;
  }
}
