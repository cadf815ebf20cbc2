package io.distilstream.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.langchain4j.model.embedding.onnx.allminilml6v2q.AllMiniLmL6V2QuantizedEmbeddingModel;
import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.FeatureExtractionPipeline;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code build-model --quantize int8} and {@code --dtype fp16} write directories the pipelines load as they are;
 * ORT/Optimum-quantized files ({@code model_quantized.onnx}) load too.
 */
class BuildModelPrecisionTest {
  private static final List<String> TEXTS = List.of("a fine day in Paris", "terrible service", "ok",
      "The quick brown fox jumps over the lazy dog near the river bank.");

  @Test
  void int8AndFp16DirectoriesClassifyLikeFloat32(@TempDir Path tmp) throws Exception {
    Path src = SharedModels.model(SharedModels.SEQ_CLS);
    Path texts = tmp.resolve("texts.txt");
    Files.write(texts, TEXTS);
    JsonNode int8 = build(src, tmp.resolve("int8"), "--quantize", "int8", "--report", texts.toString());
    assertThat(int8.get("precision").asText()).isEqualTo("int8");
    JsonNode report = int8.get("report");
    assertThat(report.get("texts").asInt()).isEqualTo(TEXTS.size());
    assertThat(report.get("compared").asInt()).isEqualTo(TEXTS.size());
    assertThat(report.get("max_abs_diff").asDouble()).isGreaterThan(0).isLessThan(0.05);
    JsonNode fp16 = build(src, tmp.resolve("fp16"), "--dtype", "fp16", "--report", texts.toString());
    assertThat(fp16.get("precision").asText()).isEqualTo("fp16");
    assertThat(fp16.get("report").get("max_abs_diff").asDouble()).isLessThanOrEqualTo(1e-2);
    assertThat(Files.size(tmp.resolve("fp16/model.onnx"))).isLessThan(Files.size(src.resolve("model.onnx")) * 6 / 10);

    try (TextClassificationPipeline ref = Pipeline.textClassification(src, PipelineOptions.defaults().topK(0));
         TextClassificationPipeline q = Pipeline.textClassification(tmp.resolve("int8"),
             PipelineOptions.defaults().topK(0));
         TextClassificationPipeline h = Pipeline.textClassification(tmp.resolve("fp16"),
             PipelineOptions.defaults().topK(0))) {
      List<List<LabelScore>> a = ref.run(TEXTS);
      List<List<LabelScore>> b = q.run(TEXTS);
      List<List<LabelScore>> c = h.run(TEXTS);
      for (int i = 0; i < TEXTS.size(); i++) {
        for (int k = 0; k < 2; k++) {
          String label = a.get(i).get(k).label();
          float expected = a.get(i).get(k).score();
          assertThat(score(b.get(i), label)).isCloseTo(expected, within(0.01f));
          assertThat(score(c.get(i), label)).isCloseTo(expected, within(0.005f));
        }
      }
    }
  }

  @Test
  void conflictingOrUnknownPrecisionsAreUsageErrors(@TempDir Path tmp) {
    Path cfg = SharedModels.model(SharedModels.SEQ_CLS).resolve("config.json");
    assertThatThrownBy(() -> build(cfg.getParent(), tmp, "--quantize", "int8", "--dtype", "fp16"))
        .isInstanceOf(Args.UsageException.class).hasMessageContaining("do not combine");
    assertThatThrownBy(() -> build(cfg.getParent(), tmp, "--quantize", "int4"))
        .isInstanceOf(Args.UsageException.class).hasMessageContaining("int4");
    assertThatThrownBy(() -> build(cfg.getParent(), tmp, "--report", cfg.toString()))
        .isInstanceOf(Args.UsageException.class).hasMessageContaining("--report");
  }

  /** ORT's quantize_dynamic output (all-MiniLM-L6-v2, int8 as langchain4j ships it) named model_quantized.onnx. */
  @Test
  void anOrtQuantizedModelQuantizedOnnxLoadsAsItIs(@TempDir Path dir) throws Exception {
    copyResource("all-minilm-l6-v2-q.onnx", dir.resolve(ModelDirectory.MODEL_QUANTIZED_ONNX));
    copyResource("all-minilm-l6-v2-q-tokenizer.json", dir.resolve("tokenizer.json"));
    Files.writeString(dir.resolve("config.json"), "{\"architectures\":[\"BertModel\"],\"model_type\":\"bert\","
        + "\"hidden_size\":384,\"num_hidden_layers\":6,\"num_attention_heads\":12,\"intermediate_size\":1536,"
        + "\"vocab_size\":30522,\"max_position_embeddings\":512,\"type_vocab_size\":2,\"hidden_act\":\"gelu\"}");
    assertThat(ModelDirectory.of(dir).onnxFile().getFileName().toString()).isEqualTo("model_quantized.onnx");
    assertThat(ModelDirectory.of(dir, Path.of("model_quantized.onnx")).onnxFile())
        .isEqualTo(dir.toAbsolutePath().normalize().resolve("model_quantized.onnx"));
    AllMiniLmL6V2QuantizedEmbeddingModel reference = new AllMiniLmL6V2QuantizedEmbeddingModel();
    PipelineOptions one = PipelineOptions.defaults().batching(new io.distilstream.runtime.batch.BatchingOptions(1,
        4096));
    try (FeatureExtractionPipeline p = Pipeline.featureExtraction(dir, one)) {
      float[] ours = p.run(TEXTS.get(0));
      float[] theirs = reference.embed(TEXTS.get(0)).content().vector();
      double dot = 0;
      for (int i = 0; i < ours.length; i++) {
        dot += ours[i] * theirs[i];
      }
      assertThat(dot).isGreaterThan(0.9999);
    }
  }

  private static float score(List<LabelScore> scores, String label) {
    return scores.stream().filter(s -> s.label().equals(label)).findFirst().orElseThrow().score();
  }

  /**
   * {@code --int8-activation per-tensor} writes Optimum's batch-dependent form; a session opens it one sequence per
   * call unless told otherwise, rewrites it to per-row with {@code int8-rewrite}, and batches it as it is only with
   * {@code allow-batch-dependent-results}. The default per-row graph batches as it is.
   */
  @Test
  void int8ActivationFormsAndTheSessionsPolicyForThem(@TempDir Path tmp) throws Exception {
    Path src = SharedModels.model(SharedModels.SEQ_CLS);
    build(src, tmp.resolve("row"), "--quantize", "int8");
    build(src, tmp.resolve("tensor"), "--quantize", "int8", "--int8-activation", "per-tensor");
    assertThatThrownBy(() -> build(src, tmp.resolve("x"), "--quantize", "int8", "--int8-activation", "per-column"))
        .hasMessageContaining("per-row or per-tensor");
    io.distilstream.runtime.model.SessionOptions plain = io.distilstream.runtime.model.SessionOptions.defaults();
    try (var row = io.distilstream.runtime.model.ModelSession.open(tmp.resolve("row/model.onnx"), plain);
         var alone = io.distilstream.runtime.model.ModelSession.open(tmp.resolve("tensor/model.onnx"), plain);
         var rewritten = io.distilstream.runtime.model.ModelSession.open(tmp.resolve("tensor/model.onnx"),
             plain.copy().int8Rewrite(true));
         var asIs = io.distilstream.runtime.model.ModelSession.open(tmp.resolve("tensor/model.onnx"),
             plain.copy().allowBatchDependentResults(true))) {
      assertThat(alone.loadPath()).contains("each sequence runs alone");
      assertThat(rewritten.loadPath()).contains("rewritten");
      assertThat(asIs.loadPath()).contains("batched anyway");
      assertThat(row.loadPath()).doesNotContain("alone").doesNotContain("anyway");
    }
  }

  private static JsonNode build(Path src, Path out, String... extra) throws Exception {
    String[] base = {"--config", src.resolve("config.json").toString(), "--task", "text-classification", "--out",
        out.toString()};
    String[] argv = new String[base.length + extra.length];
    System.arraycopy(base, 0, argv, 0, base.length);
    System.arraycopy(extra, 0, argv, base.length, extra.length);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    assertThat(BuildModelCli.run(argv, new PrintStream(bytes, true, StandardCharsets.UTF_8))).isZero();
    String line = bytes.toString(StandardCharsets.UTF_8);
    System.out.print(line);
    return new ObjectMapper().readTree(line);
  }

  private static void copyResource(String name, Path to) throws Exception {
    try (InputStream in = AllMiniLmL6V2QuantizedEmbeddingModel.class.getClassLoader().getResourceAsStream(name)) {
      assertThat(in).as("resource %s on the test classpath", name).isNotNull();
      Files.copy(in, to);
    }
  }
}
