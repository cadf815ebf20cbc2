package io.distilstream.runtime.tokenizer;

import static io.distilstream.runtime.tokenizer.TokenizerUnicodeParityTest.asRustSees;
import static io.distilstream.runtime.tokenizer.TokenizerUnicodeParityTest.diff;
import static io.distilstream.runtime.tokenizer.TokenizerUnicodeParityTest.escape;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import io.distilstream.runtime.SharedModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * 20,000 generated strings (mixed scripts, emoji ZWJ sequences, runs of combining marks in any order, RTL text and
 * bidi controls, words around the 100-character limit, whitespace of every kind, random code points of any
 * plane) through our tokenizer and the Rust one: 16,000 single texts on three tokenizers, 4,000 pairs truncated
 * {@code longest_first} to 8 to 64 tokens. Ids, type ids, offsets and word ids must all agree. Then the cost bound:
 * megabyte inputs built to be worst cases, checked against the Rust tokenizer too.
 */
class TokenizerCorpusParityTest {
  private static final String[] WORDS = {"the", "Flink", "KAFKA", "naïve", "Ærøskøbing", "İstanbul", "Straße",
      "ΣΊΣΥΦΟΣ", "Москва", "שָׁלוֹם", "مَرْحَبًا", "नमस्ते", "ภาษาไทย", "東京都", "北京", "カタカナ", "ひらがな", "한국어",
      "각", "ﬁnancial", "①②", "𝔘𝔫𝔦", "Ǆemal", "ǅ", "ﾃｽﾄ", "ＦＵＬＬ", "x²", "½", "e\u0301", "a\u0328\u0301",
      "unbelievable", "tokenization", "[MASK]", "[SEP]", "[mask]", "C++", "U.S.A.", "https://x.io/a?b=c", "3.14",
      "1,000", "$42", "€10", "#tag", "@me", "don't", "«quoted»", "…", "—", "‐", "𑇉", "ᢅ", "ꦽ", "᙭", "\u1DF6x", "ⰿ",
      "Ꟁ", "𐕰", "𐵐", "Ᲊ"};
  private static final String[] EMOJI = {"😀", "👍🏽", "👨\u200D👩\u200D👧\u200D👦", "🏳\uFE0F\u200D🌈",
      "👩🏽\u200D💻", "🇫🇷", "🇯🇵", "1\uFE0F\u20E3", "❤\uFE0F", "🧑\u200D🤝\u200D🧑", "🏴\uDB40\uDC67\uDB40\uDC62\uDB40"
      + "\uDC65\uDB40\uDC6E\uDB40\uDC67\uDB40\uDC7F", "☺\uFE0E"};
  private static final int[] SPACES = {'\t', '\n', 0x0B, 0x0C, '\r', ' ', 0x1C, 0x1D, 0x1E, 0x1F, 0x85, 0xA0,
      0x1680, 0x180E, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A,
      0x200B, 0x200C, 0x200D, 0x2028, 0x2029, 0x202F, 0x205F, 0x2060, 0x3000, 0xFEFF};
  private static final int[] BIDI = {0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068,
      0x2069, 0x061C};
  /** Non-starters of many combining classes, Mn and Mc, old and new (later than Unicode 9.0, or 8.0). */
  private static final int[] MARKS = {0x300, 0x301, 0x316, 0x327, 0x334, 0x345, 0x35C, 0x35D, 0x5B0, 0x5C1, 0x64B,
      0x651, 0x93C, 0x94D, 0xE38, 0xE48, 0xF71, 0xF72, 0x1DCE, 0x302A, 0x302E, 0x3099, 0x20D0, 0x20E3, 0x1D165,
      0x1D166, 0x1D16D, 0x1D172, 0x1E944, 0x1DF6, 0x7FD, 0x8D3, 0x1ABF, 0x16FF0, 0x1885, 0xA9BD, 0x11938, 0xFE0F};

  private static String generate(Random r) {
    StringBuilder sb = new StringBuilder();
    int pieces = 1 + r.nextInt(12);
    for (int p = 0; p < pieces; p++) {
      switch (r.nextInt(10)) {
        case 0: case 1: case 2:
          sb.append(WORDS[r.nextInt(WORDS.length)]);
          break;
        case 3:
          sb.append(EMOJI[r.nextInt(EMOJI.length)]);
          break;
        case 4: {
          // a base and a run of combining marks in random order
          sb.append(r.nextBoolean() ? "aeoAEO" .charAt(r.nextInt(6)) : WORDS[r.nextInt(WORDS.length)]);
          for (int i = r.nextInt(8); i >= 0; i--) {
            sb.appendCodePoint(MARKS[r.nextInt(MARKS.length)]);
          }
          break;
        }
        case 5:
          sb.appendCodePoint(BIDI[r.nextInt(BIDI.length)]).append(WORDS[9 + r.nextInt(2)]);
          break;
        case 6: {
          // a word near the 100-character limit, marks that strip_accents removes included
          int n = 90 + r.nextInt(20);
          for (int i = 0; i < n; i++) {
            sb.append(r.nextInt(10) == 0 ? "e\u0301" : "abcxyz".substring(r.nextInt(6)).substring(0, 1));
          }
          break;
        }
        case 7: {
          // any code point of planes 0 to 3 and 14, lone surrogates and noncharacters included
          int plane = new int[] {0, 0, 0, 1, 2, 3, 14}[r.nextInt(7)];
          int cp = (plane << 16) | r.nextInt(0x10000);
          if (cp >= 0xD800 && cp <= 0xDFFF) {
            sb.append((char) cp);
          } else {
            sb.appendCodePoint(cp);
          }
          break;
        }
        default:
          break;
      }
      for (int i = r.nextInt(3); i >= 0; i--) {
        sb.appendCodePoint(r.nextInt(3) == 0 ? SPACES[r.nextInt(SPACES.length)] : ' ');
      }
    }
    return sb.toString();
  }

  private static int compareSingles(Path dir, List<String> texts) throws Exception {
    WordPieceTokenizer ours = WordPieceTokenizer.fromDirectory(dir);
    List<String> failures = new ArrayList<>();
    int matched = 0;
    try (HuggingFaceTokenizer rust = HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"),
        TokenizerUnicodeParityTest.RUST_OPTIONS)) {
      for (String s : texts) {
        String d = diff(asRustSees(s), null, rust.encode(asRustSees(s)), ours.encode(s, 0));
        if (d == null) {
          matched++;
        } else if (failures.size() < 10) {
          failures.add(d + " for " + escape(s));
        }
      }
    }
    assertThat(failures).as("strings that differ from the Rust tokenizer (%s)", dir).isEmpty();
    return matched;
  }

  @Test
  void twentyThousandGeneratedStringsMatchRust(@TempDir Path tmp) throws Exception {
    Random r = new Random(17_0506);
    List<String> singles = new ArrayList<>();
    while (singles.size() < 16_000) {
      singles.add(generate(r));
    }
    Path uncased = SharedModels.model(SharedModels.SEQ_CLS);
    int matched = compareSingles(uncased, singles);
    matched += compareSingles(TokenizerUnicodeParityTest.variant(SharedModels.model(SharedModels.BERT_TOKEN_CLS),
        tmp.resolve("cased"), false, null, true, false), singles);
    // every code point in the vocabulary: canonical reordering and lower-casing show in the ids
    matched += compareSingles(TokenizerUnicodeParityTest.variant(uncased, tmp.resolve("every"), true, null, true,
        true), singles);
    assertThat(matched).isEqualTo(3 * 16_000);

    WordPieceTokenizer ours = WordPieceTokenizer.fromDirectory(uncased);
    List<String> failures = new ArrayList<>();
    int pairs = 0;
    for (int maxLength : new int[] {8, 16, 32, 64}) {
      try (HuggingFaceTokenizer rust = HuggingFaceTokenizer.builder().optTokenizerPath(uncased)
          .optAddSpecialTokens(true).optPadding(false).optTruncation(true).optMaxLength(maxLength).build()) {
        for (int i = 0; i < 1_000; i++) {
          String a = generate(r);
          String b = generate(r);
          String d = diff(asRustSees(a), asRustSees(b), rust.encode(asRustSees(a), asRustSees(b)),
              ours.encodePair(a, b, maxLength));
          if (d == null) {
            pairs++;
          } else if (failures.size() < 10) {
            failures.add(d + " for " + escape(a) + " / " + escape(b) + " to " + maxLength);
          }
        }
      }
    }
    assertThat(failures).as("pairs that differ from the Rust tokenizer").isEmpty();
    assertThat(pairs).isEqualTo(4_000);
  }

  /**
   * The tokenizer's cost is linear in its input, whatever the input holds. Normalisation is one pass per step
   * (cleaning, NFD, accent stripping, lower-casing), canonical reordering a counting sort of each run of marks
   * (O(run + number of combining classes), where the textbook insertion sort is O(run²)), pre-tokenization one
   * pass, and WordPiece gives a word of over 100 characters {@code [UNK]} before looking inside it, and otherwise
   * tries at most 100 × (longest vocabulary entry) substrings of it. So megabyte worst cases must tokenize (a
   * quadratic step would take hours here), and as the Rust library does.
   */
  @Test
  void megabyteWordsAndRunsOfMarksTokenizeAsRustDoes(@TempDir Path tmp) throws Exception {
    int n = 1 << 20;
    Path uncased = SharedModels.model(SharedModels.SEQ_CLS);
    WordPieceTokenizer ours = WordPieceTokenizer.fromDirectory(uncased);
    int e = ours.tokenToId("e");
    int y = ours.tokenToId("y");
    String word = "a".repeat(n);
    // marks of two combining classes, alternating: NFD sorts the whole run
    String marks = "e" + "\u0301\u0316".repeat(n / 2);
    String mcMarks = "x" + "\uD834\uDD6D\uD834\uDD65".repeat(n / 4) + " y";
    String brackets = "[".repeat(n);
    assertMatchesRust(uncased, ours, word, new int[] {ours.clsId(), ours.unkId(), ours.sepId()});
    assertThat(ours.encode(word, 0).ends[1]).isEqualTo(n);
    // strip_accents drops every mark, whatever their order: "e" is left, covering the original e
    assertMatchesRust(uncased, ours, marks, new int[] {ours.clsId(), e, ours.sepId()});
    assertThat(ours.encode(marks, 0).ends[1]).isEqualTo(1);
    // Mc marks with combining classes survive stripping: 2^19 of them reordered, one word over 100 characters
    assertMatchesRust(uncased, ours, mcMarks, new int[] {ours.clsId(), ours.unkId(), y, ours.sepId()});
    assertThat(ours.encode(mcMarks, 0).ends[1]).isEqualTo(1 + n);
    Encoding b = ours.encode(brackets, 0);
    assertThat(b.length()).isEqualTo(n + 2);
    assertMatchesRust(uncased, ours, brackets, b.ids);
    // the same run, each code point in the vocabulary and no lower-casing: the sorted order shows in the ids
    Path every = TokenizerUnicodeParityTest.variant(uncased, tmp, false, true, true, true);
    WordPieceTokenizer all = WordPieceTokenizer.fromDirectory(every);
    String run = "x" + "\uD834\uDD6D\uD834\uDD65".repeat(40);
    Encoding sorted = all.encode(run, 0);
    assertThat(sorted.ids[2]).isEqualTo(all.tokenToId("##\uD834\uDD65"));
    assertThat(sorted.ids[42]).isEqualTo(all.tokenToId("##\uD834\uDD6D"));
    assertMatchesRust(every, all, run, sorted.ids);
  }

  private static void assertMatchesRust(Path dir, WordPieceTokenizer ours, String text, int[] expectedIds)
      throws Exception {
    Encoding encoding = ours.encode(text, 0);
    assertThat(encoding.ids).isEqualTo(expectedIds); // containsExactly would diff 2^20 ids quadratically
    try (HuggingFaceTokenizer rust = HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"),
        TokenizerUnicodeParityTest.RUST_OPTIONS)) {
      assertThat(diff(text, null, rust.encode(text), encoding)).isNull();
    }
  }
}
