package io.distilstream.runtime.graph;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.model.GoldenParityTest;
import io.distilstream.runtime.model.ModelConfig;
import io.distilstream.runtime.model.ModelLoadException;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.model.SessionOptions;
import io.distilstream.runtime.tokenizer.Encoding;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Graphs built in Java from config.json + model.safetensors reproduce the PyTorch golden logits. */
class GraphBuilderTest {
  @ParameterizedTest
  @CsvSource({
      SharedModels.SEQ_CLS + ",text-classification",
      SharedModels.MULTI_LABEL + ",text-classification",
      SharedModels.TOKEN_CLS + ",token-classification",
      SharedModels.QA + ",question-answering",
      SharedModels.MASKED_LM + ",fill-mask",
      SharedModels.BERT_TOKEN_CLS + ",token-classification"})
  void builtGraphReproducesGolden(String model, String task) throws Exception {
    Path dir = SharedModels.model(model);
    ModelConfig config = ModelConfig.read(dir.resolve("config.json"));
    byte[] onnx = GraphBuilder.build(config, GraphBuilder.Head.forTask(task, config),
        Weights.of(SafeTensors.open(dir.resolve("model.safetensors"))));
    try (ModelSession session = ModelSession.open(onnx, dir.resolve("model.safetensors"), SessionOptions.defaults())) {
      GoldenParityTest.assertReproducesGolden(dir, session);
    }
  }

  @Test
  void aTaskThatContradictsTheArchitectureIsAnError() {
    ModelConfig config = ModelConfig.read(SharedModels.model(SharedModels.QA).resolve("config.json"));
    assertThatThrownBy(() -> GraphBuilder.Head.forTask("text-classification", config))
        .hasMessageContaining("DistilBertForQuestionAnswering");
    assertThat(GraphBuilder.Head.forTask("feature-extraction", config)).isEqualTo(GraphBuilder.Head.BASE);
  }

  @Test
  void brokenCheckpointsGiveOneClearLine(@TempDir Path tmp) throws Exception {
    Path src = SharedModels.model(SharedModels.SEQ_CLS).resolve("model.safetensors");
    byte[] bytes = Files.readAllBytes(src);
    Path truncated = tmp.resolve("truncated.safetensors");
    Files.write(truncated, java.util.Arrays.copyOf(bytes, bytes.length / 2));
    assertThatThrownBy(() -> SafeTensors.open(truncated)).isInstanceOf(ModelLoadException.class)
        .hasMessageContaining("truncated");
    Path garbage = tmp.resolve("garbage.safetensors");
    Files.write(garbage, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
    assertThatThrownBy(() -> SafeTensors.open(garbage)).isInstanceOf(ModelLoadException.class)
        .hasMessageContaining("header length");
    SafeTensors ok = SafeTensors.open(src);
    assertThatThrownBy(() -> ok.floats("classifier.weight", 3, 32)).hasMessageContaining("classifier.weight")
        .hasMessageContaining("[3, 32]").hasMessageContaining("[2, 32]");
    assertThatThrownBy(() -> ok.info("no.such.tensor")).hasMessageContaining("no.such.tensor");
    // a config that is missing a field
    Path cfg = tmp.resolve("config.json");
    Files.writeString(cfg, "{\"model_type\":\"distilbert\",\"dim\":32,\"n_layers\":2,\"hidden_dim\":64,"
        + "\"vocab_size\":30522}");
    assertThatThrownBy(() -> ModelConfig.read(cfg)).hasMessageContaining("n_heads");
    // a weight of the wrong shape for the config
    Path wrong = tmp.resolve("wrong.json");
    Files.writeString(wrong, Files.readString(SharedModels.model(SharedModels.SEQ_CLS).resolve("config.json"))
        .replace("\"hidden_dim\": 64", "\"hidden_dim\": 65"));
    ModelConfig wrongConfig = ModelConfig.read(wrong);
    assertThatThrownBy(() -> GraphBuilder.build(wrongConfig, GraphBuilder.Head.SEQUENCE_CLASSIFICATION,
        Weights.of(ok))).isInstanceOf(ModelLoadException.class).hasMessageContaining("ffn.lin1.weight")
        .hasMessageContaining("[65, 32]");
  }

  @Test
  void aSeededFullSizeDistilbertBuildsInSecondsAndRuns() throws Exception {
    ModelConfig base = ModelConfig.parse(new com.fasterxml.jackson.databind.ObjectMapper().readTree(
        "{\"architectures\":[\"DistilBertForSequenceClassification\"],\"model_type\":\"distilbert\",\"dim\":768,"
            + "\"n_layers\":6,\"n_heads\":12,\"hidden_dim\":3072,\"vocab_size\":30522,"
            + "\"max_position_embeddings\":512,\"activation\":\"gelu\",\"id2label\":{\"0\":\"NEGATIVE\",\"1\":\"POSITIVE\"}}"),
        Path.of("config.json"));
    long t0 = System.nanoTime();
    byte[] onnx = GraphBuilder.build(base, GraphBuilder.Head.SEQUENCE_CLASSIFICATION, Weights.seeded(42, 0.02));
    double buildSeconds = (System.nanoTime() - t0) / 1e9;
    try (ModelSession session = ModelSession.open(onnx, Path.of("seeded-distilbert-base"), SessionOptions.defaults())) {
      int[] ids = {101, 2023, 2003, 1037, 3231, 102};
      float[] logits = session.run(List.of(Encoding.ofIds(ids, null)))[0][0];
      assertThat(logits).hasSize(2);
      assertThat(Float.isFinite(logits[0]) && Float.isFinite(logits[1])).isTrue();
      // the same seed builds the same model
      byte[] again = GraphBuilder.build(base, GraphBuilder.Head.SEQUENCE_CLASSIFICATION, Weights.seeded(42, 0.02));
      assertThat(again).isEqualTo(onnx);
    }
    System.out.printf("seeded DistilBERT-base: %.1f MB ONNX, built in %.1f s%n", onnx.length / 1e6, buildSeconds);
    assertThat(onnx.length).isGreaterThan(250_000_000);
  }
}
