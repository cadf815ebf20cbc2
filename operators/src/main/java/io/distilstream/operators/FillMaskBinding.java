package io.distilstream.operators;

import io.distilstream.runtime.heads.FillMaskHead;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.FillMaskPipeline;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.FillMaskResult;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.MaskPredictions;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TokenPrediction;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.util.OutputTag;

/** fill-mask: the text; each mask's candidates on {@link Enrichment#FILL_MASKS}. */
final class FillMaskBinding
    extends TaskBinding<String, List<List<FillMaskHead.Prediction>>, FillMaskResult> {
  @Override
  Task task() {
    return Task.FILL_MASK;
  }

  @Override
  Pipeline<String, List<List<FillMaskHead.Prediction>>> open(ModelDirectory dir, PipelineOptions options) {
    return (FillMaskPipeline) Pipeline.create(task(), dir, options);
  }

  @Override
  Request<String> prepare(TextEvent event, InferenceSpec spec,
      Pipeline<String, List<List<FillMaskHead.Prediction>>> pipeline) {
    return text(event, spec, pipeline, t -> t);
  }

  /** Only a text with the model's mask token. */
  @Override
  boolean byDefault(TextEvent event, InferenceSpec spec,
      Pipeline<String, List<List<FillMaskHead.Prediction>>> pipeline) {
    return event.getText() != null && event.getText().contains(((FillMaskPipeline) pipeline).maskToken());
  }

  @Override
  FillMaskResult record(TextEvent event, ModelInfo model, long micros, List<List<FillMaskHead.Prediction>> result) {
    List<MaskPredictions> masks = new ArrayList<>(result.size());
    for (List<FillMaskHead.Prediction> mask : result) {
      List<TokenPrediction> predictions = new ArrayList<>(mask.size());
      for (FillMaskHead.Prediction p : mask) {
        predictions.add(new TokenPrediction(p.score(), p.token(), p.tokenStr(), p.sequence()));
      }
      masks.add(new MaskPredictions(predictions));
    }
    return FillMaskResult.newBuilder().setId(event.getId()).setKey(event.getKey()).setModel(model)
        .setLatencyMicros(micros).setMasks(masks).setAttributes(event.getAttributes()).build();
  }

  @Override
  void set(InferenceOutput.Builder out, FillMaskResult r) {
    out.setFillMask(r);
  }

  @Override
  FillMaskResult get(InferenceOutput o) {
    return o.getFillMask();
  }

  @Override
  OutputTag<FillMaskResult> tag() {
    return Enrichment.FILL_MASKS;
  }
}
