package io.distilstream.operators;

import io.distilstream.runtime.pipeline.Task;
import java.io.Serializable;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * One model a job serves, as every layer reads it: the operator opens one pipeline and batcher per model, routing
 * selects models by {@link #name}, and the job gives each its output topic. Declared as
 * {@code inference.models.<name>.*}, or by the per-task key {@code inference.model.<task>}, which declares a model
 * named after its task ({@code text-classification}) writing to the task's topic, as before named models existed.
 *
 * @param name the model's name in this job: {@code [a-z0-9][a-z0-9-_]{0,63}}, unique; what events and routing
 *     rules name, and what every result of a named model carries in {@code ModelInfo.name} (a per-task model's
 *     results carry its directory's name there, as before)
 * @param task the task the model runs
 * @param source the model directory, pointer file or Hugging Face Hub id (pinned to its commit once the spec is
 *     built), as {@code inference.model.<task>} takes it
 * @param topic the output topic set by {@code inference.models.<name>.topic}; null = the job's default (the task's
 *     topic for a per-task model, {@code <task's topic>-<name>} for a named one)
 * @param shadows the name of the model of the same task that this one shadows ({@code .shadows}); null = none. A
 *     shadow is never one of the job's defaults and no event names it: it runs where its primary runs
 * @param perTaskKey true when declared by {@code inference.model.<task>} rather than {@code inference.models.*}
 */
public record ModelSpec(String name, Task task, String source, String topic, String shadows, boolean perTaskKey)
    implements Serializable {
  /** The longest model name: names are bounded before an event's list is looked up (routing's cost bound). */
  public static final int MAX_NAME_CHARS = 64;
  private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9_-]{0," + (MAX_NAME_CHARS - 1) + "}");

  public ModelSpec {
    Objects.requireNonNull(task, "task");
    Objects.requireNonNull(source, "source");
    checkName(name);
    if (shadows != null) {
      checkName(shadows);
    }
    if (topic != null && topic.isBlank()) {
      throw new IllegalArgumentException(InferenceOptions.MODELS_PREFIX + name + ".topic must not be blank");
    }
  }

  /** A model declared by {@code inference.model.<task>}: named after its task, on the task's topic. */
  public static ModelSpec perTask(Task task, String source) {
    return new ModelSpec(task.id(), task, source, null, null, true);
  }

  /** Whether {@code s} is a well-formed model name (checked before any lookup; bounded in length). */
  public static boolean isName(String s) {
    return s != null && s.length() <= MAX_NAME_CHARS && NAME.matcher(s).matches();
  }

  static void checkName(String name) {
    if (!isName(name)) {
      throw new IllegalArgumentException("model name '" + (name != null && name.length() > 80
          ? name.substring(0, 80) + "…" : name) + "' must match [a-z0-9][a-z0-9-_]{0," + (MAX_NAME_CHARS - 1)
          + "}");
    }
    if (name.equals("default")) {
      throw new IllegalArgumentException("'default' is not a model name: " + InferenceOptions.DEFAULT_MODELS.key()
          + " lists the default models");
    }
  }

  /** The same model from another source (the spec pins Hub ids to their commit). */
  ModelSpec withSource(String s) {
    return new ModelSpec(name, task, s, topic, shadows, perTaskKey);
  }

  /**
   * The name this model's results carry in {@code ModelInfo.name}: a named model's name; a per-task model's
   * directory name (or {@code NAME} of a Hub id), as before named models existed. Hot reload keeps it (the watched
   * path's name).
   */
  public String recordName() {
    return perTaskKey ? io.distilstream.runtime.hub.ModelSource.displayName(source) : name;
  }

  /** Whether this model shadows another. */
  public boolean isShadow() {
    return shadows != null;
  }
}
