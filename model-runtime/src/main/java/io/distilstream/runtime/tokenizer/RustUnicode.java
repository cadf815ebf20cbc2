package io.distilstream.runtime.tokenizer;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Character properties as the Rust Hugging Face tokenizers (0.21, through DJL) see them, built from Java 17's own
 * Unicode 13.0 data plus two small tables of published Unicode facts. The Rust library mixes three Unicode
 * versions, and matching it over all of Unicode means matching each:
 *
 * <ul>
 *   <li>General categories (control/format/private-use characters dropped by {@code clean_text}, punctuation
 *       split by the pre-tokenizer, non-spacing marks dropped by {@code strip_accents}) come from the
 *       {@code unicode_categories} crate, whose tables are Unicode 8.0: a character assigned later is, to it,
 *       unassigned (and unassigned characters are kept, not dropped).</li>
 *   <li>Canonical decomposition and combining classes (NFD) come from {@code unicode-normalization-alignments},
 *       whose tables are Unicode 9.0.</li>
 *   <li>Lower-casing is Rust's {@code char::to_lowercase}: Unicode 16.0.</li>
 * </ul>
 *
 * <p>So Java's category counts only for characters Unicode had assigned by 8.0 ({@link #ADDED_9_TO_13}, from
 * Unicode's DerivedAge.txt, says which later ones Java knows), and the case pairs Unicode 14.0 to 16.0 added are
 * carried in {@link #LOWER_14_TO_16} (from UnicodeData.txt). {@code RustUnicodeTest} checks both tables against
 * ICU4J. Combining classes are not in Java's public API; their order is read off {@link Normalizer} itself.
 */
final class RustUnicode {
  private RustUnicode() {}

  /**
   * Code points assigned in Unicode 9.0 to 13.0: {@code first, last, major version} triples, ascending
   * (DerivedAge.txt).
   */
  private static final int[] ADDED_9_TO_13 = {
      0x560, 0x560, 11, 0x588, 0x588, 11, 0x5EF, 0x5EF, 11, 0x7FD, 0x7FF, 11, 0x860, 0x86A, 10, 0x8B6, 0x8BD, 9,
      0x8BE, 0x8C7, 13, 0x8D3, 0x8D3, 11, 0x8D4, 0x8E2, 9, 0x9FC, 0x9FD, 10, 0x9FE, 0x9FE, 11, 0xA76, 0xA76, 11,
      0xAFA, 0xAFF, 10, 0xB55, 0xB55, 13, 0xC04, 0xC04, 11, 0xC77, 0xC77, 12, 0xC80, 0xC80, 9, 0xC84, 0xC84, 11,
      0xD00, 0xD00, 10, 0xD04, 0xD04, 13, 0xD3B, 0xD3C, 10, 0xD4F, 0xD4F, 9, 0xD54, 0xD56, 9, 0xD58, 0xD5E, 9,
      0xD76, 0xD78, 9, 0xD81, 0xD81, 13, 0xE86, 0xE86, 12, 0xE89, 0xE89, 12, 0xE8C, 0xE8C, 12, 0xE8E, 0xE93, 12,
      0xE98, 0xE98, 12, 0xEA0, 0xEA0, 12, 0xEA8, 0xEA9, 12, 0xEAC, 0xEAC, 12, 0xEBA, 0xEBA, 12, 0x1878, 0x1878,
      11, 0x1ABF, 0x1AC0, 13, 0x1C80, 0x1C88, 9, 0x1C90, 0x1CBA, 11, 0x1CBD, 0x1CBF, 11, 0x1CF7, 0x1CF7, 10,
      0x1CFA, 0x1CFA, 12, 0x1DF6, 0x1DF9, 10, 0x1DFB, 0x1DFB, 9, 0x20BF, 0x20BF, 10, 0x23FB, 0x23FE, 9, 0x23FF,
      0x23FF, 10, 0x2B97, 0x2B97, 13, 0x2BBA, 0x2BBC, 11, 0x2BC9, 0x2BC9, 12, 0x2BD2, 0x2BD2, 10, 0x2BD3, 0x2BEB,
      11, 0x2BF0, 0x2BFE, 11, 0x2BFF, 0x2BFF, 12, 0x2E43, 0x2E44, 9, 0x2E45, 0x2E49, 10, 0x2E4A, 0x2E4E, 11,
      0x2E4F, 0x2E4F, 12, 0x2E50, 0x2E52, 13, 0x312E, 0x312E, 10, 0x312F, 0x312F, 11, 0x31BB, 0x31BF, 13, 0x32FF,
      0x32FF, 12, 0x4DB6, 0x4DBF, 13, 0x9FD6, 0x9FEA, 10, 0x9FEB, 0x9FEF, 11, 0x9FF0, 0x9FFC, 13, 0xA7AE, 0xA7AE,
      9, 0xA7AF, 0xA7AF, 11, 0xA7B8, 0xA7B9, 11, 0xA7BA, 0xA7BF, 12, 0xA7C2, 0xA7C6, 12, 0xA7C7, 0xA7CA, 13,
      0xA7F5, 0xA7F6, 13, 0xA82C, 0xA82C, 13, 0xA8C5, 0xA8C5, 9, 0xA8FE, 0xA8FF, 11, 0xAB66, 0xAB67, 12, 0xAB68,
      0xAB6B, 13, 0x1018D, 0x1018E, 9, 0x1019C, 0x1019C, 13, 0x1032D, 0x1032F, 10, 0x104B0, 0x104D3, 9, 0x104D8,
      0x104FB, 9, 0x10A34, 0x10A35, 11, 0x10A48, 0x10A48, 11, 0x10D00, 0x10D27, 11, 0x10D30, 0x10D39, 11, 0x10E80,
      0x10EA9, 13, 0x10EAB, 0x10EAD, 13, 0x10EB0, 0x10EB1, 13, 0x10F00, 0x10F27, 11, 0x10F30, 0x10F59, 11,
      0x10FB0, 0x10FCB, 13, 0x10FE0, 0x10FF6, 12, 0x110CD, 0x110CD, 11, 0x11144, 0x11146, 11, 0x11147, 0x11147,
      13, 0x111CE, 0x111CF, 13, 0x1123E, 0x1123E, 9, 0x1133B, 0x1133B, 11, 0x11400, 0x11459, 9, 0x1145A, 0x1145A,
      13, 0x1145B, 0x1145B, 9, 0x1145D, 0x1145D, 9, 0x1145E, 0x1145E, 11, 0x1145F, 0x1145F, 12, 0x11460, 0x11461,
      13, 0x11660, 0x1166C, 9, 0x116B8, 0x116B8, 12, 0x1171A, 0x1171A, 11, 0x11800, 0x1183B, 11, 0x11900, 0x11906,
      13, 0x11909, 0x11909, 13, 0x1190C, 0x11913, 13, 0x11915, 0x11916, 13, 0x11918, 0x11935, 13, 0x11937,
      0x11938, 13, 0x1193B, 0x11946, 13, 0x11950, 0x11959, 13, 0x119A0, 0x119A7, 12, 0x119AA, 0x119D7, 12,
      0x119DA, 0x119E4, 12, 0x11A00, 0x11A47, 10, 0x11A50, 0x11A83, 10, 0x11A84, 0x11A85, 12, 0x11A86, 0x11A9C,
      10, 0x11A9D, 0x11A9D, 11, 0x11A9E, 0x11AA2, 10, 0x11C00, 0x11C08, 9, 0x11C0A, 0x11C36, 9, 0x11C38, 0x11C45,
      9, 0x11C50, 0x11C6C, 9, 0x11C70, 0x11C8F, 9, 0x11C92, 0x11CA7, 9, 0x11CA9, 0x11CB6, 9, 0x11D00, 0x11D06, 10,
      0x11D08, 0x11D09, 10, 0x11D0B, 0x11D36, 10, 0x11D3A, 0x11D3A, 10, 0x11D3C, 0x11D3D, 10, 0x11D3F, 0x11D47,
      10, 0x11D50, 0x11D59, 10, 0x11D60, 0x11D65, 11, 0x11D67, 0x11D68, 11, 0x11D6A, 0x11D8E, 11, 0x11D90,
      0x11D91, 11, 0x11D93, 0x11D98, 11, 0x11DA0, 0x11DA9, 11, 0x11EE0, 0x11EF8, 11, 0x11FB0, 0x11FB0, 13,
      0x11FC0, 0x11FF1, 12, 0x11FFF, 0x11FFF, 12, 0x13430, 0x13438, 12, 0x16E40, 0x16E9A, 11, 0x16F45, 0x16F4A,
      12, 0x16F4F, 0x16F4F, 12, 0x16F7F, 0x16F87, 12, 0x16FE0, 0x16FE0, 9, 0x16FE1, 0x16FE1, 10, 0x16FE2, 0x16FE3,
      12, 0x16FE4, 0x16FE4, 13, 0x16FF0, 0x16FF1, 13, 0x17000, 0x187EC, 9, 0x187ED, 0x187F1, 11, 0x187F2, 0x187F7,
      12, 0x18800, 0x18AF2, 9, 0x18AF3, 0x18CD5, 13, 0x18D00, 0x18D08, 13, 0x1B002, 0x1B11E, 10, 0x1B150, 0x1B152,
      12, 0x1B164, 0x1B167, 12, 0x1B170, 0x1B2FB, 10, 0x1D2E0, 0x1D2F3, 11, 0x1D372, 0x1D378, 11, 0x1E000,
      0x1E006, 9, 0x1E008, 0x1E018, 9, 0x1E01B, 0x1E021, 9, 0x1E023, 0x1E024, 9, 0x1E026, 0x1E02A, 9, 0x1E100,
      0x1E12C, 12, 0x1E130, 0x1E13D, 12, 0x1E140, 0x1E149, 12, 0x1E14E, 0x1E14F, 12, 0x1E2C0, 0x1E2F9, 12,
      0x1E2FF, 0x1E2FF, 12, 0x1E900, 0x1E94A, 9, 0x1E94B, 0x1E94B, 12, 0x1E950, 0x1E959, 9, 0x1E95E, 0x1E95F, 9,
      0x1EC71, 0x1ECB4, 11, 0x1ED01, 0x1ED3D, 12, 0x1F10D, 0x1F10F, 13, 0x1F12F, 0x1F12F, 11, 0x1F16C, 0x1F16C,
      12, 0x1F16D, 0x1F16F, 13, 0x1F19B, 0x1F1AC, 9, 0x1F1AD, 0x1F1AD, 13, 0x1F23B, 0x1F23B, 9, 0x1F260, 0x1F265,
      10, 0x1F57A, 0x1F57A, 9, 0x1F5A4, 0x1F5A4, 9, 0x1F6D1, 0x1F6D2, 9, 0x1F6D3, 0x1F6D4, 10, 0x1F6D5, 0x1F6D5,
      12, 0x1F6D6, 0x1F6D7, 13, 0x1F6F4, 0x1F6F6, 9, 0x1F6F7, 0x1F6F8, 10, 0x1F6F9, 0x1F6F9, 11, 0x1F6FA, 0x1F6FA,
      12, 0x1F6FB, 0x1F6FC, 13, 0x1F7D5, 0x1F7D8, 11, 0x1F7E0, 0x1F7EB, 12, 0x1F8B0, 0x1F8B1, 13, 0x1F900,
      0x1F90B, 10, 0x1F90C, 0x1F90C, 13, 0x1F90D, 0x1F90F, 12, 0x1F919, 0x1F91E, 9, 0x1F91F, 0x1F91F, 10, 0x1F920,
      0x1F927, 9, 0x1F928, 0x1F92F, 10, 0x1F930, 0x1F930, 9, 0x1F931, 0x1F932, 10, 0x1F933, 0x1F93E, 9, 0x1F93F,
      0x1F93F, 12, 0x1F940, 0x1F94B, 9, 0x1F94C, 0x1F94C, 10, 0x1F94D, 0x1F94F, 11, 0x1F950, 0x1F95E, 9, 0x1F95F,
      0x1F96B, 10, 0x1F96C, 0x1F970, 11, 0x1F971, 0x1F971, 12, 0x1F972, 0x1F972, 13, 0x1F973, 0x1F976, 11,
      0x1F977, 0x1F978, 13, 0x1F97A, 0x1F97A, 11, 0x1F97B, 0x1F97B, 12, 0x1F97C, 0x1F97F, 11, 0x1F985, 0x1F991, 9,
      0x1F992, 0x1F997, 10, 0x1F998, 0x1F9A2, 11, 0x1F9A3, 0x1F9A4, 13, 0x1F9A5, 0x1F9AA, 12, 0x1F9AB, 0x1F9AD,
      13, 0x1F9AE, 0x1F9AF, 12, 0x1F9B0, 0x1F9B9, 11, 0x1F9BA, 0x1F9BF, 12, 0x1F9C1, 0x1F9C2, 11, 0x1F9C3,
      0x1F9CA, 12, 0x1F9CB, 0x1F9CB, 13, 0x1F9CD, 0x1F9CF, 12, 0x1F9D0, 0x1F9E6, 10, 0x1F9E7, 0x1F9FF, 11,
      0x1FA00, 0x1FA53, 12, 0x1FA60, 0x1FA6D, 11, 0x1FA70, 0x1FA73, 12, 0x1FA74, 0x1FA74, 13, 0x1FA78, 0x1FA7A,
      12, 0x1FA80, 0x1FA82, 12, 0x1FA83, 0x1FA86, 13, 0x1FA90, 0x1FA95, 12, 0x1FA96, 0x1FAA8, 13, 0x1FAB0,
      0x1FAB6, 13, 0x1FAC0, 0x1FAC2, 13, 0x1FAD0, 0x1FAD6, 13, 0x1FB00, 0x1FB92, 13, 0x1FB94, 0x1FBCA, 13,
      0x1FBF0, 0x1FBF9, 13, 0x2A6D7, 0x2A6DD, 13, 0x2CEB0, 0x2EBE0, 10, 0x30000, 0x3134A, 13
  };

  /** {@code upper, lower} pairs of the simple lower-case mappings of characters added in Unicode 14.0 to 16.0. */
  private static final int[] LOWER_14_TO_16 = {
      0x1C89, 0x1C8A, 0x2C2F, 0x2C5F, 0xA7C0, 0xA7C1, 0xA7CB, 0x264, 0xA7CC, 0xA7CD, 0xA7D0, 0xA7D1, 0xA7D6,
      0xA7D7, 0xA7D8, 0xA7D9, 0xA7DA, 0xA7DB, 0xA7DC, 0x19B, 0x10570, 0x10597, 0x10571, 0x10598, 0x10572, 0x10599,
      0x10573, 0x1059A, 0x10574, 0x1059B, 0x10575, 0x1059C, 0x10576, 0x1059D, 0x10577, 0x1059E, 0x10578, 0x1059F,
      0x10579, 0x105A0, 0x1057A, 0x105A1, 0x1057C, 0x105A3, 0x1057D, 0x105A4, 0x1057E, 0x105A5, 0x1057F, 0x105A6,
      0x10580, 0x105A7, 0x10581, 0x105A8, 0x10582, 0x105A9, 0x10583, 0x105AA, 0x10584, 0x105AB, 0x10585, 0x105AC,
      0x10586, 0x105AD, 0x10587, 0x105AE, 0x10588, 0x105AF, 0x10589, 0x105B0, 0x1058A, 0x105B1, 0x1058C, 0x105B3,
      0x1058D, 0x105B4, 0x1058E, 0x105B5, 0x1058F, 0x105B6, 0x10590, 0x105B7, 0x10591, 0x105B8, 0x10592, 0x105B9,
      0x10594, 0x105BB, 0x10595, 0x105BC, 0x10D50, 0x10D70, 0x10D51, 0x10D71, 0x10D52, 0x10D72, 0x10D53, 0x10D73,
      0x10D54, 0x10D74, 0x10D55, 0x10D75, 0x10D56, 0x10D76, 0x10D57, 0x10D77, 0x10D58, 0x10D78, 0x10D59, 0x10D79,
      0x10D5A, 0x10D7A, 0x10D5B, 0x10D7B, 0x10D5C, 0x10D7C, 0x10D5D, 0x10D7D, 0x10D5E, 0x10D7E, 0x10D5F, 0x10D7F,
      0x10D60, 0x10D80, 0x10D61, 0x10D81, 0x10D62, 0x10D82, 0x10D63, 0x10D83, 0x10D64, 0x10D84, 0x10D65, 0x10D85
  };

  /** The Unicode major version (9 to 13) that assigned {@code cp}; 0 when assigned by 8.0 or unknown to Java. */
  static int addedIn(int cp) {
    int lo = 0;
    int hi = ADDED_9_TO_13.length / 3 - 1;
    while (lo <= hi) {
      int mid = (lo + hi) >>> 1;
      if (cp < ADDED_9_TO_13[3 * mid]) {
        hi = mid - 1;
      } else if (cp > ADDED_9_TO_13[3 * mid + 1]) {
        lo = mid + 1;
      } else {
        return ADDED_9_TO_13[3 * mid + 2];
      }
    }
    return 0;
  }

  /**
   * The general category the {@code unicode_categories} crate (Unicode 8.0) gives {@code cp}, as a
   * {@link Character#getType} constant: Java's, or {@link Character#UNASSIGNED} for a character added later.
   */
  static int category8(int cp) {
    // the characters whose category changed between Unicode 8.0 and 13.0, with their 8.0 category
    switch (cp) {
      case 0x1885: case 0x1886: // MONGOLIAN LETTER ALI GALI BALUDA, THREE BALUDA: Lo, Mn since 9.0
        return Character.OTHER_LETTER;
      case 0x111C9: // SHARADA SANDHI MARK: Po, Mn since 11.0
      case 0x166D: // CANADIAN SYLLABICS CHI SIGN: Po, So since 12.0
        return Character.OTHER_PUNCTUATION;
      case 0xA9BD: // JAVANESE CONSONANT SIGN KERET: Mc, Mn since 12.0
        return Character.COMBINING_SPACING_MARK;
      default:
        break;
    }
    int type = Character.getType(cp);
    return type == Character.UNASSIGNED || addedIn(cp) == 0 ? type : Character.UNASSIGNED;
  }

  /** Unicode's Cc, Cf, Cs and Co (Rust's {@code is_other}); unassigned code points (Cn) are not included. */
  static boolean isOther(int cp) {
    switch (category8(cp)) {
      case Character.CONTROL: case Character.FORMAT: case Character.SURROGATE: case Character.PRIVATE_USE:
        return true;
      default:
        return false;
    }
  }

  /** Unicode's P* categories. */
  static boolean isPunctuation(int cp) {
    switch (category8(cp)) {
      case Character.CONNECTOR_PUNCTUATION: case Character.DASH_PUNCTUATION: case Character.START_PUNCTUATION:
      case Character.END_PUNCTUATION: case Character.INITIAL_QUOTE_PUNCTUATION:
      case Character.FINAL_QUOTE_PUNCTUATION: case Character.OTHER_PUNCTUATION:
        return true;
      default:
        return false;
    }
  }

  /** Unicode's Mn, the marks {@code strip_accents} removes after NFD. */
  static boolean isNonspacingMark(int cp) {
    return category8(cp) == Character.NON_SPACING_MARK;
  }

  /** Rust's {@code char::to_lowercase} for a character whose full mapping is one character (all but U+0130). */
  static int toLowerCase(int cp) {
    if (cp >= LOWER_14_TO_16[0] && Character.getType(cp) == Character.UNASSIGNED) {
      for (int i = 0; i < LOWER_14_TO_16.length; i += 2) {
        if (LOWER_14_TO_16[i] == cp) {
          return LOWER_14_TO_16[i + 1];
        }
      }
      return cp;
    }
    return Character.toLowerCase(cp);
  }

  /** The canonical decomposition of {@code cp} as Unicode 9.0 has it (the code point itself when it has none). */
  static String decompose(int cp) {
    String s = Character.toString(cp);
    // Unicode 10.0 to 13.0 added one decomposable character (U+11938); the Rust tables do not know it
    return addedIn(cp) > 9 ? s : Normalizer.normalize(s, Normalizer.Form.NFD);
  }

  /**
   * 0 for a starter (canonical combining class 0), else a rank that orders non-starters as their combining classes
   * do, Unicode 9.0's view: a mark added later is a starter to the Rust tables.
   */
  static int combiningRank(int cp) {
    int type = Character.getType(cp);
    if (type != Character.NON_SPACING_MARK && type != Character.COMBINING_SPACING_MARK) {
      return 0; // every character with a non-zero combining class is a mark
    }
    Integer rank = Ranks.RANKS.get(cp);
    return rank == null ? 0 : rank;
  }

  /** The non-starters' ranks, read off Java's own NFD: there is no public API for combining classes. */
  private static final class Ranks {
    static final Map<Integer, Integer> RANKS = build();

    private static Map<Integer, Integer> build() {
      List<Integer> marks = new ArrayList<>();
      for (int cp = 0; cp <= Character.MAX_CODE_POINT; cp++) {
        int type = Character.getType(cp);
        if ((type == Character.NON_SPACING_MARK || type == Character.COMBINING_SPACING_MARK) && addedIn(cp) <= 9) {
          String s = Character.toString(cp);
          // U+0345 has the highest combining class (240): any other non-starter put after it moves before it
          if (Normalizer.isNormalized(s, Normalizer.Form.NFD) && (cp == 0x345 || !nfd("\u0345" + s).equals("\u0345" + s))) {
            marks.add(cp);
          }
        }
      }
      marks.sort(RustUnicode.Ranks::compare);
      Map<Integer, Integer> ranks = new HashMap<>();
      int rank = 0;
      for (int i = 0; i < marks.size(); i++) {
        if (i == 0 || compare(marks.get(i - 1), marks.get(i)) != 0) {
          rank++;
        }
        ranks.put(marks.get(i), rank);
      }
      return ranks;
    }

    /** NFD's canonical ordering is a stable sort by combining class: it says which of two non-starters goes first. */
    private static int compare(int a, int b) {
      String ab = Character.toString(a) + Character.toString(b);
      String ba = Character.toString(b) + Character.toString(a);
      if (nfd(ab).equals(ba)) {
        return 1;
      }
      return nfd(ba).equals(ab) ? -1 : 0;
    }

    private static String nfd(String s) {
      return Normalizer.normalize(s, Normalizer.Form.NFD);
    }
  }
}
