package io.distilstream.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.ShadowSummary;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;

/** Where a job with a shadow writes: the shadow's own topic, never a primary's, and the summary topic. */
class ShadowTopicsTest {
  private static final Path SEQ = Paths.get(System.getProperty("distilstream.shared", "../../shared"), "models",
      "tiny-distilbert-sequence-classification").toAbsolutePath().normalize();

  private static Map<String, String> config() {
    Map<String, String> c = new LinkedHashMap<>();
    c.put("kafka.bootstrap.servers", "localhost:9092");
    c.put("inference.models.toxicity.task", "text-classification");
    c.put("inference.models.toxicity.path", SEQ.toString());
    c.put("inference.models.toxicity-v2.task", "text-classification");
    c.put("inference.models.toxicity-v2.path", SEQ.toString());
    c.put("inference.models.toxicity-v2.shadows", "toxicity");
    return c;
  }

  private static Map<String, Class<?>> topics(Map<String, String> c) {
    Map<String, Class<?>> out = new LinkedHashMap<>();
    for (EnrichmentJob.OutputTopic t : EnrichmentJob.buildWithoutRegistry(
        StreamExecutionEnvironment.getExecutionEnvironment(), JobConfig.of(c))) {
      out.put(t.topic(), t.type());
    }
    return out;
  }

  @Test
  void aShadowWritesToItsPrimarysTopicWithShadowAndTheSummaryToItsOwn() {
    assertThat(topics(config())).containsEntry("text-labels-toxicity", ClassificationResult.class)
        .containsEntry("text-labels-toxicity-shadow", ClassificationResult.class)
        .containsEntry("text-shadow-summary", ShadowSummary.class);
    Map<String, String> c = config();
    c.put("inference.models.toxicity-v2.topic", "labels-candidate");
    c.put("topics.shadow-summary", "agreement");
    assertThat(topics(c)).containsKeys("labels-candidate", "agreement").doesNotContainKey("text-shadow-summary");
    // without a shadow there is no summary sink
    c.remove("inference.models.toxicity-v2.shadows");
    assertThat(topics(c)).doesNotContainKey("agreement");
  }

  @Test
  void aShadowOnAPrimarysTopicIsRefused() {
    Map<String, String> c = config();
    c.put("inference.models.toxicity-v2.topic", "text-labels-toxicity");
    assertThatThrownBy(() -> topics(c)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("shadow 'toxicity-v2'").hasMessageContaining("'text-labels-toxicity'")
        .hasMessageContaining("inference.models.toxicity-v2.topic");
    // nor the task's topic, when a per-task model writes it
    Map<String, String> d = config();
    d.put("inference.model.text-classification", SEQ.toString());
    d.put("inference.models.toxicity-v2.topic", "text-labels");
    assertThatThrownBy(() -> topics(d)).hasMessageContaining("model 'text-classification'");
  }
}
