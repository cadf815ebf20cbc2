package io.distilstream.runtime.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The parts of a Hugging Face {@code config.json} this runtime needs, for DistilBERT ({@code dim}, {@code n_layers},
 * ...) and BERT ({@code hidden_size}, {@code num_hidden_layers}, ...) alike, normalised to one set of names.
 */
public final class ModelConfig implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final ObjectMapper JSON = new ObjectMapper();

  public static final String MULTI_LABEL = "multi_label_classification";

  private final String modelType;
  private final List<String> architectures;
  private final int hiddenSize;
  private final int numLayers;
  private final int numHeads;
  private final int intermediateSize;
  private final int vocabSize;
  private final int maxPositionEmbeddings;
  private final int typeVocabSize;
  private final String activation;
  private final List<String> id2label;
  private final String problemType;
  private final String version;
  private final double layerNormEps;
  private final double initializerRange;
  private final boolean tieWordEmbeddings;

  private ModelConfig(JsonNode root, Path source) {
    this.modelType = root.path("model_type").asText("");
    List<String> archs = new ArrayList<>();
    root.path("architectures").forEach(a -> archs.add(a.asText()));
    this.architectures = Collections.unmodifiableList(archs);
    boolean distil = "distilbert".equals(modelType) || root.has("dim");
    this.hiddenSize = intField(root, distil ? "dim" : "hidden_size", source);
    this.numLayers = intField(root, distil ? "n_layers" : "num_hidden_layers", source);
    this.numHeads = intField(root, distil ? "n_heads" : "num_attention_heads", source);
    this.intermediateSize = intField(root, distil ? "hidden_dim" : "intermediate_size", source);
    this.vocabSize = intField(root, "vocab_size", source);
    this.maxPositionEmbeddings = root.path("max_position_embeddings").asInt(512);
    this.typeVocabSize = distil ? 0 : root.path("type_vocab_size").asInt(2);
    this.activation = root.path(distil ? "activation" : "hidden_act").asText("gelu");
    this.problemType = root.hasNonNull("problem_type") ? root.get("problem_type").asText() : null;
    this.version = root.hasNonNull("version") ? root.get("version").asText() : null;
    // DistilBERT's LayerNorms use 1e-12 whatever the config says; BERT reads layer_norm_eps
    this.layerNormEps = distil ? 1e-12 : root.path("layer_norm_eps").asDouble(1e-12);
    this.initializerRange = root.path("initializer_range").asDouble(0.02);
    this.tieWordEmbeddings = root.path("tie_word_embeddings").asBoolean(true);
    this.id2label = readLabels(root, source);
  }

  public static ModelConfig read(Path configJson) {
    if (!Files.isRegularFile(configJson)) {
      throw new ModelLoadException(configJson, "a Hugging Face config.json", "no such file");
    }
    try {
      return parse(JSON.readTree(configJson.toFile()), configJson);
    } catch (IOException e) {
      throw new ModelLoadException(configJson, "valid JSON", e.getMessage());
    }
  }

  public static ModelConfig parse(JsonNode root, Path source) {
    if (root == null || !root.isObject()) {
      throw new ModelLoadException(source, "a JSON object", String.valueOf(root));
    }
    return new ModelConfig(root, source);
  }

  private static int intField(JsonNode root, String name, Path source) {
    JsonNode n = root.get(name);
    if (n == null || !n.canConvertToInt()) {
      throw new ModelLoadException(source, "integer field \"" + name + "\"",
          n == null ? "field absent" : n.toString());
    }
    return n.asInt();
  }

  private static List<String> readLabels(JsonNode root, Path source) {
    JsonNode id2label = root.get("id2label");
    if (id2label == null || !id2label.isObject() || id2label.isEmpty()) {
      return List.of();
    }
    Map<Integer, String> sorted = new TreeMap<>();
    id2label.fields().forEachRemaining(e -> {
      try {
        sorted.put(Integer.parseInt(e.getKey()), e.getValue().asText());
      } catch (NumberFormatException ex) {
        throw new ModelLoadException(source, "integer keys in id2label", "\"" + e.getKey() + "\"");
      }
    });
    List<String> labels = new ArrayList<>(sorted.size());
    int expect = 0;
    for (Map.Entry<Integer, String> e : sorted.entrySet()) {
      if (e.getKey() != expect++) {
        throw new ModelLoadException(source, "id2label keys 0.." + (sorted.size() - 1), sorted.keySet().toString());
      }
      labels.add(e.getValue());
    }
    return Collections.unmodifiableList(labels);
  }

  public String modelType() { return modelType; }
  public List<String> architectures() { return architectures; }
  public String architecture() { return architectures.isEmpty() ? "" : architectures.get(0); }
  public int hiddenSize() { return hiddenSize; }
  public int numLayers() { return numLayers; }
  public int numHeads() { return numHeads; }
  public int intermediateSize() { return intermediateSize; }
  public int vocabSize() { return vocabSize; }
  public int maxPositionEmbeddings() { return maxPositionEmbeddings; }
  /** 0 for DistilBERT, which has no token type embeddings. */
  public int typeVocabSize() { return typeVocabSize; }
  public String activation() { return activation; }
  public List<String> id2label() { return id2label; }
  public int numLabels() { return id2label.size(); }
  public String problemType() { return problemType; }
  public boolean isMultiLabel() { return MULTI_LABEL.equals(problemType); }
  /** The {@code version} field where the publisher set one, else null. */
  public String version() { return version; }
  public double layerNormEps() { return layerNormEps; }
  public double initializerRange() { return initializerRange; }
  /** Whether a masked-LM head's decoder is the word embeddings ({@code tie_word_embeddings}, default true). */
  public boolean tieWordEmbeddings() { return tieWordEmbeddings; }
}
