package io.distilstream.operators.sql;

import java.util.Set;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.factories.ModelProviderFactory;
import org.apache.flink.table.functions.AsyncPredictFunction;
import org.apache.flink.table.ml.AsyncPredictRuntimeProvider;
import org.apache.flink.table.ml.ModelProvider;

/**
 * {@code CREATE MODEL m INPUT (text STRING) OUTPUT (label STRING, score DOUBLE) WITH ('provider' = 'distilbert',
 * 'task' = 'text-classification', 'model-dir' = '/models/toxic')}: a local DistilBERT (or BERT-family) model, run in
 * micro-batches by ONNX Runtime inside the task managers. Registered through
 * {@code META-INF/services/org.apache.flink.table.factories.Factory}.
 */
public class DistilBertModelProviderFactory implements ModelProviderFactory {
  public static final String IDENTIFIER = "distilbert";

  @Override
  public ModelProvider createModelProvider(Context context) {
    FactoryUtil.ModelProviderFactoryHelper helper = FactoryUtil.createModelProviderFactoryHelper(this, context);
    helper.validate();
    SqlModelSpec spec = SqlModelSpec.fromOptions(helper.getOptions()).withSchemas(
        context.getCatalogModel().getResolvedInputSchema(), context.getCatalogModel().getResolvedOutputSchema());
    return new Provider(spec);
  }

  @Override
  public String factoryIdentifier() {
    return IDENTIFIER;
  }

  @Override
  public Set<ConfigOption<?>> requiredOptions() {
    return Set.of(DistilBertOptions.TASK, DistilBertOptions.MODEL_DIR);
  }

  @Override
  public Set<ConfigOption<?>> optionalOptions() {
    return Set.of(DistilBertOptions.MAX_BATCH_SIZE, DistilBertOptions.MAX_TOKENS, DistilBertOptions.MAX_PADDING_RATIO,
        DistilBertOptions.MAX_WAIT, DistilBertOptions.DEVICE, DistilBertOptions.INTRA_OP_THREADS,
        DistilBertOptions.MAX_LENGTH, DistilBertOptions.LONG_TEXT, DistilBertOptions.TOP_K,
        DistilBertOptions.AGGREGATION, DistilBertOptions.STRIDE, DistilBertOptions.DOC_STRIDE,
        DistilBertOptions.MAX_ANSWER_LEN, DistilBertOptions.MAX_MASKS, DistilBertOptions.MAX_CHOICES,
        DistilBertOptions.MAX_CANDIDATE_LABELS, DistilBertOptions.CANDIDATE_LABELS,
        DistilBertOptions.HYPOTHESIS_TEMPLATE, DistilBertOptions.MULTI_LABEL,
        DistilBertOptions.INT8_REWRITE, DistilBertOptions.ALLOW_BATCH_DEPENDENT_RESULTS,
        DistilBertOptions.ON_ERROR, DistilBertOptions.CACHE_ENABLED, DistilBertOptions.CACHE_MAX_ENTRIES,
        DistilBertOptions.CACHE_MAX_BYTES, DistilBertOptions.SCHEDULING, DistilBertOptions.TASK_MANAGER_THREADS);
  }

  /** The async (batched) runtime provider. */
  public static final class Provider implements AsyncPredictRuntimeProvider {
    private final SqlModelSpec spec;

    Provider(SqlModelSpec spec) {
      this.spec = spec;
    }

    public SqlModelSpec spec() {
      return spec;
    }

    @Override
    public AsyncPredictFunction createAsyncPredictFunction(Context context) {
      return new DistilBertPredictFunction(spec);
    }

    @Override
    public ModelProvider copy() {
      return new Provider(spec);
    }
  }
}
