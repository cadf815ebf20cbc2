package io.distilstream.operators.shadow;

import io.distilstream.runtime.compare.Agreement;
import io.distilstream.runtime.heads.Answer;
import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.heads.FillMaskHead;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.schemas.AnswerSpan;
import io.distilstream.schemas.ChoiceScore;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.EntitySpan;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.Label;
import io.distilstream.schemas.MaskPredictions;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.TokenPrediction;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Reads what the comparison needs out of the operator's {@link InferenceOutput} records (which model, which event,
 * which task) and adds a primary's and a shadow's result of one event to an {@link Agreement}, converting the Avro
 * results back to the runtime's types.
 */
public final class ShadowResults {
  private ShadowResults() {}

  /** The record's result or dead letter's event id. */
  public static String id(InferenceOutput o) {
    if (o.getDeadLetter() != null) {
      return o.getDeadLetter().getId();
    }
    if (o.getClassification() != null) return o.getClassification().getId();
    if (o.getZeroShot() != null) return o.getZeroShot().getId();
    if (o.getEntities() != null) return o.getEntities().getId();
    if (o.getAnswer() != null) return o.getAnswer().getId();
    if (o.getFillMask() != null) return o.getFillMask().getId();
    if (o.getChoice() != null) return o.getChoice().getId();
    if (o.getEmbedding() != null) return o.getEmbedding().getId();
    return null;
  }

  /** The model of a result; null for a dead letter. */
  public static ModelInfo model(InferenceOutput o) {
    if (o.getClassification() != null) return o.getClassification().getModel();
    if (o.getZeroShot() != null) return o.getZeroShot().getModel();
    if (o.getEntities() != null) return o.getEntities().getModel();
    if (o.getAnswer() != null) return o.getAnswer().getModel();
    if (o.getFillMask() != null) return o.getFillMask().getModel();
    if (o.getChoice() != null) return o.getChoice().getModel();
    if (o.getEmbedding() != null) return o.getEmbedding().getModel();
    return null;
  }

  /** The Hugging Face task id of a result or dead letter (null for a dead letter that names none). */
  public static String task(InferenceOutput o) {
    if (o.getDeadLetter() != null) return o.getDeadLetter().getTask();
    if (o.getClassification() != null) return "text-classification";
    if (o.getZeroShot() != null) return "zero-shot-classification";
    if (o.getEntities() != null) return "token-classification";
    if (o.getAnswer() != null) return "question-answering";
    if (o.getFillMask() != null) return "fill-mask";
    if (o.getChoice() != null) return "multiple-choice";
    if (o.getEmbedding() != null) return "feature-extraction";
    return null;
  }

  /**
   * Adds one event's primary and shadow results to {@code a}. Both are results (not dead letters) of the same task;
   * results of different tasks (a misconfigured pair) count as compared without a figure.
   */
  public static Agreement add(Agreement a, InferenceOutput primary, InferenceOutput shadow) {
    if (primary.getClassification() != null && shadow.getClassification() != null) {
      return a.addLabels(labels(primary.getClassification()), labels(shadow.getClassification()));
    }
    if (primary.getZeroShot() != null && shadow.getZeroShot() != null) {
      return a.addLabels(labels(primary.getZeroShot()), labels(shadow.getZeroShot()));
    }
    if (primary.getChoice() != null && shadow.getChoice() != null) {
      return a.addLabels(choices(primary.getChoice().getChoices()), choices(shadow.getChoice().getChoices()));
    }
    if (primary.getEntities() != null && shadow.getEntities() != null) {
      return a.addEntities(entities(primary.getEntities().getEntities()),
          entities(shadow.getEntities().getEntities()));
    }
    if (primary.getAnswer() != null && shadow.getAnswer() != null) {
      return a.addAnswers(answers(primary.getAnswer().getAnswers()), answers(shadow.getAnswer().getAnswers()));
    }
    if (primary.getFillMask() != null && shadow.getFillMask() != null) {
      return a.addMasks(masks(primary.getFillMask().getMasks()), masks(shadow.getFillMask().getMasks()));
    }
    return a.addOther();
  }

  /** Labels best first, as the runtime gives them. */
  public static List<LabelScore> labels(ClassificationResult r) {
    List<LabelScore> out = new ArrayList<>(r.getLabels().size());
    for (Label l : r.getLabels()) {
      out.add(new LabelScore(l.getLabel(), l.getScore()));
    }
    return out;
  }

  /** Choices are in the order given; as labels, best first (stable for equal scores). */
  static List<LabelScore> choices(List<ChoiceScore> choices) {
    List<LabelScore> out = new ArrayList<>(choices.size());
    for (ChoiceScore c : choices) {
      out.add(new LabelScore(c.getChoice(), c.getScore()));
    }
    out.sort(Comparator.comparingDouble((LabelScore l) -> l.score()).reversed());
    return out;
  }

  static List<Entity> entities(List<EntitySpan> spans) {
    List<Entity> out = new ArrayList<>(spans.size());
    for (EntitySpan s : spans) {
      out.add(new Entity(null, s.getLabel(), s.getScore(), s.getWord(), s.getStart(), s.getEnd(), -1));
    }
    return out;
  }

  static List<Answer> answers(List<AnswerSpan> spans) {
    List<Answer> out = new ArrayList<>(spans.size());
    for (AnswerSpan s : spans) {
      out.add(new Answer(s.getScore(), s.getStart(), s.getEnd(), s.getAnswer()));
    }
    return out;
  }

  static List<List<FillMaskHead.Prediction>> masks(List<MaskPredictions> masks) {
    List<List<FillMaskHead.Prediction>> out = new ArrayList<>(masks.size());
    for (MaskPredictions m : masks) {
      List<FillMaskHead.Prediction> one = new ArrayList<>(m.getPredictions().size());
      for (TokenPrediction p : m.getPredictions()) {
        one.add(new FillMaskHead.Prediction(p.getScore(), p.getToken(), p.getTokenStr(), p.getSequence()));
      }
      out.add(one);
    }
    return out;
  }
}
