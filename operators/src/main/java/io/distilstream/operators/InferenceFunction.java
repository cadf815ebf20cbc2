package io.distilstream.operators;

import io.distilstream.runtime.heads.Answer;
import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.MicroBatcher;
import io.distilstream.runtime.pipeline.Outcome;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.QuestionAnsweringPipeline;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.AnswerResult;
import io.distilstream.schemas.AnswerSpan;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.EmbeddingResult;
import io.distilstream.schemas.EntityResult;
import io.distilstream.schemas.EntitySpan;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.Label;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.TextEvent;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.streaming.api.functions.async.ResultFuture;
import org.apache.flink.streaming.api.functions.async.RichAsyncFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The async micro-batching inference function. Each subtask owns one pipeline and one {@link MicroBatcher} (with
 * its thread) per configured task, created in {@link #open} from the serializable {@link InferenceSpec} and closed
 * in {@link #close}. {@link #asyncInvoke} hands one event's requests (one per task it asks for) to the batchers and
 * completes the event's {@link ResultFuture} exactly once, with one output per task: a result or a dead letter.
 *
 * <p>Apply it with {@link Enrichment#apply}, which wires Flink's async operator (capacity, timeout, ordering,
 * retries) so that in-flight events are part of checkpoints.
 */
public class InferenceFunction extends RichAsyncFunction<TextEvent, InferenceOutput> {
  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(InferenceFunction.class);

  private final InferenceSpec spec;

  private transient EnumMap<Task, TaskRuntime> runtimes;
  private transient InferenceMetrics metrics;

  /** One task's pipeline, its batcher thread and the model's identity. */
  private static final class TaskRuntime implements AutoCloseable {
    final Pipeline<Object, Object> pipeline;
    final MicroBatcher<Object, Object> batcher;
    final ModelInfo model;

    TaskRuntime(Pipeline<Object, Object> pipeline, MicroBatcher<Object, Object> batcher, ModelInfo model) {
      this.pipeline = pipeline;
      this.batcher = batcher;
      this.model = model;
    }

    @Override
    public void close() {
      batcher.close();
      pipeline.close();
    }
  }

  public InferenceFunction(InferenceSpec spec) {
    this.spec = spec;
  }

  @Override
  @SuppressWarnings("unchecked")
  public void open(OpenContext openContext) throws Exception {
    int subtask = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
    int parallelism = getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks();
    PipelineOptions options = spec.pipelineOptions();
    if (options.session().intraOpThreads() == 0) {
      // One thread per slot beats one slot of several threads on a CPU: give each subtask its share of the cores.
      int cores = Runtime.getRuntime().availableProcessors();
      options.session(options.session().copy().intraOpThreads(Math.max(1, cores / Math.min(parallelism, cores))));
    }
    runtimes = new EnumMap<>(Task.class);
    metrics = new InferenceMetrics(getRuntimeContext().getMetricGroup(), this::queueDepth);
    try {
      for (var e : spec.models().entrySet()) {
        ModelDirectory dir = ModelDirectory.of(Path.of(e.getValue()));
        Pipeline<Object, Object> pipeline = (Pipeline<Object, Object>) Pipeline.create(e.getKey(), dir, options);
        MicroBatcher<Object, Object> batcher = new MicroBatcher<>(pipeline, options.batching().maxBatchSize(),
            options.batching().maxTokens(), spec.maxWait(), metrics,
            "distilstream-" + e.getKey().id() + "-" + subtask);
        ModelInfo info = ModelInfo.newBuilder().setName(dir.name()).setVersion(dir.version())
            .setRuntime(runtimeVersion()).build();
        runtimes.put(e.getKey(), new TaskRuntime(pipeline, batcher, info));
        LOG.info("subtask {}: {} on {} ({}, {}, max-wait={})", subtask, e.getKey(), dir, options.session(),
            options.batching(), spec.maxWait());
      }
    } catch (RuntimeException ex) {
      close();
      throw ex;
    }
  }

  private int queueDepth() {
    int depth = 0;
    if (runtimes != null) {
      for (TaskRuntime r : runtimes.values()) {
        depth += r.batcher.queueDepth();
      }
    }
    return depth;
  }

  @Override
  public void asyncInvoke(TextEvent event, ResultFuture<InferenceOutput> resultFuture) {
    long start = System.nanoTime();
    List<CompletableFuture<InferenceOutput>> parts = new ArrayList<>();
    for (String name : requestedTasks(event)) {
      parts.add(submit(event, name, start));
    }
    CompletableFuture.allOf(parts.toArray(new CompletableFuture<?>[0])).whenComplete((ok, error) -> {
      if (error != null) {
        Throwable cause = error instanceof CompletionException ? error.getCause() : error;
        if (cause instanceof CancellationException) {
          return; // the subtask is closing; the event is in the checkpoint and runs again after a restore
        }
        resultFuture.completeExceptionally(cause);
        return;
      }
      List<InferenceOutput> outputs = new ArrayList<>(parts.size());
      for (CompletableFuture<InferenceOutput> p : parts) {
        InferenceOutput o = p.join();
        if (o.getDeadLetter() != null) {
          metrics.onDeadLetter();
        }
        outputs.add(o);
      }
      metrics.onEventDone(System.nanoTime() - start);
      resultFuture.complete(outputs);
    });
  }

  private List<String> requestedTasks(TextEvent event) {
    if (event.getTasks() != null && !event.getTasks().isEmpty()) {
      return event.getTasks();
    }
    // an event that names no task gets the job's default tasks, question-answering only if it asks a question
    List<String> names = new ArrayList<>(spec.defaultTasks().size());
    for (Task t : spec.defaultTasks()) {
      if (t != Task.QUESTION_ANSWERING || event.getQuestion() != null) {
        names.add(t.id());
      }
    }
    return names;
  }

  private CompletableFuture<InferenceOutput> submit(TextEvent event, String name, long start) {
    Task task;
    try {
      task = Task.parse(name);
    } catch (IllegalArgumentException e) {
      return done(DeadLetters.forEvent(event, DeadLetters.UNKNOWN_TASK, e.getMessage(),
          DeadLetters.STAGE_PREPROCESS, name));
    }
    TaskRuntime runtime = runtimes.get(task);
    if (runtime == null) {
      return done(DeadLetters.forEvent(event, DeadLetters.UNKNOWN_TASK, "no model is configured for task " + task
          + " (set " + InferenceOptions.MODEL_PREFIX + task + ")", DeadLetters.STAGE_PREPROCESS, task.id()));
    }
    Object input;
    String tooLong;
    if (task == Task.QUESTION_ANSWERING) {
      String context = event.getContext() != null ? event.getContext() : event.getText();
      input = new QuestionAnsweringPipeline.Question(event.getQuestion(), context);
      tooLong = context != null && context.length() > spec.maxTextChars() ? "context" : null;
    } else {
      String text = event.getText();
      if (text == null || text.isBlank()) {
        return done(DeadLetters.forEvent(event, DeadLetters.INVALID_INPUT,
            text == null ? "text is missing" : "text is empty", DeadLetters.STAGE_PREPROCESS, task.id()));
      }
      if (!printable(text)) {
        return done(DeadLetters.forEvent(event, DeadLetters.INVALID_INPUT,
            "text has only control characters and whitespace", DeadLetters.STAGE_PREPROCESS, task.id()));
      }
      input = text;
      tooLong = text.length() > spec.maxTextChars() ? "text" : null;
    }
    if (tooLong != null) {
      return done(DeadLetters.forEvent(event, DeadLetters.TEXT_TOO_LONG, tooLong + " is over "
          + InferenceOptions.MAX_TEXT_CHARS.key() + " (" + spec.maxTextChars() + " chars)",
          DeadLetters.STAGE_PREPROCESS, task.id()));
    }
    return runtime.batcher.submit(input).thenApply(outcome -> toOutput(event, task, runtime.model, outcome, start));
  }

  /**
   * True when the text has one character that is neither a control character nor whitespace: the tokenizer drops
   * control characters, so a text of nothing else would be classified as the empty string.
   */
  static boolean printable(String text) {
    for (int i = 0; i < text.length(); ) {
      int cp = text.codePointAt(i);
      if (!Character.isISOControl(cp) && !Character.isWhitespace(cp) && !Character.isSpaceChar(cp)
          && Character.getType(cp) != Character.FORMAT) {
        return true;
      }
      i += Character.charCount(cp);
    }
    return false;
  }

  private static CompletableFuture<InferenceOutput> done(InferenceOutput o) {
    return CompletableFuture.completedFuture(o);
  }

  @SuppressWarnings("unchecked")
  static InferenceOutput toOutput(TextEvent event, Task task, ModelInfo model, Outcome<Object> outcome, long start) {
    if (!outcome.isSuccess()) {
      String stage = outcome.reason() == Outcome.Reason.MODEL_ERROR
          ? DeadLetters.STAGE_INFERENCE : DeadLetters.STAGE_PREPROCESS;
      return DeadLetters.forEvent(event, outcome.reason().name(), outcome.message(), stage, task.id());
    }
    long micros = (System.nanoTime() - start) / 1_000;
    InferenceOutput.Builder out = InferenceOutput.newBuilder();
    switch (task) {
      case TEXT_CLASSIFICATION: {
        List<Label> labels = new ArrayList<>();
        for (LabelScore l : (List<LabelScore>) outcome.value()) {
          labels.add(new Label(l.label(), l.score()));
        }
        return out.setClassification(ClassificationResult.newBuilder().setId(event.getId()).setKey(event.getKey())
            .setModel(model).setLatencyMicros(micros).setLabels(labels).setAttributes(event.getAttributes())
            .build()).build();
      }
      case TOKEN_CLASSIFICATION: {
        List<EntitySpan> spans = new ArrayList<>();
        for (Entity e : (List<Entity>) outcome.value()) {
          spans.add(new EntitySpan(e.entityGroup() != null ? e.entityGroup() : e.entity(), e.score(), e.word(),
              e.start(), e.end()));
        }
        return out.setEntities(EntityResult.newBuilder().setId(event.getId()).setKey(event.getKey())
            .setModel(model).setLatencyMicros(micros).setEntities(spans).setAttributes(event.getAttributes())
            .build()).build();
      }
      case QUESTION_ANSWERING: {
        List<AnswerSpan> answers = new ArrayList<>();
        for (Answer a : (List<Answer>) outcome.value()) {
          answers.add(new AnswerSpan(a.answer(), a.score(), a.start(), a.end()));
        }
        return out.setAnswer(AnswerResult.newBuilder().setId(event.getId()).setKey(event.getKey())
            .setModel(model).setLatencyMicros(micros).setAnswers(answers).setAttributes(event.getAttributes())
            .build()).build();
      }
      case FEATURE_EXTRACTION: {
        float[] v = (float[]) outcome.value();
        List<Float> vector = new ArrayList<>(v.length);
        for (float f : v) {
          vector.add(f);
        }
        return out.setEmbedding(EmbeddingResult.newBuilder().setId(event.getId()).setKey(event.getKey())
            .setModel(model).setLatencyMicros(micros).setVector(vector).setAttributes(event.getAttributes())
            .build()).build();
      }
      default:
        throw new IllegalStateException("unhandled task " + task);
    }
  }

  /**
   * Flink calls this when {@code inference.timeout} passes: the event's tasks become TIMEOUT dead letters, and a
   * result that comes later is ignored (Flink completes a result future once).
   */
  @Override
  public void timeout(TextEvent event, ResultFuture<InferenceOutput> resultFuture) {
    List<InferenceOutput> outputs = new ArrayList<>();
    for (String name : requestedTasks(event)) {
      outputs.add(DeadLetters.forEvent(event, DeadLetters.TIMEOUT, "no result within "
          + InferenceOptions.TIMEOUT.key() + " = " + spec.timeout(), DeadLetters.STAGE_INFERENCE, name));
      metrics.onDeadLetter();
    }
    resultFuture.complete(outputs);
  }

  @Override
  public void close() throws Exception {
    if (runtimes != null) {
      for (TaskRuntime r : runtimes.values()) {
        r.close();
      }
      runtimes.clear();
    }
  }

  InferenceSpec spec() {
    return spec;
  }

  /** Carried in every result's {@link ModelInfo}: this library's and ONNX Runtime's versions. */
  static String runtimeVersion() {
    String v = InferenceFunction.class.getPackage().getImplementationVersion();
    return "distilstream/" + (v != null ? v : "dev") + " onnxruntime/" + io.distilstream.runtime.model.ModelSession.environment().getVersion();
  }
}
