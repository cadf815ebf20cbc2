package io.distilstream.runtime.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.langchain4j.model.embedding.onnx.allminilml6v2q.AllMiniLmL6V2QuantizedEmbeddingModel;
import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.model.ModelLoadException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * tokenizer.json read as a stream (the vocabulary straight into its map) gives the tokenizer the JSON tree gave:
 * the same vocabulary, settings and encodings, on real files and on odd ones (duplicate keys, non-int ids).
 */
class TokenizerJsonStreamTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path SOURCE = Path.of("tokenizer.json");
  private static final List<String> TEXTS = List.of("Hello, World! I loved it.", "Crème brûlée à Zürich",
      "日本語のテキスト and 中文", "a [MASK] in the middle", "supercalifragilisticexpialidocious unaffable",
      "  tabs\tand\nnew lines \u0000 control \u200b zero width", "");

  @Test
  void sharedModelsTokenizersAreTheTreesOnes() throws IOException {
    for (String model : List.of(SharedModels.SEQ_CLS, SharedModels.BERT_TOKEN_CLS, SharedModels.MASKED_LM)) {
      byte[] json = Files.readAllBytes(SharedModels.model(model).resolve("tokenizer.json"));
      assertSame(tree(json), stream(json));
      assertSame(tree(json), WordPieceTokenizer.fromDirectory(SharedModels.model(model)));
    }
  }

  @Test
  void aPublishedTokenizerJsonIsTheTreesOne() throws IOException {
    // all-MiniLM-L6-v2's tokenizer.json as langchain4j ships it: every section Hugging Face writes
    byte[] json;
    try (InputStream in = AllMiniLmL6V2QuantizedEmbeddingModel.class.getClassLoader()
        .getResourceAsStream("all-minilm-l6-v2-q-tokenizer.json")) {
      json = in.readAllBytes();
    }
    assertSame(tree(json), stream(json));
  }

  @Test
  void oddVocabulariesReadAsTheTreeReadsThem() throws IOException {
    String specials = "\"[PAD]\": 0, \"[UNK]\": 1, \"[CLS]\": 2, \"[SEP]\": 3, ";
    for (String vocab : List.of(
        specials + "\"a\": 4, \"a\": 5, \"b\": 6", // a duplicate token: the last id wins
        specials + "\"a\": \"4\", \"b\": 5.0, \"c\": true, \"d\": null, \"e\": [7], \"f\": {\"x\": 1}",
        specials + "\"a\": 4294967300, \"b\": 5")) {
      String json = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {" + vocab + "}, \"unk_token\": \"[UNK]\"},"
          + " \"normalizer\": null, \"model\": {\"type\": \"WordPiece\", \"vocab\": {" + vocab + ", \"z\": 9}}}";
      byte[] b = json.getBytes(StandardCharsets.UTF_8);
      assertSame(tree(b), stream(b));
    }
    // a later non-object vocab replaces an earlier object one, in both
    String replaced = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}, \"vocab\": 3}}";
    assertSameFailure(replaced);
    assertSameFailure("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"[UNK]\": 0}}}");
    assertSameFailure("{\"model\": 7}");
    assertSameFailure("[1, 2]");
    assertSameFailure("");
  }

  private static void assertSameFailure(String json) {
    byte[] b = json.getBytes(StandardCharsets.UTF_8);
    String fromTree;
    try {
      tree(b);
      throw new AssertionError("the tree read accepted " + json);
    } catch (ModelLoadException e) {
      fromTree = e.getMessage();
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    assertThatThrownBy(() -> stream(b)).isInstanceOf(ModelLoadException.class).hasMessage(fromTree);
  }

  private static WordPieceTokenizer tree(byte[] json) throws IOException {
    return WordPieceTokenizer.fromTokenizerJson(
        json.length == 0 ? JSON.missingNode() : JSON.readTree(json), SOURCE);
  }

  private static WordPieceTokenizer stream(byte[] json) throws IOException {
    return WordPieceTokenizer.fromTokenizerJson(new ByteArrayInputStream(json));
  }

  private static void assertSame(WordPieceTokenizer expected, WordPieceTokenizer actual) {
    assertThat(actual.vocabSize()).isEqualTo(expected.vocabSize());
    for (int id = 0; id < expected.vocabSize(); id++) {
      String token = expected.idToToken(id);
      assertThat(actual.idToToken(id)).as("token %d", id).isEqualTo(token);
      assertThat(actual.tokenToId(token)).as("id of %s", token).isEqualTo(expected.tokenToId(token));
    }
    assertThat(List.of(actual.clsId(), actual.sepId(), actual.padId(), actual.unkId(), actual.maskId()))
        .isEqualTo(List.of(expected.clsId(), expected.sepId(), expected.padId(), expected.unkId(),
            expected.maskId()));
    for (String text : TEXTS) {
      Encoding e = expected.encode(text, 0);
      Encoding a = actual.encode(text, 0);
      assertThat(a.ids).as(text).isEqualTo(e.ids);
      assertThat(a.starts).as(text).isEqualTo(e.starts);
      assertThat(a.ends).as(text).isEqualTo(e.ends);
      assertThat(a.wordIds).as(text).isEqualTo(e.wordIds);
    }
  }
}
