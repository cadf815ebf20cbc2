package io.distilstream.runtime.model;

import io.distilstream.runtime.tokenizer.Encoding;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * A measurement, not a test: the time of one model call on a batch of B sequences of L tokens (median of runs after
 * warm-up), and the Java heap allocated per call. Args: MODEL_ONNX THREADS B L [RUNS [OPT_LEVEL]].
 */
public final class BatchCostProbe {
  public static void main(String[] args) throws Exception {
    Path onnx = Path.of(args[0]);
    int threads = Integer.parseInt(args[1]);
    int b = Integer.parseInt(args[2]);
    int l = Integer.parseInt(args[3]);
    int runs = args.length > 4 ? Integer.parseInt(args[4]) : 10;
    String opt = args.length > 5 ? args[5] : "all";
    Random r = new Random(1);
    List<Encoding> batch = new ArrayList<>();
    for (int i = 0; i < b; i++) {
      int[] ids = new int[l];
      ids[0] = 101;
      for (int t = 1; t < l - 1; t++) {
        ids[t] = 1000 + r.nextInt(20000);
      }
      ids[l - 1] = 102;
      batch.add(Encoding.ofIds(ids, null));
    }
    var bean = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    try (ModelSession s = ModelSession.open(onnx, SessionOptions.defaults().intraOpThreads(threads).optimizationLevel(opt))) {
      for (int i = 0; i < 3; i++) {
        s.run(batch);
      }
      long[] nanos = new long[runs];
      long allocated = 0;
      for (int i = 0; i < runs; i++) {
        long a0 = bean.getCurrentThreadAllocatedBytes();
        long t0 = System.nanoTime();
        s.run(batch);
        nanos[i] = System.nanoTime() - t0;
        allocated += bean.getCurrentThreadAllocatedBytes() - a0;
      }
      Arrays.sort(nanos);
      double ms = nanos[runs / 2] / 1e6;
      System.out.printf("%s opt=" + opt + " threads=%d batch=%dx%d: median %.1f ms per call, %.0f tokens/s, %.1f KiB Java heap"
          + " per call%n", onnx.getParent().getFileName(), threads, b, l, ms, b * l / (ms / 1000),
          allocated / (double) runs / 1024);
    }
  }
}
