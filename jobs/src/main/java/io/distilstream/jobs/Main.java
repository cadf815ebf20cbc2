package io.distilstream.jobs;

import io.distilstream.runtime.cli.Args;
import io.distilstream.runtime.cli.BuildModelCli;
import io.distilstream.runtime.cli.RuntimeCli;
import io.distilstream.runtime.model.ModelLoadException;
import java.io.PrintStream;
import java.util.Arrays;

/** {@code bin/distilstream}: the one entry point. Dispatches to the subcommands. */
public final class Main {
  private static final String USAGE = String.join("\n",
      "usage: distilstream <command> [options]",
      "  run        run a task over stdin, one JSON result per line",
      "  tokenize   tokenize stdin, ids and character offsets per line",
      "  demo       a local Kafka broker and Flink cluster, sample events, the job, results printed",
      "  job        the enrichment job against an existing Kafka and Flink cluster",
      "  build-model  build model.onnx in Java from config.json + model.safetensors, or from a seed",
      "  bench      throughput of the bare runtime, the naive Flink patterns and the operator",
      "  cluster    up|down|status|submit: a Flink cluster of separate JVMs on this machine",
      "  chaos      fault run on that cluster: TaskManager kills, a broker restart, rescaling, hostile input",
      "Run 'distilstream <command> --help' for the options of a command.");

  private Main() {}

  public static void main(String[] argv) throws Exception {
    System.exit(run(argv, System.out, System.err));
  }

  static int run(String[] argv, PrintStream out, PrintStream err) throws Exception {
    if (argv.length == 0 || argv[0].equals("--help") || argv[0].equals("-h") || argv[0].equals("help")) {
      (argv.length == 0 ? err : out).println(USAGE);
      return argv.length == 0 ? 2 : 0;
    }
    String command = argv[0];
    String[] rest = Arrays.copyOfRange(argv, 1, argv.length);
    String usage;
    switch (command) {
      case "run": usage = RuntimeCli.RUN_USAGE; break;
      case "tokenize": usage = RuntimeCli.TOKENIZE_USAGE; break;
      case "demo": usage = Demo.USAGE; break;
      case "build-model": usage = BuildModelCli.USAGE; break;
      case "bench": usage = io.distilstream.jobs.bench.Bench.USAGE; break;
      case "job": usage = JobCli.USAGE; break;
      case "cluster": usage = io.distilstream.jobs.cluster.ClusterCli.USAGE; break;
      case "chaos": usage = io.distilstream.jobs.cluster.ChaosRun.USAGE; break;
      default:
        err.println("distilstream: unknown or not yet available command '" + command + "'\n" + USAGE);
        return 2;
    }
    if (Arrays.asList(rest).contains("--help") || Arrays.asList(rest).contains("-h")) {
      out.println(usage);
      return 0;
    }
    try {
      switch (command) {
        case "run": return RuntimeCli.run(rest, System.in, out, err);
        case "tokenize": return RuntimeCli.tokenize(rest, System.in, out, err);
        case "demo": return Demo.run(rest, out);
        case "build-model": return BuildModelCli.run(rest, out);
        case "bench": return io.distilstream.jobs.bench.Bench.run(rest, out);
        case "cluster": return io.distilstream.jobs.cluster.ClusterCli.run(rest, out, err);
        case "chaos": return io.distilstream.jobs.cluster.ChaosRun.run(rest, out);
        default: return JobCli.run(rest, out);
      }
    } catch (Args.UsageException | IllegalArgumentException e) {
      err.println("distilstream " + command + ": " + e.getMessage() + "\n" + usage);
      return 2;
    } catch (ModelLoadException e) {
      err.println("distilstream " + command + ": " + e.getMessage());
      return 1;
    }
  }
}
