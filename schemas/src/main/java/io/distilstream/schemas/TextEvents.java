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
  static final List<String> HISTORY = List.of("history/TextEvent-v1.avsc", "history/TextEvent-v2.avsc");

  private static final BinaryMessageDecoder<TextEvent> DECODER = decoder();

  private TextEvents() {}

  private static BinaryMessageDecoder<TextEvent> decoder() {
    BinaryMessageDecoder<TextEvent> d = new BinaryMessageDecoder<>(SpecificData.get(), TextEvent.getClassSchema());
    for (String path : HISTORY) {
      d.addSchema(historical(path));
    }
    return d;
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

  public static byte[] encode(TextEvent event) throws IOException {
    return bytes(TextEvent.getEncoder().encode(event));
  }

  static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }
}
