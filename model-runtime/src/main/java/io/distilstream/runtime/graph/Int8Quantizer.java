package io.distilstream.runtime.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import io.distilstream.runtime.model.ModelLoadException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Dynamic int8 quantization of a float graph, a post-pass over what {@link GraphBuilder} writes, in one of two forms
 * ({@link Activation}). By default activations are quantized per row ({@link PerRowQuantization}), so an event's
 * result does not depend on what shares its batch. {@link Activation#PER_TENSOR}, kept to compare with and to
 * produce graphs in Optimum's form for tests, follows the
 * conventions of ONNX Runtime's {@code quantize_dynamic} (IntegerOps mode, {@code per_channel=True}), so the result
 * looks like an Optimum / ORT-quantized {@code model_quantized.onnx}: every {@code MatMul} whose second input is a
 * constant 2-D float weight becomes
 *
 * <pre>
 *   DynamicQuantizeLinear(x) -> (x_q uint8, x_scale, x_zero_point)
 *   MatMulInteger(x_q, W_q int8, x_zero_point) -> int32
 *   Cast(float) * Mul(x_scale, W_scale)        -> float, the MatMul's output (its bias Add follows as before)
 * </pre>
 *
 * with W quantized symmetrically per output channel (column of Wᵀ): {@code W_scale[j] = max|W[:,j]| / 127}, zero
 * point 0. Activations are quantized at run time, per tensor, asymmetrically to uint8. Standard ONNX operators
 * only; at graph optimisation level {@code extended} or above ONNX Runtime's CPU provider fuses each chain with its
 * bias Add into {@code com.microsoft.MatMulIntegerToFloat}, and into {@code DynamicQuantizeMatMul} where the
 * quantized input feeds one MatMul (attention out, FFN lin1/lin2; q/k/v share one DynamicQuantizeLinear once ORT
 * has merged the three identical ones). Everything else (embeddings, LayerNorm, softmax, GELU and,
 * by default, the task head) stays float32.
 */
public final class Int8Quantizer {
  /** How activations are quantized at run time. */
  public enum Activation {
    /** One symmetric scale per row (token), from that row alone: batch-invariant. The default. */
    PER_ROW,
    /** One asymmetric scale and zero point per tensor (ORT's and Optimum's form): depends on the whole batch. */
    PER_TENSOR
  }

  /** Largest magnitude of a weight: full signed 8-bit range, or 7 bits ({@code reduceRange}). */
  private final int qmax;
  private final Predicate<String> quantizeWeight;
  private final Activation activation;
  private int quantized;

  private Int8Quantizer(boolean reduceRange, Predicate<String> quantizeWeight, Activation activation) {
    this.activation = activation;
    // 7-bit weights keep u8*s8 pair sums below int16 saturation on AVX2 machines without VNNI (ORT's reduce_range)
    this.qmax = reduceRange ? 63 : 127;
    this.quantizeWeight = quantizeWeight;
  }

  /**
   * The weights of the encoder's Linear layers (attention q/k/v/out, FFN lin1/lin2: tensors under a
   * {@code .layer.N.} prefix), plus the head's when {@code heads} is set.
   */
  public static Predicate<String> encoderWeights(boolean heads) {
    return name -> heads || name.contains(".layer.");
  }

  /** Quantizes {@code model} (see the class comment); {@code quantizeWeight} chooses weights by initializer name. */
  public static ModelProto quantize(ModelProto model, boolean reduceRange, Predicate<String> quantizeWeight) {
    return quantize(model, reduceRange, quantizeWeight, Activation.PER_ROW);
  }

  /** As {@link #quantize(ModelProto, boolean, Predicate)}, with activations quantized as {@code activation} says. */
  public static ModelProto quantize(ModelProto model, boolean reduceRange, Predicate<String> quantizeWeight,
      Activation activation) {
    Int8Quantizer q = new Int8Quantizer(reduceRange, quantizeWeight, activation);
    ModelProto out = q.run(model);
    if (q.quantized == 0) {
      throw new ModelLoadException("--quantize int8: the graph has no MatMul with a constant 2-D float weight to"
          + " quantize");
    }
    return out;
  }

  private ModelProto run(ModelProto model) {
    GraphProto g = model.getGraph();
    Map<String, TensorProto> inits = new HashMap<>();
    for (TensorProto t : g.getInitializerList()) {
      inits.put(t.getName(), t);
    }
    // how many nodes read each initializer: a weight shared with another consumer is left alone
    Map<String, Integer> uses = new HashMap<>();
    for (NodeProto n : g.getNodeList()) {
      for (String in : n.getInputList()) {
        uses.merge(in, 1, Integer::sum);
      }
    }
    Set<String> replaced = new HashSet<>();
    // per row: one quantization per activation, shared by the MatMuls that read it (q, k and v)
    Map<String, String[]> rowQuantized = new HashMap<>();
    int opset = PerRowQuantization.opset(model);
    java.util.List<NodeProto> rowNodes = new java.util.ArrayList<>();
    GraphProto.Builder out = g.toBuilder().clearNode().clearInitializer();
    for (NodeProto n : g.getNodeList()) {
      String w = n.getOpType().equals("MatMul") && n.getInputCount() == 2 ? n.getInput(1) : null;
      TensorProto t = w == null ? null : inits.get(w);
      if (t == null || t.getDataType() != TensorProto.DataType.FLOAT.getNumber() || t.getDimsCount() != 2
          || uses.getOrDefault(w, 0) != 1 || !quantizeWeight.test(w)) {
        out.addNode(n);
        continue;
      }
      int rows = (int) t.getDims(0);
      int cols = (int) t.getDims(1);
      float[] data = floats(t);
      byte[] q = new byte[data.length];
      float[] scales = new float[cols];
      for (int j = 0; j < cols; j++) {
        float max = 0;
        for (int i = 0; i < rows; i++) {
          max = Math.max(max, Math.abs(data[i * cols + j]));
        }
        float scale = max == 0 ? 1f : max / qmax;
        scales[j] = scale;
        for (int i = 0; i < rows; i++) {
          long v = Math.round(data[i * cols + j] / scale);
          q[i * cols + j] = (byte) Math.max(-qmax, Math.min(qmax, v));
        }
      }
      String base = n.getName().isEmpty() ? n.getOutput(0) : n.getName();
      String wq = w + "_quantized";
      String ws = w + "_scale";
      out.addInitializer(TensorProto.newBuilder().setName(wq).setDataType(TensorProto.DataType.INT8.getNumber())
          .addDims(rows).addDims(cols).setRawData(ByteString.copyFrom(q)));
      ByteBuffer sb = ByteBuffer.allocate(cols * 4).order(ByteOrder.LITTLE_ENDIAN);
      sb.asFloatBuffer().put(scales);
      out.addInitializer(TensorProto.newBuilder().setName(ws).setDataType(TensorProto.DataType.FLOAT.getNumber())
          .addDims(cols).setRawData(ByteString.copyFrom(sb.array())));
      String x = n.getInput(0);
      String xq;
      String xs;
      String xzp;
      if (activation == Activation.PER_ROW) {
        String[] q8 = rowQuantized.get(x);
        if (q8 == null) {
          q8 = new String[] {base + "_x_quantized", base + "_x_scale"};
          rowNodes.clear();
          PerRowQuantization.quantizeRows(rowNodes, x, q8[0], q8[1], base, opset);
          out.addAllNode(rowNodes);
          rowQuantized.put(x, q8);
        }
        xq = q8[0];
        xs = q8[1];
        xzp = PerRowQuantization.zeroPoint();
      } else {
        xq = base + "_x_quantized";
        xs = base + "_x_scale";
        xzp = base + "_x_zero_point";
        out.addNode(NodeProto.newBuilder().setOpType("DynamicQuantizeLinear").setName(base + "_dql").addInput(x)
            .addOutput(xq).addOutput(xs).addOutput(xzp));
      }
      String mmi = base + "_mmi";
      out.addNode(NodeProto.newBuilder().setOpType("MatMulInteger").setName(mmi).addInput(xq).addInput(wq)
          .addInput(xzp).addOutput(mmi));
      String cast = base + "_cast";
      out.addNode(NodeProto.newBuilder().setOpType("Cast").setName(cast).addInput(mmi).addOutput(cast)
          .addAttribute(AttributeProto.newBuilder().setName("to").setType(AttributeProto.AttributeType.INT)
              .setI(TensorProto.DataType.FLOAT.getNumber())));
      if (activation == Activation.PER_ROW && PerRowQuantization.UNFUSED_OUTPUT) {
        // weight scale first, then the row's: not the shape ORT fuses into MatMulIntegerToFloat, whose kernel
        // assumes a scalar activation scale (see PerRowQuantization.unfuseRowScales)
        String byWeight = base + "_weight_scale_mul";
        out.addNode(NodeProto.newBuilder().setOpType("Mul").setName(byWeight).addInput(cast).addInput(ws)
            .addOutput(byWeight));
        out.addNode(NodeProto.newBuilder().setOpType("Mul").setName(base + "_output_scale_mul").addInput(byWeight)
            .addInput(xs).addOutput(n.getOutput(0)));
      } else {
        // the scales' product first, in (activation, weight) order: the shape ORT's MatMulIntegerToFloat fusion matches
        String scale = base + "_scales_mul";
        out.addNode(NodeProto.newBuilder().setOpType("Mul").setName(scale).addInput(xs).addInput(ws)
            .addOutput(scale));
        out.addNode(NodeProto.newBuilder().setOpType("Mul").setName(base + "_output_scale_mul").addInput(cast)
            .addInput(scale).addOutput(n.getOutput(0)));
      }
      replaced.add(w);
      quantized++;
    }
    for (TensorProto t : g.getInitializerList()) {
      if (!replaced.contains(t.getName())) {
        out.addInitializer(t);
      }
    }
    if (!rowQuantized.isEmpty()) {
      out.addAllInitializer(PerRowQuantization.constants(opset));
    }
    return model.toBuilder().setGraph(out).build();
  }

  static float[] floats(TensorProto t) {
    if (t.getFloatDataCount() > 0) {
      float[] f = new float[t.getFloatDataCount()];
      for (int i = 0; i < f.length; i++) {
        f[i] = t.getFloatData(i);
      }
      return f;
    }
    FloatBuffer fb = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    float[] f = new float[fb.remaining()];
    fb.get(f);
    return f;
  }
}
