package io.distilstream.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;

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

/** {@code run} for the rest of the family: fill-mask, multiple-choice, sentence pairs, long-text policies. */
class FamilyCliTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  static List<JsonNode> run(String stdin, String... args) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int rc = RuntimeCli.run(args, new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)),
        new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    assertThat(rc).as(err.toString(StandardCharsets.UTF_8)).isZero();
    List<JsonNode> nodes = new ArrayList<>();
    for (String line : out.toString(StandardCharsets.UTF_8).split("\n", -1)) {
      if (!line.isEmpty()) {
        nodes.add(JSON.readTree(line));
      }
    }
    return nodes;
  }

  @Test
  void multipleChoice(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
    java.nio.file.Path dir = io.distilstream.runtime.FamilyModels.write(tmp.resolve("mc"), SharedModels.SEQ_CLS,
        "DistilBertForMultipleChoice", List.of("LABEL_0"),
        io.distilstream.runtime.graph.GraphBuilder.Head.MULTIPLE_CHOICE, 7, 0.3);
    List<JsonNode> out = run("{\"prompt\":\"The sky is\",\"choices\":[\"blue\",\"green\",\"made of cheese\"]}\n"
        + "not json\n{\"prompt\":\"x\",\"choices\":[\"only\"]}\n",
        "--task", "multiple-choice", "--model", dir.toString());
    assertThat(out).hasSize(3);
    JsonNode r = out.get(0);
    assertThat(r.get("scores")).hasSize(3);
    assertThat(r.get("logits")).hasSize(3);
    int best = r.get("best").asInt();
    assertThat(r.get("choice").asText()).isEqualTo(List.of("blue", "green", "made of cheese").get(best));
    double sum = 0;
    for (JsonNode s : r.get("scores")) {
      sum += s.asDouble();
      assertThat(s.asDouble()).isLessThanOrEqualTo(r.get("scores").get(best).asDouble());
    }
    assertThat(sum).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
    assertThat(out.get(1).get("reason").asText()).isEqualTo("INVALID_INPUT");
    assertThat(out.get(2).get("error").asText()).contains("at least 2 choices");
  }

  @Test
  void longTextPolicies() throws Exception {
    String doc = io.distilstream.runtime.pipeline.LongTextTest.document(400, 3) + "\n";
    String model = SharedModels.model(SharedModels.SEQ_CLS).toString();
    JsonNode truncated = run(doc, "--task", "text-classification", "--model", model, "--max-length", "64",
        "--top-k", "0").get(0);
    JsonNode mean = run(doc, "--task", "text-classification", "--model", model, "--max-length", "64",
        "--top-k", "0", "--long-text", "chunk", "--stride", "8").get(0);
    JsonNode max = run(doc, "--task", "text-classification", "--model", model, "--max-length", "64",
        "--top-k", "0", "--long-text", "chunk", "--stride", "8", "--window-pool", "max").get(0);
    assertThat(mean.get(0).get("score").asDouble()).isNotEqualTo(truncated.get(0).get("score").asDouble());
    // max over windows: the scores no longer sum to 1 but each is at least the mean
    double maxSum = max.get(0).get("score").asDouble() + max.get(1).get("score").asDouble();
    assertThat(maxSum).isGreaterThan(1.0);
    JsonNode rejected = run(doc, "--task", "text-classification", "--model", model, "--max-length", "64",
        "--long-text", "reject").get(0);
    assertThat(rejected.get("reason").asText()).isEqualTo("TEXT_TOO_LONG");
    String ner = SharedModels.model(SharedModels.TOKEN_CLS).toString();
    JsonNode chunked = run(doc, "--task", "token-classification", "--model", ner, "--max-length", "64").get(0);
    JsonNode firstWindow = run(doc, "--task", "token-classification", "--model", ner, "--max-length", "64",
        "--long-text", "truncate").get(0);
    assertThat(chunked.size()).isGreaterThan(firstWindow.size());
    int lastEnd = chunked.get(chunked.size() - 1).get("end").asInt();
    assertThat(lastEnd).isGreaterThan(doc.length() / 2);
  }

  @Test
  void sentencePairs(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
    java.nio.file.Path dir = io.distilstream.runtime.pipeline.SentencePairTest.bertNli(tmp.resolve("nli"));
    List<JsonNode> out = run("{\"text\":\"A man plays a guitar.\",\"text_pair\":\"A person makes music.\"}\n"
        + "{\"text\":\"A man plays a guitar.\"}\n[1,2]\n", "--task", "text-classification", "--model",
        dir.toString(), "--pair", "--top-k", "0");
    List<JsonNode> single = run("A man plays a guitar.\n", "--task", "text-classification", "--model",
        dir.toString(), "--top-k", "0");
    assertThat(out).hasSize(3);
    assertThat(out.get(0)).hasSize(3);
    assertThat(out.get(1)).isEqualTo(single.get(0));
    assertThat(out.get(0)).isNotEqualTo(single.get(0));
    assertThat(out.get(2).get("reason").asText()).isEqualTo("INVALID_INPUT");
  }

  @Test
  void fillMask() throws Exception {
    String model = SharedModels.model(SharedModels.MASKED_LM).toString();
    List<JsonNode> out = run("the capital of france is [MASK].\nno mask at all\n[MASK] then [MASK]\n",
        "--task", "fill-mask", "--model", model, "--top-k", "3");
    assertThat(out).hasSize(3);
    JsonNode first = out.get(0);
    assertThat(first.isArray()).isTrue();
    assertThat(first).hasSize(3);
    List<String> fields = new ArrayList<>();
    first.get(0).fieldNames().forEachRemaining(fields::add);
    assertThat(fields).containsExactly("score", "token", "token_str", "sequence");
    assertThat(first.get(0).get("sequence").asText()).startsWith("the capital of france is");
    assertThat(out.get(1).get("reason").asText()).isEqualTo("INVALID_INPUT");
    assertThat(out.get(1).get("error").asText()).contains("no mask token [MASK]");
    assertThat(out.get(2)).hasSize(2);
    assertThat(out.get(2).get(0)).hasSize(3);
    assertThat(out.get(2).get(1).get(0).get("token").isInt()).isTrue();
  }
}
