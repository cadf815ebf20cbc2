package io.distilstream.jobs;

import io.distilstream.jobs.kafka.AvroRecordSerializer;
import io.distilstream.jobs.kafka.EventDecoder;
import io.distilstream.jobs.kafka.SchemaPlan;
import io.distilstream.jobs.kafka.SchemaRegistryClient;
import io.distilstream.runtime.cli.Args;
import io.distilstream.runtime.hub.ModelSource;
import io.distilstream.runtime.pipeline.Task;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.avro.specific.SpecificData;
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
      "  --dry-run                  validate the options and print them (secrets masked); start nothing. With",
      "                             avro-confluent, also what starting would do with each output topic's schema",
      "                             (asks the registry, registers nothing); exit 1 when starting would fail there");

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
    overrides.putAll(sets(args));
    String config = args.string("config", null);
    boolean dryRun = args.flag("dry-run");
    args.rejectUnknown();

    JobConfig cfg = JobConfig.load(config == null ? null : Path.of(config), overrides);
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(cfg.flink());
    if (dryRun) {
      List<EnrichmentJob.OutputTopic> outputs = EnrichmentJob.buildWithoutRegistry(env, cfg);
      out.println("configuration is valid:\n" + cfg.describe());
      return checkRegistry(cfg, outputs, out) ? 0 : 1;
    }
    EnrichmentJob.run(env, cfg);
    return 0;
  }

  /** The {@code --set KEY=VALUE} options, in order (a later one of the same key wins). */
  static Map<String, String> sets(Args args) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String kv : args.all("set")) {
      int eq = kv.indexOf('=');
      if (eq <= 0) {
        throw new Args.UsageException("--set takes KEY=VALUE, got '" + kv + "'");
      }
      out.put(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
    }
    return out;
  }

  /**
   * The dry run's look at the schema registry, when a format uses one: per output topic (avro-confluent output), its
   * subject and what starting the job would do with its schema ({@link SchemaPlan}); for avro-confluent input, that
   * the registry answers. Registers nothing. False when starting the job would fail there.
   */
  static boolean checkRegistry(JobConfig cfg, List<EnrichmentJob.OutputTopic> outputs, PrintStream out) {
    boolean confluentOut = cfg.outputFormat() == AvroRecordSerializer.Format.AVRO_CONFLUENT;
    if (!confluentOut && cfg.inputFormat() != EventDecoder.Format.AVRO_CONFLUENT) {
      return true;
    }
    SchemaRegistryClient registry = new SchemaRegistryClient(cfg.registrySettings());
    String where = String.join(",", registry.settings().urls());
    boolean ok = true;
    if (confluentOut) {
      out.println("schema registry " + where + " (auto.register.schemas=" + registry.settings().autoRegister()
          + "); starting the job would, per output topic:");
      for (EnrichmentJob.OutputTopic o : outputs) {
        SchemaPlan plan = SchemaPlan.of(registry, o.topic(), SpecificData.get().getSchema(o.type()));
        out.println("  " + plan.describe());
        ok &= !plan.startFails();
        if (plan.outcome() == SchemaPlan.Outcome.UNREACHABLE) {
          // one wait for the request timeout, not one per topic
          out.println("  (the other topics were not asked)");
          break;
        }
      }
    } else {
      try {
        out.println("schema registry " + where + ": answers (" + registry.subjects().size() + " subjects)");
      } catch (SchemaRegistryClient.RegistryException e) {
        out.println("schema registry " + where + ": " + e.getMessage());
        ok = false;
      }
    }
    if (!ok) {
      out.println("starting the job would fail at the schema registry (see above)");
    }
    return ok;
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
