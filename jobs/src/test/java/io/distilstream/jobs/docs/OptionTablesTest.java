package io.distilstream.jobs.docs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.jobs.JobConfig;
import io.distilstream.operators.InferenceOptions;
import io.distilstream.operators.sql.DistilBertOptions;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.description.Description;
import org.apache.flink.configuration.description.TextElement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The docs' option tables are what {@link OptionTables} renders from the {@link ConfigOption}s, and nothing else. */
class OptionTablesTest {
  static final Path ROOT = OptionTables.findRoot(Path.of("").toAbsolutePath());

  /** With {@code -Ddistilstream.docs.regenerate=true}: rewrite the pages first (then the tables match). */
  @org.junit.jupiter.api.BeforeAll
  static void regenerateWhenAsked() throws IOException {
    if (Boolean.getBoolean(OptionTables.REGENERATE_PROPERTY)) {
      OptionTables.regenerate(ROOT).forEach(p -> System.out.println("updated " + p));
    }
  }

  static Stream<OptionTables.Table> tables() {
    return OptionTables.TABLES.stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("tables")
  void theDocsTableIsTheGeneratedOne(OptionTables.Table table) throws IOException {
    String page = Files.readString(ROOT.resolve(table.page()), StandardCharsets.UTF_8);
    assertThat(OptionTables.extract(page, table))
        .as("the option table '%s' in %s is generated from the ConfigOptions' descriptions; edit those"
            + " (withDescription) and regenerate the table with:%n  %s%n", table.name(), table.page(),
            OptionTables.REGENERATE)
        .isEqualTo(OptionTables.render(table));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("tables")
  void everyOptionOfTheHoldersHasOneRow(OptionTables.Table table) throws IllegalAccessException {
    List<String> keys = new ArrayList<>();
    for (Class<?> holder : table.holders()) {
      for (Field f : holder.getDeclaredFields()) {
        if (f.getType() == ConfigOption.class) {
          // one that is not public static final would be left out of the table
          assertThat(Modifier.isPublic(f.getModifiers()) && Modifier.isStatic(f.getModifiers())
              && Modifier.isFinal(f.getModifiers())).as("%s is public static final", f).isTrue();
          keys.add(((ConfigOption<?>) f.get(null)).key());
        }
      }
    }
    String rendered = OptionTables.render(table);
    List<String> rows = rendered.lines().skip(2).toList();
    assertThat(rows).hasSize(keys.size());
    for (int i = 0; i < keys.size(); i++) {
      assertThat(rows.get(i)).startsWith("| `" + keys.get(i) + "` |");
    }
    assertThat(new HashSet<>(keys)).as("keys are unique in table %s", table.name()).hasSameSizeAs(keys);
  }

  @Test
  void theJobTableHoldsTheOptionsTheJobReads() {
    String job = OptionTables.render(OptionTables.TABLES.get(0));
    assertThat(job)
        .contains("| `kafka.bootstrap.servers` | (none) | String | Kafka bootstrap servers (required;")
        .contains("| `kafka.transaction.timeout.ms` | `900000` | Long |")
        .contains("| `inference.max-wait` | `5 ms` | Duration | Longest time a request waits for its batch to fill. |")
        .contains("| `inference.default-tasks` | (none) | List&lt;String&gt; |")
        .contains("| `inference.zero-shot.hypothesis-template` | `This example is {}.` | String |")
        .contains("| `inference.model.zero-shot-classification` | (none) | String | Model directory for"
            + " zero-shot-classification (an NLI model):");
    assertThat(job.indexOf("`job.name`")).isLessThan(job.indexOf("`inference.model.text-classification`"));
    String sql = OptionTables.render(OptionTables.TABLES.get(1));
    assertThat(sql).contains("| `max-batch-size` | `32` | Integer | A batch is run as soon as it holds this many"
        + " requests. |");
  }

  /** The example configuration, commented-out keys included, names only options the job has (no typos). */
  @Test
  void theExamplePropertiesNameOnlyKnownOptions() throws IOException {
    Set<String> known = new HashSet<>(Set.of("parallelism.default", "execution.checkpointing.interval"));
    for (Class<?> holder : OptionTables.TABLES.get(0).holders()) {
      OptionTables.options(holder).forEach(o -> known.add(o.option().key()));
    }
    List<String> keys = new ArrayList<>();
    for (String line : Files.readAllLines(ROOT.resolve("docs/job.example.properties"), StandardCharsets.UTF_8)) {
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("^#?([a-z][a-z0-9.-]*)=").matcher(line);
      if (m.find()) {
        keys.add(m.group(1));
      }
    }
    assertThat(keys).contains("kafka.bootstrap.servers", "inference.model.text-classification");
    assertThat(keys).filteredOn(k -> !k.startsWith("kafka.") || k.equals("kafka.transaction.timeout.ms"))
        .allSatisfy(k -> assertThat(known).as("options of the job").contains(k));
  }

  /** Every class of the job's modules that declares ConfigOption fields has a table. */
  @Test
  void everyOptionsClassHasATable() throws IOException {
    Set<String> documented = OptionTables.TABLES.stream().flatMap(t -> t.holders().stream())
        .map(Class::getName).collect(Collectors.toSet());
    Set<String> declaring = new HashSet<>();
    for (String module : List.of("operators", "jobs")) {
      Path src = ROOT.resolve(module).resolve("src/main/java");
      try (Stream<Path> files = Files.walk(src)) {
        for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
          if (Files.readString(f, StandardCharsets.UTF_8).contains("public static final ConfigOption<")) {
            declaring.add(src.relativize(f).toString().replace(f.getFileSystem().getSeparator(), ".")
                .replaceAll("\\.java$", ""));
          }
        }
      }
    }
    assertThat(declaring).contains(JobConfig.class.getName(), InferenceOptions.class.getName(),
        DistilBertOptions.class.getName());
    assertThat(documented).containsAll(declaring);
  }

  /** A holder of every kind of option the renderer meets. */
  static final class Sample {
    public static final ConfigOption<String> PIPE = ConfigOptions.key("a.pipe").stringType().defaultValue("x|y")
        .withDescription("one | two\nthree");
    public static final ConfigOption<Duration> WAIT = ConfigOptions.key("a.wait").durationType()
        .defaultValue(Duration.ofSeconds(60)).withDescription("wait");
    public static final ConfigOption<List<String>> LIST = ConfigOptions.key("a.list").stringType().asList()
        .defaultValues("a", "b");
    public static final ConfigOption<Integer> NONE = ConfigOptions.key("a.none").intType().noDefaultValue()
        .withDescription(Description.builder().text("see %s", TextElement.code("b.key")).build());
    public static final ConfigOption<String> EMPTY = ConfigOptions.key("a.empty").stringType().defaultValue("")
        .withDescription("100% empty");
    static final ConfigOption<String> HIDDEN = ConfigOptions.key("a.hidden").stringType().noDefaultValue();
  }

  @Test
  void rendersKeyDefaultTypeAndDescriptionInDeclarationOrder() {
    assertThat(OptionTables.render(OptionTables.options(Sample.class))).isEqualTo("""
        | key | default | type | description |
        |---|---|---|---|
        | `a.pipe` | `x\\|y` | String | one \\| two<br>three |
        | `a.wait` | `1 min` | Duration | wait |
        | `a.list` | `a;b` | List&lt;String&gt; |  |
        | `a.none` | (none) | Integer | see `b.key` |
        | `a.empty` | (empty) | String | 100% empty |
        """);
  }

  @Test
  void replacesOnlyWhatIsBetweenTheMarkers() {
    OptionTables.Table t = new OptionTables.Table("t", "x.md", List.of(Sample.class));
    String page = "intro\n" + t.begin() + "\n| old |\n" + t.end() + "\noutro\n";
    String updated = OptionTables.replace(page, t, "| new |\n");
    assertThat(updated).isEqualTo("intro\n" + t.begin() + "\n| new |\n" + t.end() + "\noutro\n");
    assertThat(OptionTables.extract(updated, t)).isEqualTo("| new |\n");
    assertThat(OptionTables.replace(updated, t, "| new |\n")).isEqualTo(updated);
  }

  @Test
  void aPageWithoutItsMarkersIsAnError() {
    OptionTables.Table t = new OptionTables.Table("t", "x.md", List.of(Sample.class));
    assertThatThrownBy(() -> OptionTables.extract("no markers", t))
        .hasMessageContaining("x.md has no <!-- options:t:begin --> ... <!-- options:t:end --> markers");
    assertThatThrownBy(() -> OptionTables.extract(t.end() + t.begin(), t)).hasMessageContaining("in that order");
    String twice = t.begin() + "\n" + t.end() + "\n" + t.begin() + "\n" + t.end();
    assertThatThrownBy(() -> OptionTables.extract(twice, t)).hasMessageContaining("twice");
  }

  @Test
  void mainRewritesEveryStaleTable(@org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
    for (OptionTables.Table t : OptionTables.TABLES) {
      Path page = dir.resolve(t.page());
      Files.createDirectories(page.getParent());
      Files.writeString(page, "prose\n" + t.begin() + "\n| stale |\n" + t.end() + "\nmore prose\n");
    }
    OptionTables.main(new String[] {dir.toString()});
    for (OptionTables.Table t : OptionTables.TABLES) {
      String page = Files.readString(dir.resolve(t.page()));
      assertThat(page).startsWith("prose\n" + t.begin() + "\n| key | default | type | description |\n")
          .endsWith(t.end() + "\nmore prose\n").doesNotContain("stale");
      assertThat(OptionTables.extract(page, t)).isEqualTo(OptionTables.render(t));
    }
    assertThat(OptionTables.regenerate(dir)).isEmpty(); // nothing left to change
    assertThat(Arrays.asList(OptionTables.REGENERATE.split(" ")))
        .contains("-Dtest=OptionTablesTest", "-D" + OptionTables.REGENERATE_PROPERTY + "=true");
  }
}
