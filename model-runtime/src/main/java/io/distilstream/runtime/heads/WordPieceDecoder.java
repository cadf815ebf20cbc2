package io.distilstream.runtime.heads;

import java.util.List;

/**
 * Tokens back to text as BERT's WordPiece decoder does ({@code convert_tokens_to_string}): a {@code ##} token is
 * glued to the one before, others get a space, and the usual spaces before punctuation and contractions go.
 */
public final class WordPieceDecoder {
  private static final String PREFIX = "##";

  private WordPieceDecoder() {}

  public static String decode(List<String> tokens) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < tokens.size(); i++) {
      String t = tokens.get(i);
      if (i != 0) {
        t = t.startsWith(PREFIX) ? t.substring(PREFIX.length()) : " " + t;
      }
      sb.append(cleanup(t));
    }
    return sb.toString();
  }

  /**
   * {@code tokenizer.decode(ids)}: the decoder, then transformers' {@code clean_up_tokenization} over the whole
   * string, which also joins contractions split over tokens ({@code isn ' t} → {@code isn't}).
   */
  public static String decodeText(List<String> tokens) {
    return cleanup(decode(tokens));
  }

  /** The tokenizers library's per-token cleanup (cleanup=true), the same replacements as transformers'. */
  static String cleanup(String s) {
    if (s.indexOf(' ') < 0) {
      return s;
    }
    return s.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",").replace(" ' ", "'")
        .replace(" n't", "n't").replace(" 'm", "'m").replace(" do not", " don't").replace(" 's", "'s")
        .replace(" 've", "'ve").replace(" 're", "'re");
  }
}
