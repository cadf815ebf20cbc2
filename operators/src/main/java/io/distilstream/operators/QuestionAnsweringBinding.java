package io.distilstream.operators;

import io.distilstream.runtime.heads.Answer;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.QuestionAnsweringPipeline;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.AnswerResult;
import io.distilstream.schemas.AnswerSpan;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.TextEvent;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.util.OutputTag;

/** question-answering: the question and the context (else the text); answers on {@link Enrichment#ANSWERS}. */
final class QuestionAnsweringBinding
    extends TaskBinding<QuestionAnsweringPipeline.Question, List<Answer>, AnswerResult> {
  @Override
  Task task() {
    return Task.QUESTION_ANSWERING;
  }

  @Override
  Pipeline<QuestionAnsweringPipeline.Question, List<Answer>> open(ModelDirectory dir, PipelineOptions options) {
    return (QuestionAnsweringPipeline) Pipeline.create(task(), dir, options);
  }

  @Override
  Request<QuestionAnsweringPipeline.Question> prepare(TextEvent event, InferenceSpec spec,
      Pipeline<QuestionAnsweringPipeline.Question, List<Answer>> pipeline) {
    String context = event.getContext() != null ? event.getContext() : event.getText();
    String tooLong = context != null && context.length() > spec.maxTextChars() ? "context"
        : event.getQuestion() != null && event.getQuestion().length() > spec.maxTextChars() ? "question" : null;
    if (tooLong != null) {
      return Request.failed(tooLong(event, spec, tooLong));
    }
    return Request.of(pipeline.prepare(new QuestionAnsweringPipeline.Question(event.getQuestion(), context)));
  }

  /** Only an event that asks a question. */
  @Override
  boolean byDefault(TextEvent event, InferenceSpec spec,
      Pipeline<QuestionAnsweringPipeline.Question, List<Answer>> pipeline) {
    return event.getQuestion() != null;
  }

  @Override
  AnswerResult record(TextEvent event, ModelInfo model, long micros, List<Answer> result) {
    List<AnswerSpan> answers = new ArrayList<>(result.size());
    for (Answer a : result) {
      answers.add(new AnswerSpan(a.answer(), a.score(), a.start(), a.end()));
    }
    return AnswerResult.newBuilder().setId(event.getId()).setKey(event.getKey()).setModel(model)
        .setLatencyMicros(micros).setAnswers(answers).setAttributes(event.getAttributes()).build();
  }

  @Override
  void set(InferenceOutput.Builder out, AnswerResult r) {
    out.setAnswer(r);
  }

  @Override
  AnswerResult get(InferenceOutput o) {
    return o.getAnswer();
  }

  @Override
  OutputTag<AnswerResult> tag() {
    return Enrichment.ANSWERS;
  }
}
