package io.distilstream.runtime.pipeline;

import io.distilstream.runtime.heads.FillMaskHead;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.ModelLoadException;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.tokenizer.Encoding;
import java.util.List;

/**
 * {@code fill-mask} ({@code DistilBertForMaskedLM}, {@code BertForMaskedLM}): for every {@code [MASK]} in the text,
 * the {@code top-k} (5) most likely tokens with their score and the text with the mask filled in. The result holds
 * one list per mask, in text order; Hugging Face (and the CLI's JSON) give the single list itself when there is one
 * mask. A text without a mask is {@code INVALID_INPUT}.
 */
public final class FillMaskPipeline extends Pipeline<String, List<List<FillMaskHead.Prediction>>> {
  /**
   * Most bytes of logits one model call may produce. ONNX Runtime writes {@code tokens x vocab} floats per call and
   * its Java binding copies them out whole (8 rows of 512 tokens: 500 MB twice), so the calls of a batch are cut to
   * at most this many padded tokens' worth: 549 tokens of a 30,522-word vocabulary, a full window always fits.
   */
  public static final long MAX_LOGITS_BYTES_PER_CALL = 64L << 20;

  private final FillMaskHead head;
  private final int logits;
  private final int vocab;
  /** {@link #batcher}'s plan with {@link #MAX_LOGITS_BYTES_PER_CALL} applied. */
  private final io.distilstream.runtime.batch.DynamicBatcher boundedBatcher;

  FillMaskPipeline(ModelDirectory dir, PipelineOptions options) {
    super(Task.FILL_MASK, dir, options, 0);
    try {
      this.logits = requireOutput("logits", ModelSession.OutputShape.PER_TOKEN_VECTOR, 0);
      this.vocab = session.outputWidth(logits);
      if (tokenizer.maskId() < 0) {
        throw new ModelLoadException(directory.path(), "a [MASK] token in the tokenizer's vocabulary", "none");
      }
      if (tokenizer.maskId() >= vocab) {
        throw new ModelLoadException(directory.onnxFile(), "logits over the tokenizer's vocabulary (its [MASK] is id "
            + tokenizer.maskId() + ")", "logits of width " + vocab);
      }
    } catch (ModelLoadException e) {
      throw closeAndFail(e);
    }
    io.distilstream.runtime.batch.BatchingOptions b = options.batching();
    int tokens = (int) Math.max(maxLength, Math.min(b.maxTokens(), MAX_LOGITS_BYTES_PER_CALL / (4L * vocab)));
    this.boundedBatcher = new io.distilstream.runtime.batch.DynamicBatcher(session,
        new io.distilstream.runtime.batch.BatchingOptions(b.maxBatchSize(), tokens, b.maxPaddingRatio()));
    // top-k 0 means "all" for classification labels; over a whole vocabulary it means the default
    this.head = new FillMaskHead(options.topK() > 0 ? options.topK() : FillMaskHead.DEFAULT_TOP_K);
  }

  /** The mask token as written in texts. */
  public String maskToken() {
    return tokenizer.idToToken(tokenizer.maskId());
  }

  @Override
  protected List<Encoding> preprocess(String text) {
    Encoding e = encodeOneWindow(text);
    int masks = FillMaskHead.maskPositions(e.ids, tokenizer.maskId()).length;
    if (masks == 0) {
      throw new InferenceException(Outcome.Reason.INVALID_INPUT, "no mask token " + maskToken() + " in the text"
          + (e.length() >= maxLength ? " (within its first " + maxLength + " tokens)" : ""));
    }
    if (masks > options.maxMasks()) {
      // each mask costs a softmax over the vocabulary and top-k decoded sequences in the result
      throw new InferenceException(Outcome.Reason.LIMIT_EXCEEDED, masks + " mask tokens, over max-masks ("
          + options.maxMasks() + ")");
    }
    return List.of(e);
  }

  @Override
  protected List<List<FillMaskHead.Prediction>> postprocess(String text, List<Encoding> windows,
      float[][][] outputs) {
    int[] ids = windows.get(0).ids;
    return head.postprocessMaskRows(ids, outputs[0][logits], vocab,
        FillMaskHead.maskPositions(ids, tokenizer.maskId()), tokenizer.padId(), tokenizer::decode);
  }

  /** Padded tokens one model call may hold: the batching's max-tokens, cut for the logits' size. */
  public int maxTokensPerCall() {
    return boundedBatcher.options().maxTokens();
  }

  @Override
  protected float[][][] runModel(List<Encoding> flat, int[] windowsPerInput) throws Exception {
    return boundedBatcher.run(flat, tokenRows());
  }

  /** Only the logits rows of the masks are kept: {@code masks x vocab}, not {@code length x vocab}. */
  @Override
  protected ModelSession.TokenRows tokenRows() {
    int maskId = tokenizer.maskId();
    return e -> FillMaskHead.maskPositions(e.ids, maskId);
  }
}
