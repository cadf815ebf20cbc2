package io.distilstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.runtime.graph.Weights;
import io.distilstream.runtime.model.ModelConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;

/** The models the end-to-end tests run: the shared test models, and seeded ones built from their configs. */
final class E2eModels {
  private static final ObjectMapper JSON = new ObjectMapper();

  private E2eModels() {}

  /** A test model from the shared folder ({@code distilstream.shared}, default {@code ../shared}). */
  static Path model(String name) {
    Path dir = Paths.get(System.getProperty("distilstream.shared", "../shared"), "models", name);
    assertThat(dir).as("test model (see ../shared/README.md)").isDirectory();
    return dir.toAbsolutePath().normalize();
  }

  /** A fixture's config with another architecture and labels, its tokenizer, a graph from seeded weights. */
  static Path seeded(Path dir, String base, String arch, List<String> labels, GraphBuilder.Head head)
      throws Exception {
    return seeded(dir, base, arch, labels, head, 5);
  }

  /** As {@link #seeded(Path, String, String, List, GraphBuilder.Head)}, from another seed: another model. */
  static Path seeded(Path dir, String base, String arch, List<String> labels, GraphBuilder.Head head, long seed)
      throws Exception {
    Files.createDirectories(dir);
    Path src = model(base);
    ObjectNode c = (ObjectNode) JSON.readTree(src.resolve("config.json").toFile());
    c.putArray("architectures").add(arch);
    ObjectNode id2label = c.putObject("id2label");
    for (int i = 0; i < labels.size(); i++) {
      id2label.put(Integer.toString(i), labels.get(i));
    }
    Files.writeString(dir.resolve("config.json"), c.toString());
    for (String f : List.of("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")) {
      if (Files.exists(src.resolve(f))) {
        Files.copy(src.resolve(f), dir.resolve(f));
      }
    }
    Files.write(dir.resolve("model.onnx"), GraphBuilder.build(ModelConfig.parse(c, dir.resolve("config.json")),
        head, Weights.seeded(seed, 0.3)));
    return dir;
  }
}
