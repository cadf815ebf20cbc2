package io.distilstream.tools.cluster;

import io.distilstream.runtime.cli.Args;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The options of one {@code distilstream chaos} run, parsed apart from running it (as Flink's {@code CancelOptions}
 * are): the command line's {@link #parse}, or set field by field by a test.
 */
public final class ChaosOptions {
  public static final String USAGE = String.join("\n",
      "usage: distilstream chaos [options]",
      "  A fault run on a local Flink cluster (a JobManager and TaskManagers in their own JVMs) and Kafka broker.",
      "  --events N               good events (100000)",
      "  --kills N                TaskManager SIGKILLs at random points, each followed by recovery (5)",
      "  --broker-restarts N      Kafka broker stops and restarts mid-run (1)",
      "  --broker-down D          how long the broker stays down ('5 s')",
      "  --parallelism LIST       the job's parallelism, changed at each rescale ('2,3,1')",
      "  --rescale HOW            savepoint: stop-with-savepoint and a new submission from it (the default);",
      "                           adaptive: the cluster runs Flink's adaptive scheduler and the job is rescaled in",
      "                           place over the REST API (PUT /jobs/:id/resource-requirements), from a checkpoint",
      "  --hostile-every N        one hostile record per N good events; 0 for none (1000)",
      "  --hostile DIR            more hostile records, one file per record value: NAME.REASON (the dead-letter",
      "                           reason it must get) or NAME.ok (enriched once per distinct task it names)",
      "  --rate R                 events per second while the job runs, so that every fault meets events in",
      "                           flight; 0 produces all before the job starts, a backlog (400)",
      "  --checkpoint-interval D  ('2 s')",
      "  --window D               throughput window before and after each rescale ('10 s')",
      "  --seed N                 chooses the kill points and the TaskManagers (1)",
      "  --models DIR             test models (../shared/models), or --model TASK=DIR (repeatable)",
      "  --taskmanagers N --slots N   cluster shape (2, 2)",
      "  --stall-timeout D        give up when no result arrives for this long ('3 min')",
      "  --transaction-naming S   the sinks' sink.transaction-naming: incrementing (the job's default) or pooling",
      "  --set KEY=VALUE          a job option for the submitted job (repeatable; see `distilstream job --help`),",
      "                           e.g. --set inference.share-sessions=true",
      "  --enforce-targets        fail unless every fault's reader-side recovery is inside its target: a kill",
      "                           within checkpoint interval + 10 s, a broker restart within 10 s of the broker",
      "                           being back, a rescale's downtime under 10 s",
      "  --out DIR                report.md and report.json (chaos-out)",
      "  --keep                   keep the cluster's and the broker's directories (logs)");

  public int events = 100_000;
  public int kills = 5;
  public int brokerRestarts = 1;
  public Duration brokerDown = Duration.ofSeconds(5);
  public List<Integer> parallelism = List.of(2, 3, 1);
  public int hostileEvery = 1000;
  /** {@code --hostile DIR}: extra records from files, produced before the good events (null: none). */
  public Path hostileDir;
  /** Events per second from the generator; 0 produces them all before the job starts (a backlog). */
  public double rate = 400;
  public Duration checkpointInterval = Duration.ofSeconds(2);
  public Duration window = Duration.ofSeconds(10);
  public long seed = 1;
  public Map<String, Path> models = new LinkedHashMap<>();
  public int taskManagers = 2;
  public int slots = 2;
  public Duration stallTimeout = Duration.ofMinutes(3);
  public Path out = Paths.get("chaos-out");
  public boolean keep;
  /** How a rescale is done: {@code savepoint} (stop-with-savepoint, resubmit) or {@code adaptive} (in place). */
  public String rescale = "savepoint";
  /** {@code sink.transaction-naming} for the job; null for the job's default. */
  public String transactionNaming;
  /** {@code --set KEY=VALUE}: job options passed to every submission of the job, after the run's own. */
  public List<String> jobOptions = new ArrayList<>();
  /** Fail the run when a fault's reader-side recovery misses its target (else only reported). */
  public boolean enforceTargets;

  /** True when rescales go through the adaptive scheduler (and the cluster runs it). */
  boolean adaptiveRescale() {
    return rescale.equals("adaptive");
  }

  /** From the command line; a usage error throws {@link Args.UsageException}. */
  public static ChaosOptions parse(String[] argv) {
    Args a = Args.parse(argv, Set.of("keep", "enforce-targets"));
    ChaosOptions o = new ChaosOptions();
    o.events = a.integer("events", o.events);
    o.kills = a.integer("kills", o.kills);
    o.brokerRestarts = a.integer("broker-restarts", o.brokerRestarts);
    o.brokerDown = duration(a.string("broker-down", "5 s"));
    String p = a.string("parallelism", "2,3,1");
    o.parallelism = new ArrayList<>();
    for (String x : p.split(",")) {
      int n = Integer.parseInt(x.trim());
      if (n < 1) {
        throw new Args.UsageException("--parallelism takes numbers of at least 1, got '" + p + "'");
      }
      o.parallelism.add(n);
    }
    o.hostileEvery = a.integer("hostile-every", o.hostileEvery);
    String hostileDir = a.string("hostile", null);
    o.hostileDir = hostileDir == null ? null : Paths.get(hostileDir);
    o.rate = Double.parseDouble(a.string("rate", "400"));
    o.checkpointInterval = duration(a.string("checkpoint-interval", "2 s"));
    o.window = duration(a.string("window", "10 s"));
    o.seed = Long.parseLong(a.string("seed", "1"));
    String models = a.string("models", null);
    if (models != null) {
      o.models = defaultModels(Paths.get(models));
    }
    for (String m : a.all("model")) {
      int eq = m.indexOf('=');
      if (eq <= 0) {
        throw new Args.UsageException("--model takes TASK=DIR, got '" + m + "'");
      }
      o.models.put(m.substring(0, eq), Paths.get(m.substring(eq + 1)).toAbsolutePath());
    }
    o.taskManagers = a.integer("taskmanagers", o.taskManagers);
    o.slots = a.integer("slots", o.slots);
    o.stallTimeout = duration(a.string("stall-timeout", "3 min"));
    o.out = Paths.get(a.string("out", "chaos-out"));
    o.keep = a.flag("keep");
    o.enforceTargets = a.flag("enforce-targets");
    o.transactionNaming = a.string("transaction-naming", null);
    o.rescale = a.string("rescale", o.rescale);
    for (String kv : a.all("set")) {
      if (kv.indexOf('=') <= 0) {
        throw new Args.UsageException("--set takes KEY=VALUE, got '" + kv + "'");
      }
      o.jobOptions.add(kv);
    }
    a.rejectUnknown();
    if (!o.rescale.equals("savepoint") && !o.rescale.equals("adaptive")) {
      throw new Args.UsageException("--rescale takes savepoint or adaptive, got '" + o.rescale + "'");
    }
    if (o.events < 10) {
      throw new Args.UsageException("--events must be at least 10");
    }
    int maxP = o.parallelism.stream().mapToInt(Integer::intValue).max().orElse(1);
    if (maxP > o.taskManagers * o.slots) {
      throw new Args.UsageException("parallelism " + maxP + " needs more than " + o.taskManagers + " x "
          + o.slots + " slots");
    }
    return o;
  }

  private static Duration duration(String s) {
    return org.apache.flink.util.TimeUtils.parseDuration(s);
  }

  /**
   * The tiny test models under {@code dir}: text, token classification and question answering for the events, and
   * fill-mask so that the hostile corpus's 510-[MASK] text meets a real fill-mask model.
   */
  public static Map<String, Path> defaultModels(Path dir) {
    Map<String, Path> m = new LinkedHashMap<>();
    m.put("text-classification", dir.resolve("tiny-distilbert-sequence-classification").toAbsolutePath());
    m.put("token-classification", dir.resolve("tiny-distilbert-token-classification").toAbsolutePath());
    m.put("question-answering", dir.resolve("tiny-distilbert-question-answering").toAbsolutePath());
    m.put("fill-mask", dir.resolve("tiny-distilbert-masked-lm").toAbsolutePath());
    return m;
  }

  /** The tasks good event {@code i} asks for: text classification, every 4th entities, every 10th an answer. */
  List<String> tasksOf(int i) {
    List<String> t = new ArrayList<>(List.of("text-classification"));
    if (models.containsKey("token-classification") && i % 4 == 0) {
      t.add("token-classification");
    }
    if (models.containsKey("question-answering") && i % 10 == 0) {
      t.add("question-answering");
    }
    return t;
  }
}
