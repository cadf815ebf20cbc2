package io.distilstream.runtime.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Batch-invariant dynamic int8: activations quantized per row (per token) instead of per tensor, and the rewrite
 * of per-tensor graphs (Optimum's and ORT's {@code model_quantized.onnx}) into that form when they load.
 *
 * <p>Per-tensor dynamic quantization ({@code DynamicQuantizeLinear}) takes one scale and zero point from the min and
 * max of the whole {@code [batch, seq, hidden]} activation, so an event's result moves with whatever shares its
 * batch, padding rows included. The per-row form takes each row's scale from that row alone:
 *
 * <pre>
 *   s   = max(ReduceMax(|x|, last axis), tiny) / 127          [..., 1], float
 *   x_q = Cast&lt;uint8&gt;(Round(x / s) + 128)                      zero point 128: symmetric, in [1, 255]
 *   MatMulInteger(x_q, W, 128) -> int32, Cast float, × s (per row) × W_scale (per column)
 * </pre>
 *
 * Integer products are exact, so a row's output depends on that row only. It keeps uint8 activations with a scalar
 * zero point, the u8×s8 form ORT's MLAS kernels run fastest (and the only one MatMulInteger's CPU kernel takes a zero
 * point in), and the scale is a plain tensor broadcast over the columns, so the downstream {@code Mul} chain of a
 * per-tensor graph works unchanged with {@code s} of shape {@code [..., 1]} in place of a scalar.
 */
public final class PerRowQuantization {
  static final String MS = "com.microsoft";
  static final String ZP = "distilstream_rowq_zero_point";
  static final String INV = "distilstream_rowq_inv127";
  static final String TINY = "distilstream_rowq_tiny";
  static final String AXES = "distilstream_rowq_axes";
  static final String FLAT = "distilstream_rowq_flat_shape";

  private PerRowQuantization() {}

  /**
   * Appends the per-row quantization of {@code x} to {@code nodes}: outputs {@code xq} (uint8, zero point
   * {@link #zeroPoint}) and {@code xs} ({@code [..., 1]} float scales). {@link #constants} must be added once.
   */
  static void quantizeRows(List<NodeProto> nodes, String x, String xq, String xs, String base, int opset) {
    String abs = base + "_rowq_abs";
    String max = base + "_rowq_max";
    String floor = base + "_rowq_floor";
    String div = base + "_rowq_div";
    String round = base + "_rowq_round";
    String shift = base + "_rowq_shift";
    nodes.add(node("Abs", abs, List.of(x), abs));
    NodeProto.Builder rm = NodeProto.newBuilder().setOpType("ReduceMax").setName(max).addInput(abs).addOutput(max)
        .addAttribute(intAttr("keepdims", 1));
    // ReduceMax took its axes as an attribute until opset 18, as an input since
    if (opset >= 18) {
      rm.addInput(AXES);
    } else {
      rm.addAttribute(AttributeProto.newBuilder().setName("axes").setType(AttributeProto.AttributeType.INTS)
          .addInts(-1));
    }
    nodes.add(rm.build());
    // an all-zero row keeps a finite scale (its values quantize to 0 anyway)
    nodes.add(node("Max", floor, List.of(max, TINY), floor));
    nodes.add(node("Mul", base + "_rowq_scale", List.of(floor, INV), xs));
    if (opset >= 13 && FUSED_QUANTIZE) {
      // QuantizeLinear per axis 0 of the [rows, K] view: one MLAS pass instead of Div, Round, Add and Cast
      String flat = base + "_rowq_flat";
      String rowScale = base + "_rowq_row_scale";
      String zps = base + "_rowq_zps";
      String q2 = base + "_rowq_q";
      nodes.add(NodeProto.newBuilder().setOpType("Flatten").setName(flat).addInput(x).addOutput(flat)
          .addAttribute(intAttr("axis", -1)).build());
      nodes.add(node("Reshape", rowScale, List.of(xs, FLAT), rowScale));
      nodes.add(node("Shape", zps + "_shape", List.of(rowScale), zps + "_shape"));
      nodes.add(NodeProto.newBuilder().setOpType("ConstantOfShape").setName(zps).addInput(zps + "_shape")
          .addOutput(zps).addAttribute(AttributeProto.newBuilder().setName("value")
              .setType(AttributeProto.AttributeType.TENSOR).setT(zeroPointTensor("value").toBuilder().addDims(1)))
          .build());
      nodes.add(NodeProto.newBuilder().setOpType("QuantizeLinear").setName(q2).addInput(flat).addInput(rowScale)
          .addInput(zps).addOutput(q2).addAttribute(intAttr("axis", 0)).build());
      nodes.add(node("Shape", base + "_rowq_shape", List.of(x), base + "_rowq_shape"));
      nodes.add(node("Reshape", base + "_rowq_unflat", List.of(q2, base + "_rowq_shape"), xq));
      return;
    }
    nodes.add(node("Div", div, List.of(x, xs), div));
    // |x / s| <= 127 by construction, so no Clip: +128 lands in [1, 255]; Round is half-to-even, row-local
    nodes.add(node("Round", round, List.of(div), round));
    nodes.add(node("Add", shift, List.of(round, ZP + "_f"), shift));
    nodes.add(NodeProto.newBuilder().setOpType("Cast").setName(base + "_rowq_cast").addInput(shift).addOutput(xq)
        .addAttribute(intAttr("to", TensorProto.DataType.UINT8.getNumber())).build());
  }

  /** QuantizeLinear per row where the opset has it (13+): one node instead of Div, Round, Add, Cast. */
  static final boolean FUSED_QUANTIZE = true;

  private static TensorProto zeroPointTensor(String name) {
    return TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.UINT8.getNumber())
        .setRawData(ByteString.copyFrom(new byte[] {(byte) 128})).build();
  }

  /** The zero point the per-row activations carry (a scalar uint8 128). */
  static String zeroPoint() {
    return ZP;
  }

  /** The shared constants {@link #quantizeRows} reads. */
  static List<TensorProto> constants(int opset) {
    List<TensorProto> c = new ArrayList<>();
    c.add(zeroPointTensor(ZP));
    if (opset >= 13 && FUSED_QUANTIZE) {
      c.add(TensorProto.newBuilder().setName(FLAT).setDataType(TensorProto.DataType.INT64.getNumber()).addDims(1)
          .addInt64Data(-1).build());
    } else {
      c.add(scalar(ZP + "_f", 128f));
    }
    c.add(scalar(INV, 1f / 127));
    c.add(scalar(TINY, 1e-12f));
    if (opset >= 18) {
      c.add(TensorProto.newBuilder().setName(AXES).setDataType(TensorProto.DataType.INT64.getNumber()).addDims(1)
          .addInt64Data(-1).build());
    }
    return c;
  }

  /** What {@link #rewrite} did to a graph. */
  public static final class Result {
    /** The rewritten model, or the input unchanged when nothing was rewritten. */
    public final ModelProto model;
    /** Per-tensor dynamic quantizations turned into per-row ones. */
    public final int rewritten;
    /** Batch-dependent operators left as they were (0: the graph is batch-invariant). */
    public final int leftBatchDependent;
    /** Why the first of those could not be rewritten; null when none was left. */
    public final String refusal;

    Result(ModelProto model, int rewritten, int leftBatchDependent, String refusal) {
      this.model = model;
      this.rewritten = rewritten;
      this.leftBatchDependent = leftBatchDependent;
      this.refusal = refusal;
    }

    public boolean batchInvariant() {
      return leftBatchDependent == 0;
    }
  }

  /** What {@link #mayBeBatchDependent} looks for in operator types. */
  private static final String[] NEEDLES = {"DynamicQuantize", "QAttention", "MatMulIntegerToFloat"};

  /**
   * Cheap pre-check on serialized bytes: could the graph hold a batch-dependent (dynamic quantization) op? True when
   * an operator type of the graph, of a subgraph or of a model-local function contains one of {@link #NEEDLES}.
   * Reads only the protobuf framing and the nodes (it skips each initializer by its length), so it costs the same
   * for a 4 MB graph as for a 400 MB one; bytes that are no well-formed ModelProto are scanned whole for the names,
   * as before, so that what follows (parse, ONNX Runtime) reports them as it did.
   */
  public static boolean mayBeBatchDependent(ByteBuffer onnx) {
    try {
      return new OpTypeScan(onnx).model(onnx.position(), onnx.limit(), 0);
    } catch (OpTypeScan.Malformed e) {
      for (String needle : NEEDLES) {
        if (contains(onnx, needle)) {
          return true;
        }
      }
      return false;
    }
  }

  /**
   * A walk over the protobuf wire format of an ONNX {@code ModelProto} that visits the operator types only (field
   * numbers from onnx.proto), without parsing or copying the rest. A result equal to the byte scan's wherever it
   * matters: that scan's other hits (node names, doc strings, weights) were ones {@link #rewrite} ignores anyway.
   */
  static final class OpTypeScan {
    /** Deeper than any real graph's nesting (If/Loop bodies); bounds a hostile file's recursion. */
    private static final int MAX_DEPTH = 64;

    private final ByteBuffer b;
    private int pos;

    static final class Malformed extends Exception {
      Malformed() {
        super(null, null, false, false);
      }
    }

    OpTypeScan(ByteBuffer b) {
      this.b = b;
    }

    /** ModelProto: graph = 7, training_info = 20 (its graphs 1, 2), functions = 25. */
    boolean model(int start, int end, int depth) throws Malformed {
      return walk(start, end, depth, (field, s, e, d) -> {
        switch (field) {
          case 7: return graph(s, e, d);
          case 20: return walk(s, e, d, (f, s2, e2, d2) -> (f == 1 || f == 2) && graph(s2, e2, d2));
          case 25: return walk(s, e, d, (f, s2, e2, d2) -> f == 7 && node(s2, e2, d2)); // FunctionProto.node
          default: return false;
        }
      });
    }

    /** GraphProto: node = 1. */
    private boolean graph(int start, int end, int depth) throws Malformed {
      return walk(start, end, depth, (field, s, e, d) -> field == 1 && node(s, e, d));
    }

    /** NodeProto: op_type = 4, attribute = 5 (AttributeProto: g = 6, graphs = 11). */
    private boolean node(int start, int end, int depth) throws Malformed {
      return walk(start, end, depth, (field, s, e, d) -> {
        if (field == 4) {
          for (String needle : NEEDLES) {
            if (contains(b.slice(s, e - s), needle)) {
              return true;
            }
          }
          return false;
        }
        return field == 5 && walk(s, e, d, (f, s2, e2, d2) -> (f == 6 || f == 11) && graph(s2, e2, d2));
      });
    }

    /** Visits a length-delimited field's bytes; true ends the walk. */
    @FunctionalInterface
    private interface Visitor {
      boolean visit(int field, int start, int end, int depth) throws Malformed;
    }

    /** Walks the fields of one message in {@code [start, end)}, handing each length-delimited one to {@code v}. */
    private boolean walk(int start, int end, int depth, Visitor v) throws Malformed {
      if (depth > MAX_DEPTH) {
        throw new Malformed();
      }
      pos = start;
      while (pos < end) {
        long tag = varint(end);
        int field = (int) (tag >>> 3);
        if (field <= 0 || tag >>> 3 > Integer.MAX_VALUE) {
          throw new Malformed();
        }
        switch ((int) (tag & 7)) {
          case 0: varint(end); break;
          case 1: skip(8, end); break;
          case 5: skip(4, end); break;
          case 2: {
            long len = varint(end);
            if (len < 0 || len > end - pos) {
              throw new Malformed();
            }
            int s = pos;
            int e = s + (int) len;
            if (v.visit(field, s, e, depth + 1)) {
              return true;
            }
            pos = e; // a visit moved pos inside the field
            break;
          }
          default: throw new Malformed(); // groups (3, 4) are in no ONNX message; 6, 7 do not exist
        }
      }
      if (pos != end) {
        throw new Malformed();
      }
      return false;
    }

    private long varint(int end) throws Malformed {
      long v = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        if (pos >= end) {
          throw new Malformed();
        }
        byte x = b.get(pos++);
        v |= (long) (x & 0x7f) << shift;
        if (x >= 0) {
          return v;
        }
      }
      throw new Malformed();
    }

    private void skip(int n, int end) throws Malformed {
      if (end - pos < n) {
        throw new Malformed();
      }
      pos += n;
    }
  }

  /**
   * Rewrites every per-tensor dynamic quantization of {@code model} that feeds only integer MatMuls and their
   * scale products into the per-row form: {@code DynamicQuantizeLinear} → {@code MatMulInteger} → {@code Cast} →
   * {@code Mul} chains (what ORT's {@code quantize_dynamic} and Optimum write), and ORT's fused
   * {@code com.microsoft.DynamicQuantizeMatMul} and {@code MatMulIntegerToFloat} (fed by a
   * {@code DynamicQuantizeLinear}), which are first expanded into standard operators. A quantization whose outputs go
   * anywhere else, and ops such as {@code QAttention} or {@code DynamicQuantizeLSTM}, are left as they were and
   * counted in {@link Result#leftBatchDependent}.
   */
  public static Result rewrite(ModelProto model) {
    int opset = opset(model);
    GraphProto g = model.getGraph();
    Map<String, Integer> constRank = constantShapes(g);
    List<NodeProto> nodes = expandFused(g.getNodeList(), constRank);
    Map<String, List<NodeProto>> consumers = new HashMap<>();
    Map<String, NodeProto> producer = new HashMap<>();
    for (NodeProto n : nodes) {
      for (String in : n.getInputList()) {
        consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
      }
      for (String o : n.getOutputList()) {
        producer.put(o, n);
      }
    }
    Map<String, TensorProto> inits = new HashMap<>();
    for (TensorProto t : g.getInitializerList()) {
      inits.put(t.getName(), t);
    }
    List<NodeProto> out = new ArrayList<>();
    List<TensorProto> zeroPoints = new ArrayList<>();
    Set<String> rowQuantized = new HashSet<>();
    Set<String> rowScales = new HashSet<>();
    int rewritten = 0;
    int left = 0;
    String refusal = null;
    for (NodeProto n : nodes) {
      if (isDql(n)) {
        String why = n.getOutputCount() == 3 ? whyNot(n, consumers, constRank) : "it has unused outputs";
        if (why == null) {
          String base = "distilstream_rowq_" + rewritten;
          quantizeRows(out, n.getInput(0), n.getOutput(0), n.getOutput(1), base, opset);
          // the MatMulIntegers read the zero point under its old name: give that name the constant 128
          zeroPoints.add(zeroPointTensor(n.getOutput(2)));
          rowQuantized.add(n.getOutput(0));
          rowScales.add(n.getOutput(1));
          rewritten++;
          continue;
        }
        left++;
        refusal = refusal != null ? refusal : "DynamicQuantizeLinear '" + n.getName() + "': " + why;
      } else if (n.getOpType().equals("MatMulInteger") && rowQuantized.contains(n.getInput(0))
          && n.getInputCount() == 4 && allZero(inits.get(n.getInput(3)))) {
        // ORT's fused MatMulIntegerToFloat goes wrong with a per-row A scale and a per-column B zero point
        // (measured: cosine 0.73 against the unfused graph); a symmetric weight's zero point is all zeros anyway
        out.add(n.toBuilder().clearInput().addAllInput(n.getInputList().subList(0, 3)).build());
        continue;
      } else if (batchDependent(n, producer)) {
        left++;
        refusal = refusal != null ? refusal : n.getOpType() + " '" + n.getName() + "' quantizes its input per"
            + " tensor inside one operator";
      }
      out.add(n);
    }
    if (rewritten == 0) {
      return new Result(model, 0, left, refusal);
    }
    out = unfuseRowScales(out, rowScales);
    GraphProto.Builder gb = g.toBuilder().clearNode().addAllNode(out);
    // the removed zero-point outputs may have been declared as value_info (a shape-inferred export): drop those
    Set<String> zps = new HashSet<>();
    zeroPoints.forEach(t -> zps.add(t.getName()));
    gb.clearValueInfo();
    g.getValueInfoList().stream().filter(v -> !zps.contains(v.getName())).forEach(gb::addValueInfo);
    // the shared zero point is the build-time quantizer's; here each MatMulInteger reads its old one
    constants(opset).stream().filter(t -> !t.getName().equals(ZP)).forEach(gb::addInitializer);
    gb.addAllInitializer(zeroPoints);
    ModelProto.Builder mb = model.toBuilder().setGraph(gb);
    return new Result(mb.build(), rewritten, left, refusal);
  }

  /**
   * Turns {@code Mul(Cast(q), Mul(x_scale, W_scale))} into {@code Mul(Mul(Cast(q), W_scale), x_scale)} for per-row
   * scales. ORT fuses the first shape into {@code com.microsoft.MatMulIntegerToFloat}, whose CPU kernel (1.29) is
   * written for a scalar A scale: with a per-row one its results drift far from the unfused graph's (cosine 0.73 on
   * all-MiniLM-L6-v2), so the per-row form must not match that fusion.
   */
  static List<NodeProto> unfuseRowScales(List<NodeProto> nodes, Set<String> rowScales) {
    if (!UNFUSED_OUTPUT) {
      return nodes;
    }
    Map<String, NodeProto> products = new HashMap<>();
    for (NodeProto n : nodes) {
      if (n.getOpType().equals("Mul") && n.getInputCount() == 2 && rowScales.contains(n.getInput(0))) {
        products.put(n.getOutput(0), n);
      }
    }
    List<NodeProto> out = new ArrayList<>();
    Set<String> used = new HashSet<>();
    for (NodeProto n : nodes) {
      if (products.containsKey(n.getOutput(0))) {
        continue; // re-emitted below, where its product is used
      }
      int which = !n.getOpType().equals("Mul") || n.getInputCount() != 2 ? -1
          : products.containsKey(n.getInput(1)) ? 1 : products.containsKey(n.getInput(0)) ? 0 : -1;
      if (which < 0) {
        out.add(n);
        continue;
      }
      NodeProto p = products.get(n.getInput(which));
      used.add(p.getOutput(0));
      String t = n.getOutput(0) + "_by_weight_scale";
      out.add(node("Mul", t, List.of(n.getInput(1 - which), p.getInput(1)), t));
      out.add(node("Mul", n.getName().isEmpty() ? n.getOutput(0) : n.getName(), List.of(t, p.getInput(0)),
          n.getOutput(0)));
    }
    for (NodeProto p : products.values()) {
      if (!used.contains(p.getOutput(0))) {
        out.add(p); // not followed by a Cast product: keep (cannot happen after whyNot, but keep the graph valid)
      }
    }
    return out;
  }

  /**
   * Always: the fusable output form gives wrong results with per-row scales (see {@link #unfuseRowScales}). A
   * constant, not a switch, so that no configuration can bring the wrong form back.
   */
  static final boolean UNFUSED_OUTPUT = true;

  /** Null when the outputs of {@code dql} feed only what the per-row form computes the same way; else why not. */
  private static String whyNot(NodeProto dql, Map<String, List<NodeProto>> consumers,
      Map<String, Integer> constRank) {
    String xq = dql.getOutput(0);
    String xs = dql.getOutput(1);
    String xzp = dql.getOutput(2);
    Set<String> casts = new HashSet<>();
    for (NodeProto c : consumers.getOrDefault(xq, List.of())) {
      if (!c.getOpType().equals("MatMulInteger") || !isOnnx(c) || c.getInputCount() < 3
          || !c.getInput(0).equals(xq) || !c.getInput(2).equals(xzp)) {
        return "its quantized output feeds " + c.getOpType() + " '" + c.getName() + "', not MatMulInteger(x_q, W,"
            + " x_zero_point)";
      }
      for (NodeProto cast : consumers.getOrDefault(c.getOutput(0), List.of())) {
        if (!cast.getOpType().equals("Cast")) {
          return "MatMulInteger '" + c.getName() + "' feeds " + cast.getOpType() + ", not Cast";
        }
        casts.add(cast.getOutput(0));
      }
    }
    for (NodeProto c : consumers.getOrDefault(xzp, List.of())) {
      if (!c.getOpType().equals("MatMulInteger") || !c.getInput(0).equals(xq)) {
        return "its zero point feeds " + c.getOpType() + " '" + c.getName() + "'";
      }
    }
    // the scale may only multiply the MatMuls' float results, or a per-column weight scale whose product does
    for (NodeProto m : consumers.getOrDefault(xs, List.of())) {
      if (!m.getOpType().equals("Mul") || m.getInputCount() != 2) {
        return "its scale feeds " + m.getOpType() + " '" + m.getName() + "'";
      }
      String other = m.getInput(0).equals(xs) ? m.getInput(1) : m.getInput(0);
      if (casts.contains(other)) {
        continue;
      }
      if (constRank.getOrDefault(other, 9) > 1) {
        return "its scale multiplies '" + other + "', neither a MatMulInteger result nor a per-column weight scale";
      }
      for (NodeProto m2 : consumers.getOrDefault(m.getOutput(0), List.of())) {
        String other2 = m2.getInput(0).equals(m.getOutput(0)) ? m2.getInput(1) : m2.getInput(0);
        if (!m2.getOpType().equals("Mul") || !casts.contains(other2)) {
          return "its scale product feeds " + m2.getOpType() + " '" + m2.getName() + "'";
        }
      }
    }
    return null;
  }

  /** Ops that quantize an activation per tensor at run time, and were not rewritten. */
  private static boolean batchDependent(NodeProto n, Map<String, NodeProto> producer) {
    switch (n.getOpType()) {
      case "DynamicQuantizeMatMul": case "QAttention": case "DynamicQuantizeLSTM": case "QEmbedLayerNormalization":
        return true;
      case "MatMulIntegerToFloat": {
        NodeProto p = producer.get(n.getInput(0));
        return p != null && isDql(p);
      }
      default:
        return false;
    }
  }

  /**
   * ORT's fused forms, expanded back to standard operators so the per-tensor quantization inside them becomes a
   * visible {@code DynamicQuantizeLinear}: {@code DynamicQuantizeMatMul(A, B, b_scale, b_zp?, bias?)} and
   * {@code MatMulIntegerToFloat(A_q, B, a_scale, b_scale, a_zp?, b_zp?, bias?)} whose A comes from a
   * {@code DynamicQuantizeLinear}. Only where the weight scale is a constant scalar or 1-D (per column) tensor.
   */
  private static List<NodeProto> expandFused(List<NodeProto> nodes, Map<String, Integer> constRank) {
    Map<String, NodeProto> producer = new HashMap<>();
    for (NodeProto n : nodes) {
      for (String o : n.getOutputList()) {
        producer.put(o, n);
      }
    }
    List<NodeProto> out = new ArrayList<>();
    int k = 0;
    for (NodeProto n : nodes) {
      boolean ms = n.getDomain().equals(MS);
      if (ms && n.getOpType().equals("DynamicQuantizeMatMul") && n.getInputCount() >= 3
          && constRank.getOrDefault(n.getInput(2), 9) <= 1) {
        String base = "distilstream_dqmm_" + k++;
        String xq = base + "_x_q";
        String xs = base + "_x_scale";
        String xzp = base + "_x_zero_point";
        out.add(NodeProto.newBuilder().setOpType("DynamicQuantizeLinear").setName(base + "_dql")
            .addInput(n.getInput(0)).addOutput(xq).addOutput(xs).addOutput(xzp).build());
        String bzp = n.getInputCount() > 3 ? n.getInput(3) : "";
        String bias = n.getInputCount() > 4 ? n.getInput(4) : "";
        integerMatMul(out, base, xq, n.getInput(1), xzp, bzp, xs, n.getInput(2), bias, n.getOutput(0));
      } else if (ms && n.getOpType().equals("MatMulIntegerToFloat") && n.getInputCount() >= 4
          && producer.containsKey(n.getInput(0)) && isDql(producer.get(n.getInput(0)))
          && n.getInput(2).equals(producer.get(n.getInput(0)).getOutput(1))
          && constRank.getOrDefault(n.getInput(3), 9) <= 1) {
        String base = "distilstream_mmitf_" + k++;
        String azp = n.getInputCount() > 4 ? n.getInput(4) : "";
        String bzp = n.getInputCount() > 5 ? n.getInput(5) : "";
        String bias = n.getInputCount() > 6 ? n.getInput(6) : "";
        integerMatMul(out, base, n.getInput(0), n.getInput(1), azp, bzp, n.getInput(2), n.getInput(3), bias,
            n.getOutput(0));
      } else {
        out.add(n);
      }
    }
    return out;
  }

  /** MatMulInteger(a, b, azp, bzp) → Cast → Mul by (aScale × bScale) → Add bias → {@code y}. */
  private static void integerMatMul(List<NodeProto> out, String base, String a, String b, String azp, String bzp,
      String aScale, String bScale, String bias, String y) {
    NodeProto.Builder mm = NodeProto.newBuilder().setOpType("MatMulInteger").setName(base + "_mmi").addInput(a)
        .addInput(b).addOutput(base + "_mmi");
    if (!azp.isEmpty() || !bzp.isEmpty()) {
      mm.addInput(azp);
    }
    if (!bzp.isEmpty()) {
      mm.addInput(bzp);
    }
    out.add(mm.build());
    out.add(NodeProto.newBuilder().setOpType("Cast").setName(base + "_cast").addInput(base + "_mmi")
        .addOutput(base + "_cast").addAttribute(intAttr("to", TensorProto.DataType.FLOAT.getNumber())).build());
    out.add(node("Mul", base + "_scales", List.of(aScale, bScale), base + "_scales"));
    String scaled = bias.isEmpty() ? y : base + "_scaled";
    out.add(node("Mul", base + "_scaled", List.of(base + "_cast", base + "_scales"), scaled));
    if (!bias.isEmpty()) {
      out.add(node("Add", base + "_bias", List.of(scaled, bias), y));
    }
  }

  /** The rank of every constant: initializers and Constant nodes' tensors. */
  private static Map<String, Integer> constantShapes(GraphProto g) {
    Map<String, Integer> rank = new HashMap<>();
    for (TensorProto t : g.getInitializerList()) {
      rank.put(t.getName(), t.getDimsCount());
    }
    for (NodeProto n : g.getNodeList()) {
      if (n.getOpType().equals("Constant") && n.getOutputCount() == 1) {
        for (AttributeProto a : n.getAttributeList()) {
          if (a.getName().equals("value") && a.hasT()) {
            rank.put(n.getOutput(0), a.getT().getDimsCount());
          } else if (a.getName().equals("value_float") || a.getName().equals("value_int")) {
            rank.put(n.getOutput(0), 0);
          }
        }
      }
    }
    return rank;
  }

  private static boolean allZero(TensorProto t) {
    if (t == null || t.getInt32DataCount() > 0 && t.getInt32DataList().stream().anyMatch(v -> v != 0)) {
      return false;
    }
    for (byte b : t.getRawData().toByteArray()) {
      if (b != 0) {
        return false;
      }
    }
    return true;
  }

  private static boolean isDql(NodeProto n) {
    return n.getOpType().equals("DynamicQuantizeLinear");
  }

  private static boolean isOnnx(NodeProto n) {
    return n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx");
  }

  /** The model's default-domain opset. */
  static int opset(ModelProto model) {
    for (OperatorSetIdProto o : model.getOpsetImportList()) {
      if (o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx")) {
        return (int) o.getVersion();
      }
    }
    return GraphBuilder.OPSET;
  }

  private static NodeProto node(String type, String name, List<String> inputs, String output) {
    return NodeProto.newBuilder().setOpType(type).setName(name).addAllInput(inputs).addOutput(output).build();
  }

  private static AttributeProto intAttr(String name, long v) {
    return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
  }

  private static TensorProto scalar(String name, float v) {
    ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(v);
    return TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT.getNumber())
        .setRawData(ByteString.copyFrom(b.array())).build();
  }

  private static boolean contains(ByteBuffer hay, String needle) {
    byte[] n = needle.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    int end = hay.limit() - n.length;
    outer:
    for (int i = hay.position(); i <= end; i++) {
      if (hay.get(i) != n[0]) {
        continue;
      }
      for (int j = 1; j < n.length; j++) {
        if (hay.get(i + j) != n[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }
}
