package io.distilstream.jobs.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import io.apicurio.registry.serde.avro.AvroKafkaDeserializer;
import io.apicurio.registry.serde.avro.AvroKafkaSerializer;
import io.apicurio.registry.serde.config.SerdeConfig;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.TextEvent;
import io.distilstream.tools.local.LocalSchemaRegistry;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Our wire format against an independent implementation, both ways: Apicurio's Kafka serdes (their own registry
 * API, ids written as the Confluent header: byte 0 and the 4-byte content id) on the same registry as our client
 * (its Confluent-compatible API).
 */
class ApicurioSerdeCrossCheckITCase {
  private static LocalSchemaRegistry registry;

  @BeforeAll
  static void startRegistry() throws Exception {
    String why = LocalSchemaRegistry.unavailableReason();
    Assumptions.assumeTrue(why == null, () -> "no schema registry can run here: " + why);
    registry = LocalSchemaRegistry.start();
  }

  @AfterAll
  static void stopRegistry() {
    if (registry != null) {
      registry.close();
    }
  }

  private static Map<String, Object> serdeConfig() {
    return Map.of(SerdeConfig.REGISTRY_URL, "http://127.0.0.1:" + registry.port() + "/apis/registry/v3",
        SerdeConfig.AUTO_REGISTER_ARTIFACT, true);
  }

  private static SchemaRegistryClient.Settings ours() {
    return SchemaRegistryClient.Settings.from(Map.of("schema.registry.url", registry.url()));
  }

  @Test
  void whatApicuriosSerializerWritesOurDecoderReads() throws Exception {
    Schema v2 = ConfluentFormatITCase.history("v2");
    GenericRecord r = new GenericData.Record(v2);
    r.put("id", "apicurio-1");
    r.put("key", "k");
    r.put("text", "serialized by Apicurio");
    r.put("tasks", List.of("text-classification"));
    r.put("attributes", Map.of("by", "apicurio"));
    r.put("event_time", 1_650_000_000_000L);
    byte[] theirs;
    try (AvroKafkaSerializer<GenericRecord> ser = new AvroKafkaSerializer<>()) {
      ser.configure(serdeConfig(), false);
      theirs = ser.serialize("xcheck-in", r);
    }
    assertThat(theirs[0]).as("the magic byte").isZero();
    int id = ByteBuffer.wrap(theirs, 1, 4).getInt();
    // the id Apicurio wrote is the one its Confluent-compatible API knows the schema by
    Schema registered = new SchemaRegistryClient(ours()).schemaById(id);
    assertThat(registered.getFullName()).isEqualTo(v2.getFullName());
    assertThat(registered.getFields()).extracting(Schema.Field::name)
        .containsExactlyElementsOf(v2.getFields().stream().map(Schema.Field::name).toList());
    TextEvent e = new EventDecoder(EventDecoder.Format.AVRO_CONFLUENT, EventDecoder.Limits.DEFAULTS, ours())
        .decode(ConfluentFormatITCase.raw(theirs));
    assertThat(e.getId()).isEqualTo("apicurio-1");
    assertThat(e.getKey()).isEqualTo("k");
    assertThat(e.getAttributes()).containsEntry("by", "apicurio");
    assertThat(e.getEventTime()).isEqualTo(Instant.ofEpochMilli(1_650_000_000_000L));
  }

  @Test
  void whatOurSerializerWritesApicuriosDeserializerReads() throws Exception {
    DeadLetter d = DeadLetter.newBuilder().setId("dl-1").setOriginal(ByteBuffer.wrap(new byte[] {1, 2, 3}))
        .setReason("MALFORMED_EVENT").setMessage("a message").setStage("decode").setTask(null)
        .setTime(Instant.ofEpochMilli(1_700_000_000_000L)).build();
    AvroRecordSerializer<DeadLetter> s = AvroRecordSerializer.of(AvroRecordSerializer.Format.AVRO_CONFLUENT,
        new SchemaRegistryClient(ours()), "xcheck-out", DeadLetter.class, DeadLetter::getId);
    ProducerRecord<byte[], byte[]> rec = s.serialize(d, null, 1L);
    GenericRecord g;
    try (AvroKafkaDeserializer<GenericRecord> de = new AvroKafkaDeserializer<>()) {
      de.configure(serdeConfig(), false);
      g = de.deserialize("xcheck-out", rec.value());
    }
    assertThat(g.getSchema().getFullName()).isEqualTo(DeadLetter.getClassSchema().getFullName());
    assertThat(g.get("id").toString()).isEqualTo("dl-1");
    assertThat(g.get("reason").toString()).isEqualTo("MALFORMED_EVENT");
    assertThat(((ByteBuffer) g.get("original")).remaining()).isEqualTo(3);
    assertThat(g.get("time")).isIn(1_700_000_000_000L, Instant.ofEpochMilli(1_700_000_000_000L));
  }
}
