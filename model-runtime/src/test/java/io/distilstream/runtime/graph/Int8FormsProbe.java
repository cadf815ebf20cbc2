package io.distilstream.runtime.graph;

import io.distilstream.runtime.model.ModelConfig;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.model.SessionOptions;
import io.distilstream.runtime.tokenizer.Encoding;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Random;

/**
 * A measurement, not a test: the seeded full-size DistilBERT-base (text classification) as fp32, per-tensor int8
 * (Optimum's form, run as it is), per-tensor int8 rewritten to per-row at load, and per-row int8 as built, on the
 * same batches of 32 fortunes grouped by length, interleaved batch by batch so that load hits all alike.
 * Args: THREADS [TEXTS [ROUNDS]].
 */
public final class Int8FormsProbe {
  public static void main(String[] args) throws Exception {
    int threads = Integer.parseInt(args[0]);
    int n = args.length > 1 ? Integer.parseInt(args[1]) : 256;
    int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 2;
    ModelConfig config = ModelConfig.parse(Presets.config("distilbert-base", "text-classification"),
        Path.of("distilbert-base"));
    GraphBuilder.Head head = GraphBuilder.Head.SEQUENCE_CLASSIFICATION;
    Weights weights = Weights.seeded(1, config.initializerRange());
    byte[] fp32 = GraphBuilder.build(config, head, weights);
    byte[] perTensor = GraphBuilder.build(config, head, weights,
        Precision.int8().activation(Int8Quantizer.Activation.PER_TENSOR));
    byte[] perRow = GraphBuilder.build(config, head, weights, Precision.int8());
    PerRowQuantization.UNFUSED_OUTPUT = false;
    byte[] perRowDiv = GraphBuilder.build(config, head, weights, Precision.int8());
    PerRowQuantization.UNFUSED_OUTPUT = true;
    List<Encoding> texts = PrecisionTest.fortunes(n);
    List<Encoding> sorted = new ArrayList<>(texts);
    sorted.sort(Comparator.comparingInt(Encoding::length));
    List<List<Encoding>> batches = new ArrayList<>();
    for (int i = 0; i < sorted.size(); i += 32) {
      batches.add(sorted.subList(i, Math.min(sorted.size(), i + 32)));
    }
    Collections.shuffle(batches, new Random(1));
    SessionOptions o = SessionOptions.defaults().intraOpThreads(threads);
    String[] names = {"fp32", "int8 per-tensor (as is)", "int8 per-tensor rewritten", "int8 per-row built",
        "int8 per-row, MMITF-fused (unsafe)"};
    ModelSession[] s = {
        ModelSession.open(fp32, Path.of("fp32"), o),
        ModelSession.open(perTensor, Path.of("per-tensor"), o, ModelSession.Int8Policy.asIsBatched()),
        ModelSession.open(perTensor, Path.of("rewritten"), o, new ModelSession.Int8Policy(true, false)),
        ModelSession.open(perRow, Path.of("per-row"), o),
        ModelSession.open(perRowDiv, Path.of("per-row-div"), o)};
    long[] nanos = new long[s.length];
    // with one intra-op thread ORT computes on the calling thread: its CPU time ignores time spent waiting for a
    // core on a loaded machine
    var bean = java.lang.management.ManagementFactory.getThreadMXBean();
    boolean cpu = threads == 1;
    long tokens = 0;
    for (ModelSession m : s) {
      m.run(batches.get(0));
    }
    for (int r = 0; r < rounds; r++) {
      for (int b = 0; b < batches.size(); b++) {
        for (int k = 0; k < s.length; k++) {
          int which = (k + b) % s.length; // rotate who goes first
          long t = cpu ? bean.getCurrentThreadCpuTime() : System.nanoTime();
          s[which].run(batches.get(b));
          nanos[which] += (cpu ? bean.getCurrentThreadCpuTime() : System.nanoTime()) - t;
        }
        for (Encoding e : batches.get(b)) {
          tokens += e.length();
        }
      }
    }
    for (int k = 0; k < s.length; k++) {
      System.out.printf((cpu ? "cpu-time " : "wall ") + "threads=%d %-28s %7.0f tokens/s  x%.2f vs fp32  (%s)%n", threads, names[k],
          tokens / (nanos[k] / 1e9), (double) nanos[0] / nanos[k], s[k].loadPath());
      s[k].close();
    }
  }
}
