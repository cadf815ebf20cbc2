package io.distilstream.operators;

import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.Label;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.TextEvent;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.util.OutputTag;

/** text-classification: the text, or the pair (text, text_pair); labels on the main output. */
final class TextClassificationBinding extends TaskBinding<String, List<LabelScore>, ClassificationResult> {
  @Override
  Task task() {
    return Task.TEXT_CLASSIFICATION;
  }

  @Override
  Pipeline<String, List<LabelScore>> open(ModelDirectory dir, PipelineOptions options) {
    return (TextClassificationPipeline) Pipeline.create(task(), dir, options);
  }

  @Override
  Request<String> prepare(TextEvent event, InferenceSpec spec, Pipeline<String, List<LabelScore>> pipeline) {
    InferenceOutput refused = textRefused(event, spec);
    if (refused != null) {
      return Request.failed(refused);
    }
    String pair = event.getTextPair();
    if (pair == null) {
      return Request.of(pipeline.prepare(event.getText()));
    }
    if (pair.length() > spec.maxTextChars()) {
      return Request.failed(tooLong(event, spec, "text_pair"));
    }
    return Request.of(((TextClassificationPipeline) pipeline).preparePair(event.getText(), pair));
  }

  @Override
  ClassificationResult record(TextEvent event, ModelInfo model, long micros, List<LabelScore> result) {
    return labels(event, model, micros, result);
  }

  /** Labels as a {@link ClassificationResult} (text-classification's, and zero-shot's on its own stream). */
  static ClassificationResult labels(TextEvent event, ModelInfo model, long micros, List<LabelScore> result) {
    List<Label> labels = new ArrayList<>(result.size());
    for (LabelScore l : result) {
      labels.add(new Label(l.label(), l.score()));
    }
    return ClassificationResult.newBuilder().setId(event.getId()).setKey(event.getKey()).setModel(model)
        .setLatencyMicros(micros).setLabels(labels).setAttributes(event.getAttributes()).build();
  }

  @Override
  void set(InferenceOutput.Builder out, ClassificationResult r) {
    out.setClassification(r);
  }

  @Override
  ClassificationResult get(InferenceOutput o) {
    return o.getClassification();
  }

  @Override
  OutputTag<ClassificationResult> tag() {
    return null;
  }
}
