package io.distilstream.tools.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The bench end to end on a small seeded model and one short run per pattern: figures, report and plots. */
class BenchITCase {
  @TempDir Path out;

  @Test
  void measuresEveryPatternAndWritesTheReportAndPlots() throws Exception {
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    int rc = Bench.run(new String[] {"--seeded", "distilbert-small", "--seconds", "1", "--runs", "1",
        "--patterns", "ceiling,ours,e2e,load,lone,mixed,plan", "--out", out.toString()}, new PrintStream(printed, true,
        StandardCharsets.UTF_8));
    assertThat(rc).isZero();

    JsonNode report = new ObjectMapper().readTree(out.resolve("report.json").toFile());
    Map<String, JsonNode> rows = new HashMap<>();
    report.get("results").forEach(r -> rows.put(r.get("id").asText(), r));
    assertThat(rows).containsKeys("ceiling-per-event", "ceiling-arrival", "ceiling-grouped", "ceiling-windowed",
        "ceiling-grouped-int8", "ceiling-padded", "ceiling-grouped-slots", "ceiling-windowed-slots",
        "ours-1-slot", "ours-slots", "ours-int8", "load-25",
        "load-50", "load-75", "load-90", "service-longest", "naive-per-record-mixed", "ours-mixed",
        "plan-ours-window-1", "plan-ours-window-4", "plan-ours-window-8", "plan-ceiling-grouped",
        "plan-ceiling-windowed", "ours-end-to-end", "lone-per-session", "lone-shared-pool",
        "lone-load-50-per-session", "lone-load-50-shared-pool");
    for (JsonNode r : rows.values()) {
      assertThat(r.get("events_per_second").asDouble()).as(r.get("id").asText()).isPositive();
    }
    assertThat(rows.get("ours-1-slot").get("runs_events_per_second")).hasSize(1);
    // whole passes: every row is fed the corpus' length distribution, but the longest texts' service time and the
    // mixed rows (which count a text once per task it asks for)
    double corpus = report.get("texts").get("mean_tokens").asDouble();
    for (JsonNode r : rows.values()) {
      String id = r.get("id").asText();
      if (!id.equals("service-longest") && !id.endsWith("-mixed") && !id.startsWith("lone-per-session")
          && !id.startsWith("lone-shared-pool")) {
        assertThat(r.get("tokens_per_text").asDouble()).as(r.get("id").asText()).isCloseTo(corpus,
            org.assertj.core.data.Percentage.withPercentage(3));
      }
    }
    assertThat(rows.get("service-longest").get("tokens_per_text").asDouble()).isGreaterThan(corpus);
    assertThat(report.get("ratios").has("plan_window_4_ours_over_windowed_ceiling")).isTrue();
    // issue 22: the Kafka job end to end came out above bare ONNX Runtime in its layout, because its clock stopped
    // at the last result's append, before the commit that makes results visible, and it ran minutes after the
    // ceiling it was compared with. Its clock now runs to the last result committed (so never shorter than the one
    // to the last append), and it runs interleaved with the operator and the ceilings of its layout, run by run
    JsonNode e2e = rows.get("ours-end-to-end");
    assertThat(e2e.get("clock").asText()).contains("committed");
    assertThat(e2e.get("layout").asText()).isEqualTo(rows.get("ours-slots").get("layout").asText());
    assertThat(e2e.get("events_per_second").asDouble())
        .isLessThanOrEqualTo(e2e.get("events_per_second_to_last_append").asDouble());
    for (String id : new String[] {"ours-slots", "ceiling-grouped-slots", "ceiling-windowed-slots"}) {
      assertThat(e2e.get("runs_events_per_second")).as(id).hasSameSizeAs(rows.get(id).get("runs_events_per_second"));
      assertThat(e2e.has("first_attempt")).as(id).isEqualTo(rows.get(id).has("first_attempt"));
    }
    assertThat(report.get("ratios").get("ours_end_to_end_over_grouped_ceiling").get("value").asDouble()).isPositive();
    // the lone long text: the longest bucket's texts, threads per session against the shared pool, and both at 50 %
    // load against the latency target
    assertThat(rows.get("lone-per-session").get("tokens_per_text").asDouble())
        .isGreaterThanOrEqualTo(Bench.LONGEST_BUCKET_FROM);
    for (String id : new String[] {"lone-per-session", "lone-shared-pool", "lone-load-50-per-session",
        "lone-load-50-shared-pool"}) {
      assertThat(rows.get(id).get("latency_ms").get("p99").asDouble()).as(id).isPositive();
    }
    for (String ratio : new String[] {"lone_text_p99_shared_pool_over_per_session",
        "p99_at_50_percent_load_per_session_ms", "p99_at_50_percent_load_shared_pool_ms"}) {
      assertThat(report.get("ratios").has(ratio)).as(ratio).isTrue();
    }
    assertThat(report.get("ratios").get("p99_at_50_percent_load_shared_pool_ms").has("met")).isTrue();
    // arrival order pads; grouping by length does not (much); padding to 128 pads most
    double arrival = rows.get("ceiling-arrival").get("padding_ratio").asDouble();
    double grouped = rows.get("ceiling-grouped").get("padding_ratio").asDouble();
    double padded = rows.get("ceiling-padded").get("padding_ratio").asDouble();
    assertThat(grouped).isBetween(1.0, 1.10); // the batcher's default padding bound
    // grouped within windows of 32 arrivals: the same padding bound, in smaller batches than the global plan
    assertThat(rows.get("ceiling-windowed").get("padding_ratio").asDouble()).isBetween(1.0, 1.10);
    assertThat(arrival).isGreaterThan(grouped);
    assertThat(padded).isGreaterThan(arrival);
    // the operator's batches come from its metrics
    JsonNode batches = rows.get("ours-slots").get("batches");
    assertThat(batches.get("count").asLong()).isPositive();
    assertThat(batches.get("max_size").asLong()).isBetween(1L, 32L);
    JsonNode latency = rows.get("load-50").get("latency_ms");
    assertThat(latency.get("p50").asDouble()).isPositive();
    assertThat(latency.get("p99").asDouble()).isGreaterThanOrEqualTo(latency.get("p50").asDouble());
    assertThat(report.get("ratios").has("ours_slots_over_ours_1_slot")).isTrue();
    // the latency target, measured against the single-text service time of the longest texts in this run
    assertThat(rows.get("service-longest").get("latency_ms").get("p99").asDouble()).isPositive();
    JsonNode target = report.get("latency_target");
    assertThat(target.get("target_p99_ms").asDouble()).isCloseTo(5 + 2 * target.get("service_p99_ms").asDouble(),
        org.assertj.core.data.Offset.offset(1e-9));
    assertThat(target.get("p99_ms").asDouble()).isEqualTo(latency.get("p99").asDouble());
    assertThat(target.get("status").asText()).isIn("met", "missed");
    assertThat(report.get("ratios").get("p99_at_50_percent_load_ms").get("met").asBoolean())
        .isEqualTo(target.get("status").asText().equals("met"));
    // the demo's mix: one result per (event, task), the same through both patterns, and the thread and memory
    // figures
    for (String id : new String[] {"naive-per-record-mixed", "ours-mixed"}) {
      JsonNode results = rows.get(id).get("results");
      long events = results.get("events").asLong();
      assertThat(events).as(id).isPositive();
      assertThat(results.get("classification").asLong()).as(id).isEqualTo(events);
      assertThat(results.get("entities").asLong()).as(id).isEqualTo((events + 3) / 4);
      assertThat(results.get("answer").asLong()).as(id).isEqualTo((events + 9) / 10);
      assertThat(results.get("dead_letter").asLong()).as(id).isZero();
      assertThat(rows.get(id).get("peak_threads").asInt()).as(id).isPositive();
      assertThat(rows.get(id).get("peak_rss_mib").asDouble()).as(id).isPositive();
    }
    assertThat(report.get("ratios").has("ours_mixed_over_naive_per_record_mixed")).isTrue();
    assertThat(report.get("ratios").has("ours_over_grouped_ceiling_same_layout")).isTrue();
    assertThat(report.get("ratios").has("ours_over_windowed_ceiling")).isTrue();
    assertThat(report.get("ratios").has("ceiling_grouped_over_windowed")).isTrue();
    assertThat(report.get("matmul_peak_gflops").asDouble()).isPositive();

    assertThat(Files.readString(out.resolve("report.md"))).contains("| ceiling | batches of 32, grouped by length |");
    assertThat(ImageIO.read(out.resolve("events-per-second.png").toFile())).isNotNull();
    assertThat(ImageIO.read(out.resolve("load.png").toFile())).isNotNull();
    assertThat(Files.readString(out.resolve("report.md"))).contains("latency target at 50% load: p99 ");
    assertThat(printed.toString(StandardCharsets.UTF_8)).contains("micro-batching operator")
        .contains("latency target at 50% load");
  }

  /**
   * Issue 21's row: three named models on one stream against three jobs of one model each; rows and counts, no timing. One
   * thread (one slot per job): half the events of two, and the row's logic is the same.
   */
  @Test
  void threeModelsOnOneStreamAgainstThreeJobs() throws Exception {
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    int rc = Bench.run(new String[] {"--seeded", "distilbert-small", "--seconds", "1", "--runs", "1",
        "--threads", "1", "--patterns", "models", "--out", out.toString()}, new PrintStream(printed, true, StandardCharsets.UTF_8));
    assertThat(rc).isZero();
    JsonNode report = new ObjectMapper().readTree(out.resolve("report.json").toFile());
    Map<String, JsonNode> rows = new HashMap<>();
    report.get("results").forEach(r -> rows.put(r.get("id").asText(), r));
    assertThat(rows).containsOnlyKeys("models-three-jobs", "models-one-stream", "models-one-stream-fair");
    for (JsonNode row : rows.values()) {
      String id = row.get("id").asText();
      assertThat(row.get("events_per_second").asDouble()).as(id).isPositive();
      JsonNode results = row.get("results");
      long events = results.get("events").asLong();
      assertThat(events).as(id).isPositive();
      // every event has its three results, whichever the layout: two classifiers and a question answerer
      assertThat(results.get("classification").asLong()).as(id).isEqualTo(2 * events);
      assertThat(results.get("entities").asLong()).as(id).isZero();
      assertThat(results.get("answer").asLong()).as(id).isEqualTo(events);
      assertThat(results.get("dead_letter").asLong()).as(id).isZero();
    }
    assertThat(report.get("ratios").has("models_one_stream_over_three_jobs")).isTrue();
    assertThat(report.get("ratios").has("models_fair_budget_over_none")).isTrue();
  }

  @Test
  void aNoisyPatternIsRunAgainAndReportedFromTheRerunNeverTheBetterOfTheTwo() throws Exception {
    Measurement m = new Measurement("p", "naive", "pattern", "1 slot x 2 thr");
    m.runs.add(run(100));
    m.runs.add(run(80)); // spread 22%
    m.rerunIfNoisy(2, r -> run(r == 0 ? 50 : 40)); // the rerun is worse, and still the one reported
    assertThat(m.firstAttempt).hasSize(2);
    assertThat(m.firstSpread()).isCloseTo(20.0 / 90, org.assertj.core.data.Offset.offset(1e-9));
    assertThat(m.eventsPerSecond()).isCloseTo(45, org.assertj.core.data.Offset.offset(1e-9));
    assertThat(m.startRerun()).as("only once").isFalse();

    Measurement quiet = new Measurement("q", "naive", "pattern", "1 slot x 2 thr");
    quiet.runs.add(run(100));
    quiet.runs.add(run(95));
    quiet.rerunIfNoisy(2, r -> {
      throw new AssertionError("a quiet pattern is not run again");
    });
    assertThat(quiet.firstAttempt).isNull();
    assertThat(quiet.eventsPerSecond()).isCloseTo(97.5, org.assertj.core.data.Offset.offset(1e-9));
  }

  private static Measurement.Run run(double eventsPerSecond) {
    return new Measurement.Run(Math.round(eventsPerSecond * 10), 0, 0, 10, 0, null, null);
  }
}
