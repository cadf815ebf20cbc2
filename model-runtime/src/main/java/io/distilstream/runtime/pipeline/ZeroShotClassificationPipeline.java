package io.distilstream.runtime.pipeline;

import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.ModelLoadException;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.tokenizer.Encoding;
import io.distilstream.runtime.tokenizer.WordPieceTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * {@code zero-shot-classification} over an NLI model, as Hugging Face's {@code ZeroShotClassificationPipeline}: each
 * candidate label becomes the hypothesis {@code hypothesis_template.format(label)} ("This example is {}." by
 * default) of the pair {@code [CLS] text [SEP] hypothesis [SEP]} (truncation {@code only_first}); the model's
 * entailment logits are softmax-ed across the labels, or with {@code multi_label} (and for a single label) each
 * label's entailment logit against its contradiction logit. Labels come back sorted by score, best first.
 *
 * <p>The entailment label is the one of {@code id2label} whose name starts with "entail" (any case), the
 * contradiction label the one starting with "contra", else index 0 (the last one when entailment is 0), Hugging
 * Face's choice. Each label costs a sequence through the model, so an input has at most
 * {@link PipelineOptions#maxCandidateLabels()} of them (a {@code LIMIT_EXCEEDED} outcome over it), labels of at
 * most {@link #MAX_LABEL_CHARS} and templates of at most {@link #MAX_TEMPLATE_CHARS} characters.
 */
public final class ZeroShotClassificationPipeline
    extends Pipeline<ZeroShotClassificationPipeline.Request, ZeroShotClassificationPipeline.Result> {
  /** Longest candidate label, in chars. */
  public static final int MAX_LABEL_CHARS = 256;
  /** Longest hypothesis template, in chars. */
  public static final int MAX_TEMPLATE_CHARS = 512;

  /**
   * A text and what to classify it as; a {@code null} field takes the pipeline's option
   * ({@link PipelineOptions#candidateLabels()}, {@link PipelineOptions#hypothesisTemplate()},
   * {@link PipelineOptions#multiLabel()}).
   */
  public record Request(String text, List<String> candidateLabels, String hypothesisTemplate, Boolean multiLabel) {
    /** The text with the pipeline's labels, template and mode. */
    public static Request of(String text) {
      return new Request(text, null, null, null);
    }
  }

  /** Hugging Face's {@code {"sequence":…, "labels":[…], "scores":[…]}}: every label, best first. */
  public record Result(String sequence, List<LabelScore> labels) {}

  private final int logits;
  private final int entailment;
  private final int contradiction;

  ZeroShotClassificationPipeline(ModelDirectory dir, PipelineOptions options) {
    super(Task.ZERO_SHOT_CLASSIFICATION, dir, options, 0);
    try {
      List<String> labels = config.id2label();
      this.entailment = indexStartingWith(labels, "entail");
      if (entailment < 0) {
        throw new ModelLoadException(directory.configFile(), "for zero-shot-classification: an NLI model whose"
            + " id2label has a label starting with 'entail'", "id2label " + labels);
      }
      int contra = indexStartingWith(labels, "contra");
      this.contradiction = contra >= 0 ? contra : entailment == 0 ? labels.size() - 1 : 0;
      if (labels.size() < 2) {
        throw new ModelLoadException(directory.configFile(), "for zero-shot-classification: at least entailment"
            + " and contradiction labels", "id2label " + labels);
      }
      this.logits = requireOutput("logits", ModelSession.OutputShape.PER_SEQUENCE, config.numLabels());
    } catch (ModelLoadException e) {
      throw closeAndFail(e);
    }
  }

  private static int indexStartingWith(List<String> labels, String prefix) {
    for (int i = 0; i < labels.size(); i++) {
      if (labels.get(i).toLowerCase(Locale.ROOT).startsWith(prefix)) {
        return i;
      }
    }
    return -1;
  }

  /** {@code t}, if it is a template Hugging Face accepts (it has a {@code {}}) within {@link #MAX_TEMPLATE_CHARS}. */
  public static String checkTemplate(String t) {
    if (t == null || !t.contains("{}")) {
      throw new IllegalArgumentException("the hypothesis template must contain {} (where the label goes), got '"
          + t + "'");
    }
    if (t.length() > MAX_TEMPLATE_CHARS) {
      throw new IllegalArgumentException("the hypothesis template has " + t.length() + " chars, over "
          + MAX_TEMPLATE_CHARS);
    }
    return t;
  }

  /** The labels a request will be scored against: its own, else the options'. */
  public List<String> labelsOf(Request r) {
    return r.candidateLabels() != null && !r.candidateLabels().isEmpty() ? r.candidateLabels()
        : options.candidateLabels();
  }

  @Override
  protected List<Encoding> preprocess(Request r) {
    if (r == null) {
      throw new InferenceException(Outcome.Reason.INVALID_INPUT, "request is null");
    }
    requireText(r.text(), "text");
    List<String> labels = labelsOf(r);
    if (labels.isEmpty()) {
      throw new InferenceException(Outcome.Reason.INVALID_INPUT, "zero-shot-classification needs candidate labels");
    }
    if (labels.size() > options.maxCandidateLabels()) {
      // checked before tokenizing: every label is a sequence of up to a window through the model
      throw new InferenceException(Outcome.Reason.LIMIT_EXCEEDED, labels.size() + " candidate labels, over"
          + " max-candidate-labels (" + options.maxCandidateLabels() + ")");
    }
    String template;
    try {
      template = checkTemplate(r.hypothesisTemplate() != null ? r.hypothesisTemplate()
          : options.hypothesisTemplate());
    } catch (IllegalArgumentException e) {
      throw new InferenceException(Outcome.Reason.INVALID_INPUT, e.getMessage());
    }
    List<String> hypotheses = new ArrayList<>(labels.size());
    for (String label : labels) {
      if (label == null || label.isBlank()) {
        throw new InferenceException(Outcome.Reason.INVALID_INPUT, "a candidate label is null or blank");
      }
      if (label.length() > MAX_LABEL_CHARS) {
        throw new InferenceException(Outcome.Reason.LIMIT_EXCEEDED, "a candidate label has " + label.length()
            + " chars, over " + MAX_LABEL_CHARS);
      }
      hypotheses.add(template.replace("{}", label));
    }
    List<Encoding> pairs;
    try {
      pairs = tokenizer.encodePairs(r.text(), hypotheses, options.truncate() ? maxLength : 0,
          WordPieceTokenizer.Truncation.ONLY_FIRST);
    } catch (IllegalArgumentException e) {
      throw new InferenceException(Outcome.Reason.TEXT_TOO_LONG, "a hypothesis leaves no room for the text: "
          + e.getMessage());
    }
    for (Encoding e : pairs) {
      if (e.length() > maxLength) {
        throw new InferenceException(Outcome.Reason.TEXT_TOO_LONG, "text and hypothesis have " + e.length()
            + " tokens, over the model's window of " + maxLength);
      }
    }
    return pairs;
  }

  @Override
  protected Result postprocess(Request r, List<Encoding> windows, float[][][] outputs) {
    List<String> labels = labelsOf(r);
    int n = labels.size();
    boolean multi = (r.multiLabel() != null ? r.multiLabel() : options.multiLabel()) || n == 1;
    double[] scores = new double[n];
    if (multi) {
      for (int i = 0; i < n; i++) {
        float[] l = outputs[i][logits];
        // softmax over [contradiction, entailment], its entailment half
        scores[i] = 1.0 / (1.0 + Math.exp((double) l[contradiction] - l[entailment]));
      }
    } else {
      double max = Double.NEGATIVE_INFINITY;
      for (int i = 0; i < n; i++) {
        max = Math.max(max, outputs[i][logits][entailment]);
      }
      double sum = 0;
      for (int i = 0; i < n; i++) {
        scores[i] = Math.exp(outputs[i][logits][entailment] - max);
        sum += scores[i];
      }
      for (int i = 0; i < n; i++) {
        scores[i] /= sum;
      }
    }
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    // stable: equal scores keep the order the labels were given in
    Arrays.sort(order, (a, b) -> Double.compare(scores[b], scores[a]));
    List<LabelScore> out = new ArrayList<>(n);
    for (int i : order) {
      out.add(new LabelScore(labels.get(i), (float) scores[i]));
    }
    return new Result(r.text(), out);
  }
}
