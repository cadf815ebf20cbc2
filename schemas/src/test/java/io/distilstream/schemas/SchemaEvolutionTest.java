package io.distilstream.schemas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.message.MissingSchemaException;
import org.junit.jupiter.api.Test;

/** The schemas' compatibility rules, checked: see schemas/README.md. */
class SchemaEvolutionTest {
  @Test
  void anEventWrittenWithTheV1SchemaDecodesWithTheCurrentOne() throws Exception {
    Schema v1 = TextEvents.historical("history/TextEvent-v1.avsc");
    GenericRecord old = new GenericData.Record(v1);
    old.put("id", "old-1");
    old.put("key", null);
    old.put("text", "written by a v1 producer");
    old.put("question", null);
    old.put("context", null);
    old.put("tasks", List.of("text-classification"));
    ByteBuffer bytes = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v1).encode(old);
    byte[] raw = new byte[bytes.remaining()];
    bytes.get(raw);

    TextEvent e = TextEvents.decode(raw);
    assertThat(e.getId()).isEqualTo("old-1");
    assertThat(e.getText()).isEqualTo("written by a v1 producer");
    assertThat(e.getTasks()).containsExactly("text-classification");
    // fields added since v1 take their defaults
    assertThat(e.getAttributes()).isEmpty();
    assertThat(e.getEventTime()).isNull();
  }

  @Test
  void anEventWrittenWithTheV2SchemaDecodesWithoutPairOrChoices() throws Exception {
    Schema v2 = TextEvents.historical("history/TextEvent-v2.avsc");
    GenericRecord old = new GenericData.Record(v2);
    old.put("id", "old-2");
    old.put("key", "k");
    old.put("text", "written by a v2 producer");
    old.put("question", null);
    old.put("context", null);
    old.put("tasks", List.of("text-classification"));
    old.put("attributes", Map.of("lang", "en"));
    old.put("event_time", 1234L);
    ByteBuffer bytes = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v2).encode(old);
    byte[] raw = new byte[bytes.remaining()];
    bytes.get(raw);

    TextEvent e = TextEvents.decode(raw);
    assertThat(e.getId()).isEqualTo("old-2");
    assertThat(e.getAttributes()).containsEntry("lang", "en");
    // fields added in v3 take their defaults
    assertThat(e.getTextPair()).isNull();
    assertThat(e.getChoices()).isEmpty();
    // and the v3 fields round-trip
    TextEvent pair = TextEvent.newBuilder().setId("p").setText("A man plays.").setTextPair("Someone plays.")
        .setChoices(List.of("a", "b")).build();
    assertThat(TextEvents.decode(TextEvents.encode(pair))).isEqualTo(pair);
  }

  @Test
  void anEventWrittenWithTheV3SchemaDecodesWithoutZeroShotFields() throws Exception {
    Schema v3 = TextEvents.historical("history/TextEvent-v3.avsc");
    GenericRecord old = new GenericData.Record(v3);
    old.put("id", "old-3");
    old.put("text", "written by a v3 producer");
    old.put("tasks", List.of("multiple-choice"));
    old.put("attributes", Map.of());
    old.put("choices", List.of("a", "b"));
    ByteBuffer bytes = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v3).encode(old);
    byte[] raw = new byte[bytes.remaining()];
    bytes.get(raw);

    TextEvent e = TextEvents.decode(raw);
    assertThat(e.getChoices()).containsExactly("a", "b");
    assertThat(e.getCandidateLabels()).isEmpty();
    assertThat(e.getHypothesisTemplate()).isNull();
    assertThat(e.getMultiLabel()).isNull();
    TextEvent z = TextEvent.newBuilder().setId("z").setText("Buy now").setCandidateLabels(List.of("spam", "ham"))
        .setHypothesisTemplate("This is {}.").setMultiLabel(true).build();
    assertThat(TextEvents.decode(TextEvents.encode(z))).isEqualTo(z);
  }

  @Test
  void outputUnionGrowsCompatibly() {
    // a reader of the new InferenceOutput reads what an old writer wrote: the new result fields default to null
    Schema previous = new Schema.Parser().parse("{\"type\":\"record\",\"name\":\"InferenceOutput\","
        + "\"namespace\":\"io.distilstream.schemas\",\"fields\":[{\"name\":\"dead_letter\",\"type\":[\"null\","
        + DeadLetter.getClassSchema() + "],\"default\":null}]}");
    assertThat(SchemaCompatibility.checkReaderWriterCompatibility(InferenceOutput.getClassSchema(), previous)
        .getType()).isEqualTo(SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE);
  }

  @Test
  void everyHistoricalSchemaCanBeReadByTheCurrentOne() {
    for (String h : TextEvents.HISTORY) {
      SchemaCompatibility.SchemaPairCompatibility c = SchemaCompatibility.checkReaderWriterCompatibility(
          TextEvent.getClassSchema(), TextEvents.historical(h));
      assertThat(c.getType()).as(h + ": " + c.getDescription())
          .isEqualTo(SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE);
    }
  }

  @Test
  void currentEventsRoundTripAndForeignFingerprintsAreRefused() throws Exception {
    TextEvent e = TextEvent.newBuilder().setId("x").setText("hello").setAttributes(Map.of("lang", "en")).build();
    assertThat(TextEvents.decode(TextEvents.encode(e))).isEqualTo(e);
    byte[] foreign = {(byte) 0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0};
    assertThatThrownBy(() -> TextEvents.decode(foreign)).isInstanceOf(MissingSchemaException.class);
  }
}
