package io.distilstream.runtime.graph;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;

/**
 * Model shapes by name, for seeded models (demo, benchmarks): {@code distilbert-base} is DistilBERT-base
 * (dim 768, 6 layers, 12 heads, FFN 3072); {@code distilbert-small} (dim 256, 4 layers, 4 heads, FFN 1024) runs the
 * demo quickly; {@code bert-base} is BERT-base (hidden 768, 12 layers, 12 heads, FFN 3072) and {@code bert-small} has
 * distilbert-small's sizes in BERT's layout (token type embeddings, pooler, BERT head names). Seeded weights are
 * random: labels are placeholders, outputs mean nothing.
 */
public final class Presets {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<String> CONLL =
      List.of("O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC");

  private Presets() {}

  public static boolean isPreset(String name) {
    return name.equals("distilbert-base") || name.equals("distilbert-small") || name.equals("bert-base")
        || name.equals("bert-small");
  }

  /** The {@code config.json} of a preset for a pipeline task. */
  public static ObjectNode config(String preset, String task) {
    ObjectNode c = JSON.createObjectNode();
    if (!isPreset(preset)) {
      throw new IllegalArgumentException("unknown preset '" + preset + "': expected distilbert-base,"
          + " distilbert-small, bert-base or bert-small");
    }
    boolean base = preset.endsWith("-base");
    boolean bert = preset.startsWith("bert-");
    String family = bert ? "Bert" : "DistilBert";
    String arch;
    List<String> labels = List.of();
    switch (task.toLowerCase(Locale.ROOT)) {
      case "text-classification": arch = family + "ForSequenceClassification"; labels = List.of("NEGATIVE", "POSITIVE"); break;
      case "token-classification": arch = family + "ForTokenClassification"; labels = CONLL; break;
      case "question-answering": arch = family + "ForQuestionAnswering"; break;
      case "fill-mask": arch = family + "ForMaskedLM"; break;
      case "multiple-choice": arch = family + "ForMultipleChoice"; break;
      case "feature-extraction": arch = family + "Model"; break;
      default: throw new IllegalArgumentException("unknown task '" + task + "'");
    }
    c.putArray("architectures").add(arch);
    if (bert) {
      c.put("model_type", "bert");
      c.put("hidden_act", "gelu");
      c.put("hidden_size", base ? 768 : 256);
      c.put("num_hidden_layers", base ? 12 : 4);
      c.put("num_attention_heads", base ? 12 : 4);
      c.put("intermediate_size", base ? 3072 : 1024);
      c.put("type_vocab_size", 2);
      c.put("layer_norm_eps", 1e-12);
    } else {
      c.put("model_type", "distilbert");
      c.put("activation", "gelu");
      c.put("dim", base ? 768 : 256);
      c.put("n_layers", base ? 6 : 4);
      c.put("n_heads", base ? 12 : 4);
      c.put("hidden_dim", base ? 3072 : 1024);
    }
    c.put("vocab_size", 30522);
    c.put("max_position_embeddings", 512);
    c.put("initializer_range", 0.02);
    c.put("pad_token_id", 0);
    if (!labels.isEmpty()) {
      ObjectNode id2label = c.putObject("id2label");
      ObjectNode label2id = c.putObject("label2id");
      for (int i = 0; i < labels.size(); i++) {
        id2label.put(Integer.toString(i), labels.get(i));
        label2id.put(labels.get(i), i);
      }
    }
    return c;
  }

  /** Writes distilbert-base-uncased's (= bert-base-uncased's) {@code vocab.txt} and {@code tokenizer_config.json} into {@code dir}. */
  public static void writeUncasedTokenizer(Path dir) {
    try (InputStream in = Presets.class.getResourceAsStream("uncased-vocab.txt")) {
      Files.copy(in, dir.resolve("vocab.txt"), StandardCopyOption.REPLACE_EXISTING);
      Files.writeString(dir.resolve("tokenizer_config.json"), "{\"do_lower_case\": true, \"model_max_length\": 512}");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
