package io.distilstream.runtime.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.distilstream.runtime.heads.Answer;
import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.heads.FillMaskHead;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.heads.MultipleChoiceHead;
import java.util.List;

/**
 * Results as JSON, in the shapes Hugging Face's pipelines return them (the CLI's output contract):
 * <ul>
 *   <li>text-classification: {@code [{"label":…, "score":…}, …]}</li>
 *   <li>token-classification: {@code [{"entity_group":…, "score":…, "word":…, "start":…, "end":…}, …]}, or with
 *       aggregation {@code none} {@code [{"entity":…, "score":…, "index":…, "word":…, "start":…, "end":…}, …]}</li>
 *   <li>question-answering: {@code {"score":…, "start":…, "end":…, "answer":…}}, a list of those when top-k > 1</li>
 *   <li>feature-extraction: {@code [f, f, …]}</li>
 *   <li>fill-mask: {@code [{"score":…, "token":…, "token_str":…, "sequence":…}, …]}, a list of those per mask when
 *       the text has more than one</li>
 *   <li>multiple-choice: {@code {"best":i, "choice":…, "scores":[…], "logits":[…]}}, scores and logits in the
 *       choices' order</li>
 *   <li>zero-shot-classification: {@code {"sequence":…, "labels":[…], "scores":[…]}}, best label first</li>
 *   <li>an input without a result: {@code {"error":…, "reason":…}}</li>
 * </ul>
 */
public final class ResultJson {
  private static final JsonNodeFactory F = JsonNodeFactory.instance;

  private ResultJson() {}

  public static JsonNode of(Outcome<?> outcome, int topK) {
    if (!outcome.isSuccess()) {
      return error(outcome.reason(), outcome.message());
    }
    return of(outcome.value(), topK);
  }

  public static ObjectNode error(Outcome.Reason reason, String message) {
    ObjectNode n = F.objectNode();
    n.put("error", message);
    n.put("reason", reason.name());
    return n;
  }

  @SuppressWarnings("unchecked")
  static JsonNode of(Object value, int topK) {
    if (value instanceof float[]) {
      return floats(F.arrayNode(), (float[]) value);
    }
    if (value instanceof MultipleChoiceHead.Result) {
      return choices((MultipleChoiceHead.Result) value);
    }
    if (value instanceof ZeroShotClassificationPipeline.Result) {
      return zeroShot((ZeroShotClassificationPipeline.Result) value);
    }
    List<Object> list = (List<Object>) value;
    if (!list.isEmpty() && list.get(0) instanceof List) {
      // fill-mask: one list per mask; Hugging Face gives the list itself when there is one mask
      if (list.size() == 1) {
        return of(list.get(0), topK);
      }
      ArrayNode a = F.arrayNode();
      for (Object o : list) {
        a.add(of(o, topK));
      }
      return a;
    }
    if (!list.isEmpty() && list.get(0) instanceof Answer && topK <= 1) {
      return answer((Answer) list.get(0));
    }
    ArrayNode a = F.arrayNode();
    for (Object o : list) {
      if (o instanceof LabelScore) {
        a.add(label((LabelScore) o));
      } else if (o instanceof Entity) {
        a.add(entity((Entity) o));
      } else if (o instanceof Answer) {
        a.add(answer((Answer) o));
      } else if (o instanceof FillMaskHead.Prediction) {
        a.add(prediction((FillMaskHead.Prediction) o));
      } else {
        throw new IllegalArgumentException("no JSON form for " + o.getClass());
      }
    }
    return a;
  }

  public static ObjectNode label(LabelScore l) {
    ObjectNode n = F.objectNode();
    n.put("label", l.label());
    n.put("score", l.score());
    return n;
  }

  public static ObjectNode entity(Entity e) {
    ObjectNode n = F.objectNode();
    if (e.entityGroup() != null) {
      n.put("entity_group", e.entityGroup());
    } else {
      n.put("entity", e.entity());
    }
    n.put("score", e.score());
    if (e.entityGroup() == null) {
      n.put("index", e.index());
    }
    n.put("word", e.word());
    n.put("start", e.start());
    n.put("end", e.end());
    return n;
  }

  public static ObjectNode prediction(FillMaskHead.Prediction p) {
    ObjectNode n = F.objectNode();
    n.put("score", p.score());
    n.put("token", p.token());
    n.put("token_str", p.tokenStr());
    n.put("sequence", p.sequence());
    return n;
  }

  public static ObjectNode choices(MultipleChoiceHead.Result r) {
    ObjectNode n = F.objectNode();
    n.put("best", r.best());
    n.put("choice", r.bestChoice());
    floats(n.putArray("scores"), r.scores());
    floats(n.putArray("logits"), r.logits());
    return n;
  }

  /** Hugging Face's zero-shot shape: the text, and labels and scores as parallel lists, best first. */
  public static ObjectNode zeroShot(ZeroShotClassificationPipeline.Result r) {
    ObjectNode n = F.objectNode();
    n.put("sequence", r.sequence());
    ArrayNode labels = n.putArray("labels");
    ArrayNode scores = n.putArray("scores");
    for (LabelScore l : r.labels()) {
      labels.add(l.label());
      scores.add(l.score());
    }
    return n;
  }

  private static ArrayNode floats(ArrayNode into, float[] values) {
    for (float f : values) {
      into.add(f);
    }
    return into;
  }

  public static ObjectNode answer(Answer a) {
    ObjectNode n = F.objectNode();
    n.put("score", a.score());
    n.put("start", a.start());
    n.put("end", a.end());
    n.put("answer", a.answer());
    return n;
  }
}
