package io.distilstream.operators.sql;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.operators.ModelVersion;
import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.Outcome;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.TokenClassificationPipeline;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.RowData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The SQL side of a distilbert model without a cluster: options, schemas, and rows built from real results. */
class SqlModelSpecTest {
  static Path model(String name) {
    Path p = Paths.get(System.getProperty("distilstream.shared", "../../shared"), "models", name);
    assertThat(p).isDirectory();
    return p.toAbsolutePath().normalize();
  }

  static SqlModelSpec spec(String task, Path dir, String... kv) {
    Map<String, String> m = new HashMap<>();
    m.put("task", task);
    m.put("model-dir", dir.toString());
    for (int i = 0; i < kv.length; i += 2) {
      m.put(kv[i], kv[i + 1]);
    }
    return SqlModelSpec.fromOptions(Configuration.fromMap(m));
  }

  static ResolvedSchema schema(Object... nameType) {
    Column[] cols = new Column[nameType.length / 2];
    for (int i = 0; i < cols.length; i++) {
      cols[i] = Column.physical((String) nameType[2 * i], (org.apache.flink.table.types.DataType) nameType[2 * i + 1]);
    }
    return ResolvedSchema.of(cols);
  }

  @Test
  void entityRowsFollowTheDeclaredFieldsAndTypes() {
    Path dir = model("tiny-distilbert-token-classification");
    SqlModelSpec s = spec("ner", dir).withSchemas(schema("text", DataTypes.STRING()),
        schema("entities", DataTypes.ARRAY(DataTypes.ROW(DataTypes.FIELD("end", DataTypes.BIGINT()),
            DataTypes.FIELD("score", DataTypes.FLOAT()), DataTypes.FIELD("label", DataTypes.STRING()))),
            "model_version", DataTypes.STRING()));
    String text = "Angela Merkel visited Paris and Berlin with Apple engineers";
    try (TokenClassificationPipeline p = Pipeline.tokenClassification(dir, PipelineOptions.defaults())) {
      List<Entity> expected = p.run(text);
      assertThat(expected).isNotEmpty();
      ModelVersion v = ModelVersion.of(ModelDirectory.of(dir));
      RowData row = s.toRow(Outcome.success((Object) expected), v);
      ArrayData entities = row.getArray(0);
      assertThat(entities.size()).isEqualTo(expected.size());
      for (int i = 0; i < expected.size(); i++) {
        RowData e = entities.getRow(i, 3);
        assertThat(e.getLong(0)).isEqualTo(expected.get(i).end());
        assertThat(e.getFloat(1)).isEqualTo(expected.get(i).score());
        assertThat(e.getString(2).toString()).isEqualTo(expected.get(i).entityGroup());
      }
      assertThat(row.getString(1).toString()).isEqualTo(v.version());
    }
  }

  @Test
  void anInputWithoutAResultIsANullRowASkippedRowOrAFailure() {
    Path dir = model("tiny-distilbert-sequence-classification");
    ResolvedSchema in = schema("text", DataTypes.STRING());
    ResolvedSchema out = schema("label", DataTypes.STRING(), "score", DataTypes.DOUBLE(), "error", DataTypes.STRING());
    ModelVersion v = ModelVersion.of(ModelDirectory.of(dir));
    Outcome<Object> failed;
    try (var p = Pipeline.textClassification(dir, PipelineOptions.defaults())) {
      @SuppressWarnings("unchecked")
      Outcome<Object> o = (Outcome<Object>) (Outcome<?>) p.runAll(java.util.Arrays.asList((String) null)).get(0);
      failed = o;
    }
    assertThat(failed.isSuccess()).isFalse();
    RowData nulls = spec("text-classification", dir).withSchemas(in, out).toRow(failed, v);
    assertThat(nulls.isNullAt(0)).isTrue();
    assertThat(nulls.isNullAt(1)).isTrue();
    assertThat(nulls.getString(2).toString()).startsWith("INVALID_INPUT");
    assertThat(spec("text-classification", dir, "on-error", "skip").withSchemas(in, out).toRow(failed, v)).isNull();
    assertThatThrownBy(() -> spec("text-classification", dir, "on-error", "fail").withSchemas(in, out)
        .toRow(failed, v)).hasMessageContaining("INVALID_INPUT");
  }

  @Test
  void wrongSchemasAndOptionsAreRejectedWithWhatTheTaskTakes(@TempDir Path tmp) throws Exception {
    Path dir = model("tiny-distilbert-question-answering");
    assertThatThrownBy(() -> spec("question-answering", dir).withSchemas(schema("text", DataTypes.STRING()),
        schema("answer", DataTypes.STRING(), "score", DataTypes.DOUBLE())))
        .isInstanceOf(ValidationException.class)
        .hasMessageContaining("takes INPUT (question STRING, context STRING), got (text STRING)");
    assertThatThrownBy(() -> spec("question-answering", dir).withSchemas(
        schema("q", DataTypes.STRING(), "c", DataTypes.STRING()),
        schema("answer", DataTypes.STRING(), "score", DataTypes.INT())))
        .hasMessageContaining("score must be DOUBLE or FLOAT").hasMessageContaining("The task produces (answer");
    assertThatThrownBy(() -> spec("question-answering", dir).withSchemas(
        schema("q", DataTypes.STRING(), "c", DataTypes.STRING()), schema("answer", DataTypes.STRING())))
        .hasMessageContaining("the task's result columns are missing");
    assertThatThrownBy(() -> spec("summarization", dir)).hasMessageContaining("unknown task 'summarization'");
    assertThatThrownBy(() -> spec("qa", dir, "on-error", "ignore")).hasMessageContaining("'on-error'");
    assertThatThrownBy(() -> spec("qa", dir, "max-batch-size", "0")).hasMessageContaining("max-batch-size");
    // a pointer file names the directory
    Path pointer = tmp.resolve("CURRENT");
    Files.writeString(pointer, dir + "\n");
    assertThat(spec("qa", pointer).modelDir()).isEqualTo(dir.toString());
  }
}
