package io.distilstream.runtime.pipeline;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** The tasks a pipeline runs, named as Hugging Face's {@code pipeline(task)} names them. */
public enum Task {
  TEXT_CLASSIFICATION("text-classification"),
  TOKEN_CLASSIFICATION("token-classification"),
  QUESTION_ANSWERING("question-answering"),
  FEATURE_EXTRACTION("feature-extraction"),
  FILL_MASK("fill-mask"),
  MULTIPLE_CHOICE("multiple-choice");

  private final String id;

  Task(String id) {
    this.id = id;
  }

  public String id() {
    return id;
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
