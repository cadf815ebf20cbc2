package io.distilstream.operators.shadow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.runtime.compare.Agreement;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.Label;
import io.distilstream.schemas.LabelFlip;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.ShadowSummary;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;

/** The shadow join and summary on Flink's operator harness: pairing, unpaired reasons, timeout, windows. */
public class ShadowJoinTest {
  private static final ShadowPair PAIR = new ShadowPair("toxicity", "toxicity-v2");
  private static final ShadowOptions.Settings SETTINGS = new ShadowOptions.Settings(3, Duration.ofSeconds(10), 4);

  static InferenceOutput labels(String model, String version, String id, String top, float score) {
    List<Label> l = List.of(new Label(top, score), new Label(top.equals("POSITIVE") ? "NEGATIVE" : "POSITIVE",
        1 - score));
    return InferenceOutput.newBuilder().setClassification(ClassificationResult.newBuilder().setId(id)
        .setModel(ModelInfo.newBuilder().setName(model).setVersion(version).setRuntime("test").build()).setLatencyMicros(1).setLabels(l).build()).build();
  }

  /** A dead letter of a named model, as the operator writes it: the message starts with the model's name. */
  public static InferenceOutput dead(String model, String id, String reason) {
    return InferenceOutput.newBuilder().setDeadLetter(DeadLetter.newBuilder().setId(id)
        .setOriginal(ByteBuffer.wrap(new byte[0])).setReason(reason).setMessage("model '" + model + "': m")
        .setStage("inference")
        .setTask("text-classification").setTime(Instant.EPOCH).build()).build();
  }

  /** Opened. */
  private static KeyedOneInputStreamOperatorTestHarness<String, ShadowSide, ShadowComparison> join() throws Exception {
    return ProcessFunctionTestHarnesses.forKeyedProcessFunction(new ShadowJoin(Map.of(PAIR.key(), PAIR), SETTINGS),
        ShadowSide::joinKey, Types.STRING);
  }

  private static ShadowSide side(boolean primary, InferenceOutput o) {
    return new ShadowSide(PAIR.key(), ShadowResults.id(o), primary, o);
  }

  @Test
  void outputsAreRoutedToEveryPairOfTheirModelByAlias() throws Exception {
    ShadowPair other = new ShadowPair("toxicity", "toxicity-v3");
    Shadows.Route route = new Shadows.Route(List.of(PAIR, other));
    List<ShadowSide> out = new ArrayList<>();
    org.apache.flink.util.Collector<ShadowSide> c = new org.apache.flink.api.common.functions.util.ListCollector<>(out);
    route.flatMap(labels("toxicity", "v1", "a", "POSITIVE", 0.9f), c);
    route.flatMap(labels("toxicity-v3", "v3", "a", "POSITIVE", 0.9f), c);
    route.flatMap(labels("spam", "v1", "a", "POSITIVE", 0.9f), c);
    route.flatMap(dead("toxicity-v2", "b", "MODEL_ERROR"), c);
    route.flatMap(dead("spam", "b", "MODEL_ERROR"), c);
    assertThat(out).extracting(s -> s.pair, s -> s.primary, s -> s.id).containsExactly(
        org.assertj.core.groups.Tuple.tuple(PAIR.key(), true, "a"), org.assertj.core.groups.Tuple.tuple(other.key(), true, "a"),
        org.assertj.core.groups.Tuple.tuple(other.key(), false, "a"), org.assertj.core.groups.Tuple.tuple(PAIR.key(), false, "b"));
  }

  @Test
  void sidesAndComparisonsAreFlinkPojosWithAnAvroOutput() {
    var side = (org.apache.flink.api.java.typeutils.PojoTypeInfo<ShadowSide>) Shadows.SIDE_TYPE;
    assertThat(side.getTypeAt("output")).isInstanceOf(org.apache.flink.formats.avro.typeutils.AvroTypeInfo.class);
    assertThat(Types.POJO(ShadowComparison.class))
        .isInstanceOf(org.apache.flink.api.java.typeutils.PojoTypeInfo.class);
    assertThat(Types.POJO(ShadowSummarizer.Window.class))
        .isInstanceOf(org.apache.flink.api.java.typeutils.PojoTypeInfo.class);
  }

  @Test
  void bothSidesInEitherOrderMakeOneComparisonAndClearTheirState() throws Exception {
    try (var h = join()) {
      h.processElement(side(true, labels("toxicity", "v1", "a", "POSITIVE", 0.9f)), 0);
      assertThat(h.extractOutputValues()).isEmpty();
      assertThat(h.numKeyedStateEntries()).isPositive();
      h.processElement(side(false, labels("toxicity-v2", "v2", "a", "NEGATIVE", 0.8f)), 0);
      // the shadow first, then the primary
      h.processElement(side(false, labels("toxicity-v2", "v2", "b", "POSITIVE", 0.7f)), 0);
      h.processElement(side(true, labels("toxicity", "v1", "b", "POSITIVE", 0.6f)), 0);
      List<ShadowComparison> out = h.extractOutputValues();
      assertThat(out).hasSize(2).allSatisfy(c -> {
        assertThat(c.compared()).isTrue();
        assertThat(c.primaryVersion).isEqualTo("v1");
        assertThat(c.shadowVersion).isEqualTo("v2");
        assertThat(c.task).isEqualTo("text-classification");
      });
      assertThat(out.get(0).agreement).contains("\"top1_agreed\":0").contains("POSITIVE");
      assertThat(out.get(1).agreement).contains("\"top1_agreed\":1");
      assertThat(h.numKeyedStateEntries()).isZero();
      assertThat(h.numProcessingTimeTimers()).isZero();
    }
  }

  @Test
  void deadLettersAreCountedNotComparedAndALonelySideTimesOut() throws Exception {
    try (var h = join()) {
      h.processElement(side(true, labels("toxicity", "v1", "a", "POSITIVE", 0.9f)), 0);
      h.processElement(side(false, dead("toxicity-v2", "a", "TIMEOUT")), 0);
      h.processElement(side(false, labels("toxicity-v2", "v2", "lonely", "POSITIVE", 0.9f)), 0);
      h.setProcessingTime(Duration.ofSeconds(10).toMillis());
      List<ShadowComparison> out = h.extractOutputValues();
      assertThat(out).extracting(c -> c.unpairedReason).containsExactly("TIMEOUT", ShadowJoin.PAIR_TIMEOUT);
      assertThat(out.get(1).shadowVersion).isEqualTo("v2");
      assertThat(out.get(1).primaryVersion).isNull();
      assertThat(h.numKeyedStateEntries()).isZero();
    }
  }

  @Test
  void theSameSideTwiceForOneIdIsADuplicateNotAPair() throws Exception {
    try (var h = join()) {
      h.processElement(side(true, labels("toxicity", "v1", "a", "POSITIVE", 0.9f)), 0);
      h.processElement(side(true, labels("toxicity", "v1", "a", "NEGATIVE", 0.9f)), 0);
      h.processElement(side(false, labels("toxicity-v2", "v2", "a", "NEGATIVE", 0.9f)), 0);
      List<ShadowComparison> out = h.extractOutputValues();
      assertThat(out).extracting(c -> c.unpairedReason).containsExactly(ShadowJoin.DUPLICATE_ID, null);
      assertThat(out.get(1).agreement).contains("\"top1_agreed\":1");
    }
  }

  private static ShadowComparison compared(InferenceOutput p, InferenceOutput s, long time) {
    ShadowComparison c = new ShadowComparison();
    c.pair = PAIR.key();
    c.primary = PAIR.primary();
    c.shadow = PAIR.shadow();
    c.primaryVersion = "v1";
    c.shadowVersion = "v2";
    c.task = "text-classification";
    c.agreement = ShadowResults.add(new Agreement(), p, s).toJson().toString();
    c.time = time;
    return c;
  }

  private static KeyedOneInputStreamOperatorTestHarness<String, ShadowComparison, ShadowSummary> summarizer()
      throws Exception {
    // not yet opened: a restore initializes its state first
    return new KeyedOneInputStreamOperatorTestHarness<>(new KeyedProcessOperator<>(new ShadowSummarizer(SETTINGS)),
        c -> c.pair, Types.STRING);
  }

  @Test
  void aSummaryEveryNComparedEventsWithTheWindowsFiguresSurvivesARestore() throws Exception {
    List<InferenceOutput[]> events = new ArrayList<>();
    String[][] tops = {{"POSITIVE", "POSITIVE"}, {"POSITIVE", "NEGATIVE"}, {"NEGATIVE", "NEGATIVE"},
        {"NEGATIVE", "POSITIVE"}, {"POSITIVE", "POSITIVE"}, {"POSITIVE", "NEGATIVE"}};
    for (int i = 0; i < tops.length; i++) {
      events.add(new InferenceOutput[] {labels("toxicity", "v1", "e" + i, tops[i][0], 0.9f),
          labels("toxicity-v2", "v2", "e" + i, tops[i][1], 0.6f)});
    }
    List<ShadowSummary> all = new ArrayList<>();
    OperatorSubtaskState snapshot;
    try (var h = summarizer()) {
      h.open();
      for (int i = 0; i < 4; i++) {
        h.processElement(compared(events.get(i)[0], events.get(i)[1], 100 + i), 0);
      }
      ShadowComparison unpaired = compared(events.get(0)[0], events.get(0)[1], 0);
      unpaired.agreement = null;
      unpaired.unpairedReason = "TIMEOUT";
      h.processElement(unpaired, 0);
      all.addAll(h.extractOutputValues());
      snapshot = h.snapshot(1, 1);
    }
    try (var h = summarizer()) {
      h.initializeState(snapshot);
      h.open();
      for (int i = 4; i < 6; i++) {
        h.processElement(compared(events.get(i)[0], events.get(i)[1], 100 + i), 0);
      }
      all.addAll(h.extractOutputValues());
    }
    assertThat(all).hasSize(2);
    ShadowSummary first = all.get(0);
    assertThat(first.getEventsCompared()).isEqualTo(3);
    assertThat(first.getTop1Agreement()).isCloseTo(2.0 / 3, within(1e-9));
    assertThat(first.getFlips()).containsExactly(new LabelFlip("POSITIVE", "NEGATIVE", 1L));
    assertThat(first.getUnpaired()).isZero();
    assertThat(first.getSpanF1()).isNull();
    assertThat(first.getExactMatch()).isNull();
    assertThat(first.getWindowStart()).isEqualTo(Instant.ofEpochMilli(100));
    assertThat(first.getWindowEnd()).isEqualTo(Instant.ofEpochMilli(102));
    ShadowSummary second = all.get(1);
    // events 3..5 after the restore: the window's state (one event and one unpaired) came back
    assertThat(second.getEventsCompared()).isEqualTo(3);
    assertThat(second.getUnpaired()).isEqualTo(1);
    assertThat(second.getTop1Agreement()).isCloseTo(1.0 / 3, within(1e-9));
    assertThat(second.getFlips()).containsExactly(new LabelFlip("NEGATIVE", "POSITIVE", 1L),
        new LabelFlip("POSITIVE", "NEGATIVE", 1L));
    // the primary's top label scores 0.9 in the primary; in the shadow 0.6 when it agrees, 0.4 when it flips
    assertThat(second.getMeanAbsScoreDelta()).isCloseTo((0.5 + 0.3 + 0.5) / 3, within(1e-6));
    assertThat(second.getPrimaryVersion()).isEqualTo("v1");
    assertThat(second.getShadowVersion()).isEqualTo("v2");

    // the same as model-runtime's Agreement over the same results
    Agreement direct = new Agreement();
    for (int i = 3; i < 6; i++) {
      direct.addLabels(ShadowResults.labels(events.get(i)[0].getClassification()),
          ShadowResults.labels(events.get(i)[1].getClassification()));
    }
    assertThat(second.getTop1Agreement()).isEqualTo(direct.top1Agreement());
    assertThat(ShadowResults.labels(events.get(0)[0].getClassification()))
        .containsExactly(new LabelScore("POSITIVE", 0.9f), new LabelScore("NEGATIVE", 1 - 0.9f));
  }
}
