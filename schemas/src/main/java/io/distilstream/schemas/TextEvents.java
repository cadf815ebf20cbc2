package io.distilstream.schemas;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.specific.SpecificData;

/**
 * Reads {@link TextEvent}s in Avro single-object encoding, whichever published version of the schema wrote them.
 * The 10-byte header carries the writer schema's fingerprint; every earlier version is registered here, so an
 * event from an old producer is resolved to the current schema (new fields take their defaults).
 */
public final class TextEvents {
  /** Earlier versions of TextEvent, oldest first. Add one here whenever the schema changes. */
  static final List<String> HISTORY = List.of("history/TextEvent-v1.avsc", "history/TextEvent-v2.avsc",
      "history/TextEvent-v3.avsc", "history/TextEvent-v4.avsc");

  private static final BinaryMessageDecoder<TextEvent> DECODER = decoder();
  /** Writer schemas by their single-object fingerprint: the current one and every earlier version. */
  private static final java.util.Map<Long, Schema> WRITERS = writers();
  /** The single-object header: {@code C3 01} and the writer schema's 8-byte fingerprint, little-endian. */
  public static final int HEADER_BYTES = 10;

  private TextEvents() {}

  private static BinaryMessageDecoder<TextEvent> decoder() {
    BinaryMessageDecoder<TextEvent> d = new BinaryMessageDecoder<>(SpecificData.get(), TextEvent.getClassSchema());
    for (String path : HISTORY) {
      d.addSchema(historical(path));
    }
    return d;
  }

  private static java.util.Map<Long, Schema> writers() {
    java.util.Map<Long, Schema> m = new java.util.HashMap<>();
    m.put(org.apache.avro.SchemaNormalization.parsingFingerprint64(TextEvent.getClassSchema()),
        TextEvent.getClassSchema());
    for (String path : HISTORY) {
      Schema s = historical(path);
      m.put(org.apache.avro.SchemaNormalization.parsingFingerprint64(s), s);
    }
    return m;
  }

  static Schema historical(String resource) {
    try (InputStream in = TextEvents.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("schema resource missing: " + resource);
      }
      return new Schema.Parser().parse(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Decodes one event; fails on a foreign fingerprint, a truncated body or bytes that are not an event. */
  public static TextEvent decode(byte[] bytes) throws IOException {
    return DECODER.decode(ByteBuffer.wrap(bytes));
  }

  /**
   * Decodes one event after checking every length and count in it against the bytes that hold it
   * ({@link AvroBounds}), so that decoding allocates in proportion to {@code bytes.length} whatever they say.
   *
   * @param maxItems most array and map items in the event, all collections together
   */
  public static TextEvent decodeBounded(byte[] bytes, int maxItems) throws IOException {
    if (bytes.length >= HEADER_BYTES && bytes[0] == (byte) 0xC3 && bytes[1] == (byte) 0x01) {
      Schema writer = WRITERS.get(ByteBuffer.wrap(bytes, 2, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong());
      if (writer != null) {
        AvroBounds.check(writer, bytes, HEADER_BYTES, maxItems);
      }
    }
    // a foreign fingerprint or a short header: Avro's decoder refuses it before reading the body
    return decode(bytes);
  }

  public static byte[] encode(TextEvent event) throws IOException {
    return bytes(TextEvent.getEncoder().encode(event));
  }

  static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }
}
