package io.distilstream.runtime.cli;

import ai.onnxruntime.OrtException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.runtime.graph.Precision;
import io.distilstream.runtime.graph.PrecisionReport;
import io.distilstream.runtime.graph.Presets;
import io.distilstream.runtime.graph.SafeTensors;
import io.distilstream.runtime.graph.Weights;
import io.distilstream.runtime.hub.HubOptions;
import io.distilstream.runtime.hub.ModelSource;
import io.distilstream.runtime.model.ModelConfig;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.runtime.model.SessionOptions;
import io.distilstream.runtime.tokenizer.Encoding;
import io.distilstream.runtime.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Set;

/** {@code distilstream build-model}: a model directory with {@code model.onnx}, built in Java. */
public final class BuildModelCli {
  private static final ObjectMapper JSON = new ObjectMapper();

  public static final String USAGE = String.join("\n",
      "usage: distilstream build-model --config CONFIG --task TASK --out DIR [--weights FILE | --seed N]",
      "                                [--quantize int8 [--int8-activation per-row|per-tensor] | --dtype fp16]",
      "                                [--report TEXTS]",
      "  Builds the ONNX graph of a DistilBERT or BERT model and writes a complete model directory: config.json,",
      "  tokenizer files, model.onnx. Prints one JSON line describing what it wrote.",
      "  --config CONFIG   a Hugging Face config.json, or a preset: distilbert-base, distilbert-small, bert-base,",
      "                    bert-small, or a Hub id ORG/NAME[@REVISION]: its config.json, model.safetensors and",
      "                    tokenizer files are fetched into the huggingface_hub cache (HF_HOME, HF_TOKEN, HF_ENDPOINT)",
      "  --revision REV    branch, tag or commit of a Hub id without @REVISION (main)",
      "  --task TASK       text-classification | token-classification | question-answering | fill-mask |",
      "                    multiple-choice | feature-extraction (must agree with config.json's architectures)",
      "  --weights FILE    model.safetensors (default: the one beside the config, if any)",
      "  --seed N          random weights from seed N instead (Hugging Face's initialisation); labels mean nothing",
      "  --tokenizer DIR   where tokenizer.json / vocab.txt come from (default: beside the config; presets bundle",
      "                    distilbert-base-uncased's vocabulary)",
      "  --out DIR         the model directory to write",
      "  --quantize int8   dynamically quantized graph for CPUs: encoder MatMul weights int8 per output channel,",
      "                    activations quantized at run time (DynamicQuantizeLinear + MatMulInteger, which ONNX",
      "                    Runtime fuses into DynamicQuantizeMatMul); the head stays float32",
      "  --int8-activation per-row | per-tensor   with --quantize int8: one activation scale per token row (default:",
      "                    a text's result does not depend on what shares its batch) or one per tensor (Optimum's",
      "                    and ORT's quantize_dynamic form: faster, batch-dependent)",
      "  --quantize-heads  with --quantize int8: quantize the head's Linear layers too",
      "  --reduce-range    with --quantize int8: 7-bit weights, for AVX2 CPUs without VNNI (saturation)",
      "  --dtype fp16      float16 graph for GPUs: weights and compute fp16, LayerNorm and softmax float32, outputs",
      "                    float32 under the same names (default fp32)",
      "  --report TEXTS    with --quantize or --dtype: run the texts (one per line) through the float32 graph and",
      "                    the written one, and add their drift to the summary (top-1 agreement, max abs diff)");

  private static final List<String> TOKENIZER_FILES =
      List.of("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json");

  private BuildModelCli() {}

  /**
   * What {@code build-model} builds, one field per flag, for callers in Java (the bench, the demo): {@code weights},
   * {@code seed}, {@code tokenizer} and {@code report} may be null. Invalid combinations throw
   * {@link Args.UsageException}, as the flags do.
   */
  public record Request(String config, String task, Path out, Path weights, Long seed, Path tokenizer,
      Precision precision, Path report) {
    /** Checks what the flags check. */
    public Request {
      if (report != null && precision.kind() == Precision.Kind.FP32) {
        throw new Args.UsageException("--report compares a --quantize int8 or --dtype fp16 graph with float32: give one");
      }
      if (weights != null && seed != null) {
        throw new Args.UsageException("give --weights or --seed, not both");
      }
    }

    /** A float32 model of a preset or a config.json with random weights from {@code seed}. */
    public static Request seeded(String config, String task, long seed, Path out) {
      return new Request(config, task, out, null, seed, null, Precision.fp32(), null);
    }

    /** A float32 model of a config.json with its weights and tokenizer from the given places. */
    public static Request of(Path config, String task, Path weights, Path tokenizer, Path out) {
      return new Request(config.toString(), task, out, weights, null, tokenizer, Precision.fp32(), null);
    }

    /** This request in another precision. */
    public Request withPrecision(Precision p) {
      return new Request(config, task, out, weights, seed, tokenizer, p, report);
    }
  }

  public static int run(String[] argv, PrintStream out) throws IOException {
    return run(argv, out, HubOptions.fromEnvironment());
  }

  /** {@link #run(String[], PrintStream)} with the Hub settings given. */
  public static int run(String[] argv, PrintStream out, HubOptions hub) throws IOException {
    Args args = Args.parse(argv, Set.of("quantize-heads", "reduce-range"));
    String configArg = args.required("config");
    String task = args.required("task");
    Path outDir = Path.of(args.required("out"));
    String weightsArg = args.string("weights", null);
    String seedArg = args.string("seed", null);
    String tokenizerArg = args.string("tokenizer", null);
    Precision precision;
    try {
      precision = Precision.parse(args.string("quantize", null), args.string("dtype", null))
          .quantizeHeads(args.flag("quantize-heads")).reduceRange(args.flag("reduce-range"))
          .activation(Precision.parseActivation(args.string("int8-activation", null)));
    } catch (IllegalArgumentException e) {
      throw new Args.UsageException(e.getMessage());
    }
    String reportArg = args.string("report", null);
    String revision = args.string("revision", null);
    args.rejectUnknown();
    if (!Presets.isPreset(configArg) && ModelSource.isHubId(configArg)) {
      // a Hub id: the snapshot's config.json, with its model.safetensors and tokenizer files beside it
      configArg = ModelSource.resolve(configArg, hub.revision(revision).safetensors(true)).resolve("config.json")
          .toString();
    }
    Request request = new Request(configArg, task, outDir, weightsArg == null ? null : Path.of(weightsArg),
        seedArg == null ? null : Long.parseLong(seedArg.trim()), tokenizerArg == null ? null : Path.of(tokenizerArg),
        precision, reportArg == null ? null : Path.of(reportArg));
    out.println(JSON.writeValueAsString(build(request)));
    return 0;
  }

  /** Builds the model directory {@code request} asks for and returns the summary {@code build-model} prints. */
  public static ObjectNode build(Request request) throws IOException {
    String configArg = request.config();
    String task = request.task();
    Path outDir = request.out();
    Precision precision = request.precision();
    Files.createDirectories(outDir);
    long start = System.nanoTime();
    boolean preset = Presets.isPreset(configArg);
    Path configSource = preset ? null : Path.of(configArg);
    ObjectNode configJson = preset ? Presets.config(configArg, task) : null;
    Path configOut = outDir.resolve("config.json");
    if (preset) {
      Files.writeString(configOut, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(configJson));
    } else if (!configSource.toAbsolutePath().normalize().equals(configOut.toAbsolutePath().normalize())) {
      Files.copy(configSource, configOut, StandardCopyOption.REPLACE_EXISTING);
    }
    ModelConfig config = ModelConfig.read(configOut);
    GraphBuilder.Head head = GraphBuilder.Head.forTask(task, config);

    Weights weights;
    String source;
    if (request.seed() != null || (preset && request.weights() == null)) {
      long seed = request.seed() == null ? 42 : request.seed();
      weights = Weights.seeded(seed, config.initializerRange());
      source = "seed " + seed;
    } else {
      Path file = request.weights() != null ? request.weights()
          : configSource.toAbsolutePath().resolveSibling("model.safetensors");
      weights = Weights.of(SafeTensors.open(file));
      source = file.toString();
    }
    byte[] onnx = GraphBuilder.build(config, head, weights, precision);
    Files.write(outDir.resolve("model.onnx"), onnx);

    Path tokenizerDir = request.tokenizer() != null ? request.tokenizer()
        : configSource != null ? configSource.toAbsolutePath().getParent() : null;
    int copied = 0;
    if (tokenizerDir != null && !tokenizerDir.toAbsolutePath().normalize().equals(outDir.toAbsolutePath().normalize())) {
      for (String f : TOKENIZER_FILES) {
        if (Files.isRegularFile(tokenizerDir.resolve(f))) {
          Files.copy(tokenizerDir.resolve(f), outDir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
          copied++;
        }
      }
    }
    if (preset && copied == 0) {
      Presets.writeUncasedTokenizer(outDir);
    }
    ObjectNode summary = JSON.createObjectNode();
    summary.put("out", outDir.toAbsolutePath().toString());
    summary.put("task", task);
    summary.put("head", head.name().toLowerCase(java.util.Locale.ROOT));
    summary.put("architecture", config.architecture());
    summary.put("weights", source);
    summary.put("precision", precision.toString());
    summary.put("onnx_bytes", onnx.length);
    if (request.report() != null) {
      byte[] reference = GraphBuilder.build(config, head, weights);
      List<String> lines = Files.readAllLines(request.report()).stream().filter(l -> !l.isBlank()).toList();
      WordPieceTokenizer tokenizer = WordPieceTokenizer.fromDirectory(outDir);
      int maxLength = Math.min(config.maxPositionEmbeddings(), 512);
      List<Encoding> encodings = lines.stream().map(l -> tokenizer.encode(l, maxLength)).toList();
      try (ModelSession ref = ModelSession.open(reference, Path.of("float32"), SessionOptions.defaults());
           ModelSession built = ModelSession.open(onnx, outDir.resolve("model.onnx"), SessionOptions.defaults())) {
        PrecisionReport r = PrecisionReport.compare(ref, built, encodings, 32);
        ObjectNode rep = summary.putObject("report");
        rep.put("texts", r.sequences);
        rep.put("top1_agreement", r.top1Agreement());
        rep.put("compared", r.compared);
        rep.put("max_abs_diff", r.maxAbsDiff);
        rep.put("mean_abs_diff", r.meanAbsDiff);
        rep.put("median_top2_margin", r.medianMargin);
        rep.put("max_flipped_top2_margin", r.maxFlippedMargin);
        rep.put("float32_seconds", r.referenceSeconds);
        rep.put("seconds", r.candidateSeconds);
        rep.put("speedup", r.speedup());
      } catch (OrtException e) {
        throw new IOException("--report: ONNX Runtime failed: " + e.getMessage(), e);
      }
    }
    summary.put("seconds", Math.round((System.nanoTime() - start) / 1e7) / 100.0);
    return summary;
  }
}
