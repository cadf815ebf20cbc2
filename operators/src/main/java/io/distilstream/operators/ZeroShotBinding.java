package io.distilstream.operators;

import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.ZeroShotClassificationPipeline;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.TextEvent;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.util.OutputTag;

/**
 * zero-shot-classification: the text with the event's {@code candidate_labels}, {@code hypothesis_template} and
 * {@code multi_label} (else the job's {@code inference.zero-shot.*}); every label, best first, as a
 * {@link ClassificationResult} on {@link Enrichment#ZERO_SHOT}.
 */
final class ZeroShotBinding extends TaskBinding<ZeroShotClassificationPipeline.Request,
    ZeroShotClassificationPipeline.Result, ClassificationResult> {
  @Override
  Task task() {
    return Task.ZERO_SHOT_CLASSIFICATION;
  }

  @Override
  Pipeline<ZeroShotClassificationPipeline.Request, ZeroShotClassificationPipeline.Result> open(ModelDirectory dir,
      PipelineOptions options) {
    return (ZeroShotClassificationPipeline) Pipeline.create(task(), dir, options);
  }

  @Override
  Request<ZeroShotClassificationPipeline.Request> prepare(TextEvent event, InferenceSpec spec,
      Pipeline<ZeroShotClassificationPipeline.Request, ZeroShotClassificationPipeline.Result> pipeline) {
    InferenceOutput refused = textRefused(event, spec);
    if (refused != null) {
      return Request.failed(refused);
    }
    List<String> labels = event.getCandidateLabels() == null ? List.of() : event.getCandidateLabels();
    int max = spec.pipelineOptions().maxCandidateLabels();
    if (labels.size() > max) {
      // before the copy below, as for choices
      return Request.failed(dead(event, DeadLetterReason.LIMIT_EXCEEDED, labels.size() + " candidate labels, over "
          + InferenceOptions.MAX_CANDIDATE_LABELS.key() + " (" + max + ")"));
    }
    // label and template lengths are bounded by the pipeline (LIMIT_EXCEEDED, INVALID_INPUT)
    return Request.of(pipeline.prepare(new ZeroShotClassificationPipeline.Request(event.getText(),
        labels.isEmpty() ? null : new ArrayList<>(labels), event.getHypothesisTemplate(), event.getMultiLabel())));
  }

  /** Only an event with candidate labels, its own or the job's. */
  @Override
  boolean byDefault(TextEvent event, InferenceSpec spec,
      Pipeline<ZeroShotClassificationPipeline.Request, ZeroShotClassificationPipeline.Result> pipeline) {
    return (event.getCandidateLabels() != null && !event.getCandidateLabels().isEmpty())
        || !spec.pipelineOptions().candidateLabels().isEmpty();
  }

  @Override
  ClassificationResult record(TextEvent event, ModelInfo model, long micros,
      ZeroShotClassificationPipeline.Result result) {
    return TextClassificationBinding.labels(event, model, micros, result.labels());
  }

  @Override
  void set(InferenceOutput.Builder out, ClassificationResult r) {
    out.setZeroShot(r);
  }

  @Override
  ClassificationResult get(InferenceOutput o) {
    return o.getZeroShot();
  }

  @Override
  OutputTag<ClassificationResult> tag() {
    return Enrichment.ZERO_SHOT;
  }
}
