package io.distilstream.jobs.kafka;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecordBase;

/**
 * The Confluent wire format: byte 0 (the magic byte), the writer schema's registry id as a 4-byte big-endian int,
 * then the Avro binary body. What Confluent's {@code KafkaAvroSerializer} writes and most Avro shops have on
 * their topics, as opposed to Avro's single-object encoding ({@code C3 01} and a fingerprint).
 */
public final class ConfluentWireFormat {
  public static final byte MAGIC = 0;
  public static final int HEADER_BYTES = 5;

  private ConfluentWireFormat() {}

  /** Whether {@code v} starts with the magic byte and is long enough to hold the header. */
  public static boolean looksLike(byte[] v) {
    return v != null && v.length > 0 && v[0] == MAGIC;
  }

  /** The schema id of a record in the wire format (the caller checked the magic byte and the length). */
  public static int schemaId(byte[] v) {
    return ByteBuffer.wrap(v, 1, 4).getInt();
  }

  /** {@code record} in the wire format under schema id {@code id}. */
  public static <T extends SpecificRecordBase> byte[] encode(int id, T record) {
    Schema schema = record.getSchema();
    return encode(id, record, new SpecificDatumWriter<T>(schema, SpecificData.getForSchema(schema)));
  }

  /** As {@link #encode(int, SpecificRecordBase)}, with a writer the caller keeps. */
  static <T extends SpecificRecordBase> byte[] encode(int id, T record, SpecificDatumWriter<T> writer) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    out.write(MAGIC);
    out.writeBytes(ByteBuffer.allocate(4).putInt(id).array());
    try {
      BinaryEncoder e = EncoderFactory.get().directBinaryEncoder(out, null);
      writer.write(record, e);
      e.flush();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("encoding a " + record.getSchema().getName() + " failed", e);
    }
    return out.toByteArray();
  }

  /**
   * Reads one record in the wire format as {@code type}, resolving the writer schema the registry holds for its id
   * to {@code type}'s schema (what a registry-aware consumer does; the demo and the tests read results with it).
   */
  public static <T extends SpecificRecordBase> T decode(SchemaRegistryClient registry, byte[] v, Class<T> type)
      throws IOException {
    if (!looksLike(v) || v.length < HEADER_BYTES) {
      throw new IOException("not in the Confluent wire format (magic byte 0 and a 4-byte schema id)");
    }
    Schema writer = registry.schemaById(schemaId(v));
    Schema reader = SpecificData.get().getSchema(type);
    SpecificDatumReader<T> r = new SpecificDatumReader<>(writer, reader, SpecificData.getForClass(type));
    return r.read(null, DecoderFactory.get().binaryDecoder(v, HEADER_BYTES, v.length - HEADER_BYTES, null));
  }
}
