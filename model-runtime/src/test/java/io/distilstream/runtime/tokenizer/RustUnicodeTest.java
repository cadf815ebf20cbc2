package io.distilstream.runtime.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import com.ibm.icu.lang.UCharacter;
import com.ibm.icu.util.VersionInfo;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link RustUnicode}'s tables and derived combining-class order against ICU4J's Unicode 16.0 data. */
class RustUnicodeTest {
  private static final VersionInfo V8 = VersionInfo.getInstance(8, 0);
  private static final VersionInfo V9 = VersionInfo.getInstance(9, 0);
  private static final VersionInfo V13 = VersionInfo.getInstance(13, 0);

  @Test
  void theAgeTableIsUnicodesDerivedAgeFrom9To13() {
    List<String> wrong = new ArrayList<>();
    for (int cp = 0; cp <= Character.MAX_CODE_POINT && wrong.size() < 10; cp++) {
      VersionInfo age = UCharacter.getAge(cp);
      int expected = age.compareTo(V8) > 0 && age.compareTo(V13) <= 0 ? age.getMajor() : 0;
      if (RustUnicode.addedIn(cp) != expected) {
        wrong.add(String.format("U+%04X: %d, not %d", cp, RustUnicode.addedIn(cp), expected));
      }
    }
    assertThat(wrong).isEmpty();
    assertThat(RustUnicode.addedIn(0x11938)).isEqualTo(13);
  }

  @Test
  void lowerCasingIsUnicode16s() {
    List<String> wrong = new ArrayList<>();
    for (int cp = 0; cp <= Character.MAX_CODE_POINT && wrong.size() < 10; cp++) {
      if (cp != 0x130 && RustUnicode.toLowerCase(cp) != UCharacter.toLowerCase(cp)) {
        wrong.add(String.format("U+%04X: U+%04X, not U+%04X", cp, RustUnicode.toLowerCase(cp),
            UCharacter.toLowerCase(cp)));
      }
    }
    assertThat(wrong).isEmpty();
    assertThat(RustUnicode.toLowerCase(0x2C2F)).isEqualTo(0x2C5F); // added in 14.0: Java 17 does not know it
  }

  @Test
  void combiningRanksOrderAsUnicode9CombiningClasses() {
    List<String> wrong = new ArrayList<>();
    int[] classOfRank = new int[1000];
    for (int cp = 0; cp <= Character.MAX_CODE_POINT && wrong.size() < 10; cp++) {
      if (!java.text.Normalizer.isNormalized(Character.toString(cp), java.text.Normalizer.Form.NFD)) {
        continue; // decomposes (U+0344 and such): never in NFD's output, so never ranked
      }
      int ccc = UCharacter.getAge(cp).compareTo(V9) <= 0 ? UCharacter.getCombiningClass(cp) : 0;
      int rank = RustUnicode.combiningRank(cp);
      if ((rank == 0) != (ccc == 0) || (rank > 0 && classOfRank[rank] != 0 && classOfRank[rank] != ccc)) {
        wrong.add(String.format("U+%04X: rank %d, class %d", cp, rank, ccc));
      }
      classOfRank[rank] = ccc;
    }
    assertThat(wrong).isEmpty();
    for (int r = 2; r < classOfRank.length && classOfRank[r] != 0; r++) {
      assertThat(classOfRank[r]).isGreaterThan(classOfRank[r - 1]);
    }
  }
}
