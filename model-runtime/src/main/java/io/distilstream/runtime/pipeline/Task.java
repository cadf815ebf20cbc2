package io.distilstream.runtime.pipeline;

import io.distilstream.runtime.model.ModelDirectory;
import java.util.Arrays;
import java.util.Locale;
import java.util.function.BiFunction;
import java.util.stream.Collectors;

/**
 * The tasks a pipeline runs, named as Hugging Face's {@code pipeline(task)} names them. Each task names the pipeline
 * that runs it here, once: adding a task is a constant here and its pipeline class.
 */
public enum Task {
  TEXT_CLASSIFICATION("text-classification", TextClassificationPipeline::new),
  TOKEN_CLASSIFICATION("token-classification", TokenClassificationPipeline::new),
  QUESTION_ANSWERING("question-answering", QuestionAnsweringPipeline::new),
  FEATURE_EXTRACTION("feature-extraction", FeatureExtractionPipeline::new),
  FILL_MASK("fill-mask", FillMaskPipeline::new),
  MULTIPLE_CHOICE("multiple-choice", MultipleChoicePipeline::new),
  ZERO_SHOT_CLASSIFICATION("zero-shot-classification", ZeroShotClassificationPipeline::new);

  private final String id;
  private final BiFunction<ModelDirectory, PipelineOptions, Pipeline<?, ?>> factory;

  Task(String id, BiFunction<ModelDirectory, PipelineOptions, Pipeline<?, ?>> factory) {
    this.id = id;
    this.factory = factory;
  }

  public String id() {
    return id;
  }

  /** Opens this task's pipeline over a model (see {@link Pipeline#create}). */
  public Pipeline<?, ?> open(ModelDirectory dir, PipelineOptions options) {
    return factory.apply(dir, options);
  }

  /** Accepts Hugging Face's names and their aliases ({@code sentiment-analysis}, {@code ner}). */
  public static Task parse(String s) {
    Task t = find(s);
    if (t == null) {
      throw new IllegalArgumentException("unknown task '" + s + "': expected one of "
          + Arrays.stream(values()).map(Task::id).collect(Collectors.joining(", ")));
    }
    return t;
  }

  /**
   * As {@link #parse}, {@code null} for a name that is no task: an event may list tens of thousands of unknown
   * names, and an exception with its message and stack trace for each would be the costliest part of it.
   */
  public static Task find(String s) {
    String k = s.trim().toLowerCase(Locale.ROOT).replace('_', '-');
    switch (k) {
      case "sentiment-analysis": return TEXT_CLASSIFICATION;
      case "ner": return TOKEN_CLASSIFICATION;
      case "qa": return QUESTION_ANSWERING;
      case "embeddings": return FEATURE_EXTRACTION;
      default:
        for (Task t : values()) {
          if (t.id.equals(k)) {
            return t;
          }
        }
        return null;
    }
  }

  @Override
  public String toString() {
    return id;
  }
}
