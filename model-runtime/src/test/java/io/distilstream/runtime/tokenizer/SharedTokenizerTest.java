package io.distilstream.runtime.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.SharedModels;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link WordPieceTokenizer#shared}: one tokenizer per content of the files, wherever they lie. */
class SharedTokenizerTest {

  @Test
  void sameFilesInTwoDirectoriesShareOneTokenizerAndAnotherContentDoesNot(@TempDir Path tmp) throws IOException {
    Path a = copy(SharedModels.model(SharedModels.SEQ_CLS), tmp.resolve("a"), "tokenizer.json");
    Path b = copy(SharedModels.model(SharedModels.SEQ_CLS), tmp.resolve("b"), "tokenizer.json");
    WordPieceTokenizer ta = WordPieceTokenizer.shared(a);
    assertThat(WordPieceTokenizer.shared(b)).isSameAs(ta);

    // one byte more (a newline after the JSON) is another file: its own tokenizer, equal in what it does
    Files.writeString(b.resolve("tokenizer.json"), "\n", StandardOpenOption.APPEND);
    WordPieceTokenizer tb = WordPieceTokenizer.shared(b);
    assertThat(tb).isNotSameAs(ta);
    assertThat(tb.encode("Hello there", 0).ids).isEqualTo(ta.encode("Hello there", 0).ids);

    // vocab.txt: its content and tokenizer_config.json's
    Path c = copy(SharedModels.model(SharedModels.BERT_TOKEN_CLS), tmp.resolve("c"), "vocab.txt",
        "tokenizer_config.json");
    Path d = copy(SharedModels.model(SharedModels.BERT_TOKEN_CLS), tmp.resolve("d"), "vocab.txt");
    WordPieceTokenizer tc = WordPieceTokenizer.shared(c);
    WordPieceTokenizer td = WordPieceTokenizer.shared(d);
    assertThat(td).isNotSameAs(tc);
    Files.writeString(d.resolve("tokenizer_config.json"),
        Files.readString(c.resolve("tokenizer_config.json"), StandardCharsets.UTF_8));
    assertThat(WordPieceTokenizer.shared(d)).isSameAs(tc);
    assertThat(WordPieceTokenizer.fromDirectory(d)).isNotSameAs(tc);
  }

  private static Path copy(Path from, Path to, String... files) throws IOException {
    Files.createDirectories(to);
    for (String f : files) {
      Files.copy(from.resolve(f), to.resolve(f));
    }
    return to;
  }
}
