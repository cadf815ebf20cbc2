package io.distilstream.operators.shadow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.runtime.FamilyModels;
import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.compare.Agreement;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.Label;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.ShadowSummary;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shadow path on a MiniCluster (parallelism 2, so sides cross the network): the outputs of two seeds of one
 * classifier, interleaved with another model's and a dead letter, give summaries whose figures are {@link Agreement}'s
 * over the same results.
 */
class ShadowsITCase {
  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2)
          .build());

  private static InferenceOutput output(String model, String version, String id, List<LabelScore> labels) {
    List<Label> l = new ArrayList<>();
    for (LabelScore s : labels) {
      l.add(new Label(s.label(), s.score()));
    }
    return InferenceOutput.newBuilder().setClassification(ClassificationResult.newBuilder().setId(id)
        .setModel(ModelInfo.newBuilder().setName(model).setVersion(version).setRuntime("test").build())
        .setLatencyMicros(1).setLabels(l).build()).build();
  }

  @Test
  void summariesOfTwoSeedsAreAgreementsOverTheirResults(@TempDir Path tmp) throws Exception {
    List<String> sentiment = List.of("NEGATIVE", "POSITIVE");
    Path a = FamilyModels.write(tmp.resolve("a"), SharedModels.SEQ_CLS, "DistilBertForSequenceClassification",
        sentiment, GraphBuilder.Head.SEQUENCE_CLASSIFICATION, 1, 0.5);
    Path b = FamilyModels.write(tmp.resolve("b"), SharedModels.SEQ_CLS, "DistilBertForSequenceClassification",
        sentiment, GraphBuilder.Head.SEQUENCE_CLASSIFICATION, 2, 0.5);
    List<String> texts = new ArrayList<>();
    String[] words = {"great", "awful", "film", "never", "again", "lovely", "slow", "rude", "kind", "thanks"};
    for (int i = 0; i < 40; i++) {
      texts.add(words[i % words.length] + " " + words[(i * 3 + 1) % words.length] + " " + "x".repeat(i % 4));
    }
    List<InferenceOutput> outputs = new ArrayList<>();
    Agreement expected = new Agreement();
    PipelineOptions all = PipelineOptions.defaults().topK(0);
    try (TextClassificationPipeline p = Pipeline.textClassification(a, all);
        TextClassificationPipeline s = Pipeline.textClassification(b, all)) {
      List<List<LabelScore>> pr = p.run(texts);
      List<List<LabelScore>> sr = s.run(texts);
      for (int i = 0; i < texts.size(); i++) {
        // the shadow's result first for odd events: the join does not depend on the order
        InferenceOutput po = output("toxicity", "1", "e" + i, pr.get(i));
        InferenceOutput so = output("toxicity-v2", "2", "e" + i, sr.get(i));
        outputs.addAll(i % 2 == 0 ? List.of(po, so) : List.of(so, po));
        outputs.add(output("spam", "1", "e" + i, pr.get(i))); // a model in no pair
        expected.addLabels(pr.get(i), sr.get(i));
      }
    }
    // an event the shadow failed on: counted as unpaired, never compared. First in the input, so that its count
    // reaches the summaries before the last compared event closes the last window (the subtasks' channels keep
    // order, a partial window at the end of the input is not written): at the end it raced the other subtask
    outputs.add(0, output("toxicity", "1", "dead", List.of(new LabelScore("POSITIVE", 1f))));
    outputs.add(1, ShadowJoinTest.dead("toxicity-v2", "dead", "MODEL_ERROR"));

    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(2);
    List<ShadowSummary> summaries = new ArrayList<>();
    try (CloseableIterator<ShadowSummary> it = Shadows.apply(
        env.fromData(outputs, new AvroTypeInfo<>(InferenceOutput.class)).setParallelism(1),
        List.of(new ShadowPair("toxicity", "toxicity-v2")),
        new ShadowOptions.Settings(10, Duration.ofMinutes(5), 32)).executeAndCollect()) {
      it.forEachRemaining(summaries::add);
    }
    assertThat(summaries).hasSize(4).allSatisfy(s -> {
      assertThat(s.getEventsCompared()).isEqualTo(10);
      assertThat(s.getPrimaryVersion()).isEqualTo("1");
      assertThat(s.getShadowVersion()).isEqualTo("2");
    });
    assertThat(summaries.stream().mapToLong(ShadowSummary::getUnpaired).sum()).isEqualTo(1);
    double agreed = summaries.stream().mapToDouble(s -> s.getTop1Agreement() * s.getEventsCompared()).sum();
    assertThat(agreed / 40).isCloseTo(expected.top1Agreement(), within(1e-9));
    double delta = summaries.stream().mapToDouble(s -> s.getMeanAbsScoreDelta() * s.getEventsCompared()).sum();
    assertThat(delta / 40).isCloseTo(expected.meanAbsScoreDelta(), within(1e-6));
    assertThat(expected.meanAbsScoreDelta()).as("two seeds are two models").isGreaterThan(1e-4);
    assertThat(summaries.stream().mapToLong(s -> s.getFlips().stream().mapToLong(f -> f.getCount()).sum()).sum())
        .isEqualTo(expected.flips().values().stream().mapToLong(Long::longValue).sum());
  }
}
