package io.distilstream.operators.sql;

import io.distilstream.runtime.heads.Answer;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.QuestionAnsweringPipeline;
import io.distilstream.runtime.pipeline.Task;
import java.util.List;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.AsyncTableFunction;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeFamily;
import org.apache.flink.types.Row;

/** question-answering: a question and a context; the best answer's columns. */
final class QuestionAnsweringSqlBinding extends SqlBinding<QuestionAnsweringPipeline.Question,
    QuestionAnsweringPipeline.Question, List<Answer>> {
  private static final long serialVersionUID = 1L;

  @Override
  Task task() {
    return Task.QUESTION_ANSWERING;
  }

  @Override
  Pipeline<QuestionAnsweringPipeline.Question, List<Answer>> open(ModelDirectory dir, PipelineOptions options) {
    return (QuestionAnsweringPipeline) Pipeline.create(task(), dir, options);
  }

  @Override
  String takes() {
    return "(question STRING, context STRING)";
  }

  @Override
  String produces() {
    return "(answer STRING, score DOUBLE, `start` INT, `end` INT)";
  }

  @Override
  boolean inputFits(List<LogicalType> types) {
    return types.size() == 2 && types.stream().allMatch(t -> t.is(LogicalTypeFamily.CHARACTER_STRING));
  }

  @Override
  SqlModelSpec.Out column(String name, String n, LogicalType type) {
    switch (n) {
      case "answer": return SqlModelSpec.string(name, SqlModelSpec.Kind.ANSWER, type);
      case "score": return SqlModelSpec.number(name, SqlModelSpec.Kind.SCORE, type);
      case "start": return SqlModelSpec.integer(name, SqlModelSpec.Kind.START, type);
      case "end": return SqlModelSpec.integer(name, SqlModelSpec.Kind.END, type);
      default: return null;
    }
  }

  @Override
  boolean complete(List<SqlModelSpec.Kind> kinds) {
    return kinds.contains(SqlModelSpec.Kind.ANSWER) && kinds.contains(SqlModelSpec.Kind.SCORE);
  }

  @Override
  QuestionAnsweringPipeline.Question input(RowData row, SqlModelSpec spec) {
    return new QuestionAnsweringPipeline.Question(SqlModelSpec.str(row, 0), SqlModelSpec.str(row, 1));
  }

  @Override
  Pipeline.Prepared<QuestionAnsweringPipeline.Question> prepare(
      Pipeline<QuestionAnsweringPipeline.Question, List<Answer>> pipeline, QuestionAnsweringPipeline.Question q) {
    return pipeline.prepare(q);
  }

  @Override
  Object value(SqlModelSpec.Out o, List<Answer> answers) {
    if (answers.isEmpty()) {
      return null;
    }
    Answer a = answers.get(0);
    switch (o.kind) {
      case ANSWER: return StringData.fromString(a.answer());
      case SCORE: return SqlModelSpec.num(o.type, a.score());
      case START: return SqlModelSpec.num(o.type, a.start());
      case END: return SqlModelSpec.num(o.type, a.end());
      default: throw new IllegalStateException(o.kind.name());
    }
  }

  @Override
  String functionName() {
    return DistilBertFunctions.ANSWER;
  }

  @Override
  AsyncTableFunction<Row> function(SqlModelSpec spec) {
    return new DistilBertFunctions.Answers(spec);
  }
}
