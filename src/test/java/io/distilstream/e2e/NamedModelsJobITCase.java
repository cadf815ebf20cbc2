package io.distilstream.e2e;

import static io.distilstream.e2e.E2eModels.model;
import static io.distilstream.e2e.E2eModels.seeded;
import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.jobs.EnrichmentJob;
import io.distilstream.jobs.JobConfig;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.Label;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import io.distilstream.tools.local.TopicReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three text-classification models on one stream (issue 21): two named ones ({@code toxicity} on its default topic,
 * {@code toxicity-de} on a topic set for it) and the per-task one ({@code inference.model.text-classification}, on
 * the task's topic), each with its own labels. Events choose by their {@code models} field (Avro and JSON), by the
 * routing header, by an attribute rule, by task, or get the default; names no model has are one UNKNOWN_MODEL dead
 * letter per event. Every event's result is read exactly once from each topic it was routed to and from no other.
 */
class NamedModelsJobITCase {
  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2)
          .build());

  private static final String HEADER = "x-models";
  private static final List<String> TOXICITY_LABELS = List.of("clean", "toxic");
  private static final List<String> DE_LABELS = List.of("de-sauber", "de-giftig", "de-unklar");

  /** One input record: its value, its routing header (or null), and the models it must reach. */
  private record Input(String id, byte[] value, String header, Set<String> expected) {}

  @Test
  void eachEventReachesExactlyTheModelsItIsRoutedTo(@TempDir Path tmp) throws Exception {
    Path toxicity = seeded(tmp.resolve("toxicity"), "tiny-distilbert-sequence-classification",
        "DistilBertForSequenceClassification", TOXICITY_LABELS, GraphBuilder.Head.SEQUENCE_CLASSIFICATION);
    Path german = seeded(tmp.resolve("de"), "tiny-bert-token-classification", "BertForSequenceClassification",
        DE_LABELS, GraphBuilder.Head.SEQUENCE_CLASSIFICATION);
    Path perTask = model("tiny-distilbert-sequence-classification");
    try (KafkaFixture kafka = KafkaFixture.start(Map.of())) {
      Map<String, String> c = new LinkedHashMap<>();
      c.put("kafka.bootstrap.servers", kafka.bootstrapServers());
      c.put("job.name", "e2e-named-models");
      c.put("source.bounded", "true");
      c.put("source.starting-offsets", "earliest");
      c.put("execution.checkpointing.interval", "300 ms");
      c.put("parallelism.default", "2");
      c.put("inference.max-wait", "10 ms");
      c.put("inference.model.text-classification", perTask.toString());
      c.put("inference.models.toxicity.task", "text-classification");
      c.put("inference.models.toxicity.path", toxicity.toString());
      c.put("inference.models.toxicity-de.task", "text-classification");
      c.put("inference.models.toxicity-de.path", german.toString());
      c.put("inference.models.toxicity-de.topic", "labels-de");
      c.put("inference.models.default", "toxicity");
      c.put("inference.routing.header", HEADER);
      c.put("inference.routing.attribute.lang.de", "toxicity-de");
      JobConfig cfg = JobConfig.of(c);

      // what --dry-run lists: the task's topic for the per-task model, one topic per named model
      assertThat(EnrichmentJob.buildWithoutRegistry(StreamExecutionEnvironment.getExecutionEnvironment(), cfg))
          .extracting(EnrichmentJob.OutputTopic::topic)
          .containsExactly("text-labels", "text-labels-toxicity", "labels-de", "text-dead-letters");

      List<String> topics = List.of("text-labels", "text-labels-toxicity", "labels-de", "text-dead-letters");
      kafka.createTopics(2, new ArrayList<>(List.of("text-events")));
      kafka.createTopics(1, topics);
      List<Input> inputs = inputs();
      produce(kafka.bootstrapServers(), inputs);

      StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
      EnrichmentJob.build(env, cfg);
      env.execute("e2e-named-models");

      Map<String, Set<String>> expected = new TreeMap<>(); // model -> event ids
      for (Input in : inputs) {
        in.expected().forEach(m -> expected.computeIfAbsent(m, k -> new TreeSet<>()).add(in.id()));
      }
      assertThat(results(kafka, "text-labels", "tiny-distilbert-sequence-classification", List.of("NEGATIVE", "POSITIVE")))
          .isEqualTo(counted(expected.get("text-classification")));
      assertThat(results(kafka, "text-labels-toxicity", "toxicity", TOXICITY_LABELS))
          .isEqualTo(counted(expected.get("toxicity")));
      assertThat(results(kafka, "labels-de", "toxicity-de", DE_LABELS))
          .isEqualTo(counted(expected.get("toxicity-de")));

      Map<String, Integer> dead = new TreeMap<>();
      for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(),
          "text-dead-letters")) {
        DeadLetter d = DeadLetter.getDecoder().decode(r.value());
        assertThat(d.getReason()).isEqualTo("UNKNOWN_MODEL");
        assertThat(d.getMessage()).contains("'nope'").contains("models: text-classification, toxicity, toxicity-de");
        dead.merge(d.getId(), 1, Integer::sum);
      }
      // one dead letter per event, however many unknown names; its known models did not run (checked above)
      assertThat(dead).isEqualTo(Map.of("unknown-field", 1, "unknown-header", 1));
    }
  }

  private static Map<String, Integer> counted(Set<String> ids) {
    Map<String, Integer> m = new TreeMap<>();
    ids.forEach(id -> m.put(id, 1));
    return m;
  }

  /** Event ids on a topic, each with how often it is there; every record of the model, with one of its labels. */
  private static Map<String, Integer> results(KafkaFixture kafka, String topic, String model, List<String> labels)
      throws Exception {
    Map<String, Integer> ids = new TreeMap<>();
    for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(), topic)) {
      ClassificationResult l = ClassificationResult.getDecoder().decode(r.value());
      assertThat(l.getModel().getName()).as(topic + " " + l.getId()).isEqualTo(model);
      assertThat(l.getLabels()).extracting(Label::getLabel).containsAnyElementsOf(labels)
          .allSatisfy(x -> assertThat(labels).contains(x));
      ids.merge(l.getId(), 1, Integer::sum);
    }
    return ids;
  }

  private static List<Input> inputs() throws Exception {
    List<Input> in = new ArrayList<>();
    for (int i = 0; i < 24; i++) {
      String id = "e" + i;
      String text = "event number " + i + " says something";
      switch (i % 6) {
        // the event's own list (JSON), which wins over the header
        case 0 -> in.add(new Input(id, json("{\"id\":\"" + id + "\",\"text\":\"" + text
            + "\",\"models\":[\"toxicity\",\"text-classification\",\"toxicity\"]}"), "toxicity-de",
            Set.of("toxicity", "text-classification")));
        // the event's own list (Avro), over an attribute rule that would match
        case 1 -> in.add(new Input(id, TextEvents.encode(TextEvent.newBuilder().setId(id).setText(text)
            .setModels(List.of("toxicity-de")).setAttributes(Map.of("lang", "de")).build()), null,
            Set.of("toxicity-de")));
        // the attribute rule
        case 2 -> in.add(new Input(id, json("{\"id\":\"" + id + "\",\"text\":\"" + text
            + "\",\"attributes\":{\"lang\":\"de\"}}"), null, Set.of("toxicity-de")));
        // the routing header, over the attribute rule
        case 3 -> in.add(new Input(id, json("{\"id\":\"" + id + "\",\"text\":\"" + text
            + "\",\"attributes\":{\"lang\":\"de\"}}"), " text-classification, toxicity-de ",
            Set.of("text-classification", "toxicity-de")));
        // a task: its default models (toxicity, the one default)
        case 4 -> in.add(new Input(id, json("{\"id\":\"" + id + "\",\"text\":\"" + text
            + "\",\"tasks\":[\"text-classification\"],\"attributes\":{\"lang\":\"en\"}}"), null,
            Set.of("toxicity")));
        // nothing: the default
        default -> in.add(new Input(id, json("{\"id\":\"" + id + "\",\"text\":\"" + text + "\"}"), null,
            Set.of("toxicity")));
      }
    }
    in.add(new Input("unknown-field", json("{\"id\":\"unknown-field\",\"text\":\"t\",\"models\":[\"toxicity\","
        + "\"nope\",\"" + "x".repeat(5000) + "\"]}"), null, Set.of()));
    in.add(new Input("unknown-header", json("{\"id\":\"unknown-header\",\"text\":\"t\"}"), "toxicity,nope",
        Set.of()));
    return in;
  }

  private static byte[] json(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** Writes the records in order, each with its routing header where it has one. */
  private static void produce(String bootstrap, List<Input> inputs) throws Exception {
    Map<String, Object> props = new HashMap<>();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
      List<java.util.concurrent.Future<?>> sent = new ArrayList<>();
      for (Input in : inputs) {
        ProducerRecord<byte[], byte[]> r = new ProducerRecord<>("text-events", in.value());
        if (in.header() != null) {
          r.headers().add(HEADER, in.header().getBytes(StandardCharsets.UTF_8));
        }
        sent.add(producer.send(r));
      }
      producer.flush();
      for (java.util.concurrent.Future<?> f : sent) {
        f.get(); // acknowledged, before the bounded job looks for the latest offsets
      }
    }
  }
}
