package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.model.embedding.onnx.allminilml6v2q.AllMiniLmL6V2QuantizedEmbeddingModel;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * feature-extraction on real pretrained weights: all-MiniLM-L6-v2 (int8, as langchain4j ships it on Maven Central)
 * gives the same sentence vectors as that artifact's own {@code embed()} (mean pooling + L2 normalisation).
 */
class MiniLmFeatureExtractionTest {
  @TempDir Path dir;

  @Test
  void sameVectorsAsLangchain4jEmbed() throws Exception {
    copyResource("all-minilm-l6-v2-q.onnx", dir.resolve("model.onnx"));
    copyResource("all-minilm-l6-v2-q-tokenizer.json", dir.resolve("tokenizer.json"));
    // The jar ships no config.json; this is all-MiniLM-L6-v2's published one (the fields the runtime reads).
    Files.writeString(dir.resolve("config.json"), "{\"architectures\":[\"BertModel\"],\"model_type\":\"bert\","
        + "\"hidden_size\":384,\"num_hidden_layers\":6,\"num_attention_heads\":12,\"intermediate_size\":1536,"
        + "\"vocab_size\":30522,\"max_position_embeddings\":512,\"type_vocab_size\":2,\"hidden_act\":\"gelu\"}");

    List<String> sentences = sentences();
    assertThat(sentences).hasSize(50);
    AllMiniLmL6V2QuantizedEmbeddingModel reference = new AllMiniLmL6V2QuantizedEmbeddingModel();
    // Batch size 1: this model is dynamically quantized, and DynamicQuantizeLinear scales activations by the min
    // and max of the whole batch tensor, so an int8 model's vectors depend on what they are batched with (cosine
    // about 0.99 in batches here). fp32 models do not: see GoldenParityTest.
    PipelineOptions options = PipelineOptions.defaults().batching(
        new io.distilstream.runtime.batch.BatchingOptions(1, 4096));
    try (FeatureExtractionPipeline pipeline = Pipeline.featureExtraction(dir, options)) {
      assertThat(pipeline.dimension()).isEqualTo(384);
      List<float[]> ours = pipeline.run(sentences);
      double worst = 1;
      for (int i = 0; i < sentences.size(); i++) {
        float[] expected = reference.embed(sentences.get(i)).content().vector();
        double cos = cosine(ours.get(i), expected);
        worst = Math.min(worst, cos);
        assertThat(cos).as("cosine for \"%s\"", sentences.get(i)).isGreaterThanOrEqualTo(0.9999);
        assertThat(norm(ours.get(i))).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-4));
      }
      System.out.printf("all-MiniLM-L6-v2: 50 sentences, worst cosine %.7f%n", worst);
      // a different sentence really is a different vector: the comparison can fail
      assertThat(cosine(ours.get(0), ours.get(1))).isLessThan(0.99);
    }
  }

  private static List<String> sentences() {
    String[] subjects = {"The cat", "A stock market analyst", "My grandmother", "The Flink job", "Kafka brokers",
        "Le président", "Der Zug nach Berlin", "東京の天気", "A tiny DistilBERT model", "Our moderation team"};
    String[] predicates = {"sleeps on the warm windowsill.", "expects rates to fall next quarter!",
        "bakes bread every Sunday morning.", "restarts from its last checkpoint after a failure.",
        "replicate every partition three times 🙂"};
    List<String> out = new ArrayList<>();
    for (String s : subjects) {
      for (String p : predicates) {
        out.add(s + " " + p);
      }
    }
    return out;
  }

  private void copyResource(String name, Path to) throws IOException {
    try (InputStream in = AllMiniLmL6V2QuantizedEmbeddingModel.class.getClassLoader().getResourceAsStream(name)) {
      assertThat(in).as("resource %s on the test classpath", name).isNotNull();
      Files.copy(in, to, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  private static double cosine(float[] a, float[] b) {
    assertThat(a).hasSameSizeAs(b);
    double dot = 0;
    double na = 0;
    double nb = 0;
    for (int i = 0; i < a.length; i++) {
      dot += (double) a[i] * b[i];
      na += (double) a[i] * a[i];
      nb += (double) b[i] * b[i];
    }
    return dot / Math.sqrt(na * nb);
  }

  private static double norm(float[] a) {
    double s = 0;
    for (float f : a) {
      s += (double) f * f;
    }
    return Math.sqrt(s);
  }
}
