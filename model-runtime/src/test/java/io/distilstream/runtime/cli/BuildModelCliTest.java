package io.distilstream.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** build-model writes a directory the pipelines load; a safetensors-only directory is built on the fly. */
class BuildModelCliTest {
  private static final List<String> TEXTS = List.of("a fine day in Paris", "terrible service", "ok");

  @Test
  void buildsFromSafetensorsTheSameModelAsTheExport(@TempDir Path tmp) throws Exception {
    Path src = SharedModels.model(SharedModels.SEQ_CLS);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int rc = BuildModelCli.run(new String[] {"--config", src.resolve("config.json").toString(),
        "--task", "text-classification", "--out", tmp.resolve("built").toString()},
        new PrintStream(out, true, StandardCharsets.UTF_8));
    assertThat(rc).isZero();
    JsonNode summary = new ObjectMapper().readTree(out.toString(StandardCharsets.UTF_8));
    assertThat(summary.get("head").asText()).isEqualTo("sequence_classification");
    assertThat(tmp.resolve("built/model.onnx")).isRegularFile();
    assertThat(tmp.resolve("built/tokenizer.json")).isRegularFile();

    // and a directory with only config, tokenizer and safetensors builds its graph when loaded
    Path bare = Files.createDirectories(tmp.resolve("bare"));
    for (String f : List.of("config.json", "tokenizer.json", "model.safetensors")) {
      Files.copy(src.resolve(f), bare.resolve(f));
    }
    try (TextClassificationPipeline exported = Pipeline.textClassification(src, PipelineOptions.defaults().topK(0));
        TextClassificationPipeline built = Pipeline.textClassification(tmp.resolve("built"),
            PipelineOptions.defaults().topK(0));
        TextClassificationPipeline onTheFly = Pipeline.textClassification(bare, PipelineOptions.defaults().topK(0))) {
      List<List<LabelScore>> a = exported.run(TEXTS);
      List<List<LabelScore>> b = built.run(TEXTS);
      List<List<LabelScore>> c = onTheFly.run(TEXTS);
      for (int i = 0; i < TEXTS.size(); i++) {
        for (int k = 0; k < 2; k++) {
          assertThat(b.get(i).get(k).label()).isEqualTo(a.get(i).get(k).label());
          assertThat(b.get(i).get(k).score()).isCloseTo(a.get(i).get(k).score(), within(1e-5f));
          assertThat(c.get(i).get(k).score()).isCloseTo(a.get(i).get(k).score(), within(1e-5f));
        }
      }
    }
  }

  @Test
  void presetsBuildSeededModelsWithABundledVocabulary(@TempDir Path tmp) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    BuildModelCli.run(new String[] {"--config", "distilbert-small", "--task", "token-classification", "--seed", "3",
        "--out", tmp.toString()}, new PrintStream(out, true, StandardCharsets.UTF_8));
    assertThat(tmp.resolve("vocab.txt")).isRegularFile();
    try (var p = Pipeline.tokenClassification(tmp, PipelineOptions.defaults())) {
      assertThat(p.config().numLabels()).isEqualTo(9);
      assertThat(p.run("Angela Merkel visited Paris")).allSatisfy(e -> assertThat(e.end()).isLessThanOrEqualTo(27));
    }
    assertThatThrownBy(() -> BuildModelCli.run(new String[] {"--config",
        SharedModels.model(SharedModels.QA).resolve("config.json").toString(), "--task", "text-classification",
        "--out", tmp.resolve("x").toString()}, System.out)).hasMessageContaining("DistilBertForQuestionAnswering");
  }
}
