package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.ModelOutputCache;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.TextEvent;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 22, item 8, on a real MiniCluster: the same events (a third of them exact repeats, some side by side so
 * that they share a micro-batch, others far apart) through the operator with the output cache off and on, with a
 * hot reload of the classification model in the middle. Every output, serialized as the sink would write it (Avro,
 * with the latency field zeroed: the one field that is a timing), is byte for byte the same; the cached run served
 * repeats from the cache (its {@code cacheHits} metric), and after the reload the new model's results.
 */
class OutputCacheITCase {
  @RegisterExtension
  static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder()
          .setNumberTaskManagers(1)
          .setNumberSlotsPerTaskManager(1)
          .setConfiguration(ModelHotReloadITCase.newReporter().addToConfiguration(new Configuration()))
          .build());

  /** Events; {@link ModelHotReloadITCase.Publisher} swaps the model when event 20 passes. */
  static final int N = 60;

  static List<TextEvent> eventsWithRepeats() {
    Random r = new Random(8);
    List<String> distinct = new ArrayList<>();
    String[] words = {"Angela", "Merkel", "visited", "Paris", "and", "Berlin", "the", "film", "was", "great",
        "terrible", "with", "Apple", "engineers"};
    for (int i = 0; i < 40; i++) {
      StringBuilder sb = new StringBuilder();
      for (int w = 0, n = 2 + r.nextInt(12); w < n; w++) {
        sb.append(w == 0 ? "" : " ").append(words[r.nextInt(words.length)]);
      }
      distinct.add(sb.toString());
    }
    List<TextEvent> events = new ArrayList<>();
    int fresh = 0;
    for (int i = 0; i < N; i++) {
      String text;
      if (i > 0 && i % 3 == 0) {
        // a repeat: of the previous event (same micro-batch, mostly) or of an older one (an earlier batch, and
        // for events past the swap, one the old model ran)
        text = i % 2 == 0 ? events.get(i - 1).getText().toString()
            : events.get(r.nextInt(i)).getText().toString();
      } else {
        text = distinct.get(fresh++ % distinct.size());
      }
      events.add(InferenceOperatorITCase.event("e" + i, text, "text-classification", "token-classification"));
    }
    return events;
  }

  @Test
  void theOperatorsOutputsAreByteForByteTheSameWithTheCacheOnAndOffAcrossAReload(@TempDir Path tmp)
      throws Exception {
    Map<String, byte[]> off = run(tmp.resolve("off"), null, "output-cache-off");
    Map<String, byte[]> on = run(tmp.resolve("on"), new ModelOutputCache.Bounds(1000, 8L << 20),
        "output-cache-on");

    assertThat(on.keySet()).isEqualTo(off.keySet()).hasSize(2 * N);
    for (String k : off.keySet()) {
      assertThat(on.get(k)).as(k).isEqualTo(off.get(k));
    }
    long hits = ModelHotReloadITCase.counter("cacheHits", "output-cache-on");
    long misses = ModelHotReloadITCase.counter("cacheMisses", "output-cache-on");
    System.out.printf("OutputCacheITCase: cache on: %d hits, %d misses over %d inputs%n", hits, misses, 2 * N);
    assertThat(hits + misses).isEqualTo(2 * N);
    assertThat(hits).isGreaterThanOrEqualTo(N / 3); // a third are repeats, for each of the two tasks
    assertThat(ModelHotReloadITCase.counter("cacheHits", "output-cache-off")).isZero();
    assertThat(ModelHotReloadITCase.counter("cacheMisses", "output-cache-off")).isZero();
  }

  /** Runs the events; every output by "id task", Avro-encoded with its latency zeroed. */
  private Map<String, byte[]> run(Path tmp, ModelOutputCache.Bounds cache, String job) throws Exception {
    Path v1 = ModelHotReloadITCase.copy(TestModels.model(TestModels.SEQ_CLS), tmp.resolve("v1"));
    Path v2 = ModelHotReloadITCase.copy(TestModels.model("tiny-distilbert-multi-label"), tmp.resolve("v2"));
    Path current = tmp.resolve("current");
    Files.createSymbolicLink(current, v1);
    InferenceSpec spec = InferenceSpec.builder()
        .model(Task.TEXT_CLASSIFICATION, current)
        .model(Task.TOKEN_CLASSIFICATION, TestModels.model(TestModels.TOKEN_CLS))
        .maxWait(Duration.ofMillis(5))
        .reloadInterval(Duration.ofMillis(50))
        .cache(cache)
        .build();
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    DataStream<TextEvent> source = env.fromData(eventsWithRepeats(), new AvroTypeInfo<>(TextEvent.class))
        .map(new ModelHotReloadITCase.Publisher(current, v2, null, job))
        .returns(new AvroTypeInfo<>(TextEvent.class));
    Enrichment.Streams streams = Enrichment.apply(source, spec);
    List<InferenceOutput> outputs = new ArrayList<>();
    CloseableIterator<InferenceOutput> it = streams.inference().collectAsync();
    env.execute(job);
    it.forEachRemaining(outputs::add);

    String newVersion = ModelDirectory.of(v2).contentHash();
    Map<String, byte[]> byKey = new TreeMap<>();
    int newModel = 0;
    for (InferenceOutput o : outputs) {
      assertThat(o.getDeadLetter()).as("no dead letters").isNull();
      if (o.getClassification() != null) {
        newModel += newVersion.equals(o.getClassification().getModel().getVersion()) ? 1 : 0;
        byKey.put(o.getClassification().getId() + " classification", encode(o));
      } else {
        byKey.put(o.getEntities().getId() + " entities", encode(o));
      }
    }
    assertThat(newModel).as("events after the swap ran on the new model").isEqualTo(N - 20);
    return byKey;
  }

  /** The output as the sink encodes it, with {@code latency_micros} (a timing) set to 0. */
  static byte[] encode(InferenceOutput o) throws IOException {
    InferenceOutput copy = InferenceOutput.newBuilder(o).build();
    for (Schema.Field f : copy.getSchema().getFields()) {
      if (copy.get(f.pos()) instanceof GenericRecord result && result.getSchema().getField("latency_micros") != null) {
        result.put("latency_micros", 0L);
      }
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(bytes, null);
    new SpecificDatumWriter<>(InferenceOutput.class).write(copy, encoder);
    encoder.flush();
    return bytes.toByteArray();
  }
}
