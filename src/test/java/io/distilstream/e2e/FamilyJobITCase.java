package io.distilstream.e2e;

import static io.distilstream.e2e.E2eModels.model;
import static io.distilstream.e2e.E2eModels.seeded;
import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.jobs.EnrichmentJob;
import io.distilstream.jobs.JobConfig;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.schemas.ChoiceResult;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.FillMaskResult;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import io.distilstream.tools.local.TopicReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * fill-mask, multiple-choice and BERT sentence pairs through the enrichment job: events on a real Kafka broker (Avro
 * with the new TextEvent fields, and JSON), results on their own topics as a read_committed consumer sees them.
 */
class FamilyJobITCase {
  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2)
          .build());

  @Test
  void newTasksAndPairsReachTheirTopics(@TempDir Path tmp) throws Exception {
    Path mc = seeded(tmp.resolve("mc"), "tiny-distilbert-sequence-classification", "DistilBertForMultipleChoice",
        List.of("LABEL_0"), GraphBuilder.Head.MULTIPLE_CHOICE);
    Path nli = seeded(tmp.resolve("nli"), "tiny-bert-token-classification", "BertForSequenceClassification",
        List.of("contradiction", "neutral", "entailment"), GraphBuilder.Head.SEQUENCE_CLASSIFICATION);
    try (KafkaFixture kafka = KafkaFixture.start(Map.of())) {
      Map<String, String> c = new LinkedHashMap<>();
      c.put("kafka.bootstrap.servers", kafka.bootstrapServers());
      c.put("job.name", "e2e-family");
      c.put("source.bounded", "true");
      c.put("source.starting-offsets", "earliest");
      c.put("execution.checkpointing.interval", "300 ms");
      c.put("parallelism.default", "2");
      c.put("inference.max-wait", "10 ms");
      c.put("inference.model.fill-mask", model("tiny-distilbert-masked-lm").toString());
      c.put("inference.model.multiple-choice", mc.toString());
      c.put("inference.model.text-classification", nli.toString());
      kafka.createTopics(2, List.of("text-events", "text-labels", "text-fill-mask", "text-choices",
          "text-dead-letters"));
      List<byte[]> values = List.of(
          TextEvents.encode(TextEvent.newBuilder().setId("mask").setText("paris is the [MASK] of france.")
              .setTasks(List.of("fill-mask")).build()),
          "{\"id\":\"nomask\",\"text\":\"no mask\",\"tasks\":[\"fill-mask\"]}".getBytes(StandardCharsets.UTF_8),
          TextEvents.encode(TextEvent.newBuilder().setId("mc").setText("The sky is")
              .setChoices(List.of("blue", "green")).setTasks(List.of("multiple-choice")).build()),
          ("{\"id\":\"mc-json\",\"text\":\"Water is\",\"choices\":[\"wet\",\"dry\",\"loud\"],"
              + "\"tasks\":[\"multiple-choice\"]}").getBytes(StandardCharsets.UTF_8),
          TextEvents.encode(TextEvent.newBuilder().setId("pair").setText("A man plays a guitar.")
              .setTextPair("A person makes music.").setTasks(List.of("text-classification")).build()),
          ("{\"id\":\"pair-json\",\"text\":\"A man plays a guitar.\",\"text_pair\":\"A person makes music.\"}")
              .getBytes(StandardCharsets.UTF_8));
      kafka.produce("text-events", values);
      StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
      EnrichmentJob.build(env, JobConfig.of(c));
      env.execute("e2e-family");

      Map<String, FillMaskResult> fills = new HashMap<>();
      for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(), "text-fill-mask")) {
        FillMaskResult f = FillMaskResult.getDecoder().decode(r.value());
        fills.put(f.getId(), f);
      }
      assertThat(fills).containsOnlyKeys("mask");
      assertThat(fills.get("mask").getMasks()).hasSize(1);
      assertThat(fills.get("mask").getMasks().get(0).getPredictions()).hasSize(5)
          .allSatisfy(p -> assertThat(p.getSequence()).startsWith("paris is the").endsWith(" of france."));

      Map<String, ChoiceResult> choices = new HashMap<>();
      for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(), "text-choices")) {
        ChoiceResult ch = ChoiceResult.getDecoder().decode(r.value());
        choices.put(ch.getId(), ch);
      }
      assertThat(choices).containsOnlyKeys("mc", "mc-json");
      assertThat(choices.get("mc").getChoices()).extracting(x -> x.getChoice()).containsExactly("blue", "green");
      assertThat(choices.get("mc-json").getChoices()).hasSize(3);
      assertThat(choices.get("mc-json").getBestChoice())
          .isEqualTo(choices.get("mc-json").getChoices().get(choices.get("mc-json").getBest()).getChoice());

      Map<String, ClassificationResult> labels = new HashMap<>();
      for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(), "text-labels")) {
        ClassificationResult l = ClassificationResult.getDecoder().decode(r.value());
        labels.put(l.getId(), l);
      }
      // the Avro pair and the JSON pair are the same pair: the same label and score
      assertThat(labels).containsOnlyKeys("pair", "pair-json");
      assertThat(labels.get("pair").getLabels()).isEqualTo(labels.get("pair-json").getLabels());

      Map<String, String> dead = new HashMap<>();
      for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(),
          "text-dead-letters")) {
        DeadLetter d = DeadLetter.getDecoder().decode(r.value());
        dead.put(d.getId(), d.getReason() + ": " + d.getMessage());
      }
      assertThat(dead).containsOnlyKeys("nomask");
      assertThat(dead.get("nomask")).startsWith("INVALID_INPUT").contains("[MASK]");
    }
  }
}
