package io.distilstream.runtime.pipeline;

import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.heads.TextClassificationHead;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.ModelLoadException;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.tokenizer.Encoding;
import java.util.List;

/**
 * {@code text-classification}: softmax over {@code id2label} for single-label models, a sigmoid per label for
 * {@code problem_type: multi_label_classification}. Texts longer than the model's window are truncated.
 */
public final class TextClassificationPipeline extends Pipeline<String, List<LabelScore>> {
  private final TextClassificationHead head;
  private final int logits;

  TextClassificationPipeline(ModelDirectory dir, PipelineOptions options) {
    super(Task.TEXT_CLASSIFICATION, dir, options, 0);
    try {
      if (config.numLabels() == 0) {
        throw new ModelLoadException(directory.configFile(), "id2label for text-classification", "no labels");
      }
      this.logits = requireOutput("logits", ModelSession.OutputShape.PER_SEQUENCE, config.numLabels());
    } catch (ModelLoadException e) {
      throw closeAndFail(e);
    }
    boolean multi = config.isMultiLabel() || config.numLabels() == 1;
    // Hugging Face returns the top label by default; for multi-label moderation every label's score is the point.
    int topK = options.topK() >= 0 ? options.topK() : (multi ? 0 : 1);
    this.head = new TextClassificationHead(config.id2label(), multi, topK, options.thresholds());
  }

  @Override
  protected List<Encoding> preprocess(String text) {
    return List.of(encodeOneWindow(text));
  }

  @Override
  protected List<LabelScore> postprocess(String text, List<Encoding> windows, float[][][] outputs) {
    return head.postprocess(outputs[0][logits]);
  }
}
