package io.distilstream.operators.sql;

import io.distilstream.operators.DeadLetterReason;
import io.distilstream.operators.ModelVersion;
import io.distilstream.runtime.heads.Answer;
import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.heads.FillMaskHead;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.heads.MultipleChoiceHead;
import io.distilstream.runtime.pipeline.MultipleChoicePipeline;
import io.distilstream.runtime.pipeline.QuestionAnsweringPipeline;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.functions.AsyncTableFunction;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.types.Row;

/**
 * The same local, micro-batched runtime as user-defined table functions, for SQL without {@code ML_PREDICT}:
 *
 * <pre>{@code
 * DistilBertFunctions.register(tEnv, Task.TOKEN_CLASSIFICATION, Path.of("/models/ner"), Map.of("max-wait", "5 ms"));
 * SELECT id, entity_group, word, `start`, `end` FROM comments, LATERAL TABLE(distilbert_entities(text));
 * }</pre>
 *
 * <p>One function per task, each an {@link AsyncTableFunction} whose calls share one
 * {@link io.distilstream.runtime.pipeline.MicroBatcher} per subtask. Each emits one row per label, entity, answer,
 * fill-mask candidate or choice (one per input for embeddings), every row with {@code model_name}, {@code model_version} and
 * {@code model_runtime}. An input without a result (empty text, too long, model error) emits no row and counts in
 * the {@code deadLetters} metric.
 */
public final class DistilBertFunctions {
  private DistilBertFunctions() {}

  public static final String CLASSIFY = "distilbert_classify";
  public static final String ENTITIES = "distilbert_entities";
  public static final String ANSWER = "distilbert_answer";
  public static final String EMBED = "distilbert_embed";
  public static final String FILL_MASK = "distilbert_fill_mask";
  public static final String MULTIPLE_CHOICE = "distilbert_multiple_choice";

  /** The default SQL name of a task's function. */
  public static String defaultName(Task task) {
    return SqlBinding.of(task).functionName();
  }

  /**
   * Registers the task's function under its default name as a temporary system function and returns the name.
   *
   * @param options the {@code CREATE MODEL} options ({@link DistilBertOptions}) other than task and model-dir
   */
  public static String register(TableEnvironment tEnv, Task task, Path modelDir, Map<String, String> options) {
    return register(tEnv, defaultName(task), task, modelDir, options);
  }

  public static String register(TableEnvironment tEnv, String name, Task task, Path modelDir,
      Map<String, String> options) {
    tEnv.createTemporarySystemFunction(name, create(task, modelDir, options));
    return name;
  }

  /** The function for a task, its options checked (the model directory's files included). */
  public static AsyncTableFunction<Row> create(Task task, Path modelDir, Map<String, String> options) {
    Map<String, String> all = new HashMap<>(options);
    all.put(DistilBertOptions.TASK.key(), task.id());
    all.put(DistilBertOptions.MODEL_DIR.key(), modelDir.toAbsolutePath().toString());
    SqlModelSpec spec = SqlModelSpec.fromOptions(Configuration.fromMap(all));
    return SqlBinding.of(task).function(spec);
  }

  /**
   * Opens the subtask's runtime, submits inputs and turns each result ({@code O}) into rows; a task's function adds
   * only its {@code eval} methods (what it submits) and {@link #rows} (the columns before the model columns).
   */
  abstract static class Base<Q, I, O> extends AsyncTableFunction<Row> {
    private static final long serialVersionUID = 1L;
    final SqlBinding<Q, I, O> binding;
    final SqlModelSpec spec;
    transient SqlRuntime<Q, I, O> runtime;

    Base(SqlBinding<Q, I, O> binding, SqlModelSpec spec) {
      this.binding = binding;
      this.spec = spec;
    }

    /** One array of leading fields per output row of a result. */
    abstract List<Object[]> rows(O result);

    @Override
    public void open(FunctionContext context) throws Exception {
      runtime = SqlRuntime.open(binding, spec, context, getClass().getSimpleName());
    }

    void run(CompletableFuture<Collection<Row>> future, Q input) {
      SqlRuntime<Q, I, O> r = runtime;
      r.submit(input).whenComplete((outcome, error) -> {
        if (error != null) {
          future.completeExceptionally(error);
          return;
        }
        if (!outcome.isSuccess()) {
          r.metrics.onDeadLetter(DeadLetterReason.of(outcome.reason()));
          future.complete(List.of());
          return;
        }
        try {
          List<Row> out = new ArrayList<>();
          for (Object[] fields : rows(outcome.value())) {
            out.add(withVersion(fields, r.version));
          }
          future.complete(out);
        } catch (RuntimeException e) {
          future.completeExceptionally(e);
        }
      });
    }

    /** One row per item, in order. */
    static <T> List<Object[]> each(List<T> items, Function<T, Object[]> row) {
      List<Object[]> rows = new ArrayList<>(items.size());
      for (T item : items) {
        rows.add(row.apply(item));
      }
      return rows;
    }

    private static Row withVersion(Object[] fields, ModelVersion v) {
      Object[] all = new Object[fields.length + 3];
      System.arraycopy(fields, 0, all, 0, fields.length);
      all[fields.length] = v.name();
      all[fields.length + 1] = v.version();
      all[fields.length + 2] = v.runtime();
      return Row.of(all);
    }

    @Override
    public void close() throws Exception {
      if (runtime != null) {
        runtime.close();
        runtime = null;
      }
    }
  }

  /**
   * {@code distilbert_classify(text)}: one row per label (top-k; every label of a multi-label model);
   * {@code distilbert_classify(text, text_pair)} classifies the sentence pair (NLI-style; a NULL pair is the text
   * alone).
   */
  @FunctionHint(output = @DataTypeHint("ROW<label STRING, score DOUBLE, model_name STRING, model_version STRING,"
      + " model_runtime STRING>"))
  public static final class Classify extends Base<TextClassificationPipeline.TextPair, String, List<LabelScore>> {
    private static final long serialVersionUID = 1L;

    Classify(SqlModelSpec spec) {
      super(new TextClassificationSqlBinding(), spec);
    }

    public void eval(CompletableFuture<Collection<Row>> future, String text) {
      run(future, new TextClassificationPipeline.TextPair(text, null));
    }

    public void eval(CompletableFuture<Collection<Row>> future, String text, String textPair) {
      run(future, new TextClassificationPipeline.TextPair(text, textPair));
    }

    @Override
    List<Object[]> rows(List<LabelScore> labels) {
      return each(labels, l -> new Object[] {l.label(), (double) l.score()});
    }
  }

  /** {@code distilbert_entities(text)}: one row per entity span. */
  @FunctionHint(output = @DataTypeHint("ROW<entity_group STRING, word STRING, score DOUBLE, `start` INT, `end` INT,"
      + " model_name STRING, model_version STRING, model_runtime STRING>"))
  public static final class Entities extends Base<String, String, List<Entity>> {
    private static final long serialVersionUID = 1L;

    Entities(SqlModelSpec spec) {
      super(new TokenClassificationSqlBinding(), spec);
    }

    public void eval(CompletableFuture<Collection<Row>> future, String text) {
      run(future, text);
    }

    @Override
    List<Object[]> rows(List<Entity> entities) {
      return each(entities, e -> new Object[] {e.label(), e.word(), (double) e.score(), e.start(), e.end()});
    }
  }

  /** {@code distilbert_answer(question, context)}: one row per answer (top-k, default 1). */
  @FunctionHint(output = @DataTypeHint("ROW<answer STRING, score DOUBLE, `start` INT, `end` INT,"
      + " model_name STRING, model_version STRING, model_runtime STRING>"))
  public static final class Answers
      extends Base<QuestionAnsweringPipeline.Question, QuestionAnsweringPipeline.Question, List<Answer>> {
    private static final long serialVersionUID = 1L;

    Answers(SqlModelSpec spec) {
      super(new QuestionAnsweringSqlBinding(), spec);
    }

    public void eval(CompletableFuture<Collection<Row>> future, String question, String context) {
      run(future, new QuestionAnsweringPipeline.Question(question, context));
    }

    @Override
    List<Object[]> rows(List<Answer> answers) {
      return each(answers, a -> new Object[] {a.answer(), (double) a.score(), a.start(), a.end()});
    }
  }

  /** {@code distilbert_embed(text)}: one row with the sentence vector. */
  @FunctionHint(output = @DataTypeHint("ROW<embedding ARRAY<FLOAT>, model_name STRING, model_version STRING,"
      + " model_runtime STRING>"))
  public static final class Embed extends Base<String, String, float[]> {
    private static final long serialVersionUID = 1L;

    Embed(SqlModelSpec spec) {
      super(new FeatureExtractionSqlBinding(), spec);
    }

    public void eval(CompletableFuture<Collection<Row>> future, String text) {
      run(future, text);
    }

    @Override
    List<Object[]> rows(float[] v) {
      Float[] boxed = new Float[v.length];
      for (int i = 0; i < v.length; i++) {
        boxed[i] = v[i];
      }
      return List.<Object[]>of(new Object[] {boxed});
    }
  }

  /**
   * {@code distilbert_fill_mask(text)}: one row per candidate (top-k, default 5) of each mask, {@code mask_index}
   * numbering the masks from 0 in text order. A text without a mask emits no row.
   */
  @FunctionHint(output = @DataTypeHint("ROW<mask_index INT, score DOUBLE, token INT, token_str STRING,"
      + " `sequence` STRING, model_name STRING, model_version STRING, model_runtime STRING>"))
  public static final class FillMask extends Base<String, String, List<List<FillMaskHead.Prediction>>> {
    private static final long serialVersionUID = 1L;

    FillMask(SqlModelSpec spec) {
      super(new FillMaskSqlBinding(), spec);
    }

    public void eval(CompletableFuture<Collection<Row>> future, String text) {
      run(future, text);
    }

    @Override
    List<Object[]> rows(List<List<FillMaskHead.Prediction>> masks) {
      List<Object[]> rows = new ArrayList<>();
      for (int m = 0; m < masks.size(); m++) {
        int mask = m;
        rows.addAll(each(masks.get(m),
            p -> new Object[] {mask, (double) p.score(), p.token(), p.tokenStr(), p.sequence()}));
      }
      return rows;
    }
  }

  /**
   * {@code distilbert_multiple_choice(prompt, choices)}: one row per choice, in the order given, with its 0-based
   * index, its score (softmax over the choices), its logit, and whether it is the best one (the first on ties).
   */
  @FunctionHint(output = @DataTypeHint("ROW<choice_index INT, choice STRING, score DOUBLE, logit DOUBLE,"
      + " is_best BOOLEAN, model_name STRING, model_version STRING, model_runtime STRING>"))
  public static final class MultipleChoice
      extends Base<MultipleChoicePipeline.Question, MultipleChoicePipeline.Question, MultipleChoiceHead.Result> {
    private static final long serialVersionUID = 1L;

    MultipleChoice(SqlModelSpec spec) {
      super(new MultipleChoiceSqlBinding(), spec);
    }

    public void eval(CompletableFuture<Collection<Row>> future, String prompt, String[] choices) {
      run(future, new MultipleChoicePipeline.Question(prompt, choices == null ? null : Arrays.asList(choices)));
    }

    @Override
    List<Object[]> rows(MultipleChoiceHead.Result r) {
      List<Object[]> rows = new ArrayList<>();
      for (int c = 0; c < r.choices().size(); c++) {
        rows.add(new Object[] {c, r.choices().get(c), (double) r.scores()[c], (double) r.logits()[c],
            c == r.best()});
      }
      return rows;
    }
  }
}
