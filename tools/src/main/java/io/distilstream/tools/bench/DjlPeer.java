package io.distilstream.tools.bench;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.translator.TextClassificationTranslator;
import ai.djl.inference.Predictor;
import ai.djl.modality.Classifications;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.tokenizer.Encoding;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The peer: Deep Java Library's {@code Predictor.batchPredict} with its Hugging Face text-classification translator
 * on its ONNX Runtime engine, the same model file and threads, batches of 32 in arrival order (DJL's tokenizer pads
 * each batch to its longest member).
 */
final class DjlPeer {
  private DjlPeer() {}

  /**
   * Starts DJL's ONNX Runtime engine before anything else touches ONNX Runtime: it creates the process's
   * environment itself, with threading options, and fails if one exists. Done on a thread with a large stack, as
   * {@link io.distilstream.runtime.model.ModelSession#environment()} does, for the same reason.
   */
  static void startEngine() throws InterruptedException {
    System.setProperty("ai.djl.offline", "true");
    RuntimeException[] failed = new RuntimeException[1];
    Thread t = new Thread(null, () -> {
      try {
        ai.djl.engine.Engine.getEngine("OnnxRuntime");
      } catch (RuntimeException e) {
        failed[0] = e;
      } catch (ExceptionInInitializerError e) {
        // how DJL reports that ONNX Runtime's environment existed before it: say so, do not run on without it
        failed[0] = new IllegalStateException("DJL's ONNX Runtime engine did not start: " + e.getCause(), e);
      }
    }, "djl-onnxruntime-init", 16L << 20);
    t.start();
    t.join();
    if (failed[0] != null) {
      throw failed[0];
    }
  }

  /**
   * {@code runs} timed runs of batchPredict over batches of 32 texts; with {@code sortedByLength} the texts are first
   * sorted by their token count and cut into batches of 32 within each of the oracle's blocks (the best a DJL user
   * could do), else taken in arrival order. Each run covers whole passes
   * ({@link BenchTexts#PASS}; sorted: whole blocks), at least {@code seconds}.
   */
  static void measure(Measurement m, ModelDirectory dir, List<String> texts, List<Encoding> encodings, int threads,
      int runs, int seconds, boolean sortedByLength) throws Exception {
    if (sortedByLength) {
      // each block of the oracle's (BenchTexts.ORACLE_BLOCK texts, whole passes) sorted by length and cut into
      // batches of 32, taken in a seeded random order within the block: a run of whole blocks times every length
      List<String> t = new java.util.ArrayList<>(texts.size());
      List<Encoding> e = new java.util.ArrayList<>(texts.size());
      java.util.Random random = new java.util.Random(42);
      for (int from = 0; from < texts.size(); from += BenchTexts.ORACLE_BLOCK) {
        List<Integer> block = new java.util.ArrayList<>();
        for (int i = from; i < Math.min(texts.size(), from + BenchTexts.ORACLE_BLOCK); i++) {
          block.add(i);
        }
        List<Encoding> arrival = encodings;
        block.sort(java.util.Comparator.comparingInt(i -> arrival.get(i).length()));
        List<List<Integer>> batches = new java.util.ArrayList<>();
        for (int b = 0; b < block.size(); b += 32) {
          batches.add(block.subList(b, Math.min(block.size(), b + 32)));
        }
        java.util.Collections.shuffle(batches, random);
        for (List<Integer> b : batches) {
          for (int i : b) {
            t.add(texts.get(i));
            e.add(encodings.get(i));
          }
        }
      }
      texts = t;
      encodings = e;
    }
    Path tokenizerJson = dir.path().resolve(ModelDirectory.TOKENIZER_JSON);
    if (!Files.isRegularFile(tokenizerJson)) {
      tokenizerJson = Files.createTempFile("distilstream-bench-tokenizer", ".json");
      writeTokenizerJson(dir.path().resolve(ModelDirectory.VOCAB_TXT), tokenizerJson);
    }
    try (HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.builder().optTokenizerPath(tokenizerJson)
        .optPadding(true).optTruncation(true).optMaxLength(Ceiling.MAX_LEN).build()) {
      Criteria<String, Classifications> criteria = Criteria.builder()
          .setTypes(String.class, Classifications.class)
          .optModelPath(dir.path())
          .optEngine("OnnxRuntime")
          .optTranslator(new ArgmaxOutput(TextClassificationTranslator.builder(tokenizer).build()))
          .optOption("intraOpNumThreads", Integer.toString(threads))
          .optOption("interOpNumThreads", "1")
          .optOption("optLevel", "ALL_OPT")
          .build();
      try (ZooModel<String, Classifications> model = criteria.loadModel();
          Predictor<String, Classifications> predictor = model.newPredictor()) {
        int batch = 32;
        predictor.batchPredict(texts.subList(0, batch)); // warm-up
        for (int r = 0; r < runs; r++) {
          Rss.reset();
          long events = 0;
          long tokens = 0;
          long padded = 0;
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
          long start = System.nanoTime();
          // whole passes (sorted: whole blocks): the run ends at the first boundary after --seconds
          int unit = sortedByLength ? BenchTexts.ORACLE_BLOCK : BenchTexts.PASS;
          for (int i = 0; System.nanoTime() < deadline || i % unit != 0; i = (i + batch) % texts.size()) {
            int end = Math.min(texts.size(), i + batch);
            List<Classifications> out = predictor.batchPredict(texts.subList(i, end));
            int longest = 0;
            for (int j = i; j < end; j++) {
              longest = Math.max(longest, encodings.get(j).length());
              tokens += encodings.get(j).length();
            }
            events += out.size();
            padded += (long) longest * (end - i);
          }
          m.runs.add(new Measurement.Run(events, tokens, padded, (System.nanoTime() - start) / 1e9, Rss.peakMb(),
              null, null));
        }
      }
    }
  }

  /**
   * DJL's translator for everything but the last step: its {@code argSort} is not implemented by the NDArray
   * engine that the tokenizers jar brings (Rust), so the softmax and arg-max are done here on the logits.
   */
  static final class ArgmaxOutput implements ai.djl.translate.Translator<String, Classifications> {
    private final TextClassificationTranslator djl;

    ArgmaxOutput(TextClassificationTranslator djl) {
      this.djl = djl;
    }

    @Override
    public void prepare(ai.djl.translate.TranslatorContext ctx) throws Exception {
      djl.prepare(ctx);
    }

    @Override
    public ai.djl.translate.Batchifier getBatchifier() {
      return djl.getBatchifier();
    }

    @Override
    public ai.djl.ndarray.NDList processInput(ai.djl.translate.TranslatorContext ctx, String input) {
      return djl.processInput(ctx, input);
    }

    @Override
    public ai.djl.ndarray.NDList batchProcessInput(ai.djl.translate.TranslatorContext ctx, List<String> inputs) {
      return djl.batchProcessInput(ctx, inputs);
    }

    @Override
    public Classifications processOutput(ai.djl.translate.TranslatorContext ctx, ai.djl.ndarray.NDList list) {
      return classify(list.get(0).toFloatArray(), 1).get(0);
    }

    @Override
    public List<Classifications> batchProcessOutput(ai.djl.translate.TranslatorContext ctx,
        ai.djl.ndarray.NDList list) {
      long[] shape = list.get(0).getShape().getShape();
      return classify(list.get(0).toFloatArray(), (int) shape[0]);
    }

    private static List<Classifications> classify(float[] logits, int rows) {
      int width = logits.length / rows;
      List<Classifications> out = new java.util.ArrayList<>(rows);
      for (int r = 0; r < rows; r++) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < width; j++) {
          max = Math.max(max, logits[r * width + j]);
        }
        double sum = 0;
        List<Double> p = new java.util.ArrayList<>(width);
        List<String> names = new java.util.ArrayList<>(width);
        for (int j = 0; j < width; j++) {
          double e = Math.exp(logits[r * width + j] - max);
          p.add(e);
          sum += e;
          names.add("LABEL_" + j);
        }
        for (int j = 0; j < width; j++) {
          p.set(j, p.get(j) / sum);
        }
        out.add(new Classifications(names, p));
      }
      return out;
    }
  }

  /**
   * A Hugging Face tokenizer.json for an uncased BERT WordPiece vocabulary, for directories that carry only
   * vocab.txt (the seeded presets): DJL's tokenizer reads only tokenizer.json.
   */
  static void writeTokenizerJson(Path vocabTxt, Path out) throws Exception {
    ObjectMapper json = new ObjectMapper();
    List<String> vocab = Files.readAllLines(vocabTxt);
    ObjectNode root = json.createObjectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    for (String special : List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")) {
      ObjectNode t = added.addObject();
      t.put("id", vocab.indexOf(special));
      t.put("content", special);
      t.put("single_word", false);
      t.put("lstrip", false);
      t.put("rstrip", false);
      t.put("normalized", false);
      t.put("special", true);
    }
    ObjectNode normalizer = root.putObject("normalizer");
    normalizer.put("type", "BertNormalizer");
    normalizer.put("clean_text", true);
    normalizer.put("handle_chinese_chars", true);
    normalizer.putNull("strip_accents");
    normalizer.put("lowercase", true);
    root.putObject("pre_tokenizer").put("type", "BertPreTokenizer");
    ObjectNode post = root.putObject("post_processor");
    post.put("type", "TemplateProcessing");
    ArrayNode single = post.putArray("single");
    single.addObject().putObject("SpecialToken").put("id", "[CLS]").put("type_id", 0);
    single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
    single.addObject().putObject("SpecialToken").put("id", "[SEP]").put("type_id", 0);
    ArrayNode pair = post.putArray("pair");
    pair.addAll(single.deepCopy());
    pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
    pair.addObject().putObject("SpecialToken").put("id", "[SEP]").put("type_id", 1);
    ObjectNode specials = post.putObject("special_tokens");
    for (String s : List.of("[CLS]", "[SEP]")) {
      ObjectNode t = specials.putObject(s);
      t.put("id", s);
      t.putArray("ids").add(vocab.indexOf(s));
      t.putArray("tokens").add(s);
    }
    ObjectNode decoder = root.putObject("decoder");
    decoder.put("type", "WordPiece");
    decoder.put("prefix", "##");
    decoder.put("cleanup", true);
    ObjectNode model = root.putObject("model");
    model.put("type", "WordPiece");
    model.put("unk_token", "[UNK]");
    model.put("continuing_subword_prefix", "##");
    model.put("max_input_chars_per_word", 100);
    ObjectNode v = model.putObject("vocab");
    for (int i = 0; i < vocab.size(); i++) {
      v.put(vocab.get(i), i);
    }
    json.writeValue(out.toFile(), root);
  }
}
