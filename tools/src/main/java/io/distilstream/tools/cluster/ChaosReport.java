package io.distilstream.tools.cluster;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** A fault run's report: {@code report.json} (every field) and {@code report.md} (tables of the faults). */
final class ChaosReport {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private ChaosReport() {}

  /** Writes {@code report.json} and {@code report.md} into {@code dir}. */
  static void write(Path dir, Map<String, Object> report, List<Map<String, Object>> faults) throws IOException {
    Files.createDirectories(dir);
    JSON.writeValue(dir.resolve("report.json").toFile(), report);
    StringBuilder md = new StringBuilder("# distilstream fault run\n\n");
    md.append(String.format(Locale.ROOT, "**%s**: lost=%s duplicated=%s dead-lettered=%s%n%n",
        Boolean.TRUE.equals(report.get("pass")) ? "PASS" : "FAIL", report.get("lost"), report.get("duplicated"),
        report.get("deadLettered")));
    md.append("| | |\n|---|---|\n");
    for (String k : List.of("events", "hostile", "expectedResults", "results", "restarts",
        "restartsBeforeFirstFault", "hostileKindsBeforeFirstFault", "rate",
        "restartsWithoutInjectedFault", "kills", "deadLetterReasonsByKind", "parallelism", "checkpointInterval",
        "seed", "rescale", "transactionNaming", "targetsMet", "durationSeconds")) {
      md.append("| ").append(k).append(" | ").append(report.get(k)).append(" |\n");
    }
    md.append("\n## Faults\n\n| # | fault | at results | detail |\n|---|---|---|---|\n");
    int i = 1;
    for (Map<String, Object> f : faults) {
      Map<String, Object> detail = new LinkedHashMap<>(f);
      detail.remove("fault");
      detail.remove("atResults");
      detail.remove("readerPerPartition"); // in report.json
      md.append("| ").append(i++).append(" | ").append(f.get("fault")).append(" | ").append(f.get("atResults"))
          .append(" | ").append(detail).append(" |\n");
    }
    md.append("\n## What a read_committed reader saw\n\nPer fault, over the result partitions: from the fault (a broker"
        + " restart: from the broker being back) to the first visible result after it (max and p50 over partitions),"
        + " the largest time between two consecutive visible results up to the next fault, and when the job wrote"
        + " again (LogAppendTime of the first committed result after the fault). Target: a kill within checkpoint"
        + " interval + 10 s, a broker restart within 10 s, a rescale's downtime under 10 s.\n\n"
        + "| # | fault | in flight | resume max ms | resume p50 ms | largest gap ms | written again ms | downtime ms"
        + " | target ms | within |\n|---|---|---|---|---|---|---|---|---|---|\n");
    i = 1;
    for (Map<String, Object> f : faults) {
      md.append(String.format(Locale.ROOT, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n", i++,
          f.get("fault"), f.get("inFlight"), f.get("readerResumeMs"), f.get("readerResumeP50Ms"),
          f.get("readerGapMs"), f.get("writeResumeMs"), f.getOrDefault("downtimeMs", ""), f.get("targetMs"),
          f.get("withinTarget")));
    }
    md.append("\nOver the faults of each kind: ").append(report.get("readerSide")).append("; targets met: ")
        .append(report.get("targetsMet")).append('\n');
    Files.writeString(dir.resolve("report.md"), md.toString(), StandardCharsets.UTF_8);
  }

  /** What failed, for the line after {@code FAILED: }. */
  static String failure(long lost, long duplicated, List<String> wrong, long unexplainedRestarts,
      List<String> faultsAfterLastInput, boolean targetsMet, boolean enforceTargets) {
    return (lost > 0 ? "results lost; " : "") + (duplicated > 0 ? "results duplicated; " : "")
        + (wrong.isEmpty() ? "" : wrong.size() + " dead letters not hostile or with the wrong reason "
        + wrong.subList(0, Math.min(5, wrong.size())) + "; ")
        + (unexplainedRestarts > 0 ? unexplainedRestarts + " restarts without an injected fault; " : "")
        + (faultsAfterLastInput.isEmpty() || !enforceTargets ? ""
            : "faults with no event in flight " + faultsAfterLastInput + "; ")
        + (targetsMet || !enforceTargets ? "" : "a fault's recovery missed its target (see report.md)");
  }

  /** One decimal. */
  static double round(double d) {
    return Math.round(d * 10) / 10.0;
  }
}
