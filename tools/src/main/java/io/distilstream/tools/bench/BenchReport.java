package io.distilstream.tools.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.distilstream.runtime.model.Device;
import io.distilstream.runtime.model.ModelConfig;
import io.distilstream.runtime.tokenizer.Encoding;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;

/** The benchmark's figures: the printed lines, the ratios with their targets, report.md, report.json and plots. */
final class BenchReport {
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * A ratio of two figures of this run, with the target the project aims at (NaN: none). {@code underIsCeiling}:
   * {@code under} is bare ONNX Runtime in {@code over}'s layout on the oracle's batches, so a value above 1 cannot be
   * a real result (a Flink row does the ceiling's model calls and more on the same cores): the two figures differ in
   * clock, workload or the minute they were measured, and the ratio is reported as not trusted (issue 22: the Kafka
   * job end to end came out at 1.06 of its ceiling).
   */
  record Ratio(String name, double value, double target, boolean atMost, String meaning, Measurement over,
      Measurement under, boolean underIsCeiling) {
    /** A ratio not drawn on the plot. */
    Ratio(String name, double value, double target, boolean atMost, String meaning) {
      this(name, value, target, atMost, meaning, null, null, false);
    }

    /** {@code over}'s events per second against {@code under}'s, drawn on the plot where it has a target. */
    static Ratio of(String name, Measurement over, Measurement under, double target, String meaning) {
      return new Ratio(name, eps(over) / eps(under), target, false, meaning, over, under, false);
    }

    /** As {@link #of}, {@code under} being {@code over}'s ceiling: above 1 it is not trusted. */
    static Ratio ofCeiling(String name, Measurement over, Measurement under, double target, String meaning) {
      return new Ratio(name, eps(over) / eps(under), target, false, meaning, over, under, true);
    }

    boolean known() { return !Double.isNaN(value) && !Double.isInfinite(value); }

    /** Above its ceiling: a figure no run of the pattern can honestly reach (see {@code underIsCeiling}). */
    boolean trusted() { return !underIsCeiling || !known() || value <= 1; }

    String verdict() {
      if (!trusted()) {
        return NOT_TRUSTED;
      }
      if (Double.isNaN(target) || !known()) {
        return "";
      }
      return (atMost ? value <= target : value >= target) ? "met" : "missed";
    }
  }

  /** The verdict of a ratio above its ceiling. */
  static final String NOT_TRUSTED = "not trusted: above its ceiling";

  private final String model;
  private final ModelConfig config;
  private final Device device;
  private final int threads;
  private final int seconds;
  private final int runs;
  private final int[] lengths;
  private final List<Measurement> measurements = new ArrayList<>();
  private double flopsPerToken = Double.NaN;
  private double peakGflops = Double.NaN;

  BenchReport(String model, ModelConfig config, Device device, int threads, int seconds, int runs,
      List<Encoding> encodings) {
    this.model = model;
    this.config = config;
    this.device = device;
    this.threads = threads;
    this.seconds = seconds;
    this.runs = runs;
    this.lengths = encodings.stream().mapToInt(Encoding::length).sorted().toArray();
  }

  Measurement add(Measurement m) {
    measurements.add(m);
    return m;
  }

  List<Measurement> measurements() {
    return List.copyOf(measurements);
  }

  void roofline(double flopsPerToken, double peakGflops) {
    this.flopsPerToken = flopsPerToken;
    this.peakGflops = peakGflops;
  }

  double meanTokens() { return Arrays.stream(lengths).average().orElse(0); }

  private int pct(double q) { return lengths[(int) Math.min(lengths.length - 1, q * lengths.length)]; }

  String header() {
    return String.format(Locale.ROOT, "model %s (dim %d, %d layers), %s, %d cores, thread budget %d%n"
        + "texts: %d fortunes, tokens per text mean %.1f, median %d, p90 %d, p99 %d, max %d (truncated to %d)%n"
        + "each pattern: warm-up, then %d run(s) of about %d s; events/s is the median, spread (max-min)/median;%n"
        + "a Flink run is timed from its first input handed to an opened operator to its last result, with at least "
        + Bench.MIN_BATCHES_PER_SLOT + " batches per slot (per-record rows: --seconds at the per-event ceiling's"
        + " rate);%nevery pattern is fed whole passes of " + BenchTexts.PASS
        + " texts (each pass has the corpus' length histogram; a run ends at the end of a pass);%n"
        + "a pattern whose spread passes "
        + Math.round(100 * Measurement.NOISY) + "%% is run again and reported from the rerun",
        model, config.hiddenSize(), config.numLayers(), device.name().toLowerCase(Locale.ROOT),
        Runtime.getRuntime().availableProcessors(), threads, lengths.length, meanTokens(), pct(0.5), pct(0.9),
        pct(0.99), lengths[lengths.length - 1], Ceiling.MAX_LEN, runs, seconds);
  }

  String line(Measurement m) {
    StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
        "%-8s %-50s %-16s %8.1f ev/s ±%3.0f%% %9.0f tok/s %5.1f tok/text", m.group, m.pattern, m.layout,
        m.eventsPerSecond(), 100 * m.spread(), m.tokensPerSecond(), m.tokensPerText()));
    if (!Double.isNaN(m.padding())) {
      sb.append(String.format(Locale.ROOT, "  padding x%.2f", m.padding()));
    }
    BenchMetrics.Snapshot b = m.batch();
    if (b != null && b.batches() > 0) {
      sb.append(String.format(Locale.ROOT, "  batch mean %.1f p50 %.0f max %d", b.meanBatch(), b.p50Batch(),
          b.maxBatch()));
      if (!Double.isNaN(m.modelBusyShare())) {
        sb.append(String.format(Locale.ROOT, "  model busy %.0f%%", 100 * m.modelBusyShare()));
      }
    }
    if (b != null && !Double.isNaN(b.cacheHitRate())) {
      sb.append(String.format(Locale.ROOT, "  cache hits %.0f%%", 100 * b.cacheHitRate()));
    }
    if (!Double.isNaN(m.latencyMs(0.5))) {
      sb.append(String.format(Locale.ROOT, "  p50/p95/p99 %.0f/%.0f/%.0f ms", m.latencyMs(0.5), m.latencyMs(0.95),
          m.latencyMs(0.99)));
    }
    if (m.peakThreads() > 0) {
      sb.append(String.format(Locale.ROOT, "  peak threads %d, peak RSS %.0f MiB", m.peakThreads(), m.peakRssMb()));
    }
    if (m.results() != null) {
      sb.append("  results ").append(m.results());
    }
    if (!Double.isNaN(m.eventsPerSecondToLastAppend())) {
      sb.append(String.format(Locale.ROOT, "  (to the last append, before its commit: %.1f ev/s)",
          m.eventsPerSecondToLastAppend()));
    }
    if (m.firstAttempt != null) {
      sb.append(String.format(Locale.ROOT, "  rerun (first: %.1f ev/s ±%.0f%%)", m.firstEventsPerSecond(),
          100 * m.firstSpread()));
    }
    return sb.toString();
  }

  private Measurement find(String id) {
    return measurements.stream().filter(m -> m.id.equals(id) && !m.runs.isEmpty()).findFirst().orElse(null);
  }

  private static String layout(Measurement m) {
    return m == null ? "(not run)" : m.layout;
  }

  private static double eps(Measurement m) {
    return m == null ? Double.NaN : m.eventsPerSecond();
  }

  List<Ratio> ratios() {
    Measurement one = find("ours-1-slot");
    Measurement slots = find("ours-slots");
    Measurement ours = one == null ? slots : slots == null ? one
        : slots.eventsPerSecond() > one.eventsPerSecond() ? slots : one;
    Measurement e2e = find("ours-end-to-end");
    Measurement grouped = find("ceiling-grouped");
    Measurement groupedSlots = find("ceiling-grouped-slots");
    Measurement groupedBest = grouped == null ? groupedSlots : groupedSlots == null ? grouped
        : groupedSlots.eventsPerSecond() > grouped.eventsPerSecond() ? groupedSlots : grouped;
    // end to end against the ceiling of the same layout
    Measurement groupedLikeE2e = e2e != null && !e2e.layout.startsWith("1 slot") ? groupedSlots : grouped;
    List<Ratio> r = new ArrayList<>();
    r.add(Ratio.ofCeiling("ours_end_to_end_over_grouped_ceiling", e2e, groupedLikeE2e, 0.9,
        "the Kafka job (" + layout(e2e) + ") against bare ORT on length-grouped batches (" + layout(groupedLikeE2e)
        + ")"));
    r.add(new Ratio("ours_over_grouped_ceiling", eps(ours) / eps(groupedBest), Double.NaN, false,
        "the operator (" + layout(ours) + ") against the best grouped ceiling (" + layout(groupedBest) + ")"));
    // the operator against both ceilings in its own layout: the oracle (planned over every text at once) and the
    // realisable one (planned within windows of 32 arrivals, as the operator plans one collected batch)
    boolean oursOnSlots = ours != null && ours == slots;
    Measurement groupedLikeOurs = oursOnSlots ? groupedSlots : grouped;
    Measurement windowedLikeOurs = find(oursOnSlots ? "ceiling-windowed-slots" : "ceiling-windowed");
    r.add(Ratio.ofCeiling("ours_over_grouped_ceiling_same_layout", ours, groupedLikeOurs, 0.9,
        "the operator (" + layout(ours) + ") against bare ORT on batches grouped over all texts, the oracle ("
        + layout(groupedLikeOurs) + ")"));
    r.add(new Ratio("ours_over_windowed_ceiling", eps(ours) / eps(windowedLikeOurs), Double.NaN, false,
        "the operator (" + layout(ours) + ") against bare ORT grouped within windows of 32 arrivals, the realisable"
        + " ceiling (" + layout(windowedLikeOurs) + ")"));
    Measurement windowedLikeE2e = find(e2e != null && !e2e.layout.startsWith("1 slot") ? "ceiling-windowed-slots"
        : "ceiling-windowed");
    r.add(new Ratio("ours_end_to_end_over_windowed_ceiling", eps(e2e) / eps(windowedLikeE2e), Double.NaN, false,
        "the Kafka job (" + layout(e2e) + ") against bare ORT grouped within windows of 32 arrivals ("
        + layout(windowedLikeE2e) + ")"));
    r.add(new Ratio("ceiling_grouped_over_windowed", eps(grouped) / eps(find("ceiling-windowed")), Double.NaN,
        false, "what planning over all texts buys over planning within windows of 32 arrivals (both "
        + layout(grouped) + ")"));
    r.add(Ratio.of("ours_over_naive_count_window", ours, find("naive-window"), 2.3,
        "the operator (" + layout(ours) + ") against a Flink count window of 32 padded to its longest member, in"
        + " arrival order (" + layout(find("naive-window")) + ")"));
    r.add(new Ratio("ours_over_naive_count_window_padded_128", eps(ours) / eps(find("naive-window-padded")),
        Double.NaN, false, "against the same window padded to 128"));
    Measurement perRecord = find("naive-per-record");
    Measurement perRecordSlots = find("naive-per-record-slots");
    Measurement perRecordLikeOurs = ours == slots && perRecordSlots != null ? perRecordSlots : perRecord;
    r.add(Ratio.of("ours_over_naive_per_record", ours, perRecordLikeOurs, 1.2,
        "the operator against a per-record AsyncFunction, both " + layout(perRecordLikeOurs)
        + " (the operator's best layout)"));
    // the most batching can buy on this machine: an operator that batches cannot beat a per-record function by more
    // than the bare runtime gains from grouped batches over single texts in the same layout (on a CPU where one
    // text already keeps the vector units busy, little: 1.04 in one reference run, docs/bench.md)
    Measurement perEventLikeOurs = find(oursOnSlots ? "ceiling-per-event-slots" : "ceiling-per-event");
    r.add(new Ratio("ceiling_grouped_over_per_event_same_layout", eps(groupedLikeOurs) / eps(perEventLikeOurs),
        Double.NaN, false, "what batching buys the bare runtime in the operator's layout (" + layout(groupedLikeOurs)
        + "): the bound on ours_over_naive_per_record"));
    r.add(Ratio.of("ours_1_slot_over_naive_per_record", one, perRecord, 1.0,
        "both " + layout(perRecord) + ": never below"));
    r.add(Ratio.of("ours_slots_over_naive_per_record_slots", slots, perRecordSlots, 1.0,
        "both " + layout(perRecordSlots) + ": never below"));
    r.add(Ratio.of("ours_int8_over_naive_per_record_int8", find("ours-int8"), find("naive-per-record-int8"), 1.2,
        "both on the int8 model, both "
        + layout(find("naive-per-record-int8"))));
    r.add(new Ratio("ours_int8_over_naive_per_record", eps(find("ours-int8")) / eps(perRecord), Double.NaN,
        false, "the operator on the int8 model (" + layout(find("ours-int8")) + ") against the per-record"
        + " AsyncFunction in float32 (" + layout(perRecord) + "): not like for like, see the row above"));
    r.add(Ratio.of("ours_over_djl", ours, find("peer-djl"), 1.5,
        "the operator (" + layout(ours) + ") against DJL batchPredict with its Hugging Face translator, batches"
        + " of 32 (" + layout(find("peer-djl")) + ")"));
    r.add(new Ratio("ours_over_djl_sorted", eps(ours) / eps(find("peer-djl-sorted")), Double.NaN, false,
        "the operator (" + layout(ours) + ") against DJL batchPredict on texts sorted by length first, the best a"
        + " DJL user could do (" + layout(find("peer-djl-sorted")) + ")"));
    r.add(new Ratio("ours_mixed_over_naive_per_record_mixed", eps(find("ours-mixed"))
        / eps(find("naive-per-record-mixed")), Double.NaN, false, "the demo's mix of tasks: the operator ("
        + layout(find("ours-mixed")) + ") against per-record functions (" + layout(find("naive-per-record-mixed"))
        + ")"));
    r.add(new Ratio("models_one_stream_over_three_jobs", eps(find("models-one-stream"))
        / eps(find("models-three-jobs")), Double.NaN, false, "issue 21: three models on one stream, one operator"
        + " with the three (" + layout(find("models-one-stream")) + ") against three jobs of one model each run at"
        + " once (" + layout(find("models-three-jobs")) + "), events with all three results out per second"));
    r.add(new Ratio("models_fair_budget_over_none", eps(find("models-one-stream-fair"))
        / eps(find("models-one-stream")), Double.NaN, false, "the same operator with its batchers on the fair"
        + " thread budget (inference.scheduling=fair) against threads of their own"));
    r.add(new Ratio("ours_slots_over_ours_1_slot", eps(slots) / eps(one), Double.NaN, false,
        "N slots x 1 thread against 1 slot x N threads"));
    r.add(new Ratio("ceiling_grouped_over_arrival_order", eps(grouped) / eps(find("ceiling-arrival")), Double.NaN,
        false, "what length grouping buys the bare runtime"));
    r.add(new Ratio("ceiling_per_event_slots_over_1_session", eps(find("ceiling-per-event-slots"))
        / eps(find("ceiling-per-event")), Double.NaN, false, "N sessions x 1 thread against 1 x N, batch 1"));
    r.add(new Ratio("ceiling_grouped_int8_over_fp32", eps(find("ceiling-grouped-int8")) / eps(grouped), Double.NaN,
        false, "the same model dynamically quantized to int8 (build-model --quantize int8: per-row activations,"
        + " batch-invariant), same batches"));
    r.add(new Ratio("ceiling_grouped_int8_per_tensor_over_fp32", eps(find("ceiling-grouped-int8-per-tensor"))
        / eps(grouped), Double.NaN, false, "int8 with per-tensor activations (Optimum's form, batch-dependent"
        + " results), same batches"));
    r.add(new Ratio("ceiling_grouped_int8_rewritten_over_fp32", eps(find("ceiling-grouped-int8-rewritten"))
        / eps(grouped), Double.NaN, false, "Optimum's per-tensor form rewritten to per-row at load, same batches"));
    r.add(new Ratio("ceiling_grouped_fp16_over_fp32", eps(find("ceiling-grouped-fp16")) / eps(grouped), Double.NaN,
        false, "the same model in float16 (build-model --dtype fp16) on the GPU, same batches"));
    // issue 22, item 3 (pattern plan): the batcher's plan window, before and after, against both ceilings
    for (Measurement p : measurements) {
      if (p.id.startsWith("plan-ours-window-") && !p.runs.isEmpty()) {
        String w = p.id.substring("plan-ours-window-".length());
        r.add(Ratio.ofCeiling("plan_window_" + w + "_ours_over_grouped_ceiling", p, find("plan-ceiling-grouped"),
            Double.NaN, "the operator planning over " + w + " batch(es) of queued requests against the oracle"
            + " ceiling, interleaved (" + p.layout + ")"));
        r.add(new Ratio("plan_window_" + w + "_ours_over_windowed_ceiling", eps(p)
            / eps(find("plan-ceiling-windowed")), Double.NaN, false, "the same against the windowed ceiling"));
      }
    }
    double achieved = groupedBest == null ? Double.NaN : groupedBest.tokensPerSecond() * flopsPerToken / 1e9;
    r.add(new Ratio("achieved_over_peak_flops", achieved / peakGflops, Double.NaN, false,
        "best grouped ceiling's FLOP/s against the measured MatMul rate"));
    Measurement half = find("load-50");
    if (half != null) {
      r.add(new Ratio("p99_at_50_percent_load_ms", half.latencyMs(0.99), latencyBoundMs(), true,
          String.format(Locale.ROOT, "target: max-wait (%d ms) + 2 x the p99 single-text service time of the "
              + "longest texts on one thread (%.1f ms) = %.1f ms", FlinkPatterns.MAX_WAIT_MS, serviceP99Ms(),
              latencyBoundMs())));
    }
    // issue 22, item 6 (pattern lone): a long text alone, and 50 % load, threads per session against the shared pool
    Measurement loneOwn = find("lone-per-session");
    Measurement lonePool = find("lone-shared-pool");
    if (loneOwn != null && lonePool != null) {
      r.add(new Ratio("lone_text_p50_shared_pool_over_per_session", lonePool.latencyMs(0.5)
          / loneOwn.latencyMs(0.5), Double.NaN, false, String.format(Locale.ROOT, "a long text alone on an idle job"
          + ", p50 latency: the TaskManager's shared pool (%s, %.1f ms) against threads per session (%s, %.1f ms)",
          lonePool.layout, lonePool.latencyMs(0.5), loneOwn.layout, loneOwn.latencyMs(0.5))));
      r.add(new Ratio("lone_text_p99_shared_pool_over_per_session", lonePool.latencyMs(0.99)
          / loneOwn.latencyMs(0.99), Double.NaN, false, String.format(Locale.ROOT, "the same, p99 (%.1f ms against"
          + " %.1f ms)", lonePool.latencyMs(0.99), loneOwn.latencyMs(0.99))));
    }
    for (String[] row : new String[][] {{"lone-load-50-per-session", "per_session", "threads per session"},
        {"lone-load-50-shared-pool", "shared_pool", "the TaskManager's shared pool"}}) {
      Measurement m = find(row[0]);
      if (m != null) {
        r.add(new Ratio("p99_at_50_percent_load_" + row[1] + "_ms", m.latencyMs(0.99), latencyBoundMs(), true,
            String.format(Locale.ROOT, "%s (%s), interleaved with the lone-text rows; target max-wait + 2 x the p99"
                + " single-text service time = %.1f ms", row[2], m.layout, latencyBoundMs())));
      }
    }
    return r;
  }

  /** The p99 single-text service time of the longest texts on one thread, measured in this run; NaN if not run. */
  private double serviceP99Ms() {
    Measurement service = find("service-longest");
    return service == null ? Double.NaN : service.latencyMs(0.99);
  }

  /** Issue 22's latency target: p99 at 50% load at most max-wait + 2 x the p99 single-text service time. */
  private double latencyBoundMs() {
    return FlinkPatterns.MAX_WAIT_MS + 2 * serviceP99Ms();
  }

  /** The latency target at 50% load, its figures and its status, in one line. */
  String latencyTarget() {
    Measurement half = find("load-50");
    double p99 = half == null ? Double.NaN : half.latencyMs(0.99);
    String status = Double.isNaN(p99) || Double.isNaN(latencyBoundMs()) ? "not measured"
        : p99 <= latencyBoundMs() ? "met" : "missed";
    return String.format(Locale.ROOT, "latency target at 50%% load: p99 <= max-wait %d ms + 2 x %.1f ms (p99 "
        + "single-text service time, longest texts, one thread) = %.1f ms; measured p99 %.1f ms: %s",
        FlinkPatterns.MAX_WAIT_MS, serviceP99Ms(), latencyBoundMs(), p99, status);
  }

  String ratiosTable() {
    StringBuilder sb = new StringBuilder();
    for (Ratio r : ratios()) {
      if (r.known()) {
        sb.append(String.format(Locale.ROOT, "%-42s %8.2f %s%s%n", r.name(), r.value(),
            Double.isNaN(r.target()) ? "" : (r.atMost() ? "(target <= " : "(target >= ")
                + String.format(Locale.ROOT, "%.2f) ", r.target()), r.verdict()));
      }
    }
    if (!Double.isNaN(peakGflops)) {
      sb.append(String.format(Locale.ROOT, "roofline: MatMul peak %.0f GFLOP/s, model %.1f MFLOP per token%n",
          peakGflops, flopsPerToken / 1e6));
    }
    return sb.toString();
  }

  void write(Path dir, double elapsedSeconds) throws Exception {
    ObjectNode json = JSON.createObjectNode();
    json.put("model", model);
    json.put("hidden_size", config.hiddenSize());
    json.put("layers", config.numLayers());
    json.put("device", device.name().toLowerCase(Locale.ROOT));
    json.put("cores", Runtime.getRuntime().availableProcessors());
    json.put("thread_budget", threads);
    json.put("seconds_per_run", seconds);
    json.put("runs", runs);
    json.put("elapsed_seconds", elapsedSeconds);
    ObjectNode texts = json.putObject("texts");
    texts.put("source", "Debian fortunes (4,000 texts)");
    texts.put("count", lengths.length);
    texts.put("mean_tokens", meanTokens());
    texts.put("median_tokens", pct(0.5));
    texts.put("p90_tokens", pct(0.9));
    texts.put("p99_tokens", pct(0.99));
    texts.put("max_tokens", lengths[lengths.length - 1]);
    texts.put("truncated_to", Ceiling.MAX_LEN);
    if (!Double.isNaN(peakGflops)) {
      json.put("matmul_peak_gflops", peakGflops);
      json.put("model_mflop_per_token", flopsPerToken / 1e6);
    }
    if (find("load-50") != null) {
      ObjectNode target = json.putObject("latency_target");
      target.put("load_share", 0.5);
      target.put("max_wait_ms", FlinkPatterns.MAX_WAIT_MS);
      putNumber(target, "service_p99_ms", serviceP99Ms());
      putNumber(target, "target_p99_ms", latencyBoundMs());
      putNumber(target, "p99_ms", find("load-50").latencyMs(0.99));
      String status = latencyTarget();
      target.put("status", status.substring(status.lastIndexOf(": ") + 2));
    }
    ArrayNode rows = json.putArray("results");
    StringBuilder md = new StringBuilder("# distilstream bench\n\n");
    md.append("```\n").append(header()).append("\n```\n\n");
    md.append(lengthHistogram());
    md.append("\n| group | pattern | layout | events/s | spread | tokens/s | tokens/text | padding "
        + "| batch mean / p50 / max | latency p50 / p95 / p99 ms | peak RSS MiB | peak threads |\n"
        + "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (Measurement m : measurements) {
      if (m.runs.isEmpty()) {
        continue;
      }
      ObjectNode row = rows.addObject();
      row.put("id", m.id);
      row.put("group", m.group);
      row.put("pattern", m.pattern);
      row.put("layout", m.layout);
      row.put("events_per_second", m.eventsPerSecond());
      row.put("events_per_second_min", m.minEventsPerSecond());
      row.put("events_per_second_max", m.maxEventsPerSecond());
      row.put("tokens_per_second", m.tokensPerSecond());
      putNumber(row, "tokens_per_text", m.tokensPerText());
      ArrayNode each = row.putArray("runs_events_per_second");
      m.runs.forEach(run -> each.add(run.eventsPerSecond()));
      if (m.firstAttempt != null) {
        ObjectNode first = row.putObject("first_attempt");
        first.put("events_per_second", m.firstEventsPerSecond());
        first.put("spread", m.firstSpread());
        ArrayNode firstRuns = first.putArray("runs_events_per_second");
        m.firstAttempt.forEach(run -> firstRuns.add(run.eventsPerSecond()));
      }
      if (!Double.isNaN(m.eventsPerSecondToLastAppend())) {
        // the end-to-end row: its events/s run to the last result committed; this one to its append, before it
        row.put("clock", "first input handed to the opened operator to the last result committed");
        row.put("events_per_second_to_last_append", m.eventsPerSecondToLastAppend());
        ArrayNode toAppend = row.putArray("runs_events_per_second_to_last_append");
        m.runs.forEach(run -> toAppend.add(run.events() / run.appendSeconds()));
      }
      putNumber(row, "padding_ratio", m.padding());
      putNumber(row, "peak_rss_mib", m.peakRssMb());
      if (m.peakThreads() > 0) {
        row.put("peak_threads", m.peakThreads());
      }
      if (m.results() != null) {
        ObjectNode rn = row.putObject("results");
        rn.put("events", m.runs.get(m.runs.size() - 1).events());
        m.results().forEach(rn::put);
      }
      if (m.offeredRate > 0) {
        row.put("offered_events_per_second", m.offeredRate);
      }
      BenchMetrics.Snapshot b = m.batch();
      String batch = "";
      if (b != null && b.batches() > 0) {
        ObjectNode bn = row.putObject("batches");
        bn.put("count", b.batches());
        bn.put("mean_size", b.meanBatch());
        bn.put("p50_size", b.p50Batch());
        bn.put("max_size", b.maxBatch());
        putNumber(bn, "mean_ms", b.meanBatchMs());
        putNumber(bn, "model_busy_share", m.modelBusyShare());
        putNumber(row, "cache_hit_rate", b.cacheHitRate());
        batch = String.format(Locale.ROOT, "%.1f / %.0f / %d", b.meanBatch(), b.p50Batch(), b.maxBatch());
        if (!Double.isNaN(b.cacheHitRate())) {
          batch += String.format(Locale.ROOT, "; cache hits %.0f%%", 100 * b.cacheHitRate());
        }
      }
      String latency = "";
      if (!Double.isNaN(m.latencyMs(0.5))) {
        ObjectNode ln = row.putObject("latency_ms");
        ln.put("p50", m.latencyMs(0.5));
        ln.put("p95", m.latencyMs(0.95));
        ln.put("p99", m.latencyMs(0.99));
        latency = String.format(Locale.ROOT, "%.0f / %.0f / %.0f", m.latencyMs(0.5), m.latencyMs(0.95),
            m.latencyMs(0.99));
      }
      md.append(String.format(Locale.ROOT,
          "| %s | %s | %s | %.1f | %.0f%%%s | %.0f | %.1f | %s | %s | %s | %.0f | %s |%n",
          m.group, m.pattern, m.layout, m.eventsPerSecond(), 100 * m.spread(), m.firstAttempt == null ? ""
              : String.format(Locale.ROOT, " (rerun; first %.0f%%)", 100 * m.firstSpread()), m.tokensPerSecond(),
          m.tokensPerText(), Double.isNaN(m.padding()) ? "" : String.format(Locale.ROOT, "x%.2f", m.padding()),
          batch, latency,
          m.peakRssMb(), m.peakThreads() > 0 ? Integer.toString(m.peakThreads()) : ""));
    }
    ObjectNode ratios = json.putObject("ratios");
    md.append("\n| ratio | value | target | | meaning |\n|---|---|---|---|---|\n");
    for (Ratio r : ratios()) {
      if (!r.known()) {
        continue;
      }
      ObjectNode rn = ratios.putObject(r.name());
      rn.put("value", r.value());
      putNumber(rn, "target", r.target());
      if (!r.verdict().isEmpty()) {
        rn.put("met", r.verdict().equals("met"));
      }
      if (!r.trusted()) {
        rn.put("trusted", false);
      }
      md.append(String.format(Locale.ROOT, "| %s | %.2f | %s | %s | %s |%n", r.name(), r.value(),
          Double.isNaN(r.target()) ? "" : (r.atMost() ? "≤ " : "≥ ") + String.format(Locale.ROOT, "%.2f",
              r.target()), r.verdict(), r.meaning()));
    }
    if (!Double.isNaN(peakGflops)) {
      md.append(String.format(Locale.ROOT, "%nRoofline: ONNX Runtime's MatMul (1024 x %d x %d, %d threads) runs at "
          + "%.0f GFLOP/s here; the model costs %.1f MFLOP per token at the texts' mean length.%n",
          config.hiddenSize(), config.intermediateSize(), threads, peakGflops, flopsPerToken / 1e6));
    }
    md.append(String.format(Locale.ROOT, "%nFlink rows are timed from the first input handed to an opened operator "
        + "to the last result (job start-up excluded); the end-to-end row from then to the moment its last result "
        + "was committed (seen by a read_committed consumer polling while the job runs; every result is then "
        + "checked exactly once), interleaved run by run with the operator and the ceilings of its layout. Load rows time each event from when the "
        + "open-loop generator was due to emit it (the first tenth is warm-up). Every row is fed whole passes of "
        + BenchTexts.PASS + " texts, each with the corpus' length histogram, so tokens/text shows the corpus' mean "
        + "(%.1f) on every row but the cache rows (their repeats lean towards the first texts, by design), the mixed "
        + "rows (a text counts once per task) and service-longest (the longest texts only): events/s compare like with like. Whole bench: %.0f s.%n",
        meanTokens(),
        elapsedSeconds));
    if (find("load-50") != null) {
      md.append("\n").append(latencyTarget().replace("<=", "≤")).append(".\n");
    }
    md.append("\n![events per second](events-per-second.png)\n");
    if (measurements.stream().anyMatch(m -> m.offeredRate > 0 && !m.runs.isEmpty())) {
      md.append("\n![throughput and p99 against offered load](load.png)\n");
    }
    Files.writeString(dir.resolve("report.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(json));
    Files.writeString(dir.resolve("report.md"), md.toString());
    plots(dir);
  }

  private static void putNumber(ObjectNode n, String key, double v) {
    if (Double.isNaN(v) || Double.isInfinite(v)) {
      n.putNull(key);
    } else {
      n.put(key, v);
    }
  }

  private String lengthHistogram() {
    int[] edges = {8, 16, 24, 32, 48, 64, 96, 128};
    Map<String, Integer> counts = new LinkedHashMap<>();
    int lo = 0;
    for (int e : edges) {
      int from = lo;
      counts.put((from + 1) + "–" + e, (int) Arrays.stream(lengths).filter(l -> l > from && l <= e).count());
      lo = e;
    }
    StringBuilder sb = new StringBuilder("Tokens per text (with [CLS] and [SEP]):\n\n| tokens | texts |\n|---|---|\n");
    counts.forEach((k, v) -> sb.append("| ").append(k).append(" | ").append(v).append(" |\n"));
    return sb.toString();
  }

  private void plots(Path dir) throws Exception {
    System.setProperty("java.awt.headless", "true");
    // the lone-text rows' events/s are the rate offered, as the load rows': latency rows, not bars
    List<Measurement> bars = measurements.stream().filter(m -> m.offeredRate == 0 && !m.runs.isEmpty()
        && !m.id.startsWith("lone-")).toList();
    if (!bars.isEmpty()) {
      List<BarPlot.Target> targets = new ArrayList<>();
      for (Ratio r : ratios()) {
        if (r.over() != null && r.under() != null && !Double.isNaN(r.target()) && r.known()) {
          targets.add(new BarPlot.Target(r.over(), r.under(), r.target(), r.name()));
        }
      }
      BarPlot.write(dir.resolve("events-per-second.png"), "events/s per pattern, " + model + " ("
          + device.name().toLowerCase(Locale.ROOT) + ", " + Runtime.getRuntime().availableProcessors() + " cores)",
          bars, targets);
    }
    List<Measurement> load = measurements.stream().filter(m -> m.offeredRate > 0 && !m.runs.isEmpty()).toList();
    if (!load.isEmpty()) {
      XYChart chart = new XYChartBuilder().width(1000).height(600)
          .title("the operator under open-loop load").xAxisTitle("offered events/s").build();
      double[] offered = load.stream().mapToDouble(m -> m.offeredRate).toArray();
      XYSeries achieved = chart.addSeries("achieved events/s", offered,
          load.stream().mapToDouble(Measurement::eventsPerSecond).toArray());
      achieved.setYAxisGroup(0);
      for (double q : new double[] {0.5, 0.99}) {
        XYSeries s = chart.addSeries(String.format(Locale.ROOT, "p%.0f latency ms", q * 100), offered,
            load.stream().mapToDouble(m -> m.latencyMs(q)).toArray());
        s.setYAxisGroup(1);
      }
      chart.setYAxisGroupTitle(0, "events/s");
      chart.setYAxisGroupTitle(1, "latency ms");
      chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW);
      BitmapEncoder.saveBitmap(chart, dir.resolve("load.png").toString(), BitmapEncoder.BitmapFormat.PNG);
    }
  }
}
