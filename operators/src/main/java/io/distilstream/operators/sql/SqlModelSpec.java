package io.distilstream.operators.sql;

import io.distilstream.operators.ModelVersion;
import io.distilstream.runtime.heads.Answer;
import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.heads.FillMaskHead;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.heads.MultipleChoiceHead;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.MultipleChoicePipeline;
import io.distilstream.runtime.pipeline.Outcome;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.QuestionAnsweringPipeline;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import io.distilstream.runtime.pipeline.ZeroShotClassificationPipeline;
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
import org.apache.flink.table.data.ArrayData;
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
  /** text-classification with two input columns: (text, text_pair) sentence pairs. */
  final boolean pairs;

  private SqlModelSpec(Task task, String modelDir, PipelineOptions pipelineOptions, Duration maxWait, String onError,
      List<Out> outputs, boolean pairs) {
    this.task = task;
    this.modelDir = modelDir;
    this.pipelineOptions = pipelineOptions;
    this.maxWait = maxWait;
    this.onError = onError;
    this.outputs = outputs;
    this.pairs = pairs;
  }

  public Task task() { return task; }
  public String modelDir() { return modelDir; }
  public Duration maxWait() { return maxWait; }
  public PipelineOptions pipelineOptions() { return pipelineOptions; }

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
    ModelDirectory model;
    try {
      model = ModelDirectory.of(io.distilstream.operators.ModelPaths.resolve(Path.of(dir)));
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
    return new SqlModelSpec(task, model.path().toString(), p, maxWait, onError, List.of(), false);
  }

  /** The same spec with its input and output schemas checked against the task. */
  public SqlModelSpec withSchemas(ResolvedSchema input, ResolvedSchema output) {
    checkInput(input);
    if (task == Task.ZERO_SHOT_CLASSIFICATION && input.getColumns().size() == 1
        && pipelineOptions.candidateLabels().isEmpty()) {
      throw new ValidationException("distilbert task " + task + " with INPUT (text STRING) needs the option '"
          + DistilBertOptions.CANDIDATE_LABELS.key() + "' (labels separated by ';'), or a second INPUT column"
          + " candidate_labels ARRAY<STRING>");
    }
    return new SqlModelSpec(task, modelDir, pipelineOptions, maxWait, onError, mapOutput(output),
        task == Task.TEXT_CLASSIFICATION && input.getColumns().size() == 2);
  }

  // ---- schemas -------------------------------------------------------------------------------------------------

  /** The columns each task produces, as the error messages state them. */
  static String produces(Task task) {
    String tail = ", plus any of model_name, model_version, model_runtime, error (STRING)";
    switch (task) {
      case TEXT_CLASSIFICATION:
        return "(label STRING, score DOUBLE) for the top label, or (labels ARRAY<ROW<label STRING, score DOUBLE>>)"
            + " for every label (multi-label models, top-k)" + tail;
      case TOKEN_CLASSIFICATION:
        return "(entities ARRAY<ROW<entity_group STRING, word STRING, score DOUBLE, `start` INT, `end` INT>>)" + tail;
      case QUESTION_ANSWERING:
        return "(answer STRING, score DOUBLE, `start` INT, `end` INT)" + tail;
      case FEATURE_EXTRACTION:
        return "(embedding ARRAY<FLOAT>)" + tail;
      case FILL_MASK:
        return "(predictions ARRAY<ROW<score DOUBLE, token INT, token_str STRING, `sequence` STRING>>) with the"
            + " top-k candidates of every mask in text order (add a field mask_index INT to tell the masks apart), or"
            + " (predictions ARRAY<ARRAY<ROW<…>>>) with one inner array per mask" + tail;
      case ZERO_SHOT_CLASSIFICATION:
        return "(label STRING, score DOUBLE) for the best candidate label, or (labels ARRAY<ROW<label STRING, score"
            + " DOUBLE>>) for every candidate label, best first" + tail;
      case MULTIPLE_CHOICE:
        return "any of (best INT, best_choice STRING, score DOUBLE, scores ARRAY<DOUBLE>, logits ARRAY<DOUBLE>):"
            + " the 0-based index and text of the best choice, its score, and every choice's score (softmax over the"
            + " choices) and logit" + tail;
      default:
        throw new IllegalStateException();
    }
  }

  /** The input columns each task takes, as the error messages state them. */
  static String takes(Task task) {
    switch (task) {
      case TEXT_CLASSIFICATION:
        return "(text STRING), or (text STRING, text_pair STRING) for sentence pairs (NLI-style)";
      case QUESTION_ANSWERING:
        return "(question STRING, context STRING)";
      case MULTIPLE_CHOICE:
        return "(prompt STRING, choices ARRAY<STRING>)";
      case ZERO_SHOT_CLASSIFICATION:
        return "(text STRING) with the option 'candidate-labels', or (text STRING, candidate_labels ARRAY<STRING>)"
            + " with each row's labels (NULL or empty: the option's)";
      default:
        return "(text STRING)";
    }
  }

  private void checkInput(ResolvedSchema input) {
    List<Column> cols = input.getColumns();
    boolean ok;
    switch (task) {
      case TEXT_CLASSIFICATION:
      case ZERO_SHOT_CLASSIFICATION: ok = cols.size() == 1 || cols.size() == 2; break;
      case QUESTION_ANSWERING:
      case MULTIPLE_CHOICE: ok = cols.size() == 2; break;
      default: ok = cols.size() == 1; break;
    }
    for (int i = 0; ok && i < cols.size(); i++) {
      LogicalType t = cols.get(i).getDataType().getLogicalType();
      ok = (task == Task.MULTIPLE_CHOICE || task == Task.ZERO_SHOT_CLASSIFICATION) && i == 1
          ? t.is(LogicalTypeRoot.ARRAY) && ((ArrayType) t).getElementType().is(LogicalTypeFamily.CHARACTER_STRING)
          : t.is(LogicalTypeFamily.CHARACTER_STRING);
    }
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
    switch (task) {
      case TEXT_CLASSIFICATION:
      case ZERO_SHOT_CLASSIFICATION:
        if (n.equals("label")) return string(name, Kind.LABEL, type);
        if (n.equals("score")) return number(name, Kind.SCORE, type);
        if (n.equals("labels")) return rows(name, Kind.LABELS, type);
        break;
      case TOKEN_CLASSIFICATION:
        if (n.equals("entities")) return rows(name, Kind.ENTITIES, type);
        break;
      case QUESTION_ANSWERING:
        if (n.equals("answer")) return string(name, Kind.ANSWER, type);
        if (n.equals("score")) return number(name, Kind.SCORE, type);
        if (n.equals("start")) return integer(name, Kind.START, type);
        if (n.equals("end")) return integer(name, Kind.END, type);
        break;
      case FEATURE_EXTRACTION:
        if (n.equals("embedding")) return vector(name, Kind.EMBEDDING, type);
        break;
      case FILL_MASK:
        if (n.equals("predictions")) return rows(name, Kind.PREDICTIONS, type);
        break;
      case MULTIPLE_CHOICE:
        if (n.equals("best")) return integer(name, Kind.BEST, type);
        if (n.equals("best_choice")) return string(name, Kind.BEST_CHOICE, type);
        if (n.equals("score")) return number(name, Kind.SCORE, type);
        if (n.equals("scores")) return vector(name, Kind.SCORES, type);
        if (n.equals("logits")) return vector(name, Kind.LOGITS, type);
        break;
      default:
        break;
    }
    throw new ValidationException("unknown column " + name);
  }

  private static Out vector(String name, Kind kind, LogicalType type) {
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

  private Out rows(String name, Kind kind, LogicalType type) {
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

  private static Out string(String name, Kind kind, LogicalType type) {
    if (!type.is(LogicalTypeFamily.CHARACTER_STRING)) {
      throw new ValidationException(name + " must be STRING, is " + type);
    }
    return new Out(name, kind, type, List.of());
  }

  private static Out number(String name, Kind kind, LogicalType type) {
    if (!type.is(LogicalTypeRoot.DOUBLE) && !type.is(LogicalTypeRoot.FLOAT)) {
      throw new ValidationException(name + " must be DOUBLE or FLOAT, is " + type);
    }
    return new Out(name, kind, type, List.of());
  }

  private static Out integer(String name, Kind kind, LogicalType type) {
    if (!type.is(LogicalTypeRoot.INTEGER) && !type.is(LogicalTypeRoot.BIGINT)) {
      throw new ValidationException(name + " must be INT or BIGINT, is " + type);
    }
    return new Out(name, kind, type, List.of());
  }

  private void requireComplete(List<Out> outs) {
    List<Kind> kinds = new ArrayList<>();
    outs.forEach(o -> kinds.add(o.kind));
    boolean ok;
    switch (task) {
      case TEXT_CLASSIFICATION:
      case ZERO_SHOT_CLASSIFICATION:
        ok = kinds.contains(Kind.LABELS) || (kinds.contains(Kind.LABEL) && kinds.contains(Kind.SCORE));
        break;
      case TOKEN_CLASSIFICATION:
        ok = kinds.contains(Kind.ENTITIES);
        break;
      case QUESTION_ANSWERING:
        ok = kinds.contains(Kind.ANSWER) && kinds.contains(Kind.SCORE);
        break;
      case FEATURE_EXTRACTION:
        ok = kinds.contains(Kind.EMBEDDING);
        break;
      case FILL_MASK:
        ok = kinds.contains(Kind.PREDICTIONS);
        break;
      case MULTIPLE_CHOICE:
        ok = kinds.contains(Kind.BEST) || kinds.contains(Kind.BEST_CHOICE) || kinds.contains(Kind.SCORES)
            || kinds.contains(Kind.LOGITS);
        break;
      default:
        ok = false;
    }
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
   * The pipeline input for one ML_PREDICT row: the text, the question and context, the text and its pair, or the
   * prompt and its choices.
   */
  Object input(RowData row) {
    switch (task) {
      case QUESTION_ANSWERING:
        return new QuestionAnsweringPipeline.Question(str(row, 0), str(row, 1));
      case MULTIPLE_CHOICE: {
        List<String> choices = null;
        if (!row.isNullAt(1)) {
          ArrayData a = row.getArray(1);
          choices = new ArrayList<>(a.size());
          for (int i = 0; i < a.size(); i++) {
            choices.add(a.isNullAt(i) ? null : a.getString(i).toString());
          }
        }
        return new MultipleChoicePipeline.Question(str(row, 0), choices);
      }
      case ZERO_SHOT_CLASSIFICATION: {
        List<String> labels = null;
        if (row.getArity() > 1 && !row.isNullAt(1)) {
          ArrayData a = row.getArray(1);
          if (a.size() > pipelineOptions.maxCandidateLabels()) {
            // not copied: the pipeline fails it with LIMIT_EXCEEDED from the count alone
            return new ZeroShotClassificationPipeline.Request(str(row, 0),
                java.util.Collections.nCopies(a.size(), ""), null, null);
          }
          labels = new ArrayList<>(a.size());
          for (int i = 0; i < a.size(); i++) {
            labels.add(a.isNullAt(i) ? null : a.getString(i).toString());
          }
        }
        return new ZeroShotClassificationPipeline.Request(str(row, 0), labels, null, null);
      }
      case TEXT_CLASSIFICATION:
        return pairs ? new TextClassificationPipeline.TextPair(str(row, 0), str(row, 1)) : str(row, 0);
      default:
        return str(row, 0);
    }
  }

  private static String str(RowData row, int i) {
    return row.isNullAt(i) ? null : row.getString(i).toString();
  }

  /**
   * One output row for an outcome, or null when it failed and {@code on-error} is {@code skip}. Throws on a failure
   * when {@code on-error} is {@code fail}.
   */
  @SuppressWarnings("unchecked")
  RowData toRow(Outcome<Object> outcome, ModelVersion model) {
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
      row.setField(i, value(o, outcome.value()));
    }
    return row;
  }

  @SuppressWarnings("unchecked")
  private Object value(Out o, Object result) {
    switch (task) {
      case TEXT_CLASSIFICATION:
      case ZERO_SHOT_CLASSIFICATION: {
        List<LabelScore> labels = result instanceof ZeroShotClassificationPipeline.Result
            ? ((ZeroShotClassificationPipeline.Result) result).labels() : (List<LabelScore>) result;
        if (o.kind == Kind.LABELS) {
          Object[] rows = new Object[labels.size()];
          for (int r = 0; r < rows.length; r++) {
            LabelScore l = labels.get(r);
            GenericRowData fr = new GenericRowData(o.fields.size());
            for (int f = 0; f < o.fields.size(); f++) {
              Out field = o.fields.get(f);
              fr.setField(f, field.kind == Kind.LABEL ? StringData.fromString(l.label()) : num(field.type, l.score()));
            }
            rows[r] = fr;
          }
          return new GenericArrayData(rows);
        }
        if (labels.isEmpty()) {
          return null;
        }
        return o.kind == Kind.LABEL ? StringData.fromString(labels.get(0).label()) : num(o.type, labels.get(0).score());
      }
      case TOKEN_CLASSIFICATION: {
        List<Entity> entities = (List<Entity>) result;
        Object[] rows = new Object[entities.size()];
        for (int r = 0; r < rows.length; r++) {
          Entity e = entities.get(r);
          GenericRowData fr = new GenericRowData(o.fields.size());
          for (int f = 0; f < o.fields.size(); f++) {
            Out field = o.fields.get(f);
            switch (field.kind) {
              case ENTITY_GROUP: fr.setField(f, StringData.fromString(e.label())); break;
              case WORD: fr.setField(f, StringData.fromString(e.word())); break;
              case SCORE: fr.setField(f, num(field.type, e.score())); break;
              case START: fr.setField(f, num(field.type, e.start())); break;
              case END: fr.setField(f, num(field.type, e.end())); break;
              default: throw new IllegalStateException(field.kind.name());
            }
          }
          rows[r] = fr;
        }
        return new GenericArrayData(rows);
      }
      case QUESTION_ANSWERING: {
        List<Answer> answers = (List<Answer>) result;
        if (answers.isEmpty()) {
          return null;
        }
        Answer a = answers.get(0);
        switch (o.kind) {
          case ANSWER: return StringData.fromString(a.answer());
          case SCORE: return num(o.type, a.score());
          case START: return num(o.type, a.start());
          case END: return num(o.type, a.end());
          default: throw new IllegalStateException(o.kind.name());
        }
      }
      case FEATURE_EXTRACTION:
        return vector(o.type, (float[]) result);
      case FILL_MASK: {
        List<List<FillMaskHead.Prediction>> masks = (List<List<FillMaskHead.Prediction>>) result;
        if (perMask(o.type)) {
          Object[] inner = new Object[masks.size()];
          for (int m = 0; m < inner.length; m++) {
            inner[m] = new GenericArrayData(predictionRows(o, List.of(masks.get(m)), m));
          }
          return new GenericArrayData(inner);
        }
        return new GenericArrayData(predictionRows(o, masks, 0));
      }
      case MULTIPLE_CHOICE: {
        MultipleChoiceHead.Result r = (MultipleChoiceHead.Result) result;
        switch (o.kind) {
          case BEST: return num(o.type, r.best());
          case BEST_CHOICE: return StringData.fromString(r.bestChoice());
          case SCORE: return num(o.type, r.scores()[r.best()]);
          case SCORES: return vector(o.type, r.scores());
          case LOGITS: return vector(o.type, r.logits());
          default: throw new IllegalStateException(o.kind.name());
        }
      }
      default:
        throw new IllegalStateException();
    }
  }

  /** The candidates of the given masks (the first of them numbered {@code firstMask}), in order, as rows. */
  private static Object[] predictionRows(Out o, List<List<FillMaskHead.Prediction>> masks, int firstMask) {
    List<Object> rows = new ArrayList<>();
    for (int m = 0; m < masks.size(); m++) {
      for (FillMaskHead.Prediction p : masks.get(m)) {
        GenericRowData fr = new GenericRowData(o.fields.size());
        for (int f = 0; f < o.fields.size(); f++) {
          Out field = o.fields.get(f);
          switch (field.kind) {
            case SCORE: fr.setField(f, num(field.type, p.score())); break;
            case TOKEN: fr.setField(f, num(field.type, p.token())); break;
            case TOKEN_STR: fr.setField(f, StringData.fromString(p.tokenStr())); break;
            case SEQUENCE: fr.setField(f, StringData.fromString(p.sequence())); break;
            case MASK_INDEX: fr.setField(f, num(field.type, firstMask + m)); break;
            default: throw new IllegalStateException(field.kind.name());
          }
        }
        rows.add(fr);
      }
    }
    return rows.toArray();
  }

  /** A float vector as the column's ARRAY<FLOAT> or ARRAY<DOUBLE>. */
  private static GenericArrayData vector(LogicalType type, float[] v) {
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
