package io.distilstream.jobs;

import io.distilstream.runtime.cli.Args;
import io.distilstream.runtime.hub.ModelSource;
import io.distilstream.runtime.pipeline.Task;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/** {@code distilstream job}: the enrichment job against an existing Kafka, on the cluster Flink gives it. */
public final class JobCli {
  public static final String USAGE = String.join("\n",
      "usage: distilstream job [--config FILE] [--set KEY=VALUE]... [options]",
      "  Runs the enrichment job: Kafka in, labels / entities / answers / embeddings out, exactly once.",
      "  --config FILE              a properties file of job options (see docs/job.md: job options)",
      "  --set KEY=VALUE            any option, overriding the file (repeatable), e.g. --set kafka.security.protocol=SSL",
      "  --bootstrap-servers S      = --set kafka.bootstrap.servers=S",
      "  --model TASK=DIR|ORG/NAME[@REV]  = --set inference.model.TASK=… (repeatable): a model directory, or a",
      "                             Hugging Face Hub id (an existing local path wins), pinned to its commit now",
      "  --parallelism N            = --set parallelism.default=N",
      "  --checkpoint-interval D    = --set execution.checkpointing.interval=D (e.g. '10 s')",
      "  --dry-run                  validate the options and print them (secrets masked); start nothing");

  private JobCli() {}

  public static int run(String[] argv, PrintStream out) throws Exception {
    Args args = Args.parse(argv, Set.of("dry-run"));
    Map<String, String> overrides = new LinkedHashMap<>();
    String bs = args.string("bootstrap-servers", null);
    if (bs != null) {
      overrides.put("kafka.bootstrap.servers", bs);
    }
    for (String m : args.all("model")) {
      int eq = m.indexOf('=');
      if (eq <= 0) {
        throw new Args.UsageException("--model takes TASK=DIR or TASK=ORG/NAME[@REVISION], got '" + m + "'");
      }
      overrides.put("inference.model." + Task.parse(m.substring(0, eq)).id(), ModelSource.absolute(m.substring(eq + 1)));
    }
    String p = args.string("parallelism", null);
    if (p != null) {
      overrides.put("parallelism.default", p);
    }
    String ci = args.string("checkpoint-interval", null);
    if (ci != null) {
      overrides.put("execution.checkpointing.interval", ci);
    }
    for (String kv : args.all("set")) {
      int eq = kv.indexOf('=');
      if (eq <= 0) {
        throw new Args.UsageException("--set takes KEY=VALUE, got '" + kv + "'");
      }
      overrides.put(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
    }
    String config = args.string("config", null);
    boolean dryRun = args.flag("dry-run");
    args.rejectUnknown();

    JobConfig cfg = JobConfig.load(config == null ? null : Path.of(config), overrides);
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(cfg.flink());
    if (dryRun) {
      EnrichmentJob.build(env, cfg);
      out.println("configuration is valid:\n" + cfg.describe());
      return 0;
    }
    EnrichmentJob.run(env, cfg);
    return 0;
  }

  /**
   * The job jar's entry point: {@code flink run target/distilstream-jobs-VERSION-job.jar --config job.properties}.
   * It never calls {@code System.exit}, which in application mode would stop the JobManager with it.
   */
  public static void main(String[] argv) throws Exception {
    int rc = Main.run(prepend("job", argv), System.out, System.err);
    if (rc != 0) {
      throw new IllegalArgumentException("distilstream job: invalid arguments (exit code " + rc + "), see above");
    }
  }

  private static String[] prepend(String first, String[] rest) {
    String[] all = new String[rest.length + 1];
    all[0] = first;
    System.arraycopy(rest, 0, all, 1, rest.length);
    return all;
  }
}
