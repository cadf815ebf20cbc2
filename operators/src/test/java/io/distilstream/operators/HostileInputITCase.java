package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.TextEvent;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crafted events against the operator on a MiniCluster with real models: each costs a bounded amount and gets
 * exactly one outcome per distinct task it asks for (a result or a dead letter with its reason), never more, and
 * the job goes on.
 */
class HostileInputITCase {
  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(1).build());

  @TempDir
  static Path tmp;

  static Map<String, List<InferenceOutput>> byId;

  static TextEvent.Builder event(String id, String text, String... tasks) {
    return TextEvent.newBuilder().setId(id).setText(text).setTasks(List.of(tasks));
  }

  @BeforeAll
  static void run() throws Exception {
    Path mc = FamilyOperatorITCase.seeded(tmp.resolve("mc"), TestModels.SEQ_CLS, "DistilBertForMultipleChoice",
        List.of("LABEL_0"), GraphBuilder.Head.MULTIPLE_CHOICE, 7);
    Configuration conf = new Configuration();
    conf.setString("inference.model.text-classification", TestModels.model(TestModels.SEQ_CLS).toString());
    conf.setString("inference.model.fill-mask", TestModels.model("tiny-distilbert-masked-lm").toString());
    conf.setString("inference.model.multiple-choice", mc.toString());
    conf.setString("inference.max-wait", "5 ms");
    conf.setString("inference.max-result-bytes", "4096");
    InferenceSpec spec = InferenceSpec.fromConfiguration(conf);

    List<TextEvent> events = new ArrayList<>();
    // the same task 1,000 times (and by an alias): one run, one result
    List<String> repeated = new ArrayList<>(Collections.nCopies(1000, "text-classification"));
    repeated.add("sentiment-analysis");
    events.add(event("repeat", "a fine day").setTasks(repeated).build());
    // 60k names no model serves, beside one that is served: one result and one UNKNOWN_TASK dead letter
    List<String> unknown = new ArrayList<>();
    for (int i = 0; i < 60_000; i++) {
      unknown.add("no-such-task-" + i);
    }
    unknown.add("text-classification");
    events.add(event("unknown", "a fine day").setTasks(unknown).build());
    // a window of masks: LIMIT_EXCEEDED before any softmax over the vocabulary
    events.add(event("masks", String.join(" ", Collections.nCopies(510, "[MASK]")), "fill-mask").build());
    // 8 masks (within max-masks) in a 450-token text: 8 x 5 candidates x 450 tokens of decoded sequences would
    // pass the bound, so the result carries the tokens alone
    events.add(event("fewmasks", "[MASK] ".repeat(8) + "word ".repeat(440), "fill-mask").build());
    // 10k choices: LIMIT_EXCEEDED before tokenizing any of them
    events.add(event("choices", "The sky is", "multiple-choice")
        .setChoices(new ArrayList<>(Collections.nCopies(10_000, "blue"))).build());
    // attributes are copied into every result: bounded
    Map<String, String> big = new HashMap<>();
    big.put("blob", "x".repeat(20_000));
    events.add(event("attrs", "a fine day", "text-classification").setAttributes(big).build());
    // an id is copied into every result too
    events.add(event("i".repeat(5000), "a fine day", "text-classification").build());
    // within every input bound, but the result (attributes copied in) passes max-result-bytes
    Map<String, String> medium = new HashMap<>();
    medium.put("blob", "y".repeat(8_000));
    events.add(event("large", "a fine day", "text-classification").setAttributes(medium).build());
    // an ordinary event after all of them: the job went on
    events.add(event("ok", "a fine day", "text-classification", "fill-mask").setText("a [MASK] day").build());

    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    byId = new HashMap<>();
    try (CloseableIterator<InferenceOutput> it =
        Enrichment.inference(env.fromData(events, new AvroTypeInfo<>(TextEvent.class)), spec).executeAndCollect()) {
      it.forEachRemaining(o -> byId.computeIfAbsent(id(o), k -> new ArrayList<>()).add(o));
    }
  }

  static String id(InferenceOutput o) {
    if (o.getDeadLetter() != null) {
      return o.getDeadLetter().getId();
    }
    if (o.getClassification() != null) {
      return o.getClassification().getId();
    }
    if (o.getFillMask() != null) {
      return o.getFillMask().getId();
    }
    return o.getChoice().getId();
  }

  static List<String> reasons(String id) {
    List<String> r = new ArrayList<>();
    for (InferenceOutput o : byId.get(id)) {
      r.add(o.getDeadLetter() == null ? "ok" : o.getDeadLetter().getReason());
    }
    return r;
  }

  @Test
  void aTaskNamedManyTimesRunsOnce() {
    assertThat(reasons("repeat")).containsExactly("ok");
  }

  @Test
  void unknownTaskNamesGiveOneDeadLetterNamingAFew() {
    assertThat(reasons("unknown")).containsExactlyInAnyOrder("ok", "UNKNOWN_TASK");
    DeadLetter dl = byId.get("unknown").stream().filter(o -> o.getDeadLetter() != null).findFirst().orElseThrow()
        .getDeadLetter();
    assertThat(dl.getMessage()).contains("'no-such-task-0'", "'no-such-task-4'", "and 59995 more")
        .doesNotContain("no-such-task-5'");
    assertThat(dl.getMessage().length()).isLessThan(1000);
  }

  @Test
  void masksAndChoicesAreBounded() {
    assertThat(reasons("masks")).containsExactly("LIMIT_EXCEEDED");
    assertThat(byId.get("masks").get(0).getDeadLetter().getMessage()).contains("max-masks");
    assertThat(reasons("choices")).containsExactly("LIMIT_EXCEEDED");
    assertThat(byId.get("choices").get(0).getDeadLetter().getMessage()).contains("inference.max-choices");
  }

  @Test
  void fillMaskOverALongTextCarriesNoSequencesPastTheBound() {
    assertThat(reasons("fewmasks")).containsExactly("ok");
    var masks = byId.get("fewmasks").get(0).getFillMask().getMasks();
    assertThat(masks).hasSize(8);
    assertThat(masks.get(0).getPredictions()).allSatisfy(p -> assertThat(p.getSequence()).isEmpty());
    assertThat(byId.get("ok").stream().filter(o -> o.getFillMask() != null).findFirst().orElseThrow()
        .getFillMask().getMasks().get(0).getPredictions())
        .allSatisfy(p -> assertThat(p.getSequence()).startsWith("a").endsWith(" day"));
  }

  @Test
  void attributesAndIdsAreBounded() {
    assertThat(reasons("attrs")).containsExactly("LIMIT_EXCEEDED");
    assertThat(byId.get("attrs").get(0).getDeadLetter().getMessage()).contains("inference.max-attributes-bytes");
    String longId = "i".repeat(5000);
    String cut = byId.keySet().stream().filter(k -> k.startsWith("iiii")).findFirst().orElseThrow();
    assertThat(reasons(cut)).containsExactly("LIMIT_EXCEEDED");
    assertThat(cut.length()).isLessThan(longId.length());
  }

  @Test
  void aResultLargerThanTheSinkTakesIsADeadLetter() {
    assertThat(reasons("large")).containsExactly("RESULT_TOO_LARGE");
    assertThat(byId.get("large").get(0).getDeadLetter().getMessage()).contains("inference.max-result-bytes (4096)");
  }

  @Test
  void theJobGoesOn() {
    assertThat(reasons("ok")).containsExactly("ok", "ok");
  }
}
