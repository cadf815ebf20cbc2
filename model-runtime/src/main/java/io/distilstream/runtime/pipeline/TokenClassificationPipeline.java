package io.distilstream.runtime.pipeline;

import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.heads.TokenClassificationHead;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.ModelLoadException;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.tokenizer.Encoding;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code token-classification} (NER): entity spans with character offsets into the input text. A text longer than
 * one window is split into windows that share {@code stride} tokens, and the spans are merged back (the default
 * long-text policy, {@code chunk}); {@code truncate} keeps the first window, {@code reject} refuses the text.
 */
public final class TokenClassificationPipeline extends Pipeline<String, List<Entity>> {
  private final TokenClassificationHead head;
  private final int logits;

  TokenClassificationPipeline(ModelDirectory dir, PipelineOptions options) {
    super(Task.TOKEN_CLASSIFICATION, dir, options, 0);
    try {
      if (config.numLabels() == 0) {
        throw new ModelLoadException(directory.configFile(), "id2label for token-classification", "no labels");
      }
      this.logits = requireOutput("logits", ModelSession.OutputShape.PER_TOKEN_VECTOR, config.numLabels());
      if (options.stride() >= maxLength - 2) {
        throw new IllegalArgumentException("stride " + options.stride() + " must be below the window's "
            + (maxLength - 2) + " text tokens");
      }
    } catch (ModelLoadException | IllegalArgumentException e) {
      session.close();
      throw e;
    }
    this.head = new TokenClassificationHead(config.id2label(), options.aggregation(), Set.of("O"));
  }

  @Override
  protected List<Encoding> preprocess(String text) {
    Encoding full = tokenizer.encode(requireText(text, "text"), 0);
    switch (options.longTextOr(PipelineOptions.LongText.CHUNK)) {
      case TRUNCATE:
        return List.of(full.length() <= maxLength ? full : tokenizer.encode(text, maxLength));
      case REJECT:
        if (full.length() > maxLength) {
          throw new InferenceException(Outcome.Reason.TEXT_TOO_LONG,
              "text has " + full.length() + " tokens, over the model's window of " + maxLength);
        }
        return List.of(full);
      default:
        return windows(full, maxLength, options.stride(), tokenizer.clsId(), tokenizer.sepId());
    }
  }

  @Override
  protected List<Entity> postprocess(String text, List<Encoding> windows, float[][][] outputs) {
    if (windows.size() == 1) {
      return head.postprocess(text, windows.get(0), outputs[0][logits], tokenizer::idToToken);
    }
    List<float[]> perWindow = new ArrayList<>(windows.size());
    for (float[][] w : outputs) {
      perWindow.add(w[logits]);
    }
    return head.postprocessWindows(text, windows, perWindow, tokenizer::idToToken, options.stride());
  }

  /**
   * Cuts {@code [CLS] t0 .. tn [SEP]} into windows of at most {@code maxLength} tokens, each
   * {@code [CLS] ti .. tj [SEP]}, consecutive windows sharing {@code stride} text tokens (Hugging Face's
   * {@code return_overflowing_tokens} with {@code stride}). Offsets and word ids stay those of the whole text.
   */
  static List<Encoding> windows(Encoding full, int maxLength, int stride, int cls, int sep) {
    if (full.length() <= maxLength) {
      return List.of(full);
    }
    int textTokens = full.length() - 2;
    int capacity = maxLength - 2;
    int step = capacity - stride;
    List<Encoding> out = new ArrayList<>();
    for (int from = 0; ; from += step) {
      int to = Math.min(textTokens, from + capacity);
      int len = to - from + 2;
      int[] ids = new int[len];
      int[] types = new int[len];
      int[] starts = new int[len];
      int[] ends = new int[len];
      int[] words = new int[len];
      byte[] seqs = new byte[len];
      ids[0] = cls;
      words[0] = -1;
      seqs[0] = -1;
      System.arraycopy(full.ids, from + 1, ids, 1, len - 2);
      System.arraycopy(full.starts, from + 1, starts, 1, len - 2);
      System.arraycopy(full.ends, from + 1, ends, 1, len - 2);
      System.arraycopy(full.wordIds, from + 1, words, 1, len - 2);
      System.arraycopy(full.sequenceIds, from + 1, seqs, 1, len - 2);
      ids[len - 1] = sep;
      words[len - 1] = -1;
      seqs[len - 1] = -1;
      out.add(new Encoding(ids, types, starts, ends, words, seqs));
      if (to == textTokens) {
        return out;
      }
    }
  }
}
