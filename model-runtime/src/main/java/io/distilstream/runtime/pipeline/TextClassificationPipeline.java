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
 * {@code problem_type: multi_label_classification}. Texts longer than the model's window are truncated (the
 * default), rejected, or with {@link PipelineOptions.LongText#CHUNK} cut into windows sharing {@code stride} tokens
 * whose scores are pooled (mean or max, {@link PipelineOptions#windowPool}). Sentence pairs (NLI-style) go through
 * {@link #preparePair} / {@link #runPairs}.
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
      if (options.longTextOr(PipelineOptions.LongText.TRUNCATE) == PipelineOptions.LongText.CHUNK
          && options.stride() >= maxLength - 2) {
        throw new IllegalArgumentException("stride " + options.stride() + " must be below the window's "
            + (maxLength - 2) + " text tokens");
      }
    } catch (ModelLoadException | IllegalArgumentException e) {
      session.close();
      throw e;
    }
    boolean multi = config.isMultiLabel() || config.numLabels() == 1;
    // Hugging Face returns the top label by default; for multi-label moderation every label's score is the point.
    int topK = options.topK() >= 0 ? options.topK() : (multi ? 0 : 1);
    this.head = new TextClassificationHead(config.id2label(), multi, topK, options.thresholds());
  }

  @Override
  protected List<Encoding> preprocess(String text) {
    if (options.longTextOr(PipelineOptions.LongText.TRUNCATE) == PipelineOptions.LongText.CHUNK) {
      Encoding full = tokenizer.encode(requireText(text, "text"), 0);
      return TokenClassificationPipeline.windows(full, maxLength, options.stride(), tokenizer.clsId(),
          tokenizer.sepId());
    }
    return List.of(encodeOneWindow(text));
  }

  /**
   * A text and its pair ({@code text_pair}, NLI-style), encoded {@code [CLS] text [SEP] text_pair [SEP]} with token
   * type ids 0 then 1 (sent to models that take {@code token_type_ids}, i.e. BERT), truncated {@code longest_first}
   * to the window (or rejected with the reject policy). A {@code null} pair is the text alone.
   */
  public Prepared<String> preparePair(String text, String textPair) {
    if (textPair == null) {
      return prepare(text);
    }
    try {
      requireText(text, "text");
      Encoding e = tokenizer.encodePair(text, textPair, options.truncate() ? maxLength : 0);
      if (e.length() > maxLength) {
        throw new InferenceException(Outcome.Reason.TEXT_TOO_LONG, "text and text_pair have " + e.length()
            + " tokens, over the model's window of " + maxLength);
      }
      return new Prepared<>(text, List.of(e), null, null);
    } catch (InferenceException ex) {
      return new Prepared<>(text, null, ex.reason(), ex.detail());
    }
  }

  /** Classifies text pairs; a pair whose {@code textPair} is {@code null} is its text alone. */
  public List<Outcome<List<LabelScore>>> runPairs(List<TextPair> pairs) {
    List<Prepared<String>> prepared = new java.util.ArrayList<>(pairs.size());
    for (TextPair p : pairs) {
      prepared.add(p == null ? new Prepared<>(null, null, Outcome.Reason.INVALID_INPUT, "pair is null")
          : preparePair(p.text(), p.textPair()));
    }
    return runPrepared(prepared);
  }

  /** A text and an optional second text (Hugging Face's {@code {"text":…, "text_pair":…}}). */
  public record TextPair(String text, String textPair) {}

  @Override
  protected List<LabelScore> postprocess(String text, List<Encoding> windows, float[][][] outputs) {
    if (windows.size() == 1) {
      return head.postprocess(outputs[0][logits]);
    }
    List<float[]> perWindow = new java.util.ArrayList<>(windows.size());
    for (float[][] w : outputs) {
      perWindow.add(w[logits]);
    }
    return head.postprocessWindows(perWindow, options.windowPool() == PipelineOptions.WindowPool.MAX);
  }
}
