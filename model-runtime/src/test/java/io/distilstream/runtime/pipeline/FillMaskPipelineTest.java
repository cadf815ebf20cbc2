package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.heads.FillMaskHead;
import io.distilstream.runtime.tokenizer.Encoding;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The fill-mask pipeline on the masked-LM fixture: its model call reproduces {@code golden.json} (vocabulary
 * entries 0..63, the only ones kept there), and its scores are the softmax of those very logits.
 */
class FillMaskPipelineTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void reproducesGoldenLogitsAndScoresAreTheirSoftmax() throws Exception {
    Path dir = SharedModels.model(SharedModels.MASKED_LM);
    JsonNode golden = JSON.readTree(dir.resolve("golden.json").toFile());
    double tol = golden.path("tolerance").asDouble();
    try (FillMaskPipeline p = Pipeline.fillMask(dir, PipelineOptions.defaults())) {
      int vocab = 30522;
      int checked = 0;
      for (JsonNode c : golden.get("cases")) {
        for (int r = 0; r < c.get("input_ids").size(); r++) {
          int len = 0;
          for (JsonNode m : c.get("attention_mask").get(r)) {
            len += m.asInt();
          }
          int[] ids = new int[len];
          for (int t = 0; t < len; t++) {
            ids[t] = c.get("input_ids").get(r).get(t).asInt();
          }
          float[] logits = p.session().run(List.of(Encoding.ofIds(ids, null)))[0][0];
          JsonNode expected = c.get("outputs").get("logits").get(r);
          for (int t = 0; t < len; t++) {
            for (int k = 0; k < 64; k++) {
              assertThat((double) logits[t * vocab + k]).as("case row %d token %d vocab %d", r, t, k)
                  .isCloseTo(expected.get(t).get(k).asDouble(), within(tol));
              checked++;
            }
          }
          // the head at a position taken as the mask: probabilities of tokens 0..63 relate as the golden logits
          int pos = len / 2;
          List<FillMaskHead.Prediction> all = new FillMaskHead(0).postprocess(ids, logits, vocab, new int[] {pos},
              0, (x, skip) -> "").get(0);
          float[] prob = new float[vocab];
          for (FillMaskHead.Prediction pr : all) {
            prob[pr.token()] = pr.score();
          }
          for (int k = 1; k < 64; k++) {
            double ratio = Math.log(prob[k] / prob[0]);
            assertThat(ratio).isCloseTo(expected.get(pos).get(k).asDouble() - expected.get(pos).get(0).asDouble(),
                within(2 * tol));
          }
          double sum = all.stream().mapToDouble(FillMaskHead.Prediction::score).sum();
          assertThat(sum).isCloseTo(1.0, within(1e-3));
        }
      }
      assertThat(checked).isGreaterThan(64 * 100);
    }
  }

  @Test
  void textsWithOneOrSeveralMasksOrNone() {
    try (FillMaskPipeline p = Pipeline.fillMask(SharedModels.model(SharedModels.MASKED_LM),
        PipelineOptions.defaults())) {
      List<Outcome<List<List<FillMaskHead.Prediction>>>> out = p.runAll(List.of(
          "the capital of france is [MASK].", "no mask here", "[MASK] and [MASK] again", "short"));
      List<FillMaskHead.Prediction> one = out.get(0).value().get(0);
      assertThat(out.get(0).value()).hasSize(1);
      assertThat(one).hasSize(5);
      for (int i = 1; i < one.size(); i++) {
        assertThat(one.get(i).score()).isLessThanOrEqualTo(one.get(i - 1).score());
      }
      // the scores are the softmax at the mask: recompute from the raw logits
      Encoding e = p.tokenizer().encode("the capital of france is [MASK].", 0);
      int[] masks = FillMaskHead.maskPositions(e.ids, p.tokenizer().maskId());
      float[] logits = p.session().run(List.of(e))[0][0];
      double z = 0;
      for (int k = 0; k < 30522; k++) {
        z += Math.exp(logits[masks[0] * 30522 + k]);
      }
      assertThat((double) one.get(0).score()).isCloseTo(Math.exp(logits[masks[0] * 30522 + one.get(0).token()]) / z,
          within(1e-5));
      assertThat(one.get(0).sequence()).startsWith("the capital of france is")
          .isEqualTo(p.tokenizer().decode(replace(e.ids, masks[0], one.get(0).token()), true));
      assertThat(out.get(1).isSuccess()).isFalse();
      assertThat(out.get(1).reason()).isEqualTo(Outcome.Reason.INVALID_INPUT);
      assertThat(out.get(1).message()).contains("[MASK]");
      assertThat(out.get(2).value()).hasSize(2);
      assertThat(out.get(2).value().get(0).get(0).sequence()).startsWith("[CLS] ").contains("[MASK]");
      assertThat(out.get(3).reason()).isEqualTo(Outcome.Reason.INVALID_INPUT);
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  private static int[] replace(int[] ids, int at, int token) {
    int[] c = ids.clone();
    c[at] = token;
    return c;
  }

  /**
   * A batch of 8 texts of 512 tokens holds 8 x 512 x 30522 logits (500 MB, and ONNX Runtime's Java binding copies
   * them whole): fill-mask cuts its model calls to 64 MB of logits each and keeps only the rows of its masks, with
   * the results equal to the head applied to a text's full logits.
   */
  @Test
  void boundsTheLogitsOfOneCallAndKeepsOnlyTheRowsOfItsMasks() throws Exception {
    Path dir = SharedModels.model(SharedModels.MASKED_LM);
    try (FillMaskPipeline p = Pipeline.fillMask(dir, PipelineOptions.defaults())) {
      assertThat((long) p.maxTokensPerCall() * 30522 * 4).isLessThanOrEqualTo(FillMaskPipeline.MAX_LOGITS_BYTES_PER_CALL);
      assertThat(p.maxTokensPerCall()).isGreaterThanOrEqualTo(p.maxLength());
      java.util.List<String> texts = new java.util.ArrayList<>();
      for (int i = 0; i < 8; i++) {
        texts.add("word ".repeat(200 + i) + "[MASK] " + "other ".repeat(320));
      }
      for (String t : texts) {
        assertThat(p.prepare(t).tokens()).isGreaterThan(500);
      }
      List<Outcome<List<List<FillMaskHead.Prediction>>>> out = p.runAll(texts);
      com.sun.management.ThreadMXBean mx =
          (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
      long before = mx.getThreadAllocatedBytes(Thread.currentThread().getId());
      p.runAll(texts.subList(0, 1));
      long oneCall = mx.getThreadAllocatedBytes(Thread.currentThread().getId()) - before;
      // one text: its 512 x 30522 logits copied once by ONNX Runtime's binding, then its one mask row
      assertThat(oneCall).as("bytes allocated for one 512-token text").isLessThan(2 * FillMaskPipeline.MAX_LOGITS_BYTES_PER_CALL);

      Encoding e = p.prepare(texts.get(3)).windows.get(0);
      float[] full = p.session().run(List.of(e))[0][0];
      int[] masks = FillMaskHead.maskPositions(e.ids, p.tokenizer().maskId());
      List<List<FillMaskHead.Prediction>> expected = new FillMaskHead(FillMaskHead.DEFAULT_TOP_K)
          .postprocess(e.ids, full, 30522, masks, p.tokenizer().padId(), p.tokenizer()::decode);
      List<List<FillMaskHead.Prediction>> got = out.get(3).value();
      assertThat(got).hasSize(1);
      for (int k = 0; k < expected.get(0).size(); k++) {
        assertThat(got.get(0).get(k).token()).isEqualTo(expected.get(0).get(k).token());
        assertThat(got.get(0).get(k).score()).isCloseTo(expected.get(0).get(k).score(), within(1e-5f));
        assertThat(got.get(0).get(k).sequence()).isEqualTo(expected.get(0).get(k).sequence());
      }
    }
  }
}
