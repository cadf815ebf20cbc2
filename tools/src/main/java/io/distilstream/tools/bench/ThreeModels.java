package io.distilstream.tools.bench;

import io.distilstream.operators.Enrichment;
import io.distilstream.operators.InferenceSpec;
import io.distilstream.runtime.batch.BatchingOptions;
import io.distilstream.runtime.batch.InferenceBudget;
import io.distilstream.runtime.model.SessionOptions;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.tokenizer.Encoding;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.TextEvent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * Issue 21's bench row: three named models on one stream, every event going to each of them (one operator with the
 * three, its batchers on threads of their own or on the TaskManager's fair thread budget), against three separate
 * jobs with one model each on the same events, run at the same time, each on a local cluster of its own in this JVM.
 * Same threads: N slots of one thread per model in both. An event is done when its three results are out; a run
 * lasts from the first event handed over (every job's models loaded, {@link FlinkPatterns.Gate}) to the last result.
 *
 * <p>The models, as a moderation job has them: {@code toxicity} and {@code spam}, two text classifiers (seeded
 * differently: two models of one task, which only named models allow), and {@code answers}, question answering
 * (the mix's question; the heavier model, whose batches take longer).
 */
final class ThreeModels {
  /** The three models by name, with their tasks. */
  static final Map<String, Task> MODELS = models();

  private ThreeModels() {}

  private static Map<String, Task> models() {
    Map<String, Task> m = new LinkedHashMap<>();
    m.put("toxicity", Task.TEXT_CLASSIFICATION);
    m.put("spam", Task.TEXT_CLASSIFICATION);
    m.put("answers", Task.QUESTION_ANSWERING);
    return java.util.Collections.unmodifiableMap(m);
  }

  /**
   * {@code n} events that select no model, so each goes to every model of its job (the job's defaults), with the
   * mix's question for the question-answering model. Tokens count the text once per model.
   */
  static FlinkPatterns.Events events(List<String> texts, List<Encoding> encodings, int n, String prefix) {
    List<TextEvent> events = new ArrayList<>(n);
    long tokens = 0;
    for (int i = 0; i < n; i++) {
      events.add(TextEvent.newBuilder().setId(prefix + i).setText(texts.get(i % texts.size()))
          .setQuestion(FlinkPatterns.MIX_QUESTION).build());
      tokens += (long) MODELS.size() * encodings.get(i % encodings.size()).length();
    }
    return new FlinkPatterns.Events(events, tokens);
  }

  /** What a run of {@code n} events must give, per kind: one result per event and model, no dead letter. */
  static Map<String, Long> expected(int n) {
    Map<String, Long> m = new LinkedHashMap<>();
    m.put(FlinkPatterns.MixCount.CLASSIFICATION, 2L * n);
    m.put(FlinkPatterns.MixCount.ENTITIES, 0L);
    m.put(FlinkPatterns.MixCount.ANSWER, (long) n);
    m.put(FlinkPatterns.MixCount.DEAD_LETTER, 0L);
    return m;
  }

  private static InferenceSpec spec(Map<String, Path> dirs, List<String> names, SessionOptions session,
      double maxPaddingRatio, InferenceBudget.Policy scheduling, int threads) {
    InferenceSpec.Builder spec = InferenceSpec.builder()
        .pipelineOptions(PipelineOptions.defaults().maxLength(Ceiling.MAX_LEN).docStride(FlinkPatterns.MIX_DOC_STRIDE)
            .session(session).batching(new BatchingOptions(BatchingOptions.DEFAULT_MAX_BATCH_SIZE,
                BatchingOptions.DEFAULT_MAX_TOKENS, maxPaddingRatio)))
        .maxWait(Duration.ofMillis(FlinkPatterns.MAX_WAIT_MS))
        .timeout(Duration.ofMinutes(10))
        .scheduling(scheduling, threads);
    names.forEach(name -> spec.model(name, MODELS.get(name), dirs.get(name)));
    return spec.build();
  }

  /** The events through the gate, inference, counted per kind and timed. */
  private static void pipeline(StreamExecutionEnvironment env, List<TextEvent> events, InferenceSpec spec) {
    DataStream<TextEvent> in = env.fromData(events, new AvroTypeInfo<>(TextEvent.class))
        .map(new FlinkPatterns.Gate<>()).returns(new AvroTypeInfo<>(TextEvent.class)).name("bench: gate");
    Enrichment.inference(in, spec).map(new FlinkPatterns.MixCount<>())
        .returns(new AvroTypeInfo<>(InferenceOutput.class)).map(new FlinkPatterns.Clock<>())
        .returns(new AvroTypeInfo<>(InferenceOutput.class)).sinkTo(new DiscardingSink<>());
  }

  /**
   * One operator with the three models on {@code slots} slots of one thread per model; with {@code scheduling}
   * (null: none) their batchers draw on a thread budget of {@code threads}.
   */
  static Measurement.Run oneStream(Map<String, Path> dirs, SessionOptions session, int slots, int threads,
      FlinkPatterns.Events in, double maxPaddingRatio, InferenceBudget.Policy scheduling) throws Exception {
    FlinkPatterns.Clock.reset();
    FlinkPatterns.Gate.reset(slots);
    FlinkPatterns.MixCount.reset();
    Rss.reset();
    StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(slots,
        BenchMetrics.addTo(new Configuration()));
    try (Rss.Threads sampled = Rss.Threads.sample()) {
      pipeline(env, in.events(), spec(dirs, List.copyOf(MODELS.keySet()), session, maxPaddingRatio, scheduling, threads));
      env.execute("bench-models-one-stream");
      return new Measurement.Run(in.events().size(), in.tokens(), 0, FlinkPatterns.Clock.seconds(), Rss.peakMb(),
          BenchMetrics.snapshot(), null).withMix(FlinkPatterns.MixCount.counts(), sampled.peak());
    }
  }

  /**
   * Three jobs, one model each, on the same events, submitted together, each to a local cluster of {@code slots}
   * slots of its own; the run ends with the last job's last result.
   */
  static Measurement.Run threeJobs(Map<String, Path> dirs, SessionOptions session, int slots,
      FlinkPatterns.Events in, double maxPaddingRatio) throws Exception {
    FlinkPatterns.Clock.reset();
    FlinkPatterns.Gate.reset(slots * MODELS.size()); // every job's model loaded before any event is handed over
    FlinkPatterns.MixCount.reset();
    Rss.reset();
    List<JobClient> jobs = new ArrayList<>();
    try (Rss.Threads sampled = Rss.Threads.sample()) {
      try {
        for (String name : MODELS.keySet()) {
          StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(slots,
              new Configuration());
          pipeline(env, in.events(), spec(dirs, List.of(name), session, maxPaddingRatio, null, 0));
          jobs.add(env.executeAsync("bench-models-job-" + name));
        }
        for (JobClient job : jobs) {
          job.getJobExecutionResult().get();
        }
      } catch (Exception e) {
        for (JobClient job : jobs) {
          job.cancel(); // one job failed: the others would wait at the gate for ever
        }
        throw e;
      }
      return new Measurement.Run(in.events().size(), in.tokens(), 0, FlinkPatterns.Clock.seconds(), Rss.peakMb(),
          null, null).withMix(FlinkPatterns.MixCount.counts(), sampled.peak());
    }
  }
}
