package io.distilstream.operators;

import io.distilstream.runtime.pipeline.MicroBatcher;
import io.distilstream.runtime.pipeline.ModelOutputCache;
import java.util.function.IntSupplier;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Meter;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.ThreadSafeSimpleCounter;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;

/**
 * The operator's metrics, in the subtask's metric group under {@code distilstream}: {@code batchSize} and
 * {@code paddingRatio} (padded / real tokens, in percent) histograms per model call, {@code batchLatencyMs} and
 * {@code eventLatencyMs} histograms, {@code queueDepth} gauge, {@code eventsPerSecond} and {@code tokensPerSecond}
 * meters, {@code batches}, {@code events}, {@code tokens}, {@code paddedTokens}, {@code deadLetters} and
 * {@code cancelledRequests} (requests of timed-out events dropped before they ran) counters; with the output cache
 * on, {@code cacheHits} and {@code cacheMisses} (inputs of this subtask served from the TaskManager's cache, or by a
 * repeat in the same batch, and those that ran through the model) and {@code cacheEvictions} (entries this
 * subtask's inputs pushed out).
 */
public final class InferenceMetrics implements MicroBatcher.Listener, ModelOutputCache.Listener {
  public static final String GROUP = "distilstream";
  private static final int WINDOW = 1024;

  private final Histogram batchSize = new DescriptiveStatisticsHistogram(WINDOW);
  private final Histogram paddingRatio = new DescriptiveStatisticsHistogram(WINDOW);
  private final Histogram batchLatencyMs = new DescriptiveStatisticsHistogram(WINDOW);
  private final Histogram eventLatencyMs = new DescriptiveStatisticsHistogram(WINDOW);
  private final Counter batches;
  private final Counter events;
  private final Counter tokens;
  private final Counter paddedTokens;
  private final Counter deadLetters;
  private final Counter cancelledRequests;
  private final Counter cacheHits;
  private final Counter cacheMisses;
  private final Counter cacheEvictions;

  public InferenceMetrics(MetricGroup parent, IntSupplier queueDepth) {
    MetricGroup g = parent.addGroup(GROUP);
    g.histogram("batchSize", batchSize);
    g.histogram("paddingRatio", paddingRatio);
    g.histogram("batchLatencyMs", batchLatencyMs);
    g.histogram("eventLatencyMs", eventLatencyMs);
    g.gauge("queueDepth", (Gauge<Integer>) queueDepth::getAsInt);
    batches = g.counter("batches");
    events = g.counter("events");
    tokens = g.counter("tokens");
    paddedTokens = g.counter("paddedTokens");
    // counted on the operator's thread and on every batcher thread, without this object's lock
    deadLetters = g.counter("deadLetters", new ThreadSafeSimpleCounter());
    cancelledRequests = g.counter("cancelledRequests", new ThreadSafeSimpleCounter());
    // counted by the batcher thread of every task
    cacheHits = g.counter("cacheHits", new ThreadSafeSimpleCounter());
    cacheMisses = g.counter("cacheMisses", new ThreadSafeSimpleCounter());
    cacheEvictions = g.counter("cacheEvictions", new ThreadSafeSimpleCounter());
    g.meter("eventsPerSecond", new MeterView(events));
    g.meter("tokensPerSecond", (Meter) new MeterView(tokens));
  }

  // batcher threads of several tasks report here; the histograms are not thread-safe
  @Override
  public synchronized void onBatch(int size, int batchTokens, int paddedTokens, long nanos) {
    batchSize.update(size);
    paddingRatio.update(batchTokens == 0 ? 100 : Math.round(100.0 * paddedTokens / batchTokens));
    batchLatencyMs.update(nanos / 1_000_000);
    batches.inc();
    events.inc(size);
    tokens.inc(batchTokens);
    this.paddedTokens.inc(paddedTokens);
  }

  synchronized void onEventDone(long nanos) {
    eventLatencyMs.update(nanos / 1_000_000);
  }

  public void onDeadLetter() {
    deadLetters.inc();
  }

  @Override
  public void onCancelled(int count) {
    cancelledRequests.inc(count);
  }

  @Override
  public void onLookups(int hits, int misses) {
    cacheHits.inc(hits);
    cacheMisses.inc(misses);
  }

  @Override
  public void onEvictions(int count) {
    cacheEvictions.inc(count);
  }
}
