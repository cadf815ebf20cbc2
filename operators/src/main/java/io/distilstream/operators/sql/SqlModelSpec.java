package io.distilstream.operators.sql;

import io.distilstream.operators.ModelVersion;
import io.distilstream.runtime.batch.BatchingOptions;
import io.distilstream.runtime.heads.Answer;
import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.heads.TokenClassificationHead;
import io.distilstream.runtime.model.Device;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.SessionOptions;
import io.distilstream.runtime.pipeline.Outcome;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.QuestionAnsweringPipeline;
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
    MODEL_NAME, MODEL_VERSION, MODEL_RUNTIME, ERROR
  }

  /** One output column, or one field of the rows inside an array column. */
  static final class Out implements Serializable {
    private static final long serialVersionUID = 1L;
    final String name;
    final Kind kind;
    final LogicalType type;
    final List<Out> fields; // for LABELS and ENTITIES: the row's fields

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

  private SqlModelSpec(Task task, String modelDir, PipelineOptions pipelineOptions, Duration maxWait, String onError,
      List<Out> outputs) {
    this.task = task;
    this.modelDir = modelDir;
    this.pipelineOptions = pipelineOptions;
    this.maxWait = maxWait;
    this.onError = onError;
    this.outputs = outputs;
  }

  public Task task() { return task; }
  public String modelDir() { return modelDir; }
  public Duration maxWait() { return maxWait; }
  public PipelineOptions pipelineOptions() { return pipelineOptions; }

  /** Reads and checks the options (the model directory's files included); no schema yet. */
  public static SqlModelSpec fromOptions(ReadableConfig o) {
    String taskName = o.getOptional(DistilBertOptions.TASK).orElseThrow(() -> new ValidationException(
        "option 'task' is required: text-classification, token-classification, question-answering or"
            + " feature-extraction"));
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
      p = PipelineOptions.defaults()
          .session(SessionOptions.defaults()
              .device(Device.parse(o.get(DistilBertOptions.DEVICE)))
              .intraOpThreads(o.get(DistilBertOptions.INTRA_OP_THREADS)))
          .batching(new BatchingOptions(o.get(DistilBertOptions.MAX_BATCH_SIZE), o.get(DistilBertOptions.MAX_TOKENS),
              o.get(DistilBertOptions.MAX_PADDING_RATIO)))
          .maxLength(o.get(DistilBertOptions.MAX_LENGTH))
          .longText(longText)
          .topK(o.get(DistilBertOptions.TOP_K))
          .aggregation(TokenClassificationHead.Aggregation.parse(o.get(DistilBertOptions.AGGREGATION)))
          .stride(o.get(DistilBertOptions.STRIDE))
          .docStride(o.get(DistilBertOptions.DOC_STRIDE))
          .maxAnswerLength(o.get(DistilBertOptions.MAX_ANSWER_LEN));
    } catch (IllegalArgumentException e) {
      throw new ValidationException("distilbert model options: " + e.getMessage(), e);
    }
    return new SqlModelSpec(task, model.path().toString(), p, maxWait, onError, List.of());
  }

  /** The same spec with its input and output schemas checked against the task. */
  public SqlModelSpec withSchemas(ResolvedSchema input, ResolvedSchema output) {
    checkInput(input);
    return new SqlModelSpec(task, modelDir, pipelineOptions, maxWait, onError, mapOutput(output));
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
      default:
        throw new IllegalStateException();
    }
  }

  private void checkInput(ResolvedSchema input) {
    List<Column> cols = input.getColumns();
    int wanted = task == Task.QUESTION_ANSWERING ? 2 : 1;
    boolean ok = cols.size() == wanted;
    for (Column c : cols) {
      ok &= c.getDataType().getLogicalType().is(LogicalTypeFamily.CHARACTER_STRING);
    }
    if (!ok) {
      throw new ValidationException("distilbert task " + task + " takes INPUT " + (wanted == 2
          ? "(question STRING, context STRING)" : "(text STRING)") + ", got " + describe(input));
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
        if (n.equals("embedding")) {
          if (type.is(LogicalTypeRoot.ARRAY)) {
            LogicalType e = ((ArrayType) type).getElementType();
            if (e.is(LogicalTypeRoot.FLOAT) || e.is(LogicalTypeRoot.DOUBLE)) {
              return new Out(name, Kind.EMBEDDING, type, List.of());
            }
          }
          throw new ValidationException("column " + name + " must be ARRAY<FLOAT> (or ARRAY<DOUBLE>), is " + type);
        }
        break;
      default:
        break;
    }
    throw new ValidationException("unknown column " + name);
  }

  private Out rows(String name, Kind kind, LogicalType type) {
    if (!type.is(LogicalTypeRoot.ARRAY) || !((ArrayType) type).getElementType().is(LogicalTypeRoot.ROW)) {
      throw new ValidationException("column " + name + " must be an ARRAY<ROW<…>>, is " + type);
    }
    RowType row = (RowType) ((ArrayType) type).getElementType();
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

  /** The pipeline input for one ML_PREDICT row: the text, or the question and context. */
  Object input(RowData row) {
    if (task == Task.QUESTION_ANSWERING) {
      return new QuestionAnsweringPipeline.Question(str(row, 0), str(row, 1));
    }
    return str(row, 0);
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
      case TEXT_CLASSIFICATION: {
        List<LabelScore> labels = (List<LabelScore>) result;
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
      case FEATURE_EXTRACTION: {
        float[] v = (float[]) result;
        if (((ArrayType) o.type).getElementType().is(LogicalTypeRoot.FLOAT)) {
          return new GenericArrayData(v.clone());
        }
        double[] d = new double[v.length];
        for (int k = 0; k < v.length; k++) {
          d[k] = v[k];
        }
        return new GenericArrayData(d);
      }
      default:
        throw new IllegalStateException();
    }
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
