package io.distilstream.operators;

import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.TextEvent;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Which of a job's models an event runs, decided in this order: the event's own {@code models} list (which the
 * Kafka source fills from the {@code inference.routing.header} record header when the event names none), else the
 * first {@code inference.routing.attribute.<attribute>.<value>} rule its attributes match, else its {@code tasks}
 * (each task name selects that task's default models), else the job's default models
 * ({@code inference.models.default}). Validated when the spec is built; serializable, it travels in the job graph.
 *
 * <p>Cost bounds: every name is checked against {@link ModelSpec#MAX_NAME_CHARS} and the name pattern before it is
 * looked up, repeats collapse (an event runs each model at most once, so at most the job's model count), and the
 * names no model has are collected for one {@code UNKNOWN_MODEL} dead letter per event, quoting the first
 * {@link #QUOTED}. The list's own length is bounded where the event is decoded ({@code input.max-collection-items}).
 */
public final class ModelRouting implements Serializable {
  private static final long serialVersionUID = 1L;
  /** Unknown names a dead letter quotes; the rest are counted. */
  static final int QUOTED = 5;

  /** Every model, by name, in the spec's order. */
  private final LinkedHashMap<String, ModelSpec> models;
  /** The models an event gets when nothing selects any ({@code inference.models.default}), in the spec's order. */
  private final List<String> defaults;
  /** The Kafka record header whose value is a comma-separated model list; null = none. */
  private final String header;
  /** Attribute rules: attribute, then value, then model names; attributes in name order, so the first match is stable. */
  private final TreeMap<String, Map<String, List<String>>> attributeRules;

  ModelRouting(List<ModelSpec> models, List<String> defaults, String header,
      Map<String, Map<String, List<String>>> attributeRules) {
    this.models = new LinkedHashMap<>();
    for (ModelSpec m : models) {
      if (this.models.put(m.name(), m) != null) {
        throw new IllegalArgumentException("model '" + m.name() + "' is declared twice (a per-task key "
            + InferenceOptions.MODEL_PREFIX + "<task> declares a model named after its task)");
      }
    }
    List<String> d = new ArrayList<>();
    if (defaults == null || defaults.isEmpty()) {
      models.stream().filter(m -> !m.isShadow()).forEach(m -> d.add(m.name()));
    } else {
      for (String name : defaults) {
        selectable(name, InferenceOptions.DEFAULT_MODELS.key());
        if (!d.contains(name)) {
          d.add(name);
        }
      }
    }
    this.defaults = List.copyOf(d);
    if (header != null && header.isBlank()) {
      throw new IllegalArgumentException(InferenceOptions.ROUTING_HEADER.key() + " must not be blank");
    }
    this.header = header;
    this.attributeRules = new TreeMap<>();
    attributeRules.forEach((attribute, rules) -> {
      Map<String, List<String>> values = new TreeMap<>();
      rules.forEach((value, names) -> {
        String key = InferenceOptions.ROUTING_ATTRIBUTE_PREFIX + attribute + "." + value;
        if (names.isEmpty()) {
          throw new IllegalArgumentException(key + " names no model");
        }
        for (String n : names) {
          selectable(n, key);
        }
        values.put(value, List.copyOf(new LinkedHashSet<>(names)));
      });
      this.attributeRules.put(attribute, Collections.unmodifiableMap(values));
    });
  }

  private void selectable(String name, String where) {
    ModelSpec m = models.get(name);
    if (m == null) {
      throw new IllegalArgumentException(where + " names model '" + name + "', which is not declared (models: "
          + String.join(", ", models.keySet()) + ")");
    }
    if (m.isShadow()) {
      throw new IllegalArgumentException(where + " names '" + name + "', a shadow of '" + m.shadows() + "': a"
          + " shadow runs wherever its primary runs, it is not selected itself");
    }
  }

  /** The default models' names. */
  public List<String> defaults() { return defaults; }
  /** The routing header's name, or null. */
  public String header() { return header; }
  /** The attribute rules: attribute, value, model names. */
  public Map<String, Map<String, List<String>>> attributeRules() { return Collections.unmodifiableMap(attributeRules); }

  /**
   * What an event runs: the models selected (each once, the order in which they were named), whether they were
   * selected explicitly (by name, rule or task: each runs, or gives its dead letter) or by default (a model whose
   * task does not apply to the event is left out), and the names no model or task answers to.
   */
  record Selection(List<ModelSpec> models, boolean explicit, List<String> unknownModels, List<String> unknownTasks) {}

  /**
   * Selects an event's models (see the class comment for the order), then adds each selected model's shadows
   * ({@code .shadows}): a shadow runs on exactly the events its primary runs on, after the primaries.
   */
  Selection select(TextEvent event) {
    Selection primaries = selectPrimaries(event);
    List<ModelSpec> withShadows = null;
    for (ModelSpec primary : primaries.models()) {
      for (ModelSpec m : models.values()) {
        if (primary.name().equals(m.shadows())) {
          if (withShadows == null) {
            withShadows = new ArrayList<>(primaries.models());
          }
          withShadows.add(m);
        }
      }
    }
    return withShadows == null ? primaries : new Selection(withShadows, primaries.explicit(),
        primaries.unknownModels(), primaries.unknownTasks());
  }

  private Selection selectPrimaries(TextEvent event) {
    List<String> named = event.getModels();
    if (named != null && !named.isEmpty()) {
      return byName(named);
    }
    if (!attributeRules.isEmpty() && event.getAttributes() != null && !event.getAttributes().isEmpty()) {
      for (Map.Entry<String, Map<String, List<String>>> rule : attributeRules.entrySet()) {
        String value = event.getAttributes().get(rule.getKey());
        List<String> names = value == null ? null : rule.getValue().get(value);
        if (names != null) {
          return byName(names);
        }
      }
    }
    List<String> tasks = event.getTasks();
    if (tasks != null && !tasks.isEmpty()) {
      return byTask(tasks);
    }
    List<ModelSpec> out = new ArrayList<>(defaults.size());
    for (String d : defaults) {
      out.add(models.get(d));
    }
    return new Selection(out, false, List.of(), List.of());
  }

  private Selection byName(List<String> names) {
    LinkedHashMap<String, ModelSpec> selected = new LinkedHashMap<>();
    LinkedHashSet<String> unknown = new LinkedHashSet<>();
    for (String raw : names) {
      String n = raw == null ? "" : raw.trim();
      // the pattern bounds the name's length before the lookup; a shadow is not selected by name
      ModelSpec m = ModelSpec.isName(n) ? models.get(n) : null;
      if (m != null && !m.isShadow()) {
        selected.putIfAbsent(n, m);
      } else { // distinct, each cut: at most the event's list (input.max-collection-items) of short strings
        unknown.add(n.length() > ModelSpec.MAX_NAME_CHARS ? n.substring(0, ModelSpec.MAX_NAME_CHARS) + "…" : n);
      }
    }
    return new Selection(new ArrayList<>(selected.values()), true, new ArrayList<>(unknown), List.of());
  }

  private Selection byTask(List<String> names) {
    LinkedHashMap<String, ModelSpec> selected = new LinkedHashMap<>();
    LinkedHashSet<String> unknown = new LinkedHashSet<>();
    for (String n : names) {
      Task t = n == null || n.length() > ModelSpec.MAX_NAME_CHARS ? null : Task.find(n);
      List<ModelSpec> ms = t == null ? List.of() : modelsOf(t);
      if (ms.isEmpty()) {
        unknown.add(n == null ? "" : n);
      }
      for (ModelSpec m : ms) {
        selected.putIfAbsent(m.name(), m);
      }
    }
    return new Selection(new ArrayList<>(selected.values()), true, List.of(), new ArrayList<>(unknown));
  }

  /** A task's default models; where none of the defaults runs it, every model of the task that is no shadow. */
  List<ModelSpec> modelsOf(Task task) {
    List<ModelSpec> out = new ArrayList<>();
    for (String d : defaults) {
      ModelSpec m = models.get(d);
      if (m.task() == task) {
        out.add(m);
      }
    }
    if (out.isEmpty()) {
      for (ModelSpec m : models.values()) {
        if (m.task() == task && !m.isShadow()) {
          out.add(m);
        }
      }
    }
    return out;
  }

  /** The UNKNOWN_MODEL dead letter's message: the first names quoted (each cut), then a count, then the job's models. */
  String unknownModelsMessage(List<String> unknown) {
    StringBuilder sb = new StringBuilder(unknown.size() == 1 ? "no model named " : "no models named ");
    for (int i = 0; i < Math.min(QUOTED, unknown.size()); i++) {
      sb.append(i == 0 ? "'" : ", '").append(unknown.get(i)).append('\'');
    }
    if (unknown.size() > QUOTED) {
      sb.append(" and ").append(unknown.size() - QUOTED).append(" more");
    }
    sb.append(" (models: ");
    String sep = "";
    for (ModelSpec m : models.values()) {
      if (!m.isShadow()) {
        sb.append(sep).append(m.name());
        sep = ", ";
      }
    }
    return sb.append("; the event ran no model)").toString();
  }
}
