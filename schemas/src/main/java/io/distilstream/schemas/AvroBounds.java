package io.distilstream.schemas;

import java.io.IOException;
import org.apache.avro.Schema;

/**
 * Walks an Avro binary body against its writer schema without allocating anything, and fails on the first length
 * or count the bytes cannot hold. Avro's own decoder trusts lengths: a 16-byte record whose string length says
 * 2^31 makes it allocate 2 GB before it reads a byte, and an array block count of 2^30 does the same. After this
 * walk every string, bytes and collection is known to fit in the record, so decoding allocates in proportion to
 * the record's size.
 */
public final class AvroBounds {
  private final byte[] buf;
  private final int end;
  private final int maxItems;
  private int pos;
  private long items;

  private AvroBounds(byte[] buf, int offset, int maxItems) {
    this.buf = buf;
    this.pos = offset;
    this.end = buf.length;
    this.maxItems = maxItems;
  }

  /**
   * Checks {@code bytes[offset..]} as one datum of {@code schema}.
   *
   * @param maxItems most array and map items in the whole datum, all collections together (items of a type that
   *     takes no bytes, such as null, are otherwise unbounded)
   * @throws IOException naming the first violation: a length past the end, a negative length, too many items,
   *     a bad union branch, or bytes left over
   */
  public static void check(Schema schema, byte[] bytes, int offset, int maxItems) throws IOException {
    AvroBounds b = new AvroBounds(bytes, offset, maxItems);
    b.datum(schema);
    if (b.pos != b.end) {
      throw new IOException((b.end - b.pos) + " bytes after the end of the " + schema.getName());
    }
  }

  private void datum(Schema s) throws IOException {
    switch (s.getType()) {
      case NULL:
        return;
      case BOOLEAN:
        skip(1);
        return;
      case INT:
      case LONG:
      case ENUM:
        varLong();
        return;
      case FLOAT:
        skip(4);
        return;
      case DOUBLE:
        skip(8);
        return;
      case FIXED:
        skip(s.getFixedSize());
        return;
      case STRING:
      case BYTES:
        skip(length("a string or bytes length"));
        return;
      case RECORD:
        for (Schema.Field f : s.getFields()) {
          datum(f.schema());
        }
        return;
      case UNION: {
        long branch = varLong();
        if (branch < 0 || branch >= s.getTypes().size()) {
          throw new IOException("union branch " + branch + " of " + s.getTypes().size());
        }
        datum(s.getTypes().get((int) branch));
        return;
      }
      case ARRAY:
      case MAP:
        collection(s);
        return;
      default:
        throw new IOException("unsupported Avro type " + s.getType());
    }
  }

  private void collection(Schema s) throws IOException {
    while (true) {
      long count = varLong();
      if (count == 0) {
        return;
      }
      if (count < 0) {
        if (count == Long.MIN_VALUE) {
          throw new IOException("block count out of range");
        }
        count = -count;
        length("a block size"); // the block's size in bytes: informative only, the items are walked one by one
      }
      items += count;
      if (items > maxItems) {
        throw new IOException("more than " + maxItems + " array or map items");
      }
      for (long i = 0; i < count; i++) {
        if (s.getType() == Schema.Type.MAP) {
          skip(length("a map key length"));
          datum(s.getValueType());
        } else {
          datum(s.getElementType());
        }
      }
    }
  }

  private int length(String what) throws IOException {
    long n = varLong();
    if (n < 0) {
      throw new IOException("negative " + what + " (" + n + ")");
    }
    if (n > end - pos) {
      throw new IOException(what + " of " + n + " is past the end of the record (" + (end - pos) + " bytes left)");
    }
    return (int) n;
  }

  private void skip(int n) throws IOException {
    if (n > end - pos) {
      throw new IOException("record ends " + (n - (end - pos)) + " bytes early");
    }
    pos += n;
  }

  /** A zig-zag varint of at most 10 bytes. */
  private long varLong() throws IOException {
    long raw = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (pos >= end) {
        throw new IOException("record ends inside a number");
      }
      int b = buf[pos++] & 0xff;
      raw |= (long) (b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        return (raw >>> 1) ^ -(raw & 1);
      }
    }
    throw new IOException("a number longer than 10 bytes");
  }
}
