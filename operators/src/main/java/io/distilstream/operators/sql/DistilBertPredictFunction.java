package io.distilstream.operators.sql;

import io.distilstream.operators.DeadLetterReason;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.AsyncPredictFunction;
import org.apache.flink.table.functions.FunctionContext;

/**
 * {@code ML_PREDICT} over a {@code distilbert} model: each call hands one row's input to the subtask's
 * {@link io.distilstream.runtime.pipeline.MicroBatcher}, so the concurrent calls Flink's async operator keeps in
 * flight ({@code 'max-concurrent-operations'}) run as batches, and completes with that row's prediction.
 */
public class DistilBertPredictFunction extends AsyncPredictFunction {
  private static final long serialVersionUID = 1L;

  private final SqlModelSpec spec;
  private transient SqlRuntime<?, ?, ?> runtime;

  public DistilBertPredictFunction(SqlModelSpec spec) {
    this.spec = spec;
  }

  @Override
  public void open(FunctionContext context) throws Exception {
    super.open(context);
    runtime = SqlRuntime.open(spec.binding(), spec, context, "ML_PREDICT");
  }

  @Override
  public CompletableFuture<Collection<RowData>> asyncPredict(RowData input) {
    return predict(runtime, input);
  }

  private <Q, I, O> CompletableFuture<Collection<RowData>> predict(SqlRuntime<Q, I, O> r, RowData input) {
    return r.submit(r.binding.input(input, spec)).thenApply(outcome -> {
      if (!outcome.isSuccess()) {
        r.metrics.onDeadLetter(DeadLetterReason.of(outcome.reason()));
      }
      RowData row = spec.toRow(r.binding, outcome, r.version);
      return row == null ? List.of() : List.of(row);
    });
  }

  @Override
  public void close() throws Exception {
    if (runtime != null) {
      runtime.close();
      runtime = null;
    }
    super.close();
  }
}
