package io.distilstream.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.distilstream.operators.ModelPaths;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code distilstream promote} on real model directories: what it refuses, and the atomic repoint it does. */
class PromoteCliTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path SEQ_CLS = Paths.get(System.getProperty("distilstream.shared", "../../shared"), "models",
      "tiny-distilbert-sequence-classification");

  /** A copy of the tiny classifier whose config.json names {@code version}. */
  private static Path model(Path dir, String version) throws Exception {
    Files.createDirectories(dir);
    for (String f : List.of("model.onnx", "tokenizer.json", "tokenizer_config.json", "vocab.txt")) {
      Files.copy(SEQ_CLS.resolve(f), dir.resolve(f));
    }
    String config = Files.readString(SEQ_CLS.resolve("config.json"));
    Files.writeString(dir.resolve("config.json"), config.replaceFirst("\\{", "{\"version\": \"" + version + "\","));
    return dir;
  }

  private record Run(int rc, JsonNode json) {}

  private static Run promote(Path config, String... more) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    List<String> argv = new ArrayList<>(List.of("promote", "--config", config.toString()));
    argv.addAll(List.of(more));
    int rc = Main.run(argv.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    return new Run(rc, JSON.readTree(out.toString(StandardCharsets.UTF_8)));
  }

  private static Path config(Path dir, String primaryPath, String shadowPath, boolean reload) throws Exception {
    Path f = dir.resolve("job.properties");
    Files.writeString(f, String.join("\n",
        "kafka.bootstrap.servers=localhost:9092",
        "inference.models.toxicity.task=text-classification",
        "inference.models.toxicity.path=" + primaryPath,
        "inference.models.toxicity-v2.task=text-classification",
        "inference.models.toxicity-v2.path=" + shadowPath,
        "inference.models.toxicity-v2.shadows=toxicity",
        reload ? "inference.model-reload-interval=1 s" : "") + "\n");
    return f;
  }

  @Test
  void aPointerFileIsRepointedAtomicallyAtTheShadowsDirectory(@TempDir Path tmp) throws Exception {
    Path v1 = model(tmp.resolve("toxicity-1"), "1");
    Path v2 = model(tmp.resolve("toxicity-2"), "2");
    Path pointer = tmp.resolve("toxicity.current");
    Files.writeString(pointer, "toxicity-1\n");
    Path cfg = config(tmp, pointer.toString(), v2.toString(), true);

    Run dry = promote(cfg, "--model", "toxicity-v2", "--dry-run");
    assertThat(dry.rc()).isZero();
    assertThat(dry.json().path("promoted").asBoolean()).isFalse();
    assertThat(dry.json().path("path_kind").asText()).isEqualTo("pointer-file");
    assertThat(dry.json().path("from").path("version").asText()).isEqualTo("1");
    assertThat(dry.json().path("to").path("version").asText()).isEqualTo("2");
    assertThat(ModelPaths.resolve(pointer).toRealPath()).isEqualTo(v1.toRealPath());

    Run real = promote(cfg, "--model", "toxicity-v2");
    assertThat(real.rc()).isZero();
    assertThat(real.json().path("promoted").asBoolean()).isTrue();
    assertThat(real.json().path("primary").asText()).isEqualTo("toxicity");
    assertThat(ModelPaths.resolve(pointer).toRealPath()).isEqualTo(v2.toRealPath());
    // no temporary file is left beside the pointer
    try (var files = Files.list(tmp)) {
      assertThat(files.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith("."));
    }
    // twice is a no-op that says so
    Run again = promote(cfg, "--model", "toxicity-v2");
    assertThat(again.rc()).isZero();
    assertThat(again.json().path("promoted").asBoolean()).isFalse();
    assertThat(again.json().path("note").asText()).contains("already");
  }

  @Test
  void aSymlinkIsReplacedNotWhatItPointsAt(@TempDir Path tmp) throws Exception {
    Path v1 = model(tmp.resolve("toxicity-1"), "1");
    Path v2 = model(tmp.resolve("toxicity-2"), "2");
    Path link = Files.createSymbolicLink(tmp.resolve("toxicity"), v1);
    Run r = promote(config(tmp, link.toString(), v2.toString(), true), "--model", "toxicity-v2");
    assertThat(r.rc()).as(r.json().toString()).isZero();
    assertThat(Files.isSymbolicLink(link)).isTrue();
    assertThat(link.toRealPath()).isEqualTo(v2.toRealPath());
    assertThat(Files.readString(v1.resolve("config.json"))).contains("\"version\": \"1\"");
  }

  @Test
  void refusalsSayWhyAndWhatToDo(@TempDir Path tmp) throws Exception {
    Path v1 = model(tmp.resolve("toxicity-1"), "1");
    Path v2 = model(tmp.resolve("toxicity-2"), "2");
    Path pointer = tmp.resolve("toxicity.current");
    Files.writeString(pointer, v1 + "\n");

    Run directory = promote(config(tmp, v1.toString(), v2.toString(), true), "--model", "toxicity-v2");
    assertThat(directory.rc()).isEqualTo(1);
    assertThat(directory.json().path("error").asText()).contains("is a model directory").contains("ln -s")
        .contains("inference.models.toxicity.path");

    Run noReload = promote(config(tmp, pointer.toString(), v2.toString(), false), "--model", "toxicity-v2");
    assertThat(noReload.rc()).isEqualTo(1);
    assertThat(noReload.json().path("error").asText()).contains("inference.model-reload-interval");

    Path ok = config(tmp, pointer.toString(), v2.toString(), true);
    Run notAShadow = promote(ok, "--model", "toxicity");
    assertThat(notAShadow.json().path("error").asText()).contains("shadows no model");
    Run unknown = promote(ok, "--model", "nope");
    assertThat(unknown.json().path("error").asText()).contains("no model named 'nope'");
    // nothing was changed by a refusal
    assertThat(ModelPaths.resolve(pointer).toRealPath()).isEqualTo(v1.toRealPath());
  }
}
