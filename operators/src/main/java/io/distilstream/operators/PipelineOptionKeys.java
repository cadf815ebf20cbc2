package io.distilstream.operators;

import io.distilstream.runtime.batch.BatchingOptions;
import io.distilstream.runtime.heads.TokenClassificationHead;
import io.distilstream.runtime.model.Device;
import io.distilstream.runtime.model.SessionOptions;
import io.distilstream.runtime.pipeline.PipelineOptions;
import java.util.List;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;

/**
 * The options that set a {@link PipelineOptions}' session, batching and head settings, read in one place for both
 * the DataStream operator ({@link InferenceOptions}, {@code inference.*}) and SQL models
 * ({@link io.distilstream.operators.sql.DistilBertOptions}, {@code CREATE MODEL ... WITH}).
 */
public record PipelineOptionKeys(
    ConfigOption<String> device,
    ConfigOption<Integer> intraOpThreads,
    ConfigOption<Integer> maxBatchSize,
    ConfigOption<Integer> maxTokens,
    ConfigOption<Double> maxPaddingRatio,
    ConfigOption<Integer> maxLength,
    ConfigOption<Integer> topK,
    ConfigOption<String> aggregation,
    ConfigOption<Integer> stride,
    ConfigOption<Integer> docStride,
    ConfigOption<Integer> maxAnswerLen,
    ConfigOption<Integer> maxMasks,
    ConfigOption<Integer> maxChoices,
    ConfigOption<Integer> maxCandidateLabels,
    ConfigOption<List<String>> candidateLabels,
    ConfigOption<String> hypothesisTemplate,
    ConfigOption<Boolean> multiLabel,
    ConfigOption<Boolean> int8Rewrite,
    ConfigOption<Boolean> allowBatchDependentResults) {

  /**
   * Sets {@code p}'s session, batching, max-length, top-k, aggregation, stride, doc-stride, max-answer-len,
   * max-masks, max-choices, max-candidate-labels and the zero-shot defaults from {@code conf} and returns it.
   *
   * @throws IllegalArgumentException for a value the runtime rejects (an unknown device or aggregation, ...)
   */
  public PipelineOptions applyTo(PipelineOptions p, ReadableConfig conf) {
    return p
        .session(SessionOptions.defaults()
            .device(Device.parse(conf.get(device)))
            .intraOpThreads(conf.get(intraOpThreads))
            .int8Rewrite(conf.get(int8Rewrite))
            .allowBatchDependentResults(conf.get(allowBatchDependentResults)))
        .batching(new BatchingOptions(conf.get(maxBatchSize), conf.get(maxTokens), conf.get(maxPaddingRatio)))
        .maxLength(conf.get(maxLength))
        .topK(conf.get(topK))
        .aggregation(TokenClassificationHead.Aggregation.parse(conf.get(aggregation)))
        .stride(conf.get(stride))
        .docStride(conf.get(docStride))
        .maxAnswerLength(conf.get(maxAnswerLen))
        .maxMasks(conf.get(maxMasks))
        .maxChoices(conf.get(maxChoices))
        .maxCandidateLabels(conf.get(maxCandidateLabels))
        .candidateLabels(conf.getOptional(candidateLabels).orElse(List.of()))
        .hypothesisTemplate(conf.get(hypothesisTemplate))
        .multiLabel(conf.get(multiLabel));
  }
}
