package io.distilstream.tools.cluster;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The verdict of a fault run, from what a read_committed consumer read back ({@link ResultCounter}): every good
 * event's results exactly once, every hostile record dead-lettered once with its reason (or, {@code .ok}, enriched
 * once per task), and what the reader saw of each fault against its target.
 */
final class ChaosVerifier {
  /** A broker restart's and a rescale's target: results flowing again within this long. */
  static final long TARGET_MS = 10_000;

  private ChaosVerifier() {}

  /** Over the faults of each kind: counts, p50 and max of resume and gap; whether every fault met its target. */
  record ReaderSide(Map<String, Object> summary, boolean targetsMet) {}

  /**
   * Results against the input: {@code lost} and {@code duplicated} over good events, hostile records and results
   * nobody asked for (counted as duplicated); the expected and read results per task; the hostile verdict.
   */
  record Counts(long lost, long duplicated, Map<String, Long> expectedPerTask, Map<String, Long> resultsPerTask,
      HostileVerdict hostile) {}

  /**
   * What a read_committed reader of the result topics saw of each fault, per partition: from the fault (for a broker
   * restart: from the broker being back) to the first result visible after it, and the largest time between two
   * consecutive visible results up to the next fault; beside it the same from the results' LogAppendTime (when the
   * job wrote again: the difference is commit latency, and any transaction left open holding the reader back).
   * Each fault is held to its target; the report gives p50 and max over the faults of each kind.
   */
  static ReaderSide readerSide(List<Map<String, Object>> faults, Map<String, long[][]> timelines,
      Duration checkpointInterval, long end) {
    Map<String, List<Long>> resumes = new TreeMap<>();
    Map<String, List<Long>> gaps = new TreeMap<>();
    boolean met = true;
    for (int i = 0; i < faults.size(); i++) {
      Map<String, Object> f = faults.get(i);
      String kind = (String) f.get("fault");
      long t0 = (Long) f.get("startedAtMillis");
      long from = kind.equals("broker-restart") ? (Long) f.get("backAtMillis") : t0;
      long until = i + 1 < faults.size() ? (Long) faults.get(i + 1).get("startedAtMillis") : end;
      Map<String, Object> perPartition = new TreeMap<>();
      List<Long> partitionResumes = new ArrayList<>();
      long resume = -1;
      long gap = -1;
      long written = -1;
      for (var e : timelines.entrySet()) {
        ResultCounter.Gap g = ResultCounter.gapAround(e.getValue()[0], from, until);
        ResultCounter.Gap fromFault = ResultCounter.gapAround(e.getValue()[0], t0, until);
        long[] appended = e.getValue()[1].clone();
        java.util.Arrays.sort(appended);
        ResultCounter.Gap w = ResultCounter.gapAround(appended, t0, until);
        if (g == null || fromFault == null) {
          continue; // nothing left for this partition after the fault
        }
        partitionResumes.add(g.resumeMs());
        resume = Math.max(resume, g.resumeMs());
        gap = Math.max(gap, fromFault.gapMs());
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("resumeMs", g.resumeMs());
        p.put("gapMs", fromFault.gapMs());
        if (w != null) {
          p.put("writeResumeMs", w.resumeMs());
          written = Math.max(written, w.resumeMs());
        }
        perPartition.put(e.getKey(), p);
      }
      long target = kind.equals("kill") ? checkpointInterval.toMillis() + TARGET_MS : TARGET_MS;
      // a rescale's target is its downtime (stop-with-savepoint to running again); the others' the reader's wait
      long measured = kind.equals("rescale") ? (Long) f.get("downtimeMs") : resume;
      boolean within = measured >= 0 && measured <= target;
      met &= within;
      f.put("readerResumeMs", resume < 0 ? null : resume);
      f.put("readerResumeP50Ms", ResultCounter.percentile(partitionResumes, 0.5));
      f.put("readerGapMs", gap < 0 ? null : gap);
      f.put("writeResumeMs", written < 0 ? null : written);
      f.put("targetMs", target);
      f.put("withinTarget", within);
      f.put("readerPerPartition", perPartition);
      if (resume >= 0) {
        resumes.computeIfAbsent(kind, k -> new ArrayList<>()).add(resume);
        gaps.computeIfAbsent(kind, k -> new ArrayList<>()).add(gap);
      }
    }
    Map<String, Object> summary = new TreeMap<>();
    resumes.forEach((kind, r) -> {
      Map<String, Object> k = new LinkedHashMap<>();
      k.put("faults", r.size());
      k.put("resumeP50Ms", ResultCounter.percentile(r, 0.5));
      k.put("resumeMaxMs", ResultCounter.percentile(r, 1.0));
      k.put("gapP50Ms", ResultCounter.percentile(gaps.get(kind), 0.5));
      k.put("gapMaxMs", ResultCounter.percentile(gaps.get(kind), 1.0));
      summary.put(kind, k);
    });
    return new ReaderSide(summary, met);
  }

  /** Counts the results and dead letters read back against what the run produced. */
  static Counts count(ChaosOptions o, int goodEvents, Map<String, Map<String, Integer>> counts,
      List<ResultCounter.Dead> dead, List<HostileCorpus.Hostile> hostile, Map<Integer, String> coordinates) {
    long lost = 0;
    long duplicated = 0;
    long unexpected = 0;
    Map<String, Long> expectedPerTask = new TreeMap<>();
    Map<String, Long> resultsPerTask = new TreeMap<>();
    for (int i = 0; i < goodEvents; i++) {
      for (String task : o.tasksOf(i)) {
        expectedPerTask.merge(task, 1L, Long::sum);
        int c = counts.getOrDefault(task, Map.of()).getOrDefault("ev-" + i, 0);
        if (c == 0) {
          lost++;
        } else {
          duplicated += c - 1;
        }
      }
    }
    // hostile records: each dead-lettered once with its reason, or (.ok) enriched once per distinct task
    HostileVerdict h = judgeHostile(hostile, coordinates, dead, counts);
    h.okTasksById().values().forEach(tasks -> tasks.forEach(t -> expectedPerTask.merge(t, 1L, Long::sum)));
    for (var e : counts.entrySet()) {
      long total = e.getValue().values().stream().mapToLong(Integer::longValue).sum();
      resultsPerTask.put(e.getKey(), total);
      for (String id : e.getValue().keySet()) {
        boolean good = id.startsWith("ev-") && o.tasksOf(Integer.parseInt(id.substring(3))).contains(e.getKey());
        if (!good && !h.okTasksById().getOrDefault(id, List.of()).contains(e.getKey())) {
          unexpected += e.getValue().get(id);
        }
      }
    }
    return new Counts(lost + h.lost(), duplicated + h.duplicated() + unexpected, expectedPerTask, resultsPerTask, h);
  }

  /** Results and dead letters still missing (cheap enough to poll: a few hundred thousand map lookups). */
  static long expectedLeft(ChaosOptions o, int goodEvents, Map<String, Map<String, Integer>> counts,
      List<ResultCounter.Dead> dead, List<HostileCorpus.Hostile> hostile, Map<Integer, String> coordinates) {
    long missing = 0;
    for (int i = 0; i < goodEvents; i++) {
      for (String task : o.tasksOf(i)) {
        if (!counts.getOrDefault(task, Map.of()).containsKey("ev-" + i)) {
          missing++;
        }
      }
    }
    return missing + judgeHostile(hostile, coordinates, dead, counts).lost();
  }

  /**
   * What the hostile records got against what each must get: {@code lost} counts missing dead letters and missing
   * results of {@code .ok} records, {@code duplicated} extra ones; {@code wrong} lists dead letters that are not
   * hostile or carry another reason (an {@code .ok} record's dead letter among them).
   */
  record HostileVerdict(long lost, long duplicated, List<String> wrong,
      Map<String, Map<String, Integer>> reasonsByKind, Map<String, String> kindsDeadLettered,
      Map<String, List<String>> okTasksById) {}

  /**
   * Judges the hostile records. A dead letter is matched by its id (a record's own, or for a record without one
   * the {@code coordinates} it was produced at), else (undecodable records) by its original bytes; records with
   * the same bytes form one group that expects one dead letter per member.
   */
  static HostileVerdict judgeHostile(List<HostileCorpus.Hostile> hostile, Map<Integer, String> coordinates,
      List<ResultCounter.Dead> dead, Map<String, Map<String, Integer>> counts) {
    Map<String, List<Integer>> groups = new HashMap<>();
    Map<String, String> alias = new HashMap<>();
    for (int i = 0; i < hostile.size(); i++) {
      HostileCorpus.Hostile h = hostile.get(i);
      String key = h.id() != null ? "id:" + h.id() : bytesKey(h.value());
      groups.computeIfAbsent(key, k -> new ArrayList<>()).add(i);
      String c = coordinates.get(i);
      if (h.id() == null && c != null) {
        alias.put("id:" + c, key);
      }
    }
    Map<String, Integer> seen = new HashMap<>();
    List<String> wrong = new ArrayList<>();
    Map<String, Map<String, Integer>> reasonsByKind = new TreeMap<>();
    Map<String, String> kinds = new TreeMap<>();
    for (ResultCounter.Dead d : dead) {
      String key = d.id() != null ? "id:" + d.id() : bytesKey(bytes(d.original()));
      key = alias.getOrDefault(key, key);
      List<Integer> group = groups.get(key);
      if (group == null) {
        wrong.add("not hostile: id=" + d.id() + " reason=" + d.reason());
        continue;
      }
      seen.merge(key, 1, Integer::sum);
      HostileCorpus.Hostile h = hostile.get(group.get(0));
      reasonsByKind.computeIfAbsent(h.kind(), k -> new TreeMap<>()).merge(d.reason(), 1, Integer::sum);
      kinds.put(h.kind(), d.reason());
      if (!h.reason().equals(d.reason())) {
        wrong.add(h.kind() + " " + (d.id() != null ? d.id() : "") + ": reason " + d.reason() + ", expected "
            + (h.ok() ? "a result per task " + h.tasks() : h.reason()));
      }
    }
    long lost = 0;
    long duplicated = 0;
    for (var e : groups.entrySet()) {
      long expected = e.getValue().stream().filter(i -> !hostile.get(i).ok()).count();
      int s = seen.getOrDefault(e.getKey(), 0);
      lost += Math.max(0, expected - s);
      if (expected > 0) {
        duplicated += Math.max(0, s - expected); // an .ok record's dead letters are wrong, counted above
      }
    }
    Map<String, List<String>> okTasks = new HashMap<>();
    for (int i = 0; i < hostile.size(); i++) {
      HostileCorpus.Hostile h = hostile.get(i);
      if (!h.ok()) {
        continue;
      }
      String id = h.id() != null ? h.id() : coordinates.get(i);
      if (id == null) {
        lost += h.tasks().size(); // not produced (yet)
        continue;
      }
      okTasks.put(id, h.tasks());
      for (String task : h.tasks()) {
        int c = counts.getOrDefault(task, Map.of()).getOrDefault(id, 0);
        lost += c == 0 ? 1 : 0;
        duplicated += Math.max(0, c - 1);
      }
    }
    return new HostileVerdict(lost, duplicated, wrong, reasonsByKind, kinds, okTasks);
  }

  private static byte[] bytes(ByteBuffer b) {
    ByteBuffer x = b.duplicate();
    byte[] out = new byte[x.remaining()];
    x.get(out);
    return out;
  }

  /** Undecodable records are matched by their bytes, as far as a dead letter carries them. */
  private static String bytesKey(byte[] v) {
    int n = Math.min(v.length, io.distilstream.operators.DeadLetters.MAX_ORIGINAL_BYTES);
    return "bytes:" + Base64.getEncoder().encodeToString(n == v.length ? v : java.util.Arrays.copyOf(v, n));
  }
}
