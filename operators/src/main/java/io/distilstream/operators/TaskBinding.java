package io.distilstream.operators;

import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.Outcome;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.TextEvent;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.specific.SpecificRecordBase;
import org.apache.flink.util.OutputTag;

/**
 * One task as the inference operator sees it, in the manner of DJL's {@code Translator}: its typed pipeline, what of
 * an event it runs on (or the dead letter in its place), when it is one of an event's default tasks, and the Avro
 * record its result becomes, with that record's field of {@link InferenceOutput} and its stream. The operator,
 * {@link Enrichment}'s routing and {@link ResultSize} know tasks only through here: a task is one binding, listed in
 * {@link #ALL}.
 *
 * @param <I> the pipeline's input
 * @param <O> the pipeline's result of one input
 * @param <R> the Avro record of one result
 */
abstract class TaskBinding<I, O, R extends SpecificRecordBase> {
  /** Every task's binding, in {@link Task}'s order. */
  static final List<TaskBinding<?, ?, ?>> ALL = List.of(new TextClassificationBinding(),
      new TokenClassificationBinding(), new QuestionAnsweringBinding(), new FeatureExtractionBinding(),
      new FillMaskBinding(), new MultipleChoiceBinding(), new ZeroShotBinding());

  private static final Map<Task, TaskBinding<?, ?, ?>> BY_TASK = byTask();

  private static Map<Task, TaskBinding<?, ?, ?>> byTask() {
    Map<Task, TaskBinding<?, ?, ?>> m = new EnumMap<>(Task.class);
    for (TaskBinding<?, ?, ?> b : ALL) {
      m.put(b.task(), b);
    }
    if (m.size() != Task.values().length) {
      throw new IllegalStateException("a task without a binding: " + m.keySet());
    }
    return m;
  }

  static TaskBinding<?, ?, ?> of(Task task) {
    return BY_TASK.get(task);
  }

  /** The binding whose record {@code o} carries, or null for a dead letter. */
  static TaskBinding<?, ?, ?> resultOf(InferenceOutput o) {
    for (TaskBinding<?, ?, ?> b : ALL) {
      if (b.get(o) != null) {
        return b;
      }
    }
    return null;
  }

  /** An event's input for the task, tokenized, or the dead letter that takes its place. */
  record Request<I>(Pipeline.Prepared<I> prepared, InferenceOutput deadLetter) {
    static <I> Request<I> of(Pipeline.Prepared<I> p) {
      return new Request<>(p, null);
    }

    static <I> Request<I> failed(InferenceOutput deadLetter) {
      return new Request<>(null, deadLetter);
    }
  }

  abstract Task task();

  abstract Pipeline<I, O> open(ModelDirectory dir, PipelineOptions options);

  /** What the task runs on for this event; runs on the operator's thread, before the event's requests go out. */
  abstract Request<I> prepare(TextEvent event, InferenceSpec spec, Pipeline<I, O> pipeline);

  /** Whether an event that names no task runs this one (when the job's default tasks include it). */
  boolean byDefault(TextEvent event, InferenceSpec spec, Pipeline<I, O> pipeline) {
    return true;
  }

  /** The result's record, with the event's id, key and attributes, the model and the latency. */
  abstract R record(TextEvent event, ModelInfo model, long latencyMicros, O result);

  abstract void set(InferenceOutput.Builder out, R record);

  /** This task's record in {@code o}, or null. */
  abstract R get(InferenceOutput o);

  /** The side output the record goes to; null for the main output (text-classification's). */
  abstract OutputTag<R> tag();

  /** The event's output for an outcome: its record, or a dead letter. */
  final InferenceOutput output(TextEvent event, ModelInfo model, Outcome<O> outcome, long start) {
    if (!outcome.isSuccess()) {
      Stage stage = outcome.reason() == Outcome.Reason.MODEL_ERROR ? Stage.INFERENCE : Stage.PREPROCESS;
      return DeadLetters.forEvent(event, DeadLetterReason.of(outcome.reason()), outcome.message(), stage,
          task().id());
    }
    long micros = (System.nanoTime() - start) / 1_000;
    InferenceOutput.Builder out = InferenceOutput.newBuilder();
    set(out, record(event, model, micros, outcome.value()));
    return out.build();
  }

  // ---- for the tasks that read the event's text ----------------------------------------------------------------

  /** The dead letter for an event whose text no task can run on (missing, blank, unprintable), else null. */
  final InferenceOutput badText(TextEvent event) {
    String text = event.getText();
    if (text == null || text.isBlank()) {
      return dead(event, DeadLetterReason.INVALID_INPUT, text == null ? "text is missing" : "text is empty");
    }
    if (!InferenceFunction.printable(text)) {
      return dead(event, DeadLetterReason.INVALID_INPUT, "text has only control characters and whitespace");
    }
    return null;
  }

  /**
   * The event's text run as it is, after the checks every text task makes: missing or blank, over
   * {@code inference.max-text-chars}, nothing printable.
   */
  final Request<I> text(TextEvent event, InferenceSpec spec, Pipeline<I, O> pipeline,
      java.util.function.Function<String, I> input) {
    InferenceOutput refused = textRefused(event, spec);
    return refused != null ? Request.failed(refused) : Request.of(pipeline.prepare(input.apply(event.getText())));
  }

  /** {@link #text}'s checks: the dead letter, or null when the text may run. */
  final InferenceOutput textRefused(TextEvent event, InferenceSpec spec) {
    String text = event.getText();
    if (text == null || text.isBlank()) {
      return badText(event);
    }
    if (text.length() > spec.maxTextChars()) {
      return tooLong(event, spec, "text"); // checked before printable: that scan is as long as the text
    }
    return badText(event);
  }

  final InferenceOutput tooLong(TextEvent event, InferenceSpec spec, String what) {
    return dead(event, DeadLetterReason.TEXT_TOO_LONG, what + " is over " + InferenceOptions.MAX_TEXT_CHARS.key() + " ("
        + spec.maxTextChars() + " chars)");
  }

  final InferenceOutput dead(TextEvent event, DeadLetterReason reason, String message) {
    return DeadLetters.forEvent(event, reason, message, Stage.PREPROCESS, task().id());
  }
}
