package io.distilstream.tools;

import io.distilstream.jobs.cli.Command;
import io.distilstream.tools.bench.Bench;
import io.distilstream.tools.cluster.ChaosOptions;
import io.distilstream.tools.cluster.ChaosRun;
import io.distilstream.tools.cluster.ClusterCli;
import io.distilstream.tools.demo.Demo;
import java.io.PrintStream;

/**
 * The tools' subcommands of {@code bin/distilstream}, registered in
 * {@code META-INF/services/io.distilstream.jobs.cli.Command} (ServiceLoader needs a public class with a public
 * no-argument constructor for each, hence one small class per command).
 */
public final class ToolCommands {
  private ToolCommands() {}

  /** A command that hands every call to {@link Command#of}'s result. */
  private abstract static class Delegating implements Command {
    private final Command command;

    Delegating(Command command) {
      this.command = command;
    }

    @Override
    public String name() {
      return command.name();
    }

    @Override
    public String summary() {
      return command.summary();
    }

    @Override
    public String usage() {
      return command.usage();
    }

    @Override
    public int run(String[] args, PrintStream out, PrintStream err) throws Exception {
      return command.run(args, out, err);
    }
  }

  /** {@code distilstream demo}. */
  public static final class DemoCommand extends Delegating {
    /** For ServiceLoader. */
    public DemoCommand() {
      super(Command.of("demo", "a local Kafka broker and Flink cluster, sample events, the job, results printed",
          Demo.USAGE, (args, out, err) -> Demo.run(args, out)));
    }
  }

  /** {@code distilstream bench}. */
  public static final class BenchCommand extends Delegating {
    /** For ServiceLoader. */
    public BenchCommand() {
      super(Command.of("bench", "throughput of the bare runtime, the naive Flink patterns and the operator",
          Bench.USAGE, (args, out, err) -> Bench.run(args, out)));
    }
  }

  /** {@code distilstream cluster}. */
  public static final class ClusterCommand extends Delegating {
    /** For ServiceLoader. */
    public ClusterCommand() {
      super(Command.of("cluster", "up|down|status|submit: a Flink cluster of separate JVMs on this machine",
          ClusterCli.USAGE, ClusterCli::run));
    }
  }

  /** {@code distilstream chaos}. */
  public static final class ChaosCommand extends Delegating {
    /** For ServiceLoader. */
    public ChaosCommand() {
      super(Command.of("chaos",
          "fault run on that cluster: TaskManager kills, a broker restart, rescaling, hostile input",
          ChaosOptions.USAGE, (args, out, err) -> ChaosRun.run(args, out)));
    }
  }
}
