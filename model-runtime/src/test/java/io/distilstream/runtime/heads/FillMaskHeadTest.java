package io.distilstream.runtime.heads;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.tokenizer.WordPieceTokenizer;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Hugging Face's fill-mask post-processing on hand-built logits, decoded with the real uncased vocabulary. */
class FillMaskHeadTest {
  static final WordPieceTokenizer TOK =
      WordPieceTokenizer.fromDirectory(SharedModels.model(SharedModels.MASKED_LM));

  /** Logits over a 30522 vocabulary that are 0 except where given: {position, token, value} triples. */
  static float[] logits(int len, int vocab, float[][] set) {
    float[] l = new float[len * vocab];
    for (float[] s : set) {
      l[(int) s[0] * vocab + (int) s[1]] = s[2];
    }
    return l;
  }

  @Test
  void oneMaskTopKWithSoftmaxOverTheVocabularyAndDecodedSequence() {
    int[] ids = TOK.encode("paris is the [MASK] of france.", 0).ids;
    int[] masks = FillMaskHead.maskPositions(ids, TOK.maskId());
    assertThat(masks).hasSize(1);
    int v = TOK.vocabSize();
    int capital = TOK.tokenToId("capital");
    int city = TOK.tokenToId("city");
    int ing = TOK.tokenToId("##ing");
    float[] l = logits(ids.length, v, new float[][] {{masks[0], capital, 9}, {masks[0], city, 8},
        {masks[0], ing, 7}, {0, city, 50}});
    List<List<FillMaskHead.Prediction>> out = new FillMaskHead(3).postprocess(ids, l, v, masks, 0, TOK::decode);
    assertThat(out).hasSize(1);
    List<FillMaskHead.Prediction> p = out.get(0);
    assertThat(p).extracting(FillMaskHead.Prediction::token).containsExactly(capital, city, ing);
    double z = Math.exp(9) + Math.exp(8) + Math.exp(7) + (v - 3);
    assertThat((double) p.get(0).score()).isCloseTo(Math.exp(9) / z, within(1e-6));
    assertThat((double) p.get(1).score()).isCloseTo(Math.exp(8) / z, within(1e-6));
    assertThat(p.get(0).tokenStr()).isEqualTo("capital");
    // decode([p]) of a continuation keeps its ## (the WordPiece decoder strips it only after the first token)
    assertThat(p.get(2).tokenStr()).isEqualTo("##ing");
    // one mask: special tokens skipped, punctuation cleaned up
    assertThat(p.get(0).sequence()).isEqualTo("paris is the capital of france.");
    assertThat(p.get(2).sequence()).isEqualTo("paris is theing of france.");
    // default top-k 5, and top-k above the vocabulary is capped
    assertThat(new FillMaskHead(FillMaskHead.DEFAULT_TOP_K).postprocess(ids, l, v, masks, 0, TOK::decode).get(0))
        .hasSize(5);
    int small = 4;
    int[] tiny = {1, 3, 2};
    float[] tl = {0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0};
    List<FillMaskHead.Prediction> all = new FillMaskHead(10).postprocess(tiny, tl, small, new int[] {1}, 0,
        (x, skip) -> java.util.Arrays.toString(x)).get(0);
    assertThat(all).extracting(FillMaskHead.Prediction::token).containsExactly(3, 2, 1, 0);
    assertThat(all.get(0).sequence()).isEqualTo("[1, 3, 2]");
  }

  @Test
  void severalMasksGiveAListPerMaskWithSpecialTokensKept() {
    int[] ids = TOK.encode("the [MASK] sat on the [MASK].", 0).ids;
    int[] masks = FillMaskHead.maskPositions(ids, TOK.maskId());
    assertThat(masks).hasSize(2);
    int v = TOK.vocabSize();
    int cat = TOK.tokenToId("cat");
    int mat = TOK.tokenToId("mat");
    float[] l = logits(ids.length, v, new float[][] {{masks[0], cat, 12}, {masks[1], mat, 11}});
    List<List<FillMaskHead.Prediction>> out = new FillMaskHead(2).postprocess(ids, l, v, masks, 0, TOK::decode);
    assertThat(out).hasSize(2);
    assertThat(out.get(0).get(0).token()).isEqualTo(cat);
    assertThat(out.get(1).get(0).token()).isEqualTo(mat);
    // Hugging Face decodes with skip_special_tokens=False when there are several masks
    assertThat(out.get(0).get(0).sequence()).isEqualTo("[CLS] the cat sat on the [MASK]. [SEP]");
    assertThat(out.get(1).get(0).sequence()).isEqualTo("[CLS] the [MASK] sat on the mat. [SEP]");
    // ties: all other tokens have logit 0, the lower id comes first
    assertThat(out.get(0).get(1).token()).isEqualTo(0);
  }

  @Test
  void topKMatchesAFullSort() {
    java.util.Random r = new java.util.Random(3);
    float[] v = new float[5000];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) Math.round(r.nextGaussian() * 20) / 4f;  // many ties
    }
    int[] heap = FillMaskHead.topK(v, 7);
    Integer[] all = new Integer[v.length];
    for (int i = 0; i < v.length; i++) {
      all[i] = i;
    }
    java.util.Arrays.sort(all, (a, b) -> v[a] != v[b] ? Float.compare(v[b], v[a]) : Integer.compare(a, b));
    for (int i = 0; i < 7; i++) {
      assertThat(heap[i]).isEqualTo(all[i]);
    }
  }
}
