package io.distilstream.jobs.docs;

import io.distilstream.jobs.JobConfig;
import io.distilstream.operators.InferenceOptions;
import io.distilstream.operators.shadow.ShadowOptions;
import io.distilstream.operators.sql.DistilBertOptions;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.description.Description;
import org.apache.flink.configuration.description.Formatter;
import org.apache.flink.configuration.description.TextElement;
import org.apache.flink.util.TimeUtils;

/**
 * The option tables of the docs, generated from the {@link ConfigOption}s themselves (key, default, type and
 * description), so that the option's {@code withDescription} is the one place its documentation is written. Each
 * table sits in its page between {@code <!-- options:NAME:begin -->} and {@code <!-- options:NAME:end -->};
 * {@code OptionTablesTest} fails when a page's table differs from what this renders. Regenerate them with
 * {@value #REGENERATE} (the test, told to rewrite the pages first), or run {@link #main} with the jobs module's
 * runtime class path.
 */
public final class OptionTables {
  /** The command that rewrites every table; quoted in the docs and in the test's failure message. */
  public static final String REGENERATE = "./mvnw -B -ntp -q -pl jobs -am test -Dtest=OptionTablesTest"
      + " -Dsurefire.failIfNoSpecifiedTests=false -D" + OptionTables.REGENERATE_PROPERTY + "=true";

  /** The system property that makes {@code OptionTablesTest} rewrite the pages before comparing. */
  public static final String REGENERATE_PROPERTY = "distilstream.docs.regenerate";

  /** A generated table: its marker name, the page (relative to the repository root) and the option holders. */
  public record Table(String name, String page, List<Class<?>> holders) {
    public String begin() { return "<!-- options:" + name + ":begin -->"; }
    public String end() { return "<!-- options:" + name + ":end -->"; }
  }

  /** Every generated table: the enrichment job's options and those of {@code CREATE MODEL … 'provider' = 'distilbert'}. */
  public static final List<Table> TABLES = List.of(
      new Table("job", "docs/job.md", List.of(JobConfig.class, InferenceOptions.class, ShadowOptions.class)),
      new Table("sql", "docs/sql.md", List.of(DistilBertOptions.class)));

  /** One option and the type it was declared with. */
  public record Option(ConfigOption<?> option, Type type) {}

  private OptionTables() {}

  /**
   * Regenerates every table in place. Argument: the repository root (default: the working directory or the first
   * folder above it holding {@code docs/job.md}).
   */
  public static void main(String[] args) throws IOException {
    Path root = args.length > 0 ? Path.of(args[0]) : findRoot(Path.of("").toAbsolutePath());
    for (Path page : regenerate(root)) {
      System.out.println("updated " + page);
    }
  }

  /** Rewrites every table whose page differs from what is rendered; returns the pages it changed. */
  public static List<Path> regenerate(Path root) throws IOException {
    List<Path> changed = new ArrayList<>();
    for (Table t : TABLES) {
      Path page = root.resolve(t.page());
      String before = Files.readString(page, StandardCharsets.UTF_8);
      String after = replace(before, t, render(t));
      if (!after.equals(before)) {
        Files.writeString(page, after, StandardCharsets.UTF_8);
        changed.add(page);
      }
    }
    return changed;
  }

  static Path findRoot(Path from) {
    for (Path p = from; p != null; p = p.getParent()) {
      if (Files.isRegularFile(p.resolve(TABLES.get(0).page()))) {
        return p;
      }
    }
    throw new IllegalArgumentException("no " + TABLES.get(0).page() + " in " + from + " or above it;"
        + " pass the repository root as the argument");
  }

  /**
   * The public static final {@link ConfigOption} fields of a class, in declaration order (the order
   * {@link Class#getDeclaredFields} gives on OpenJDK).
   */
  public static List<Option> options(Class<?> holder) {
    List<Option> out = new ArrayList<>();
    for (Field f : holder.getDeclaredFields()) {
      int m = f.getModifiers();
      if (f.getType() == ConfigOption.class && Modifier.isPublic(m) && Modifier.isStatic(m) && Modifier.isFinal(m)) {
        try {
          Type type = f.getGenericType() instanceof ParameterizedType p ? p.getActualTypeArguments()[0] : Object.class;
          out.add(new Option((ConfigOption<?>) f.get(null), type));
        } catch (IllegalAccessException e) {
          throw new IllegalStateException(f + " is public", e);
        }
      }
    }
    return out;
  }

  /** The Markdown table of a table's options (key | default | type | description), ending in a newline. */
  public static String render(Table table) {
    List<Option> all = new ArrayList<>();
    table.holders().forEach(h -> all.addAll(options(h)));
    return render(all);
  }

  static String render(List<Option> options) {
    StringBuilder b = new StringBuilder("| key | default | type | description |\n|---|---|---|---|\n");
    for (Option o : options) {
      b.append("| `").append(o.option().key()).append("` | ").append(defaultValue(o.option()))
          .append(" | ").append(typeName(o.type())).append(" | ").append(cell(describe(o.option().description())))
          .append(" |\n");
    }
    return b.toString();
  }

  static String defaultValue(ConfigOption<?> option) {
    Object v = option.hasDefaultValue() ? option.defaultValue() : null;
    if (v == null) {
      return "(none)";
    }
    String s = v instanceof Duration d ? TimeUtils.formatWithHighestUnit(d)
        : v instanceof List<?> l ? l.stream().map(String::valueOf).collect(Collectors.joining(";"))
        : String.valueOf(v);
    return s.isEmpty() ? "(empty)" : "`" + cell(s) + "`";
  }

  static String typeName(Type type) {
    if (type instanceof Class<?> c) {
      return c.getSimpleName();
    }
    if (type instanceof ParameterizedType p && p.getRawType() instanceof Class<?> raw) {
      return raw.getSimpleName() + "&lt;" + java.util.Arrays.stream(p.getActualTypeArguments())
          .map(OptionTables::typeName).collect(Collectors.joining(", ")) + "&gt;";
    }
    return type.getTypeName();
  }

  /** A description as Markdown text (code as code, links as links, line breaks as {@code <br>}). */
  static String describe(Description description) {
    return new MarkdownFormatter().format(description).strip();
  }

  /** Text safe inside a table cell: no line breaks, pipes escaped. */
  static String cell(String s) {
    return s.replace("\r", "").replace("\n", "<br>").replace("|", "\\|");
  }

  /** What lies between a table's markers in a page: the text after the begin marker's line up to the end marker. */
  public static String extract(String page, Table table) {
    int b = page.indexOf(table.begin());
    int e = page.indexOf(table.end());
    if (b < 0 || e < 0 || e < b) {
      throw new IllegalArgumentException(table.page() + " has no " + table.begin() + " ... " + table.end()
          + " markers (in that order)");
    }
    if (page.indexOf(table.begin(), b + 1) >= 0 || page.indexOf(table.end(), e + 1) >= 0) {
      throw new IllegalArgumentException(table.page() + " has the markers of table '" + table.name() + "' twice");
    }
    int start = b + table.begin().length();
    if (start < page.length() && page.charAt(start) == '\n') {
      start++;
    }
    return page.substring(start, e);
  }

  /** The page with the text between a table's markers replaced by {@code generated}. */
  public static String replace(String page, Table table, String generated) {
    extract(page, table); // checks the markers
    int start = page.indexOf(table.begin()) + table.begin().length();
    int end = page.indexOf(table.end());
    return page.substring(0, start) + "\n" + generated + page.substring(end);
  }

  /** Flink's description elements as Markdown. */
  private static final class MarkdownFormatter extends Formatter {
    @Override
    protected void formatLink(StringBuilder state, String link, String description) {
      state.append('[').append(description).append("](").append(link).append(')');
    }

    @Override
    protected void formatLineBreak(StringBuilder state) {
      state.append("<br>");
    }

    @Override
    protected void formatText(StringBuilder state, String format, String[] elements,
        EnumSet<TextElement.TextStyle> styles) {
      String text = String.format(format, (Object[]) elements);
      state.append(styles.contains(TextElement.TextStyle.CODE) ? "`" + text + "`" : text);
    }

    @Override
    protected void formatList(StringBuilder state, String[] entries) {
      for (String entry : entries) {
        state.append("<br>- ").append(entry);
      }
    }

    @Override
    protected Formatter newInstance() {
      return new MarkdownFormatter();
    }
  }
}
