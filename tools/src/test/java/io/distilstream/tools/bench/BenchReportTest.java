package io.distilstream.tools.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.distilstream.runtime.model.Device;
import io.distilstream.runtime.model.ModelConfig;
import io.distilstream.runtime.tokenizer.Encoding;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The report's ratios against a ceiling: a Flink row above bare ONNX Runtime in its layout is not trusted. */
class BenchReportTest {
  /**
   * Issue 22: the reference run had the Kafka job end to end at 106.7 events/s against its ceiling's 100.5, and the
   * report printed "met". The job does the ceiling's model calls and more on the same cores, so the figure is not
   * a result: the report now says so.
   */
  @Test
  void aRatioAboveItsCeilingIsNotTrustedNorMet() throws Exception {
    BenchReport report = report();
    report.add(row("ceiling-grouped-slots", "ceiling", "2 x 1 thr", 100.5));
    report.add(row("ours-slots", "ours", "2 slots x 1 thr", 98.7));
    report.add(row("ours-end-to-end", "ours", "2 slots x 1 thr", 106.7));

    BenchReport.Ratio e2e = ratio(report, "ours_end_to_end_over_grouped_ceiling");
    assertThat(e2e.value()).isGreaterThan(1);
    assertThat(e2e.trusted()).isFalse();
    assertThat(e2e.verdict()).isEqualTo(BenchReport.NOT_TRUSTED);

    BenchReport.Ratio ours = ratio(report, "ours_over_grouped_ceiling_same_layout");
    assertThat(ours.value()).isLessThan(1);
    assertThat(ours.trusted()).isTrue();
    assertThat(ours.verdict()).isEqualTo("met");
    // a ratio against what is not its ceiling may pass 1
    assertThat(ratio(report, "ours_over_grouped_ceiling").trusted()).isTrue();
  }

  /**
   * The reference run of 2026-12-07: the operator 1.10 x per-record, under its 1.2 target, because the bare runtime
   * itself gained only 1.04 from batching on that CPU. The report gives that bound beside the miss.
   */
  @Test
  void theBatchingGainOfTheCeilingBoundsTheRatioOverPerRecord() throws Exception {
    BenchReport report = report();
    report.add(row("ceiling-per-event-slots", "ceiling", "2 x 1 thr", 60.1));
    report.add(row("ceiling-grouped-slots", "ceiling", "2 x 1 thr", 62.3));
    report.add(row("ours-slots", "ours", "2 slots x 1 thr", 64.2));
    report.add(row("naive-per-record-slots", "naive", "2 slots x 1 thr", 58.6));

    assertThat(ratio(report, "ceiling_grouped_over_per_event_same_layout").value()).isBetween(1.03, 1.04);
    BenchReport.Ratio perRecord = ratio(report, "ours_over_naive_per_record");
    assertThat(perRecord.value()).isBetween(1.09, 1.10);
    assertThat(perRecord.verdict()).isEqualTo("missed");
  }

  private static BenchReport report() throws Exception {
    ModelConfig config = ModelConfig.parse(new ObjectMapper().readTree("{\"model_type\": \"distilbert\", \"dim\": 8,"
        + " \"n_layers\": 1, \"n_heads\": 2, \"hidden_dim\": 16, \"vocab_size\": 30}"), Path.of("config.json"));
    return new BenchReport("test", config, Device.CPU, 2, 1, 1, List.of(Encoding.ofIds(new int[8], null)));
  }

  private static Measurement row(String id, String group, String layout, double eventsPerSecond) {
    Measurement m = new Measurement(id, group, "pattern", layout);
    m.runs.add(new Measurement.Run(Math.round(eventsPerSecond * 10), 0, 0, 10, 0, null, null));
    return m;
  }

  private static BenchReport.Ratio ratio(BenchReport report, String name) {
    return report.ratios().stream().filter(r -> r.name().equals(name)).findFirst().orElseThrow();
  }
}
