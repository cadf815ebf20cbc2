package io.distilstream.jobs.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.operators.DeadLetterReason;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import java.io.ByteArrayOutputStream;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.avro.SchemaNormalization;
import org.junit.jupiter.api.Test;

/**
 * Crafted records against the decoder: each is decoded or refused with its reason, and none makes it allocate more
 * than a small multiple of the record's size (Avro trusts lengths; a 16-byte record could ask for 2 GB).
 */
class EventDecoderTest {
  private static final EventDecoder AUTO = new EventDecoder(EventDecoder.Format.AUTO);

  static RawEvent raw(byte[] value) {
    return new RawEvent("in", 0, 7L, 1_700_000_000_000L, null, value);
  }

  /** The single-object header of the current TextEvent schema. */
  static ByteArrayOutputStream header() {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    b.write(0xC3);
    b.write(0x01);
    long fp = SchemaNormalization.parsingFingerprint64(TextEvent.getClassSchema());
    b.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(fp).array());
    return b;
  }

  /** A zig-zag varint, as Avro writes ints and longs. */
  static void varLong(ByteArrayOutputStream b, long v) {
    long z = (v << 1) ^ (v >> 63);
    while ((z & ~0x7FL) != 0) {
      b.write((int) ((z & 0x7F) | 0x80));
      z >>>= 7;
    }
    b.write((int) z);
  }

  /** Bytes the current thread allocates while {@code s} runs. */
  static long allocated(Runnable r) {
    com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long id = Thread.currentThread().getId();
    long before = mx.getThreadAllocatedBytes(id);
    r.run();
    return mx.getThreadAllocatedBytes(id) - before;
  }

  static void assertRefused(byte[] record, DeadLetterReason reason, String messagePart) {
    long bytes = allocated(() -> assertThatThrownBy(() -> AUTO.decode(raw(record)))
        .isInstanceOf(EventDecoder.MalformedEvent.class)
        .hasMessageContaining(messagePart)
        .satisfies(e -> assertThat(((EventDecoder.MalformedEvent) e).reason).isEqualTo(reason)));
    assertThat(bytes).as("bytes allocated to refuse a %d-byte record", record.length).isLessThan(4L << 20);
  }

  @Test
  void anAvroStringLengthNear2To31IsRefusedWithoutAllocatingIt() {
    ByteArrayOutputStream b = header();
    varLong(b, Integer.MAX_VALUE - 16); // the id's length
    b.write(0x61);
    byte[] record = b.toByteArray();
    assertThat(record.length).isLessThanOrEqualTo(16);
    assertRefused(record, DeadLetterReason.MALFORMED_EVENT, "past the end of the record");
  }

  @Test
  void anAvroArrayBlockCountOf2To30IsRefusedWithoutAllocatingIt() {
    ByteArrayOutputStream b = header();
    varLong(b, 1); // id: 1 byte
    b.write('x');
    for (int i = 0; i < 4; i++) {
      varLong(b, 0); // key, text, question, context: the null branch
    }
    varLong(b, 1L << 30); // tasks: one block of 2^30 strings
    varLong(b, 0);
    byte[] record = b.toByteArray();
    assertThat(record.length).isLessThan(40);
    assertRefused(record, DeadLetterReason.MALFORMED_EVENT, "array or map items");
  }

  @Test
  void aNegativeAvroLengthIsRefused() {
    ByteArrayOutputStream b = header();
    varLong(b, -5);
    assertRefused(b.toByteArray(), DeadLetterReason.MALFORMED_EVENT, "negative");
  }

  @Test
  void wellFormedAvroStillDecodes() throws Exception {
    TextEvent e = TextEvent.newBuilder().setId("a").setText("hello").setTasks(List.of("ner", "ner"))
        .setChoices(List.of("x", "y")).build();
    TextEvent back = AUTO.decode(raw(TextEvents.encode(e)));
    assertThat(back.getText()).isEqualTo("hello");
    assertThat(back.getTasks()).containsExactly("ner", "ner");
    assertThat(back.getChoices()).containsExactly("x", "y");
  }

  @Test
  void aRecordOverMaxRecordBytesIsNotDecoded() {
    EventDecoder small = new EventDecoder(EventDecoder.Format.AUTO, new EventDecoder.Limits(1000, 16, 100));
    byte[] record = ("{\"text\":\"" + "a".repeat(2000) + "\"}").getBytes(StandardCharsets.UTF_8);
    assertThatThrownBy(() -> small.decode(raw(record))).isInstanceOf(EventDecoder.MalformedEvent.class)
        .hasMessageContaining("input.max-record-bytes (1000)")
        .satisfies(e -> assertThat(((EventDecoder.MalformedEvent) e).reason)
            .isEqualTo(DeadLetterReason.LIMIT_EXCEEDED));
  }

  @Test
  void deeplyNestedJsonIsRefusedWithoutRecursingIntoIt() {
    String deep = "{\"text\":\"x\",\"attributes\":" + "[".repeat(200_000) + "]".repeat(200_000) + "}";
    assertRefused(deep.getBytes(StandardCharsets.UTF_8), DeadLetterReason.LIMIT_EXCEEDED, "JSON over a bound");
  }

  @Test
  void jsonCollectionsAreBounded() {
    EventDecoder small = new EventDecoder(EventDecoder.Format.AUTO, new EventDecoder.Limits(1 << 20, 16, 100));
    String many = "{\"text\":\"x\",\"tasks\":[" + "\"a\",".repeat(150) + "\"a\"]}";
    assertThatThrownBy(() -> small.decode(raw(many.getBytes(StandardCharsets.UTF_8))))
        .hasMessageContaining("input.max-collection-items (100)");
  }

  @Test
  void loneSurrogateEscapesInJsonBecomeReplacementCharacters() {
    String json = "{\"id\":\"s\",\"text\":\"bad \\ud800 high, bad \\udc00 low, good \\ud83d\\ude00 pair\"}";
    TextEvent e = AUTO.decode(raw(json.getBytes(StandardCharsets.UTF_8)));
    assertThat(e.getText()).isEqualTo("bad \uFFFD high, bad \uFFFD low, good \uD83D\uDE00 pair");
  }

  @Test
  void wellFormedLeavesOrdinaryStringsAlone() {
    String s = "plain text 😀";
    assertThat(EventDecoder.wellFormed(s)).isSameAs(s);
    assertThat(EventDecoder.wellFormed("\uD800")).isEqualTo("\uFFFD");
    assertThat(EventDecoder.wellFormed("x\uDBFF")).isEqualTo("x\uFFFD");
  }

  @Test
  void aBadRecordIsADeadLetterAndTheNextOneDecodes() throws Exception {
    List<io.distilstream.schemas.DeadLetter> dead = new java.util.ArrayList<>();
    List<TextEvent> out = new java.util.ArrayList<>();
    org.apache.flink.util.Collector<TextEvent> collector = new org.apache.flink.util.Collector<>() {
      @Override
      public void collect(TextEvent e) {
        out.add(e);
      }

      @Override
      public void close() {}
    };
    EventDecoder.Context ctx = AUTO.new Context() {
      @Override
      public Long timestamp() {
        return null;
      }

      @Override
      public org.apache.flink.streaming.api.TimerService timerService() {
        throw new UnsupportedOperationException();
      }

      @Override
      public <X> void output(org.apache.flink.util.OutputTag<X> tag, X value) {
        dead.add((io.distilstream.schemas.DeadLetter) value);
      }
    };
    ByteArrayOutputStream b = header();
    varLong(b, Integer.MAX_VALUE - 16);
    AUTO.processElement(raw(b.toByteArray()), ctx, collector);
    AUTO.processElement(raw("{\"text\":\"fine\"}".getBytes(StandardCharsets.UTF_8)), ctx, collector);
    assertThat(dead).singleElement().satisfies(d -> {
      assertThat(d.getReason()).isEqualTo("MALFORMED_EVENT");
      assertThat(d.getStage()).isEqualTo("decode");
      assertThat(d.getMessage()).contains("record in-0-7");
    });
    assertThat(out).singleElement().satisfies(e -> assertThat(e.getText()).isEqualTo("fine"));
  }

  @Test
  void modelsComeFromTheEventElseFromTheRoutingHeaderBounded() {
    EventDecoder small = new EventDecoder(EventDecoder.Format.AUTO, new EventDecoder.Limits(1024 * 1024, 16, 4));
    byte[] json = "{\"id\":\"a\",\"text\":\"t\",\"models\":[\"toxicity\",\"pii\"]}".getBytes(StandardCharsets.UTF_8);
    assertThat(small.decode(raw(json)).getModels()).containsExactly("toxicity", "pii");
    RawEvent withHeader = raw(json);
    withHeader.modelsHeader = "spam".getBytes(StandardCharsets.UTF_8);
    assertThat(small.decode(withHeader).getModels()).as("the event's own list wins").containsExactly("toxicity", "pii");
    RawEvent plain = raw("just text".getBytes(StandardCharsets.UTF_8));
    plain.modelsHeader = " spam, ,toxicity-de ".getBytes(StandardCharsets.UTF_8);
    assertThat(small.decode(plain).getModels()).containsExactly("spam", "toxicity-de");
    RawEvent many = raw("just text".getBytes(StandardCharsets.UTF_8));
    many.modelsHeader = "a,b,c,d,e".getBytes(StandardCharsets.UTF_8);
    assertThatThrownBy(() -> small.decode(many)).isInstanceOf(EventDecoder.MalformedEvent.class)
        .hasMessageContaining("input.max-collection-items (4)");
    // the header's names share the event's budget: three attributes leave room for one name
    RawEvent shared = raw("{\"id\":\"a\",\"text\":\"t\",\"attributes\":{\"x\":\"1\",\"y\":\"2\",\"z\":\"3\"}}"
        .getBytes(StandardCharsets.UTF_8));
    shared.modelsHeader = "spam".getBytes(StandardCharsets.UTF_8);
    assertThat(small.decode(shared).getModels()).containsExactly("spam");
    shared.modelsHeader = "spam,toxicity".getBytes(StandardCharsets.UTF_8);
    assertThatThrownBy(() -> small.decode(shared)).isInstanceOf(EventDecoder.MalformedEvent.class)
        .hasMessageContaining("input.max-collection-items (4)");
    // a header of (nearly) a megabyte of separators holds no names and costs no list of them; a name after them counts
    RawEvent commas = raw("just text".getBytes(StandardCharsets.UTF_8));
    commas.modelsHeader = (",".repeat(1024 * 1024 - 5) + "spam").getBytes(StandardCharsets.UTF_8);
    assertThat(small.decode(commas).getModels()).containsExactly("spam");
    byte[] tooMany = "{\"id\":\"a\",\"text\":\"t\",\"tasks\":[\"ner\"],\"models\":[\"a\",\"b\",\"c\",\"d\"]}"
        .getBytes(StandardCharsets.UTF_8);
    assertThatThrownBy(() -> small.decode(raw(tooMany))).isInstanceOf(EventDecoder.MalformedEvent.class)
        .hasMessageContaining("models");
    assertThatThrownBy(() -> small.decode(raw("{\"id\":\"a\",\"models\":{\"x\":1}}".getBytes(StandardCharsets.UTF_8))))
        .hasMessageContaining("models must be a string or an array of strings");
  }
}
