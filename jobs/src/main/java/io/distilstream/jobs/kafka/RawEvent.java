package io.distilstream.jobs.kafka;

/**
 * One Kafka record as it arrived, before decoding: the bytes and where they came from. The coordinates give events
 * without an id of their own a stable one ({@code topic-partition-offset}), the same after every replay.
 */
public class RawEvent {
  public String topic;
  public int partition;
  public long offset;
  public long timestamp;
  public byte[] key;
  public byte[] value;
  /** The value of the {@code inference.routing.header} header, when the job reads one and the record has it. */
  public byte[] modelsHeader;

  public RawEvent() {}

  public RawEvent(String topic, int partition, long offset, long timestamp, byte[] key, byte[] value) {
    this.topic = topic;
    this.partition = partition;
    this.offset = offset;
    this.timestamp = timestamp;
    this.key = key;
    this.value = value;
  }

  public String coordinates() {
    return topic + "-" + partition + "-" + offset;
  }
}
