package io.distilstream.e2e.docker;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Reads what docker/ holds the way Docker, Compose and Kubernetes read it: Dockerfiles (instructions, line
 * continuations, JSON-form CMD), YAML with anchors and merge keys (SnakeYAML, as Compose resolves them before it
 * validates), Compose's {@code ${VAR:-default}} interpolation, and docker/job.properties.
 */
public final class DockerFiles {
  public static final JsonMapper JSON = JsonMapper.builder().build();

  private DockerFiles() {}

  /** The repository root: the build passes it; else the nearest parent with docker/Dockerfile. */
  public static Path root() {
    String prop = System.getProperty("distilstream.root");
    if (prop != null && Files.isRegularFile(Paths.get(prop, "docker", "Dockerfile"))) {
      return Paths.get(prop).toAbsolutePath().normalize();
    }
    for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
      if (Files.isRegularFile(p.resolve("docker/Dockerfile"))) {
        return p;
      }
    }
    throw new IllegalStateException("docker/Dockerfile not found above " + Paths.get("").toAbsolutePath());
  }

  public static Path docker(String name) {
    return root().resolve("docker").resolve(name);
  }

  // ---- YAML ------------------------------------------------------------------------------------------------

  /** A YAML file as a JSON tree: anchors, aliases and {@code <<} merge keys resolved. */
  public static JsonNode yaml(Path file) throws IOException {
    LoaderOptions options = new LoaderOptions();
    options.setAllowDuplicateKeys(false); // Compose refuses duplicate keys too
    Yaml yaml = new Yaml(new SafeConstructor(options));
    try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      Object doc = yaml.load(r);
      return JSON.valueToTree(doc);
    }
  }

  /** A JSON schema or document from the test resources. */
  public static JsonNode resourceJson(String name) throws IOException {
    try (var in = DockerFiles.class.getResourceAsStream("/docker-schemas/" + name)) {
      if (in == null) {
        throw new IOException("missing test resource docker-schemas/" + name);
      }
      return JSON.readTree(in);
    }
  }

  private static final Pattern VAR = Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?}");

  /** Compose interpolation with every variable unset: {@code ${VAR:-default}} becomes default, {@code $$} a $. */
  public static String interpolateDefaults(String s) {
    Matcher m = VAR.matcher(s);
    StringBuilder sb = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(sb, Matcher.quoteReplacement(m.group(2) == null ? "" : m.group(2)));
    }
    m.appendTail(sb);
    return sb.toString().replace("$$", "$");
  }

  /** A list of strings from a YAML sequence node. */
  public static List<String> strings(JsonNode seq) {
    List<String> out = new ArrayList<>();
    seq.forEach(n -> out.add(n.asString()));
    return out;
  }

  /** The {@code key: value} lines of a Flink image's FLINK_PROPERTIES environment variable. */
  public static Map<String, String> flinkProperties(JsonNode service) {
    Map<String, String> out = new java.util.LinkedHashMap<>();
    JsonNode env = service.path("environment").path("FLINK_PROPERTIES");
    for (String line : env.asString("").split("\n")) {
      int colon = line.indexOf(':');
      if (!line.isBlank() && colon > 0) {
        out.put(line.substring(0, colon).trim(), line.substring(colon + 1).trim());
      }
    }
    return out;
  }

  // ---- job.properties ---------------------------------------------------------------------------------------

  public static Properties jobProperties() throws IOException {
    Properties p = new Properties();
    try (Reader r = Files.newBufferedReader(docker("job.properties"), StandardCharsets.UTF_8)) {
      p.load(r);
    }
    return p;
  }

  // ---- Dockerfile -------------------------------------------------------------------------------------------

  /** One instruction: its keyword (upper case), its raw arguments, and the build stage it belongs to. */
  public record Instruction(String keyword, String args, int stage, int line) {
    /** The JSON (exec) form's words; fails for the shell form. */
    public List<String> execForm() {
      String a = args.trim();
      if (!a.startsWith("[")) {
        throw new IllegalStateException(keyword + " at line " + line + " is in shell form: " + a);
      }
      List<String> out = new ArrayList<>();
      JSON.readTree(a).forEach(n -> out.add(n.asString()));
      return out;
    }

    /** Words of a shell-like instruction, flags such as {@code --chown=...} included. */
    public List<String> words() {
      return List.of(args.trim().split("\\s+"));
    }
  }

  public record Dockerfile(Path path, List<Instruction> instructions) {
    public List<Instruction> all(String keyword) {
      return instructions.stream().filter(i -> i.keyword().equals(keyword)).toList();
    }

    public int finalStage() {
      return instructions.stream().mapToInt(Instruction::stage).max().orElse(0);
    }

    /** The last instruction of this kind in the final stage (the one that counts), or null. */
    public Instruction last(String keyword) {
      Instruction found = null;
      for (Instruction i : instructions) {
        if (i.keyword().equals(keyword) && i.stage() == finalStage()) {
          found = i;
        }
      }
      return found;
    }
  }

  public static Dockerfile dockerfile(String name) throws IOException {
    Path path = docker(name);
    List<String> lines = Files.readAllLines(path, StandardCharsets.UTF_8);
    List<Instruction> out = new ArrayList<>();
    int stage = -1;
    StringBuilder current = null;
    int startLine = 0;
    for (int n = 0; n < lines.size(); n++) {
      String line = lines.get(n);
      String trimmed = line.trim();
      if (current == null && (trimmed.isEmpty() || trimmed.startsWith("#"))) {
        continue;
      }
      if (current != null && trimmed.startsWith("#")) {
        continue; // comment lines inside a continued instruction are dropped, as Docker does
      }
      if (current == null) {
        current = new StringBuilder();
        startLine = n + 1;
      }
      if (trimmed.endsWith("\\")) {
        current.append(trimmed, 0, trimmed.length() - 1).append(' ');
        continue;
      }
      current.append(trimmed);
      String text = current.toString().trim();
      current = null;
      int sp = text.indexOf(' ');
      String keyword = (sp < 0 ? text : text.substring(0, sp)).toUpperCase(Locale.ROOT);
      String args = sp < 0 ? "" : text.substring(sp + 1).trim();
      if (keyword.equals("FROM")) {
        stage++;
      }
      out.add(new Instruction(keyword, args, stage, startLine));
    }
    if (current != null) {
      throw new IllegalStateException(path + " ends inside a continued instruction");
    }
    return new Dockerfile(path, out);
  }
}
