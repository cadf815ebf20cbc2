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

  /**
   * The process's peak thread count (Linux {@code Threads:}, so ONNX Runtime's native threads count too), sampled
   * every 20 ms from {@link #sample()} to {@link #close()} on a daemon thread; 0 where /proc is not there.
   */
  static final class Threads implements AutoCloseable {
    private final java.util.concurrent.ScheduledExecutorService timer;
    private final java.util.concurrent.atomic.AtomicInteger peak = new java.util.concurrent.atomic.AtomicInteger();

    private Threads() {
      timer = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "bench-thread-sampler");
        t.setDaemon(true);
        return t;
      });
      timer.scheduleAtFixedRate(() -> peak.accumulateAndGet(current(), Math::max), 0, 20,
          java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    static Threads sample() {
      return new Threads();
    }

    /** The most threads seen so far, the sampler's own included. */
    int peak() {
      return Math.max(peak.get(), current());
    }

    @Override
    public void close() {
      timer.shutdownNow();
    }

    private static int current() {
      try {
        for (String line : Files.readAllLines(STATUS)) {
          if (line.startsWith("Threads:")) {
            return Integer.parseInt(line.replaceAll("[^0-9]", ""));
          }
        }
      } catch (IOException | NumberFormatException e) {
        // fall through
      }
      return 0;
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
