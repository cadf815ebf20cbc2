package io.distilstream.operators.sql;

import io.distilstream.runtime.heads.FillMaskHead;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.FillMaskPipeline;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.AsyncTableFunction;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.types.Row;

/** fill-mask: a text with masks; every mask's candidates, flat or one array per mask. */
final class FillMaskSqlBinding extends SqlBinding.OfText<List<List<FillMaskHead.Prediction>>> {
  private static final long serialVersionUID = 1L;

  @Override
  Task task() {
    return Task.FILL_MASK;
  }

  @Override
  Pipeline<String, List<List<FillMaskHead.Prediction>>> open(ModelDirectory dir, PipelineOptions options) {
    return (FillMaskPipeline) Pipeline.create(task(), dir, options);
  }

  @Override
  String produces() {
    return "(predictions ARRAY<ROW<score DOUBLE, token INT, token_str STRING, `sequence` STRING>>) with the"
        + " top-k candidates of every mask in text order (add a field mask_index INT to tell the masks apart), or"
        + " (predictions ARRAY<ARRAY<ROW<…>>>) with one inner array per mask";
  }

  @Override
  SqlModelSpec.Out column(String name, String n, LogicalType type) {
    return n.equals("predictions") ? SqlModelSpec.rows(name, SqlModelSpec.Kind.PREDICTIONS, type) : null;
  }

  @Override
  boolean complete(List<SqlModelSpec.Kind> kinds) {
    return kinds.contains(SqlModelSpec.Kind.PREDICTIONS);
  }

  @Override
  Object value(SqlModelSpec.Out o, List<List<FillMaskHead.Prediction>> masks) {
    if (SqlModelSpec.perMask(o.type)) {
      Object[] inner = new Object[masks.size()];
      for (int m = 0; m < inner.length; m++) {
        inner[m] = new GenericArrayData(predictionRows(o, List.of(masks.get(m)), m));
      }
      return new GenericArrayData(inner);
    }
    return new GenericArrayData(predictionRows(o, masks, 0));
  }

  /** The candidates of the given masks (the first of them numbered {@code firstMask}), in order, as rows. */
  private static Object[] predictionRows(SqlModelSpec.Out o, List<List<FillMaskHead.Prediction>> masks,
      int firstMask) {
    List<Object> rows = new ArrayList<>();
    for (int m = 0; m < masks.size(); m++) {
      for (FillMaskHead.Prediction p : masks.get(m)) {
        GenericRowData fr = new GenericRowData(o.fields.size());
        for (int f = 0; f < o.fields.size(); f++) {
          SqlModelSpec.Out field = o.fields.get(f);
          switch (field.kind) {
            case SCORE: fr.setField(f, SqlModelSpec.num(field.type, p.score())); break;
            case TOKEN: fr.setField(f, SqlModelSpec.num(field.type, p.token())); break;
            case TOKEN_STR: fr.setField(f, StringData.fromString(p.tokenStr())); break;
            case SEQUENCE: fr.setField(f, StringData.fromString(p.sequence())); break;
            case MASK_INDEX: fr.setField(f, SqlModelSpec.num(field.type, firstMask + m)); break;
            default: throw new IllegalStateException(field.kind.name());
          }
        }
        rows.add(fr);
      }
    }
    return rows.toArray();
  }

  @Override
  String functionName() {
    return DistilBertFunctions.FILL_MASK;
  }

  @Override
  AsyncTableFunction<Row> function(SqlModelSpec spec) {
    return new DistilBertFunctions.FillMask(spec);
  }
}
