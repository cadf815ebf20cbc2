package io.distilstream.runtime.pipeline;

import io.distilstream.runtime.heads.FeatureExtractionHead;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.ModelLoadException;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.tokenizer.Encoding;
import java.util.List;

/**
 * {@code feature-extraction}: the encoder's last hidden state pooled into one vector per text (mean over the tokens,
 * or the [CLS] token), L2-normalised by default, as sentence-transformers models are used.
 */
public final class FeatureExtractionPipeline extends Pipeline<String, float[]> {
  private final int hidden;
  private final int dim;

  FeatureExtractionPipeline(ModelDirectory dir, PipelineOptions options) {
    super(Task.FEATURE_EXTRACTION, dir, options, 0);
    try {
      this.hidden = requireOutput("last_hidden_state", ModelSession.OutputShape.PER_TOKEN_VECTOR, 0);
    } catch (ModelLoadException e) {
      throw closeAndFail(e);
    }
    this.dim = session.outputWidth(hidden);
  }

  public int dimension() {
    return dim;
  }

  @Override
  protected List<Encoding> preprocess(String text) {
    return List.of(encodeOneWindow(text));
  }

  @Override
  protected float[] postprocess(String text, List<Encoding> windows, float[][][] outputs) {
    float[] h = outputs[0][hidden];
    int len = windows.get(0).length();
    float[] v = options.pooling() == PipelineOptions.Pooling.CLS
        ? FeatureExtractionHead.clsPool(h, len, dim)
        : FeatureExtractionHead.meanPool(h, len, dim);
    if (options.normalize()) {
      FeatureExtractionHead.l2Normalize(v);
    }
    return v;
  }
}
