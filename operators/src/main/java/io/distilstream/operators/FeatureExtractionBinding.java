package io.distilstream.operators;

import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.FeatureExtractionPipeline;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.EmbeddingResult;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.TextEvent;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.util.OutputTag;

/** feature-extraction: the text; the pooled vector on {@link Enrichment#EMBEDDINGS}. */
final class FeatureExtractionBinding extends TaskBinding<String, float[], EmbeddingResult> {
  @Override
  Task task() {
    return Task.FEATURE_EXTRACTION;
  }

  @Override
  Pipeline<String, float[]> open(ModelDirectory dir, PipelineOptions options) {
    return (FeatureExtractionPipeline) Pipeline.create(task(), dir, options);
  }

  @Override
  Request<String> prepare(TextEvent event, InferenceSpec spec, Pipeline<String, float[]> pipeline) {
    return text(event, spec, pipeline, t -> t);
  }

  @Override
  EmbeddingResult record(TextEvent event, ModelInfo model, long micros, float[] result) {
    List<Float> vector = new ArrayList<>(result.length);
    for (float f : result) {
      vector.add(f);
    }
    return EmbeddingResult.newBuilder().setId(event.getId()).setKey(event.getKey()).setModel(model)
        .setLatencyMicros(micros).setVector(vector).setAttributes(event.getAttributes()).build();
  }

  @Override
  void set(InferenceOutput.Builder out, EmbeddingResult r) {
    out.setEmbedding(r);
  }

  @Override
  EmbeddingResult get(InferenceOutput o) {
    return o.getEmbedding();
  }

  @Override
  OutputTag<EmbeddingResult> tag() {
    return Enrichment.EMBEDDINGS;
  }
}
