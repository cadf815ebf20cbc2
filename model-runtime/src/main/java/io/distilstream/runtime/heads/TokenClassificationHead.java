package io.distilstream.runtime.heads;

import io.distilstream.runtime.tokenizer.Encoding;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.IntFunction;

/**
 * Per-token logits to entities with the semantics of Hugging Face's {@code TokenClassificationPipeline}
 * (fast tokenizer): softmax per token, special tokens skipped, sub-words detected by comparing the token with the
 * text it covers ({@code len("##gging") != len("gging")}), the aggregation strategy applied, B-/I- groups formed,
 * then {@code ignoreLabels} (default {@code O}) dropped.
 */
public final class TokenClassificationHead {
  /** Hugging Face's {@code aggregation_strategy}. */
  public enum Aggregation {
    NONE, SIMPLE, FIRST, AVERAGE, MAX;

    public static Aggregation parse(String s) {
      try {
        return valueOf(s.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("unknown aggregation '" + s
            + "': expected none, simple, first, average or max");
      }
    }

    @Override
    public String toString() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  private static final String SUBWORD_PREFIX = "##";
  private static final String UNK = "[UNK]";

  private final List<String> id2label;
  private final Aggregation aggregation;
  private final Set<String> ignoreLabels;

  public TokenClassificationHead(List<String> id2label, Aggregation aggregation, Set<String> ignoreLabels) {
    this.id2label = List.copyOf(id2label);
    this.aggregation = aggregation;
    this.ignoreLabels = Set.copyOf(ignoreLabels);
  }

  /** A token before aggregation (HF's "pre-entity"). */
  private record Token(String word, float[] scores, int start, int end, int index, boolean subword) {}

  /** A token or word with its label (HF's entity before grouping). */
  private record Tagged(String entity, float score, String word, int start, int end, int index) {}

  /**
   * @param logits {@code enc.length() x numLabels}, row-major
   */
  public List<Entity> postprocess(String text, Encoding enc, float[] logits, IntFunction<String> idToToken) {
    List<Entity> out = new ArrayList<>();
    for (Entity e : aggregate(gather(text, enc, logits, idToToken))) {
      if (!ignoreLabels.contains(e.label())) {
        out.add(e);
      }
    }
    return out;
  }

  /**
   * A text that was split into overlapping windows: each window is post-processed alone, then overlapping entities
   * are resolved as Hugging Face does for {@code stride}: sorted by start, and of two that overlap the longer one
   * stays (the higher score when they are as long). Offsets in every window index the whole text.
   */
  public List<Entity> postprocessWindows(String text, List<Encoding> windows, List<float[]> logits,
      IntFunction<String> idToToken, int stride) {
    List<Entity> all = new ArrayList<>();
    for (int w = 0; w < windows.size(); w++) {
      all.addAll(postprocess(text, windows.get(w), logits.get(w), idToToken));
    }
    if (windows.size() < 2 || all.isEmpty()) {
      return all;
    }
    all.sort(Comparator.comparingInt(Entity::start));
    List<Entity> merged = new ArrayList<>();
    Entity previous = all.get(0);
    for (Entity e : all) {
      if (previous.start() <= e.start() && e.start() < previous.end()) {
        int len = e.end() - e.start();
        int prevLen = previous.end() - previous.start();
        if (len > prevLen || (len == prevLen && e.score() > previous.score())) {
          previous = e;
        }
      } else {
        merged.add(previous);
        previous = e;
      }
    }
    merged.add(previous);
    return merged;
  }

  private List<Token> gather(String text, Encoding enc, float[] logits, IntFunction<String> idToToken) {
    int n = id2label.size();
    if (logits.length != enc.length() * n) {
      throw new IllegalArgumentException("expected " + enc.length() + " x " + n + " logits, got " + logits.length);
    }
    List<Token> tokens = new ArrayList<>(enc.length());
    for (int i = 0; i < enc.length(); i++) {
      if (enc.isSpecial(i)) {
        continue;
      }
      float[] scores = new float[n];
      Softmax.softmax(logits, i * n, n, scores);
      String word = idToToken.apply(enc.ids[i]);
      int start = enc.starts[i];
      int end = enc.ends[i];
      String ref = text.substring(start, end);
      boolean subword = word.length() != ref.length();
      if (UNK.equals(word)) {
        word = ref;
        subword = false;
      }
      tokens.add(new Token(word, scores, start, end, i, subword));
    }
    return tokens;
  }

  private List<Entity> aggregate(List<Token> tokens) {
    List<Tagged> tagged = new ArrayList<>(tokens.size());
    if (aggregation == Aggregation.NONE || aggregation == Aggregation.SIMPLE) {
      for (Token t : tokens) {
        int best = Softmax.argmax(t.scores, 0, t.scores.length);
        tagged.add(new Tagged(id2label.get(best), t.scores[best], t.word, t.start, t.end, t.index));
      }
    } else {
      List<Token> group = new ArrayList<>();
      for (Token t : tokens) {
        if (!group.isEmpty() && !t.subword) {
          tagged.add(aggregateWord(group));
          group.clear();
        }
        group.add(t);
      }
      if (!group.isEmpty()) {
        tagged.add(aggregateWord(group));
      }
    }
    List<Entity> out = new ArrayList<>(tagged.size());
    if (aggregation == Aggregation.NONE) {
      for (Tagged t : tagged) {
        out.add(new Entity(t.entity, null, t.score, t.word, t.start, t.end, t.index));
      }
      return out;
    }
    return group(tagged);
  }

  /** One word from its tokens: first token's label, the highest-scoring token's, or the average of scores. */
  private Tagged aggregateWord(List<Token> word) {
    List<String> pieces = new ArrayList<>(word.size());
    for (Token t : word) {
      pieces.add(t.word);
    }
    int n = id2label.size();
    float[] scores;
    switch (aggregation) {
      case FIRST:
        scores = word.get(0).scores;
        break;
      case MAX: {
        Token best = word.get(0);
        float bestMax = max(best.scores);
        for (Token t : word) {
          float m = max(t.scores);
          if (m > bestMax) {
            best = t;
            bestMax = m;
          }
        }
        scores = best.scores;
        break;
      }
      default: {
        scores = new float[n];
        for (Token t : word) {
          for (int k = 0; k < n; k++) {
            scores[k] += t.scores[k];
          }
        }
        for (int k = 0; k < n; k++) {
          scores[k] /= word.size();
        }
      }
    }
    int idx = Softmax.argmax(scores, 0, n);
    return new Tagged(id2label.get(idx), scores[idx], WordPieceDecoder.decode(pieces), word.get(0).start,
        word.get(word.size() - 1).end, -1);
  }

  private static float max(float[] v) {
    float m = v[0];
    for (float f : v) {
      m = Math.max(m, f);
    }
    return m;
  }

  /** Adjacent tokens (or words) of one tag form a group; a B- tag starts a new one. */
  private static List<Entity> group(List<Tagged> tagged) {
    List<Entity> groups = new ArrayList<>();
    List<Tagged> current = new ArrayList<>();
    for (Tagged t : tagged) {
      if (!current.isEmpty()) {
        String[] tag = tag(t.entity);
        String[] last = tag(current.get(current.size() - 1).entity);
        if (!(tag[1].equals(last[1]) && !tag[0].equals("B"))) {
          groups.add(close(current));
          current.clear();
        }
      }
      current.add(t);
    }
    if (!current.isEmpty()) {
      groups.add(close(current));
    }
    return groups;
  }

  /** {@code B-PER} → (B, PER); {@code I-PER} → (I, PER); anything else (e.g. {@code O}) continues as I. */
  private static String[] tag(String label) {
    if (label.startsWith("B-")) {
      return new String[] {"B", label.substring(2)};
    }
    if (label.startsWith("I-")) {
      return new String[] {"I", label.substring(2)};
    }
    return new String[] {"I", label};
  }

  private static Entity close(List<Tagged> group) {
    String first = group.get(0).entity;
    int dash = first.indexOf('-');
    String name = dash >= 0 ? first.substring(dash + 1) : first;
    double sum = 0;
    List<String> words = new ArrayList<>(group.size());
    for (Tagged t : group) {
      sum += t.score;
      words.add(t.word);
    }
    return new Entity(null, name, (float) (sum / group.size()), WordPieceDecoder.decode(words),
        group.get(0).start, group.get(group.size() - 1).end, -1);
  }
}
