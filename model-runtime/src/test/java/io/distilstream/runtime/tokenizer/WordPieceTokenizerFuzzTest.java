package io.distilstream.runtime.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.distilstream.runtime.FuzzInputs;
import io.distilstream.runtime.SharedModels;
import java.util.List;

/**
 * Fuzz target: {@link WordPieceTokenizer#encode} and {@link WordPieceTokenizer#encodePair} on any string (lone
 * surrogates, control characters, [MASK]-like brackets, any length) with the real uncased DistilBERT and BERT-NER
 * tokenizers. Invariants: nothing is thrown, ids are in the vocabulary, the template is {@code [CLS] .. [SEP]},
 * offsets of each sequence are monotone and inside its string, truncation keeps the length within the maximum,
 * and the allocation is bounded by the input's size.
 *
 * <p>Input: byte 0 picks the tokenizer (bit 0), a pair (bit 1) and raw UTF-16 strings (bit 2); bytes 1-2 the
 * maximum length (0 = none, else 2..1025); the rest is the text, and after a 0x1F byte its pair.
 */
class WordPieceTokenizerFuzzTest {
  private static final List<WordPieceTokenizer> TOKENIZERS = List.of(
      WordPieceTokenizer.fromDirectory(SharedModels.model(SharedModels.SEQ_CLS)),
      WordPieceTokenizer.fromDirectory(SharedModels.model(SharedModels.BERT_TOKEN_CLS)));

  @FuzzTest(maxDuration = "5s")
  void encode(byte[] data) {
    if (data.length < 3) {
      return;
    }
    WordPieceTokenizer tok = TOKENIZERS.get(data[0] & 1);
    boolean pair = (data[0] & 2) != 0;
    int m = ((data[1] & 0xFF) | (data[2] & 0xFF) << 8) % 1025;
    int maxLength = m == 0 ? 0 : m + 1;
    List<String> s = FuzzInputs.strings(data, 3, (data[0] & 4) != 0);
    String first = s.get(0);
    String second = s.size() > 1 ? s.get(1) : "";

    Encoding e = FuzzInputs.withBoundedAllocation(data.length, 256,
        () -> pair ? tok.encodePair(first, second, maxLength) : tok.encode(first, maxLength));
    int n = e.length();
    assertThat(n).isGreaterThanOrEqualTo(pair ? 3 : 2);
    if (maxLength > 0) {
      assertThat(n).as("length with max length %d", maxLength).isLessThanOrEqualTo(Math.max(maxLength, pair ? 3 : 2));
    }
    assertThat(e.ids[0]).isEqualTo(tok.clsId());
    assertThat(e.ids[n - 1]).isEqualTo(tok.sepId());
    int[] last = {0, 0};
    for (int i = 0; i < n; i++) {
      assertThat(e.ids[i]).as("id %d", i).isBetween(0, tok.vocabSize() - 1);
      if (e.isSpecial(i)) {
        assertThat(e.ids[i]).isIn(tok.clsId(), tok.sepId());
        continue;
      }
      int seq = e.sequenceIds[i];
      assertThat(seq).isBetween(0, pair ? 1 : 0);
      assertThat(e.typeIds[i]).isEqualTo(seq);
      String text = seq == 0 ? first : second;
      assertThat(e.starts[i]).as("start of token %d", i).isGreaterThanOrEqualTo(last[seq]);
      assertThat(e.ends[i]).as("end of token %d", i).isBetween(e.starts[i], text.length());
      last[seq] = e.starts[i];
    }
  }
}
