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
  private BenchTexts() {}

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
