package io.distilstream.e2e.docker;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.e2e.KafkaFixture;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.tools.local.TopicReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.output.Slf4jLogConsumer;
import org.testcontainers.images.builder.ImageFromDockerfile;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.kafka.KafkaContainer;
import org.testcontainers.utility.MountableFile;

/**
 * The job image itself, where a Docker engine exists: built from docker/Dockerfile with Testcontainers (only the
 * files the Dockerfile copies are sent), started as docker/compose.yaml starts it (a JobManager in application mode
 * with the image's CMD, a TaskManager, the compose file's FLINK_PROPERTIES) on a network with Kafka's own image, the
 * tiny models copied to /models. Results must reach the classification topic, read_committed. Without a Docker
 * engine the test reports itself skipped; {@link DockerJobITCase} runs the same start command without Docker.
 */
@Testcontainers(disabledWithoutDocker = true)
class DockerImageITCase {
  /** The broker's address inside the network; the image's job.properties says kafka:9092. */
  private static final String BROKER = "kafka:19092";

  @Test
  void theImageBuiltFromTheDockerfileRunsTheJobAgainstKafka() throws Exception {
    Path jar = DockerfileTest.jobJar();
    ImageFromDockerfile image = new ImageFromDockerfile("distilstream/flink-job-test", true)
        .withFileFromPath("docker/Dockerfile", DockerFiles.docker("Dockerfile"))
        .withFileFromPath("docker/job.properties", DockerFiles.docker("job.properties"))
        .withFileFromPath("jobs/target/" + jar.getFileName(), jar)
        .withDockerfilePath("docker/Dockerfile");
    List<String> cmd = new ArrayList<>(DockerFiles.dockerfile("Dockerfile").last("CMD").execForm());
    cmd.addAll(List.of("--set", "kafka.bootstrap.servers=" + BROKER, "--set",
        "execution.checkpointing.interval=2 s"));
    var services = DockerFiles.yaml(DockerFiles.docker("compose.yaml")).get("services");
    Properties job = DockerFiles.jobProperties();

    try (Network network = Network.newNetwork();
        KafkaContainer kafka = new KafkaContainer(KafkaFixture.IMAGE).withNetwork(network)
            .withNetworkAliases("kafka").withListener(BROKER);
        GenericContainer<?> jobManager = flink(image, network, services.get("jobmanager"))
            .withNetworkAliases("jobmanager").withCommand(cmd.toArray(new String[0]));
        GenericContainer<?> taskManager = flink(image, network, services.get("taskmanager"))
            .withCommand("taskmanager")) {
      kafka.start();
      List<String> topics = job.stringPropertyNames().stream().filter(k -> k.startsWith("topics."))
          .map(job::getProperty).sorted().toList();
      KafkaFixture.createTopics(kafka.getBootstrapServers(), 2, topics);
      int n = 20;
      List<byte[]> events = new ArrayList<>();
      Set<String> ids = new TreeSet<>();
      for (int i = 0; i < n; i++) {
        ids.add("ev-" + i);
        events.add(("{\"id\":\"ev-" + i + "\",\"text\":\"Comment number " + i + " about the parcel\","
            + "\"tasks\":[\"text-classification\"]}").getBytes(StandardCharsets.UTF_8));
      }
      KafkaFixture.produce(kafka.getBootstrapServers(), job.getProperty("topics.input"), events, Map.of());

      jobManager.start();
      taskManager.start();

      Set<String> seen = new TreeSet<>();
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
      while (seen.size() < n && System.nanoTime() < deadline) {
        assertThat(jobManager.isRunning()).as("the JobManager container runs\n%s", jobManager.getLogs()).isTrue();
        seen.clear();
        for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.getBootstrapServers(),
            job.getProperty("topics.classifications"))) {
          seen.add(ClassificationResult.getDecoder().decode(r.value()).getId());
        }
      }
      assertThat(seen).as("classification results\n%s", jobManager.getLogs()).isEqualTo(ids);
    }
  }

  /** A Flink container of the image as the compose file's service runs it: its FLINK_PROPERTIES, the models. */
  private static GenericContainer<?> flink(ImageFromDockerfile image, Network network,
      tools.jackson.databind.JsonNode service) {
    StringBuilder props = new StringBuilder();
    DockerFiles.flinkProperties(service).forEach((k, v) -> props.append(k).append(": ").append(v).append('\n'));
    GenericContainer<?> c = new GenericContainer<>(image).withNetwork(network)
        .withEnv("FLINK_PROPERTIES", props.toString())
        .withLogConsumer(new Slf4jLogConsumer(LoggerFactory.getLogger(DockerImageITCase.class)))
        .withStartupTimeout(Duration.ofMinutes(2));
    Map<String, String> models = Map.of(
        "text-classification", "tiny-distilbert-sequence-classification",
        "token-classification", "tiny-distilbert-token-classification",
        "question-answering", "tiny-distilbert-question-answering");
    models.forEach((task, name) -> c.withCopyFileToContainer(
        MountableFile.forHostPath(DockerJobITCase.sharedModel(name), 0755), "/models/" + task));
    return c;
  }

}
