package io.distilstream.runtime.heads;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.runtime.heads.TokenClassificationHead.Aggregation;
import io.distilstream.runtime.tokenizer.Encoding;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Every aggregation strategy on hand-built logits, with the entities worked out by hand from Hugging Face's rules.
 * Logits are ln(p), so each token's softmax is exactly the probabilities written below.
 */
class TokenClassificationHeadTest {
  static final String TEXT = "Hugging Face is in New York City";
  static final List<String> LABELS = List.of("O", "B-ORG", "I-ORG", "B-LOC", "I-LOC");
  static final String[] TOKENS = {"[CLS]", "hu", "##gging", "face", "is", "in", "new", "yo", "##rk", "city", "[SEP]"};
  static final int[] STARTS = {0, 0, 2, 8, 13, 16, 19, 23, 25, 28, 0};
  static final int[] ENDS = {0, 2, 7, 12, 15, 18, 22, 25, 27, 32, 0};
  static final int[] WORDS = {-1, 0, 0, 1, 2, 3, 4, 5, 5, 6, -1};
  //                                O      B-ORG  I-ORG  B-LOC  I-LOC
  static final double[][] P = {
      {.2, .2, .2, .2, .2},           // [CLS]
      {.1, .7, .1, .05, .05},         // hu
      {.75, .05, .15, .025, .025},    // ##gging
      {.1, .05, .8, .025, .025},      // face
      {.9, .025, .025, .025, .025},   // is
      {.9, .025, .025, .025, .025},   // in
      {.2, .05, .05, .6, .1},         // new
      {.45, .05, .05, .05, .4},       // yo
      {.05, .05, .05, .05, .8},       // ##rk
      {.4, .025, .025, .05, .5},      // city
      {.2, .2, .2, .2, .2}};          // [SEP]

  static Encoding encoding(int from, int to) {
    int n = to - from + 2;
    int[] ids = new int[n];
    int[] starts = new int[n];
    int[] ends = new int[n];
    int[] words = new int[n];
    byte[] seqs = new byte[n];
    words[0] = words[n - 1] = -1;
    seqs[0] = seqs[n - 1] = -1;
    ids[n - 1] = TOKENS.length - 1;
    for (int k = 1; k < n - 1; k++) {
      int t = from + k - 1;
      ids[k] = t;
      starts[k] = STARTS[t];
      ends[k] = ENDS[t];
      words[k] = WORDS[t];
    }
    return new Encoding(ids, new int[n], starts, ends, words, seqs);
  }

  static float[] logits(Encoding e) {
    float[] l = new float[e.length() * LABELS.size()];
    for (int k = 0; k < e.length(); k++) {
      for (int j = 0; j < LABELS.size(); j++) {
        l[k * LABELS.size() + j] = (float) Math.log(P[e.ids[k]][j]);
      }
    }
    return l;
  }

  static List<Entity> run(Aggregation a) {
    Encoding e = encoding(1, 10);
    return new TokenClassificationHead(LABELS, a, Set.of("O")).postprocess(TEXT, e, logits(e), id -> TOKENS[id]);
  }

  static void assertEntities(List<Entity> actual, Object[][] expected) {
    assertThat(actual).hasSize(expected.length);
    for (int i = 0; i < expected.length; i++) {
      Entity e = actual.get(i);
      assertThat(e.label()).as("label %d", i).isEqualTo(expected[i][0]);
      assertThat(e.word()).as("word %d", i).isEqualTo(expected[i][1]);
      assertThat((double) e.score()).as("score %d", i).isCloseTo((Double) expected[i][2], within(1e-5));
      assertThat(e.start()).as("start %d", i).isEqualTo(expected[i][3]);
      assertThat(e.end()).as("end %d", i).isEqualTo(expected[i][4]);
    }
  }

  @Test
  void noneIsOneEntityPerTaggedTokenWithItsIndex() {
    List<Entity> out = run(Aggregation.NONE);
    assertEntities(out, new Object[][] {
        {"B-ORG", "hu", .7, 0, 2}, {"I-ORG", "face", .8, 8, 12}, {"B-LOC", "new", .6, 19, 22},
        {"I-LOC", "##rk", .8, 25, 27}, {"I-LOC", "city", .5, 28, 32}});
    assertThat(out).extracting(Entity::index).containsExactly(1, 3, 6, 8, 9);
    assertThat(out).allSatisfy(e -> assertThat(e.entityGroup()).isNull());
  }

  @Test
  void simpleGroupsTokensAndSplitsWordsWhereTheirTokensDisagree() {
    assertEntities(run(Aggregation.SIMPLE), new Object[][] {
        {"ORG", "hu", .7, 0, 2}, {"ORG", "face", .8, 8, 12}, {"LOC", "new", .6, 19, 22},
        {"LOC", "##rk city", (.8 + .5) / 2, 25, 32}});
  }

  @Test
  void firstTakesEachWordsFirstToken() {
    assertEntities(run(Aggregation.FIRST), new Object[][] {
        {"ORG", "hugging face", (.7 + .8) / 2, 0, 12}, {"LOC", "new", .6, 19, 22}, {"LOC", "city", .5, 28, 32}});
  }

  @Test
  void maxTakesEachWordsMostConfidentToken() {
    assertEntities(run(Aggregation.MAX), new Object[][] {
        {"ORG", "face", .8, 8, 12}, {"LOC", "new york city", (.6 + .8 + .5) / 3, 19, 32}});
  }

  @Test
  void averageAveragesEachWordsTokenScores() {
    // york: I-LOC (.4 + .8) / 2 = .6 beats O (.45 + .05) / 2; hugging: O (.1 + .75) / 2 beats B-ORG .375
    assertEntities(run(Aggregation.AVERAGE), new Object[][] {
        {"ORG", "face", .8, 8, 12}, {"LOC", "new york city", (.6 + .6 + .5) / 3, 19, 32}});
  }

  @Test
  void overlappingWindowsGiveTheSameEntitiesAsOneWindow() {
    for (Aggregation a : Aggregation.values()) {
      Encoding w1 = encoding(1, 7);  // hu .. new
      Encoding w2 = encoding(4, 10); // is .. city, sharing is, in, new
      TokenClassificationHead head = new TokenClassificationHead(LABELS, a, Set.of("O"));
      List<Entity> merged = head.postprocessWindows(TEXT, List.of(w1, w2), List.of(logits(w1), logits(w2)),
          id -> TOKENS[id], 3);
      List<Entity> single = run(a);
      assertThat(merged).as(a.toString()).hasSameSizeAs(single);
      for (int i = 0; i < single.size(); i++) {
        assertThat(merged.get(i).label()).isEqualTo(single.get(i).label());
        assertThat(merged.get(i).start()).isEqualTo(single.get(i).start());
        assertThat(merged.get(i).end()).isEqualTo(single.get(i).end());
      }
    }
  }

  @Test
  void wordPieceDecoderJoinsContinuationsAndCleansPunctuation() {
    assertThat(WordPieceDecoder.decode(List.of("hu", "##gging", "face", ",", "inc", "."))).isEqualTo("hugging face, inc.");
    assertThat(WordPieceDecoder.decode(List.of("##rk", "city"))).isEqualTo("##rk city");
  }
}
