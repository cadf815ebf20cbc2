package io.distilstream.e2e;

import static io.distilstream.e2e.E2eModels.model;
import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.jobs.EnrichmentJob;
import io.distilstream.jobs.JobConfig;
import io.distilstream.jobs.kafka.ConfluentWireFormat;
import io.distilstream.jobs.kafka.SchemaRegistryClient;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.TextEvents;
import io.distilstream.tools.local.LocalSchemaRegistry;
import io.distilstream.tools.local.TopicReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The Confluent wire format end to end: a real Kafka broker and a real schema registry (Apicurio's
 * Confluent-compatible API), both in their own JVMs, and the exactly-once job on a MiniCluster. Producers of two
 * TextEvent schema versions write in the Confluent format; every result and dead letter is written in it too, and a
 * registry-aware consumer reads each one back.
 */
class ConfluentRegistryITCase {
  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

  private static KafkaFixture kafka;
  private static LocalSchemaRegistry registry;

  @BeforeAll
  static void start() throws Exception {
    String why = LocalSchemaRegistry.unavailableReason();
    Assumptions.assumeTrue(why == null, () -> "no schema registry can run here: " + why);
    // side by side: each spends its start-up mostly waiting on its own JVM
    java.util.concurrent.CompletableFuture<LocalSchemaRegistry> r =
        java.util.concurrent.CompletableFuture.supplyAsync(() -> {
          try {
            return LocalSchemaRegistry.start();
          } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        });
    try {
      kafka = KafkaFixture.start(Map.of());
    } finally {
      registry = r.join();
    }
  }

  @AfterAll
  static void stop() {
    if (kafka != null) {
      kafka.close();
    }
    if (registry != null) {
      registry.close();
    }
  }

  private static Schema history(String version) throws Exception {
    try (InputStream in = TextEvents.class.getResourceAsStream("history/TextEvent-" + version + ".avsc")) {
      return new Schema.Parser().parse(in);
    }
  }

  /** What Confluent's KafkaAvroSerializer writes for {@code r} under schema id {@code id}. */
  private static byte[] wire(int id, GenericRecord r) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(0);
    out.writeBytes(ByteBuffer.allocate(4).putInt(id).array());
    BinaryEncoder e = EncoderFactory.get().directBinaryEncoder(out, null);
    new GenericDatumWriter<GenericRecord>(r.getSchema()).write(r, e);
    e.flush();
    return out.toByteArray();
  }

  @Test
  void eventsOfTwoProducerSchemaVersionsInAndRegistryFramedResultsOut() throws Exception {
    String run = "confluent";
    Map<String, String> c = new LinkedHashMap<>();
    c.put("kafka.bootstrap.servers", kafka.bootstrapServers());
    c.put("job.name", "e2e-" + run);
    c.put("source.bounded", "true");
    c.put("source.starting-offsets", "earliest");
    c.put("execution.checkpointing.interval", "300 ms");
    c.put("parallelism.default", "2");
    c.put("inference.max-wait", "10 ms");
    c.put("inference.model.text-classification", model("tiny-distilbert-sequence-classification").toString());
    c.put("input.format", "avro-confluent");
    c.put("output.format", "avro-confluent");
    c.put("schema.registry.url", registry.url());
    for (String t : List.of("input", "classifications", "dead-letters")) {
      c.put("topics." + t, run + "-" + t);
    }
    kafka.createTopics(2, List.of(c.get("topics.input"), c.get("topics.classifications"),
        c.get("topics.dead-letters")));

    // two producers, each registering its own version of TextEvent under the input topic's subject
    SchemaRegistryClient producers = new SchemaRegistryClient(SchemaRegistryClient.Settings.from(c));
    Schema v1 = history("v1");
    Schema v2 = history("v2");
    int id1 = producers.register(c.get("topics.input") + "-value", v1);
    int id2 = producers.register(c.get("topics.input") + "-value", v2);
    int n = 60;
    List<byte[]> values = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      GenericRecord r = new GenericData.Record(i % 2 == 0 ? v1 : v2);
      r.put("id", "ev-" + i);
      r.put("text", "Event " + i + ": the concert was wonderful" + " again".repeat(i % 7));
      r.put("tasks", List.of("text-classification"));
      if (i % 2 == 1) {
        r.put("attributes", Map.of("producer", "v2"));
      }
      values.add(wire(i % 2 == 0 ? id1 : id2, r));
    }
    byte[] whole = values.get(0);
    values.add(Arrays.copyOf(whole, whole.length - 3)); // truncated body
    values.add(new byte[] {0, 0x7F, 0x00, 0x00, 0x01, 2, 'x', 0, 0}); // an id the registry never handed out
    kafka.produce(c.get("topics.input"), values);

    Configuration conf = new Configuration();
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    EnrichmentJob.build(env, JobConfig.of(c));
    env.execute(c.get("job.name"));

    // a registry-aware consumer: its own client, the schemas fetched by the ids in the records
    SchemaRegistryClient consumer = new SchemaRegistryClient(SchemaRegistryClient.Settings.from(
        Map.of("schema.registry.url", registry.url())));
    Map<String, Integer> results = new HashMap<>();
    for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(),
        c.get("topics.classifications"))) {
      ClassificationResult cr = ConfluentWireFormat.decode(consumer, r.value(), ClassificationResult.class);
      results.merge(cr.getId(), 1, Integer::sum);
      int i = Integer.parseInt(cr.getId().substring(3));
      assertThat(cr.getAttributes()).isEqualTo(i % 2 == 1 ? Map.of("producer", "v2") : Map.of());
    }
    assertThat(results).hasSize(n).allSatisfy((id, count) -> assertThat(count).as(id).isEqualTo(1));
    List<DeadLetter> dead = new ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(),
        c.get("topics.dead-letters"))) {
      dead.add(ConfluentWireFormat.decode(consumer, r.value(), DeadLetter.class));
    }
    assertThat(dead).hasSize(2).allSatisfy(d -> {
      assertThat(d.getReason()).isEqualTo("MALFORMED_EVENT");
      assertThat(d.getStage()).isEqualTo("decode");
    });
    assertThat(dead).anySatisfy(d -> assertThat(d.getMessage()).contains("schema id " + id1));
    assertThat(dead).anySatisfy(d -> assertThat(d.getMessage())
        .contains("schema id " + 0x7F000001 + " is unknown to the schema registry"));
  }
}
