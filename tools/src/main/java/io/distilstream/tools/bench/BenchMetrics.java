package io.distilstream.tools.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricConfig;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.reporter.MetricReporter;
import org.apache.flink.metrics.reporter.MetricReporterFactory;

/**
 * A metric reporter that keeps the operator's metrics (group {@code distilstream}) of the benchmark's local cluster,
 * which runs in this JVM, so that a run can report the batch sizes and padding that formed. Registered through
 * META-INF/services; active only where a configuration names it (see {@link #addTo}).
 */
public final class BenchMetrics implements MetricReporter {
  private static final List<Registered> METRICS = new ArrayList<>();

  private record Registered(String name, Metric metric) {}

  /** What the operator's subtasks did in one run, summed over subtasks. */
  record Snapshot(long batches, long events, long tokens, long paddedTokens, long maxBatch, double p50Batch,
      double meanBatchMs, long cacheHits, long cacheMisses) {
    double meanBatch() { return batches == 0 ? 0 : (double) events / batches; }
    /** Share of the looked-up inputs the output cache served; NaN when the cache was off. */
    double cacheHitRate() {
      return cacheHits + cacheMisses == 0 ? Double.NaN : (double) cacheHits / (cacheHits + cacheMisses);
    }
    double padding() { return tokens == 0 ? 1 : (double) paddedTokens / tokens; }
  }

  static Configuration addTo(Configuration conf) {
    conf.setString("metrics.reporter.bench.factory.class", Factory.class.getName());
    synchronized (METRICS) {
      METRICS.clear();
    }
    return conf;
  }

  static Snapshot snapshot() {
    long batches = 0;
    long events = 0;
    long tokens = 0;
    long padded = 0;
    long max = 0;
    double p50 = 0;
    double batchMs = 0;
    int timed = 0;
    long hits = 0;
    long misses = 0;
    synchronized (METRICS) {
      for (Registered r : METRICS) {
        switch (r.name()) {
          case "batches" -> batches += ((Counter) r.metric()).getCount();
          case "events" -> events += ((Counter) r.metric()).getCount();
          case "tokens" -> tokens += ((Counter) r.metric()).getCount();
          case "paddedTokens" -> padded += ((Counter) r.metric()).getCount();
          case "cacheHits" -> hits += ((Counter) r.metric()).getCount();
          case "cacheMisses" -> misses += ((Counter) r.metric()).getCount();
          case "batchSize" -> {
            Histogram h = (Histogram) r.metric();
            if (h.getCount() > 0) {
              max = Math.max(max, h.getStatistics().getMax());
              p50 = Math.max(p50, h.getStatistics().getQuantile(0.5));
            }
          }
          case "batchLatencyMs" -> {
            Histogram h = (Histogram) r.metric();
            if (h.getCount() > 0) {
              batchMs += h.getStatistics().getMean();
              timed++;
            }
          }
          default -> { }
        }
      }
    }
    return new Snapshot(batches, events, tokens, padded, max, p50, timed == 0 ? Double.NaN : batchMs / timed,
        hits, misses);
  }

  @Override
  public void open(MetricConfig config) {}

  @Override
  public void close() {}

  @Override
  public void notifyOfAddedMetric(Metric metric, String name, MetricGroup group) {
    // the operator's own metrics only, not those of a sub-group (per model, per dead-letter reason): they repeat them
    if (group.getMetricIdentifier(name).endsWith(".distilstream." + name)) {
      synchronized (METRICS) {
        METRICS.add(new Registered(name, metric));
      }
    }
  }

  // kept after removal: the run's figures are read once the job has finished
  @Override
  public void notifyOfRemovedMetric(Metric metric, String name, MetricGroup group) {}

  /** The factory Flink instantiates from {@code metrics.reporter.bench.factory.class}. */
  public static final class Factory implements MetricReporterFactory {
    @Override
    public MetricReporter createMetricReporter(Properties properties) {
      return new BenchMetrics();
    }
  }
}
