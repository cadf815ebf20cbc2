package io.distilstream.runtime.graph;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.distilstream.runtime.FamilyModels;
import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.cli.BuildModelCli;
import io.distilstream.runtime.heads.FillMaskHead;
import io.distilstream.runtime.model.ModelConfig;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.model.SessionOptions;
import io.distilstream.runtime.pipeline.FillMaskPipeline;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.tokenizer.Encoding;
import io.distilstream.runtime.tokenizer.WordPieceTokenizer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code BertForMaskedLM}: the built graph's logits equal the MLM head (dense, GELU with erf, LayerNorm, decoder,
 * bias) applied in plain Java to the {@code last_hidden_state} of the feature-extraction graph built from the same
 * weights; {@code build-model --task fill-mask} with a BERT config writes a model the fill-mask pipeline runs, its
 * scores the softmax of those reference logits.
 */
class BertMaskedLmTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String BASE = SharedModels.BERT_TOKEN_CLS;
  private static final String HEAD = "cls.predictions.";

  /**
   * Seeded weights whose biases and LayerNorm parameters are not the initial zeros and ones, so every term of the
   * head counts; {@code absent} tensors are reported missing (a checkpoint that leaves them out).
   */
  static Weights perturbed(long seed, double std, List<String> absent) {
    Weights base = Weights.seeded(seed, std);
    return new Weights() {
      @Override
      public boolean has(String name) {
        return !absent.contains(name);
      }

      @Override
      public float[] get(String name, long... shape) {
        float[] w = base.get(name, shape);
        if (name.endsWith(".bias") || name.contains("LayerNorm")) {
          Random r = new Random(seed + 31L * name.hashCode());
          for (int i = 0; i < w.length; i++) {
            w[i] += (float) (r.nextGaussian() * 0.2);
          }
        }
        return w;
      }
    };
  }

  @ParameterizedTest(name = "tied={0}, bias={1}")
  @CsvSource({
      "true,cls.predictions.bias",
      "false,cls.predictions.decoder.bias"})
  void logitsEqualTheHeadAppliedToTheEncodersHiddenStates(boolean tied, String biasName) throws Exception {
    ModelConfig mlm = config("BertForMaskedLM", tied);
    ModelConfig bare = config("BertModel", true);
    // the bias under the other name is absent; tied: no decoder weight in the checkpoint (saved tied)
    String otherBias = biasName.equals(HEAD + "bias") ? HEAD + "decoder.bias" : HEAD + "bias";
    List<String> absent = tied ? List.of(otherBias, HEAD + "decoder.weight") : List.of(otherBias);
    Weights weights = perturbed(11, 0.3, absent);
    WordPieceTokenizer tok = WordPieceTokenizer.fromDirectory(SharedModels.model(BASE));
    // a pair (token_type_ids 1 on its second segment) and a shorter single text padded in the same batch
    List<Encoding> batch = List.of(
        tok.encodePair("the capital of france is [MASK].", "paris is a city in europe.", 0),
        tok.encode("a [MASK] sat on the mat", 0));
    assertThat(batch.get(0).typeIds).contains(1);
    float[][] logits;
    float[][] hidden;
    try (ModelSession m = ModelSession.open(GraphBuilder.build(mlm, GraphBuilder.Head.MASKED_LM, weights),
            Path.of("bert-mlm"), SessionOptions.defaults());
        ModelSession f = ModelSession.open(GraphBuilder.build(bare, GraphBuilder.Head.BASE, weights),
            Path.of("bert-base-model"), SessionOptions.defaults())) {
      assertThat(m.usesTokenTypeIds()).isTrue();
      assertThat(m.outputNames()).containsExactly("logits");
      assertThat(m.outputWidth(0)).isEqualTo(mlm.vocabSize());
      logits = m.run(batch)[0];
      hidden = f.run(batch)[f.outputIndex("last_hidden_state")];
    }
    MlmHead head = new MlmHead(mlm, weights, tied ? "bert.embeddings.word_embeddings.weight" : HEAD + "decoder.weight",
        biasName);
    int vocab = mlm.vocabSize();
    int d = mlm.hiddenSize();
    double spread = 0;
    int checked = 0;
    for (int r = 0; r < batch.size(); r++) {
      int len = batch.get(r).length();
      assertThat(logits[r]).hasSize(len * vocab);
      for (int t = 0; t < len; t++) {
        float[] h = java.util.Arrays.copyOfRange(hidden[r], t * d, (t + 1) * d);
        double[] ref = head.logits(h);
        // every vocabulary column at this position
        for (int v = 0; v < vocab; v++) {
          double got = logits[r][t * vocab + v];
          if (Math.abs(got - ref[v]) > 1e-4) {
            assertThat(got).as("row %d token %d vocab %d", r, t, v).isCloseTo(ref[v], within(1e-4));
          }
          spread = Math.max(spread, Math.abs(ref[v] - ref[0]));
          checked++;
        }
      }
    }
    assertThat(checked).isGreaterThan(20 * vocab);
    // the comparison is between logits that really differ
    assertThat(spread).isGreaterThan(1.0);
    if (!tied) {
      // an untied decoder is its own tensor, not the word embeddings
      MlmHead asTied = new MlmHead(mlm, weights, "bert.embeddings.word_embeddings.weight", biasName);
      float[] h = java.util.Arrays.copyOfRange(hidden[0], 0, d);
      double[] wrong = asTied.logits(h);
      double diff = 0;
      for (int v = 0; v < 100; v++) {
        diff = Math.max(diff, Math.abs(wrong[v] - logits[0][v]));
      }
      assertThat(diff).isGreaterThan(0.1);
    }
  }

  @Test
  void buildModelFillMaskWithABertConfigRunsInTheFillMaskPipeline(@TempDir Path tmp) throws Exception {
    // a BERT checkpoint's config.json beside its tokenizer files, no weights: --seed
    Path src = Files.createDirectories(tmp.resolve("src"));
    ObjectNode c = (ObjectNode) JSON.readTree(SharedModels.model(BASE).resolve("config.json").toFile());
    c.putArray("architectures").add("BertForMaskedLM");
    c.remove("id2label");
    c.remove("label2id");
    c.put("initializer_range", 0.3);
    Files.writeString(src.resolve("config.json"), JSON.writeValueAsString(c));
    for (String f : List.of("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")) {
      Files.copy(SharedModels.model(BASE).resolve(f), src.resolve(f));
    }
    Path out = tmp.resolve("bert-mlm");
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    int rc = BuildModelCli.run(new String[] {"--config", src.resolve("config.json").toString(), "--task", "fill-mask",
        "--seed", "5", "--out", out.toString()}, new PrintStream(buf, true, StandardCharsets.UTF_8));
    assertThat(rc).isZero();
    JsonNode summary = JSON.readTree(buf.toString(StandardCharsets.UTF_8));
    assertThat(summary.path("head").asText()).isEqualTo("masked_lm");
    assertThat(summary.path("architecture").asText()).isEqualTo("BertForMaskedLM");
    assertThat(Files.exists(out.resolve("model.onnx"))).isTrue();
    assertThat(Files.exists(out.resolve("vocab.txt"))).isTrue();

    ModelConfig config = ModelConfig.read(out.resolve("config.json"));
    Weights weights = Weights.seeded(5, 0.3);
    ObjectNode bareJson = c.deepCopy();
    bareJson.putArray("architectures").add("BertModel");
    ModelConfig bare = ModelConfig.parse(bareJson, src.resolve("config.json"));
    MlmHead head = new MlmHead(config, weights, "bert.embeddings.word_embeddings.weight", HEAD + "bias");
    int vocab = config.vocabSize();
    int d = config.hiddenSize();
    String text = "the capital of [MASK] is paris, and [MASK] is its river.";
    try (FillMaskPipeline p = Pipeline.fillMask(out, PipelineOptions.defaults());
        ModelSession f = ModelSession.open(GraphBuilder.build(bare, GraphBuilder.Head.BASE, weights),
            Path.of("bert-base-model"), SessionOptions.defaults())) {
      assertThat(p.session().usesTokenTypeIds()).isTrue();
      List<List<FillMaskHead.Prediction>> result = p.run(text);
      Encoding e = p.tokenizer().encode(text, p.maxLength());
      int[] masks = FillMaskHead.maskPositions(e.ids, p.tokenizer().maskId());
      assertThat(masks).hasSize(2);
      assertThat(result).hasSize(2);
      float[] hidden = f.run(List.of(e))[f.outputIndex("last_hidden_state")][0];
      for (int m = 0; m < masks.length; m++) {
        double[] ref = head.logits(java.util.Arrays.copyOfRange(hidden, masks[m] * d, (masks[m] + 1) * d));
        double max = Double.NEGATIVE_INFINITY;
        for (double l : ref) {
          max = Math.max(max, l);
        }
        double z = 0;
        for (double l : ref) {
          z += Math.exp(l - max);
        }
        // the reference's own top 5
        Integer[] order = new Integer[vocab];
        for (int v = 0; v < vocab; v++) {
          order[v] = v;
        }
        java.util.Arrays.sort(order, (a, b) -> Double.compare(ref[b], ref[a]));
        List<FillMaskHead.Prediction> preds = result.get(m);
        assertThat(preds).hasSize(5);
        for (int k = 0; k < 5; k++) {
          FillMaskHead.Prediction pr = preds.get(k);
          double expected = Math.exp(ref[pr.token()] - max) / z;
          assertThat((double) pr.score()).as("mask %d rank %d", m, k).isCloseTo(expected, within(1e-4 * expected + 1e-7));
          assertThat(pr.token()).as("mask %d rank %d", m, k).isEqualTo(order[k]);
          assertThat(pr.tokenStr()).isEqualTo(p.tokenizer().idToToken(pr.token()));
        }
        // scores are spread out enough that the ranking is a real check
        assertThat(preds.get(0).score()).isGreaterThan(10f / vocab);
      }
    }

    // the bert-small preset builds a BERT fill-mask model the pipeline runs as well
    Path preset = tmp.resolve("bert-small-mlm");
    buf.reset();
    assertThat(BuildModelCli.run(new String[] {"--config", "bert-small", "--task", "fill-mask", "--seed", "1",
        "--out", preset.toString()}, new PrintStream(buf, true, StandardCharsets.UTF_8))).isZero();
    assertThat(JSON.readTree(buf.toString(StandardCharsets.UTF_8)).path("architecture").asText())
        .isEqualTo("BertForMaskedLM");
    try (FillMaskPipeline p = Pipeline.fillMask(preset, PipelineOptions.defaults())) {
      assertThat(p.config().modelType()).isEqualTo("bert");
      assertThat(p.session().usesTokenTypeIds()).isTrue();
      List<FillMaskHead.Prediction> one = p.run("hello [MASK] world").get(0);
      assertThat(one).hasSize(5);
      assertThat(one.get(0).sequence()).startsWith("hello ");
    }
  }

  /** int8 and fp16 post-passes keep the masked-LM head (a MatMul on the transposed word embeddings) runnable. */
  @ParameterizedTest(name = "{0}")
  @CsvSource({"BertForMaskedLM", "DistilBertForMaskedLM"})
  void int8AndFp16MaskedLmGraphsRunCloseToFloat32(String architecture) throws Exception {
    ModelConfig config;
    Weights weights;
    if (architecture.startsWith("Bert")) {
      config = config(architecture, true);
      weights = Weights.seeded(3, 0.02);
    } else {
      Path dir = SharedModels.model(SharedModels.MASKED_LM);
      config = ModelConfig.read(dir.resolve("config.json"));
      weights = Weights.of(SafeTensors.open(dir.resolve("model.safetensors")));
    }
    WordPieceTokenizer tok = WordPieceTokenizer.fromDirectory(SharedModels.model(BASE));
    List<Encoding> batch = List.of(tok.encode("the capital of france is [MASK].", 0),
        tok.encode("a [MASK] sat on the mat and looked at the [MASK].", 0));
    try (ModelSession ref = ModelSession.open(GraphBuilder.build(config, GraphBuilder.Head.MASKED_LM, weights),
            Path.of("fp32"), SessionOptions.defaults());
        ModelSession i8 = ModelSession.open(GraphBuilder.build(config, GraphBuilder.Head.MASKED_LM, weights,
            Precision.int8()), Path.of("int8"), SessionOptions.defaults());
        ModelSession f16 = ModelSession.open(GraphBuilder.build(config, GraphBuilder.Head.MASKED_LM, weights,
            Precision.fp16()), Path.of("fp16"), SessionOptions.defaults())) {
      float[][] a = ref.run(batch)[0];
      float[][] b = i8.run(batch)[0];
      float[][] c = f16.run(batch)[0];
      double d8 = 0;
      double d16 = 0;
      double range = 0;
      for (int r = 0; r < a.length; r++) {
        assertThat(b[r]).hasSameSizeAs(a[r]);
        assertThat(c[r]).hasSameSizeAs(a[r]);
        for (int i = 0; i < a[r].length; i++) {
          d8 = Math.max(d8, Math.abs(a[r][i] - b[r][i]));
          d16 = Math.max(d16, Math.abs(a[r][i] - c[r][i]));
          range = Math.max(range, Math.abs(a[r][i]));
        }
      }
      System.out.printf("%s masked LM: max |logit| %.3f, int8 max abs diff %.5f, fp16 (CPU) %.5f%n", architecture,
          range, d8, d16);
      assertThat(d8).isGreaterThan(0).isLessThanOrEqualTo(0.05 * range);
      assertThat(d16).isLessThanOrEqualTo(0.01 * range);
    }
  }

  private static ModelConfig config(String architecture, boolean tied) throws Exception {
    ModelConfig c = FamilyModels.config(BASE, architecture, List.of());
    if (tied) {
      return c;
    }
    ObjectNode json = (ObjectNode) JSON.readTree(SharedModels.model(BASE).resolve("config.json").toFile());
    json.putArray("architectures").add(architecture);
    json.remove("id2label");
    json.remove("label2id");
    json.put("tie_word_embeddings", false);
    return ModelConfig.parse(json, SharedModels.model(BASE).resolve("config.json"));
  }

  /** BertOnlyMLMHead in plain Java, in double precision. */
  static final class MlmHead {
    final int d;
    final int vocab;
    final double eps;
    final float[] dense;
    final float[] denseBias;
    final float[] gamma;
    final float[] beta;
    final float[] decoder;
    final float[] bias;

    MlmHead(ModelConfig config, Weights w, String decoderName, String biasName) {
      d = config.hiddenSize();
      vocab = config.vocabSize();
      eps = config.layerNormEps();
      dense = w.get(HEAD + "transform.dense.weight", d, d);
      denseBias = w.get(HEAD + "transform.dense.bias", d);
      gamma = w.get(HEAD + "transform.LayerNorm.weight", d);
      beta = w.get(HEAD + "transform.LayerNorm.bias", d);
      decoder = w.get(decoderName, vocab, d);
      bias = w.get(biasName, vocab);
    }

    double[] logits(float[] h) {
      double[] u = new double[d];
      for (int o = 0; o < d; o++) {
        double s = denseBias[o];
        for (int i = 0; i < d; i++) {
          s += (double) dense[o * d + i] * h[i];
        }
        u[o] = s * 0.5 * (1 + erf(s / Math.sqrt(2)));
      }
      double mean = 0;
      for (double x : u) {
        mean += x;
      }
      mean /= d;
      double var = 0;
      for (double x : u) {
        var += (x - mean) * (x - mean);
      }
      var /= d;
      double[] t = new double[d];
      for (int i = 0; i < d; i++) {
        t[i] = (u[i] - mean) / Math.sqrt(var + eps) * gamma[i] + beta[i];
      }
      double[] out = new double[vocab];
      for (int v = 0; v < vocab; v++) {
        double s = bias[v];
        for (int i = 0; i < d; i++) {
          s += t[i] * decoder[v * d + i];
        }
        out[v] = s;
      }
      return out;
    }
  }

  /** erf by its Maclaurin series (to |x| 4; beyond, ±1 within 2e-8). */
  static double erf(double x) {
    if (Math.abs(x) > 4) {
      return Math.signum(x);
    }
    double term = x;
    double sum = x;
    for (int n = 1; n < 200; n++) {
      term *= -x * x / n;
      double add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) {
        break;
      }
    }
    return sum * 2 / Math.sqrt(Math.PI);
  }
}
