package io.distilstream.runtime.pipeline;

import io.distilstream.runtime.batch.BatchingOptions;
import io.distilstream.runtime.heads.TokenClassificationHead;
import io.distilstream.runtime.model.SessionOptions;
import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Everything a pipeline needs besides the model directory, with Hugging Face's pipeline defaults. Serializable: it
 * is the small description of work that a Flink operator ships and turns into a pipeline in {@code open()}.
 *
 * <p>Immutable: every setter checks its value and returns a changed copy ({@code defaults().topK(3).maxLength(256)}),
 * so one instance can be shared by subtasks, specs and pipelines without one of them changing another's options.
 */
public final class PipelineOptions implements Serializable, Cloneable {
  private static final long serialVersionUID = 1L;

  private SessionOptions session = SessionOptions.defaults();
  private BatchingOptions batching = BatchingOptions.defaults();
  /** Longest sequence fed to the model, specials included; 0 = the model's own limit. */
  private int maxLength = 0;
  /**
   * Texts longer than one window: {@code null} = the task's default (truncate for classification and features,
   * chunk for token classification; question answering always uses windows).
   */
  private LongText longText = null;
  /** Classification over chunks: how the windows' scores combine. */
  private WindowPool windowPool = WindowPool.MEAN;
  /** Text classification: how many labels; -1 = the default (1 single-label, all multi-label), 0 = all. */
  private int topK = -1;
  private Map<String, Float> thresholds = Map.of();
  private TokenClassificationHead.Aggregation aggregation = TokenClassificationHead.Aggregation.SIMPLE;
  /** Token classification over texts longer than one window: tokens shared by consecutive windows. */
  private int stride = 16;
  private int docStride = 128;
  private int maxQuestionLength = 64;
  private int maxAnswerLength = 15;
  private boolean handleImpossibleAnswer = false;
  private boolean normalize = true;
  private Pooling pooling = Pooling.MEAN;
  /** fill-mask: most {@code [MASK]}s in one text; each costs a softmax over the vocabulary and top-k sequences. */
  private int maxMasks = DEFAULT_MAX_MASKS;
  /** multiple-choice: most choices in one question; each is a sequence through the model. */
  private int maxChoices = DEFAULT_MAX_CHOICES;
  /** zero-shot-classification: most candidate labels for one text; each is a sequence through the model. */
  private int maxCandidateLabels = DEFAULT_MAX_CANDIDATE_LABELS;
  /** zero-shot-classification: the labels of an input that names none (empty: an input must name its own). */
  private java.util.List<String> candidateLabels = java.util.List.of();
  /** zero-shot-classification: the hypothesis each label becomes, {@code {}} standing for the label. */
  private String hypothesisTemplate = DEFAULT_HYPOTHESIS_TEMPLATE;
  /** zero-shot-classification: labels scored independently (entailment against contradiction) or softmax-ed together. */
  private boolean multiLabel = false;

  /** Default of {@link #maxMasks()}: far above what fill-mask prompts use, far below a window of masks. */
  public static final int DEFAULT_MAX_MASKS = 16;
  /** Default of {@link #maxChoices()}: multiple-choice sets (SWAG, RACE, ARC) have 2 to 5. */
  public static final int DEFAULT_MAX_CHOICES = 32;
  /** Default of {@link #maxCandidateLabels()}: the same bound as choices, for the same reason. */
  public static final int DEFAULT_MAX_CANDIDATE_LABELS = 32;
  /** Hugging Face's default {@code hypothesis_template}. */
  public static final String DEFAULT_HYPOTHESIS_TEMPLATE = "This example is {}.";

  public static PipelineOptions defaults() {
    return new PipelineOptions();
  }

  public SessionOptions session() { return session; }
  public BatchingOptions batching() { return batching; }
  public int maxLength() { return maxLength; }
  /** False when long texts are rejected ({@link LongText#REJECT}). */
  public boolean truncate() { return longText != LongText.REJECT; }
  /** The long-text policy as set, {@code null} for the task's default. */
  public LongText longText() { return longText; }
  /** The long-text policy, or {@code taskDefault} when none is set. */
  public LongText longTextOr(LongText taskDefault) { return longText != null ? longText : taskDefault; }
  public WindowPool windowPool() { return windowPool; }
  public int topK() { return topK; }
  public Map<String, Float> thresholds() { return thresholds; }
  public TokenClassificationHead.Aggregation aggregation() { return aggregation; }
  public int stride() { return stride; }
  public int docStride() { return docStride; }
  public int maxQuestionLength() { return maxQuestionLength; }
  public int maxAnswerLength() { return maxAnswerLength; }
  public boolean handleImpossibleAnswer() { return handleImpossibleAnswer; }
  public boolean normalize() { return normalize; }
  public Pooling pooling() { return pooling; }
  public int maxMasks() { return maxMasks; }
  public int maxChoices() { return maxChoices; }
  public int maxCandidateLabels() { return maxCandidateLabels; }
  public java.util.List<String> candidateLabels() { return candidateLabels; }
  public String hypothesisTemplate() { return hypothesisTemplate; }
  public boolean multiLabel() { return multiLabel; }

  public PipelineOptions session(SessionOptions s) { return with(c -> c.session = s); }
  public PipelineOptions batching(BatchingOptions b) { return with(c -> c.batching = b); }
  public PipelineOptions maxLength(int n) { return with(c -> c.maxLength = nonNegative("max-length", n)); }
  /** {@code true}: the task's default policy (truncate classification, chunk NER); {@code false}: reject. */
  public PipelineOptions truncate(boolean b) { return with(c -> c.longText = b ? null : LongText.REJECT); }
  public PipelineOptions longText(LongText p) { return with(c -> c.longText = p); }
  public PipelineOptions windowPool(WindowPool p) { return with(c -> c.windowPool = java.util.Objects.requireNonNull(p)); }
  public PipelineOptions topK(int k) {
    if (k < -1) throw new IllegalArgumentException("top-k must be >= 0 (0 = all), got " + k);
    return with(c -> c.topK = k);
  }
  public PipelineOptions threshold(String label, float t) {
    Map<String, Float> m = new LinkedHashMap<>(thresholds);
    m.put(label, t);
    return with(c -> c.thresholds = java.util.Collections.unmodifiableMap(m));
  }
  public PipelineOptions aggregation(TokenClassificationHead.Aggregation a) { return with(c -> c.aggregation = a); }
  public PipelineOptions stride(int n) { return with(c -> c.stride = nonNegative("stride", n)); }
  public PipelineOptions docStride(int n) { return with(c -> c.docStride = nonNegative("doc-stride", n)); }
  public PipelineOptions maxQuestionLength(int n) { return with(c -> c.maxQuestionLength = positive("max-question-len", n)); }
  public PipelineOptions maxAnswerLength(int n) { return with(c -> c.maxAnswerLength = positive("max-answer-len", n)); }
  public PipelineOptions handleImpossibleAnswer(boolean b) { return with(c -> c.handleImpossibleAnswer = b); }
  public PipelineOptions normalize(boolean b) { return with(c -> c.normalize = b); }
  public PipelineOptions maxMasks(int n) { return with(c -> c.maxMasks = positive("max-masks", n)); }
  public PipelineOptions maxChoices(int n) { return with(c -> c.maxChoices = positive("max-choices", n)); }
  public PipelineOptions maxCandidateLabels(int n) {
    int checked = positive("max-candidate-labels", n);
    return with(c -> c.maxCandidateLabels = checked);
  }
  public PipelineOptions candidateLabels(java.util.List<String> labels) {
    java.util.List<String> copy = java.util.List.copyOf(labels);
    return with(c -> c.candidateLabels = copy);
  }
  /** Must contain {@code {}}, as Hugging Face requires. */
  public PipelineOptions hypothesisTemplate(String t) {
    String checked = ZeroShotClassificationPipeline.checkTemplate(t);
    return with(c -> c.hypothesisTemplate = checked);
  }
  public PipelineOptions multiLabel(boolean b) { return with(c -> c.multiLabel = b); }
  public PipelineOptions pooling(Pooling p) { return with(c -> c.pooling = java.util.Objects.requireNonNull(p)); }

  /**
   * A copy with {@code change} applied: the only way a field changes, so no instance ever changes once shared. A
   * field-by-field copy (every field is immutable or replaced whole), so a field added later is copied too.
   */
  private PipelineOptions with(java.util.function.Consumer<PipelineOptions> change) {
    try {
      PipelineOptions c = (PipelineOptions) super.clone();
      change.accept(c);
      return c;
    } catch (CloneNotSupportedException e) {
      throw new AssertionError(e);
    }
  }


  /** What happens to a text longer than the model's window. */
  public enum LongText {
    /** Keep the first window (Hugging Face's {@code truncation=True}). */
    TRUNCATE,
    /** {@code TEXT_TOO_LONG}. */
    REJECT,
    /**
     * Windows sharing {@code stride} tokens; token classification merges their spans, classification pools their
     * scores ({@link WindowPool}).
     */
    CHUNK;

    public static LongText parse(String s) {
      try {
        return valueOf(s.trim().toUpperCase(java.util.Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("long-text must be truncate, reject or chunk, got '" + s + "'");
      }
    }

    @Override
    public String toString() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** Feature extraction: one vector per text from the mean of its token vectors, or the {@code [CLS]} vector. */
  public enum Pooling {
    MEAN, CLS;

    public static Pooling parse(String s) {
      try {
        return valueOf(s.trim().toUpperCase(java.util.Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("pooling must be mean or cls, got '" + s + "'");
      }
    }

    @Override
    public String toString() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** Classification over chunks: the mean or the maximum, label by label, of the windows' scores. */
  public enum WindowPool {
    MEAN, MAX;

    public static WindowPool parse(String s) {
      try {
        return valueOf(s.trim().toUpperCase(java.util.Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("window-pool must be mean or max, got '" + s + "'");
      }
    }

    @Override
    public String toString() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  private static int nonNegative(String name, int n) {
    if (n < 0) throw new IllegalArgumentException(name + " must be >= 0, got " + n);
    return n;
  }

  private static int positive(String name, int n) {
    if (n < 1) throw new IllegalArgumentException(name + " must be >= 1, got " + n);
    return n;
  }
}
