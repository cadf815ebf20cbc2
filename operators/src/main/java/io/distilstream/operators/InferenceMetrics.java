package io.distilstream.operators;

import io.distilstream.runtime.pipeline.MicroBatcher;
import io.distilstream.runtime.pipeline.ModelOutputCache;
import io.distilstream.schemas.ModelInfo;
import java.util.EnumMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
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
 * {@code cancelledRequests} (requests of timed-out events dropped before they ran) counters; and {@code deadLetters}
 * once more per {@link DeadLetterReason} in a {@code reason} group (a {@code reason} label in Prometheus); and a
 * {@code serving} gauge per task, model and version ever loaded (groups {@code task}, {@code model}, {@code version}):
 * 1 for the version the task serves now, 0 for one a reload replaced; with the output cache
 * on, {@code cacheHits} and {@code cacheMisses} (inputs of this subtask served from the TaskManager's cache, or by a
 * repeat in the same batch, and those that ran through the model) and {@code cacheEvictions} (entries this
 * subtask's inputs pushed out).
 *
 * <p>Per model, in the {@code task} group of its name, as the {@code serving} gauge (a per-task model's name is its
 * task's id) ({@link #forModel}): {@code queueDepth} gauge (requests waiting for a
 * batch), {@code batchLatencyMs} histogram (a batch's service time: model call and post-processing),
 * {@code budgetWaitMs} histogram (time a batch waited for the TaskManager's thread budget; empty with
 * {@code inference.scheduling=none}) and {@code batches} counter. {@code budgetWaitMs} is also kept for all models.
 */
public final class InferenceMetrics implements MicroBatcher.Listener, ModelOutputCache.Listener {
  public static final String GROUP = "distilstream";
  private static final int WINDOW = 1024;

  private final Histogram batchSize = new DescriptiveStatisticsHistogram(WINDOW);
  private final Histogram paddingRatio = new DescriptiveStatisticsHistogram(WINDOW);
  private final Histogram batchLatencyMs = new DescriptiveStatisticsHistogram(WINDOW);
  private final Histogram eventLatencyMs = new DescriptiveStatisticsHistogram(WINDOW);
  private final Histogram budgetWaitMs = new DescriptiveStatisticsHistogram(WINDOW);
  /** The per-model listeners by model name: a reload's new batcher reports to the same metrics. */
  private final Map<String, ModelMetrics> models = new ConcurrentHashMap<>();
  private final Counter batches;
  private final Counter events;
  private final Counter tokens;
  private final Counter paddedTokens;
  private final Counter deadLetters;
  private final Counter cancelledRequests;
  /**
   * Dead letters by reason, registered for every reason up front: a dashboard's series exist (at 0) before the first
   * dead letter, and the label's values are the enum's, so their number is bounded.
   */
  private final Map<DeadLetterReason, Counter> deadLettersByReason = new EnumMap<>(DeadLetterReason.class);
  /** The group the metrics are in, for the {@code serving} gauges a reload adds. */
  private final MetricGroup group;
  /** The model (name@version) each task id serves now; read by the {@code serving} gauges. */
  private final Map<String, String> serving = new ConcurrentHashMap<>();
  /** The task/name@version whose gauge is registered: a reload back to an earlier version reuses its gauge. */
  private final Set<String> servingGauges = ConcurrentHashMap.newKeySet();
  private final Counter cacheHits;
  private final Counter cacheMisses;
  private final Counter cacheEvictions;
  /** Batches inside their model call right now, over the subtask's models (fault runs strike while one is). */
  private final AtomicInteger modelCallsRunning = new AtomicInteger();

  public InferenceMetrics(MetricGroup parent, IntSupplier queueDepth) {
    MetricGroup g = parent.addGroup(GROUP);
    group = g;
    g.histogram("batchSize", batchSize);
    g.histogram("paddingRatio", paddingRatio);
    g.histogram("batchLatencyMs", batchLatencyMs);
    g.histogram("eventLatencyMs", eventLatencyMs);
    g.histogram("budgetWaitMs", budgetWaitMs);
    g.gauge("queueDepth", (Gauge<Integer>) queueDepth::getAsInt);
    g.gauge("modelCallsRunning", (Gauge<Integer>) modelCallsRunning::get);
    batches = g.counter("batches");
    events = g.counter("events");
    tokens = g.counter("tokens");
    paddedTokens = g.counter("paddedTokens");
    // counted on the operator's thread and on every batcher thread, without this object's lock
    deadLetters = g.counter("deadLetters", new ThreadSafeSimpleCounter());
    cancelledRequests = g.counter("cancelledRequests", new ThreadSafeSimpleCounter());
    for (DeadLetterReason r : DeadLetterReason.values()) {
      deadLettersByReason.put(r, g.addGroup("reason", r.code()).counter("deadLetters", new ThreadSafeSimpleCounter()));
    }
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

  @Override
  public synchronized void onBudgetWait(long nanos) {
    budgetWaitMs.update(nanos / 1_000_000);
  }

  @Override
  public void onModelCallStart() {
    modelCallsRunning.incrementAndGet();
  }

  @Override
  public void onModelCallEnd() {
    modelCallsRunning.decrementAndGet();
  }

  /**
   * The listener of the batcher of model {@code name}: it updates this subtask's metrics and the model's own
   * ({@code task} group of the model's name, as {@link #onServing}); {@code queueDepth} reads the model's queue. One
   * per model: a reload's new batcher gets the same one.
   */
  public MicroBatcher.Listener forModel(String name, IntSupplier queueDepth) {
    return models.computeIfAbsent(name, n -> new ModelMetrics(group.addGroup("task", n), queueDepth));
  }

  /** One model's metrics, on top of the subtask's. */
  private final class ModelMetrics implements MicroBatcher.Listener {
    private final Histogram batchLatencyMs = new DescriptiveStatisticsHistogram(WINDOW);
    private final Histogram budgetWaitMs = new DescriptiveStatisticsHistogram(WINDOW);
    private final Counter batches;

    ModelMetrics(MetricGroup g, IntSupplier queueDepth) {
      g.gauge("queueDepth", (Gauge<Integer>) queueDepth::getAsInt);
      g.histogram("batchLatencyMs", batchLatencyMs);
      g.histogram("budgetWaitMs", budgetWaitMs);
      batches = g.counter("batches", new ThreadSafeSimpleCounter());
    }

    @Override
    public void onBatch(int size, int tokens, int paddedTokens, long nanos) {
      InferenceMetrics.this.onBatch(size, tokens, paddedTokens, nanos);
      synchronized (this) {
        batchLatencyMs.update(nanos / 1_000_000);
      }
      batches.inc();
    }

    @Override
    public void onBudgetWait(long nanos) {
      InferenceMetrics.this.onBudgetWait(nanos);
      synchronized (this) {
        budgetWaitMs.update(nanos / 1_000_000);
      }
    }

    @Override
    public void onCancelled(int count) {
      InferenceMetrics.this.onCancelled(count);
    }

    @Override
    public void onModelCallStart() {
      InferenceMetrics.this.onModelCallStart();
    }

    @Override
    public void onModelCallEnd() {
      InferenceMetrics.this.onModelCallEnd();
    }
  }

  synchronized void onEventDone(long nanos) {
    eventLatencyMs.update(nanos / 1_000_000);
  }

  public void onDeadLetter(DeadLetterReason reason) {
    deadLetters.inc();
    deadLettersByReason.get(reason).inc();
  }

  /** Notes that {@code task} serves {@code model} from now on (at open, and after a reload switched it). */
  public void onServing(String task, ModelInfo model) {
    String id = model.getName() + "@" + model.getVersion();
    serving.put(task, id);
    if (servingGauges.add(task + "/" + id)) {
      group.addGroup("task", task).addGroup("model", model.getName()).addGroup("version", model.getVersion())
          .gauge("serving", (Gauge<Integer>) () -> id.equals(serving.get(task)) ? 1 : 0);
    }
  }

  /** {@link #onDeadLetter(DeadLetterReason)} for a dead-letter record's reason code. */
  void onDeadLetter(String code) {
    onDeadLetter(DeadLetterReason.valueOf(code));
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
