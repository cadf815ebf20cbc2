package io.distilstream.operators.sql;

import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.TokenClassificationPipeline;
import java.util.List;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.AsyncTableFunction;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.types.Row;

/** token-classification: a text; its entity spans as rows. */
final class TokenClassificationSqlBinding extends SqlBinding.OfText<List<Entity>> {
  private static final long serialVersionUID = 1L;

  @Override
  Task task() {
    return Task.TOKEN_CLASSIFICATION;
  }

  @Override
  Pipeline<String, List<Entity>> open(ModelDirectory dir, PipelineOptions options) {
    return (TokenClassificationPipeline) Pipeline.create(task(), dir, options);
  }

  @Override
  String produces() {
    return "(entities ARRAY<ROW<entity_group STRING, word STRING, score DOUBLE, `start` INT, `end` INT>>)";
  }

  @Override
  SqlModelSpec.Out column(String name, String n, LogicalType type) {
    return n.equals("entities") ? SqlModelSpec.rows(name, SqlModelSpec.Kind.ENTITIES, type) : null;
  }

  @Override
  boolean complete(List<SqlModelSpec.Kind> kinds) {
    return kinds.contains(SqlModelSpec.Kind.ENTITIES);
  }

  @Override
  Object value(SqlModelSpec.Out o, List<Entity> entities) {
    Object[] rows = new Object[entities.size()];
    for (int r = 0; r < rows.length; r++) {
      Entity e = entities.get(r);
      GenericRowData fr = new GenericRowData(o.fields.size());
      for (int f = 0; f < o.fields.size(); f++) {
        SqlModelSpec.Out field = o.fields.get(f);
        switch (field.kind) {
          case ENTITY_GROUP: fr.setField(f, StringData.fromString(e.label())); break;
          case WORD: fr.setField(f, StringData.fromString(e.word())); break;
          case SCORE: fr.setField(f, SqlModelSpec.num(field.type, e.score())); break;
          case START: fr.setField(f, SqlModelSpec.num(field.type, e.start())); break;
          case END: fr.setField(f, SqlModelSpec.num(field.type, e.end())); break;
          default: throw new IllegalStateException(field.kind.name());
        }
      }
      rows[r] = fr;
    }
    return new GenericArrayData(rows);
  }

  @Override
  String functionName() {
    return DistilBertFunctions.ENTITIES;
  }

  @Override
  AsyncTableFunction<Row> function(SqlModelSpec spec) {
    return new DistilBertFunctions.Entities(spec);
  }
}
