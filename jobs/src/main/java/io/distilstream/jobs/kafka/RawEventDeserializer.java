package io.distilstream.jobs.kafka;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/** Passes records on undecoded: decoding happens in {@link EventDecoder}, where a bad record is a dead letter. */
public final class RawEventDeserializer implements KafkaRecordDeserializationSchema<RawEvent> {
  private static final long serialVersionUID = 1L;
  /** The routing header ({@code inference.routing.header}) to keep; null = none. */
  private final String modelsHeader;

  public RawEventDeserializer() {
    this(null);
  }

  /** Keeps the value of the record header {@code modelsHeader} (the last one of that name), when not null. */
  public RawEventDeserializer(String modelsHeader) {
    this.modelsHeader = modelsHeader;
  }

  @Override
  public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<RawEvent> out) {
    RawEvent e = new RawEvent(r.topic(), r.partition(), r.offset(), r.timestamp(), r.key(), r.value());
    if (modelsHeader != null) {
      org.apache.kafka.common.header.Header h = r.headers().lastHeader(modelsHeader);
      e.modelsHeader = h == null ? null : h.value();
    }
    out.collect(e);
  }

  @Override
  public TypeInformation<RawEvent> getProducedType() {
    return TypeInformation.of(RawEvent.class);
  }
}
