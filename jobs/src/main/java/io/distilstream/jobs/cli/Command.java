package io.distilstream.jobs.cli;

import java.io.PrintStream;

/**
 * One subcommand of {@code bin/distilstream}. {@code Main} lists the job's and the runtime's own and finds the rest
 * (bench, cluster, chaos, demo from the tools module) with {@link java.util.ServiceLoader}, so the job module never
 * names the tools. Implementations in other modules register in {@code META-INF/services/io.distilstream.jobs.cli.Command}.
 */
public interface Command {
  /** The word after {@code distilstream}. */
  String name();

  /** The command's line in {@code distilstream --help}. */
  String summary();

  /** What {@code distilstream NAME --help} prints. */
  String usage();

  /**
   * Runs with the arguments after the name and returns the exit status. A usage error throws
   * {@link io.distilstream.runtime.cli.Args.UsageException} or {@link IllegalArgumentException}: Main prints it with
   * the usage and exits 2.
   */
  int run(String[] args, PrintStream out, PrintStream err) throws Exception;

  /** A command whose {@link #run} is {@code body}. */
  static Command of(String name, String summary, String usage, Body body) {
    return new Command() {
      @Override
      public String name() {
        return name;
      }

      @Override
      public String summary() {
        return summary;
      }

      @Override
      public String usage() {
        return usage;
      }

      @Override
      public int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        return body.run(args, out, err);
      }
    };
  }

  /** What {@link #of} runs. */
  @FunctionalInterface
  interface Body {
    /** As {@link Command#run}. */
    int run(String[] args, PrintStream out, PrintStream err) throws Exception;
  }
}
