package io.distilstream.tools.local;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * A real single-node Kafka broker (KRaft, broker and controller in one) in its own JVM, started from the Kafka
 * server jars on 127.0.0.1 in a temporary directory: for the demo and the end-to-end tests, on machines with no
 * Docker engine. {@link #stop()} and {@link #start()} again keep the data (a broker restart); {@link #close()}
 * deletes it.
 */
public final class LocalKafka implements AutoCloseable {
  /** File listing the Kafka server jars; written by the tools module's build. */
  public static final String CLASSPATH_PROPERTY = "distilstream.kafka.classpath.file";

  private final Path dir;
  private final int port;
  private final int controllerPort;
  private final String classpath;
  private Process process;

  private LocalKafka(Path dir, int port, int controllerPort, String classpath) {
    this.dir = dir;
    this.port = port;
    this.controllerPort = controllerPort;
    this.classpath = classpath;
  }

  /** Formats a new broker in a temp directory and starts it; returns once it answers an admin request. */
  public static LocalKafka start(Map<String, String> brokerOverrides) throws IOException {
    Path dir = Files.createTempDirectory("distilstream-kafka-");
    LocalKafka kafka = new LocalKafka(dir, freePort(), freePort(), serverClasspath());
    try {
      kafka.writeConfig(brokerOverrides);
      kafka.format();
      kafka.start();
      return kafka;
    } catch (IOException | RuntimeException e) {
      kafka.close();
      throw e;
    }
  }

  public String bootstrapServers() {
    return "127.0.0.1:" + port;
  }

  public Path directory() {
    return dir;
  }

  /** The broker process's id, or -1 when it is not running. */
  public synchronized long pid() {
    return process != null && process.isAlive() ? process.pid() : -1;
  }

  private Path config() {
    return dir.resolve("server.properties");
  }

  private void writeConfig(Map<String, String> overrides) throws IOException {
    Properties p = new Properties();
    p.setProperty("process.roles", "broker,controller");
    p.setProperty("node.id", "1");
    p.setProperty("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
    p.setProperty("listeners", "PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort);
    p.setProperty("advertised.listeners", "PLAINTEXT://127.0.0.1:" + port);
    p.setProperty("controller.listener.names", "CONTROLLER");
    p.setProperty("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
    p.setProperty("inter.broker.listener.name", "PLAINTEXT");
    p.setProperty("log.dirs", dir.resolve("data").toString());
    p.setProperty("num.partitions", "2");
    p.setProperty("auto.create.topics.enable", "false");
    p.setProperty("offsets.topic.replication.factor", "1");
    p.setProperty("offsets.topic.num.partitions", "4");
    p.setProperty("transaction.state.log.replication.factor", "1");
    p.setProperty("transaction.state.log.min.isr", "1");
    p.setProperty("transaction.state.log.num.partitions", "4");
    p.setProperty("share.coordinator.state.topic.replication.factor", "1");
    p.setProperty("share.coordinator.state.topic.min.isr", "1");
    p.setProperty("group.initial.rebalance.delay.ms", "0");
    p.setProperty("transaction.max.timeout.ms", "900000");
    p.putAll(overrides);
    try (var w = Files.newBufferedWriter(config(), StandardCharsets.UTF_8)) {
      p.store(w, "distilstream local Kafka broker");
    }
  }

  private void format() throws IOException {
    Process f = java("kafka.tools.StorageTool", "format", "-t", Uuid.randomUuid().toString(),
        "-c", config().toString()).redirectOutput(dir.resolve("format.log").toFile()).start();
    try {
      if (!f.waitFor(120, TimeUnit.SECONDS) || f.exitValue() != 0) {
        f.destroyForcibly();
        throw new IOException("formatting the Kafka storage failed:\n" + tail(dir.resolve("format.log")));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while formatting Kafka storage", e);
    }
  }

  /** Starts (or restarts, after {@link #stop()}) the broker process and waits until it serves requests. */
  public synchronized void start() throws IOException {
    if (process != null && process.isAlive()) {
      return;
    }
    process = java("kafka.Kafka", config().toString())
        .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("server.log").toFile()))
        .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    Exception last = null;
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IOException("the Kafka broker exited with " + process.exitValue() + ":\n"
            + tail(dir.resolve("server.log")));
      }
      try (Admin admin = admin()) {
        admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
        return;
      } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
        last = e;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while waiting for Kafka", e);
      }
    }
    throw new IOException("the Kafka broker did not answer within 120 s: " + last + "\n"
        + tail(dir.resolve("server.log")));
  }

  /** Stops the broker process gracefully; its data stays for a later {@link #start()}. */
  public synchronized void stop() {
    if (process == null) {
      return;
    }
    process.destroy();
    try {
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    process = null;
  }

  public Admin admin() {
    return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers(),
        AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000, AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000));
  }

  /**
   * Creates topics (replication 1) unless they exist, and returns once the broker leads every partition of them.
   * The wait matters: an idempotent producer whose first batch meets a partition the broker does not lead yet
   * retries it while its later batches land, and the broker then refuses the retried batch as out of sequence
   * until the delivery timeout (seen as "Expiring N record(s)" two minutes later).
   */
  public void createTopics(int partitions, Collection<String> topics) throws IOException {
    try (Admin admin = admin()) {
      List<NewTopic> list = new ArrayList<>();
      for (String t : topics) {
        list.add(new NewTopic(t, partitions, (short) 1));
      }
      for (var f : admin.createTopics(list).values().values()) {
        try {
          f.get(60, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
          if (!(e.getCause() instanceof TopicExistsException)) {
            throw new IOException("creating topics " + topics + " failed: " + e.getCause(), e.getCause());
          }
        }
      }
      awaitLeaders(admin, topics);
    } catch (InterruptedException | java.util.concurrent.TimeoutException e) {
      throw new IOException("creating topics " + topics + " failed: " + e, e);
    }
  }

  /** Polls the broker's metadata until every partition of the topics has a leader (60 s at most). */
  private static void awaitLeaders(Admin admin, Collection<String> topics)
      throws IOException, InterruptedException, java.util.concurrent.TimeoutException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    String missing = "";
    while (System.nanoTime() < deadline) {
      try {
        missing = admin.describeTopics(topics).allTopicNames().get(10, TimeUnit.SECONDS).values().stream()
            .flatMap(d -> d.partitions().stream().filter(p -> p.leader() == null || p.leader().isEmpty())
                .map(p -> d.name() + "-" + p.partition()))
            .collect(java.util.stream.Collectors.joining(", "));
      } catch (ExecutionException e) {
        missing = String.valueOf(e.getCause()); // the broker may not know a just-created topic yet
      }
      if (missing.isEmpty()) {
        return;
      }
      Thread.sleep(50); // polling the broker: there is no notification to wait on
    }
    throw new IOException("partitions without a leader 60 s after creating them: " + missing);
  }

  /** {@link #produce(String, List, Map)} with the default producer settings. */
  public void produce(String topic, List<byte[]> values) throws IOException {
    produce(topic, values, Map.of());
  }

  /**
   * Writes values (no keys) to a topic in order and returns once the broker has acknowledged every one of them.
   *
   * @param producerOverrides producer settings over {@code acks=all} and {@code linger.ms=5}, such as
   *     {@code max.request.size} for large records
   */
  public void produce(String topic, List<byte[]> values, Map<String, Object> producerOverrides) throws IOException {
    produce(topic, values, producerOverrides, 0);
  }

  /**
   * Writes value i to partition i mod {@code partitions}: an even spread, which Kafka's sticky partitioner does not
   * give a few hundred small records (they fill one partition's batch first).
   */
  public void produceSpread(String topic, List<byte[]> values, int partitions) throws IOException {
    produce(topic, values, Map.of(), partitions);
  }

  private void produce(String topic, List<byte[]> values, Map<String, Object> producerOverrides, int partitions)
      throws IOException {
    Map<String, Object> props = new HashMap<>();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    // One request in flight: a retried batch is never overtaken by a later one (see createTopics), and the
    // records keep their order on every partition.
    props.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 1);
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    props.putAll(producerOverrides);
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
      List<Future<RecordMetadata>> sent = new ArrayList<>(values.size());
      for (int i = 0; i < values.size(); i++) {
        sent.add(producer.send(partitions > 0 ? new ProducerRecord<>(topic, i % partitions, null, values.get(i))
            : new ProducerRecord<>(topic, values.get(i))));
      }
      producer.flush();
      for (Future<RecordMetadata> f : sent) {
        f.get();
      }
    } catch (ExecutionException e) {
      throw new IOException("producing to " + topic + " failed: " + e.getCause() + "\nthe broker's log ends:\n"
          + tail(dir.resolve("server.log")), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while producing to " + topic, e);
    }
  }

  @Override
  public void close() {
    stop();
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
    } catch (IOException | UncheckedIOException ignored) {
      // a temp directory left behind is not worth failing for
    }
  }

  private ProcessBuilder java(String mainClass, String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx512m");
    cmd.add("-XX:+UseG1GC");
    cmd.add("-Dlog4j2.level=WARN");
    cmd.add("-cp");
    cmd.add(classpath);
    cmd.add(mainClass);
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectErrorStream(true).directory(dir.toFile());
  }

  /** The Kafka server jars: the file the build writes, found from the property or from the checkout. */
  static String serverClasspath() throws IOException {
    Optional<String> cp = BuildFiles.read(CLASSPATH_PROPERTY, "kafka-server.classpath");
    if (cp.isPresent()) {
      return cp.get();
    }
    throw new IOException("the Kafka server classpath file was not found (looked for " + CLASSPATH_PROPERTY
        + " and tools/target/kafka-server.classpath): build the tools module first (./mvnw -pl tools -am package)");
  }

  private static int freePort() throws IOException {
    return LoopbackPorts.free();
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(no log at " + log + ")";
    }
  }
}
