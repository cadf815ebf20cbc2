package io.distilstream.jobs;

import io.distilstream.jobs.cli.Command;
import io.distilstream.runtime.cli.Args;
import io.distilstream.runtime.cli.BuildModelCli;
import io.distilstream.runtime.cli.RuntimeCli;
import io.distilstream.runtime.model.ModelLoadException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.ServiceLoader;

/**
 * {@code bin/distilstream}: the one entry point. Dispatches to the subcommands: the job's and the runtime's listed
 * here, the tools' (bench, cluster, chaos, demo) found on the classpath with {@link ServiceLoader}.
 */
public final class Main {
  /** The order of {@code --help}'s list (a public contract); a command not named here comes after these. */
  private static final List<String> HELP_ORDER =
      List.of("run", "tokenize", "demo", "job", "promote", "build-model", "bench", "cluster", "chaos");

  private Main() {}

  public static void main(String[] argv) throws Exception {
    System.exit(run(argv, System.out, System.err));
  }

  /** The built-in commands, then those registered as services, in {@link #HELP_ORDER}. */
  static List<Command> commands() {
    List<Command> all = new ArrayList<>(List.of(
        Command.of("run", "run a task over stdin, one JSON result per line", RuntimeCli.RUN_USAGE,
            (args, out, err) -> RuntimeCli.run(args, System.in, out, err)),
        Command.of("tokenize", "tokenize stdin, ids and character offsets per line", RuntimeCli.TOKENIZE_USAGE,
            (args, out, err) -> RuntimeCli.tokenize(args, System.in, out, err)),
        Command.of("job", "the enrichment job against an existing Kafka and Flink cluster", JobCli.USAGE,
            (args, out, err) -> JobCli.run(args, out)),
        Command.of("promote", "make a shadow model its primary's model in the running job (hot reload)",
            PromoteCli.USAGE, (args, out, err) -> PromoteCli.run(args, out)),
        Command.of("build-model", "build model.onnx in Java from config.json + model.safetensors, or from a seed",
            BuildModelCli.USAGE, (args, out, err) -> BuildModelCli.run(args, out))));
    ServiceLoader.load(Command.class).forEach(all::add);
    all.sort(Comparator.comparingInt(c -> HELP_ORDER.contains(c.name()) ? HELP_ORDER.indexOf(c.name())
        : HELP_ORDER.size()));
    return all;
  }

  static String usage(List<Command> commands) {
    StringBuilder b = new StringBuilder("usage: distilstream <command> [options]\n");
    for (Command c : commands) {
      // names up to 9 characters line their summaries up; a longer one keeps two spaces
      b.append("  ").append(c.name()).append(" ".repeat(Math.max(2, 11 - c.name().length())))
          .append(c.summary()).append('\n');
    }
    return b.append("Run 'distilstream <command> --help' for the options of a command.").toString();
  }

  static int run(String[] argv, PrintStream out, PrintStream err) throws Exception {
    List<Command> commands = commands();
    String usage = usage(commands);
    if (argv.length == 0 || argv[0].equals("--help") || argv[0].equals("-h") || argv[0].equals("help")) {
      (argv.length == 0 ? err : out).println(usage);
      return argv.length == 0 ? 2 : 0;
    }
    String name = argv[0];
    String[] rest = Arrays.copyOfRange(argv, 1, argv.length);
    Optional<Command> found = commands.stream().filter(c -> c.name().equals(name)).findFirst();
    if (found.isEmpty()) {
      err.println("distilstream: unknown or not yet available command '" + name + "'\n" + usage);
      return 2;
    }
    Command command = found.get();
    if (Arrays.asList(rest).contains("--help") || Arrays.asList(rest).contains("-h")) {
      out.println(command.usage());
      return 0;
    }
    try {
      return command.run(rest, out, err);
    } catch (Args.UsageException | IllegalArgumentException e) {
      err.println("distilstream " + name + ": " + e.getMessage() + "\n" + command.usage());
      return 2;
    } catch (ModelLoadException e) {
      err.println("distilstream " + name + ": " + e.getMessage());
      return 1;
    }
  }
}
