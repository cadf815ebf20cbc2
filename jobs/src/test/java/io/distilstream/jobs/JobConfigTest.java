package io.distilstream.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The job's options: files, overrides, pass-through Kafka properties, exactly-once checks, secrets. */
class JobConfigTest {
  static Map<String, String> base() {
    Map<String, String> m = new HashMap<>();
    m.put("kafka.bootstrap.servers", "127.0.0.1:9092");
    return m;
  }

  @Test
  void bootstrapServersAreRequired() {
    assertThatThrownBy(() -> JobConfig.of(Map.of())).hasMessageContaining("kafka.bootstrap.servers");
  }

  @Test
  void aTransactionTimeoutNotAboveTheCheckpointIntervalIsRejected() {
    Map<String, String> m = base();
    m.put("execution.checkpointing.interval", "2 min");
    m.put("kafka.transaction.timeout.ms", "60000");
    assertThatThrownBy(() -> JobConfig.of(m))
        .hasMessageContaining("kafka.transaction.timeout.ms (60000)")
        .hasMessageContaining("execution.checkpointing.interval (120000 ms)");
  }

  @Test
  void aTransactionTimeoutMustCoverTwoIntervalsAndACheckpointTimeout() {
    Map<String, String> m = base();
    m.put("execution.checkpointing.interval", "2 min");
    m.put("kafka.transaction.timeout.ms", "600000");
    // 2 × 2 min + Flink's default checkpoint timeout (10 min): a checkpoint that took 7 min would lose records
    assertThatThrownBy(() -> JobConfig.of(m))
        .hasMessageContaining("kafka.transaction.timeout.ms (600000) must be at least")
        .hasMessageContaining("execution.checkpointing.timeout (600000 ms) = 840000 ms");
    m.put("execution.checkpointing.timeout", "5 min");
    assertThat(JobConfig.of(m).transactionTimeoutMs()).isEqualTo(600_000);
    assertThat(JobConfig.of(m).minTransactionTimeoutMs()).isEqualTo(540_000);
    // the defaults: 2 × 10 s + 10 min, under the default 15 min
    assertThat(JobConfig.of(base()).minTransactionTimeoutMs()).isEqualTo(620_000)
        .isLessThan(JobConfig.DEFAULT_TRANSACTION_TIMEOUT_MS);
  }

  @Test
  void kafkaPropertiesPassThroughAndSecretsAreMasked() {
    Map<String, String> m = base();
    m.put("kafka.security.protocol", "SASL_SSL");
    m.put("kafka.sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required "
        + "username=\"u\" password=\"hunter2\";");
    m.put("kafka.ssl.truststore.password", "hunter3");
    m.put("inference.model.token-classification", "/models/ner");
    JobConfig c = JobConfig.of(m);
    assertThat(c.kafkaProperties()).containsEntry("security.protocol", "SASL_SSL")
        .containsEntry("bootstrap.servers", "127.0.0.1:9092")
        .containsEntry("transaction.timeout.ms", Long.toString(JobConfig.DEFAULT_TRANSACTION_TIMEOUT_MS));
    String shown = c.describe();
    assertThat(shown).doesNotContain("hunter2").doesNotContain("hunter3").contains("SASL_SSL")
        .contains("/models/ner");
  }

  @Test
  void aPropertiesFileIsReadAndFlagsOverrideIt(@TempDir Path tmp) throws Exception {
    Path file = tmp.resolve("job.properties");
    Files.writeString(file, "kafka.bootstrap.servers=broker:9092\ntopics.input=comments\nparallelism.default=4\n");
    JobConfig c = JobConfig.load(file, Map.of("topics.input", "comments-v2"));
    assertThat(c.bootstrapServers()).isEqualTo("broker:9092");
    assertThat(c.get(JobConfig.INPUT_TOPIC)).isEqualTo("comments-v2");
    assertThat(c.get(JobConfig.DEAD_LETTERS_TOPIC)).isEqualTo("text-dead-letters");
    assertThatThrownBy(() -> JobConfig.load(tmp.resolve("missing.properties"), Map.of()))
        .hasMessageContaining("missing.properties");
  }

  @Test
  void dryRunBuildsTheJobGraphFromTheExampleConfig() throws Exception {
    Path shared = Paths.get(System.getProperty("distilstream.shared", "../../shared"), "models");
    Path example = Paths.get("").toAbsolutePath().resolveSibling("docs").resolve("job.example.properties");
    assertThat(example).isRegularFile();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int rc = JobCli.run(new String[] {"--config", example.toString(), "--dry-run",
        "--model", "text-classification=" + shared.resolve("tiny-distilbert-sequence-classification"),
        "--model", "token-classification=" + shared.resolve("tiny-distilbert-token-classification"),
        "--set", "kafka.sasl.jaas.config=secret-stuff"}, new PrintStream(out, true, StandardCharsets.UTF_8));
    assertThat(rc).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8)).contains("configuration is valid").doesNotContain("secret-stuff");
    assertThatThrownBy(() -> JobCli.run(new String[] {"--config", example.toString(), "--dry-run",
        "--set", "inference.capacity=4"}, new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)))
        .hasMessageContaining("inference.capacity (4)");
  }

  @Test
  void theDefaultTransactionalIdPrefixDiffersBetweenDeploymentsOfOneJobName() {
    Map<String, String> a = base();
    a.put("topics.input", "comments-eu");
    Map<String, String> b = base();
    b.put("topics.input", "comments-us");
    b.put("topics.classifications", "labels-us");
    String pa = JobConfig.of(a).transactionalIdPrefix();
    String pb = JobConfig.of(b).transactionalIdPrefix();
    // same job name, same Kafka cluster, other topics: transactional ids that cannot fence each other
    assertThat(pa).startsWith("distilstream-enrichment-").matches(".*-[0-9a-f]{8}");
    assertThat(pb).startsWith("distilstream-enrichment-").isNotEqualTo(pa);
    Map<String, String> otherGroup = new HashMap<>(a);
    otherGroup.put("source.group-id", "second-deployment");
    assertThat(JobConfig.of(otherGroup).transactionalIdPrefix()).isNotEqualTo(pa);
    Map<String, String> otherCluster = new HashMap<>(a);
    otherCluster.put("kafka.bootstrap.servers", "10.0.0.7:9092");
    assertThat(JobConfig.of(otherCluster).transactionalIdPrefix()).isNotEqualTo(pa);
    // stable: a restart of one deployment finds its own transactions again
    assertThat(JobConfig.of(new HashMap<>(a)).transactionalIdPrefix()).isEqualTo(pa);
    // an explicit prefix is used as given
    a.put("sink.transactional-id-prefix", "team-a");
    assertThat(JobConfig.of(a).transactionalIdPrefix()).isEqualTo("team-a");
  }
}
