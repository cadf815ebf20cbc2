package io.distilstream.operators;

import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.TextEvent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.testutils.InMemoryReporter;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * A measurement, not a test: which batch sizes the operator forms at which input rates. Runs the operator on a
 * local cluster (parallelism 2) fed by a rate-limited generator, and prints what its metrics say.
 *
 * <pre>
 * ./mvnw -q -pl operators -am test-compile dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt -Dmdep.includeScope=test
 * java -cp operators/target/test-classes:operators/target/classes:$(cat /tmp/cp.txt) \
 *     io.distilstream.operators.BatchFormationProbe MODEL_DIR TASK SECONDS RATE...
 * </pre>
 */
public final class BatchFormationProbe {
  public static void main(String[] args) throws Exception {
    Path model = Path.of(args[0]);
    Task task = Task.parse(args[1]);
    int seconds = Integer.parseInt(args[2]);
    System.out.printf("%-10s %10s %10s %8s %10s %8s %10s %10s%n", "rate/s", "events", "achieved", "batches",
        "mean batch", "max", "p50 ms", "p99 ms");
    for (int a = 3; a < args.length; a++) {
      int rate = Integer.parseInt(args[a]);
      InMemoryReporter reporter = InMemoryReporter.createWithRetainedMetrics();
      Configuration conf = reporter.addToConfiguration(new Configuration());
      StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(2, conf);
      long n = (long) rate * seconds;
      String name = "probe-" + rate;
      List<String> tasks = List.of(task.id());
      DataGeneratorSource<TextEvent> source = new DataGeneratorSource<>(
          i -> TextEvent.newBuilder().setId("e" + i).setText(text(i)).setQuestion("What is it about?")
              .setTasks(tasks).build(),
          n, RateLimiterStrategy.perSecond(rate), new AvroTypeInfo<>(TextEvent.class));
      InferenceSpec spec = InferenceSpec.builder().model(task, model).maxWait(Duration.ofMillis(5)).build();
      Enrichment.inference(env.fromSource(source, WatermarkStrategy.noWatermarks(), "generator"), spec)
          .sinkTo(new DiscardingSink<>());
      long start = System.nanoTime();
      JobExecutionResult job = env.execute(name);
      double secs = (System.nanoTime() - start) / 1e9;
      long batches = 0;
      long events = 0;
      long max = 0;
      double p50 = 0;
      double p99 = 0;
      for (Map.Entry<MetricGroup, Map<String, Metric>> g : reporter.getMetricsByGroup().entrySet()) {
        if (!g.getKey().getMetricIdentifier("").contains(InferenceMetrics.GROUP)
            || !g.getValue().containsKey("batches")) {
          continue;
        }
        Map<String, Metric> m = g.getValue();
        batches += ((Counter) m.get("batches")).getCount();
        events += ((Counter) m.get("events")).getCount();
        max = Math.max(max, ((Histogram) m.get("batchSize")).getStatistics().getMax());
        p50 = Math.max(p50, ((Histogram) m.get("eventLatencyMs")).getStatistics().getQuantile(0.5));
        p99 = Math.max(p99, ((Histogram) m.get("eventLatencyMs")).getStatistics().getQuantile(0.99));
      }
      System.out.printf("%-10d %10d %10.0f %8d %10.1f %8d %10.1f %10.1f%n", rate, events, n / secs, batches,
          (double) events / Math.max(1, batches), max, p50, p99);
      reporter.close();
    }
  }

  private static String text(long i) {
    String[] words = {"the", "stream", "was", "great", "Kafka", "Flink", "model", "in", "Paris", "slow"};
    StringBuilder sb = new StringBuilder("event ").append(i);
    for (int w = 0; w < 8 + (i * 7 % 23); w++) {
      sb.append(' ').append(words[(int) ((i + w * 3) % words.length)]);
    }
    return sb.toString();
  }
}
