package io.distilstream.jobs.kafka;

import io.distilstream.jobs.kafka.EventDecoder.MalformedEvent;
import io.distilstream.jobs.kafka.SchemaRegistryClient.RegistryException;
import io.distilstream.operators.DeadLetterReason;
import io.distilstream.schemas.AvroBounds;
import io.distilstream.schemas.TextEvent;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads {@link TextEvent}s in the Confluent wire format: the writer schema comes from the registry by the record's
 * schema id and is resolved to the current TextEvent (missing fields take their defaults, extra fields are skipped;
 * a writer record of another name is read through an alias). One per decoder instance.
 *
 * <p>What each failure costs, and whose fault it is:
 * <ul>
 *   <li>the registry is unreachable (connection refused, timeout, 5xx, 429): the record is retried with backoff
 *       (100 ms doubling to 10 s) for as long as it takes, which holds up the subtask and back-pressures the source;
 *       never a dead letter, so an outage is not a dead-letter storm. Cancelling the job interrupts the wait.</li>
 *   <li>the registry answers 404 for the id: a {@code MALFORMED_EVENT} dead letter naming the id after
 *       {@value #UNKNOWN_ID_LOOKUPS} lookup, with no pause: any wait per unknown id is a wait an attacker multiplies
 *       by sending records of made-up ids (six bytes each; 300 ms each would be hours per megabyte). A schema
 *       registered a moment before its first record and not yet on a lagging follower gives a dead letter with
 *       the id, to replay, never a silent loss. The answer is cached for {@value #UNKNOWN_ID_TTL_SECONDS} s, so a
 *       run of such records costs no further lookups.</li>
 *   <li>the id names a schema that is not Avro, cannot be read as a TextEvent, or is over
 *       {@code schema.registry.max.schema.bytes}: {@code MALFORMED_EVENT}, cached like a 404.</li>
 *   <li>a body that does not fit its writer schema (truncated, garbage, lengths past the end): walked with
 *       {@link AvroBounds} before Avro allocates anything, {@code MALFORMED_EVENT}.</li>
 * </ul>
 * Both caches (resolved schemas, failed ids) hold at most {@code schema.registry.cache.capacity} entries.
 */
final class ConfluentEventReader {
  private static final Logger LOG = LoggerFactory.getLogger(ConfluentEventReader.class);
  static final int UNKNOWN_ID_LOOKUPS = 1;
  static final long UNKNOWN_ID_TTL_SECONDS = 60;
  private static final long FIRST_BACKOFF_MS = 100;
  private static final long MAX_BACKOFF_MS = 10_000;

  private final SchemaRegistryClient registry;
  private final Map<Integer, Resolved> readers;
  private final Map<Integer, Failure> failures;
  /** Called with the attempt number after each failed attempt to reach the registry (tests wait on it). */
  volatile IntConsumer onUnavailable = attempt -> { };

  private record Failure(String message, long expiresNanos) {}

  /** A writer schema and its reader to the current TextEvent. */
  private record Resolved(Schema writer, SpecificDatumReader<TextEvent> reader) {}

  ConfluentEventReader(SchemaRegistryClient registry) {
    this.registry = registry;
    this.readers = SchemaRegistryClient.lru(registry.settings().cacheCapacity());
    this.failures = SchemaRegistryClient.lru(registry.settings().cacheCapacity());
  }

  SchemaRegistryClient registry() {
    return registry;
  }

  TextEvent decode(byte[] v, int maxItems) {
    if (v.length < ConfluentWireFormat.HEADER_BYTES) {
      throw new MalformedEvent("a Confluent wire-format record of " + v.length + " bytes: shorter than its 5-byte"
          + " header (magic byte 0, schema id)");
    }
    int id = ConfluentWireFormat.schemaId(v);
    if (id < 0) {
      // registries hand out non-negative ids: no lookup for what can only be garbage
      throw new MalformedEvent("Confluent wire format with schema id " + id + ": not an id a registry hands out");
    }
    Resolved resolved = resolved(id);
    try {
      AvroBounds.check(resolved.writer(), v, ConfluentWireFormat.HEADER_BYTES, maxItems);
    } catch (IOException e) {
      String m = e.getMessage();
      throw new MalformedEvent(m != null && m.startsWith("more than ") ? DeadLetterReason.LIMIT_EXCEEDED
          : DeadLetterReason.MALFORMED_EVENT,
          "not a TextEvent of schema id " + id + " in the Confluent wire format: " + m);
    }
    try {
      BinaryDecoder d = DecoderFactory.get().binaryDecoder(v, ConfluentWireFormat.HEADER_BYTES,
          v.length - ConfluentWireFormat.HEADER_BYTES, null);
      return resolved.reader().read(null, d);
    } catch (IOException | RuntimeException e) {
      throw new MalformedEvent("not a TextEvent of schema id " + id + " in the Confluent wire format: " + e);
    }
  }

  private Resolved resolved(int id) {
    Resolved r;
    synchronized (readers) {
      r = readers.get(id);
    }
    if (r != null) {
      return r;
    }
    synchronized (failures) {
      Failure f = failures.get(id);
      if (f != null && f.expiresNanos - System.nanoTime() > 0) {
        throw new MalformedEvent(f.message);
      }
    }
    try {
      Schema writer = fetch(id);
      r = new Resolved(writer, resolve(id, writer));
    } catch (MalformedEvent e) {
      synchronized (failures) {
        failures.put(id, new Failure(e.getMessage(),
            System.nanoTime() + TimeUnit.SECONDS.toNanos(UNKNOWN_ID_TTL_SECONDS)));
      }
      throw e;
    }
    synchronized (readers) {
      readers.put(id, r);
    }
    return r;
  }

  /** The writer schema: retried while the registry is unreachable, a bounded number of times while it says 404. */
  private Schema fetch(int id) {
    int notFound = 0;
    int unavailable = 0;
    long backoff = FIRST_BACKOFF_MS;
    while (true) {
      try {
        return registry.schemaById(id);
      } catch (RegistryException e) {
        switch (e.kind()) {
          case NOT_FOUND:
            if (++notFound >= UNKNOWN_ID_LOOKUPS) {
              throw new MalformedEvent("schema id " + id + " is unknown to the schema registry: " + e.getMessage());
            }
            break;
          case UNAVAILABLE:
          case REFUSED_ACCESS:
            // refused TLS or credentials say nothing about the record: held like an outage (until the registry or
            // the job's settings are fixed), never a dead letter per record
            unavailable++;
            if (unavailable == 1 || unavailable % 10 == 0) {
              LOG.warn("schema registry unavailable (attempt {}), holding the input until it answers: {}",
                  unavailable, e.getMessage());
            }
            onUnavailable.accept(unavailable);
            pause(backoff);
            backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
            break;
          default:
            throw new MalformedEvent("schema id " + id + ": " + e.getMessage());
        }
      }
    }
  }

  private static void pause(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CancellationException("interrupted while waiting for the schema registry");
    }
  }

  /** A reader from {@code writer} to the current TextEvent, or why there is none. */
  static SpecificDatumReader<TextEvent> resolve(int id, Schema writer) {
    Schema reader = TextEvent.getClassSchema();
    if (writer.getType() != Schema.Type.RECORD) {
      throw new MalformedEvent("schema id " + id + " is a " + writer.getType() + ", not a TextEvent record");
    }
    if (!writer.getFullName().equals(reader.getFullName())) {
      // a producer's own record name: read it through an alias, field by field
      reader = new Schema.Parser().parse(reader.toString());
      reader.addAlias(writer.getFullName());
    }
    SchemaCompatibility.SchemaPairCompatibility c = SchemaCompatibility.checkReaderWriterCompatibility(reader, writer);
    if (c.getType() != SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE) {
      StringBuilder why = new StringBuilder();
      c.getResult().getIncompatibilities().stream().limit(3).forEach(i -> why.append("; ")
          .append(i.getType()).append(" at ").append(i.getLocation()).append(": ").append(i.getMessage()));
      throw new MalformedEvent("schema id " + id + " (" + writer.getFullName() + ") cannot be read as a TextEvent"
          + why);
    }
    return new SpecificDatumReader<>(writer, reader, SpecificData.getForClass(TextEvent.class));
  }
}
