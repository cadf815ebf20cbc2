package io.distilstream.jobs.kafka;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecordBase;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.util.function.SerializableFunction;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Writes Avro records to one topic in single-object encoding (a 10-byte header with the schema fingerprint, then
 * the binary body), or in the Confluent wire format (byte 0, the schema's registry id, the body:
 * {@code output.format=avro-confluent}), keyed by the event's key or id so that all results of one key land in one
 * partition. In the Confluent format the id is resolved once, when the job is built ({@link #of}): a registry that
 * refuses the schema stops the job before it starts, and writing never calls the registry.
 */
public final class AvroRecordSerializer<T extends SpecificRecordBase> implements KafkaRecordSerializationSchema<T> {
  private static final long serialVersionUID = 1L;

  private final String topic;
  private final Class<T> type;
  private final SerializableFunction<T, String> key;
  /** The registry id of {@code type}'s schema for the Confluent wire format; -1 for single-object encoding. */
  private final int schemaId;
  private transient BinaryMessageEncoder<T> encoder;
  private transient org.apache.avro.specific.SpecificDatumWriter<T> writer;

  /** {@code output.format}: how result and dead-letter records are encoded. */
  public enum Format { AVRO, AVRO_CONFLUENT }

  public AvroRecordSerializer(String topic, Class<T> type, SerializableFunction<T, String> key) {
    this(topic, type, key, -1);
  }

  private AvroRecordSerializer(String topic, Class<T> type, SerializableFunction<T, String> key, int schemaId) {
    this.topic = topic;
    this.type = type;
    this.key = key;
    this.schemaId = schemaId;
  }

  public static Format parseFormat(String s) {
    try {
      return Format.valueOf(s.trim().toUpperCase(java.util.Locale.ROOT).replace('-', '_'));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("output.format must be avro or avro-confluent, got '" + s + "'");
    }
  }

  /**
   * The serializer for {@code format}. For {@code AVRO_CONFLUENT} the schema of {@code type} is registered (or
   * looked up, {@code auto.register.schemas=false}) under the subject the strategy names for {@code topic}, now:
   * an unreachable registry is retried for a while, a refusal (incompatible, not registered) is an
   * {@link IllegalStateException} that says which schema, subject and registry.
   */
  public static <T extends SpecificRecordBase> AvroRecordSerializer<T> of(Format format, SchemaRegistryClient registry,
      String topic, Class<T> type, SerializableFunction<T, String> key) {
    if (format == Format.AVRO) {
      return new AvroRecordSerializer<>(topic, type, key);
    }
    if (registry == null) {
      throw new IllegalArgumentException("output.format=avro-confluent needs schema.registry.url");
    }
    org.apache.avro.Schema schema = SpecificData.get().getSchema(type);
    String subject = registry.settings().subjectStrategy().subject(topic, schema);
    SchemaRegistryClient.RegistryException last = null;
    for (int attempt = 0; attempt < 5; attempt++) {
      try {
        return new AvroRecordSerializer<>(topic, type, key, registry.idFor(subject, schema));
      } catch (SchemaRegistryClient.RegistryException e) {
        if (e.kind() != SchemaRegistryClient.RegistryException.Kind.UNAVAILABLE) {
          String why = e.kind() == SchemaRegistryClient.RegistryException.Kind.NOT_FOUND
              ? "is not registered there and auto.register.schemas is false"
              : e.status() == 409 ? "is incompatible with the versions registered there"
              : e.kind() == SchemaRegistryClient.RegistryException.Kind.REFUSED_ACCESS
              ? "could not be registered or looked up: the registry refused this client's TLS or credentials"
              : "was refused";
          throw new IllegalStateException("the schema registry refused " + schema.getFullName() + " for topic '"
              + topic + "': the schema under subject '" + subject + "' " + why + ". The job did not start. ("
              + e.getMessage() + ")", e);
        }
        last = e;
        try {
          Thread.sleep(200L << attempt);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted while registering " + subject, ie);
        }
      }
    }
    throw new IllegalStateException("cannot reach the schema registry to register " + schema.getFullName()
        + " under subject '" + subject + "'; the job did not start: " + last.getMessage(), last);
  }

  /** The registry id the records are written with, or -1 for single-object encoding. */
  public int schemaId() {
    return schemaId;
  }

  @Override
  public void open(SerializationSchema.InitializationContext context, KafkaSinkContext sinkContext) {
    encoder = new BinaryMessageEncoder<>(SpecificData.getForClass(type), SpecificData.get().getSchema(type));
    writer = new org.apache.avro.specific.SpecificDatumWriter<>(SpecificData.get().getSchema(type),
        SpecificData.getForClass(type));
  }

  @Override
  public ProducerRecord<byte[], byte[]> serialize(T element, KafkaSinkContext context, Long timestamp) {
    if (encoder == null) {
      open(null, context);
    }
    try {
      byte[] value;
      if (schemaId >= 0) {
        value = ConfluentWireFormat.encode(schemaId, element, writer);
      } else {
        ByteBuffer b = encoder.encode(element);
        value = new byte[b.remaining()];
        b.get(value);
      }
      String k = key.apply(element);
      return new ProducerRecord<>(topic, null, timestamp, k == null ? null : k.getBytes(StandardCharsets.UTF_8),
          value);
    } catch (IOException e) {
      throw new UncheckedIOException("encoding a " + type.getSimpleName() + " failed", e);
    }
  }
}
