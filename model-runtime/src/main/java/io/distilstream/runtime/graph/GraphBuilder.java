package io.distilstream.runtime.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;
import io.distilstream.runtime.model.ModelConfig;
import io.distilstream.runtime.model.ModelLoadException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Locale;

/**
 * Builds the ONNX graph of a DistilBERT or BERT model as {@code config.json} describes it, with weights under
 * Hugging Face's parameter names, so a checkpoint published as {@code model.safetensors} runs without a Python
 * export. Inputs and outputs carry Optimum's names and dynamic {@code batch_size} / {@code sequence_length} axes,
 * so the rest of the runtime cannot tell a built graph from an exported one. Standard ONNX operators (opset 17,
 * LayerNormalization included), which ONNX Runtime fuses at load time.
 */
public final class GraphBuilder {
  public static final int OPSET = 17;
  private static final float MASKED = -1e9f;

  /** What sits on top of the encoder. */
  public enum Head {
    SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION, QUESTION_ANSWERING, MASKED_LM, MULTIPLE_CHOICE, BASE;

    /** The head for a Hugging Face pipeline task, checked against the config's architecture. */
    public static Head forTask(String task, ModelConfig config) {
      String arch = config.architecture();
      Head wanted;
      switch (task.toLowerCase(Locale.ROOT)) {
        case "text-classification": case "sentiment-analysis": case "zero-shot-classification":
          wanted = SEQUENCE_CLASSIFICATION;
          break;
        case "token-classification": case "ner": wanted = TOKEN_CLASSIFICATION; break;
        case "question-answering": wanted = QUESTION_ANSWERING; break;
        case "fill-mask": wanted = MASKED_LM; break;
        case "multiple-choice": wanted = MULTIPLE_CHOICE; break;
        case "feature-extraction": return BASE;
        default: throw new IllegalArgumentException("unknown task '" + task + "': expected text-classification,"
            + " zero-shot-classification, token-classification, question-answering, fill-mask, multiple-choice or feature-extraction");
      }
      Head archHead = fromArchitecture(arch);
      if (archHead != null && archHead != wanted) {
        throw new IllegalArgumentException("task " + task + " needs a " + wanted + " head, but config.json's"
            + " architecture is " + arch);
      }
      return wanted;
    }

    static Head fromArchitecture(String arch) {
      if (arch.endsWith("ForSequenceClassification")) return SEQUENCE_CLASSIFICATION;
      if (arch.endsWith("ForTokenClassification")) return TOKEN_CLASSIFICATION;
      if (arch.endsWith("ForQuestionAnswering")) return QUESTION_ANSWERING;
      if (arch.endsWith("ForMaskedLM")) return MASKED_LM;
      if (arch.endsWith("ForMultipleChoice")) return MULTIPLE_CHOICE;
      if (arch.endsWith("Model")) return BASE;
      return null;
    }
  }

  private final ModelConfig config;
  private final Weights weights;
  private final boolean distil;
  private final String prefix;
  private final GraphProto.Builder graph = GraphProto.newBuilder().setName("distilstream");
  /** The encoder's [batch, seq] inputs: the graph inputs, or for multiple choice their [batch x choices, seq] view. */
  private String idsIn = "input_ids";
  private String maskIn = "attention_mask";
  private String typesIn = "token_type_ids";
  private int counter;

  private GraphBuilder(ModelConfig config, Weights weights, Head head) {
    this.config = config;
    this.weights = weights;
    this.distil = "distilbert".equals(config.modelType()) || config.architecture().startsWith("DistilBert");
    String p = distil ? "distilbert." : "bert.";
    // a bare encoder checkpoint has no "distilbert." / "bert." prefix; a checkpoint with a head has it
    String probe = distil ? "embeddings.word_embeddings.weight" : "embeddings.word_embeddings.weight";
    this.prefix = weights.has(p + probe) ? p : "";
  }

  /** The model as serialized ONNX bytes. */
  public static byte[] build(ModelConfig config, Head head, Weights weights) {
    return new GraphBuilder(config, weights, head).model(head).toByteArray();
  }

  /** The float32 model, then {@code precision}'s post-pass ({@link Int8Quantizer}, {@link Fp16Converter}). */
  public static byte[] build(ModelConfig config, Head head, Weights weights, Precision precision) {
    return precision.apply(new GraphBuilder(config, weights, head).model(head)).toByteArray();
  }

  private ModelProto model(Head head) {
    int d = config.hiddenSize();
    if (d % config.numHeads() != 0) {
      throw new ModelLoadException("config.json: hidden size " + d + " is not a multiple of " + config.numHeads()
          + " attention heads");
    }
    if (head == Head.MULTIPLE_CHOICE) {
      choiceInputs();
    } else {
      input("input_ids");
      input("attention_mask");
      if (!distil) {
        input("token_type_ids");
      }
    }
    String x = embeddings();
    String bias = attentionBias();
    for (int l = 0; l < config.numLayers(); l++) {
      x = layer(l, x, bias);
    }
    switch (head) {
      case SEQUENCE_CLASSIFICATION: sequenceClassification(x); break;
      case TOKEN_CLASSIFICATION: output(linear(x, "classifier", d, labels()), "logits", true, labels()); break;
      case QUESTION_ANSWERING: questionAnswering(x); break;
      case MASKED_LM: maskedLm(x); break;
      case MULTIPLE_CHOICE: multipleChoice(x); break;
      default: output(x, "last_hidden_state", true, d);
    }
    return ModelProto.newBuilder()
        .setIrVersion(8)
        .setProducerName("distilstream")
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
        .setGraph(graph)
        .build();
  }

  private int labels() {
    if (config.numLabels() == 0) {
      throw new ModelLoadException("config.json: this head needs id2label, and it has none");
    }
    return config.numLabels();
  }

  // ---- the encoder -----------------------------------------------------------------------------------------------

  private String embeddings() {
    int d = config.hiddenSize();
    String e = prefix + "embeddings.";
    String word = op("Gather", weight(e + "word_embeddings.weight", config.vocabSize(), d), idsIn);
    String shape = op("Shape", idsIn);
    String seqLen = op("Gather", shape, longScalar(1));
    String positions = op("Range", longScalar(0), seqLen, longScalar(1));
    String pos = op("Gather", weight(e + "position_embeddings.weight", config.maxPositionEmbeddings(), d), positions);
    String x = op("Add", word, pos);
    if (!distil) {
      x = op("Add", x, op("Gather", weight(e + "token_type_embeddings.weight", config.typeVocabSize(), d),
          typesIn));
    }
    return layerNorm(x, e + "LayerNorm");
  }

  /** 0 where attention_mask is 1, a large negative number where it is 0, shaped [batch, 1, 1, seq]. */
  private String attentionBias() {
    String mask = node("Cast", List.of(maskIn), attr("to", TensorProto.DataType.FLOAT.getNumber()));
    String inverted = op("Sub", floatScalar(1f), mask);
    String scaled = op("Mul", inverted, floatScalar(MASKED));
    return op("Unsqueeze", scaled, longs(1, 2));
  }

  private String layer(int l, String x, String bias) {
    int d = config.hiddenSize();
    int h = config.numHeads();
    int dh = d / h;
    String p;
    String q;
    String k;
    String v;
    String out;
    String ln1;
    String ff1;
    String ff2;
    String ln2;
    if (distil) {
      p = prefix + "transformer.layer." + l + ".";
      q = p + "attention.q_lin";
      k = p + "attention.k_lin";
      v = p + "attention.v_lin";
      out = p + "attention.out_lin";
      ln1 = p + "sa_layer_norm";
      ff1 = p + "ffn.lin1";
      ff2 = p + "ffn.lin2";
      ln2 = p + "output_layer_norm";
    } else {
      p = prefix + "encoder.layer." + l + ".";
      q = p + "attention.self.query";
      k = p + "attention.self.key";
      v = p + "attention.self.value";
      out = p + "attention.output.dense";
      ln1 = p + "attention.output.LayerNorm";
      ff1 = p + "intermediate.dense";
      ff2 = p + "output.dense";
      ln2 = p + "output.LayerNorm";
    }
    String heads = longs(0, 0, h, dh);
    String qh = node("Transpose", List.of(op("Reshape", linear(x, q, d, d), heads)), attr("perm", 0, 2, 1, 3));
    String kh = node("Transpose", List.of(op("Reshape", linear(x, k, d, d), heads)), attr("perm", 0, 2, 3, 1));
    String vh = node("Transpose", List.of(op("Reshape", linear(x, v, d, d), heads)), attr("perm", 0, 2, 1, 3));
    String scores = op("Add", op("Mul", op("MatMul", qh, kh), floatScalar((float) (1 / Math.sqrt(dh)))), bias);
    String probs = node("Softmax", List.of(scores), attr("axis", -1));
    String ctx = node("Transpose", List.of(op("MatMul", probs, vh)), attr("perm", 0, 2, 1, 3));
    String merged = op("Reshape", ctx, longs(0, 0, d));
    String a = layerNorm(op("Add", linear(merged, out, d, d), x), ln1);
    String f = linear(activation(linear(a, ff1, d, config.intermediateSize())), ff2, config.intermediateSize(), d);
    return layerNorm(op("Add", f, a), ln2);
  }

  private String activation(String x) {
    String act = config.activation().toLowerCase(Locale.ROOT);
    if (act.equals("relu")) {
      return op("Relu", x);
    }
    if (!act.equals("gelu")) {
      throw new ModelLoadException("config.json: activation '" + config.activation() + "' is not supported"
          + " (gelu, relu)");
    }
    return gelu(x);
  }

  /** Exact GELU: x * 0.5 * (1 + erf(x / sqrt(2))). */
  private String gelu(String x) {
    String erf = op("Erf", op("Div", x, floatScalar((float) Math.sqrt(2))));
    return op("Mul", op("Mul", x, floatScalar(0.5f)), op("Add", erf, floatScalar(1f)));
  }

  // ---- heads ---------------------------------------------------------------------------------------------------

  private String cls(String x) {
    return node("Gather", List.of(x, longScalar(0)), attr("axis", 1));
  }

  private void sequenceClassification(String x) {
    int d = config.hiddenSize();
    String pooled = distil
        ? op("Relu", linear(cls(x), "pre_classifier", d, d))
        : op("Tanh", linear(cls(x), prefix + "pooler.dense", d, d));
    output(linear(pooled, "classifier", d, labels()), "logits", false, labels());
  }

  /**
   * Multiple choice (Optimum's export): inputs {@code [batch_size, num_choices, sequence_length]}, run through the
   * encoder as {@code [batch_size x num_choices, sequence_length]}.
   */
  private void choiceInputs() {
    String[] names = distil ? new String[] {"input_ids", "attention_mask"}
        : new String[] {"input_ids", "attention_mask", "token_type_ids"};
    String[] flat = new String[names.length];
    for (int i = 0; i < names.length; i++) {
      graph.addInput(valueInfo(names[i], TensorProto.DataType.INT64, "batch_size", "num_choices", "sequence_length"));
      flat[i] = node("Flatten", List.of(names[i]), attr("axis", 2));
    }
    idsIn = flat[0];
    maskIn = flat[1];
    if (!distil) {
      typesIn = flat[2];
    }
  }

  /**
   * {@code DistilBertForMultipleChoice} (pre_classifier, ReLU, classifier to one logit) or
   * {@code BertForMultipleChoice} (pooler, classifier to one logit), reshaped to logits {@code [batch, num_choices]}.
   */
  private void multipleChoice(String x) {
    int d = config.hiddenSize();
    String pooled = distil
        ? op("Relu", linear(cls(x), "pre_classifier", d, d))
        : op("Tanh", linear(cls(x), prefix + "pooler.dense", d, d));
    String one = linear(pooled, "classifier", d, 1);
    String batchChoices = op("Slice", op("Shape", "input_ids"), longs(0), longs(2));
    String logits = op("Reshape", one, batchChoices);
    graph.addNode(NodeProto.newBuilder().setOpType("Identity").setName("logits_out").addInput(logits)
        .addOutput("logits"));
    graph.addOutput(valueInfo("logits", TensorProto.DataType.FLOAT, "batch_size", "num_choices"));
  }

  private void questionAnswering(String x) {
    String qa = linear(x, "qa_outputs", config.hiddenSize(), 2);
    output(node("Gather", List.of(qa, longScalar(0)), attr("axis", 2)), "start_logits", true, 0);
    output(node("Gather", List.of(qa, longScalar(1)), attr("axis", 2)), "end_logits", true, 0);
  }

  /**
   * {@code DistilBertForMaskedLM} (vocab_transform, GELU, vocab_layer_norm, vocab_projector) or
   * {@code BertForMaskedLM} ({@code cls.predictions.transform}: dense, hidden_act, LayerNorm; decoder), logits
   * {@code [batch, seq, vocab]}. The projection is tied to the word embeddings, as Hugging Face ties it by default.
   */
  private void maskedLm(String x) {
    int d = config.hiddenSize();
    String words = prefix + "embeddings.word_embeddings.weight";
    String t;
    String decoder = words;
    String bias;
    if (distil) {
      t = layerNorm(gelu(linear(x, "vocab_transform", d, d)), "vocab_layer_norm");
      bias = "vocab_projector.bias";
    } else {
      String p = "cls.predictions.";
      t = layerNorm(activation(linear(x, p + "transform.dense", d, d)), p + "transform.LayerNorm");
      // tie_word_embeddings (default true) ties the decoder; a checkpoint saved tied leaves it out
      if (!config.tieWordEmbeddings() && weights.has(p + "decoder.weight")) {
        decoder = weight(p + "decoder.weight", config.vocabSize(), d);
      }
      bias = weights.has(p + "bias") ? p + "bias" : p + "decoder.bias";
    }
    // the decoder's [vocab, dim] weight transposed, folded by ONNX Runtime at load
    String projector = node("Transpose", List.of(decoder), attr("perm", 1, 0));
    String logits = op("Add", op("MatMul", t, projector), weight(bias, config.vocabSize()));
    output(logits, "logits", true, config.vocabSize());
  }

  // ---- building blocks -------------------------------------------------------------------------------------------

  /** x · Wᵀ + b for a Hugging Face Linear ({@code weight} [out, in]); Wᵀ is stored so MatMul needs no Transpose. */
  private String linear(String x, String name, int in, int out) {
    float[] w = weights.get(name + ".weight", out, in);
    float[] t = new float[w.length];
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        t[i * out + o] = w[o * in + i];
      }
    }
    String wt = initializer(name + ".weight.T", t, in, out);
    return op("Add", op("MatMul", x, wt), weight(name + ".bias", out));
  }

  private String layerNorm(String x, String name) {
    int d = config.hiddenSize();
    return node("LayerNormalization", List.of(x, weight(name + ".weight", d), weight(name + ".bias", d)),
        attr("axis", -1), floatAttr("epsilon", (float) config.layerNormEps()));
  }

  private String weight(String name, long... shape) {
    if (!weights.has(name)) {
      throw new ModelLoadException("model.safetensors: expected a tensor named '" + name + "' of shape "
          + java.util.Arrays.toString(shape) + ", found none");
    }
    return initializer(name, weights.get(name, shape), shape);
  }

  private String initializer(String name, float[] data, long... shape) {
    ByteBuffer b = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(data);
    TensorProto.Builder t = TensorProto.newBuilder().setName(name)
        .setDataType(TensorProto.DataType.FLOAT.getNumber()).setRawData(ByteString.copyFrom(b.array()));
    for (long s : shape) {
      t.addDims(s);
    }
    graph.addInitializer(t);
    return name;
  }

  private String floatScalar(float v) {
    String name = "const_f" + (counter++);
    graph.addInitializer(TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT.getNumber())
        .addFloatData(v));
    return name;
  }

  private String longScalar(long v) {
    String name = "const_i" + (counter++);
    graph.addInitializer(TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.INT64.getNumber())
        .addInt64Data(v));
    return name;
  }

  private String longs(long... v) {
    String name = "const_v" + (counter++);
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.INT64.getNumber())
        .addDims(v.length);
    for (long x : v) {
      t.addInt64Data(x);
    }
    graph.addInitializer(t);
    return name;
  }

  private String op(String type, String... inputs) {
    return node(type, List.of(inputs));
  }

  private String node(String type, List<String> inputs, AttributeProto... attrs) {
    String out = type.toLowerCase(Locale.ROOT) + "_" + (counter++);
    NodeProto.Builder n = NodeProto.newBuilder().setOpType(type).setName(out).addAllInput(inputs).addOutput(out);
    for (AttributeProto a : attrs) {
      n.addAttribute(a);
    }
    graph.addNode(n);
    return out;
  }

  private static AttributeProto attr(String name, long... ints) {
    AttributeProto.Builder a = AttributeProto.newBuilder().setName(name);
    if (ints.length == 1 && !name.equals("perm")) {
      return a.setType(AttributeProto.AttributeType.INT).setI(ints[0]).build();
    }
    a.setType(AttributeProto.AttributeType.INTS);
    for (long i : ints) {
      a.addInts(i);
    }
    return a.build();
  }

  private static AttributeProto floatAttr(String name, float f) {
    return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(f).build();
  }

  private void input(String name) {
    graph.addInput(valueInfo(name, TensorProto.DataType.INT64, "batch_size", "sequence_length"));
  }

  /** Renames {@code value} to the output name with an Identity, declaring [batch, (seq,) width] axes. */
  private void output(String value, String name, boolean perToken, int width) {
    graph.addNode(NodeProto.newBuilder().setOpType("Identity").setName(name + "_out").addInput(value)
        .addOutput(name));
    Object[] dims = perToken
        ? (width > 0 ? new Object[] {"batch_size", "sequence_length", width} : new Object[] {"batch_size",
            "sequence_length"})
        : new Object[] {"batch_size", width};
    graph.addOutput(valueInfo(name, TensorProto.DataType.FLOAT, dims));
  }

  private static ValueInfoProto valueInfo(String name, TensorProto.DataType type, Object... dims) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (Object d : dims) {
      TensorShapeProto.Dimension.Builder dim = TensorShapeProto.Dimension.newBuilder();
      if (d instanceof String) {
        dim.setDimParam((String) d);
      } else {
        dim.setDimValue(((Number) d).longValue());
      }
      shape.addDim(dim);
    }
    return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
        TypeProto.Tensor.newBuilder().setElemType(type.getNumber()).setShape(shape))).build();
  }
}
