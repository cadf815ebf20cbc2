package io.distilstream.operators.shadow;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.distilstream.operators.InferenceMetrics;
import io.distilstream.runtime.compare.Agreement;
import io.distilstream.schemas.LabelFlip;
import io.distilstream.schemas.ShadowSummary;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Accumulates each primary/shadow pair's comparisons (keyed by {@link ShadowPair#key()}) in checkpointed keyed state
 * and writes a {@link ShadowSummary} every {@code inference.shadow.summary-every} compared events: the figures of
 * that window, then a fresh window. With the job's transactional sink each summary is written exactly once.
 *
 * <p>Metrics per pair, in the subtask's {@code distilstream} group under {@code primary} and {@code shadow} groups:
 * {@code shadowCompared} and {@code shadowUnpaired} counters, and {@code shadowTop1Agreement},
 * {@code shadowMeanAbsScoreDelta}, {@code shadowSpanF1}, {@code shadowExactMatch} gauges over every event this
 * subtask compared since it started (NaN where the figure does not apply).
 */
public final class ShadowSummarizer extends KeyedProcessFunction<String, ShadowComparison, ShadowSummary> {
  private static final long serialVersionUID = 1L;
  private static final ObjectMapper JSON = new ObjectMapper();

  /** The open window of one pair: a Flink POJO. */
  public static final class Window {
    /** The window's counts ({@link Agreement#toJson}). */
    public String agreement;
    /** Events not compared in the window. */
    public long unpaired;
    /** Processing time of the window's first compared event. */
    public long start;
    /** Processing time of its last compared event. */
    public long end;
    /** The latest versions and task seen. */
    public String primaryVersion;
    public String shadowVersion;
    public String task;

    public Window() {}
  }

  private final ShadowOptions.Settings settings;
  private transient ValueState<Window> window;
  private transient Map<String, PairMetrics> metrics;

  public ShadowSummarizer(ShadowOptions.Settings settings) {
    this.settings = settings;
  }

  @Override
  public void open(OpenContext openContext) {
    window = getRuntimeContext().getState(new ValueStateDescriptor<>("window", Types.POJO(Window.class)));
    metrics = new HashMap<>();
  }

  @Override
  public void processElement(ShadowComparison c, Context ctx, Collector<ShadowSummary> out) throws Exception {
    PairMetrics m = metrics.computeIfAbsent(c.pair,
        k -> new PairMetrics(getRuntimeContext().getMetricGroup(), c.primary, c.shadow, settings.maxFlipPairs()));
    Window w = window.value();
    if (w == null) {
      w = new Window();
    }
    if (c.primaryVersion != null) {
      w.primaryVersion = c.primaryVersion;
    }
    if (c.shadowVersion != null) {
      w.shadowVersion = c.shadowVersion;
    }
    if (c.task != null) {
      w.task = c.task;
    }
    if (!c.compared()) {
      w.unpaired++;
      m.unpaired.inc();
      window.update(w);
      return;
    }
    Agreement one = parse(c.agreement);
    Agreement a = w.agreement == null ? new Agreement(settings.maxFlipPairs())
        : parse(w.agreement);
    a.merge(one);
    m.total.merge(one);
    m.compared.inc();
    if (w.agreement == null) {
      w.start = c.time;
    }
    w.end = Math.max(w.end, c.time);
    if (a.compared() >= settings.summaryEvery()) {
      out.collect(summary(c, w, a));
      window.clear();
      return;
    }
    w.agreement = a.toJson().toString();
    window.update(w);
  }

  private static Agreement parse(String json) {
    try {
      return Agreement.fromJson(JSON.readTree(json));
    } catch (IOException e) {
      throw new UncheckedIOException("unreadable agreement state " + json, e);
    }
  }

  /** The summary of a window's counts. */
  static ShadowSummary summary(ShadowComparison c, Window w, Agreement a) {
    List<LabelFlip> flips = new ArrayList<>();
    for (Map.Entry<String, Long> e : a.flips().entrySet()) {
      int arrow = e.getKey().indexOf(Agreement.ARROW);
      flips.add(new LabelFlip(e.getKey().substring(0, arrow),
          e.getKey().substring(arrow + Agreement.ARROW.length()), e.getValue()));
    }
    return ShadowSummary.newBuilder()
        .setPrimary(c.primary)
        .setPrimaryVersion(w.primaryVersion == null ? "" : w.primaryVersion)
        .setShadow(c.shadow)
        .setShadowVersion(w.shadowVersion == null ? "" : w.shadowVersion)
        .setTask(w.task == null ? "" : w.task)
        .setEventsCompared(a.compared())
        .setUnpaired(w.unpaired)
        .setTop1Agreement(a.top1Agreement())
        .setMeanAbsScoreDelta(a.meanAbsScoreDelta())
        .setFlips(flips)
        .setFlipsOther(a.otherFlips())
        .setSpanF1(a.spanF1())
        .setExactMatch(a.exactMatch())
        .setWindowStart(java.time.Instant.ofEpochMilli(w.start))
        .setWindowEnd(java.time.Instant.ofEpochMilli(w.end))
        .build();
  }

  /** One pair's metrics in this subtask. */
  private static final class PairMetrics {
    final Counter compared;
    final Counter unpaired;
    final Agreement total;

    PairMetrics(MetricGroup root, String primary, String shadow, int maxFlipPairs) {
      MetricGroup g = root.addGroup(InferenceMetrics.GROUP).addGroup("primary", primary).addGroup("shadow", shadow);
      // read by the reporter's thread while the task's thread adds: a gauge may be one event behind
      total = new Agreement(maxFlipPairs);
      compared = g.counter("shadowCompared");
      unpaired = g.counter("shadowUnpaired");
      g.gauge("shadowTop1Agreement", (Gauge<Double>) () -> nan(total.top1Agreement()));
      g.gauge("shadowMeanAbsScoreDelta", (Gauge<Double>) () -> nan(total.meanAbsScoreDelta()));
      g.gauge("shadowSpanF1", (Gauge<Double>) () -> nan(total.spanF1()));
      g.gauge("shadowExactMatch", (Gauge<Double>) () -> nan(total.exactMatch()));
    }

    private static double nan(Double d) {
      return d == null ? Double.NaN : d;
    }
  }
}
