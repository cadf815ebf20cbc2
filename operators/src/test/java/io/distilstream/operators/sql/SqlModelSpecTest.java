package io.distilstream.operators.sql;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.operators.ModelVersion;
import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.heads.FillMaskHead;
import io.distilstream.runtime.heads.MultipleChoiceHead;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.FillMaskPipeline;
import io.distilstream.runtime.pipeline.MultipleChoicePipeline;
import io.distilstream.runtime.pipeline.Outcome;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import io.distilstream.runtime.pipeline.TokenClassificationPipeline;
import io.distilstream.runtime.pipeline.ZeroShotClassificationPipeline;
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
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
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
      RowData row = s.toRow(new TokenClassificationSqlBinding(), Outcome.success(expected), v);
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
    Outcome<List<io.distilstream.runtime.heads.LabelScore>> failed;
    try (var p = Pipeline.textClassification(dir, PipelineOptions.defaults())) {
      failed = p.runAll(java.util.Arrays.asList((String) null)).get(0);
    }
    TextClassificationSqlBinding b = new TextClassificationSqlBinding();
    assertThat(failed.isSuccess()).isFalse();
    RowData nulls = spec("text-classification", dir).withSchemas(in, out).toRow(b, failed, v);
    assertThat(nulls.isNullAt(0)).isTrue();
    assertThat(nulls.isNullAt(1)).isTrue();
    assertThat(nulls.getString(2).toString()).startsWith("INVALID_INPUT");
    assertThat(spec("text-classification", dir, "on-error", "skip").withSchemas(in, out).toRow(b, failed, v)).isNull();
    assertThatThrownBy(() -> spec("text-classification", dir, "on-error", "fail").withSchemas(in, out)
        .toRow(b, failed, v)).hasMessageContaining("INVALID_INPUT");
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
    // neither a local path nor a Hub id (ORG/NAME[@REVISION]): says why, before any request
    assertThatThrownBy(() -> spec("qa", Path.of("org/na me"))).isInstanceOf(ValidationException.class)
        .hasMessageContaining("option 'model-dir'").hasMessageContaining("'na me' is not a Hub name");
  }

  static ResolvedSchema predictionsOf(boolean perMask) {
    org.apache.flink.table.types.DataType row = DataTypes.ROW(DataTypes.FIELD("mask_index", DataTypes.INT()),
        DataTypes.FIELD("score", DataTypes.DOUBLE()), DataTypes.FIELD("token", DataTypes.BIGINT()),
        DataTypes.FIELD("token_str", DataTypes.STRING()), DataTypes.FIELD("sequence", DataTypes.STRING()));
    return schema("predictions", perMask ? DataTypes.ARRAY(DataTypes.ARRAY(row)) : DataTypes.ARRAY(row),
        "error", DataTypes.STRING());
  }

  @Test
  void fillMaskRowsFlatWithTheMaskIndexOrOneArrayPerMask() {
    Path dir = model("tiny-distilbert-masked-lm");
    ResolvedSchema in = schema("text", DataTypes.STRING());
    ModelVersion v = ModelVersion.of(ModelDirectory.of(dir));
    try (FillMaskPipeline p = Pipeline.fillMask(dir, PipelineOptions.defaults().topK(3))) {
      List<Outcome<List<List<FillMaskHead.Prediction>>>> out = p.runAll(java.util.Arrays.asList(
          "paris is the [MASK] of france.", "the [MASK] sat on the [MASK].", "no mask here"));
      List<List<FillMaskHead.Prediction>> two = out.get(1).value();
      assertThat(two).hasSize(2);

      RowData flat = spec("fill-mask", dir).withSchemas(in, predictionsOf(false))
          .toRow(new FillMaskSqlBinding(), out.get(1), v);
      ArrayData rows = flat.getArray(0);
      assertThat(rows.size()).isEqualTo(6);
      for (int i = 0; i < 6; i++) {
        RowData r = rows.getRow(i, 5);
        FillMaskHead.Prediction e = two.get(i / 3).get(i % 3);
        assertThat(r.getInt(0)).isEqualTo(i / 3);
        assertThat(r.getDouble(1)).isEqualTo(e.score());
        assertThat(r.getLong(2)).isEqualTo(e.token());
        assertThat(r.getString(3).toString()).isEqualTo(e.tokenStr());
        assertThat(r.getString(4).toString()).isEqualTo(e.sequence());
      }
      assertThat(flat.isNullAt(1)).isTrue();

      RowData nested = spec("fill-mask", dir).withSchemas(in, predictionsOf(true))
          .toRow(new FillMaskSqlBinding(), out.get(1), v);
      ArrayData masks = nested.getArray(0);
      assertThat(masks.size()).isEqualTo(2);
      for (int m = 0; m < 2; m++) {
        ArrayData candidates = masks.getArray(m);
        assertThat(candidates.size()).isEqualTo(3);
        for (int k = 0; k < 3; k++) {
          assertThat(candidates.getRow(k, 5).getInt(0)).isEqualTo(m);
          assertThat(candidates.getRow(k, 5).getString(4).toString()).isEqualTo(two.get(m).get(k).sequence());
        }
      }
      // one mask: the single list, as Hugging Face gives it
      RowData one = spec("fill-mask", dir).withSchemas(in, predictionsOf(false))
          .toRow(new FillMaskSqlBinding(), out.get(0), v);
      assertThat(one.getArray(0).size()).isEqualTo(3);
      assertThat(one.getArray(0).getRow(0, 5).getString(4).toString())
          .isEqualTo(out.get(0).value().get(0).get(0).sequence());

      // a text without a mask: on-error as for any input without a result
      assertThat(out.get(2).isSuccess()).isFalse();
      RowData nulls = spec("fill-mask", dir).withSchemas(in, predictionsOf(false))
          .toRow(new FillMaskSqlBinding(), out.get(2), v);
      assertThat(nulls.isNullAt(0)).isTrue();
      assertThat(nulls.getString(1).toString()).startsWith("INVALID_INPUT").contains("no mask token [MASK]");
      assertThat(spec("fill-mask", dir, "on-error", "skip").withSchemas(in, predictionsOf(true))
          .toRow(new FillMaskSqlBinding(), out.get(2), v)).isNull();
      assertThatThrownBy(() -> spec("fill-mask", dir, "on-error", "fail").withSchemas(in, predictionsOf(false))
          .toRow(new FillMaskSqlBinding(), out.get(2), v)).hasMessageContaining("no mask token");
    }
  }

  @Test
  void zeroShotColumnsInputsAndOptions() {
    Path dir = model("tiny-distilbert-sequence-classification");
    ResolvedSchema text = schema("text", DataTypes.STRING());
    ResolvedSchema withLabels = schema("text", DataTypes.STRING(), "candidate_labels",
        DataTypes.ARRAY(DataTypes.STRING()));
    SqlModelSpec s = spec("zero-shot-classification", dir, "candidate-labels", "spam;ham", "max-candidate-labels", "3")
        .withSchemas(withLabels, schema("label", DataTypes.STRING(), "score", DataTypes.DOUBLE(),
            "labels", DataTypes.ARRAY(DataTypes.ROW(DataTypes.FIELD("label", DataTypes.STRING()),
                DataTypes.FIELD("score", DataTypes.FLOAT())))));
    assertThat(s.pipelineOptions().candidateLabels()).containsExactly("spam", "ham");
    ZeroShotClassificationPipeline.Result r = new ZeroShotClassificationPipeline.Result("t",
        List.of(new io.distilstream.runtime.heads.LabelScore("ham", 0.7f),
            new io.distilstream.runtime.heads.LabelScore("spam", 0.3f)));
    RowData row = s.toRow(new ZeroShotSqlBinding(), Outcome.success(r),
        ModelVersion.of(ModelDirectory.of(dir)));
    assertThat(row.getString(0).toString()).isEqualTo("ham");
    assertThat(row.getDouble(1)).isEqualTo(0.7f);
    assertThat(row.getArray(2).size()).isEqualTo(2);
    assertThat(row.getArray(2).getRow(1, 2).getString(0).toString()).isEqualTo("spam");

    // the input: the row's labels, or null (the option's) for a NULL column
    assertThat(s.input(GenericRowData.of(StringData.fromString("t"), new GenericArrayData(new Object[] {
        StringData.fromString("a"), StringData.fromString("b")}))))
        .isEqualTo(new ZeroShotClassificationPipeline.Request("t", List.of("a", "b"), null, null));
    assertThat(s.input(GenericRowData.of(StringData.fromString("t"), null)))
        .isEqualTo(new ZeroShotClassificationPipeline.Request("t", null, null, null));
    // over the cap: not copied, the pipeline's count check fails it
    Object many = s.input(GenericRowData.of(StringData.fromString("t"), new GenericArrayData(new Object[] {
        StringData.fromString("a"), StringData.fromString("b"), StringData.fromString("c"),
        StringData.fromString("d")})));
    assertThat(((ZeroShotClassificationPipeline.Request) many).candidateLabels()).hasSize(4);

    assertThatThrownBy(() -> spec("zero-shot-classification", dir).withSchemas(text,
        schema("label", DataTypes.STRING(), "score", DataTypes.DOUBLE())))
        .isInstanceOf(ValidationException.class).hasMessageContaining("needs the option 'candidate-labels'");
    assertThat(spec("zero-shot-classification", dir, "candidate-labels", "a;b").withSchemas(text,
        schema("label", DataTypes.STRING(), "score", DataTypes.DOUBLE())).task())
        .isEqualTo(io.distilstream.runtime.pipeline.Task.ZERO_SHOT_CLASSIFICATION);
    assertThatThrownBy(() -> spec("zero-shot-classification", dir).withSchemas(
        schema("text", DataTypes.STRING(), "candidate_labels", DataTypes.STRING()), schema("label",
            DataTypes.STRING())))
        .hasMessageContaining("takes INPUT (text STRING) with the option 'candidate-labels', or (text STRING,"
            + " candidate_labels ARRAY<STRING>)");
    assertThatThrownBy(() -> spec("zero-shot-classification", dir, "hypothesis-template", "none"))
        .hasMessageContaining("{}");
  }

  @Test
  void multipleChoiceColumnsAndInputs() {
    Path dir = model("tiny-distilbert-sequence-classification");
    ResolvedSchema in = schema("prompt", DataTypes.STRING(), "choices", DataTypes.ARRAY(DataTypes.STRING()));
    SqlModelSpec s = spec("multiple-choice", dir).withSchemas(in, schema("best", DataTypes.INT(),
        "best_choice", DataTypes.STRING(), "score", DataTypes.FLOAT(), "scores", DataTypes.ARRAY(DataTypes.DOUBLE()),
        "logits", DataTypes.ARRAY(DataTypes.FLOAT())));
    MultipleChoiceHead.Result r = new MultipleChoiceHead().postprocess(List.of("a", "b", "c"),
        new float[] {0.5f, 2f, -1f});
    RowData row = s.toRow(new MultipleChoiceSqlBinding(), Outcome.success(r),
        ModelVersion.of(ModelDirectory.of(dir)));
    assertThat(row.getInt(0)).isEqualTo(1);
    assertThat(row.getString(1).toString()).isEqualTo("b");
    assertThat(row.getFloat(2)).isEqualTo(r.scores()[1]);
    assertThat(row.getArray(3).toDoubleArray()).containsExactly(r.scores()[0], r.scores()[1], r.scores()[2]);
    assertThat(row.getArray(4).toFloatArray()).containsExactly(0.5f, 2f, -1f);

    // the pipeline input: the prompt and the array's elements, NULL elements kept for the pipeline to reject
    Object q = s.input(GenericRowData.of(StringData.fromString("pick"), new GenericArrayData(new Object[] {
        StringData.fromString("x"), null})));
    assertThat(q).isEqualTo(new MultipleChoicePipeline.Question("pick", java.util.Arrays.asList("x", null)));
    assertThat(s.input(GenericRowData.of(StringData.fromString("pick"), null)))
        .isEqualTo(new MultipleChoicePipeline.Question("pick", null));

    assertThatThrownBy(() -> spec("multiple-choice", dir).withSchemas(
        schema("prompt", DataTypes.STRING(), "choices", DataTypes.STRING()), schema("best", DataTypes.INT())))
        .isInstanceOf(ValidationException.class)
        .hasMessageContaining("takes INPUT (prompt STRING, choices ARRAY<STRING>), got (prompt STRING, choices STRING)");
    assertThatThrownBy(() -> spec("multiple-choice", dir).withSchemas(in, schema("label", DataTypes.STRING())))
        .hasMessageContaining("unknown column label")
        .hasMessageContaining("The task produces any of (best INT, best_choice STRING, score DOUBLE,"
            + " scores ARRAY<DOUBLE>, logits ARRAY<DOUBLE>)");
    assertThatThrownBy(() -> spec("multiple-choice", dir).withSchemas(in, schema("scores", DataTypes.DOUBLE())))
        .hasMessageContaining("column scores must be ARRAY<FLOAT> or ARRAY<DOUBLE>");
    assertThatThrownBy(() -> spec("multiple-choice", dir).withSchemas(in, schema("model_name", DataTypes.STRING())))
        .hasMessageContaining("the task's result columns are missing");
  }

  @Test
  void fillMaskAndPairSchemaErrorsNameWhatTheTaskTakesAndProduces() {
    Path mlm = model("tiny-distilbert-masked-lm");
    ResolvedSchema text = schema("text", DataTypes.STRING());
    assertThatThrownBy(() -> spec("fill-mask", mlm).withSchemas(
        schema("text", DataTypes.STRING(), "text_pair", DataTypes.STRING()), predictionsOf(false)))
        .hasMessageContaining("distilbert task fill-mask takes INPUT (text STRING), got (text STRING, text_pair");
    assertThatThrownBy(() -> spec("fill-mask", mlm).withSchemas(text, schema("label", DataTypes.STRING(),
        "score", DataTypes.DOUBLE())))
        .hasMessageContaining("unknown column label")
        .hasMessageContaining("The task produces (predictions ARRAY<ROW<score DOUBLE, token INT, token_str STRING,"
            + " `sequence` STRING>>)")
        .hasMessageContaining("mask_index INT")
        .hasMessageContaining("(predictions ARRAY<ARRAY<ROW<…>>>) with one inner array per mask");
    assertThatThrownBy(() -> spec("fill-mask", mlm).withSchemas(text,
        schema("predictions", DataTypes.ARRAY(DataTypes.STRING()))))
        .hasMessageContaining("column predictions must be an ARRAY<ROW<…>> or ARRAY<ARRAY<ROW<…>>>");
    assertThatThrownBy(() -> spec("fill-mask", mlm).withSchemas(text, schema("predictions",
        DataTypes.ARRAY(DataTypes.ROW(DataTypes.FIELD("word", DataTypes.STRING()))))))
        .hasMessageContaining("unknown field word in column predictions");
    assertThatThrownBy(() -> spec("fill-mask", mlm).withSchemas(text, schema("predictions",
        DataTypes.ARRAY(DataTypes.ROW(DataTypes.FIELD("token", DataTypes.STRING()))))))
        .hasMessageContaining("token must be INT or BIGINT");

    Path cls = model("tiny-distilbert-sequence-classification");
    ResolvedSchema labelScore = schema("label", DataTypes.STRING(), "score", DataTypes.DOUBLE());
    assertThatThrownBy(() -> spec("text-classification", cls).withSchemas(schema("a", DataTypes.STRING(),
        "b", DataTypes.STRING(), "c", DataTypes.STRING()), labelScore))
        .hasMessageContaining("takes INPUT (text STRING), or (text STRING, text_pair STRING) for sentence pairs");
    assertThatThrownBy(() -> spec("text-classification", cls).withSchemas(schema("a", DataTypes.STRING(),
        "b", DataTypes.INT()), labelScore)).hasMessageContaining("text_pair STRING");
    SqlModelSpec pairs = spec("text-classification", cls).withSchemas(
        schema("premise", DataTypes.STRING(), "hypothesis", DataTypes.STRING()), labelScore);
    assertThat(pairs.input(GenericRowData.of(StringData.fromString("a"), StringData.fromString("b"))))
        .isEqualTo(new TextClassificationPipeline.TextPair("a", "b"));
    assertThat(spec("text-classification", cls).withSchemas(text, labelScore)
        .input(GenericRowData.of(StringData.fromString("a"))))
        .isEqualTo(new TextClassificationPipeline.TextPair("a", null));
  }

  /** The output cache's options: off by default, bounds from the options, nonsense bounds rejected by name. */
  @Test
  void cacheOptionsAreReadAndChecked() {
    Path dir = model("tiny-distilbert-sequence-classification");
    assertThat(spec("text-classification", dir).cache()).isNull();
    assertThat(spec("text-classification", dir, "cache.enabled", "true", "cache.max-entries", "50",
        "cache.max-bytes", "2 mb").cache()).isEqualTo(new io.distilstream.runtime.pipeline.ModelOutputCache.Bounds(
            50, 2L << 20));
    assertThatThrownBy(() -> spec("text-classification", dir, "cache.enabled", "true", "cache.max-entries", "0"))
        .isInstanceOf(ValidationException.class).hasMessageContaining("cache.max-entries must be >= 1");
  }

  /** The thread budget's options: none by default, a policy and size from the options, nonsense rejected by name. */
  @Test
  void schedulingOptionsAreReadAndChecked() {
    Path dir = model("tiny-distilbert-sequence-classification");
    assertThat(spec("text-classification", dir).scheduling).isNull();
    SqlModelSpec fair = spec("text-classification", dir, "scheduling", "fair", "task-manager-threads", "2");
    assertThat(fair.scheduling).isEqualTo(io.distilstream.runtime.batch.InferenceBudget.Policy.FAIR);
    assertThat(fair.budgetThreads).isEqualTo(2);
    assertThatThrownBy(() -> spec("text-classification", dir, "scheduling", "roundrobin"))
        .isInstanceOf(ValidationException.class).hasMessageContaining("scheduling must be none, fair or fifo");
    assertThatThrownBy(() -> spec("text-classification", dir, "task-manager-threads", "-1"))
        .isInstanceOf(ValidationException.class).hasMessageContaining("task-manager-threads must be >= 0");
  }
}
