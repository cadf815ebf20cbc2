package io.distilstream.operators.sql;

import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.FeatureExtractionPipeline;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import java.util.List;
import org.apache.flink.table.functions.AsyncTableFunction;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.types.Row;

/** feature-extraction: a text; its sentence vector. */
final class FeatureExtractionSqlBinding extends SqlBinding.OfText<float[]> {
  private static final long serialVersionUID = 1L;

  @Override
  Task task() {
    return Task.FEATURE_EXTRACTION;
  }

  @Override
  Pipeline<String, float[]> open(ModelDirectory dir, PipelineOptions options) {
    return (FeatureExtractionPipeline) Pipeline.create(task(), dir, options);
  }

  @Override
  String produces() {
    return "(embedding ARRAY<FLOAT>)";
  }

  @Override
  SqlModelSpec.Out column(String name, String n, LogicalType type) {
    return n.equals("embedding") ? SqlModelSpec.vector(name, SqlModelSpec.Kind.EMBEDDING, type) : null;
  }

  @Override
  boolean complete(List<SqlModelSpec.Kind> kinds) {
    return kinds.contains(SqlModelSpec.Kind.EMBEDDING);
  }

  @Override
  Object value(SqlModelSpec.Out o, float[] v) {
    return SqlModelSpec.vector(o.type, v);
  }

  @Override
  String functionName() {
    return DistilBertFunctions.EMBED;
  }

  @Override
  AsyncTableFunction<Row> function(SqlModelSpec spec) {
    return new DistilBertFunctions.Embed(spec);
  }
}
