package io.distilstream.jobs.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The benchmark's texts: comment-like sentences with log-normally distributed lengths (median about 25 tokens, a long
 * tail), the shape of short user-written texts. Deterministic for a seed.
 */
final class BenchTexts {
  private static final String[] WORDS = ("the a this that stream job event broker topic model really great terrible "
      + "slow fast latency throughput checkpoint failure restart partition consumer producer kafka flink paris "
      + "berlin monday people think everyone nobody should would could never always maybe because however "
      + "although thanks please sorry love hate boring interesting amazing awful excellent support service "
      + "product release version update bug fix feature request question answer comment moderation toxic "
      + "friendly idea plan budget meeting tomorrow yesterday week month year, . ! ?").split(" ");

  private BenchTexts() {}

  static List<String> generate(int n, long seed) {
    Random r = new Random(seed);
    List<String> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      int words = (int) Math.max(2, Math.min(250, Math.round(Math.exp(3.0 + 0.6 * r.nextGaussian()))));
      StringBuilder sb = new StringBuilder();
      for (int w = 0; w < words; w++) {
        if (w > 0) {
          sb.append(' ');
        }
        sb.append(WORDS[r.nextInt(WORDS.length)]);
      }
      out.add(sb.toString());
    }
    return out;
  }
}
