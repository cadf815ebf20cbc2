package io.distilstream.e2e.docker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.distilstream.e2e.KafkaFixture;
import io.distilstream.e2e.docker.DockerFiles.Dockerfile;
import io.distilstream.e2e.docker.DockerFiles.Instruction;
import io.distilstream.schemas.AnswerResult;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.EntityResult;
import io.distilstream.tools.local.TopicReader;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.metrics.prometheus.PrometheusReporterFactory;
import org.apache.flink.runtime.clusterframework.TaskExecutorProcessSpec;
import org.apache.flink.runtime.clusterframework.TaskExecutorProcessUtils;
import org.apache.flink.runtime.jobmanager.JobManagerProcessSpec;
import org.apache.flink.runtime.jobmanager.JobManagerProcessUtils;
import org.apache.flink.runtime.util.config.memory.ProcessMemoryUtils;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/**
 * The image's start command, run outside Docker. What {@code docker compose up} would start, as separate
 * processes on this machine: a real Kafka broker (KRaft, its own JVM), a TaskManager with the compose file's two
 * slots, and a JobManager in application mode started with exactly the image's CMD words after
 * {@code standalone-job} ({@code --job-classname io.distilstream.jobs.JobCli -- --config
 * /opt/distilstream/job.properties}) through Flink's own {@code StandaloneApplicationClusterEntryPoint}, which is
 * what the image's entrypoint execs. Both Flink processes run on Flink's classpath only (what the image's lib/
 * holds); the job comes from the shaded jar in usrlib/, so a class missing from the jar fails here as it would in
 * the container. Paths inside the image are mapped to this machine: /opt/distilstream/job.properties is
 * docker/job.properties (the file the Dockerfile copies there) and /models is a folder of links to the tiny models
 * in ../shared, passed as {@code --set inference.model.TASK=...} overrides; the broker's address and a short
 * checkpoint interval are the only other overrides. The results must reach the output topics, read_committed.
 */
class DockerJobITCase {
  private static final String ENTRYPOINT_CLASS =
      "org.apache.flink.container.entrypoint.StandaloneApplicationClusterEntryPoint";
  private static final String TASKMANAGER_CLASS = "org.apache.flink.runtime.taskexecutor.TaskManagerRunner";

  /**
   * {@code env.java.opts.all} of the distribution's conf/config.yaml (flink-dist/src/main/resources/config.yaml,
   * "required for Java 17 support"), which the image's conf starts from and Flink's scripts put on every JVM.
   */
  static final String DISTRIBUTION_JAVA_OPTS = "--add-exports=java.base/sun.net.util=ALL-UNNAMED"
      + " --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED"
      + " --add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED"
      + " --add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED"
      + " --add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED"
      + " --add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED"
      + " --add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED"
      + " --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED"
      + " --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED"
      + " --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED"
      + " --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED"
      + " --add-opens=java.base/java.text=ALL-UNNAMED --add-opens=java.base/java.time=ALL-UNNAMED"
      + " --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED"
      + " --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED"
      + " --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED";

  private final List<Process> processes = new ArrayList<>();
  private final Map<String, Path> logs = new LinkedHashMap<>();
  private KafkaFixture kafka;
  private Path home;

  @AfterEach
  void stopAll() throws Exception {
    for (Process p : processes) {
      p.destroy();
    }
    for (Process p : processes) {
      if (!p.waitFor(30, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
    if (kafka != null) {
      kafka.close();
    }
    // the processes' logs stay in target/docker-job-test/ for a look after the build
    Path keep = Files.createDirectories(Paths.get("target", "docker-job-test"));
    for (Map.Entry<String, Path> e : logs.entrySet()) {
      if (Files.exists(e.getValue())) {
        Files.copy(e.getValue(), keep.resolve(e.getKey() + ".log"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      }
    }
    if (home != null) {
      try (Stream<Path> files = Files.walk(home)) {
        files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
  }

  static Path sharedModel(String name) {
    Path dir = Paths.get(System.getProperty("distilstream.shared", "../shared"), "models", name);
    assertThat(dir).as("test model (see ../shared/README.md)").isDirectory();
    return dir.toAbsolutePath().normalize();
  }

  @Test
  void theImagesStartCommandRunsTheJobInApplicationModeAndResultsReachTheOutputTopics() throws Exception {
    // ---- what the image and compose file say ----------------------------------------------------------------
    Dockerfile df = DockerFiles.dockerfile("Dockerfile");
    List<String> cmd = df.last("CMD").execForm();
    assertThat(cmd.get(0)).isEqualTo("standalone-job");
    Map<String, String> copies = new HashMap<>(); // image path -> local path
    for (Instruction c : df.all("COPY")) {
      List<String> w = c.words().stream().filter(x -> !x.startsWith("--")).toList();
      copies.put(w.get(1), w.get(0));
    }
    JsonNode services = DockerFiles.yaml(DockerFiles.docker("compose.yaml")).get("services");
    Properties job = DockerFiles.jobProperties();

    // ---- FLINK_HOME as in the image: conf/, lib/ (here: the classpath), usrlib/ with the job jar -------------
    home = Files.createTempDirectory("distilstream-flink-home-");
    Path conf = Files.createDirectories(home.resolve("conf"));
    Files.createDirectories(home.resolve("lib"));
    // Flink's Prometheus reporter where the image has it: a plugin of its own (the compose file turns it on)
    Path reporter = Files.createDirectories(home.resolve("plugins/metrics-prometheus"));
    Path reporterJar = Paths.get(PrometheusReporterFactory.class.getProtectionDomain().getCodeSource().getLocation()
        .toURI());
    Files.createSymbolicLink(reporter.resolve(reporterJar.getFileName()), reporterJar);
    Path usrlibJar = home.resolve(Paths.get("/opt/flink").relativize(Paths.get("/opt/flink/usrlib/distilstream-job.jar")));
    assertThat(copies).containsKey("/opt/flink/usrlib/distilstream-job.jar");
    Files.createDirectories(usrlibJar.getParent());
    Files.createSymbolicLink(usrlibJar, DockerfileTest.jobJar().toAbsolutePath());

    // the models "mounted" at /models: one folder per task, as the README tells users to lay them out
    Path models = Files.createDirectories(home.resolve("models"));
    Map<String, String> shared = Map.of(
        "text-classification", "tiny-distilbert-sequence-classification",
        "token-classification", "tiny-distilbert-token-classification",
        "question-answering", "tiny-distilbert-question-answering");
    List<String> overrides = new ArrayList<>();
    for (String key : new TreeSet<>(job.stringPropertyNames())) {
      if (key.startsWith("inference.model.")) {
        String inImage = job.getProperty(key);
        assertThat(inImage).startsWith("/models/");
        String task = key.substring("inference.model.".length());
        Path local = models.resolve(inImage.substring("/models/".length()));
        Files.createSymbolicLink(local, sharedModel(shared.get(task)));
        overrides.addAll(List.of("--set", key + "=" + local));
      }
    }
    assertThat(overrides).as("job.properties names models under /models").isNotEmpty();

    // ---- the cluster: config.yaml as the image's entrypoint writes it from FLINK_PROPERTIES ------------------
    // (the TaskManager starts first, while the broker boots; the JobManager, which runs the job, once it is up)
    mark("start");
    Map<String, String> flinkConf = new LinkedHashMap<>();
    flinkConf.put("env.java.opts.all", DISTRIBUTION_JAVA_OPTS);
    flinkConf.putAll(DockerFiles.flinkProperties(services.get("jobmanager")));
    flinkConf.putAll(DockerFiles.flinkProperties(services.get("taskmanager")));
    // the compose network's host names and fixed ports become loopback and free ports on this machine
    flinkConf.put("jobmanager.rpc.address", "localhost");
    flinkConf.put("jobmanager.bind-host", "localhost");
    flinkConf.put("jobmanager.rpc.port", Integer.toString(freePort()));
    flinkConf.put("rest.address", "localhost");
    flinkConf.put("rest.bind-address", "localhost");
    int restPort = freePort();
    flinkConf.put("rest.port", Integer.toString(restPort));
    flinkConf.put("blob.server.port", Integer.toString(freePort()));
    flinkConf.put("taskmanager.host", "localhost");
    flinkConf.put("taskmanager.bind-host", "localhost");
    // the reporter's one port in every container: a free port per process here (dynamic properties below)
    assertThat(flinkConf).containsKey(PROMETHEUS_PORT);
    int jmMetrics = freePort();
    int tmMetrics = freePort();
    StringBuilder yaml = new StringBuilder();
    flinkConf.forEach((k, v) -> yaml.append(k).append(": ").append(v).append('\n'));
    Files.writeString(conf.resolve("config.yaml"), yaml);
    Configuration flink = Configuration.fromMap(flinkConf);

    // the JVM options and memory settings Flink's scripts derive from the configuration (BashJavaUtils)
    TaskExecutorProcessSpec tmSpec = TaskExecutorProcessUtils.processSpecFromConfig(flink);
    List<String> tmArgs = new ArrayList<>(List.of("--configDir", conf.toString()));
    tmArgs.addAll(words(TaskExecutorProcessUtils.generateDynamicConfigsStr(tmSpec)));
    tmArgs.addAll(List.of("-D", PROMETHEUS_PORT + "=" + tmMetrics));
    start("taskmanager", words(ProcessMemoryUtils.generateJvmParametersStr(tmSpec)), TASKMANAGER_CLASS, tmArgs);
    mark("TaskManager started");

    // ---- Kafka, with the topics the compose file's one-shot service creates ------------------------------
    kafka = KafkaFixture.start(Map.of());
    mark("kafka started");
    List<String> topics = job.stringPropertyNames().stream().filter(k -> k.startsWith("topics."))
        .map(job::getProperty).sorted().toList();
    kafka.createTopics(2, topics);
    overrides.addAll(List.of("--set", "kafka.bootstrap.servers=" + kafka.bootstrapServers()));
    overrides.addAll(List.of("--set", "execution.checkpointing.interval=2 s"));

    // events first, as the producer service writes them (JSON lines; input.format=auto)
    int n = 30;
    Set<String> qaIds = new TreeSet<>();
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class,
        ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class))) {
      for (int i = 0; i < n; i++) {
        String id = "ev-" + i;
        String event = i % 5 == 0
            ? "{\"id\":\"" + id + "\",\"text\":\"Angela Merkel met engineers of Apple in Paris\","
                + "\"question\":\"Who met the engineers?\","
                + "\"tasks\":[\"text-classification\",\"token-classification\",\"question-answering\"]}"
            : "{\"id\":\"" + id + "\",\"text\":\"Comment number " + i + " about the parcel that came late\","
                + "\"tasks\":[\"text-classification\",\"token-classification\"]}";
        if (i % 5 == 0) {
          qaIds.add(id);
        }
        producer.send(new ProducerRecord<>(job.getProperty("topics.input"), event));
      }
      producer.flush();
    }

    // ---- the JobManager in application mode: the image's CMD -------------------------------------------------
    JobManagerProcessSpec jmSpec = JobManagerProcessUtils.processSpecFromConfig(flink);
    List<String> jmArgs = new ArrayList<>(List.of("--configDir", conf.toString()));
    jmArgs.addAll(words(JobManagerProcessUtils.generateDynamicConfigsStr(jmSpec)));
    jmArgs.addAll(List.of("-D", PROMETHEUS_PORT + "=" + jmMetrics));
    for (String word : cmd.subList(1, cmd.size())) { // exactly the image's words after standalone-job ...
      String local = copies.get(word);
      jmArgs.add(local == null ? word : DockerFiles.root().resolve(local).toString()); // ... its files mapped here
    }
    jmArgs.addAll(overrides); // ... then this machine's broker and models
    start("jobmanager", words(JobManagerProcessUtils.generateJvmParametersStr(jmSpec, flink)), ENTRYPOINT_CLASS,
        jmArgs);
    mark("JobManager started");

    // ---- results on the output topics, as a read_committed consumer sees them -----------------------------
    Set<String> ids = new TreeSet<>();
    for (int i = 0; i < n; i++) {
      ids.add("ev-" + i);
    }
    Set<String> labels = labelsOf(sharedModel(shared.get("text-classification")));
    Map<String, Integer> cls = new HashMap<>();
    Map<String, Integer> ner = new HashMap<>();
    Map<String, Integer> qa = new HashMap<>();
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(4);
    while (System.nanoTime() < deadline && !(cls.size() >= n && ner.size() >= n && qa.size() >= qaIds.size())) {
      for (Process p : processes) {
        if (!p.isAlive()) {
          fail("a Flink process exited with " + p.exitValue() + " before the results arrived\n" + logTails());
        }
      }
      cls.clear();
      ner.clear();
      qa.clear();
      for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(),
          job.getProperty("topics.classifications"))) {
        ClassificationResult c = ClassificationResult.getDecoder().decode(r.value());
        assertThat(labels).as("labels of the model's config.json").contains(c.getLabels().get(0).getLabel());
        cls.merge(c.getId(), 1, Integer::sum);
      }
      for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(),
          job.getProperty("topics.entities"))) {
        ner.merge(EntityResult.getDecoder().decode(r.value()).getId(), 1, Integer::sum);
      }
      for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(),
          job.getProperty("topics.answers"))) {
        qa.merge(AnswerResult.getDecoder().decode(r.value()).getId(), 1, Integer::sum);
      }
    }
    mark("results read");
    assertThat(cls.keySet()).as("text-classification results\n%s", logTails()).isEqualTo(ids);
    assertThat(ner.keySet()).as("token-classification results").isEqualTo(ids);
    assertThat(qa.keySet()).as("question-answering results").isEqualTo(qaIds);
    assertThat(cls.values()).as("one result per event").containsOnly(1);
    assertThat(ner.values()).containsOnly(1);
    assertThat(qa.values()).containsOnly(1);
    assertThat(TopicReader.readCommitted(kafka.bootstrapServers(), job.getProperty("topics.dead-letters")))
        .as("dead letters").isEmpty();

    // ---- the job read docker/job.properties: it logs its options at start, every key of the file with its value
    // (or the override's). A start command whose arguments never reached main() would run on defaults instead.
    String jmLog = Files.readString(logs.get("jobmanager"), StandardCharsets.UTF_8);
    Map<String, String> expected = new TreeMap<>();
    job.stringPropertyNames().forEach(k -> expected.put(k, job.getProperty(k).trim()));
    for (int i = 0; i + 1 < overrides.size(); i += 2) {
      String kv = overrides.get(i + 1);
      expected.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
    }
    assertThat(jmLog.contains("starting " + job.getProperty("job.name") + " with"))
        .as("the job logged its start in the JobManager's log").isTrue();
    expected.forEach((k, v) -> assertThat(jmLog.contains("  " + k + " = " + v + "\n"))
        .as("the JobManager's log shows option '%s = %s' (the job read job.properties and the overrides)", k, v)
        .isTrue());

    // ---- the cluster is the one the compose file describes: one job of that name, running; two slots -------
    JsonNode overview = rest(restPort, "/jobs/overview");
    assertThat(overview.get("jobs")).hasSize(1);
    assertThat(overview.at("/jobs/0/name").asString()).isEqualTo(job.getProperty("job.name"));
    assertThat(overview.at("/jobs/0/state").asString()).isEqualTo("RUNNING");
    JsonNode tms = rest(restPort, "/taskmanagers");
    assertThat(tms.get("taskmanagers")).hasSize(1);
    assertThat(tms.at("/taskmanagers/0/slotsNumber").asInt())
        .isEqualTo(Integer.parseInt(DockerFiles.flinkProperties(services.get("taskmanager"))
            .get("taskmanager.numberOfTaskSlots")));

    // ---- the compose file's Prometheus reporter, loaded from plugins/ as in the image: the TaskManager serves
    // the operator's series (the events counted once per task that ran them), the JobManager its own
    String tm = scrape(tmMetrics);
    assertThat(tm).as("the TaskManager's scrape").contains(
        "flink_taskmanager_job_task_operator_distilstream_events{", "job_name=\"distilstream_enrichment\"");
    assertThat(scrape(jmMetrics)).as("the JobManager's scrape").contains("flink_jobmanager_numRegisteredTaskManagers");
  }

  /** The name of the reporter's port in config.yaml. */
  private static final String PROMETHEUS_PORT = "metrics.reporter.prom.port";

  private static String scrape(int port) throws IOException {
    HttpURLConnection c = (HttpURLConnection) URI.create("http://localhost:" + port + "/metrics").toURL()
        .openConnection();
    c.setConnectTimeout(10_000);
    c.setReadTimeout(30_000);
    try (var in = c.getInputStream()) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  private void start(String name, List<String> jvm, String mainClass, List<String> args) throws IOException {
    Path classpathFile = Paths.get(System.getProperty("distilstream.flink.lib.classpath.file",
        "target/flink-lib.classpath"));
    assertThat(classpathFile).as("Flink's classpath, written by the build").isRegularFile();
    List<String> command = new ArrayList<>();
    command.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(words(DISTRIBUTION_JAVA_OPTS));
    command.addAll(jvm);
    command.add("-XX:TieredStopAtLevel=1"); // this test's only JVM option of its own: faster start on 2 cores
    command.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=info");
    command.add("-Dorg.slf4j.simpleLogger.showDateTime=true");
    command.add("-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS");
    command.add("-cp");
    command.add(Files.readString(classpathFile).trim());
    command.add(mainClass);
    command.addAll(args);
    Path log = home.resolve(name + ".log");
    logs.put(name, log);
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(log.toFile()).directory(home.toFile());
    pb.environment().put("FLINK_HOME", home.toString());
    pb.environment().put("FLINK_CONF_DIR", home.resolve("conf").toString());
    pb.environment().put("FLINK_LIB_DIR", home.resolve("lib").toString());
    pb.environment().put("FLINK_PLUGINS_DIR", home.resolve("plugins").toString());
    Files.writeString(home.resolve(name + ".command"), String.join("\n", command));
    processes.add(pb.start());
  }

  private long t0;

  private void mark(String what) {
    long now = System.nanoTime();
    if (t0 == 0) {
      t0 = now;
    }
    System.out.printf("DockerJobITCase: %6.1f s  %s%n", (now - t0) / 1e9, what);
  }

  private static List<String> words(String s) {
    return List.of(s.trim().split("\\s+")).stream().filter(w -> !w.isEmpty()).toList();
  }

  private static Set<String> labelsOf(Path model) throws IOException {
    JsonNode config = DockerFiles.JSON.readTree(Files.readString(model.resolve("config.json")));
    Set<String> labels = new TreeSet<>();
    config.get("id2label").forEach(l -> labels.add(l.asString()));
    return labels;
  }

  private static JsonNode rest(int port, String path) throws IOException {
    HttpURLConnection c = (HttpURLConnection) URI.create("http://localhost:" + port + path).toURL().openConnection();
    c.setConnectTimeout(10_000);
    c.setReadTimeout(30_000);
    try (var in = c.getInputStream()) {
      return DockerFiles.JSON.readTree(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    }
  }

  private String logTails() {
    StringBuilder sb = new StringBuilder();
    for (Map.Entry<String, Path> e : logs.entrySet()) {
      try {
        List<String> lines = Files.readAllLines(e.getValue(), StandardCharsets.UTF_8);
        sb.append("---- ").append(e.getKey()).append(" (last 60 lines of ").append(lines.size()).append(") ----\n")
            .append(String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()))).append('\n');
      } catch (IOException ex) {
        sb.append("(no log ").append(e.getValue()).append(")\n");
      }
    }
    return sb.toString();
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 0, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }
}
