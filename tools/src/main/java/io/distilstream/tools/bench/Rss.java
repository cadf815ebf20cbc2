package io.distilstream.tools.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The process's peak resident set (Linux VmHWM), reset between runs where the kernel allows it. */
final class Rss {
  private static final Path STATUS = Path.of("/proc/self/status");
  private static final Path CLEAR_REFS = Path.of("/proc/self/clear_refs");

  private Rss() {}

  static void reset() {
    try {
      Files.writeString(CLEAR_REFS, "5"); // 5 resets the peak RSS to the current RSS
    } catch (IOException | UnsupportedOperationException | SecurityException e) {
      // not Linux, or not allowed: the figure is then the peak since start
    }
  }

  /** Peak RSS in MiB, or NaN where /proc is not there. */
  static double peakMb() {
    try {
      for (String line : Files.readAllLines(STATUS)) {
        if (line.startsWith("VmHWM:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
        }
      }
    } catch (IOException | NumberFormatException e) {
      // fall through
    }
    return Double.NaN;
  }
}
