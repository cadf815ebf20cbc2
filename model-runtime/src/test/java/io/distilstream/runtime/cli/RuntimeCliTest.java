package io.distilstream.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.distilstream.runtime.SharedModels;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The {@code run} and {@code tokenize} commands' line-in, JSON-line-out contract. */
class RuntimeCliTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static List<JsonNode> run(String stdin, String... args) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int rc = RuntimeCli.run(args, new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)),
        new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    assertThat(rc).as(err.toString(StandardCharsets.UTF_8)).isZero();
    return lines(out);
  }

  private static List<JsonNode> lines(ByteArrayOutputStream out) throws Exception {
    List<JsonNode> nodes = new ArrayList<>();
    for (String line : out.toString(StandardCharsets.UTF_8).split("\n", -1)) {
      if (!line.isEmpty()) {
        nodes.add(JSON.readTree(line));
      }
    }
    return nodes;
  }

  @Test
  void thousandLinesInThousandResultsOutInOrder() throws Exception {
    StringBuilder in = new StringBuilder();
    for (int i = 0; i < 1000; i++) {
      in.append("comment number ").append(i).append(" is ").append("very ".repeat(i % 37)).append("nice\n");
    }
    String model = SharedModels.model(SharedModels.SEQ_CLS).toString();
    List<JsonNode> out = run(in.toString(), "--task", "text-classification", "--model", model, "--batch-size", "16");
    assertThat(out).hasSize(1000);
    for (JsonNode n : out) {
      assertThat(n.isArray()).isTrue();
      assertThat(n.get(0).get("label").asText()).isIn("NEGATIVE", "POSITIVE");
    }
    // order: a line's result is the same as when it runs alone
    List<JsonNode> alone = run("comment number 500 is " + "very ".repeat(500 % 37) + "nice\n",
        "--task", "text-classification", "--model", model, "--top-k", "0");
    assertThat(alone.get(0).get(0).get("label").asText()).isEqualTo(out.get(500).get(0).get("label").asText());
    assertThat(alone.get(0).get(0).get("score").asDouble())
        .isCloseTo(out.get(500).get(0).get("score").asDouble(), org.assertj.core.data.Offset.offset(1e-5));
  }

  @Test
  void questionAnsweringReadsJsonAndReportsBadLinesInPlace() throws Exception {
    String in = "{\"question\":\"Where is the Eiffel tower?\",\"context\":\"The Eiffel tower is in Paris.\"}\n"
        + "this is not json\n"
        + "{\"question\":\"Who?\"}\n"
        + "{\"question\":\"Who wrote it?\",\"context\":\"It was written by Jane Austen in 1813.\"}\n";
    List<JsonNode> out = run(in, "--task", "question-answering",
        "--model", SharedModels.model(SharedModels.QA).toString());
    assertThat(out).hasSize(4);
    assertThat(out.get(0).has("answer")).isTrue();
    String ctx = "The Eiffel tower is in Paris.";
    assertThat(out.get(0).get("answer").asText())
        .isEqualTo(ctx.substring(out.get(0).get("start").asInt(), out.get(0).get("end").asInt()));
    assertThat(out.get(1).get("error").asText()).contains("JSON");
    assertThat(out.get(1).get("reason").asText()).isEqualTo("INVALID_INPUT");
    assertThat(out.get(2).get("error").asText()).contains("context");
    assertThat(out.get(3).has("answer")).isTrue();
  }

  @Test
  void tokenClassificationAndFeatureExtractionShapes() throws Exception {
    List<JsonNode> ner = run("John lives in New York\n\nMarie Curie\n", "--task", "ner",
        "--model", SharedModels.model(SharedModels.TOKEN_CLS).toString(), "--aggregation", "none");
    assertThat(ner).hasSize(3);
    for (JsonNode n : ner) {
      assertThat(n.isArray()).isTrue();
      n.forEach(e -> assertThat(e.has("entity") && e.has("index") && e.has("start") && e.has("end")).isTrue());
    }
    assertThat(ner.get(1)).isEmpty();
  }

  @Test
  void tokenizeWritesIdsAndUtf16Offsets() throws Exception {
    String model = SharedModels.model(SharedModels.SEQ_CLS).toString();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    String text = "Hi 🙂 there";
    RuntimeCli.tokenize(new String[] {"--model", model},
        new ByteArrayInputStream((text + "\n").getBytes(StandardCharsets.UTF_8)),
        new PrintStream(out, true, StandardCharsets.UTF_8), System.err);
    JsonNode n = lines(out).get(0);
    assertThat(n.get("ids").get(0).asInt()).isEqualTo(101);
    assertThat(n.get("ids").get(n.get("ids").size() - 1).asInt()).isEqualTo(102);
    JsonNode last = n.get("offsets").get(n.get("offsets").size() - 2);
    assertThat(text.substring(last.get(0).asInt(), last.get(1).asInt())).isEqualTo("there");

    out.reset();
    RuntimeCli.tokenize(new String[] {"--model", model, "--pair"},
        new ByteArrayInputStream("{\"text\":\"a question\",\"text_pair\":\"the context\"}\nnot json\n"
            .getBytes(StandardCharsets.UTF_8)),
        new PrintStream(out, true, StandardCharsets.UTF_8), System.err);
    List<JsonNode> pair = lines(out);
    assertThat(pair).hasSize(2);
    assertThat(pair.get(0).get("type_ids").toString()).isEqualTo("[0,0,0,0,1,1,1]");
    assertThat(pair.get(1).has("error")).isTrue();
  }

  @Test
  void unknownFlagsAndMissingModelsAreClearErrors() {
    assertThatThrownBy(() -> run("x\n", "--task", "text-classification", "--model", "/nope", "--topk", "3"))
        .isInstanceOf(Args.UsageException.class).hasMessageContaining("--topk");
    assertThatThrownBy(() -> run("x\n", "--task", "text-classification", "--model", "/nope"))
        .hasMessageContaining("/nope");
    assertThatThrownBy(() -> run("x\n", "--task", "summarization", "--model", "/nope"))
        .hasMessageContaining("summarization").hasMessageContaining("text-classification");
  }
}
