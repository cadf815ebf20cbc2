package io.distilstream.operators.sql;

import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import java.util.List;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.AsyncTableFunction;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeFamily;
import org.apache.flink.types.Row;

/** text-classification: a text, or a sentence pair; the top label, or every label. */
final class TextClassificationSqlBinding
    extends SqlBinding<TextClassificationPipeline.TextPair, String, List<LabelScore>> {
  private static final long serialVersionUID = 1L;

  @Override
  Task task() {
    return Task.TEXT_CLASSIFICATION;
  }

  @Override
  Pipeline<String, List<LabelScore>> open(ModelDirectory dir, PipelineOptions options) {
    return (TextClassificationPipeline) Pipeline.create(task(), dir, options);
  }

  @Override
  String takes() {
    return "(text STRING), or (text STRING, text_pair STRING) for sentence pairs (NLI-style)";
  }

  @Override
  String produces() {
    return "(label STRING, score DOUBLE) for the top label, or (labels ARRAY<ROW<label STRING, score DOUBLE>>)"
        + " for every label (multi-label models, top-k)";
  }

  @Override
  boolean inputFits(List<LogicalType> types) {
    return (types.size() == 1 || types.size() == 2)
        && types.stream().allMatch(t -> t.is(LogicalTypeFamily.CHARACTER_STRING));
  }

  @Override
  SqlModelSpec.Out column(String name, String n, LogicalType type) {
    return labelColumn(name, n, type);
  }

  /** label, score and labels: text-classification's columns, and zero-shot's. */
  static SqlModelSpec.Out labelColumn(String name, String n, LogicalType type) {
    switch (n) {
      case "label": return SqlModelSpec.string(name, SqlModelSpec.Kind.LABEL, type);
      case "score": return SqlModelSpec.number(name, SqlModelSpec.Kind.SCORE, type);
      case "labels": return SqlModelSpec.rows(name, SqlModelSpec.Kind.LABELS, type);
      default: return null;
    }
  }

  @Override
  boolean complete(List<SqlModelSpec.Kind> kinds) {
    return kinds.contains(SqlModelSpec.Kind.LABELS)
        || (kinds.contains(SqlModelSpec.Kind.LABEL) && kinds.contains(SqlModelSpec.Kind.SCORE));
  }

  /** The text and, with two INPUT columns, its pair (null: the text alone). */
  @Override
  TextClassificationPipeline.TextPair input(RowData row, SqlModelSpec spec) {
    return new TextClassificationPipeline.TextPair(SqlModelSpec.str(row, 0),
        spec.pairs ? SqlModelSpec.str(row, 1) : null);
  }

  @Override
  Pipeline.Prepared<String> prepare(Pipeline<String, List<LabelScore>> pipeline,
      TextClassificationPipeline.TextPair p) {
    return ((TextClassificationPipeline) pipeline).preparePair(p.text(), p.textPair());
  }

  @Override
  Object value(SqlModelSpec.Out o, List<LabelScore> labels) {
    return labelValue(o, labels);
  }

  /** A label column's value: the best label, its score, or every label as rows. */
  static Object labelValue(SqlModelSpec.Out o, List<LabelScore> labels) {
    if (o.kind == SqlModelSpec.Kind.LABELS) {
      Object[] rows = new Object[labels.size()];
      for (int r = 0; r < rows.length; r++) {
        LabelScore l = labels.get(r);
        GenericRowData fr = new GenericRowData(o.fields.size());
        for (int f = 0; f < o.fields.size(); f++) {
          SqlModelSpec.Out field = o.fields.get(f);
          fr.setField(f, field.kind == SqlModelSpec.Kind.LABEL ? StringData.fromString(l.label())
              : SqlModelSpec.num(field.type, l.score()));
        }
        rows[r] = fr;
      }
      return new GenericArrayData(rows);
    }
    if (labels.isEmpty()) {
      return null;
    }
    return o.kind == SqlModelSpec.Kind.LABEL ? StringData.fromString(labels.get(0).label())
        : SqlModelSpec.num(o.type, labels.get(0).score());
  }

  @Override
  String functionName() {
    return DistilBertFunctions.CLASSIFY;
  }

  @Override
  AsyncTableFunction<Row> function(SqlModelSpec spec) {
    return new DistilBertFunctions.Classify(spec);
  }
}
