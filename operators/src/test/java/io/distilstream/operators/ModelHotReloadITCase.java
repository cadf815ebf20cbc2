package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.TextEvent;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Metric;
import org.apache.flink.runtime.testutils.InMemoryReporter;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hot reload on a real MiniCluster: the job's model path is a {@code current} symlink; mid-stream it is swapped to a
 * new model directory, and later to a corrupt one. Every event gets exactly one result; the ones before the switch
 * carry the old version, the ones after it the new one; the corrupt model is reported and the new one keeps serving.
 */
class ModelHotReloadITCase {
  /**
   * Every test class's in-memory reporter, read by {@link #counter}. Each MiniCluster needs a reporter of its own:
   * closing a cluster closes its reporter, which unregisters it, so a second class's cluster could not instantiate a
   * shared one (seen as an NPE in ReporterSetupBuilder when another class had run first).
   */
  private static final List<InMemoryReporter> REPORTERS = new java.util.concurrent.CopyOnWriteArrayList<>();

  /** A reporter for one test class's MiniCluster, whose counters {@link #counter} reads. */
  static InMemoryReporter newReporter() {
    InMemoryReporter r = InMemoryReporter.createWithRetainedMetrics();
    REPORTERS.add(r);
    return r;
  }

  private static final InMemoryReporter REPORTER = newReporter();

  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder()
          .setNumberTaskManagers(1)
          .setNumberSlotsPerTaskManager(1)
          .setConfiguration(REPORTER.addToConfiguration(new Configuration()))
          .build());

  private static final int N = 60;
  private static final int SWAP_AT = 20;
  private static final int CORRUPT_AT = 40;

  /** A counter of the operator in the named job (metrics of finished jobs are retained). */
  static long counter(String name, String job) {
    long total = 0;
    for (InMemoryReporter reporter : REPORTERS) {
      for (Map.Entry<org.apache.flink.metrics.MetricGroup, Map<String, Metric>> g
          : reporter.getMetricsByGroup().entrySet()) {
        String id = g.getKey().getMetricIdentifier("");
        if (!id.contains(InferenceMetrics.GROUP) || !id.contains(job)) {
          continue;
        }
        Metric m = g.getValue().get(name);
        if (m instanceof Counter) {
          total += ((Counter) m).getCount();
        }
      }
    }
    return total;
  }

  /** Publishes atomically: a new symlink, or a new pointer file (naming the directory), renamed over the old one. */
  static void pointTo(Path link, Path target) throws IOException {
    Path tmp = link.resolveSibling(link.getFileName() + ".tmp");
    Files.deleteIfExists(tmp);
    if (Files.isSymbolicLink(link)) {
      Files.createSymbolicLink(tmp, target);
    } else {
      Files.writeString(tmp, target.getFileName() + "\n");
    }
    Files.move(tmp, link, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  static Path copy(Path src, Path dst) throws IOException {
    Files.createDirectories(dst);
    try (var files = Files.list(src)) {
      for (Path f : files.toList()) {
        if (!f.getFileName().toString().equals("golden.json")) {
          Files.copy(f, dst.resolve(f.getFileName()));
        }
      }
    }
    return dst;
  }

  /**
   * Publishes the new model when event {@link #SWAP_AT} passes and the corrupt one at {@link #CORRUPT_AT}, and holds
   * that event until the operator's reloader has acted on it (polling its metrics with a deadline), so the switch
   * point is known: the event that follows a publish is the first the operator may hand to the new model.
   */
  static final class Publisher implements MapFunction<TextEvent, TextEvent> {
    private final String link;
    private final String next;
    private final String corrupt;
    private final String job;

    Publisher(Path link, Path next, Path corrupt, String job) {
      this.job = job;
      this.link = link.toString();
      this.next = next.toString();
      this.corrupt = corrupt == null ? null : corrupt.toString();
    }

    @Override
    public TextEvent map(TextEvent e) throws Exception {
      int i = Integer.parseInt(e.getId().substring(1));
      if (i == SWAP_AT) {
        pointTo(Path.of(link), Path.of(next));
        await("modelReloads", 1);
      } else if (i == CORRUPT_AT && corrupt != null) {
        pointTo(Path.of(link), Path.of(corrupt));
        await("modelReloadFailures", 1);
      }
      return e;
    }

    private void await(String metric, long atLeast) {
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (counter(metric, job) < atLeast) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(metric + " did not reach " + atLeast);
        }
        java.util.concurrent.locks.LockSupport.parkNanos(2_000_000); // a poll with a deadline, not a timed wait
      }
    }
  }

  @Test
  void aSymlinkSwappedMidStreamServesEveryLaterEventAndACorruptModelLeavesItServing(@TempDir Path tmp)
      throws Exception {
    Path v1 = copy(TestModels.model(TestModels.SEQ_CLS), tmp.resolve("v1"));
    Path current = tmp.resolve("current");
    Files.createSymbolicLink(current, v1);
    swapMidStream(tmp, current, v1, N, true, "hot-reload-symlink");
  }

  @Test
  void aPointerFileRewrittenMidStreamSwitchesTheModel(@TempDir Path tmp) throws Exception {
    Path v1 = copy(TestModels.model(TestModels.SEQ_CLS), tmp.resolve("v1"));
    Path current = tmp.resolve("CURRENT");
    Files.writeString(current, "v1\n");
    swapMidStream(tmp, current, v1, CORRUPT_AT, false, "hot-reload-pointer");
  }

  private void swapMidStream(Path tmp, Path current, Path v1, int n, boolean corruptToo, String job)
      throws Exception {
    Path v2 = copy(TestModels.model("tiny-distilbert-multi-label"), tmp.resolve("v2"));
    Path broken = null;
    if (corruptToo) {
      broken = copy(TestModels.model(TestModels.SEQ_CLS), tmp.resolve("v3-broken"));
      Files.write(broken.resolve("model.onnx"), "not an ONNX model".getBytes(StandardCharsets.UTF_8));
    }
    String oldVersion = ModelDirectory.of(v1).contentHash();
    String newVersion = ModelDirectory.of(v2).contentHash();
    assertThat(newVersion).isNotEqualTo(oldVersion);

    InferenceSpec spec = InferenceSpec.builder()
        .model(Task.TEXT_CLASSIFICATION, current)
        .maxWait(Duration.ofMillis(5))
        .reloadInterval(Duration.ofMillis(50))
        .build();
    List<TextEvent> events = new ArrayList<>();
    Map<String, String> textById = new HashMap<>();
    for (int i = 0; i < n; i++) {
      String text = "event " + i + " was " + (i % 3 == 0 ? "great" : "terrible") + " in Paris".repeat(i % 4);
      events.add(InferenceOperatorITCase.event("e" + i, text, "text-classification"));
      textById.put("e" + i, text);
    }
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    DataStream<TextEvent> source = env.fromData(events, new AvroTypeInfo<>(TextEvent.class))
        .map(new Publisher(current, v2, broken, job)).returns(new AvroTypeInfo<>(TextEvent.class));
    Enrichment.Streams streams = Enrichment.apply(source, spec);
    List<ClassificationResult> results = new ArrayList<>();
    List<DeadLetter> dead = new ArrayList<>();
    CloseableIterator<ClassificationResult> a = streams.classifications().collectAsync();
    CloseableIterator<DeadLetter> b = streams.deadLetters().collectAsync();
    env.execute(job);
    a.forEachRemaining(results::add);
    b.forEachRemaining(dead::add);

    // nothing lost, nothing twice
    assertThat(results).hasSize(n);
    assertThat(results.stream().map(ClassificationResult::getId).distinct()).hasSize(n);
    // the old model up to the publish, the new one from the next event on, also after the corrupt publish
    try (TextClassificationPipeline before = Pipeline.textClassification(v1, PipelineOptions.defaults());
        TextClassificationPipeline after = Pipeline.textClassification(v2, PipelineOptions.defaults())) {
      for (ClassificationResult r : results) {
        int i = Integer.parseInt(r.getId().substring(1));
        boolean old = i < SWAP_AT;
        assertThat(r.getModel().getVersion()).as(r.getId()).isEqualTo(old ? oldVersion : newVersion);
        assertThat(r.getModel().getName()).isEqualTo(current.getFileName().toString());
        List<LabelScore> expected = (old ? before : after).run(textById.get(r.getId()));
        assertThat(r.getLabels()).hasSize(expected.size()).hasSize(old ? 1 : 6);
        for (int k = 0; k < expected.size(); k++) {
          assertThat(r.getLabels().get(k).getLabel()).isEqualTo(expected.get(k).label());
          assertThat(r.getLabels().get(k).getScore()).isCloseTo(expected.get(k).score(), within(1e-5f));
        }
      }
    }
    assertThat(counter("modelReloads", job)).isEqualTo(1);
    if (!corruptToo) {
      assertThat(dead).isEmpty();
      return;
    }
    // the corrupt model: reported once, as a dead letter naming the path, and counted
    assertThat(dead).hasSize(1);
    assertThat(dead.get(0).getReason()).isEqualTo("MODEL_RELOAD_FAILED");
    assertThat(dead.get(0).getStage()).isEqualTo("reload");
    assertThat(dead.get(0).getTask()).isEqualTo("text-classification");
    assertThat(dead.get(0).getMessage()).contains("current").contains("keeps serving").contains(newVersion);
    assertThat(counter("modelReloadFailures", job)).isEqualTo(1);
  }
}
