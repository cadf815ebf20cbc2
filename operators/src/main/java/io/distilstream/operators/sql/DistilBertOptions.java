package io.distilstream.operators.sql;

import io.distilstream.operators.InferenceOptions;
import io.distilstream.operators.PipelineOptionKeys;
import java.time.Duration;
import java.util.List;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.MemorySize;

/**
 * Options of {@code CREATE MODEL … WITH ('provider' = 'distilbert', …)} and of the table functions. Names follow the
 * DataStream operator's {@code inference.*} options without the prefix; defaults are the same.
 */
public final class DistilBertOptions {
  private DistilBertOptions() {}

  public static final ConfigOption<String> TASK = ConfigOptions.key("task").stringType().noDefaultValue()
      .withDescription("text-classification, token-classification, question-answering, feature-extraction,"
          + " fill-mask, multiple-choice or zero-shot-classification (aliases: sentiment-analysis, ner, qa, embeddings).");

  public static final ConfigOption<String> MODEL_DIR = ConfigOptions.key("model-dir").stringType().noDefaultValue()
      .withDescription("Model directory: config.json, tokenizer.json or vocab.txt, model.onnx (or model.safetensors)."
          + " Or a Hugging Face Hub id, ORG/NAME[@REVISION] (an existing local path wins): checked and pinned to its"
          + " commit when the statement is planned, fetched by each TaskManager into its Hugging Face cache"
          + " (HF_HOME).");

  public static final ConfigOption<Integer> MAX_BATCH_SIZE = ConfigOptions.key("max-batch-size").intType()
      .defaultValue(InferenceOptions.MAX_BATCH_SIZE.defaultValue())
      .withDescription(InferenceOptions.MAX_BATCH_SIZE.description());

  public static final ConfigOption<Integer> MAX_TOKENS = ConfigOptions.key("max-tokens").intType()
      .defaultValue(InferenceOptions.MAX_TOKENS.defaultValue())
      .withDescription(InferenceOptions.MAX_TOKENS.description());

  public static final ConfigOption<Double> MAX_PADDING_RATIO = ConfigOptions.key("max-padding-ratio").doubleType()
      .defaultValue(InferenceOptions.MAX_PADDING_RATIO.defaultValue())
      .withDescription(InferenceOptions.MAX_PADDING_RATIO.description());

  public static final ConfigOption<Duration> MAX_WAIT = ConfigOptions.key("max-wait").durationType()
      .defaultValue(InferenceOptions.MAX_WAIT.defaultValue())
      .withDescription(InferenceOptions.MAX_WAIT.description());

  public static final ConfigOption<String> DEVICE = ConfigOptions.key("device").stringType()
      .defaultValue(InferenceOptions.DEVICE.defaultValue())
      .withDescription(InferenceOptions.DEVICE.description());

  public static final ConfigOption<Integer> INTRA_OP_THREADS = ConfigOptions.key("intra-op-threads").intType()
      .defaultValue(InferenceOptions.INTRA_OP_THREADS.defaultValue())
      .withDescription(InferenceOptions.INTRA_OP_THREADS.description());

  public static final ConfigOption<Integer> MAX_LENGTH = ConfigOptions.key("max-length").intType()
      .defaultValue(InferenceOptions.MAX_LENGTH.defaultValue())
      .withDescription(InferenceOptions.MAX_LENGTH.description());

  public static final ConfigOption<String> LONG_TEXT = ConfigOptions.key("long-text").stringType()
      .noDefaultValue().withDescription("truncate, reject or chunk, as the job's inference.long-text; absent: the"
          + " task's default (truncate, chunk for token-classification).");

  public static final ConfigOption<Integer> TOP_K = ConfigOptions.key("top-k").intType()
      .defaultValue(InferenceOptions.TOP_K.defaultValue())
      .withDescription("text-classification labels per row (0 = all; -1, the default: 1, all for multi-label"
          + " models); question-answering answers per row (default 1); fill-mask candidates per mask (default 5).");

  public static final ConfigOption<String> AGGREGATION = ConfigOptions.key("aggregation").stringType()
      .defaultValue(InferenceOptions.AGGREGATION.defaultValue())
      .withDescription(InferenceOptions.AGGREGATION.description());

  public static final ConfigOption<Integer> STRIDE = ConfigOptions.key("stride").intType()
      .defaultValue(InferenceOptions.STRIDE.defaultValue())
      .withDescription(InferenceOptions.STRIDE.description());

  public static final ConfigOption<Integer> DOC_STRIDE = ConfigOptions.key("doc-stride").intType()
      .defaultValue(InferenceOptions.DOC_STRIDE.defaultValue())
      .withDescription(InferenceOptions.DOC_STRIDE.description());

  public static final ConfigOption<Integer> MAX_ANSWER_LEN = ConfigOptions.key("max-answer-len").intType()
      .defaultValue(InferenceOptions.MAX_ANSWER_LEN.defaultValue())
      .withDescription(InferenceOptions.MAX_ANSWER_LEN.description());

  public static final ConfigOption<Integer> MAX_MASKS = ConfigOptions.key("max-masks").intType()
      .defaultValue(InferenceOptions.MAX_MASKS.defaultValue())
      .withDescription("fill-mask: most mask tokens in one text; more is an input without a result"
          + " (LIMIT_EXCEEDED, handled as on-error says).");

  public static final ConfigOption<Integer> MAX_CHOICES = ConfigOptions.key("max-choices").intType()
      .defaultValue(InferenceOptions.MAX_CHOICES.defaultValue())
      .withDescription("multiple-choice: most choices in one row; more is an input without a result"
          + " (LIMIT_EXCEEDED, handled as on-error says), checked before tokenizing.");

  public static final ConfigOption<Integer> MAX_CANDIDATE_LABELS = ConfigOptions.key("max-candidate-labels")
      .intType().defaultValue(InferenceOptions.MAX_CANDIDATE_LABELS.defaultValue())
      .withDescription("zero-shot-classification: most candidate labels for one row; more is an input without a"
          + " result (LIMIT_EXCEEDED, handled as on-error says), checked before tokenizing.");

  public static final ConfigOption<java.util.List<String>> CANDIDATE_LABELS = ConfigOptions.key("candidate-labels")
      .stringType().asList().noDefaultValue()
      .withDescription("zero-shot-classification: the labels of a row whose INPUT has no candidate_labels column"
          + " (or a NULL or empty one there), separated by ';'.");

  public static final ConfigOption<String> HYPOTHESIS_TEMPLATE = ConfigOptions.key("hypothesis-template")
      .stringType().defaultValue(InferenceOptions.ZERO_SHOT_HYPOTHESIS_TEMPLATE.defaultValue())
      .withDescription("zero-shot-classification: the hypothesis each label becomes, {} standing for the label.");

  public static final ConfigOption<Boolean> MULTI_LABEL = ConfigOptions.key("multi-label").booleanType()
      .defaultValue(InferenceOptions.ZERO_SHOT_MULTI_LABEL.defaultValue())
      .withDescription("zero-shot-classification: score each label on its own (entailment against contradiction)"
          + " instead of a softmax across the labels.");

  public static final ConfigOption<Boolean> INT8_REWRITE = ConfigOptions.key("int8-rewrite").booleanType()
      .defaultValue(InferenceOptions.INT8_REWRITE.defaultValue())
      .withDescription(InferenceOptions.INT8_REWRITE.description());

  public static final ConfigOption<Boolean> ALLOW_BATCH_DEPENDENT_RESULTS =
      ConfigOptions.key("allow-batch-dependent-results").booleanType()
      .defaultValue(InferenceOptions.ALLOW_BATCH_DEPENDENT_RESULTS.defaultValue())
      .withDescription(InferenceOptions.ALLOW_BATCH_DEPENDENT_RESULTS.description());

  public static final ConfigOption<String> ON_ERROR = ConfigOptions.key("on-error").stringType()
      .defaultValue("null")
      .withDescription("An input without a result (empty text, too long, model error): 'null' emits the row with"
          + " NULL outputs (and the reason in an 'error' column when the model has one), 'skip' drops it, 'fail'"
          + " fails the job.");

  public static final ConfigOption<Boolean> CACHE_ENABLED = ConfigOptions.key("cache.enabled").booleanType()
      .defaultValue(InferenceOptions.CACHE_ENABLED.defaultValue())
      .withDescription(InferenceOptions.CACHE_ENABLED.description());

  public static final ConfigOption<Integer> CACHE_MAX_ENTRIES = ConfigOptions.key("cache.max-entries").intType()
      .defaultValue(InferenceOptions.CACHE_MAX_ENTRIES.defaultValue())
      .withDescription(InferenceOptions.CACHE_MAX_ENTRIES.description());

  public static final ConfigOption<MemorySize> CACHE_MAX_BYTES = ConfigOptions.key("cache.max-bytes").memoryType()
      .defaultValue(InferenceOptions.CACHE_MAX_BYTES.defaultValue())
      .withDescription(InferenceOptions.CACHE_MAX_BYTES.description());

  public static final ConfigOption<String> SCHEDULING = ConfigOptions.key("scheduling").stringType()
      .defaultValue(InferenceOptions.SCHEDULING.defaultValue())
      .withDescription("none, fair or fifo, as the job's inference.scheduling: with fair or fifo this model's"
          + " batches run within the TaskManager's thread budget of task-manager-threads threads, shared with every"
          + " other model of the same job in that TaskManager that names the same budget (other CREATE MODEL"
          + " statements over the same or other tables, and the job's DataStream operators).");

  public static final ConfigOption<Integer> TASK_MANAGER_THREADS = ConfigOptions.key("task-manager-threads")
      .intType().defaultValue(0)
      .withDescription("With scheduling fair or fifo: the size of the TaskManager's thread budget; 0 = the"
          + " available processors.");

  static final List<String> ON_ERROR_VALUES = List.of("null", "skip", "fail");

  /** The options above that {@link PipelineOptionKeys#applyTo} reads. */
  public static final PipelineOptionKeys PIPELINE_KEYS = new PipelineOptionKeys(DEVICE, INTRA_OP_THREADS,
      MAX_BATCH_SIZE, MAX_TOKENS, MAX_PADDING_RATIO, MAX_LENGTH, TOP_K, AGGREGATION, STRIDE, DOC_STRIDE,
      MAX_ANSWER_LEN, MAX_MASKS, MAX_CHOICES, MAX_CANDIDATE_LABELS, CANDIDATE_LABELS, HYPOTHESIS_TEMPLATE,
      MULTI_LABEL, INT8_REWRITE, ALLOW_BATCH_DEPENDENT_RESULTS);
}
