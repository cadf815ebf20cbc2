package io.distilstream.runtime.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.distilstream.runtime.batch.BatchingOptions;
import io.distilstream.runtime.heads.TokenClassificationHead;
import io.distilstream.runtime.hub.HubOptions;
import io.distilstream.runtime.hub.ModelSource;
import io.distilstream.runtime.model.Device;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.SessionOptions;
import io.distilstream.runtime.pipeline.MultipleChoicePipeline;
import io.distilstream.runtime.pipeline.Outcome;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.QuestionAnsweringPipeline;
import io.distilstream.runtime.pipeline.ResultJson;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import io.distilstream.runtime.pipeline.ZeroShotClassificationPipeline;
import io.distilstream.runtime.tokenizer.Encoding;
import io.distilstream.runtime.tokenizer.WordPieceTokenizer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code distilstream run} and {@code distilstream tokenize}: one input per line on stdin, one JSON result per line
 * on stdout, in input order. A bad line gets {@code {"error": …}} on its own line; the command goes on.
 */
public final class RuntimeCli {
  private static final ObjectMapper JSON = new ObjectMapper();

  public static final String RUN_USAGE = String.join("\n",
      "usage: distilstream run --task TASK --model DIR [options] < inputs > results.jsonl",
      "  --task TASK                text-classification | token-classification | question-answering | feature-extraction",
      "                             | fill-mask | multiple-choice | zero-shot-classification",
      "  --model DIR                Hugging Face model directory (config.json, tokenizer.json or vocab.txt, model.onnx),",
      "                             or a Hub id ORG/NAME[@REVISION], fetched into the huggingface_hub cache (HF_HOME,",
      "                             HF_TOKEN, HF_ENDPOINT, HF_HUB_OFFLINE); an existing local path wins",
      "  --revision REV             branch, tag or commit of a Hub id without @REVISION (main)",
      "  --top-k N                  labels (text-classification, 0 = all) or answers (question-answering) per input;",
      "                             fill-mask: tokens per mask (5)",
      "  --threshold LABEL=P        drop LABEL below score P (text-classification; repeatable)",
      "  --aggregation S            none | simple | first | average | max (token-classification, default simple)",
      "  --stride N                 tokens shared by consecutive windows of a long text (token-classification, and",
      "                             text-classification with --long-text chunk; 16)",
      "  --long-text P              texts longer than the window: truncate (text-classification's default) | reject",
      "                             | chunk (token-classification's default: windows, spans merged; text-classification:",
      "                             window scores pooled by --window-pool)",
      "  --window-pool mean|max     text-classification with --long-text chunk: mean or max of window scores (mean)",
      "  --pair                     text-classification: each line is {\"text\":…,\"text_pair\":…} (NLI-style pairs;",
      "                             token_type_ids for BERT); text_pair may be absent",
      "  --max-length N             longest window in tokens (default: the model's; 384 for question-answering)",
      "  --doc-stride N             question-answering window overlap (128)",
      "  --max-answer-len N         question-answering longest answer in tokens (15)",
      "  --max-question-len N       question-answering longest question in tokens (64)",
      "  --handle-impossible-answer question-answering may answer \"\" when no span beats [CLS]",
      "  --candidate-labels A,B,C   zero-shot-classification: the labels each text is scored against (at most",
      "                             --max-candidate-labels, 32); a line {\"text\":…,\"candidate_labels\":[…]} sets its own",
      "  --hypothesis-template T    zero-shot-classification: the hypothesis per label, {} for the label",
      "                             (\"This example is {}.\")",
      "  --multi-label              zero-shot-classification: score each label on its own (entailment against",
      "                             contradiction) instead of a softmax across the labels",
      "  --pooling mean|cls         feature-extraction pooling (mean)",
      "  --no-normalize             feature-extraction: no L2 normalisation",
      "  --batch-size N             sequences per model call (32)",
      "  --max-tokens N             padded tokens per model call (4096)",
      "  --max-padding-ratio R      split batches so padded tokens stay within R x real ones (1.1)",
      "  --threads N                ONNX Runtime intra-op threads (0 = ONNX Runtime's choice)",
      "  --device cpu|cuda          execution provider (cpu)",
      "  --onnx FILE                ONNX file other than DIR/model.onnx (a name inside DIR: model_quantized.onnx; for a",
      "                             Hub id, the file fetched, at the top or under onnx/)",
      "  --quantize int8            run the int8 graph model_quantized.onnx (Optimum's name; top or onnx/): for a Hub",
      "                             id the file fetched instead of model.onnx; = --onnx model_quantized.onnx",
      "  --int8-rewrite             a per-tensor int8 graph (Optimum's model_quantized.onnx): rewrite it to per-row",
      "                             quantization at load, so it batches with results independent of batch neighbours",
      "  --allow-batch-dependent-results  batch a per-tensor int8 graph as it is (faster; results then depend on",
      "                             what shares a batch). Without either flag such a graph runs one text per call",
      "Input: one text per line; for question-answering one JSON object {\"question\":…,\"context\":…} per line;",
      "       for multiple-choice one JSON object {\"prompt\":…,\"choices\":[…]} per line; for",
      "       zero-shot-classification a text, or a JSON object {\"text\":…,\"candidate_labels\":[…]}, per line.");

  public static final String TOKENIZE_USAGE = String.join("\n",
      "usage: distilstream tokenize --model DIR|ORG/NAME[@REV] [--pair] [--max-length N] < texts > tokens.jsonl",
      "  Writes {\"ids\":[…],\"offsets\":[[start,end],…]} per line; offsets are UTF-16 indices into the line.",
      "  --pair    each line is a JSON object {\"text\":…,\"text_pair\":…} (or {\"question\":…,\"context\":…});",
      "            the output adds \"type_ids\", and offsets index into their own sequence",
      "  --max-length N   truncate to N tokens (default: none)",
      "  --revision REV   branch, tag or commit of a Hub id without @REVISION (main)");

  private RuntimeCli() {}

  /** @return the process exit code */
  public static int run(String[] argv, InputStream in, PrintStream out, PrintStream err) throws IOException {
    return run(argv, in, out, err, HubOptions.fromEnvironment());
  }

  /** {@link #run(String[], InputStream, PrintStream, PrintStream)} with the Hub settings given. */
  public static int run(String[] argv, InputStream in, PrintStream out, PrintStream err, HubOptions hub)
      throws IOException {
    Args args = Args.parse(argv, Set.of("handle-impossible-answer", "no-normalize", "pair", "int8-rewrite",
        "allow-batch-dependent-results", "multi-label"));
    Task task = Task.parse(args.required("task"));
    String model = args.required("model");
    String revision = args.string("revision", null);
    String onnx = args.string("onnx", null);
    String quantize = args.string("quantize", null);
    if (quantize != null) {
      if (!quantize.equals("int8")) {
        throw new Args.UsageException("--quantize takes int8 (a graph built here: build-model --quantize int8), got '"
            + quantize + "'");
      }
      if (onnx != null) {
        throw new Args.UsageException("--quantize int8 names the ONNX file (model_quantized.onnx): drop --onnx");
      }
      onnx = ModelDirectory.MODEL_QUANTIZED_ONNX; // Optimum's int8 file, as the Hub's onnx/ folders hold it
    }
    PipelineOptions options = PipelineOptions.defaults()
        .session(SessionOptions.defaults()
            .device(Device.parse(args.string("device", "cpu")))
            .intraOpThreads(args.integer("threads", 0))
            .int8Rewrite(args.flag("int8-rewrite"))
            .allowBatchDependentResults(args.flag("allow-batch-dependent-results")))
        .batching(new BatchingOptions(args.integer("batch-size", BatchingOptions.DEFAULT_MAX_BATCH_SIZE),
            args.integer("max-tokens", BatchingOptions.DEFAULT_MAX_TOKENS),
            Double.parseDouble(args.string("max-padding-ratio",
                Double.toString(BatchingOptions.DEFAULT_MAX_PADDING_RATIO)))))
        .maxLength(args.integer("max-length", 0))
        .topK(args.integer("top-k", -1))
        .aggregation(TokenClassificationHead.Aggregation.parse(args.string("aggregation", "simple")))
        .stride(args.integer("stride", 16))
        .docStride(args.integer("doc-stride", 128))
        .maxAnswerLength(args.integer("max-answer-len", 15))
        .maxQuestionLength(args.integer("max-question-len", 64))
        .handleImpossibleAnswer(args.flag("handle-impossible-answer"))
        .pooling(PipelineOptions.Pooling.parse(args.string("pooling", "mean")))
        .normalize(!args.flag("no-normalize"))
        .windowPool(PipelineOptions.WindowPool.parse(args.string("window-pool", "mean")));
    String longText = args.string("long-text", null);
    if (longText != null) {
      options = options.longText(PipelineOptions.LongText.parse(longText));
    }
    String labels = args.string("candidate-labels", null);
    if (labels != null) {
      options = options.candidateLabels(splitLabels(labels));
    }
    options = options.maxCandidateLabels(args.integer("max-candidate-labels", PipelineOptions.DEFAULT_MAX_CANDIDATE_LABELS))
        .multiLabel(args.flag("multi-label"));
    try {
      options = options.hypothesisTemplate(args.string("hypothesis-template", PipelineOptions.DEFAULT_HYPOTHESIS_TEMPLATE));
    } catch (IllegalArgumentException e) {
      throw new Args.UsageException("--hypothesis-template: " + e.getMessage());
    }
    if (task == Task.ZERO_SHOT_CLASSIFICATION && options.candidateLabels().isEmpty()) {
      // lines may still bring their own; without either every line would fail the same way
      err.println("note: no --candidate-labels: each line must be {\"text\":…,\"candidate_labels\":[…]}");
    }
    boolean pair = args.flag("pair");
    if (pair && task != Task.TEXT_CLASSIFICATION) {
      throw new Args.UsageException("--pair is for --task text-classification");
    }
    for (String t : args.all("threshold")) {
      int eq = t.lastIndexOf('=');
      if (eq <= 0) {
        throw new Args.UsageException("--threshold takes LABEL=P, got '" + t + "'");
      }
      try {
        options = options.threshold(t.substring(0, eq), Float.parseFloat(t.substring(eq + 1)));
      } catch (NumberFormatException e) {
        throw new Args.UsageException("--threshold takes LABEL=P with P a number, got '" + t + "'");
      }
    }
    args.rejectUnknown();

    Path local = ModelSource.resolve(model, hub.revision(revision).onnxFile(onnx == null ? null
        : Path.of(onnx).getFileName().toString()).progress(err, HubOptions.DEFAULT_PROGRESS_MIN_BYTES));
    ModelDirectory dir = ModelDirectory.of(local, onnx == null ? null : Path.of(onnx));
    int chunk = Math.max(256, options.batching().maxBatchSize() * 8);
    try (Pipeline<?, ?> pipeline = Pipeline.create(task, dir, options);
        BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
      List<String> lines = new ArrayList<>(chunk);
      String line;
      while ((line = reader.readLine()) != null) {
        lines.add(line);
        if (lines.size() == chunk) {
          runChunk(pipeline, task, options, pair, lines, out);
          lines.clear();
        }
      }
      runChunk(pipeline, task, options, pair, lines, out);
    }
    out.flush();
    return 0;
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static void runChunk(Pipeline<?, ?> pipeline, Task task, PipelineOptions options, boolean pair,
      List<String> lines, PrintStream out) throws IOException {
    if (lines.isEmpty()) {
      return;
    }
    List<Object> inputs = new ArrayList<>(lines.size());
    List<JsonNode> parseErrors = new ArrayList<>(lines.size());
    for (String line : lines) {
      if (task == Task.QUESTION_ANSWERING) {
        try {
          JsonNode n = JSON.readTree(line);
          if (n == null || !n.isObject()) {
            throw new IOException("not a JSON object");
          }
          inputs.add(new QuestionAnsweringPipeline.Question(text(n, "question"), text(n, "context")));
          parseErrors.add(null);
        } catch (IOException e) {
          inputs.add(null);
          parseErrors.add(ResultJson.error(Outcome.Reason.INVALID_INPUT,
              "expected a JSON object {\"question\":…,\"context\":…}: " + firstLine(e.getMessage())));
        }
      } else if (pair) {
        try {
          JsonNode n = JSON.readTree(line);
          if (n == null || !n.isObject()) {
            throw new IOException("not a JSON object");
          }
          inputs.add(new TextClassificationPipeline.TextPair(text(n, "text"), text(n, "text_pair")));
          parseErrors.add(null);
        } catch (IOException e) {
          inputs.add(null);
          parseErrors.add(ResultJson.error(Outcome.Reason.INVALID_INPUT,
              "expected a JSON object {\"text\":…,\"text_pair\":…}: " + firstLine(e.getMessage())));
        }
      } else if (task == Task.MULTIPLE_CHOICE) {
        try {
          JsonNode n = JSON.readTree(line);
          if (n == null || !n.isObject() || !n.path("choices").isArray()) {
            throw new IOException("not a JSON object with a choices array");
          }
          List<String> choices = new ArrayList<>();
          n.get("choices").forEach(c -> choices.add(c.isNull() ? null : c.asText()));
          inputs.add(new MultipleChoicePipeline.Question(text(n, "prompt"), choices));
          parseErrors.add(null);
        } catch (IOException e) {
          inputs.add(null);
          parseErrors.add(ResultJson.error(Outcome.Reason.INVALID_INPUT,
              "expected a JSON object {\"prompt\":…,\"choices\":[…]}: " + firstLine(e.getMessage())));
        }
      } else if (task == Task.ZERO_SHOT_CLASSIFICATION) {
        inputs.add(zeroShotRequest(line));
        parseErrors.add(null);
      } else {
        inputs.add(line);
        parseErrors.add(null);
      }
    }
    List<Object> valid = new ArrayList<>();
    for (int i = 0; i < inputs.size(); i++) {
      if (parseErrors.get(i) == null) {
        valid.add(inputs.get(i));
      }
    }
    List<Outcome<?>> outcomes = pair
        ? (List) ((TextClassificationPipeline) pipeline).runPairs((List) valid)
        : (List) ((Pipeline) pipeline).runAll(valid);
    int next = 0;
    StringBuilder sb = new StringBuilder();
    for (JsonNode parseError : parseErrors) {
      JsonNode result = parseError != null ? parseError : ResultJson.of(outcomes.get(next++), options.topK());
      sb.append(JSON.writeValueAsString(result)).append('\n');
    }
    out.print(sb);
  }

  /** Comma-separated labels, trimmed, empty ones dropped (Hugging Face splits a string of labels the same way). */
  static List<String> splitLabels(String s) {
    List<String> out = new ArrayList<>();
    for (String l : s.split(",")) {
      if (!l.isBlank()) {
        out.add(l.trim());
      }
    }
    return out;
  }

  /**
   * A zero-shot line: a JSON object with {@code text} and its own {@code candidate_labels} (a list or a
   * comma-separated string), {@code hypothesis_template} and {@code multi_label}, or else the line is the text.
   */
  private static ZeroShotClassificationPipeline.Request zeroShotRequest(String line) {
    if (line.startsWith("{")) {
      try {
        JsonNode n = JSON.readTree(line);
        if (n != null && n.isObject() && n.has("text")) {
          List<String> labels = null;
          JsonNode l = n.get("candidate_labels");
          if (l != null && l.isArray()) {
            labels = new ArrayList<>();
            for (JsonNode x : l) {
              labels.add(x.isNull() ? null : x.asText());
            }
          } else if (l != null && l.isTextual()) {
            labels = splitLabels(l.asText());
          }
          JsonNode multi = n.get("multi_label");
          return new ZeroShotClassificationPipeline.Request(text(n, "text"), labels,
              text(n, "hypothesis_template"), multi == null || multi.isNull() ? null : multi.asBoolean());
        }
      } catch (IOException e) {
        // not JSON: the line is the text
      }
    }
    return ZeroShotClassificationPipeline.Request.of(line);
  }

  private static String text(JsonNode n, String field) {
    JsonNode v = n.get(field);
    return v == null || v.isNull() ? null : v.asText();
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  /** @return the process exit code */
  public static int tokenize(String[] argv, InputStream in, PrintStream out, PrintStream err) throws IOException {
    return tokenize(argv, in, out, err, HubOptions.fromEnvironment());
  }

  /** {@link #tokenize(String[], InputStream, PrintStream, PrintStream)} with the Hub settings given. */
  public static int tokenize(String[] argv, InputStream in, PrintStream out, PrintStream err, HubOptions hub)
      throws IOException {
    Args args = Args.parse(argv, Set.of("pair"));
    String modelArg = args.required("model");
    String revision = args.string("revision", null);
    boolean pair = args.flag("pair");
    int maxLength = args.integer("max-length", 0);
    args.rejectUnknown();
    Path model = ModelSource.resolve(modelArg,
        hub.revision(revision).progress(err, HubOptions.DEFAULT_PROGRESS_MIN_BYTES));
    WordPieceTokenizer tokenizer = WordPieceTokenizer.fromDirectory(model);
    try (BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
      String line;
      while ((line = reader.readLine()) != null) {
        JsonNode result;
        try {
          Encoding e;
          if (pair) {
            JsonNode n = JSON.readTree(line);
            if (n == null || !n.isObject()) {
              throw new IllegalArgumentException("expected a JSON object {\"text\":…,\"text_pair\":…}");
            }
            String a = n.has("text") ? text(n, "text") : text(n, "question");
            String b = n.has("text_pair") ? text(n, "text_pair") : text(n, "context");
            if (a == null || b == null) {
              throw new IllegalArgumentException("expected fields text and text_pair (or question and context)");
            }
            e = tokenizer.encodePair(a, b, maxLength);
          } else {
            e = tokenizer.encode(line, maxLength);
          }
          result = encodingJson(e, pair);
        } catch (IOException | IllegalArgumentException ex) {
          result = ResultJson.error(Outcome.Reason.INVALID_INPUT, firstLine(ex.getMessage()));
        }
        out.println(JSON.writeValueAsString(result));
      }
    }
    out.flush();
    return 0;
  }

  private static ObjectNode encodingJson(Encoding e, boolean withTypes) {
    ObjectNode n = JSON.createObjectNode();
    ArrayNode ids = n.putArray("ids");
    for (int id : e.ids) {
      ids.add(id);
    }
    if (withTypes) {
      ArrayNode types = n.putArray("type_ids");
      for (int t : e.typeIds) {
        types.add(t);
      }
    }
    ArrayNode offsets = n.putArray("offsets");
    for (int i = 0; i < e.length(); i++) {
      offsets.addArray().add(e.starts[i]).add(e.ends[i]);
    }
    return n;
  }
}
