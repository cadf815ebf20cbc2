package io.distilstream.runtime;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.runtime.graph.Weights;
import io.distilstream.runtime.model.ModelConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Model directories for heads that ../shared has no fixture for (multiple choice, BERT sequence classification):
 * a fixture's config.json with another architecture and labels, its real tokenizer files, and a graph built by
 * {@link GraphBuilder} from seeded weights. Two directories built from the same base and seed share every weight
 * they have in common (seeded weights depend only on the seed and the tensor's name).
 */
public final class FamilyModels {
  private static final ObjectMapper JSON = new ObjectMapper();

  private FamilyModels() {}

  /** The config of {@code base} (a ../shared fixture) with {@code architecture} and the given labels. */
  public static ModelConfig config(String base, String architecture, List<String> labels) throws IOException {
    ObjectNode c = configJson(base, architecture, labels);
    return ModelConfig.parse(c, SharedModels.model(base).resolve("config.json"));
  }

  static ObjectNode configJson(String base, String architecture, List<String> labels) throws IOException {
    ObjectNode c = (ObjectNode) JSON.readTree(SharedModels.model(base).resolve("config.json").toFile());
    c.putArray("architectures").add(architecture);
    c.remove("problem_type");
    ObjectNode id2label = c.putObject("id2label");
    ObjectNode label2id = c.putObject("label2id");
    for (int i = 0; i < labels.size(); i++) {
      id2label.put(Integer.toString(i), labels.get(i));
      label2id.put(labels.get(i), i);
    }
    return c;
  }

  /** Writes a model directory into {@code dir}: config, tokenizer files, seeded {@code model.onnx}. */
  public static Path write(Path dir, String base, String architecture, List<String> labels, GraphBuilder.Head head,
      long seed, double std) throws IOException {
    Files.createDirectories(dir);
    ObjectNode c = configJson(base, architecture, labels);
    Files.writeString(dir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(c));
    for (String f : List.of("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")) {
      Path src = SharedModels.model(base).resolve(f);
      if (Files.exists(src)) {
        Files.copy(src, dir.resolve(f));
      }
    }
    ModelConfig config = ModelConfig.parse(c, dir.resolve("config.json"));
    Files.write(dir.resolve("model.onnx"), GraphBuilder.build(config, head, Weights.seeded(seed, std)));
    return dir;
  }
}
