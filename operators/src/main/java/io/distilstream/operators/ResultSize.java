package io.distilstream.operators;

import io.distilstream.schemas.InferenceOutput;
import java.io.IOException;
import java.io.OutputStream;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecordBase;

/**
 * The size of a result as a Kafka record value (Avro single-object encoding: a 10-byte header and the binary body),
 * counted without keeping the bytes. A result larger than the sink's {@code max.request.size} fails the sink on
 * every replay, so it is measured before it leaves the operator and becomes a {@code RESULT_TOO_LARGE} dead letter.
 */
final class ResultSize {
  /** The single-object header: marker and schema fingerprint. */
  private static final int HEADER = 10;

  private ResultSize() {}

  /** Counts bytes, keeps none. */
  private static final class Counter extends OutputStream {
    long n;

    @Override
    public void write(int b) {
      n++;
    }

    @Override
    public void write(byte[] b, int off, int len) {
      n += len;
    }
  }

  private static final ThreadLocal<BinaryEncoder> ENCODER = new ThreadLocal<>();
  /** One writer per result class: a writer resolves its schema once, and results are counted per event and task. */
  @SuppressWarnings("rawtypes")
  private static final ClassValue<SpecificDatumWriter> WRITERS = new ClassValue<>() {
    @Override
    protected SpecificDatumWriter computeValue(Class<?> type) {
      return new SpecificDatumWriter<>(org.apache.avro.specific.SpecificData.get().getSchema(type));
    }
  };

  /** The record value's bytes plus its key's: what the producer checks against {@code max.request.size}. */
  static long of(InferenceOutput o) {
    TaskBinding<?, ?, ?> b = TaskBinding.resultOf(o);
    SpecificRecordBase r = b != null ? b.get(o) : o.getDeadLetter();
    return r == null ? 0 : of(r);
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  static long of(SpecificRecordBase r) {
    Counter c = new Counter();
    BinaryEncoder e = EncoderFactory.get().directBinaryEncoder(c, ENCODER.get());
    ENCODER.set(e);
    try {
      WRITERS.get(r.getClass()).write(r, e);
      e.flush();
    } catch (IOException ex) {
      throw new IllegalStateException("counting the encoded size of a " + r.getSchema().getName() + " failed", ex);
    }
    Object key = r.getSchema().getField("key") != null ? r.get("key") : null;
    Object id = r.getSchema().getField("id") != null ? r.get("id") : null;
    Object k = key != null ? key : id;
    // the key is written as UTF-8: at most 3 bytes per char
    return HEADER + c.n + (k == null ? 0 : 3L * k.toString().length());
  }
}
