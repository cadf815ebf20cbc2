package io.distilstream.operators;

import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.EntityResult;
import io.distilstream.schemas.EntitySpan;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.TextEvent;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.util.OutputTag;

/** token-classification: the text; entity spans on {@link Enrichment#ENTITIES}. */
final class TokenClassificationBinding extends TaskBinding<String, List<Entity>, EntityResult> {
  @Override
  Task task() {
    return Task.TOKEN_CLASSIFICATION;
  }

  @Override
  Pipeline<String, List<Entity>> open(ModelDirectory dir, PipelineOptions options) {
    return (io.distilstream.runtime.pipeline.TokenClassificationPipeline) Pipeline.create(task(), dir, options);
  }

  @Override
  Request<String> prepare(TextEvent event, InferenceSpec spec, Pipeline<String, List<Entity>> pipeline) {
    return text(event, spec, pipeline, t -> t);
  }

  @Override
  EntityResult record(TextEvent event, ModelInfo model, long micros, List<Entity> result) {
    List<EntitySpan> spans = new ArrayList<>(result.size());
    for (Entity e : result) {
      spans.add(new EntitySpan(e.entityGroup() != null ? e.entityGroup() : e.entity(), e.score(), e.word(),
          e.start(), e.end()));
    }
    return EntityResult.newBuilder().setId(event.getId()).setKey(event.getKey()).setModel(model)
        .setLatencyMicros(micros).setEntities(spans).setAttributes(event.getAttributes()).build();
  }

  @Override
  void set(InferenceOutput.Builder out, EntityResult r) {
    out.setEntities(r);
  }

  @Override
  EntityResult get(InferenceOutput o) {
    return o.getEntities();
  }

  @Override
  OutputTag<EntityResult> tag() {
    return Enrichment.ENTITIES;
  }
}
