package io.distilstream.operators.sql;

import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.ZeroShotClassificationPipeline;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.AsyncTableFunction;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeFamily;
import org.apache.flink.types.Row;

/**
 * zero-shot-classification: a text, with the model's {@code candidate-labels} or a {@code candidate_labels
 * ARRAY<STRING>} column of its own; the best label, or every label best first, as text-classification's columns.
 */
final class ZeroShotSqlBinding extends SqlBinding<ZeroShotClassificationPipeline.Request,
    ZeroShotClassificationPipeline.Request, ZeroShotClassificationPipeline.Result> {
  private static final long serialVersionUID = 1L;

  @Override
  Task task() {
    return Task.ZERO_SHOT_CLASSIFICATION;
  }

  @Override
  Pipeline<ZeroShotClassificationPipeline.Request, ZeroShotClassificationPipeline.Result> open(ModelDirectory dir,
      PipelineOptions options) {
    return (ZeroShotClassificationPipeline) Pipeline.create(task(), dir, options);
  }

  @Override
  String takes() {
    return "(text STRING) with the option 'candidate-labels', or (text STRING, candidate_labels ARRAY<STRING>)"
        + " with each row's labels (NULL or empty: the option's)";
  }

  @Override
  String produces() {
    return "(label STRING, score DOUBLE) for the best candidate label, or (labels ARRAY<ROW<label STRING, score"
        + " DOUBLE>>) for every candidate label, best first";
  }

  @Override
  boolean inputFits(List<LogicalType> types) {
    return types.get(0).is(LogicalTypeFamily.CHARACTER_STRING)
        && (types.size() == 1 || types.size() == 2 && MultipleChoiceSqlBinding.stringArray(types.get(1)));
  }

  /** Without a labels column, the model's options must name them. */
  @Override
  void checkOptions(SqlModelSpec spec, int inputColumns) {
    if (inputColumns == 1 && spec.pipelineOptions.candidateLabels().isEmpty()) {
      throw new ValidationException("distilbert task " + Task.ZERO_SHOT_CLASSIFICATION + " with INPUT (text STRING)"
          + " needs the option '" + DistilBertOptions.CANDIDATE_LABELS.key() + "' (labels separated by ';'), or a"
          + " second INPUT column candidate_labels ARRAY<STRING>");
    }
  }

  @Override
  SqlModelSpec.Out column(String name, String n, LogicalType type) {
    return TextClassificationSqlBinding.labelColumn(name, n, type);
  }

  @Override
  boolean complete(List<SqlModelSpec.Kind> kinds) {
    return kinds.contains(SqlModelSpec.Kind.LABELS)
        || (kinds.contains(SqlModelSpec.Kind.LABEL) && kinds.contains(SqlModelSpec.Kind.SCORE));
  }

  @Override
  ZeroShotClassificationPipeline.Request input(RowData row, SqlModelSpec spec) {
    // over the cap the labels are not copied: the pipeline fails the row with LIMIT_EXCEEDED from the count alone
    return new ZeroShotClassificationPipeline.Request(SqlModelSpec.str(row, 0),
        MultipleChoiceSqlBinding.strings(row, 1, spec.pipelineOptions.maxCandidateLabels()), null, null);
  }

  @Override
  Pipeline.Prepared<ZeroShotClassificationPipeline.Request> prepare(
      Pipeline<ZeroShotClassificationPipeline.Request, ZeroShotClassificationPipeline.Result> pipeline,
      ZeroShotClassificationPipeline.Request r) {
    return pipeline.prepare(r);
  }

  @Override
  Object value(SqlModelSpec.Out o, ZeroShotClassificationPipeline.Result r) {
    return TextClassificationSqlBinding.labelValue(o, r.labels());
  }

  @Override
  String functionName() {
    return "distilbert_zero_shot";
  }

  @Override
  AsyncTableFunction<Row> function(SqlModelSpec spec) {
    return new Function(spec);
  }

  /**
   * {@code distilbert_zero_shot(text)} with the function's {@code candidate-labels}, or
   * {@code distilbert_zero_shot(text, candidate_labels)} with each row's own (NULL or empty: the function's): one
   * row per candidate label, best first.
   */
  @FunctionHint(output = @DataTypeHint("ROW<label STRING, score DOUBLE, model_name STRING, model_version STRING,"
      + " model_runtime STRING>"))
  public static final class Function extends DistilBertFunctions.Base<ZeroShotClassificationPipeline.Request,
      ZeroShotClassificationPipeline.Request, ZeroShotClassificationPipeline.Result> {
    private static final long serialVersionUID = 1L;

    Function(SqlModelSpec spec) {
      super(new ZeroShotSqlBinding(), spec);
    }

    public void eval(CompletableFuture<Collection<Row>> future, String text) {
      run(future, ZeroShotClassificationPipeline.Request.of(text));
    }

    public void eval(CompletableFuture<Collection<Row>> future, String text, String[] candidateLabels) {
      run(future, new ZeroShotClassificationPipeline.Request(text,
          candidateLabels == null || candidateLabels.length == 0 ? null : Arrays.asList(candidateLabels), null, null));
    }

    @Override
    List<Object[]> rows(ZeroShotClassificationPipeline.Result r) {
      return each(r.labels(), l -> new Object[] {l.label(), (double) l.score()});
    }
  }
}
