package io.distilstream.operators.sql;

import io.distilstream.runtime.heads.MultipleChoiceHead;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.MultipleChoicePipeline;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.AsyncTableFunction;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeFamily;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.types.Row;

/** multiple-choice: a prompt and its choices; the best choice, and every choice's score and logit. */
final class MultipleChoiceSqlBinding extends SqlBinding<MultipleChoicePipeline.Question,
    MultipleChoicePipeline.Question, MultipleChoiceHead.Result> {
  private static final long serialVersionUID = 1L;

  @Override
  Task task() {
    return Task.MULTIPLE_CHOICE;
  }

  @Override
  Pipeline<MultipleChoicePipeline.Question, MultipleChoiceHead.Result> open(ModelDirectory dir,
      PipelineOptions options) {
    return (MultipleChoicePipeline) Pipeline.create(task(), dir, options);
  }

  @Override
  String takes() {
    return "(prompt STRING, choices ARRAY<STRING>)";
  }

  @Override
  String produces() {
    return "any of (best INT, best_choice STRING, score DOUBLE, scores ARRAY<DOUBLE>, logits ARRAY<DOUBLE>):"
        + " the 0-based index and text of the best choice, its score, and every choice's score (softmax over the"
        + " choices) and logit";
  }

  @Override
  boolean inputFits(List<LogicalType> types) {
    return types.size() == 2 && types.get(0).is(LogicalTypeFamily.CHARACTER_STRING) && stringArray(types.get(1));
  }

  /** {@code ARRAY<STRING>}. */
  static boolean stringArray(LogicalType t) {
    return t.is(LogicalTypeRoot.ARRAY) && ((ArrayType) t).getElementType().is(LogicalTypeFamily.CHARACTER_STRING);
  }

  @Override
  SqlModelSpec.Out column(String name, String n, LogicalType type) {
    switch (n) {
      case "best": return SqlModelSpec.integer(name, SqlModelSpec.Kind.BEST, type);
      case "best_choice": return SqlModelSpec.string(name, SqlModelSpec.Kind.BEST_CHOICE, type);
      case "score": return SqlModelSpec.number(name, SqlModelSpec.Kind.SCORE, type);
      case "scores": return SqlModelSpec.vector(name, SqlModelSpec.Kind.SCORES, type);
      case "logits": return SqlModelSpec.vector(name, SqlModelSpec.Kind.LOGITS, type);
      default: return null;
    }
  }

  @Override
  boolean complete(List<SqlModelSpec.Kind> kinds) {
    return kinds.contains(SqlModelSpec.Kind.BEST) || kinds.contains(SqlModelSpec.Kind.BEST_CHOICE)
        || kinds.contains(SqlModelSpec.Kind.SCORES) || kinds.contains(SqlModelSpec.Kind.LOGITS);
  }

  @Override
  MultipleChoicePipeline.Question input(RowData row, SqlModelSpec spec) {
    return new MultipleChoicePipeline.Question(SqlModelSpec.str(row, 0), strings(row, 1, Integer.MAX_VALUE));
  }

  /**
   * The strings of an array column (NULL elements kept for the pipeline to reject), null for NULL; an array over
   * {@code max} is not copied but stood for by as many empty strings, which the pipeline's count check fails.
   */
  static List<String> strings(RowData row, int i, int max) {
    if (row.getArity() <= i || row.isNullAt(i)) {
      return null;
    }
    ArrayData a = row.getArray(i);
    if (a.size() > max) {
      return java.util.Collections.nCopies(a.size(), "");
    }
    List<String> out = new ArrayList<>(a.size());
    for (int k = 0; k < a.size(); k++) {
      out.add(a.isNullAt(k) ? null : a.getString(k).toString());
    }
    return out;
  }

  @Override
  Pipeline.Prepared<MultipleChoicePipeline.Question> prepare(
      Pipeline<MultipleChoicePipeline.Question, MultipleChoiceHead.Result> pipeline,
      MultipleChoicePipeline.Question q) {
    return pipeline.prepare(q);
  }

  @Override
  Object value(SqlModelSpec.Out o, MultipleChoiceHead.Result r) {
    switch (o.kind) {
      case BEST: return SqlModelSpec.num(o.type, r.best());
      case BEST_CHOICE: return StringData.fromString(r.bestChoice());
      case SCORE: return SqlModelSpec.num(o.type, r.scores()[r.best()]);
      case SCORES: return SqlModelSpec.vector(o.type, r.scores());
      case LOGITS: return SqlModelSpec.vector(o.type, r.logits());
      default: throw new IllegalStateException(o.kind.name());
    }
  }

  @Override
  String functionName() {
    return DistilBertFunctions.MULTIPLE_CHOICE;
  }

  @Override
  AsyncTableFunction<Row> function(SqlModelSpec spec) {
    return new DistilBertFunctions.MultipleChoice(spec);
  }
}
