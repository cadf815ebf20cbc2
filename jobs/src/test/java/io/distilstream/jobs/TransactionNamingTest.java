package io.distilstream.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.schemas.ClassificationResult;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.Map;
import org.apache.flink.connector.kafka.lineage.KafkaDatasetFacet;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.TransactionNamingStrategy;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;

/**
 * {@code sink.transaction-naming}: incrementing by default, pooling selectable, and the sinks name their topic to
 * the connector, which the pooling strategy's recovery needs (it lists the open transactions on those topics).
 */
class TransactionNamingTest {
  private static Map<String, String> base() {
    Map<String, String> m = new HashMap<>();
    m.put("kafka.bootstrap.servers", "127.0.0.1:9092");
    Path shared = Paths.get(System.getProperty("distilstream.shared", "../../shared"), "models");
    m.put("inference.model.text-classification", shared.resolve("tiny-distilbert-sequence-classification").toString());
    return m;
  }

  @Test
  void incrementingIsTheDefaultAndPoolingCanBeChosen() {
    // pooling leaves a transaction open after a restore at a lower parallelism (DownscaleStallITCase)
    assertThat(JobConfig.of(base()).transactionNaming()).isEqualTo(TransactionNamingStrategy.INCREMENTING);
    Map<String, String> m = base();
    m.put("sink.transaction-naming", " Pooling ");
    assertThat(JobConfig.of(m).transactionNaming()).isEqualTo(TransactionNamingStrategy.POOLING);
    m.put("sink.transaction-naming", "probing");
    assertThatThrownBy(() -> JobConfig.of(m))
        .hasMessageContaining("sink.transaction-naming must be pooling or incrementing, got 'probing'");
  }

  @Test
  void theSinksSerializerNamesItsTopic() {
    KafkaRecordSerializationSchema<ClassificationResult> avro = (r, context, timestamp) -> null;
    EnrichmentJob.TopicSerializer<ClassificationResult> s = new EnrichmentJob.TopicSerializer<>(avro, "labels");
    KafkaDatasetFacet facet = s.getKafkaDatasetFacet().orElseThrow();
    assertThat(facet.getTopicIdentifier().getTopics()).containsExactly("labels");
  }

  @Test
  void theJobBuildsWithEitherNaming() {
    for (String naming : new String[] {"pooling", "incrementing"}) {
      Map<String, String> m = base();
      m.put("sink.transaction-naming", naming);
      StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
      // KafkaSinkBuilder refuses pooling unless the serializer names its topics
      EnrichmentJob.build(env, JobConfig.of(m));
      assertThat(env.getStreamGraph().getStreamNodes()).anySatisfy(
          n -> assertThat(n.getOperatorName()).contains("text-labels"));
    }
  }
}
