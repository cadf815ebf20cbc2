package io.distilstream.tools.local;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.net.ssl.SSLContext;

/**
 * A real schema registry on this machine: Apicurio Registry (in-memory storage) from the
 * {@code io.apicurio:apicurio-registry-app:<version>:tar.gz:all} archive that Maven caches for the tools module's
 * tests, unpacked once into the temp directory and started as its own JVM on a free loopback port. Its
 * Confluent-compatible API ({@link #url()}) is what the job's {@code schema.registry.url} takes. For the demo and
 * the tests, on machines without Docker.
 *
 * <p>Apicurio 3 needs a Java 21+ runtime: the one named by {@code distilstream.registry.java} (or
 * {@code DISTILSTREAM_REGISTRY_JAVA}), else this JVM if it is one, else {@code JAVA_HOME}, else the newest under
 * {@code /usr/lib/jvm}. Without one, Apicurio 2.6.13.Final (which runs on Java 17) is used when it is in the local
 * Maven repository; otherwise {@link #unavailableReason()} says what is missing (tests skip with it). Its data lives
 * as long as its process: {@link #close()} stops it by its own process id.
 */
public final class LocalSchemaRegistry implements AutoCloseable {
  /** A file holding the path of the registry archive; written by the tools module's build. */
  public static final String ARCHIVE_FILE_PROPERTY = "distilstream.registry.archive.file";
  public static final String JAVA_PROPERTY = "distilstream.registry.java";
  static final String FALLBACK_VERSION = "2.6.13.Final";
  /** The system property on the registry's command line that names its run directory. */
  public static final String DIR_MARK = "distilstream.registry.dir";

  private final Path runDir;
  private final int port;
  private final Process process;
  private final Thread reaper;
  /** Null: plain HTTP; else the registry serves HTTPS only, and the readiness probe connects with this. */
  private final SSLContext tls;

  private LocalSchemaRegistry(Path runDir, int port, Process process, SSLContext tls) {
    this.runDir = runDir;
    this.tls = tls;
    this.port = port;
    this.process = process;
    // a test JVM that dies without close() must not leave the registry running
    this.reaper = new Thread(process::destroyForcibly, "schema-registry-reaper");
    Runtime.getRuntime().addShutdownHook(reaper);
  }

  /** Why no registry can be started here (no archive, no suitable Java runtime), or null when one can. */
  public static String unavailableReason() {
    try {
      launch();
      return null;
    } catch (Unavailable e) {
      return e.getMessage();
    }
  }

  /** Starts a registry on a free loopback port; returns once its Confluent-compatible API answers. */
  public static LocalSchemaRegistry start() throws IOException {
    return start(freePort());
  }

  /** Starts a registry on {@code port} (tests that point a client at a port before anything listens there). */
  public static LocalSchemaRegistry start(int port) throws IOException {
    return start(port, Map.of(), null);
  }

  /**
   * Starts a registry that serves HTTPS only, on a free loopback port ({@code quarkus.http.ssl-port}, insecure
   * requests disabled); {@code properties} are the Quarkus TLS options (key store, {@code
   * quarkus.http.ssl.client-auth}, ...), {@code probe} what the readiness probe connects with (it must trust the
   * server, and present a client certificate when the registry requires one).
   */
  public static LocalSchemaRegistry startHttps(Map<String, String> properties, SSLContext probe) throws IOException {
    Map<String, String> all = new LinkedHashMap<>(properties);
    all.put("quarkus.http.insecure-requests", "disabled");
    return start(freePort(), all, probe);
  }

  private static LocalSchemaRegistry start(int port, Map<String, String> properties, SSLContext tls)
      throws IOException {
    Launch launch = launch();
    Path jar = unpacked(launch.archive()).resolve("quarkus-run.jar");
    Path runDir = Files.createTempDirectory("distilstream-registry-");
    List<String> cmd = new ArrayList<>(List.of(launch.java().toString(), "-Xmx512m", "-XX:+UseSerialGC",
        // C1 only: the registry serves a few requests; startup on 2 busy cores is what counts
        "-XX:TieredStopAtLevel=1",
        // names the run directory on the command line, so that `cluster status|down` can tell this process is ours
        "-D" + DIR_MARK + "=" + runDir,
        "-Dquarkus.http.host=127.0.0.1",
        tls == null ? "-Dquarkus.http.port=" + port : "-Dquarkus.http.ssl-port=" + port,
        "-Dquarkus.management.host=127.0.0.1", "-Dquarkus.management.port=" + freePort()));
    if (tls != null) {
      // the plain port is not served (insecure requests disabled), but must not clash with another registry's
      cmd.add("-Dquarkus.http.port=" + freePort());
    }
    properties.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
    cmd.addAll(List.of("-jar", jar.toString()));
    Process p = new ProcessBuilder(cmd).directory(runDir.toFile()).redirectErrorStream(true)
        .redirectOutput(runDir.resolve("registry.log").toFile()).start();
    LocalSchemaRegistry r = new LocalSchemaRegistry(runDir, port, p, tls);
    try {
      r.awaitReady();
      return r;
    } catch (IOException | RuntimeException e) {
      r.close();
      throw e;
    }
  }

  /** The Confluent-compatible API's base URL, for {@code schema.registry.url}. */
  public String url() {
    return (tls == null ? "http" : "https") + "://127.0.0.1:" + port + "/apis/ccompat/v7";
  }

  public int port() {
    return port;
  }

  /** The registry process's id, or -1 once it has stopped. */
  public long pid() {
    return process.isAlive() ? process.pid() : -1;
  }

  /** The registry's working directory (its log, {@code registry.log}); {@link #close()} deletes it. */
  public Path directory() {
    return runDir;
  }

  /**
   * Leaves the registry running after this JVM exits (for {@code cluster up}): the process is no longer stopped by
   * a shutdown hook, and its directory stays; whoever keeps {@link #pid()} and {@link #directory()} stops it.
   */
  public void detach() {
    try {
      Runtime.getRuntime().removeShutdownHook(reaper);
    } catch (IllegalStateException ignored) {
      // the JVM is shutting down already
    }
  }

  private void awaitReady() throws IOException {
    HttpClient.Builder b = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(2));
    if (tls != null) {
      b.sslContext(tls);
    }
    HttpClient http = b.build();
    HttpRequest ping = HttpRequest.newBuilder(URI.create(url() + "/subjects")).timeout(Duration.ofSeconds(5)).build();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
    String last = "no answer";
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IOException("the schema registry exited with " + process.exitValue() + ":\n" + tail());
      }
      try {
        HttpResponse<Void> r = http.send(ping, HttpResponse.BodyHandlers.discarding());
        if (r.statusCode() == 200) {
          return;
        }
        last = "status " + r.statusCode();
      } catch (IOException e) {
        last = e.toString();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while waiting for the schema registry", e);
      }
      try {
        // the pause between probes doubles as a check that the process is still there
        process.waitFor(200, TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while waiting for the schema registry", e);
      }
    }
    throw new IOException("the schema registry did not answer within 180 s (" + last + "):\n" + tail());
  }

  @Override
  public void close() {
    process.destroy();
    try {
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    try {
      Runtime.getRuntime().removeShutdownHook(reaper);
    } catch (IllegalStateException ignored) {
      // the JVM is shutting down already
    }
    deleteTree(runDir);
  }

  private String tail() {
    try {
      List<String> lines = Files.readAllLines(runDir.resolve("registry.log"), StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException | UncheckedIOException e) {
      return "(no log)";
    }
  }

  /** Nothing to start a registry with on this machine. */
  public static final class Unavailable extends IOException {
    private static final long serialVersionUID = 1L;

    Unavailable(String message) {
      super(message);
    }
  }

  private record Launch(Path archive, Path java) {}

  /** The archive and the Java runtime to run it with. */
  private static Launch launch() throws Unavailable {
    Path archive = archive();
    int major = archiveMajor(archive);
    if (major < 3) {
      return new Launch(archive, currentJava());
    }
    Path java = java21();
    if (java != null) {
      return new Launch(archive, java);
    }
    Path fallback = Paths.get(System.getProperty("user.home"), ".m2", "repository", "io", "apicurio",
        "apicurio-registry-app", FALLBACK_VERSION, "apicurio-registry-app-" + FALLBACK_VERSION + "-all.tar.gz");
    if (Files.isRegularFile(fallback)) {
      return new Launch(fallback, currentJava());
    }
    throw new Unavailable("no Java 21+ runtime found for Apicurio Registry " + archive.getFileName() + " (looked at "
        + JAVA_PROPERTY + ", DISTILSTREAM_REGISTRY_JAVA, this JVM, JAVA_HOME and /usr/lib/jvm): install one and"
        + " name it with -D" + JAVA_PROPERTY + "=/path/to/jdk, or fetch the Java 17 fallback with ./mvnw"
        + " dependency:get -Dartifact=io.apicurio:apicurio-registry-app:" + FALLBACK_VERSION + ":tar.gz:all");
  }

  private static Path archive() throws Unavailable {
    Optional<Path> archive = BuildFiles.read(ARCHIVE_FILE_PROPERTY, "schema-registry.archive").map(Paths::get)
        .filter(Files::isRegularFile);
    if (archive.isPresent()) {
      return archive.get();
    }
    throw new Unavailable("the Apicurio Registry archive was not found (looked for " + ARCHIVE_FILE_PROPERTY
        + " and tools/target/schema-registry.archive): build the tools module first (./mvnw -pl tools -am package"
        + " -DskipTests), which fetches io.apicurio:apicurio-registry-app:tar.gz:all into the Maven repository");
  }

  private static int archiveMajor(Path archive) {
    Matcher m = Pattern.compile("apicurio-registry-app-(\\d+)\\.").matcher(archive.getFileName().toString());
    return m.find() ? Integer.parseInt(m.group(1)) : 3;
  }

  private static Path currentJava() {
    return Paths.get(System.getProperty("java.home"), "bin", "java");
  }

  /** A Java 21+ runtime's {@code bin/java}, or null. */
  static Path java21() {
    List<Path> homes = new ArrayList<>();
    String named = System.getProperty(JAVA_PROPERTY, System.getenv("DISTILSTREAM_REGISTRY_JAVA"));
    if (named != null && !named.isBlank()) {
      Path p = Paths.get(named.trim());
      homes.add(p.endsWith(Paths.get("bin", "java")) ? p.getParent().getParent() : p);
    }
    homes.add(Paths.get(System.getProperty("java.home")));
    if (System.getenv("JAVA_HOME") != null) {
      homes.add(Paths.get(System.getenv("JAVA_HOME")));
    }
    List<Path> installed = new ArrayList<>();
    for (String root : List.of("/usr/lib/jvm", "/opt/java", "/usr/local/lib/jvm")) {
      try (Stream<Path> s = Files.list(Paths.get(root))) {
        s.forEach(installed::add);
      } catch (IOException | RuntimeException ignored) {
        // not on this machine
      }
    }
    installed.sort(Comparator.comparingInt(LocalSchemaRegistry::feature).reversed());
    homes.addAll(installed);
    for (Path home : homes) {
      Path java = home.resolve("bin").resolve("java");
      if (feature(home) >= 21 && Files.isExecutable(java)) {
        return java;
      }
    }
    return null;
  }

  /** The runtime's feature version from its {@code release} file ({@code JAVA_VERSION="25.0.1"}), or 0. */
  static int feature(Path home) {
    Properties p = new Properties();
    try (InputStream in = Files.newInputStream(home.resolve("release"))) {
      p.load(in);
    } catch (IOException | RuntimeException e) {
      return 0;
    }
    String v = p.getProperty("JAVA_VERSION", "").replace("\"", "");
    Matcher m = Pattern.compile("^(?:1\\.)?(\\d+)").matcher(v);
    return m.find() ? Integer.parseInt(m.group(1)) : 0;
  }

  /**
   * The archive unpacked (Quarkus fast-jar layout) under the temp directory, once per archive: into a fresh folder
   * first, then renamed into place, so a half-unpacked folder is never used.
   */
  private static Path unpacked(Path archive) throws IOException {
    Path dir = Paths.get(System.getProperty("java.io.tmpdir"), "distilstream-" + archive.getFileName()
        .toString().replace(".tar.gz", "") + "-" + Files.size(archive));
    if (Files.isRegularFile(dir.resolve("quarkus-run.jar"))) {
      return dir;
    }
    Path tmp = Files.createTempDirectory(dir.getParent(), dir.getFileName() + ".unpacking-");
    Process tar = new ProcessBuilder("tar", "-xzf", archive.toString(), "-C", tmp.toString())
        .redirectErrorStream(true).redirectOutput(tmp.resolve("tar.log").toFile()).start();
    try {
      if (!tar.waitFor(300, TimeUnit.SECONDS) || tar.exitValue() != 0) {
        tar.destroyForcibly();
        throw new IOException("unpacking " + archive + " failed: " + Files.readString(tmp.resolve("tar.log")));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while unpacking " + archive, e);
    }
    Path root = tmp;
    if (!Files.isRegularFile(root.resolve("quarkus-run.jar"))) {
      // an archive with one top folder
      try (Stream<Path> s = Files.list(tmp)) {
        root = s.filter(p -> Files.isRegularFile(p.resolve("quarkus-run.jar"))).findFirst()
            .orElseThrow(() -> new IOException(archive + " holds no quarkus-run.jar"));
      }
    }
    try {
      Files.move(root, dir, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      if (!Files.isRegularFile(dir.resolve("quarkus-run.jar"))) {
        throw e;
      }
      // another process unpacked it meanwhile
    }
    deleteTree(tmp);
    return dir;
  }

  private static int freePort() throws IOException {
    return LoopbackPorts.free();
  }

  private static void deleteTree(Path root) {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> files = Files.walk(root)) {
      files.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
    } catch (IOException | UncheckedIOException ignored) {
      // a temp directory left behind is not worth failing for
    }
  }
}
