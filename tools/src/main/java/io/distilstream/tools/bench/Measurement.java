package io.distilstream.tools.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** One pattern of the benchmark and its repeated runs; figures are medians over the runs, with their spread. */
final class Measurement {
  /**
   * One timed run. {@code batch} and {@code latenciesMs} are null where the pattern has none; {@code results} (the
   * results per kind) is null and {@code peakThreads} 0 where the run did not count them. {@code appendSeconds}: for
   * the end-to-end row, whose {@code seconds} run to its last result committed (seen by a read_committed consumer),
   * the seconds to its last result's append, before that commit; NaN elsewhere.
   */
  record Run(long events, long tokens, long paddedTokens, double seconds, double peakRssMb,
      BenchMetrics.Snapshot batch, double[] latenciesMs, Map<String, Long> results, int peakThreads,
      double appendSeconds) {
    Run(long events, long tokens, long paddedTokens, double seconds, double peakRssMb, BenchMetrics.Snapshot batch,
        double[] latenciesMs) {
      this(events, tokens, paddedTokens, seconds, peakRssMb, batch, latenciesMs, null, 0, Double.NaN);
    }

    /** This run with its results per kind and the process's peak thread count. */
    Run withMix(Map<String, Long> results, int peakThreads) {
      return new Run(events, tokens, paddedTokens, seconds, peakRssMb, batch, latenciesMs,
          java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(results)), peakThreads, appendSeconds);
    }

    /** This end-to-end run with the seconds to its last result's append ({@code seconds}: to its commit). */
    Run withAppendSeconds(double appendSeconds) {
      return new Run(events, tokens, paddedTokens, seconds, peakRssMb, batch, latenciesMs, results, peakThreads,
          appendSeconds);
    }

    double eventsPerSecond() { return events / seconds; }
    double tokensPerSecond() { return tokens / seconds; }

    /** Padded / real tokens: from the run's own count, else from the operator's metrics. */
    double padding() {
      if (paddedTokens > 0) {
        return (double) paddedTokens / tokens;
      }
      return batch != null && batch.tokens() > 0 ? batch.padding() : Double.NaN;
    }
  }

  final String id;
  final String group;
  final String pattern;
  final String layout;
  final List<Run> runs = new ArrayList<>();
  /** The runs of a first attempt whose spread passed {@link #NOISY}; null when the pattern was not run again. */
  List<Run> firstAttempt;
  /** For the load sweep: the rate offered, events per second; 0 for closed-loop runs. */
  double offeredRate;

  /** Spread (max - min) / median above which a pattern is run again. */
  static final double NOISY = 0.10;

  /** One run of a pattern; {@code r} counts the runs from 0. */
  interface RunOnce {
    Run run(int r) throws Exception;
  }

  Measurement(String id, String group, String pattern, String layout) {
    this.id = id;
    this.group = group;
    this.pattern = pattern;
    this.layout = layout;
  }

  double eventsPerSecond() { return median(runs.stream().mapToDouble(Run::eventsPerSecond).toArray()); }
  double tokensPerSecond() { return median(runs.stream().mapToDouble(Run::tokensPerSecond).toArray()); }
  /** Tokens per event over every run: the text distribution the pattern was fed (the corpus' for whole passes). */
  double tokensPerText() {
    long events = runs.stream().mapToLong(Run::events).sum();
    return events == 0 ? Double.NaN : (double) runs.stream().mapToLong(Run::tokens).sum() / events;
  }

  /**
   * The end-to-end row's events per second to its last result's append (before the commit that makes results
   * visible), median over the runs; NaN for other rows.
   */
  double eventsPerSecondToLastAppend() {
    return median(runs.stream().filter(r -> !Double.isNaN(r.appendSeconds()))
        .mapToDouble(r -> r.events() / r.appendSeconds()).toArray());
  }

  double minEventsPerSecond() { return runs.stream().mapToDouble(Run::eventsPerSecond).min().orElse(0); }
  double maxEventsPerSecond() { return runs.stream().mapToDouble(Run::eventsPerSecond).max().orElse(0); }

  /** (max - min) / median of events per second, over the runs. */
  double spread() {
    double m = eventsPerSecond();
    return m == 0 ? 0 : (maxEventsPerSecond() - minEventsPerSecond()) / m;
  }

  /**
   * When the spread passes {@link #NOISY}: keeps the runs as the first attempt, empties {@link #runs} for a rerun
   * and returns true. The figures then come from the rerun, whatever it gives: never the better of the two.
   */
  boolean startRerun() {
    if (runs.size() < 2 || spread() <= NOISY || firstAttempt != null) {
      return false;
    }
    firstAttempt = List.copyOf(runs);
    runs.clear();
    return true;
  }

  /** {@link #startRerun()}, then {@code runs} runs of {@code once}. */
  void rerunIfNoisy(int runs, RunOnce once) throws Exception {
    if (startRerun()) {
      for (int r = 0; r < runs; r++) {
        this.runs.add(once.run(r));
      }
    }
  }

  /**
   * Runs {@code rows} interleaved run by run ({@code how.get(i)} runs {@code rows.get(i)}), so that a slow minute
   * of the machine hits every row alike; if any row's spread passes {@link #NOISY}, every row runs again, interleaved
   * as before, and reports the rerun: the rows' ratios then never compare runs made under different load.
   */
  static void runInterleaved(int runs, List<Measurement> rows, List<RunOnce> how) throws Exception {
    if (rows.size() != how.size()) {
      throw new IllegalArgumentException(rows.size() + " rows, " + how.size() + " ways to run them");
    }
    for (int r = 0; r < runs; r++) {
      for (int i = 0; i < rows.size(); i++) {
        rows.get(i).runs.add(how.get(i).run(r));
      }
    }
    boolean noisy = rows.stream().anyMatch(m -> m.runs.size() >= 2 && m.spread() > NOISY && m.firstAttempt == null);
    if (!noisy) {
      return;
    }
    for (Measurement m : rows) {
      m.firstAttempt = List.copyOf(m.runs);
      m.runs.clear();
    }
    for (int r = 0; r < runs; r++) {
      for (int i = 0; i < rows.size(); i++) {
        rows.get(i).runs.add(how.get(i).run(r));
      }
    }
  }

  /** The first attempt's median events per second, NaN when there was no rerun. */
  double firstEventsPerSecond() {
    return firstAttempt == null ? Double.NaN
        : median(firstAttempt.stream().mapToDouble(Run::eventsPerSecond).toArray());
  }

  /** The first attempt's spread, NaN when there was no rerun. */
  double firstSpread() {
    if (firstAttempt == null) {
      return Double.NaN;
    }
    double m = firstEventsPerSecond();
    double max = firstAttempt.stream().mapToDouble(Run::eventsPerSecond).max().orElse(0);
    double min = firstAttempt.stream().mapToDouble(Run::eventsPerSecond).min().orElse(0);
    return m == 0 ? 0 : (max - min) / m;
  }

  double padding() { return median(runs.stream().mapToDouble(Run::padding).filter(d -> !Double.isNaN(d)).toArray()); }
  double peakRssMb() { return runs.stream().mapToDouble(Run::peakRssMb).max().orElse(0); }

  /** The most threads the process ran at once in any run (every thread, ONNX Runtime's too); 0 if not sampled. */
  int peakThreads() { return runs.stream().mapToInt(Run::peakThreads).max().orElse(0); }

  /** The last run's results per kind; null where the pattern does not count them. */
  Map<String, Long> results() {
    return runs.isEmpty() ? null : runs.get(runs.size() - 1).results();
  }

  /**
   * The operator's model share of its slots' time: its batches' time (model call and post-processing, from the
   * metrics) over slots x run time, in the median run; NaN without metrics. 1 - this is what the batcher threads
   * spent waiting for input: batch formation, max-wait, an empty queue.
   */
  double modelBusyShare() {
    if (runs.isEmpty()) {
      return Double.NaN;
    }
    Run r = runs.get(runs.size() / 2);
    if (r.batch() == null || r.batch().batches() == 0 || Double.isNaN(r.batch().meanBatchMs())) {
      return Double.NaN;
    }
    java.util.regex.Matcher slots = java.util.regex.Pattern.compile("^(\\d+) slots?").matcher(layout);
    int n = slots.find() ? Integer.parseInt(slots.group(1)) : 1;
    return r.batch().batches() * r.batch().meanBatchMs() / 1e3 / (n * r.seconds());
  }

  BenchMetrics.Snapshot batch() {
    return runs.isEmpty() ? null : runs.get(runs.size() / 2).batch();
  }

  /** A latency percentile over every run's events, in milliseconds; NaN without latencies. */
  double latencyMs(double q) {
    double[] all = runs.stream().filter(r -> r.latenciesMs() != null).flatMapToDouble(r -> Arrays.stream(
        r.latenciesMs())).sorted().toArray();
    if (all.length == 0) {
      return Double.NaN;
    }
    return all[(int) Math.min(all.length - 1, Math.ceil(q * all.length) - 1)];
  }

  static double median(double[] v) {
    if (v.length == 0) {
      return Double.NaN;
    }
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }
}
