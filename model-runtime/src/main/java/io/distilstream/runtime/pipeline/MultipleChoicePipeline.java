package io.distilstream.runtime.pipeline;

import io.distilstream.runtime.heads.MultipleChoiceHead;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.ModelLoadException;
import io.distilstream.runtime.tokenizer.Encoding;
import io.distilstream.runtime.tokenizer.WordPieceTokenizer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code multiple-choice} ({@code DistilBertForMultipleChoice}, {@code BertForMultipleChoice}): a prompt and N
 * choices, each choice encoded as the pair {@code [CLS] prompt [SEP] choice [SEP]} (token type ids 0 then 1,
 * truncation {@code longest_first}), run as one {@code [batch, num_choices, seq]} input; the result is a logit and
 * a score (softmax over the choices) per choice, and the best choice. Hugging Face has no pipeline for this task;
 * the encoding is the one its documentation shows ({@code tokenizer([prompt, prompt], [choice0, choice1])}).
 */
public final class MultipleChoicePipeline
    extends Pipeline<MultipleChoicePipeline.Question, MultipleChoiceHead.Result> {
  /** A prompt and its choices. */
  public record Question(String prompt, List<String> choices) {}

  private final MultipleChoiceHead head = new MultipleChoiceHead();

  MultipleChoicePipeline(ModelDirectory dir, PipelineOptions options) {
    super(Task.MULTIPLE_CHOICE, dir, options, 0);
    if (!session.multipleChoice() || !session.outputNames().contains("logits")) {
      ModelLoadException e = new ModelLoadException(directory.onnxFile(), "for multiple-choice: inputs [batch_size,"
          + " num_choices, sequence_length] and output 'logits' [batch_size, num_choices] (Optimum's multiple-choice"
          + " export, or build-model --task multiple-choice)", "inputs of rank 2 or outputs " + session.outputNames());
      throw closeAndFail(e);
    }
  }

  @Override
  protected List<Encoding> preprocess(Question q) {
    if (q == null || q.prompt() == null || q.choices() == null) {
      throw new InferenceException(Outcome.Reason.INVALID_INPUT, "multiple-choice needs a prompt and choices");
    }
    if (q.choices().size() < 2) {
      throw new InferenceException(Outcome.Reason.INVALID_INPUT, "multiple-choice needs at least 2 choices, got "
          + q.choices().size());
    }
    if (q.choices().size() > options.maxChoices()) {
      // checked before tokenizing: every choice is a sequence of up to a window through the model
      throw new InferenceException(Outcome.Reason.LIMIT_EXCEEDED, q.choices().size() + " choices, over max-choices ("
          + options.maxChoices() + ")");
    }
    for (String choice : q.choices()) {
      requireText(choice, "a choice");
    }
    List<Encoding> out = tokenizer.encodePairs(q.prompt(), q.choices(), options.truncate() ? maxLength : 0,
        WordPieceTokenizer.Truncation.LONGEST_FIRST);
    for (Encoding e : out) {
      if (e.length() > maxLength) {
        throw new InferenceException(Outcome.Reason.TEXT_TOO_LONG, "prompt and choice have " + e.length()
            + " tokens, over the model's window of " + maxLength);
      }
    }
    return out;
  }

  /** Inputs with the same number of choices run together, in batches of at most max-batch-size sequences. */
  @Override
  protected float[][][] runModel(List<Encoding> flat, int[] windowsPerInput) throws Exception {
    float[][][] out = new float[1][flat.size()][];
    Map<Integer, List<Integer>> byChoices = new LinkedHashMap<>();
    int[] firstWindow = new int[windowsPerInput.length];
    int next = 0;
    for (int i = 0; i < windowsPerInput.length; i++) {
      firstWindow[i] = next;
      next += windowsPerInput[i];
      if (windowsPerInput[i] > 0) {
        byChoices.computeIfAbsent(windowsPerInput[i], k -> new ArrayList<>()).add(i);
      }
    }
    for (Map.Entry<Integer, List<Integer>> group : byChoices.entrySet()) {
      int choices = group.getKey();
      int rowsPerCall = Math.max(1, options.batching().maxBatchSize() / choices);
      List<Integer> inputs = group.getValue();
      for (int from = 0; from < inputs.size(); from += rowsPerCall) {
        List<Integer> rows = inputs.subList(from, Math.min(inputs.size(), from + rowsPerCall));
        List<Encoding> call = new ArrayList<>(rows.size() * choices);
        for (int i : rows) {
          call.addAll(flat.subList(firstWindow[i], firstWindow[i] + choices));
        }
        float[] logits = session.runChoices(call, choices, "logits");
        for (int r = 0; r < rows.size(); r++) {
          for (int c = 0; c < choices; c++) {
            out[0][firstWindow[rows.get(r)] + c] = new float[] {logits[r * choices + c]};
          }
        }
      }
    }
    return out;
  }

  @Override
  protected MultipleChoiceHead.Result postprocess(Question q, List<Encoding> windows, float[][][] outputs) {
    float[] logits = new float[outputs.length];
    for (int c = 0; c < outputs.length; c++) {
      logits[c] = outputs[c][0][0];
    }
    return head.postprocess(q.choices(), logits);
  }
}
