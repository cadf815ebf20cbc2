package io.distilstream.operators;

import io.distilstream.runtime.heads.MultipleChoiceHead;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.MultipleChoicePipeline;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.ChoiceResult;
import io.distilstream.schemas.ChoiceScore;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.TextEvent;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.util.OutputTag;

/** multiple-choice: the text as the prompt and the event's choices; every choice on {@link Enrichment#CHOICES}. */
final class MultipleChoiceBinding
    extends TaskBinding<MultipleChoicePipeline.Question, MultipleChoiceHead.Result, ChoiceResult> {
  @Override
  Task task() {
    return Task.MULTIPLE_CHOICE;
  }

  @Override
  Pipeline<MultipleChoicePipeline.Question, MultipleChoiceHead.Result> open(ModelDirectory dir,
      PipelineOptions options) {
    return (MultipleChoicePipeline) Pipeline.create(task(), dir, options);
  }

  @Override
  Request<MultipleChoicePipeline.Question> prepare(TextEvent event, InferenceSpec spec,
      Pipeline<MultipleChoicePipeline.Question, MultipleChoiceHead.Result> pipeline) {
    InferenceOutput refused = textRefused(event, spec);
    if (refused != null) {
      return Request.failed(refused);
    }
    List<String> choices = event.getChoices() == null ? List.of() : event.getChoices();
    int maxChoices = spec.pipelineOptions().maxChoices();
    if (choices.size() > maxChoices) {
      // before the copy below: the pipeline checks it too, but only after the list has been copied
      return Request.failed(dead(event, DeadLetterReason.LIMIT_EXCEEDED, choices.size() + " choices, over "
          + InferenceOptions.MAX_CHOICES.key() + " (" + maxChoices + ")"));
    }
    for (String c : choices) {
      if (c != null && c.length() > spec.maxTextChars()) {
        return Request.failed(tooLong(event, spec, "a choice"));
      }
    }
    return Request.of(pipeline.prepare(new MultipleChoicePipeline.Question(event.getText(), new ArrayList<>(choices))));
  }

  /** Only an event with choices. */
  @Override
  boolean byDefault(TextEvent event, InferenceSpec spec,
      Pipeline<MultipleChoicePipeline.Question, MultipleChoiceHead.Result> pipeline) {
    return event.getChoices() != null && !event.getChoices().isEmpty();
  }

  @Override
  ChoiceResult record(TextEvent event, ModelInfo model, long micros, MultipleChoiceHead.Result r) {
    List<ChoiceScore> choices = new ArrayList<>(r.choices().size());
    for (int c = 0; c < r.choices().size(); c++) {
      choices.add(new ChoiceScore(r.choices().get(c), r.scores()[c], r.logits()[c]));
    }
    return ChoiceResult.newBuilder().setId(event.getId()).setKey(event.getKey()).setModel(model)
        .setLatencyMicros(micros).setChoices(choices).setBest(r.best()).setBestChoice(r.bestChoice())
        .setAttributes(event.getAttributes()).build();
  }

  @Override
  void set(InferenceOutput.Builder out, ChoiceResult r) {
    out.setChoice(r);
  }

  @Override
  ChoiceResult get(InferenceOutput o) {
    return o.getChoice();
  }

  @Override
  OutputTag<ChoiceResult> tag() {
    return Enrichment.CHOICES;
  }
}
