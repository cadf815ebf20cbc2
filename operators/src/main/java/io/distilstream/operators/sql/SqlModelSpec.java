package io.distilstream.operators.sql;

import io.distilstream.operators.ModelVersion;
import io.distilstream.runtime.hub.ModelSource;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.ModelOutputCache;
import io.distilstream.runtime.pipeline.Outcome;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import java.io.Serializable;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeFamily;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

/**
 * A {@code distilbert} model as SQL sees it: the task, the model directory, batching and head options, and how the
 * task's results map onto the model's declared {@code OUTPUT} columns. Serializable: it travels in the job graph and
 * each subtask opens its own pipeline from it. Everything is checked when it is built, so a wrong option or a wrong
 * schema fails while the statement is planned, naming what the task produces.
 */
public final class SqlModelSpec implements Serializable {
  private static final long serialVersionUID = 1L;

  /** What an output column (or a field of an array-of-rows column) carries. */
  enum Kind {
    LABEL, SCORE, LABELS, ENTITIES, ENTITY_GROUP, WORD, START, END, ANSWER, EMBEDDING,
    PREDICTIONS, TOKEN, TOKEN_STR, SEQUENCE, MASK_INDEX, BEST, BEST_CHOICE, SCORES, LOGITS,
    MODEL_NAME, MODEL_VERSION, MODEL_RUNTIME, ERROR
  }

  /** One output column, or one field of the rows inside an array column. */
  static final class Out implements Serializable {
    private static final long serialVersionUID = 1L;
    final String name;
    final Kind kind;
    final LogicalType type;
    final List<Out> fields; // for LABELS, ENTITIES and PREDICTIONS: the row's fields

    Out(String name, Kind kind, LogicalType type, List<Out> fields) {
      this.name = name;
      this.kind = kind;
      this.type = type;
      this.fields = fields;
    }
  }

  final Task task;
  final String modelDir;
  final PipelineOptions pipelineOptions;
  final Duration maxWait;
  final String onError;
  final List<Out> outputs;
  /** Two INPUT columns: for text-classification (text, text_pair) sentence pairs. */
  final boolean pairs;
  /** The output cache's bounds; null when it is off. */
  final ModelOutputCache.Bounds cache;
  /** How the TaskManager's thread budget is shared ({@code scheduling}); null: no budget. */
  final io.distilstream.runtime.batch.InferenceBudget.Policy scheduling;
  /** The budget's threads ({@code task-manager-threads}; 0 = the available processors). */
  final int budgetThreads;

  private SqlModelSpec(Task task, String modelDir, PipelineOptions pipelineOptions, Duration maxWait, String onError,
      List<Out> outputs, boolean pairs, ModelOutputCache.Bounds cache,
      io.distilstream.runtime.batch.InferenceBudget.Policy scheduling, int budgetThreads) {
    this.task = task;
    this.modelDir = modelDir;
    this.pipelineOptions = pipelineOptions;
    this.maxWait = maxWait;
    this.onError = onError;
    this.outputs = outputs;
    this.pairs = pairs;
    this.cache = cache;
    this.scheduling = scheduling;
    this.budgetThreads = budgetThreads;
  }

  public Task task() { return task; }
  public String modelDir() { return modelDir; }
  public Duration maxWait() { return maxWait; }
  public PipelineOptions pipelineOptions() { return pipelineOptions; }
  /** The output cache's bounds; null = no cache. */
  public ModelOutputCache.Bounds cache() { return cache; }

  /** Reads and checks the options (the model directory's files included); no schema yet. */
  public static SqlModelSpec fromOptions(ReadableConfig o) {
    String taskName = o.getOptional(DistilBertOptions.TASK).orElseThrow(() -> new ValidationException(
        "option 'task' is required: text-classification, token-classification, question-answering,"
            + " feature-extraction, fill-mask, multiple-choice or zero-shot-classification"));
    Task task;
    try {
      task = Task.parse(taskName);
    } catch (IllegalArgumentException e) {
      throw new ValidationException("option 'task': " + e.getMessage());
    }
    String dir = o.getOptional(DistilBertOptions.MODEL_DIR).orElseThrow(() -> new ValidationException(
        "option 'model-dir' is required: a directory with config.json, tokenizer.json or vocab.txt, model.onnx"));
    String model;
    try {
      // a Hub id is checked against the Hub and pinned to its commit now (each subtask fetches it when it opens);
      // text that is neither a path nor a Hub id fails here, saying why it is not an id
      String pinned = ModelSource.pin(dir);
      model = ModelSource.isHubId(dir) ? pinned
          : ModelDirectory.of(io.distilstream.operators.ModelPaths.resolve(Path.of(dir))).path().toString();
    } catch (RuntimeException e) {
      throw new ValidationException("option 'model-dir': " + e.getMessage(), e);
    }
    String onError = o.get(DistilBertOptions.ON_ERROR).toLowerCase(Locale.ROOT);
    if (!DistilBertOptions.ON_ERROR_VALUES.contains(onError)) {
      throw new ValidationException("option 'on-error' must be one of " + DistilBertOptions.ON_ERROR_VALUES
          + ", got '" + onError + "'");
    }
    PipelineOptions.LongText longText; // absent: the task's own default (truncate, or chunk for entities)
    try {
      longText = o.getOptional(DistilBertOptions.LONG_TEXT).map(PipelineOptions.LongText::parse).orElse(null);
    } catch (IllegalArgumentException e) {
      throw new ValidationException("option 'long-text': " + e.getMessage(), e);
    }
    Duration maxWait = o.get(DistilBertOptions.MAX_WAIT);
    if (maxWait.isNegative()) {
      throw new ValidationException("option 'max-wait' must not be negative");
    }
    PipelineOptions p;
    try {
      p = DistilBertOptions.PIPELINE_KEYS.applyTo(PipelineOptions.defaults(), o).longText(longText);
    } catch (IllegalArgumentException e) {
      throw new ValidationException("distilbert model options: " + e.getMessage(), e);
    }
    ModelOutputCache.Bounds cache = null;
    if (o.get(DistilBertOptions.CACHE_ENABLED)) {
      try {
        cache = new ModelOutputCache.Bounds(o.get(DistilBertOptions.CACHE_MAX_ENTRIES),
            o.get(DistilBertOptions.CACHE_MAX_BYTES).getBytes());
      } catch (IllegalArgumentException e) {
        throw new ValidationException("option " + e.getMessage(), e);
      }
    }
    io.distilstream.runtime.batch.InferenceBudget.Policy scheduling;
    try {
      scheduling = io.distilstream.operators.InferenceSpec.scheduling(o.get(DistilBertOptions.SCHEDULING),
          DistilBertOptions.SCHEDULING.key());
    } catch (IllegalArgumentException e) {
      throw new ValidationException("option " + e.getMessage(), e);
    }
    int budgetThreads = o.get(DistilBertOptions.TASK_MANAGER_THREADS);
    if (budgetThreads < 0) {
      throw new ValidationException("option task-manager-threads must be >= 0, got " + budgetThreads);
    }
    return new SqlModelSpec(task, model, p, maxWait, onError, List.of(), false, cache, scheduling, budgetThreads);
  }

  /** The same spec with its input and output schemas checked against the task. */
  public SqlModelSpec withSchemas(ResolvedSchema input, ResolvedSchema output) {
    checkInput(input);
    binding().checkOptions(this, input.getColumns().size());
    return new SqlModelSpec(task, modelDir, pipelineOptions, maxWait, onError, mapOutput(output),
        input.getColumns().size() == 2, cache, scheduling, budgetThreads);
  }

  // ---- schemas -------------------------------------------------------------------------------------------------

  /** The columns each task produces, as the error messages state them. */
  static String produces(Task task) {
    return SqlBinding.of(task).produces() + ", plus any of model_name, model_version, model_runtime, error (STRING)";
  }

  /** The input columns each task takes, as the error messages state them. */
  static String takes(Task task) {
    return SqlBinding.of(task).takes();
  }

  /** The task's binding. */
  SqlBinding<?, ?, ?> binding() {
    return SqlBinding.of(task);
  }

  private void checkInput(ResolvedSchema input) {
    List<LogicalType> types = new ArrayList<>();
    input.getColumns().forEach(c -> types.add(c.getDataType().getLogicalType()));
    boolean ok = !types.isEmpty() && binding().inputFits(types);
    if (!ok) {
      throw new ValidationException("distilbert task " + task + " takes INPUT " + takes(task) + ", got "
          + describe(input));
    }
  }

  private List<Out> mapOutput(ResolvedSchema output) {
    List<Out> outs = new ArrayList<>();
    try {
      for (Column c : output.getColumns()) {
        outs.add(column(c.getName(), c.getDataType().getLogicalType()));
      }
      requireComplete(outs);
    } catch (ValidationException e) {
      throw new ValidationException("distilbert task " + task + ": OUTPUT " + describe(output) + " does not fit: "
          + e.getMessage() + ". The task produces " + produces(task));
    }
    return outs;
  }

  private Out column(String name, LogicalType type) {
    String n = name.toLowerCase(Locale.ROOT);
    switch (n) {
      case "model_name": return string(name, Kind.MODEL_NAME, type);
      case "model_version": return string(name, Kind.MODEL_VERSION, type);
      case "model_runtime": return string(name, Kind.MODEL_RUNTIME, type);
      case "error": return string(name, Kind.ERROR, type);
      default: break;
    }
    Out o = binding().column(name, n, type);
    if (o != null) {
      return o;
    }
    throw new ValidationException("unknown column " + name);
  }

  static Out vector(String name, Kind kind, LogicalType type) {
    if (type.is(LogicalTypeRoot.ARRAY)) {
      LogicalType e = ((ArrayType) type).getElementType();
      if (e.is(LogicalTypeRoot.FLOAT) || e.is(LogicalTypeRoot.DOUBLE)) {
        return new Out(name, kind, type, List.of());
      }
    }
    throw new ValidationException("column " + name + " must be ARRAY<FLOAT> or ARRAY<DOUBLE>, is " + type);
  }

  /** Whether a fill-mask column holds one inner array per mask ({@code ARRAY<ARRAY<ROW<…>>>}). */
  static boolean perMask(LogicalType type) {
    return ((ArrayType) type).getElementType().is(LogicalTypeRoot.ARRAY);
  }

  static Out rows(String name, Kind kind, LogicalType type) {
    LogicalType element = type.is(LogicalTypeRoot.ARRAY) ? ((ArrayType) type).getElementType() : null;
    if (kind == Kind.PREDICTIONS && element != null && element.is(LogicalTypeRoot.ARRAY)) {
      element = ((ArrayType) element).getElementType(); // ARRAY<ARRAY<ROW<…>>>: one inner array per mask
    }
    if (element == null || !element.is(LogicalTypeRoot.ROW)) {
      throw new ValidationException("column " + name + " must be an ARRAY<ROW<…>>"
          + (kind == Kind.PREDICTIONS ? " or ARRAY<ARRAY<ROW<…>>>" : "") + ", is " + type);
    }
    RowType row = (RowType) element;
    List<Out> fields = new ArrayList<>();
    for (RowType.RowField f : row.getFields()) {
      String n = f.getName().toLowerCase(Locale.ROOT);
      LogicalType t = f.getType();
      Out o;
      if (n.equals("score")) {
        o = number(f.getName(), Kind.SCORE, t);
      } else if (kind == Kind.LABELS && n.equals("label")) {
        o = string(f.getName(), Kind.LABEL, t);
      } else if (kind == Kind.ENTITIES && (n.equals("entity_group") || n.equals("label") || n.equals("entity"))) {
        o = string(f.getName(), Kind.ENTITY_GROUP, t);
      } else if (kind == Kind.ENTITIES && n.equals("word")) {
        o = string(f.getName(), Kind.WORD, t);
      } else if (kind == Kind.ENTITIES && n.equals("start")) {
        o = integer(f.getName(), Kind.START, t);
      } else if (kind == Kind.ENTITIES && n.equals("end")) {
        o = integer(f.getName(), Kind.END, t);
      } else if (kind == Kind.PREDICTIONS && n.equals("token")) {
        o = integer(f.getName(), Kind.TOKEN, t);
      } else if (kind == Kind.PREDICTIONS && n.equals("token_str")) {
        o = string(f.getName(), Kind.TOKEN_STR, t);
      } else if (kind == Kind.PREDICTIONS && n.equals("sequence")) {
        o = string(f.getName(), Kind.SEQUENCE, t);
      } else if (kind == Kind.PREDICTIONS && n.equals("mask_index")) {
        o = integer(f.getName(), Kind.MASK_INDEX, t);
      } else {
        throw new ValidationException("unknown field " + f.getName() + " in column " + name);
      }
      fields.add(o);
    }
    return new Out(name, kind, type, fields);
  }

  static Out string(String name, Kind kind, LogicalType type) {
    if (!type.is(LogicalTypeFamily.CHARACTER_STRING)) {
      throw new ValidationException(name + " must be STRING, is " + type);
    }
    return new Out(name, kind, type, List.of());
  }

  static Out number(String name, Kind kind, LogicalType type) {
    if (!type.is(LogicalTypeRoot.DOUBLE) && !type.is(LogicalTypeRoot.FLOAT)) {
      throw new ValidationException(name + " must be DOUBLE or FLOAT, is " + type);
    }
    return new Out(name, kind, type, List.of());
  }

  static Out integer(String name, Kind kind, LogicalType type) {
    if (!type.is(LogicalTypeRoot.INTEGER) && !type.is(LogicalTypeRoot.BIGINT)) {
      throw new ValidationException(name + " must be INT or BIGINT, is " + type);
    }
    return new Out(name, kind, type, List.of());
  }

  private void requireComplete(List<Out> outs) {
    List<Kind> kinds = new ArrayList<>();
    outs.forEach(o -> kinds.add(o.kind));
    boolean ok = binding().complete(kinds);
    if (!ok) {
      throw new ValidationException("the task's result columns are missing");
    }
    for (Out o : outs) {
      if (kinds.indexOf(o.kind) != kinds.lastIndexOf(o.kind)) {
        throw new ValidationException("two columns carry " + o.kind.name().toLowerCase(Locale.ROOT));
      }
    }
  }

  static String describe(ResolvedSchema schema) {
    List<String> cols = new ArrayList<>();
    for (Column c : schema.getColumns()) {
      cols.add(c.getName() + " " + c.getDataType().getLogicalType().asSummaryString());
    }
    return "(" + String.join(", ", cols) + ")";
  }

  // ---- results -------------------------------------------------------------------------------------------------

  /**
   * What one ML_PREDICT row gives the task: the text, the question and context, the text and its pair, the prompt
   * and its choices, or the text and its candidate labels.
   */
  Object input(RowData row) {
    return binding().input(row, this);
  }

  static String str(RowData row, int i) {
    return row.isNullAt(i) ? null : row.getString(i).toString();
  }

  /**
   * One output row for an outcome of the task's pipeline, or null when it failed and {@code on-error} is
   * {@code skip}. Throws on a failure when {@code on-error} is {@code fail}.
   */
  <O> RowData toRow(SqlBinding<?, ?, O> binding, Outcome<O> outcome, ModelVersion model) {
    if (!outcome.isSuccess()) {
      switch (onError) {
        case "skip": return null;
        case "fail": throw new IllegalStateException("distilbert " + task + ": " + outcome.reason() + ": "
            + outcome.message());
        default: break;
      }
    }
    GenericRowData row = new GenericRowData(outputs.size());
    for (int i = 0; i < outputs.size(); i++) {
      Out o = outputs.get(i);
      switch (o.kind) {
        case MODEL_NAME: row.setField(i, StringData.fromString(model.name())); continue;
        case MODEL_VERSION: row.setField(i, StringData.fromString(model.version())); continue;
        case MODEL_RUNTIME: row.setField(i, StringData.fromString(model.runtime())); continue;
        case ERROR:
          row.setField(i, outcome.isSuccess() ? null
              : StringData.fromString(outcome.reason() + ": " + outcome.message()));
          continue;
        default: break;
      }
      if (!outcome.isSuccess()) {
        continue; // null
      }
      row.setField(i, binding.value(o, outcome.value()));
    }
    return row;
  }

  /** A float vector as the column's ARRAY<FLOAT> or ARRAY<DOUBLE>. */
  static GenericArrayData vector(LogicalType type, float[] v) {
    if (((ArrayType) type).getElementType().is(LogicalTypeRoot.FLOAT)) {
      return new GenericArrayData(v.clone());
    }
    double[] d = new double[v.length];
    for (int k = 0; k < v.length; k++) {
      d[k] = v[k];
    }
    return new GenericArrayData(d);
  }

  static Object num(LogicalType t, double v) {
    switch (t.getTypeRoot()) {
      case FLOAT: return (float) v;
      case DOUBLE: return v;
      case INTEGER: return (int) v;
      case BIGINT: return (long) v;
      default: throw new IllegalStateException("not a number type: " + t);
    }
  }
}
