package io.distilstream.tools.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The benchmark's texts: 4,000 fortunes from Debian's {@code fortunes} packages (see fortunes.NOTICE beside this
 * class). They are real human-written short texts, one to a few sentences with a long tail, which is the shape of
 * comments and messages that moderation pipelines see.
 */
final class BenchTexts {
  /**
   * Texts in one pass: the unit every pattern covers whole (issue 22). The corpus is dealt into passes of this size
   * that share its length distribution, so that any whole number of passes costs per text what the corpus does.
   */
  static final int PASS = 160; // 5 batches of 32; the 4,000 texts make 25 passes
  /**
   * Texts the oracle ceiling plans over at once: 5 passes. A pass is too few for the oracle's full groups to keep the
   * corpus' proportions (a full group of 32 texts of 128 tokens is 4 passes' share of them); over 800 texts the calls
   * hold 26 texts on average at padding x1.04 (over all 4,000: 31 at x1.015, but a pass of those takes about a minute
   * on DistilBERT-base), and runs of whole blocks still time every length in proportion.
   */
  static final int ORACLE_BLOCK = 5 * PASS;

  private BenchTexts() {}

  /**
   * The corpus order the bench feeds every pattern: the texts ranked by length are dealt into passes of
   * {@link #PASS}, one rank to each pass in turn and back again (0, 1, ..., P-1, P-1, ..., 0, so that no pass gets the
   * shorter text of every stratum), so each pass has the corpus' histogram; within a pass the order is a seeded
   * shuffle (arrival order). A run that covers whole passes thus sees the corpus' tokens per text, whichever passes.
   *
   * @return indices into {@code lengths}, pass after pass
   */
  static int[] passOrder(int[] lengths, long seed) {
    int n = lengths.length;
    int passes = Math.max(1, (n + PASS - 1) / PASS);
    Integer[] byLength = new Integer[n];
    for (int i = 0; i < n; i++) {
      byLength[i] = i;
    }
    java.util.Arrays.sort(byLength, java.util.Comparator.comparingInt(i -> lengths[i])); // stable
    List<List<Integer>> dealt = new ArrayList<>();
    for (int p = 0; p < passes; p++) {
      dealt.add(new ArrayList<>());
    }
    for (int r = 0; r < n; r++) {
      int turn = r % (2 * passes);
      dealt.get(turn < passes ? turn : 2 * passes - 1 - turn).add(byLength[r]);
    }
    java.util.Random random = new java.util.Random(seed);
    int[] order = new int[n];
    int k = 0;
    for (List<Integer> pass : dealt) {
      java.util.Collections.shuffle(pass, random);
      for (int i : pass) {
        order[k++] = i;
      }
    }
    return order;
  }

  static List<String> fortunes() {
    try (InputStream in = BenchTexts.class.getResourceAsStream("fortunes.txt")) {
      if (in == null) {
        throw new IllegalStateException("fortunes.txt is missing from the class path");
      }
      List<String> out = new ArrayList<>();
      BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
      for (String line; (line = r.readLine()) != null; ) {
        if (!line.isBlank()) {
          out.add(line);
        }
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
