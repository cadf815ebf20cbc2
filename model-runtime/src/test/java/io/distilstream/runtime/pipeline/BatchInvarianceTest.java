package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.model.embedding.onnx.allminilml6v2q.AllMiniLmL6V2QuantizedEmbeddingModel;
import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.runtime.graph.Int8Quantizer;
import io.distilstream.runtime.graph.Precision;
import io.distilstream.runtime.graph.Presets;
import io.distilstream.runtime.graph.SafeTensors;
import io.distilstream.runtime.graph.Weights;
import io.distilstream.runtime.model.ModelConfig;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.model.SessionOptions;
import io.distilstream.runtime.tokenizer.Encoding;
import io.distilstream.runtime.tokenizer.WordPieceTokenizer;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Issue 17: an event's result must not depend on which other events share its micro-batch. For every task's graph,
 * in float32, float16, int8 as built here (per-row activations) and int8 in Optimum's per-tensor form (rewritten to
 * per-row at load, or run sequence by sequence), a text inside a batch of 32 mixed-length texts gets the outputs it
 * gets alone; and per-row int8 keeps its top-1 agreement with float32 whatever the batch composition.
 */
class BatchInvarianceTest {
  private static final ModelSession.Int8Policy REWRITE = new ModelSession.Int8Policy(true, false);

  @ParameterizedTest(name = "{0} {1}")
  @CsvSource({
      SharedModels.SEQ_CLS + ",text-classification",
      SharedModels.SEQ_CLS + ",feature-extraction",
      SharedModels.TOKEN_CLS + ",token-classification",
      SharedModels.QA + ",question-answering",
      SharedModels.MASKED_LM + ",fill-mask",
      SharedModels.BERT_TOKEN_CLS + ",token-classification"})
  void aTextGetsTheSameOutputsInABatchOf32AsAlone(String model, String task) throws Exception {
    Path dir = SharedModels.model(model);
    ModelConfig config = ModelConfig.read(dir.resolve("config.json"));
    GraphBuilder.Head head = GraphBuilder.Head.forTask(task, config);
    Weights weights = Weights.of(SafeTensors.open(dir.resolve("model.safetensors")));
    List<Encoding> batch = mixedLengths(WordPieceTokenizer.fromDirectory(dir), 32, 1);
    byte[] optimumForm = GraphBuilder.build(config, head, weights,
        Precision.int8().activation(Int8Quantizer.Activation.PER_TENSOR));

    SessionOptions options = SessionOptions.defaults().intraOpThreads(2);
    try (ModelSession fp32 = ModelSession.open(GraphBuilder.build(config, head, weights), dir, options);
         ModelSession fp16 = ModelSession.open(GraphBuilder.build(config, head, weights, Precision.fp16()), dir,
             options);
         ModelSession int8 = ModelSession.open(GraphBuilder.build(config, head, weights, Precision.int8()), dir,
             options);
         ModelSession rewritten = ModelSession.open(optimumForm, dir, options, REWRITE);
         ModelSession perSequence = ModelSession.open(optimumForm, dir, options);
         ModelSession asIs = ModelSession.open(optimumForm, dir, options, ModelSession.Int8Policy.asIsBatched())) {
      assertThat(int8.batchInvariant()).isTrue();
      assertThat(rewritten.batchInvariant()).isTrue();
      assertThat(perSequence.batchInvariant()).isFalse();
      assertThat(perSequence.runsPerSequence()).isTrue();
      double f32 = batchVersusAlone(fp32, batch);
      double f16 = batchVersusAlone(fp16, batch);
      double i8 = batchVersusAlone(int8, batch);
      double rw = batchVersusAlone(rewritten, batch);
      double ps = batchVersusAlone(perSequence, batch);
      double dependent = batchVersusAlone(asIs, batch);
      System.out.printf("%s %s, max abs diff batch of 32 vs alone: fp32 %.3g, fp16 %.3g, int8 per-row %.3g,"
          + " per-tensor rewritten %.3g, per-tensor per sequence %.3g, per-tensor batched as is %.3g%n", model, task,
          f32, f16, i8, rw, ps, dependent);
      assertThat(f32).isLessThanOrEqualTo(1e-5);
      assertThat(f16).isLessThanOrEqualTo(1e-5);
      assertThat(i8).isLessThanOrEqualTo(1e-5);
      assertThat(rw).isLessThanOrEqualTo(1e-5);
      assertThat(ps).isLessThanOrEqualTo(1e-5);
      // the comparison can fail: the per-tensor graph batched as it is moves with its neighbours
      assertThat(dependent).as("per-tensor int8 batched as is").isGreaterThan(1e-4);
      // and the rewritten graph still computes the model: close to float32, as the per-row built one is
      assertThat(maxDiff(fp32.run(batch), rewritten.run(batch))).isLessThan(0.1);
      assertThat(maxDiff(int8.run(batch), rewritten.run(batch))).isLessThanOrEqualTo(1e-5);
    }
  }

  /**
   * A graph ORT's {@code quantize_dynamic} wrote (all-MiniLM-L6-v2 int8, opset 11, per-column int8 weights with
   * zero points): by default it runs sequence by sequence and equals the graph run alone bit for bit; rewritten, it
   * batches and is batch-invariant.
   */
  @Test
  void anOrtQuantizedGraphIsRunPerSequenceOrRewritten() throws Exception {
    byte[] onnx;
    try (InputStream in = AllMiniLmL6V2QuantizedEmbeddingModel.class.getClassLoader()
        .getResourceAsStream("all-minilm-l6-v2-q.onnx")) {
      onnx = in.readAllBytes();
    }
    Path tok = Files.createTempDirectory("minilm");
    try (InputStream in = AllMiniLmL6V2QuantizedEmbeddingModel.class.getClassLoader()
        .getResourceAsStream("all-minilm-l6-v2-q-tokenizer.json")) {
      Files.copy(in, tok.resolve("tokenizer.json"));
    }
    List<Encoding> batch = mixedLengths(WordPieceTokenizer.fromDirectory(tok), 32, 2);
    SessionOptions options = SessionOptions.defaults().intraOpThreads(2);
    try (ModelSession raw = ModelSession.open(onnx, tok, options, ModelSession.Int8Policy.asIsBatched());
         ModelSession byDefault = ModelSession.open(onnx, tok, options);
         ModelSession rewritten = ModelSession.open(onnx, tok, options, REWRITE)) {
      assertThat(byDefault.runsPerSequence()).isTrue();
      assertThat(rewritten.batchInvariant()).isTrue();
      assertThat(rewritten.loadPath()).contains("rewritten to per-row: 24");
      float[][][] defaultBatch = byDefault.run(batch);
      double rawVsDefault = 0;
      for (int i = 0; i < batch.size(); i++) {
        rawVsDefault = Math.max(rawVsDefault, maxDiff(raw.run(List.of(batch.get(i)))[0][0], defaultBatch[0][i]));
      }
      double rw = batchVersusAlone(rewritten, batch);
      double dependent = batchVersusAlone(raw, batch);
      double cosine = worstMeanPooledCosine(raw, rewritten, batch);
      System.out.printf("all-MiniLM-L6-v2 int8: per sequence vs raw alone %.3g; rewritten batch vs alone %.3g;"
          + " raw batched vs alone %.3g; rewritten vs raw alone, worst mean-pooled cosine %.5f%n", rawVsDefault, rw,
          dependent, cosine);
      assertThat(rawVsDefault).isEqualTo(0);
      assertThat(rw).isLessThanOrEqualTo(1e-5);
      assertThat(dependent).isGreaterThan(1e-4);
      // per-row is a different quantization of the same model, not a broken one (ORT's MatMulIntegerToFloat
      // fusion with a per-row scale gave 0.73 here before the rewrite avoided it); measured 0.974, which is why
      // the rewrite is asked for rather than the default
      assertThat(cosine).isGreaterThan(0.95);
    }
  }

  /**
   * Per-row int8 agrees with float32 on the top label of ≥ 99% of 200 fortunes on the seeded full-size
   * DistilBERT-base, in two random batch compositions of 32 (unsorted, so padding varies too), and each text's
   * logits are the same in both.
   */
  @Test
  void perRowInt8AgreesWithFloat32WhateverTheBatchComposition() throws Exception {
    ModelConfig config = ModelConfig.parse(Presets.config("distilbert-base", "text-classification"),
        Path.of("distilbert-base"));
    GraphBuilder.Head head = GraphBuilder.Head.SEQUENCE_CLASSIFICATION;
    Weights weights = Weights.seeded(1, config.initializerRange());
    List<Encoding> texts = fortunes(200);
    SessionOptions options = SessionOptions.defaults().intraOpThreads(2);
    try (ModelSession fp32 = ModelSession.open(GraphBuilder.build(config, head, weights), Path.of("fp32"), options);
         ModelSession int8 = ModelSession.open(GraphBuilder.build(config, head, weights, Precision.int8()),
             Path.of("int8"), options)) {
      float[][] reference = runShuffled(fp32, texts, 0);
      float[][] first = runShuffled(int8, texts, 1);
      float[][] second = runShuffled(int8, texts, 2);
      int agreeFirst = 0;
      int agreeSecond = 0;
      double across = 0;
      for (int i = 0; i < texts.size(); i++) {
        agreeFirst += argmax(first[i]) == argmax(reference[i]) ? 1 : 0;
        agreeSecond += argmax(second[i]) == argmax(reference[i]) ? 1 : 0;
        across = Math.max(across, maxDiff(first[i], second[i]));
      }
      System.out.printf("seeded distilbert-base, per-row int8 vs fp32 top-1: %d/200 and %d/200 in two random batch"
          + " compositions; max abs logit diff between compositions %.3g%n", agreeFirst, agreeSecond, across);
      assertThat(agreeFirst).isGreaterThanOrEqualTo(198);
      assertThat(agreeSecond).isGreaterThanOrEqualTo(198);
      assertThat(across).isLessThanOrEqualTo(1e-5);
    }
  }

  /** Every sequence's outputs in {@code batch} against the same sequence run alone: the largest abs difference. */
  static double batchVersusAlone(ModelSession session, List<Encoding> batch) throws Exception {
    float[][][] together = session.run(batch);
    double max = 0;
    for (int i = 0; i < batch.size(); i++) {
      float[][][] alone = session.run(List.of(batch.get(i)));
      for (int o = 0; o < together.length; o++) {
        max = Math.max(max, maxDiff(together[o][i], alone[o][0]));
      }
    }
    return max;
  }

  private static double maxDiff(float[][][] a, float[][][] b) {
    double max = 0;
    for (int o = 0; o < a.length; o++) {
      for (int i = 0; i < a[o].length; i++) {
        max = Math.max(max, maxDiff(a[o][i], b[o][i]));
      }
    }
    return max;
  }

  private static double maxDiff(float[] a, float[] b) {
    assertThat(a).hasSameSizeAs(b);
    double max = 0;
    for (int k = 0; k < a.length; k++) {
      double d = Math.abs(a[k] - b[k]);
      max = Math.max(max, Double.isNaN(d) ? Double.POSITIVE_INFINITY : d);
    }
    return max;
  }

  /** The worst cosine between two sessions' mean-pooled last hidden states, each sequence run alone. */
  private static double worstMeanPooledCosine(ModelSession a, ModelSession b, List<Encoding> batch)
      throws Exception {
    double worst = 1;
    for (Encoding e : batch) {
      float[] x = a.run(List.of(e))[0][0];
      float[] y = b.run(List.of(e))[0][0];
      int width = x.length / e.length();
      double dot = 0;
      double nx = 0;
      double ny = 0;
      for (int k = 0; k < width; k++) {
        double px = 0;
        double py = 0;
        for (int t = 0; t < e.length(); t++) {
          px += x[t * width + k];
          py += y[t * width + k];
        }
        dot += px * py;
        nx += px * px;
        ny += py * py;
      }
      worst = Math.min(worst, dot / Math.sqrt(nx * ny));
    }
    return worst;
  }

  /** Runs {@code texts} in random batches of 32 (seed {@code seed}); the first output per text, in input order. */
  private static float[][] runShuffled(ModelSession s, List<Encoding> texts, long seed) throws Exception {
    List<Integer> order = new ArrayList<>();
    for (int i = 0; i < texts.size(); i++) {
      order.add(i);
    }
    Collections.shuffle(order, new Random(seed));
    float[][] out = new float[texts.size()][];
    for (int from = 0; from < order.size(); from += 32) {
      List<Integer> idx = order.subList(from, Math.min(order.size(), from + 32));
      List<Encoding> batch = new ArrayList<>();
      idx.forEach(i -> batch.add(texts.get(i)));
      float[][] logits = s.run(batch)[0];
      for (int k = 0; k < idx.size(); k++) {
        out[idx.get(k)] = logits[k];
      }
    }
    return out;
  }

  private static int argmax(float[] v) {
    int best = 0;
    for (int i = 1; i < v.length; i++) {
      if (v[i] > v[best]) {
        best = i;
      }
    }
    return best;
  }

  /** {@code n} texts from one word to about a hundred tokens, in random order. */
  static List<Encoding> mixedLengths(WordPieceTokenizer tokenizer, int n, long seed) {
    String[] words = ("the stream processor reads events from kafka and every event carries a short text that a"
        + " model labels quickly while the operator batches neighbours together so results must not depend on"
        + " which texts happened to arrive at the same moment in the same partition of the topic 🙂 naïve café")
        .split(" ");
    Random r = new Random(seed);
    List<Encoding> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int len = i == 0 ? 1 : 1 + r.nextInt(i % 4 == 0 ? 90 : 20);
      StringBuilder sb = new StringBuilder();
      for (int w = 0; w < len; w++) {
        sb.append(w == 0 ? "" : " ").append(words[r.nextInt(words.length)]);
      }
      out.add(tokenizer.encode(sb.toString(), 128));
    }
    return out;
  }

  private static List<Encoding> fortunes(int n) throws Exception {
    Path tmp = Files.createTempDirectory("vocab");
    Presets.writeUncasedTokenizer(tmp);
    WordPieceTokenizer tokenizer = WordPieceTokenizer.fromDirectory(tmp);
    List<Encoding> out = new ArrayList<>();
    try (InputStream in = BatchInvarianceTest.class.getResourceAsStream("/io/distilstream/runtime/graph/"
        + "fortunes-1000.txt")) {
      for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
        if (!line.isBlank() && out.size() < n) {
          out.add(tokenizer.encode(line, 128));
        }
      }
    }
    return out;
  }
}
