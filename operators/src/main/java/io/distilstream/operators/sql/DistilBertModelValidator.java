package io.distilstream.operators.sql;

import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.ResolvedCatalogModel;
import org.apache.flink.table.catalog.listener.CatalogModificationEvent;
import org.apache.flink.table.catalog.listener.CatalogModificationListener;
import org.apache.flink.table.catalog.listener.CatalogModificationListenerFactory;
import org.apache.flink.table.catalog.listener.CreateModelEvent;
import org.apache.flink.table.factories.FactoryUtil;

/**
 * Checks a {@code distilbert} model when it is created rather than when a query first uses it. Flink builds a model
 * provider only while planning {@code ML_PREDICT}; this catalog listener runs the same checks (options, the model
 * directory's files, the input and output schemas against the task) on {@code CREATE [TEMPORARY] MODEL}. Turn it on
 * with {@code table.catalog-modification.listeners: distilbert} in the table environment's configuration.
 *
 * <p>A rejected {@code CREATE TEMPORARY MODEL} registers nothing; a rejected catalog model has already been written
 * to its catalog when listeners run (Flink calls them after the catalog), so the error says to drop it.
 */
public class DistilBertModelValidator implements CatalogModificationListenerFactory, CatalogModificationListener {

  @Override
  public CatalogModificationListener createListener(Context context) {
    return this;
  }

  @Override
  public String factoryIdentifier() {
    return DistilBertModelProviderFactory.IDENTIFIER;
  }

  @Override
  public void onEvent(CatalogModificationEvent event) {
    if (!(event instanceof CreateModelEvent)) {
      return;
    }
    CreateModelEvent e = (CreateModelEvent) event;
    Map<String, String> options = e.model().getOptions();
    if (!DistilBertModelProviderFactory.IDENTIFIER.equalsIgnoreCase(options.get(FactoryUtil.PROVIDER.key()))
        || !(e.model() instanceof ResolvedCatalogModel)) {
      return;
    }
    ResolvedCatalogModel model = (ResolvedCatalogModel) e.model();
    try {
      Configuration conf = Configuration.fromMap(options);
      SqlModelSpec.fromOptions(conf).withSchemas(model.getResolvedInputSchema(), model.getResolvedOutputSchema());
      checkKeys(options);
    } catch (ValidationException ex) {
      throw new ValidationException("CREATE MODEL " + e.identifier().asSummaryString() + ": " + ex.getMessage()
          + (e.isTemporary() ? "" : " (the model was written to its catalog before this check: DROP MODEL "
              + e.identifier().asSerializableString() + ")"), ex);
    }
  }

  private static void checkKeys(Map<String, String> options) {
    java.util.Set<String> known = new java.util.HashSet<>();
    known.add(FactoryUtil.PROVIDER.key());
    DistilBertModelProviderFactory f = new DistilBertModelProviderFactory();
    f.requiredOptions().forEach(o -> known.add(o.key()));
    f.optionalOptions().forEach(o -> known.add(o.key()));
    for (String k : options.keySet()) {
      if (!known.contains(k)) {
        throw new ValidationException("unknown option '" + k + "'; the distilbert provider takes " + new java.util.TreeSet<>(known));
      }
    }
  }
}
