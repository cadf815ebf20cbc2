package io.distilstream.runtime.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;
import io.distilstream.runtime.SharedModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Our WordPiece tokenizer against the Rust Hugging Face tokenizers (through DJL's JNI binding) on the same
 * tokenizer files: ids, type ids, word ids and character offsets must agree on every string of a varied corpus.
 */
class TokenizerParityTest {
  private static final Map<String, String> RUST_OPTIONS =
      Map.of("addSpecialTokens", "true", "padding", "false", "truncation", "false", "modelMaxLength", "100000");

  static List<String> corpus() {
    List<String> c = new ArrayList<>(List.of(
        "", " ", "   \t\n ", "Hello, world!", "Hugging Face is in New York City.", "I don't know, do you?",
        "naïve café crème brûlée façade jalapeño", "Ångström Øresund ÆØÅ æøå", "ﬁnancial ﬂow ﬀ", "İstanbul IŞIK",
        "Straße Maße ß ẞ", "ΣΊΣΥΦΟΣ σοφός", "Москва — столица России.", "مرحبا بالعالم", "नमस्ते दुनिया",
        "สวัสดีครับ", "你好，世界！我爱北京天安门。", "日本語のテキストとカタカナ、ひらがな。", "한국어 텍스트입니다.",
        "emoji 😀😃😄 and 👍🏽 thumbs", "family 👨‍👩‍👧‍👦 zwj", "flags 🇫🇷🇩🇪🇯🇵", "math ∑∫√∞ ≤ ≥ ≠ ±",
        "ctrl\u0000null\u0007bell\u001bescape", "tab\there\r\nwindows", "zero\u200bwidth soft\u00adhyphen",
        "replacement \uFFFD char", "nbsp\u00a0space\u2003em\u3000ideographic", "line\u2028sep\u2029para",
        "https://example.com/path?query=1&x=y#frag", "mail me: first.last+tag@example.co.uk",
        "3.14159 1,000,000 $42.50 €10 ¥500 50% #hashtag @mention", "C++ C# F# .NET node.js",
        "a".repeat(99), "b".repeat(100), "c".repeat(101), "antidisestablishmentarianism".repeat(4),
        "[MASK] is the capital of France.", "The [MASK] sat on the [MASK].", "a[SEP]b [CLS] c [PAD] [UNK]",
        "[mask] lower-case is not special", "[MASK][MASK]", "x[MASKED]y", "U.S.A. e.g. i.e. etc...",
        "«quoted» „German“ “curly” ‘single’", "under_score snake_case kebab-case CamelCase",
        "\u0301combining at start", "e\u0301 decomposed é composed", "Ǆ ǅ ǆ ǈ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝒎𝒂𝒕𝒉", "𠀀𠀁 rare CJK ext B",
        "ﾃｽﾄ halfwidth katakana", "ＦＵＬＬＷＩＤＴＨ ｌａｔｉｎ", "Ⅻ ① ⓐ ™ © ®", "\u0085next line", "x\u000by\u000cz",
        "private \uE000 use", "😀", "!", "?!?!", "...", "'", "\"", "--", "a-b-c"));
    // random strings mixing scripts, punctuation, whitespace and control characters
    String[] pieces = {"the", "Flink", "Kafka", "DistilBERT", "café", "ÉCOLE", "über", "naïve", "東京", "北京",
        "カタカナ", "한국", "Привет", "مرحبا", "हिन्दी", "ไทย", "😀", "👍🏽", "🇫🇷", "∑", "$", "%", "&", "(", ")",
        ",", ".", "!", "?", "'", "\"", "-", "_", "/", "\\", "@", "#", "[MASK]", "[SEP]", "\t", "\n", "\u0000",
        "\u200b", "\u00a0", "https://x.io", "42", "3.5", "e\u0301", "ﬁ", "ß", "İ", "x".repeat(120), "unbelievable",
        "tokenization", "antidisestablishment", "Ω", "µ", "½", "¿", "¡", "…", "—", "–", "•", "·", "«", "»"};
    Random r = new Random(20261125);
    while (c.size() < 2200) {
      int n = 1 + r.nextInt(14);
      StringBuilder sb = new StringBuilder();
      for (int i = 0; i < n; i++) {
        String p = pieces[r.nextInt(pieces.length)];
        int sepKind = r.nextInt(6);
        sb.append(p).append(sepKind == 0 ? "" : sepKind == 1 ? "  " : " ");
      }
      c.add(sb.toString());
    }
    return c;
  }

  /** Rust counts offsets in code points; Java strings index UTF-16 units. */
  private static int toUtf16(String s, int codePoints) {
    return s.offsetByCodePoints(0, Math.min(codePoints, s.codePointCount(0, s.length())));
  }

  private static int compare(Path tokenizerJson, WordPieceTokenizer ours) throws Exception {
    int matched = 0;
    List<String> corpus = corpus();
    try (HuggingFaceTokenizer rust = HuggingFaceTokenizer.newInstance(tokenizerJson, RUST_OPTIONS)) {
      List<String> failures = new ArrayList<>();
      for (String s : corpus) {
        ai.djl.huggingface.tokenizers.Encoding expected = rust.encode(s);
        Encoding actual = ours.encode(s, 0);
        String diff = diff(s, s, expected, actual);
        if (diff == null) {
          matched++;
        } else if (failures.size() < 5) {
          failures.add(diff);
        }
      }
      assertThat(failures).as("strings that differ from the Rust tokenizer (%s)", tokenizerJson).isEmpty();
    }
    assertThat(matched).isEqualTo(corpus.size()).isGreaterThanOrEqualTo(2000);
    return matched;
  }

  private static String diff(String first, String second, ai.djl.huggingface.tokenizers.Encoding expected,
      Encoding actual) {
    long[] ids = expected.getIds();
    int[] ourIds = actual.ids;
    String what = null;
    if (!Arrays.equals(ids, Arrays.stream(ourIds).asLongStream().toArray())) {
      what = "ids";
    } else if (!Arrays.equals(expected.getTypeIds(), Arrays.stream(actual.typeIds).asLongStream().toArray())) {
      what = "type ids";
    } else {
      CharSpan[] spans = expected.getCharTokenSpans();
      long[] seq = expected.getSequenceIds();
      long[] words = expected.getWordIds();
      for (int i = 0; i < ids.length && what == null; i++) {
        if (spans[i] == null || actual.isSpecial(i)) {
          continue;
        }
        String src = seq[i] == 1 ? second : first;
        int start = toUtf16(src, spans[i].getStart());
        int end = toUtf16(src, spans[i].getEnd());
        if (start != actual.starts[i] || end != actual.ends[i]) {
          what = "offsets of token " + i + ": rust [" + start + "," + end + ") ours [" + actual.starts[i] + ","
              + actual.ends[i] + ")";
        } else if (words[i] != actual.wordIds[i]) {
          what = "word id of token " + i + ": rust " + words[i] + " ours " + actual.wordIds[i];
        }
      }
    }
    if (what == null) {
      return null;
    }
    return what + " for " + escape(first) + (first == second ? "" : " / " + escape(second)) + "\n  rust "
        + Arrays.toString(ids) + " " + Arrays.toString(expected.getTokens()) + "\n  ours " + Arrays.toString(ourIds);
  }

  private static String escape(String s) {
    StringBuilder sb = new StringBuilder("\"");
    s.codePoints().forEach(cp -> {
      if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0x200b || cp == 0xad) {
        sb.append(String.format("\\u%04x", cp));
      } else {
        sb.appendCodePoint(cp);
      }
    });
    return sb.append('"').toString();
  }

  @Test
  void distilbertUncasedMatchesRustOnTheWholeCorpus() throws Exception {
    Path dir = SharedModels.model(SharedModels.SEQ_CLS);
    int n = compare(dir.resolve("tokenizer.json"), WordPieceTokenizer.fromDirectory(dir));
    System.out.println("tokenizer parity, distilbert-base-uncased: " + n + "/" + n + " strings");
  }

  @Test
  void bertNerUncasedMatchesRust() throws Exception {
    Path dir = SharedModels.model(SharedModels.BERT_TOKEN_CLS);
    compare(dir.resolve("tokenizer.json"), WordPieceTokenizer.fromDirectory(dir));
  }

  @Test
  void vocabTxtLoadingMatchesTheRustTokenizerJson() throws Exception {
    Path dir = SharedModels.model(SharedModels.SEQ_CLS);
    compare(dir.resolve("tokenizer.json"),
        WordPieceTokenizer.fromVocab(dir.resolve("vocab.txt"), dir.resolve("tokenizer_config.json")));
  }

  @Test
  void pairsMatchRust() throws Exception {
    Path dir = SharedModels.model(SharedModels.QA);
    WordPieceTokenizer ours = WordPieceTokenizer.fromDirectory(dir);
    List<String> corpus = corpus();
    int matched = 0;
    List<String> failures = new ArrayList<>();
    try (HuggingFaceTokenizer rust = HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"), RUST_OPTIONS)) {
      for (int i = 0; i + 1 < 500; i += 2) {
        String q = corpus.get(i);
        String c = corpus.get(corpus.size() - 1 - i);
        String d = diff(q, c, rust.encode(q, c), ours.encodePair(q, c, 0));
        if (d == null) {
          matched++;
        } else if (failures.size() < 5) {
          failures.add(d);
        }
      }
    }
    assertThat(failures).isEmpty();
    assertThat(matched).isEqualTo(250);
  }

  @Test
  void questionAnsweringWindowsOverlapByTheStrideAndCoverTheContext() {
    WordPieceTokenizer t = WordPieceTokenizer.fromDirectory(SharedModels.model(SharedModels.QA));
    String context = "Kafka keeps the log and Flink keeps the state. ".repeat(40);
    Encoding full = t.encode(context, 0);
    List<Encoding> windows = t.encodeWindows("Who keeps the log?", context, 64, 16);
    int contextTokens = full.length() - 2;
    int questionTokens = t.tokenIds("Who keeps the log?").length;
    int capacity = 64 - questionTokens - 3;
    assertThat(windows).hasSize(1 + (int) Math.ceil((double) (contextTokens - capacity) / (capacity - 16)));
    int covered = 0;
    for (int w = 0; w < windows.size(); w++) {
      Encoding e = windows.get(w);
      assertThat(e.length()).isLessThanOrEqualTo(64);
      int first = questionTokens + 2;
      assertThat(e.ids[0]).isEqualTo(t.clsId());
      assertThat(e.ids[first - 1]).isEqualTo(t.sepId());
      assertThat(e.typeIds[first]).isEqualTo(1);
      for (int i = first; i < e.length() - 1; i++) {
        assertThat(e.sequenceIds[i]).isEqualTo((byte) 1);
        int fi = 1 + w * (capacity - 16) + (i - first);
        assertThat(e.ids[i]).isEqualTo(full.ids[fi]);
        assertThat(e.starts[i]).isEqualTo(full.starts[fi]);
        covered = Math.max(covered, fi);
      }
    }
    assertThat(covered).isEqualTo(contextTokens);
  }

  @Test
  void truncationDecodeAndSpecialTokens() {
    WordPieceTokenizer t = WordPieceTokenizer.fromDirectory(SharedModels.model(SharedModels.SEQ_CLS));
    Encoding e = t.encode("one two three four five six", 5);
    assertThat(e.length()).isEqualTo(5);
    assertThat(e.ids[4]).isEqualTo(t.sepId());
    assertThat(t.decode(t.encode("Hello, world! Tokenization isn't hard.", 0).ids, true))
        .isEqualTo("hello, world! tokenization isn't hard.");
    Encoding m = t.encode("Paris is the [MASK] of France.", 0);
    assertThat(Arrays.stream(m.ids).filter(id -> id == t.maskId()).count()).isEqualTo(1);
    Encoding p = t.encodePair("a b c d e f g h", "i j", 8);
    assertThat(p.length()).isEqualTo(8);
    assertThat(Arrays.stream(p.typeIds).sum()).isEqualTo(3); // "i j [SEP]" kept whole: the longer one was cut
  }
}
