package io.distilstream.runtime.compare;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.distilstream.runtime.heads.Answer;
import io.distilstream.runtime.heads.Entity;
import io.distilstream.runtime.heads.FillMaskHead;
import io.distilstream.runtime.heads.LabelScore;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * How far a shadow model agrees with its primary, accumulated over events both ran on: one {@code add*} call per
 * event with the primary's and the shadow's result of the same input and task. Which figures apply depends on the
 * task; the others stay {@code null}:
 *
 * <ul>
 *   <li>labels (text-classification, zero-shot-classification, multiple-choice, fill-mask): top-1 agreement (the
 *       fraction of events whose top label, or top token at every mask, is the same), mean |Δscore| (the primary's
 *       top label's score against the shadow's score for that same label, over the decisions where the shadow
 *       reports it: a shadow with top-k 1 and another top label has none) and label flips by pair ({@code
 *       POSITIVE→NEGATIVE}), at most {@link #maxFlipPairs} distinct pairs, later pairs counted in {@link
 *       #otherFlips()};
 *   <li>spans (token-classification): entity-span F1, exact span and label, micro-averaged over events (true and
 *       false positives and negatives summed, then F1); two models that both find nothing agree (F1 1);
 *   <li>answers (question-answering): exact match of the best answers after SQuAD's normalisation.
 * </ul>
 *
 * Accumulators of the same pair merge ({@link #merge}), so parallel subtasks can be combined; {@link #toJson} and
 * {@link #fromJson} give a small record of every count, from which every figure is recomputed. Not thread-safe.
 */
public final class Agreement implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Default bound on distinct flip pairs: a hostile or broken shadow cannot grow the state without bound. */
  public static final int DEFAULT_MAX_FLIP_PAIRS = 32;
  /** Separates the two labels of a flip pair's key. */
  public static final String ARROW = "→";

  /** Distinct flip pairs kept; a flip of any further pair counts in {@link #otherFlips}. */
  private final int maxFlipPairs;
  /** Events compared, of every kind. */
  private long compared;
  /** Events compared by top label or token. */
  private long labelEvents;
  /** Of those, events whose top label (every mask's top token) agreed. */
  private long top1Agreed;
  /** Sum of |Δscore| over {@link #scoredDecisions}. */
  private double sumAbsScoreDelta;
  /** Decisions (a label, or one mask) where the shadow reported the primary's top label. */
  private long scoredDecisions;
  /** Flip counts by {@code from→to}, in first-seen order. */
  private final LinkedHashMap<String, Long> flips = new LinkedHashMap<>();
  /** Flips of pairs beyond {@link #maxFlipPairs}. */
  private long otherFlips;
  /** Events compared by entity spans. */
  private long spanEvents;
  /** Spans (start, end, label) both found. */
  private long spanTruePositives;
  /** Spans only the shadow found. */
  private long spanFalsePositives;
  /** Spans only the primary found. */
  private long spanFalseNegatives;
  /** Events compared by best answer. */
  private long answerEvents;
  /** Of those, events whose normalised best answers are equal. */
  private long exactMatches;

  public Agreement() {
    this(DEFAULT_MAX_FLIP_PAIRS);
  }

  public Agreement(int maxFlipPairs) {
    if (maxFlipPairs < 0) {
      throw new IllegalArgumentException("maxFlipPairs must be >= 0, got " + maxFlipPairs);
    }
    this.maxFlipPairs = maxFlipPairs;
  }

  /** text-classification, zero-shot-classification, multiple-choice: labels best first, as the pipelines give them. */
  public Agreement addLabels(List<LabelScore> primary, List<LabelScore> shadow) {
    compared++;
    labelEvents++;
    if (decide(primary, shadow)) {
      top1Agreed++;
    }
    return this;
  }

  /** fill-mask: per mask, candidates best first; the event agrees when every mask's top token does. */
  public Agreement addMasks(List<List<FillMaskHead.Prediction>> primary, List<List<FillMaskHead.Prediction>> shadow) {
    compared++;
    labelEvents++;
    boolean all = primary.size() == shadow.size();
    int n = Math.min(primary.size(), shadow.size());
    for (int m = 0; m < n; m++) {
      all &= decide(asLabels(primary.get(m)), asLabels(shadow.get(m)));
    }
    if (all) {
      top1Agreed++;
    }
    return this;
  }

  /** token-classification: the spans of each side, compared by (start, end, label). */
  public Agreement addEntities(List<Entity> primary, List<Entity> shadow) {
    compared++;
    spanEvents++;
    Set<String> p = spans(primary);
    Set<String> s = spans(shadow);
    long tp = 0;
    for (String span : s) {
      if (p.contains(span)) {
        tp++;
      }
    }
    spanTruePositives += tp;
    spanFalsePositives += s.size() - tp;
    spanFalseNegatives += p.size() - tp;
    return this;
  }

  /** question-answering: answers best first; an empty list is the empty answer. */
  public Agreement addAnswers(List<Answer> primary, List<Answer> shadow) {
    compared++;
    answerEvents++;
    String p = primary.isEmpty() ? "" : primary.get(0).answer();
    String s = shadow.isEmpty() ? "" : shadow.get(0).answer();
    if (normalizeAnswer(p).equals(normalizeAnswer(s))) {
      exactMatches++;
    }
    return this;
  }

  /** A task with no agreement figure (feature-extraction): counted as compared. */
  public Agreement addOther() {
    compared++;
    return this;
  }

  /** Adds another accumulator's counts (of the same primary and shadow) to this one. */
  public Agreement merge(Agreement other) {
    compared += other.compared;
    labelEvents += other.labelEvents;
    top1Agreed += other.top1Agreed;
    sumAbsScoreDelta += other.sumAbsScoreDelta;
    scoredDecisions += other.scoredDecisions;
    for (Map.Entry<String, Long> e : other.flips.entrySet()) {
      countFlip(e.getKey(), e.getValue());
    }
    otherFlips += other.otherFlips;
    spanEvents += other.spanEvents;
    spanTruePositives += other.spanTruePositives;
    spanFalsePositives += other.spanFalsePositives;
    spanFalseNegatives += other.spanFalseNegatives;
    answerEvents += other.answerEvents;
    exactMatches += other.exactMatches;
    return this;
  }

  /** Compares one decision; true when the top labels agree. */
  private boolean decide(List<LabelScore> primary, List<LabelScore> shadow) {
    if (primary.isEmpty() || shadow.isEmpty()) {
      return primary.isEmpty() && shadow.isEmpty();
    }
    LabelScore p = primary.get(0);
    for (LabelScore s : shadow) {
      if (s.label().equals(p.label())) {
        sumAbsScoreDelta += Math.abs((double) p.score() - (double) s.score());
        scoredDecisions++;
        break;
      }
    }
    String sTop = shadow.get(0).label();
    if (sTop.equals(p.label())) {
      return true;
    }
    countFlip(p.label() + ARROW + sTop, 1);
    return false;
  }

  private void countFlip(String pair, long n) {
    Long have = flips.get(pair);
    if (have != null) {
      flips.put(pair, have + n);
    } else if (flips.size() < maxFlipPairs) {
      flips.put(pair, n);
    } else {
      otherFlips += n;
    }
  }

  private static List<LabelScore> asLabels(List<FillMaskHead.Prediction> predictions) {
    List<LabelScore> out = new ArrayList<>(predictions.size());
    for (FillMaskHead.Prediction p : predictions) {
      out.add(new LabelScore(p.tokenStr(), p.score()));
    }
    return out;
  }

  private static Set<String> spans(List<Entity> entities) {
    Set<String> out = new HashSet<>();
    for (Entity e : entities) {
      out.add(e.start() + ":" + e.end() + ":" + e.label());
    }
    return out;
  }

  private static final Pattern PUNCTUATION = Pattern.compile("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~]");
  private static final Pattern ARTICLES = Pattern.compile("\\b(a|an|the)\\b");

  /**
   * SQuAD's {@code normalize_answer}: lower case, ASCII punctuation removed, the articles a/an/the removed, runs of
   * whitespace collapsed to one space and trimmed.
   */
  public static String normalizeAnswer(String s) {
    String t = s.toLowerCase(Locale.ROOT);
    t = PUNCTUATION.matcher(t).replaceAll("");
    t = ARTICLES.matcher(t).replaceAll(" ");
    return String.join(" ", t.trim().split("\\s+")).trim();
  }

  /** Events compared, of every kind. */
  public long compared() {
    return compared;
  }

  /** Fraction of label events whose top label agreed; {@code null} when no event was compared by label. */
  public Double top1Agreement() {
    return labelEvents == 0 ? null : (double) top1Agreed / labelEvents;
  }

  /** Mean |Δscore| of the primary's top label; {@code null} when the shadow never reported it. */
  public Double meanAbsScoreDelta() {
    return scoredDecisions == 0 ? null : sumAbsScoreDelta / scoredDecisions;
  }

  /** Flip counts by {@code from→to} (see {@link #ARROW}), in first-seen order. */
  public Map<String, Long> flips() {
    return Collections.unmodifiableMap(flips);
  }

  /** Flips of pairs beyond the bound on distinct pairs. */
  public long otherFlips() {
    return otherFlips;
  }

  /** Micro-averaged entity-span F1; {@code null} when no event was compared by spans, 1 when neither found any. */
  public Double spanF1() {
    if (spanEvents == 0) {
      return null;
    }
    long denominator = 2 * spanTruePositives + spanFalsePositives + spanFalseNegatives;
    return denominator == 0 ? 1.0 : 2.0 * spanTruePositives / denominator;
  }

  /** Fraction of answer events whose normalised best answers are equal; {@code null} when none was compared. */
  public Double exactMatch() {
    return answerEvents == 0 ? null : (double) exactMatches / answerEvents;
  }

  /** The bound on distinct flip pairs. */
  public int maxFlipPairs() {
    return maxFlipPairs;
  }

  /** Every count (figures are recomputed from them), as a small JSON object. */
  public ObjectNode toJson() {
    ObjectNode o = JSON.createObjectNode();
    o.put("max_flip_pairs", maxFlipPairs);
    o.put("compared", compared);
    o.put("label_events", labelEvents);
    o.put("top1_agreed", top1Agreed);
    o.put("sum_abs_score_delta", sumAbsScoreDelta);
    o.put("scored_decisions", scoredDecisions);
    ArrayNode f = o.putArray("flips");
    for (Map.Entry<String, Long> e : flips.entrySet()) {
      int arrow = e.getKey().indexOf(ARROW);
      f.addObject()
          .put("from", e.getKey().substring(0, arrow))
          .put("to", e.getKey().substring(arrow + ARROW.length()))
          .put("count", e.getValue());
    }
    o.put("other_flips", otherFlips);
    o.put("span_events", spanEvents);
    o.put("span_tp", spanTruePositives);
    o.put("span_fp", spanFalsePositives);
    o.put("span_fn", spanFalseNegatives);
    o.put("answer_events", answerEvents);
    o.put("exact_matches", exactMatches);
    return o;
  }

  /** The inverse of {@link #toJson}. */
  public static Agreement fromJson(JsonNode o) {
    Agreement a = new Agreement(o.path("max_flip_pairs").asInt(DEFAULT_MAX_FLIP_PAIRS));
    a.compared = o.path("compared").asLong();
    a.labelEvents = o.path("label_events").asLong();
    a.top1Agreed = o.path("top1_agreed").asLong();
    a.sumAbsScoreDelta = o.path("sum_abs_score_delta").asDouble();
    a.scoredDecisions = o.path("scored_decisions").asLong();
    for (JsonNode f : o.path("flips")) {
      a.flips.put(f.path("from").asText() + ARROW + f.path("to").asText(), f.path("count").asLong());
    }
    a.otherFlips = o.path("other_flips").asLong();
    a.spanEvents = o.path("span_events").asLong();
    a.spanTruePositives = o.path("span_tp").asLong();
    a.spanFalsePositives = o.path("span_fp").asLong();
    a.spanFalseNegatives = o.path("span_fn").asLong();
    a.answerEvents = o.path("answer_events").asLong();
    a.exactMatches = o.path("exact_matches").asLong();
    return a;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Agreement a && toJson().equals(a.toJson());
  }

  @Override
  public int hashCode() {
    return Objects.hash(compared, labelEvents, top1Agreed, spanEvents, answerEvents, flips);
  }

  @Override
  public String toString() {
    return "Agreement" + toJson();
  }
}
