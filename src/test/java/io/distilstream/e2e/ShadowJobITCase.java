package io.distilstream.e2e;

import static io.distilstream.e2e.E2eModels.seeded;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.jobs.EnrichmentJob;
import io.distilstream.jobs.JobConfig;
import io.distilstream.jobs.PromoteCli;
import io.distilstream.runtime.compare.Agreement;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.Label;
import io.distilstream.schemas.LabelFlip;
import io.distilstream.schemas.ShadowSummary;
import io.distilstream.tools.local.TopicReader;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A shadow rollout end to end (issue 21, item 4): a primary classifier and a shadow built from another seed, on a
 * real Kafka broker and a MiniCluster. No shadow result reaches the primary's topic and each topic has every event's
 * result once; the summary topic's agreement is model-runtime's {@link Agreement} over the results read back; then
 * {@code distilstream promote} mid-stream, after which the primary's results carry the shadow's version, still once
 * per event.
 */
class ShadowJobITCase {
  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2)
          .build());

  private static final String PRIMARY_TOPIC = "text-labels-toxicity";
  private static final String SHADOW_TOPIC = "text-labels-toxicity-shadow";
  private static final String SUMMARY_TOPIC = "text-shadow-summary";
  private static final int EVERY = 20;
  private static final String[] WORDS = {"great", "awful", "film", "service", "never", "again", "lovely", "Paris",
      "slow", "idiot", "thanks", "spam", "buy", "now", "kind", "rude"};

  private static byte[] event(String id, int i) {
    StringBuilder text = new StringBuilder();
    for (int w = 0; w <= i % 7; w++) {
      text.append(WORDS[(i * 5 + w * 3) % WORDS.length]).append(' ');
    }
    return ("{\"id\":\"" + id + "\",\"text\":\"" + text.toString().trim() + "\"}").getBytes(StandardCharsets.UTF_8);
  }

  /** One topic's classification results by event id, each with how often it came. */
  private static Map<String, List<ClassificationResult>> read(KafkaFixture kafka, String topic) throws Exception {
    Map<String, List<ClassificationResult>> out = new TreeMap<>();
    for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(), topic)) {
      ClassificationResult c = ClassificationResult.getDecoder().decode(r.value());
      out.computeIfAbsent(c.getId(), k -> new ArrayList<>()).add(c);
    }
    return out;
  }

  private static List<ShadowSummary> summaries(KafkaFixture kafka) throws Exception {
    List<ShadowSummary> out = new ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> r : TopicReader.readCommitted(kafka.bootstrapServers(), SUMMARY_TOPIC)) {
      out.add(ShadowSummary.getDecoder().decode(r.value()));
    }
    return out;
  }

  /** Polls the topics (read_committed) until {@code done} holds, for at most two minutes. */
  private static void await(String what, java.util.concurrent.Callable<Boolean> done) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
    while (!done.call()) {
      assertThat(System.nanoTime()).as("waiting for " + what).isLessThan(deadline);
    }
  }

  private static boolean all(Map<String, List<ClassificationResult>> results, List<String> ids) {
    return results.keySet().containsAll(ids);
  }

  private static List<LabelScore> labels(ClassificationResult r) {
    List<LabelScore> out = new ArrayList<>();
    for (Label l : r.getLabels()) {
      out.add(new LabelScore(l.getLabel(), l.getScore()));
    }
    return out;
  }

  @Test
  void aShadowIsComparedNeverPublishedAndPromotedMidStream(@TempDir Path tmp) throws Exception {
    List<String> labels = List.of("NEGATIVE", "POSITIVE");
    Path v1 = seeded(tmp.resolve("toxicity-v1"), "tiny-distilbert-sequence-classification",
        "DistilBertForSequenceClassification", labels, GraphBuilder.Head.SEQUENCE_CLASSIFICATION, 1);
    Path v2 = seeded(tmp.resolve("toxicity-v2"), "tiny-distilbert-sequence-classification",
        "DistilBertForSequenceClassification", labels, GraphBuilder.Head.SEQUENCE_CLASSIFICATION, 2);
    Path current = Files.createSymbolicLink(tmp.resolve("toxicity-current"), v1);
    try (KafkaFixture kafka = KafkaFixture.start(Map.of())) {
      Map<String, String> c = new LinkedHashMap<>();
      c.put("kafka.bootstrap.servers", kafka.bootstrapServers());
      c.put("job.name", "e2e-shadow");
      c.put("source.bounded", "false");
      c.put("source.starting-offsets", "earliest");
      c.put("execution.checkpointing.interval", "300 ms");
      c.put("parallelism.default", "2");
      c.put("inference.max-wait", "10 ms");
      c.put("inference.top-k", "0"); // every label, so that |Δscore| has the shadow's score on every event
      c.put("inference.model-reload-interval", "200 ms");
      c.put("inference.models.toxicity.task", "text-classification");
      c.put("inference.models.toxicity.path", current.toString());
      c.put("inference.models.toxicity-v2.task", "text-classification");
      c.put("inference.models.toxicity-v2.path", v2.toString());
      c.put("inference.models.toxicity-v2.shadows", "toxicity");
      c.put("inference.shadow.summary-every", Integer.toString(EVERY));
      kafka.createTopics(2, List.of("text-events", PRIMARY_TOPIC, SHADOW_TOPIC, SUMMARY_TOPIC,
          "text-dead-letters"));
      Path properties = tmp.resolve("job.properties");
      StringBuilder p = new StringBuilder();
      c.forEach((k, v) -> p.append(k).append('=').append(v).append('\n'));
      Files.writeString(properties, p);

      Configuration conf = new Configuration();
      conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none"); // a failure fails the test, not a silent replay
      StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
      EnrichmentJob.build(env, JobConfig.of(c));
      JobClient job = env.executeAsync("e2e-shadow");
      try {
        // phase 1: 2 summaries' worth of events, before the promotion
        List<String> before = new ArrayList<>();
        List<byte[]> values = new ArrayList<>();
        for (int i = 0; i < 2 * EVERY; i++) {
          before.add("before-" + i);
          values.add(event("before-" + i, i));
        }
        kafka.produce("text-events", values);
        await("phase 1 results and summaries", () -> all(read(kafka, PRIMARY_TOPIC), before)
            && all(read(kafka, SHADOW_TOPIC), before) && summaries(kafka).size() >= 2);

        Map<String, List<ClassificationResult>> primary = read(kafka, PRIMARY_TOPIC);
        Map<String, List<ClassificationResult>> shadow = read(kafka, SHADOW_TOPIC);
        // (a) the primary's topic holds the primary's results only, the shadow's the shadow's, each once
        assertThat(primary.values()).allSatisfy(rs -> assertThat(rs).hasSize(1)
            .allSatisfy(r -> assertThat(r.getModel().getName()).isEqualTo("toxicity")));
        assertThat(shadow.values()).allSatisfy(rs -> assertThat(rs).hasSize(1)
            .allSatisfy(r -> assertThat(r.getModel().getName()).isEqualTo("toxicity-v2")));
        assertThat(primary.keySet()).containsExactlyInAnyOrderElementsOf(before);
        assertThat(shadow.keySet()).containsExactlyInAnyOrderElementsOf(before);
        String oldVersion = primary.get("before-0").get(0).getModel().getVersion();
        String newVersion = shadow.get("before-0").get(0).getModel().getVersion();
        assertThat(newVersion).isNotEqualTo(oldVersion);

        // (b) the summaries are model-runtime's Agreement over the same events' results, read back
        Agreement expected = new Agreement();
        for (String id : before) {
          expected.addLabels(labels(primary.get(id).get(0)), labels(shadow.get(id).get(0)));
        }
        List<ShadowSummary> sums = summaries(kafka);
        assertThat(sums).hasSize(2).allSatisfy(s -> {
          assertThat(s.getPrimary()).isEqualTo("toxicity");
          assertThat(s.getShadow()).isEqualTo("toxicity-v2");
          assertThat(s.getPrimaryVersion()).isEqualTo(oldVersion);
          assertThat(s.getShadowVersion()).isEqualTo(newVersion);
          assertThat(s.getTask()).isEqualTo("text-classification");
          assertThat(s.getEventsCompared()).isEqualTo(EVERY);
          assertThat(s.getUnpaired()).isZero();
          assertThat(s.getSpanF1()).isNull();
          assertThat(s.getExactMatch()).isNull();
        });
        // which events fell in which window depends on arrival order; the windows together are every event
        double agreed = sums.stream().mapToDouble(s -> s.getTop1Agreement() * s.getEventsCompared()).sum();
        assertThat(agreed / (2 * EVERY)).isCloseTo(expected.top1Agreement(), within(1e-9));
        double delta = sums.stream().mapToDouble(s -> s.getMeanAbsScoreDelta() * s.getEventsCompared()).sum();
        assertThat(delta / (2 * EVERY)).isCloseTo(expected.meanAbsScoreDelta(), within(1e-6));
        assertThat(expected.meanAbsScoreDelta()).as("two seeds are two models").isPositive();
        Map<String, Long> flips = new HashMap<>();
        for (ShadowSummary s : sums) {
          for (LabelFlip f : s.getFlips()) {
            flips.merge(f.getFrom() + Agreement.ARROW + f.getTo(), f.getCount(), Long::sum);
          }
        }
        assertThat(flips).isEqualTo(expected.flips());

        // (c) promote mid-stream: the primary's symlink now names the shadow's directory
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int rc = PromoteCli.run(new String[] {"--config", properties.toString(), "--model", "toxicity-v2"},
            new PrintStream(out, true, StandardCharsets.UTF_8));
        assertThat(rc).as(out.toString(StandardCharsets.UTF_8)).isZero();
        assertThat(current.toRealPath()).isEqualTo(v2.toRealPath());
        // probes, one at a time, until the running job serves the new version (hot reload's interval)
        List<String> probes = new ArrayList<>();
        Predicate<ClassificationResult> promoted = r -> r.getModel().getVersion().equals(newVersion);
        while (true) {
          String id = "probe-" + probes.size();
          probes.add(id);
          kafka.produce("text-events", List.of(event(id, probes.size())));
          await(id, () -> read(kafka, PRIMARY_TOPIC).containsKey(id));
          if (promoted.test(read(kafka, PRIMARY_TOPIC).get(id).get(0))) {
            break;
          }
          assertThat(probes).as("the job switched within 100 probes").hasSizeLessThan(100);
        }
        List<String> after = new ArrayList<>();
        values.clear();
        for (int i = 0; i < 2 * EVERY; i++) {
          after.add("after-" + i);
          values.add(event("after-" + i, i));
        }
        kafka.produce("text-events", values);
        await("phase 2 results", () -> all(read(kafka, PRIMARY_TOPIC), after)
            && all(read(kafka, SHADOW_TOPIC), after));
      } finally {
        job.cancel().get(60, TimeUnit.SECONDS);
      }
      Map<String, List<ClassificationResult>> primary = read(kafka, PRIMARY_TOPIC);
      Map<String, List<ClassificationResult>> shadow = read(kafka, SHADOW_TOPIC);
      // every event's result once on each topic, across the swap
      assertThat(primary.values()).allSatisfy(rs -> assertThat(rs).hasSize(1));
      assertThat(shadow.values()).allSatisfy(rs -> assertThat(rs).hasSize(1));
      assertThat(primary.keySet()).isEqualTo(shadow.keySet());
      String oldVersion = primary.get("before-0").get(0).getModel().getVersion();
      String newVersion = shadow.get("before-0").get(0).getModel().getVersion();
      for (Map.Entry<String, List<ClassificationResult>> e : primary.entrySet()) {
        ClassificationResult r = e.getValue().get(0);
        assertThat(r.getModel().getName()).isEqualTo("toxicity");
        if (e.getKey().startsWith("before-")) {
          assertThat(r.getModel().getVersion()).as(e.getKey()).isEqualTo(oldVersion);
        } else if (e.getKey().startsWith("after-")) {
          assertThat(r.getModel().getVersion()).as(e.getKey()).isEqualTo(newVersion);
          // the promoted primary is the shadow's model: the same labels and scores as the shadow's result
          assertThat(r.getLabels()).isEqualTo(shadow.get(e.getKey()).get(0).getLabels());
        }
      }
      assertThat(primary.keySet().stream().filter(id -> id.startsWith("after-")).count()).isEqualTo(2 * EVERY);
    }
  }
}
