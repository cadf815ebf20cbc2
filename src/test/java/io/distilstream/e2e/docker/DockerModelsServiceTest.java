package io.distilstream.e2e.docker;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.heads.LabelScore;
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
        .containsExactly("./models:/models");

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
