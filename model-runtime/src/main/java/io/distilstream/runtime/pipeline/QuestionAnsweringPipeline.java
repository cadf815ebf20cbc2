package io.distilstream.runtime.pipeline;

import io.distilstream.runtime.heads.Answer;
import io.distilstream.runtime.heads.QuestionAnsweringHead;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.ModelLoadException;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.tokenizer.Encoding;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code question-answering} (extractive): the best spans of the context, with character offsets into it. A
 * context longer than one window ({@code max_seq_len}, 384 by default as in Hugging Face) is split with
 * {@code doc_stride} and the best span across windows wins.
 */
public final class QuestionAnsweringPipeline extends Pipeline<QuestionAnsweringPipeline.Question, List<Answer>> {
  /** Hugging Face's {@code max_seq_len} default. */
  public static final int DEFAULT_MAX_SEQ_LEN = 384;

  /** A question about a context. */
  public record Question(String question, String context) {}

  private final QuestionAnsweringHead head;
  private final int start;
  private final int end;

  QuestionAnsweringPipeline(ModelDirectory dir, PipelineOptions options) {
    super(Task.QUESTION_ANSWERING, dir, options, DEFAULT_MAX_SEQ_LEN);
    try {
      this.start = requireOutput("start_logits", ModelSession.OutputShape.PER_TOKEN_SCALAR, 0);
      this.end = requireOutput("end_logits", ModelSession.OutputShape.PER_TOKEN_SCALAR, 0);
    } catch (ModelLoadException e) {
      throw closeAndFail(e);
    }
    int topK = options.topK() > 0 ? options.topK() : 1;
    this.head = new QuestionAnsweringHead(options.maxAnswerLength(), topK, options.handleImpossibleAnswer());
  }

  @Override
  protected List<Encoding> preprocess(Question q) {
    if (q == null) {
      throw new InferenceException(Outcome.Reason.INVALID_INPUT, "question-answering needs a question and a context");
    }
    String question = requireText(q.question(), "question");
    String context = requireText(q.context(), "context");
    if (question.isBlank()) {
      throw new InferenceException(Outcome.Reason.INVALID_INPUT, "question is empty");
    }
    if (context.isBlank()) {
      throw new InferenceException(Outcome.Reason.INVALID_INPUT, "context is empty");
    }
    int questionTokens = tokenizer.tokenIds(question).length;
    if (questionTokens > options.maxQuestionLength()) {
      throw new InferenceException(Outcome.Reason.TEXT_TOO_LONG, "question has " + questionTokens
          + " tokens, over max-question-len " + options.maxQuestionLength());
    }
    return tokenizer.encodeWindows(question, context, maxLength, options.docStride());
  }

  @Override
  protected List<Answer> postprocess(Question q, List<Encoding> windows, float[][][] outputs) {
    List<float[]> starts = new ArrayList<>(windows.size());
    List<float[]> ends = new ArrayList<>(windows.size());
    for (float[][] w : outputs) {
      starts.add(w[start]);
      ends.add(w[end]);
    }
    return head.postprocess(q.context(), windows, starts, ends);
  }
}
