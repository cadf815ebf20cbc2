package io.distilstream.runtime.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.distilstream.runtime.SharedModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every code point of planes 0, 1, 2 and 14 (assigned or not: controls, format characters, private use,
 * noncharacters, lone surrogates) alone, inside a word and between punctuation, through our tokenizer and the Rust
 * Hugging Face tokenizers on the same {@code tokenizer.json}: ids, offsets and word ids must all agree.
 *
 * <p>The real vocabularies map most rare characters to {@code [UNK]}, which would hide a wrong lower-casing or
 * decomposition; the "every code point" variants add each code point (and its {@code ##} continuation) to the
 * vocabulary, so the ids show exactly what normalisation produced. Code points are batched, 1,024 to a string.
 *
 * <p>Lone surrogates cannot reach the Rust library (DJL sends Java strings as UTF-8, where they turn into U+FFFD),
 * so for them the oracle is given U+FFFD in their place: what any UTF-8 encoder would make of them.
 */
class TokenizerUnicodeParityTest {
  static final Map<String, String> RUST_OPTIONS =
      Map.of("addSpecialTokens", "true", "padding", "false", "truncation", "false", "modelMaxLength", "100000000");
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int[] PLANES = {0, 1, 2, 14};
  private static final String[] CONTEXTS = {" X ", " abXcd ", " .X( "};
  private static final int BATCH = 1024;

  /** A copy of {@code dir}'s tokenizer.json with other normaliser options and, optionally, every code point. */
  static Path variant(Path dir, Path into, boolean lowercase, Boolean stripAccents, boolean chinese,
      boolean everyCodePoint) throws Exception {
    ObjectNode root = (ObjectNode) JSON.readTree(dir.resolve("tokenizer.json").toFile());
    ObjectNode norm = (ObjectNode) root.get("normalizer");
    norm.put("lowercase", lowercase);
    if (stripAccents == null) {
      norm.putNull("strip_accents");
    } else {
      norm.put("strip_accents", stripAccents);
    }
    norm.put("handle_chinese_chars", chinese);
    if (everyCodePoint) {
      ObjectNode vocab = (ObjectNode) root.get("model").get("vocab");
      int next = vocab.size();
      for (int cp = 0; cp <= 0xEFFFF; cp = cp == 0x2FFFF ? 0xE0000 : cp + 1) {
        if (!Character.isSurrogate((char) cp) || cp > 0xFFFF) {
          String s = Character.toString(cp);
          if (!vocab.has(s)) {
            vocab.put(s, next++);
          }
          if (!vocab.has("##" + s)) {
            vocab.put("##" + s, next++);
          }
        }
      }
    }
    Files.createDirectories(into);
    JSON.writeValue(into.resolve("tokenizer.json").toFile(), root);
    return into;
  }

  /**
   * Null when {@code ours} equals {@code rust}, the encoding of {@code first} (and {@code second}, null for a single
   * text) as given to the Rust library, else what differs. Rust counts offsets in code points, we in UTF-16 units:
   * they are converted (a lone surrogate and the U+FFFD Rust sees instead are one unit each).
   */
  static String diff(String first, String second, ai.djl.huggingface.tokenizers.Encoding rust, Encoding ours) {
    long[] ids = rust.getIds();
    if (ids.length != ours.length()) {
      return "token count: rust " + ids.length + " ours " + ours.length();
    }
    int[] utf16First = utf16Indices(first);
    int[] utf16Second = second == null ? null : utf16Indices(second);
    long[] seqs = rust.getSequenceIds();
    CharSpan[] spans = rust.getCharTokenSpans();
    long[] words = rust.getWordIds();
    long[] types = rust.getTypeIds();
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] != ours.ids[i] || types[i] != ours.typeIds[i]) {
        return "id of token " + i + ": rust " + ids[i] + " ours " + ours.ids[i];
      }
      if (spans[i] == null || ours.isSpecial(i)) {
        continue;
      }
      int[] utf16 = seqs[i] == 1 ? utf16Second : utf16First;
      int start = utf16[spans[i].getStart()];
      int end = utf16[spans[i].getEnd()];
      if (start != ours.starts[i] || end != ours.ends[i]) {
        return "offsets of token " + i + ": rust [" + start + "," + end + ") ours [" + ours.starts[i] + ","
            + ours.ends[i] + ")";
      }
      if (words[i] != ours.wordIds[i]) {
        return "word id of token " + i + ": rust " + words[i] + " ours " + ours.wordIds[i];
      }
    }
    return null;
  }

  /** For each code point index of {@code s}, and one past the end, its UTF-16 index. */
  static int[] utf16Indices(String s) {
    int[] idx = new int[s.codePointCount(0, s.length()) + 1];
    int k = 0;
    for (int i = 0; i < s.length(); i += Character.charCount(s.codePointAt(i))) {
      idx[k++] = i;
    }
    idx[k] = s.length();
    return idx;
  }

  /** Lone surrogates as the Rust library receives them. */
  static String asRustSees(String s) {
    StringBuilder sb = new StringBuilder(s.length());
    s.codePoints().forEach(cp -> sb.appendCodePoint(cp >= 0xD800 && cp <= 0xDFFF ? 0xFFFD : cp));
    return sb.toString();
  }

  static String escape(String s) {
    StringBuilder sb = new StringBuilder("\"");
    s.codePoints().forEach(cp -> {
      if (cp < 0x20 || cp > 0x7e) {
        sb.append(String.format("\\u{%X}", cp));
      } else {
        sb.appendCodePoint(cp);
      }
    });
    return sb.append('"').toString();
  }

  /** Compares every code point in every context; returns how many tokenizations agreed. */
  private static long exhaustive(Path dir) throws Exception {
    WordPieceTokenizer ours = WordPieceTokenizer.fromDirectory(dir);
    List<String> failures = new ArrayList<>();
    long checked = 0;
    try (HuggingFaceTokenizer rust = HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"), RUST_OPTIONS)) {
      for (String context : CONTEXTS) {
        IntFunction<String> one = cp -> context.replace("X", cp >= 0xD800 && cp <= 0xDFFF
            ? String.valueOf((char) cp) : Character.toString(cp));
        for (int plane : PLANES) {
          for (int base = plane << 16; base < (plane + 1) << 16; base += BATCH) {
            StringBuilder sb = new StringBuilder();
            for (int cp = base; cp < base + BATCH; cp++) {
              sb.append(one.apply(cp));
            }
            String text = sb.toString();
            String rustText = asRustSees(text);
            if (diff(rustText, null, rust.encode(rustText), ours.encode(text, 0)) == null) {
              checked += BATCH;
              continue;
            }
            // the batch differs somewhere: find the code points, so the failure names them
            for (int cp = base; cp < base + BATCH && failures.size() < 20; cp++) {
              String s = one.apply(cp);
              String d = diff(asRustSees(s), null, rust.encode(asRustSees(s)), ours.encode(s, 0));
              if (d != null) {
                failures.add(String.format("U+%04X (type %d) in %s: %s", cp, Character.getType(cp), escape(s), d));
              }
            }
            if (failures.isEmpty()) {
              failures.add("batch at U+" + Integer.toHexString(base) + " differs, but no code point alone does");
            }
          }
        }
      }
    }
    assertThat(failures).as("code points our tokenizer handles unlike the Rust one (%s)", dir).isEmpty();
    assertThat(checked).isEqualTo(4L * 0x10000 * CONTEXTS.length);
    return checked;
  }

  @Test
  void distilbertUncasedMatchesRustOnEveryCodePoint() throws Exception {
    exhaustive(SharedModels.model(SharedModels.SEQ_CLS));
  }

  @Test
  void casedVariantMatchesRustOnEveryCodePoint(@TempDir Path tmp) throws Exception {
    // bert-base-cased's normaliser options (no lower-casing, so no accent stripping) on the BERT NER files
    exhaustive(variant(SharedModels.model(SharedModels.BERT_TOKEN_CLS), tmp, false, null, true, false));
  }

  @Test
  void everyCodePointVocabularyShowsTheSameNormalisation(@TempDir Path tmp) throws Exception {
    exhaustive(variant(SharedModels.model(SharedModels.SEQ_CLS), tmp, true, null, true, true));
  }

  @Test
  void everyCodePointVocabularyCasedWithStrippingAndNoChineseSplit(@TempDir Path tmp) throws Exception {
    exhaustive(variant(SharedModels.model(SharedModels.SEQ_CLS), tmp, false, true, false, true));
  }
}
