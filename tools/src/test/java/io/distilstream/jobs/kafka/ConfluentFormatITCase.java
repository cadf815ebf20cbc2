package io.distilstream.jobs.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.jobs.JobCli;
import io.distilstream.operators.DeadLetterReason;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.Label;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import io.distilstream.tools.local.LocalSchemaRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Confluent wire format against a real schema registry (Apicurio Registry's Confluent-compatible API, its own
 * JVM): events of two producer schema versions and of a producer's own record name decode to the current TextEvent;
 * results are registered under each subject strategy and read back; an incompatible schema stops the job at start;
 * an unknown id, a truncated body and garbage after the magic byte are dead letters with their reason; a registry
 * that is down holds the record (no dead letter) until it answers.
 */
class ConfluentFormatITCase {
  private static LocalSchemaRegistry registry;
  private static SchemaRegistryClient client;

  @BeforeAll
  static void startRegistry() throws Exception {
    String why = LocalSchemaRegistry.unavailableReason();
    Assumptions.assumeTrue(why == null, () -> "no schema registry can run here: " + why);
    registry = LocalSchemaRegistry.start();
    client = new SchemaRegistryClient(settings(registry.url(), Map.of()));
  }

  @AfterAll
  static void stopRegistry() {
    if (registry != null) {
      registry.close();
    }
  }

  static SchemaRegistryClient.Settings settings(String url, Map<String, String> more) {
    Map<String, String> m = new java.util.HashMap<>(more);
    m.put("schema.registry.url", url);
    return SchemaRegistryClient.Settings.from(m);
  }

  static Schema history(String version) throws IOException {
    try (InputStream in = TextEvents.class.getResourceAsStream("history/TextEvent-" + version + ".avsc")) {
      return new Schema.Parser().parse(in);
    }
  }

  /** {@code r} in the wire format under {@code id}, written with its own (producer's) schema. */
  static byte[] wire(int id, GenericRecord r) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(0);
    out.writeBytes(ByteBuffer.allocate(4).putInt(id).array());
    BinaryEncoder e = EncoderFactory.get().directBinaryEncoder(out, null);
    new GenericDatumWriter<GenericRecord>(r.getSchema()).write(r, e);
    e.flush();
    return out.toByteArray();
  }

  static RawEvent raw(byte[] v) {
    return new RawEvent("in", 0, 3L, 1_700_000_000_000L, null, v);
  }

  private static EventDecoder decoder(EventDecoder.Format format) {
    return new EventDecoder(format, EventDecoder.Limits.DEFAULTS, client.settings());
  }

  @Test
  void eventsOfTwoProducerVersionsResolveToTheCurrentTextEvent() throws Exception {
    Schema v1 = history("v1");
    Schema v2 = history("v2");
    int id1 = client.register("versions-value", v1);
    int id2 = client.register("versions-value", v2);
    assertThat(id1).isNotEqualTo(id2);
    GenericRecord e1 = new GenericData.Record(v1);
    e1.put("id", "old-1");
    e1.put("text", "written by a v1 producer");
    e1.put("tasks", List.of("text-classification"));
    GenericRecord e2 = new GenericData.Record(v2);
    e2.put("id", "v2-1");
    e2.put("key", "user-9");
    e2.put("text", "written by a v2 producer");
    e2.put("tasks", List.of());
    e2.put("attributes", Map.of("lang", "en"));
    e2.put("event_time", 1_650_000_000_000L);

    EventDecoder d = decoder(EventDecoder.Format.AVRO_CONFLUENT);
    TextEvent a = d.decode(raw(wire(id1, e1)));
    assertThat(a.getId()).isEqualTo("old-1");
    assertThat(a.getText()).isEqualTo("written by a v1 producer");
    assertThat(a.getTasks()).containsExactly("text-classification");
    assertThat(a.getAttributes()).isEmpty(); // v1 has none: the default
    assertThat(a.getEventTime()).isNull();
    assertThat(a.getChoices()).isEmpty();
    TextEvent b = d.decode(raw(wire(id2, e2)));
    assertThat(b.getKey()).isEqualTo("user-9");
    assertThat(b.getAttributes()).containsEntry("lang", "en");
    assertThat(b.getEventTime()).isEqualTo(Instant.ofEpochMilli(1_650_000_000_000L));
    // auto reads the magic byte as the Confluent format when a registry is configured
    assertThat(decoder(EventDecoder.Format.AUTO).decode(raw(wire(id2, e2)))).isEqualTo(b);
  }

  @Test
  void aProducersOwnRecordNameWithExtraFieldsIsReadByField() throws Exception {
    Schema theirs = new Schema.Parser().parse("{\"type\":\"record\",\"name\":\"Comment\",\"namespace\":\"com.acme\","
        + "\"fields\":[{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"source\",\"type\":\"string\"},"
        + "{\"name\":\"text\",\"type\":[\"null\",\"string\"],\"default\":null},"
        + "{\"name\":\"score_hint\",\"type\":{\"type\":\"array\",\"items\":\"double\"}}]}");
    int id = client.register("comments-value", theirs);
    GenericRecord r = new GenericData.Record(theirs);
    r.put("id", "acme-1");
    r.put("source", "web");
    r.put("text", "extra fields are skipped");
    r.put("score_hint", List.of(0.5, 0.25));
    TextEvent e = decoder(EventDecoder.Format.AVRO_CONFLUENT).decode(raw(wire(id, r)));
    assertThat(e.getId()).isEqualTo("acme-1");
    assertThat(e.getText()).isEqualTo("extra fields are skipped");
    assertThat(e.getTasks()).isEmpty();
  }

  @Test
  void aWriterSchemaThatIsNotATextEventIsAMalformedEvent() throws Exception {
    Schema noId = new Schema.Parser().parse("{\"type\":\"record\",\"name\":\"TextEvent\",\"namespace\":"
        + "\"io.distilstream.schemas\",\"fields\":[{\"name\":\"text\",\"type\":\"string\"}]}");
    int id = client.register("no-id-value", noId);
    GenericRecord r = new GenericData.Record(noId);
    r.put("text", "no id, and id has no default");
    assertRefused(decoder(EventDecoder.Format.AVRO_CONFLUENT), wire(id, r), DeadLetterReason.MALFORMED_EVENT,
        "schema id " + id + " (io.distilstream.schemas.TextEvent) cannot be read as a TextEvent");
  }

  @Test
  void anUnknownSchemaIdIsADeadLetterAfterABoundedNumberOfLookupsThenCached() throws Exception {
    EventDecoder d = decoder(EventDecoder.Format.AVRO_CONFLUENT);
    byte[] v = new byte[] {0, 0, 0x0F, 0x42, 0x3F, 2, 'x', 0, 0, 0, 0, 0};
    long before = d.confluent().registry().requests();
    assertRefused(d, v, DeadLetterReason.MALFORMED_EVENT, "schema id 999999 is unknown to the schema registry");
    assertThat(d.confluent().registry().requests() - before).isEqualTo(ConfluentEventReader.UNKNOWN_ID_LOOKUPS);
    for (int i = 0; i < 100; i++) {
      assertRefused(d, v, DeadLetterReason.MALFORMED_EVENT, "schema id 999999");
    }
    assertThat(d.confluent().registry().requests() - before).as("later records of the id cost no lookups")
        .isEqualTo(ConfluentEventReader.UNKNOWN_ID_LOOKUPS);
  }

  @Test
  void truncatedBodiesAndGarbageAfterTheMagicByteAreMalformed() throws Exception {
    int id = client.register("current-value", TextEvent.getClassSchema());
    TextEvent ev = TextEvent.newBuilder().setId("t-1").setText("a text long enough to cut").build();
    byte[] whole = ConfluentWireFormat.encode(id, ev);
    EventDecoder d = decoder(EventDecoder.Format.AVRO_CONFLUENT);
    assertThat(d.decode(raw(whole))).isEqualTo(ev);
    for (int cut = 5; cut < whole.length; cut++) {
      assertRefused(d, Arrays.copyOf(whole, cut), DeadLetterReason.MALFORMED_EVENT, "schema id " + id);
    }
    byte[] trailing = Arrays.copyOf(whole, whole.length + 3);
    assertRefused(d, trailing, DeadLetterReason.MALFORMED_EVENT, "bytes after the end");
    assertRefused(d, new byte[] {0, 0, 0}, DeadLetterReason.MALFORMED_EVENT, "shorter than its 5-byte header");
    long before = d.confluent().registry().requests();
    assertRefused(d, new byte[] {0, (byte) 0xFF, (byte) 0xFE, 'g', 'a', 'r', 'b'}, DeadLetterReason.MALFORMED_EVENT,
        "not an id a registry hands out");
    assertThat(d.confluent().registry().requests()).as("no lookup for a negative id").isEqualTo(before);
    // a 2^31-long string after a valid header: refused by the bounds walk, nothing allocated for it
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    b.writeBytes(Arrays.copyOf(whole, 5));
    b.writeBytes(new byte[] {(byte) 0xFE, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x0F, 'a'});
    assertRefused(d, b.toByteArray(), DeadLetterReason.MALFORMED_EVENT, "past the end of the record");
    assertRefused(d, "plain text".getBytes(StandardCharsets.UTF_8), DeadLetterReason.MALFORMED_EVENT,
        "first byte is 0x70, not the magic byte 0");
  }

  @Test
  void autoTellsTheFormatsApartByTheirFirstBytes() throws Exception {
    EventDecoder auto = decoder(EventDecoder.Format.AUTO);
    TextEvent ev = TextEvent.newBuilder().setId("s-1").setText("single object").build();
    assertThat(auto.decode(raw(TextEvents.encode(ev)))).isEqualTo(ev);
    assertThat(auto.decode(raw("{\"id\":\"j-1\",\"text\":\"json\"}".getBytes(StandardCharsets.UTF_8))).getId())
        .isEqualTo("j-1");
    assertThat(auto.decode(raw("just text".getBytes(StandardCharsets.UTF_8))).getText()).isEqualTo("just text");
    // without a registry a leading NUL is text, as before the Confluent format existed
    byte[] nul = "\0text after a NUL".getBytes(StandardCharsets.UTF_8);
    assertThat(new EventDecoder(EventDecoder.Format.AUTO).decode(raw(nul)).getText()).isEqualTo("\0text after a NUL");
    assertRefused(auto, nul, DeadLetterReason.MALFORMED_EVENT, "schema id"); // with one, it is the Confluent format
  }

  @Test
  void resultsAreRegisteredUnderEachSubjectStrategyAndReadBack() throws Exception {
    ClassificationResult result = ClassificationResult.newBuilder().setId("ev-1").setKey(null)
        .setLabels(List.of(Label.newBuilder().setLabel("POSITIVE").setScore(0.9f).build()))
        .setModel(ModelInfo.newBuilder().setName("m").setVersion("1").setRuntime("r").build())
        .setLatencyMicros(12).setAttributes(Map.of()).build();
    String topicRecord = "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy";
    for (String strategy : List.of("topic", "record", topicRecord)) {
      SchemaRegistryClient c = new SchemaRegistryClient(settings(registry.url(),
          Map.of("value.subject.name.strategy", strategy)));
      AvroRecordSerializer<ClassificationResult> s = AvroRecordSerializer.of(
          AvroRecordSerializer.Format.AVRO_CONFLUENT, c, "labels", ClassificationResult.class,
          ClassificationResult::getId);
      ProducerRecord<byte[], byte[]> r = s.serialize(result, null, 5L);
      assertThat(r.value()[0]).isZero();
      assertThat(ConfluentWireFormat.schemaId(r.value())).isEqualTo(s.schemaId());
      assertThat(new String(r.key(), StandardCharsets.UTF_8)).isEqualTo("ev-1");
      // a fresh client, as another consumer: the schema comes from the registry by id
      SchemaRegistryClient consumer = new SchemaRegistryClient(settings(registry.url(), Map.of()));
      assertThat(ConfluentWireFormat.decode(consumer, r.value(), ClassificationResult.class)).isEqualTo(result);
      String subject = Map.of("topic", "labels-value", "record", "io.distilstream.schemas.ClassificationResult")
          .getOrDefault(strategy, "labels-io.distilstream.schemas.ClassificationResult");
      assertThat(consumer.lookup(subject, ClassificationResult.getClassSchema())).isEqualTo(s.schemaId());
    }
    // auto.register.schemas=false: only looked up; a subject without it stops the job at start
    SchemaRegistryClient lookupOnly = new SchemaRegistryClient(settings(registry.url(),
        Map.of("auto.register.schemas", "false")));
    assertThat(AvroRecordSerializer.of(AvroRecordSerializer.Format.AVRO_CONFLUENT, lookupOnly, "labels",
        ClassificationResult.class, ClassificationResult::getId).schemaId()).isNotNegative();
    assertThatThrownBy(() -> AvroRecordSerializer.of(AvroRecordSerializer.Format.AVRO_CONFLUENT, lookupOnly,
        "never-registered", DeadLetter.class, DeadLetter::getId))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("subject 'never-registered-value' is not registered there and auto.register.schemas"
            + " is false")
        .hasMessageContaining("The job did not start");
  }

  @Test
  void anIncompatibleSchemaStopsTheJobAtStartWithAClearMessage() throws Exception {
    Schema old = new Schema.Parser().parse("{\"type\":\"record\",\"name\":\"ClassificationResult\",\"namespace\":"
        + "\"io.distilstream.schemas\",\"fields\":[{\"name\":\"legacy\",\"type\":\"int\"}]}");
    client.register("strict-value", old);
    client.setCompatibility("strict-value", "BACKWARD");
    assertThatThrownBy(() -> AvroRecordSerializer.of(AvroRecordSerializer.Format.AVRO_CONFLUENT, client, "strict",
        ClassificationResult.class, ClassificationResult::getId))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("the schema registry refused io.distilstream.schemas.ClassificationResult for topic"
            + " 'strict'")
        .hasMessageContaining("subject 'strict-value' is incompatible")
        .hasMessageContaining("409");
  }

  private record DryRun(int code, String out) {}

  private static DryRun dryRun(String registryUrl, String... more) throws Exception {
    Path model = Paths.get(System.getProperty("distilstream.shared", "../../shared"), "models",
        "tiny-distilbert-sequence-classification").toAbsolutePath();
    List<String> argv = new ArrayList<>(List.of("--dry-run", "--bootstrap-servers", "127.0.0.1:9",
        "--model", "text-classification=" + model, "--set", "schema.registry.url=" + registryUrl,
        "--set", "topics.classifications=dry-labels", "--set", "topics.dead-letters=dry-dead"));
    for (String kv : more) {
      argv.addAll(List.of("--set", kv));
    }
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    int code = JobCli.run(argv.toArray(String[]::new), new PrintStream(buf, true, StandardCharsets.UTF_8));
    return new DryRun(code, buf.toString(StandardCharsets.UTF_8));
  }

  @Test
  void aDryRunSaysWhatStartingWouldDoWithEachSchemaAndRegistersNothing() throws Exception {
    int deadId = client.register("dry-dead-value", DeadLetter.getClassSchema());
    Schema old = new Schema.Parser().parse("{\"type\":\"record\",\"name\":\"ClassificationResult\",\"namespace\":"
        + "\"io.distilstream.schemas\",\"fields\":[{\"name\":\"legacy\",\"type\":\"int\"}]}");
    client.register("dry-labels-value", old);
    client.setCompatibility("dry-labels-value", "BACKWARD");
    List<String> subjects = client.subjects();

    DryRun incompatible = dryRun(registry.url(), "output.format=avro-confluent");
    assertThat(incompatible.code()).as(incompatible.out()).isEqualTo(1);
    assertThat(incompatible.out()).contains("configuration is valid",
        "dry-dead: subject dry-dead-value: already registered (id " + deadId + ")",
        "dry-labels: subject dry-labels-value: incompatible: ", "starting the job would fail at the schema registry");

    client.setCompatibility("dry-labels-value", "NONE");
    DryRun register = dryRun(registry.url(), "output.format=avro-confluent");
    assertThat(register.code()).as(register.out()).isZero();
    assertThat(register.out()).contains("dry-labels: subject dry-labels-value: register\n")
        .doesNotContain("would fail");

    DryRun missing = dryRun(registry.url(), "output.format=avro-confluent", "auto.register.schemas=false",
        "value.subject.name.strategy=topic-record");
    assertThat(missing.code()).as(missing.out()).isEqualTo(1);
    assertThat(missing.out()).contains("dry-labels: subject dry-labels-io.distilstream.schemas.ClassificationResult:"
        + " missing (auto.register.schemas=false)");

    DryRun input = dryRun(registry.url(), "input.format=avro-confluent");
    assertThat(input.code()).as(input.out()).isZero();
    assertThat(input.out()).contains("schema registry " + registry.url() + ": answers (");

    // nothing was registered: the same subjects, and the labels subject still holds only the old version
    assertThat(client.subjects()).containsExactlyInAnyOrderElementsOf(subjects);
    assertThat(client.find("dry-labels-value", ClassificationResult.getClassSchema())).isEmpty();

    int closed;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0, 0, java.net.InetAddress.getLoopbackAddress())) {
      closed = s.getLocalPort();
    }
    DryRun down = dryRun("http://127.0.0.1:" + closed, "output.format=avro-confluent",
        "schema.registry.request.timeout.ms=2000");
    assertThat(down.code()).as(down.out()).isEqualTo(1);
    assertThat(down.out()).contains("dry-labels: subject dry-labels-value: registry unreachable: the schema registry"
        + " at http://127.0.0.1:" + closed + " did not answer", "(the other topics were not asked)");
  }

  @Test
  void aRegistryThatIsDownHoldsTheRecordUntilItAnswersWithoutADeadLetter() throws Exception {
    int port;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0, 0, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    EventDecoder d = new EventDecoder(EventDecoder.Format.AVRO_CONFLUENT, EventDecoder.Limits.DEFAULTS,
        settings("http://127.0.0.1:" + port + "/apis/ccompat/v7", Map.of()));
    CountDownLatch threeFailures = new CountDownLatch(3);
    CountDownLatch registered = new CountDownLatch(1);
    d.confluent().onUnavailable = attempt -> {
      threeFailures.countDown();
      if (attempt >= 3) {
        // hold the retries while the registry starts empty and the schema is registered: a lookup in between
        // would be a 404, which is a different test
        try {
          registered.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    };
    // the first schema a fresh registry registers gets id 1 (checked below)
    TextEvent ev = TextEvent.newBuilder().setId("held").setText("waits for the registry").build();
    byte[] v = ConfluentWireFormat.encode(1, ev);
    List<DeadLetter> dead = new ArrayList<>();
    List<TextEvent> out = new ArrayList<>();
    AtomicReference<Throwable> failed = new AtomicReference<>();
    Thread t = new Thread(() -> {
      try {
        d.processElement(raw(v), context(d, dead), collector(out));
      } catch (Throwable e) {
        failed.set(e);
      }
    });
    t.start();
    assertThat(threeFailures.await(120, TimeUnit.SECONDS)).as("three attempts failed").isTrue();
    assertThat(t.isAlive()).isTrue();
    try (LocalSchemaRegistry late = LocalSchemaRegistry.start(port)) {
      SchemaRegistryClient c = new SchemaRegistryClient(settings(late.url(), Map.of()));
      try {
        assertThat(c.register("held-value", TextEvent.getClassSchema())).isEqualTo(1);
      } finally {
        registered.countDown();
      }
      t.join(TimeUnit.MINUTES.toMillis(2));
    }
    assertThat(failed.get()).isNull();
    assertThat(dead).isEmpty();
    assertThat(out).containsExactly(ev);
  }

  @Test
  void cancellingWhileTheRegistryIsDownIsNoDeadLetter() throws Exception {
    int port;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0, 0, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    EventDecoder d = new EventDecoder(EventDecoder.Format.AVRO_CONFLUENT, EventDecoder.Limits.DEFAULTS,
        settings("http://127.0.0.1:" + port, Map.of()));
    CountDownLatch failing = new CountDownLatch(2);
    d.confluent().onUnavailable = attempt -> failing.countDown();
    List<DeadLetter> dead = new ArrayList<>();
    AtomicReference<Throwable> failed = new AtomicReference<>();
    Thread t = new Thread(() -> {
      try {
        d.processElement(raw(new byte[] {0, 0, 0, 0, 7, 2, 'x'}), context(d, dead), collector(new ArrayList<>()));
      } catch (Throwable e) {
        failed.set(e);
      }
    });
    t.start();
    assertThat(failing.await(60, TimeUnit.SECONDS)).isTrue();
    t.interrupt(); // what Flink does to a task it cancels
    t.join(TimeUnit.SECONDS.toMillis(60));
    assertThat(t.isAlive()).isFalse();
    assertThat(failed.get()).isInstanceOf(CancellationException.class);
    assertThat(dead).isEmpty();
  }

  static EventDecoder.Context context(EventDecoder d, List<DeadLetter> dead) {
    return d.new Context() {
      @Override
      public Long timestamp() {
        return null;
      }

      @Override
      public org.apache.flink.streaming.api.TimerService timerService() {
        throw new UnsupportedOperationException();
      }

      @Override
      public <X> void output(OutputTag<X> tag, X value) {
        dead.add((DeadLetter) value);
      }
    };
  }

  static Collector<TextEvent> collector(List<TextEvent> out) {
    return new Collector<>() {
      @Override
      public void collect(TextEvent e) {
        out.add(e);
      }

      @Override
      public void close() {}
    };
  }

  static void assertRefused(EventDecoder d, byte[] record, DeadLetterReason reason, String messagePart) {
    assertThatThrownBy(() -> d.decode(raw(record)))
        .isInstanceOf(EventDecoder.MalformedEvent.class)
        .hasMessageContaining(messagePart)
        .satisfies(e -> assertThat(((EventDecoder.MalformedEvent) e).reason).isEqualTo(reason));
  }
}
