package io.distilstream.operators.sql;

import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import java.io.Serializable;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.AsyncTableFunction;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeFamily;
import org.apache.flink.types.Row;

/**
 * One task as SQL sees it: the INPUT columns it takes and how a row becomes its pipeline's input, the OUTPUT columns
 * it produces and how its result fills them, and its table function. {@link SqlModelSpec}, {@link SqlRuntime} and
 * {@link DistilBertFunctions} know tasks only through here: a task is one binding, listed in {@link #ALL}.
 *
 * @param <Q> what a row (or a table function call) gives the task
 * @param <I> the pipeline's input
 * @param <O> the pipeline's result of one input
 */
abstract class SqlBinding<Q, I, O> implements Serializable {
  private static final long serialVersionUID = 1L;

  static final List<SqlBinding<?, ?, ?>> ALL = List.of(new TextClassificationSqlBinding(),
      new TokenClassificationSqlBinding(), new QuestionAnsweringSqlBinding(), new FeatureExtractionSqlBinding(),
      new FillMaskSqlBinding(), new MultipleChoiceSqlBinding(), new ZeroShotSqlBinding());

  private static final Map<Task, SqlBinding<?, ?, ?>> BY_TASK = byTask();

  private static Map<Task, SqlBinding<?, ?, ?>> byTask() {
    Map<Task, SqlBinding<?, ?, ?>> m = new EnumMap<>(Task.class);
    for (SqlBinding<?, ?, ?> b : ALL) {
      m.put(b.task(), b);
    }
    if (m.size() != Task.values().length) {
      throw new IllegalStateException("a task without a SQL binding: " + m.keySet());
    }
    return m;
  }

  static SqlBinding<?, ?, ?> of(Task task) {
    return BY_TASK.get(task);
  }

  abstract Task task();

  abstract Pipeline<I, O> open(ModelDirectory dir, PipelineOptions options);

  /** The INPUT columns, as error messages state them. */
  abstract String takes();

  /** The OUTPUT columns of the result (the model columns aside), as error messages state them. */
  abstract String produces();

  /** Whether INPUT columns of these types fit; one STRING by default. */
  boolean inputFits(List<LogicalType> types) {
    return types.size() == 1 && types.get(0).is(LogicalTypeFamily.CHARACTER_STRING);
  }

  /** Checks the model's options against its INPUT columns; a {@link ValidationException} names what is missing. */
  void checkOptions(SqlModelSpec spec, int inputColumns) {}

  /**
   * The output column {@code name} ({@code lower} in lower case), checked against its type; null when the task has
   * no such column.
   */
  abstract SqlModelSpec.Out column(String name, String lower, LogicalType type);

  /** Whether the declared columns carry the task's result. */
  abstract boolean complete(List<SqlModelSpec.Kind> kinds);

  /** What an ML_PREDICT row gives the task. */
  abstract Q input(RowData row, SqlModelSpec spec);

  /** Tokenizes an input for the batcher. */
  abstract Pipeline.Prepared<I> prepare(Pipeline<I, O> pipeline, Q input);

  /** The value of result column {@code o}. */
  abstract Object value(SqlModelSpec.Out o, O result);

  /** The table function's default name. */
  abstract String functionName();

  abstract AsyncTableFunction<Row> function(SqlModelSpec spec);

  /** A task that takes one text: the row's text is the pipeline's input. */
  abstract static class OfText<O> extends SqlBinding<String, String, O> {
    private static final long serialVersionUID = 1L;

    @Override
    String takes() {
      return "(text STRING)";
    }

    @Override
    String input(RowData row, SqlModelSpec spec) {
      return SqlModelSpec.str(row, 0);
    }

    @Override
    Pipeline.Prepared<String> prepare(Pipeline<String, O> pipeline, String text) {
      return pipeline.prepare(text);
    }
  }
}
