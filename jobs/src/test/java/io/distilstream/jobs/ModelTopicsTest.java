package io.distilstream.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;

/** The topics (and so the sinks) of named models, as {@code job --dry-run} lists them; no broker needed. */
class ModelTopicsTest {
  private static final Path SHARED = Paths.get(System.getProperty("distilstream.shared", "../../shared"), "models");
  private static final String SEQ = SHARED.resolve("tiny-distilbert-sequence-classification").toString();
  private static final String TOKEN = SHARED.resolve("tiny-distilbert-token-classification").toString();

  private static List<String> topics(Map<String, String> m) {
    Map<String, String> c = new HashMap<>(m);
    c.put("kafka.bootstrap.servers", "localhost:9092");
    return EnrichmentJob.buildWithoutRegistry(StreamExecutionEnvironment.getExecutionEnvironment(), JobConfig.of(c))
        .stream().map(EnrichmentJob.OutputTopic::topic).toList();
  }

  @Test
  void aNamedModelHasItsOwnTopicUnlessItSharesTheTasks() {
    Map<String, String> m = new HashMap<>();
    m.put("inference.models.toxicity.task", "text-classification");
    m.put("inference.models.toxicity.path", SEQ);
    m.put("inference.models.pii.task", "ner");
    m.put("inference.models.pii.path", TOKEN);
    // only named models: no sink on the tasks' own topics
    assertThat(topics(m)).containsExactly("text-labels-toxicity", "text-entities-pii", "text-dead-letters");
    // beside the per-task key's model, sharing the task's topic: one sink for both
    m.put("inference.model.text-classification", SEQ);
    m.put("inference.models.toxicity.topic", "text-labels");
    assertThat(topics(m)).containsExactly("text-labels", "text-entities-pii", "text-dead-letters");
  }

  @Test
  void aModelMayNotWriteToTheTopicOfOtherRecords() {
    Map<String, String> m = new HashMap<>();
    m.put("inference.models.toxicity.task", "text-classification");
    m.put("inference.models.toxicity.path", SEQ);
    m.put("inference.models.toxicity.topic", "text-entities");
    assertThatThrownBy(() -> topics(m)).hasMessageContaining("model 'toxicity'")
        .hasMessageContaining("inference.models.toxicity.topic");
    m.put("inference.models.toxicity.topic", "text-dead-letters");
    assertThatThrownBy(() -> topics(m)).hasMessageContaining("'text-dead-letters'");
  }

  @Test
  void aPerTaskModelsDirectoryMayNotBeNamedLikeANamedModel() {
    // results tell models apart by ModelInfo.name: the per-task model's is its directory's name
    Map<String, String> m = new HashMap<>();
    m.put("inference.model.text-classification", SEQ);
    m.put("inference.models.tiny-distilbert-sequence-classification.task", "text-classification");
    m.put("inference.models.tiny-distilbert-sequence-classification.path", SEQ);
    assertThatThrownBy(() -> topics(m)).hasMessageContaining("could not be told apart");
  }
}
