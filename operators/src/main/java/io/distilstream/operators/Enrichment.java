package io.distilstream.operators;

import io.distilstream.schemas.AnswerResult;
import io.distilstream.schemas.ChoiceResult;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.EmbeddingResult;
import io.distilstream.schemas.EntityResult;
import io.distilstream.schemas.FillMaskResult;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.TextEvent;
import java.util.concurrent.TimeUnit;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.streaming.api.datastream.AsyncDataStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.streaming.api.functions.async.AsyncRetryStrategy;
import org.apache.flink.streaming.util.retryable.AsyncRetryStrategies;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Applies the inference operator to a stream of text events and splits its tagged output into one stream per
 * result type, so a job routes labels, zero-shot labels, entity spans, answers, embeddings and dead letters to their
 * own topics.
 *
 * <pre>{@code
 * Enrichment.Streams out = Enrichment.apply(events, InferenceSpec.fromConfiguration(conf));
 * out.classifications().sinkTo(labelsSink);
 * out.deadLetters().sinkTo(deadLetterSink);
 * }</pre>
 */
public final class Enrichment {
  public static final String INFERENCE_UID = "distilstream-inference";
  public static final String ROUTE_UID = "distilstream-route";

  public static final OutputTag<EntityResult> ENTITIES =
      new OutputTag<>("entities", new AvroTypeInfo<>(EntityResult.class));
  public static final OutputTag<AnswerResult> ANSWERS =
      new OutputTag<>("answers", new AvroTypeInfo<>(AnswerResult.class));
  public static final OutputTag<EmbeddingResult> EMBEDDINGS =
      new OutputTag<>("embeddings", new AvroTypeInfo<>(EmbeddingResult.class));
  public static final OutputTag<FillMaskResult> FILL_MASKS =
      new OutputTag<>("fill-masks", new AvroTypeInfo<>(FillMaskResult.class));
  public static final OutputTag<ChoiceResult> CHOICES =
      new OutputTag<>("choices", new AvroTypeInfo<>(ChoiceResult.class));
  public static final OutputTag<ClassificationResult> ZERO_SHOT =
      new OutputTag<>("zero-shot", new AvroTypeInfo<>(ClassificationResult.class));
  public static final OutputTag<DeadLetter> DEAD_LETTERS =
      new OutputTag<>("dead-letters", new AvroTypeInfo<>(DeadLetter.class));

  private Enrichment() {}

  /** The streams of one enrichment: one per result type, and the dead letters. */
  public record Streams(
      SingleOutputStreamOperator<InferenceOutput> inference,
      SingleOutputStreamOperator<ClassificationResult> classifications,
      DataStream<EntityResult> entities,
      DataStream<AnswerResult> answers,
      DataStream<EmbeddingResult> embeddings,
      DataStream<DeadLetter> deadLetters,
      DataStream<FillMaskResult> fillMasks,
      DataStream<ChoiceResult> choices,
      DataStream<ClassificationResult> zeroShot) {}

  public static Streams apply(DataStream<TextEvent> events, InferenceSpec spec) {
    SingleOutputStreamOperator<InferenceOutput> inference = inference(events, spec);
    SingleOutputStreamOperator<ClassificationResult> routed = inference
        .process(new Route())
        .returns(new AvroTypeInfo<>(ClassificationResult.class))
        .name("distilstream: route results")
        .uid(ROUTE_UID);
    return new Streams(inference, routed, routed.getSideOutput(ENTITIES), routed.getSideOutput(ANSWERS),
        routed.getSideOutput(EMBEDDINGS), routed.getSideOutput(DEAD_LETTERS), routed.getSideOutput(FILL_MASKS),
        routed.getSideOutput(CHOICES), routed.getSideOutput(ZERO_SHOT));
  }

  /**
   * The async operator alone: {@code orderedWait} or {@code unorderedWait} per {@code inference.ordered}, with
   * {@code inference.capacity} in flight (back-pressure beyond it) and {@code inference.timeout}. Events in flight
   * are part of the operator's checkpointed state, so after a restore each runs again and is emitted once.
   */
  public static SingleOutputStreamOperator<InferenceOutput> inference(DataStream<TextEvent> events,
      InferenceSpec spec) {
    InferenceFunction fn = new InferenceFunction(spec);
    long timeout = spec.timeout().toMillis();
    int capacity = spec.capacity();
    SingleOutputStreamOperator<InferenceOutput> out;
    if (spec.retryAttempts() > 0) {
      AsyncRetryStrategy<InferenceOutput> retry =
          new AsyncRetryStrategies.FixedDelayRetryStrategyBuilder<InferenceOutput>(
              spec.retryAttempts(), spec.retryDelay().toMillis())
              .ifResult(outputs -> outputs.stream().anyMatch(Enrichment::isModelError))
              .build();
      out = spec.ordered()
          ? AsyncDataStream.orderedWaitWithRetry(events, fn, timeout, TimeUnit.MILLISECONDS, capacity, retry)
          : AsyncDataStream.unorderedWaitWithRetry(events, fn, timeout, TimeUnit.MILLISECONDS, capacity, retry);
    } else {
      out = spec.ordered()
          ? AsyncDataStream.orderedWait(events, fn, timeout, TimeUnit.MILLISECONDS, capacity)
          : AsyncDataStream.unorderedWait(events, fn, timeout, TimeUnit.MILLISECONDS, capacity);
    }
    return out.returns(new AvroTypeInfo<>(InferenceOutput.class))
        .name("distilstream: inference " + spec.tasks())
        .uid(INFERENCE_UID);
  }

  private static boolean isModelError(InferenceOutput o) {
    return o.getDeadLetter() != null && DeadLetterReason.MODEL_ERROR.code().equals(o.getDeadLetter().getReason());
  }

  /** Sends each tagged output to its stream. */
  static final class Route extends ProcessFunction<InferenceOutput, ClassificationResult> {
    private static final long serialVersionUID = 1L;

    @Override
    public void processElement(InferenceOutput o, Context ctx, Collector<ClassificationResult> out) {
      if (o.getDeadLetter() != null) {
        ctx.output(DEAD_LETTERS, o.getDeadLetter());
        return;
      }
      TaskBinding<?, ?, ?> b = TaskBinding.resultOf(o);
      if (b == null) {
        throw new IllegalStateException("an inference output with no field set");
      }
      if (b.tag() == null) {
        out.collect(o.getClassification()); // the main output: text-classification's labels
      } else {
        emit(b, o, ctx);
      }
    }

    private static <R extends org.apache.avro.specific.SpecificRecordBase> void emit(TaskBinding<?, ?, R> b,
        InferenceOutput o, Context ctx) {
      ctx.output(b.tag(), b.get(o));
    }
  }
}
