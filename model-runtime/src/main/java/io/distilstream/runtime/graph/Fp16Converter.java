package io.distilstream.runtime.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;
import io.distilstream.runtime.model.ModelLoadException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Converts a float32 graph to float16 compute, a post-pass over what {@link GraphBuilder} writes, following the
 * conventions of {@code onnxconverter_common.float16.convert_float_to_float16} with {@code keep_io_types=True}:
 *
 * <ul>
 *   <li>every float initializer becomes float16, its values clamped to ±{@value #MAX_FINITE} (so the attention
 *       mask's large negative number stays finite: 0 × it is 0, not NaN);</li>
 *   <li>{@code LayerNormalization} and {@code Softmax} run in float32 (a Cast on each side; their own weights stay
 *       float32), where float16's 10-bit mantissa and its range would cost accuracy (variance, exp);</li>
 *   <li>inputs stay int64 and outputs float32 under the same (Optimum) names, so the heads cannot tell.</li>
 * </ul>
 *
 * <p>The CUDA execution provider runs every node in float16 (tensor cores for MatMul). The CPU provider has
 * float16 kernels for only some operators and runs the others through Casts it inserts itself: it runs, but slower
 * than float32 — float16 graphs are for GPUs.
 */
public final class Fp16Converter {
  public static final float MAX_FINITE = 1e4f;
  private static final int FLOAT = TensorProto.DataType.FLOAT.getNumber();
  private static final int FLOAT16 = TensorProto.DataType.FLOAT16.getNumber();
  private static final Set<String> KEEP_FLOAT32 = Set.of("LayerNormalization", "Softmax");

  private final Map<String, Integer> types = new HashMap<>();
  private final Map<String, String> casts = new HashMap<>();
  private final GraphProto.Builder out;
  private int counter;

  private Fp16Converter(GraphProto g) {
    this.out = g.toBuilder().clearNode().clearInitializer().clearValueInfo().clearOutput();
  }

  public static ModelProto convert(ModelProto model) {
    GraphProto g = model.getGraph();
    for (NodeProto n : g.getNodeList()) {
      if (n.getOpType().equals("DynamicQuantizeLinear") || n.getOpType().equals("MatMulInteger")) {
        throw new ModelLoadException("--dtype fp16 and --quantize int8 do not combine: choose one");
      }
    }
    return model.toBuilder().setGraph(new Fp16Converter(g).run(g)).build();
  }

  private GraphProto run(GraphProto g) {
    Map<String, TensorProto> inits = new HashMap<>();
    for (TensorProto t : g.getInitializerList()) {
      inits.put(t.getName(), t);
    }
    // a float initializer read only by float32 nodes stays float32; any other becomes float16 (a copy if both read it)
    Set<String> read16 = new HashSet<>();
    Set<String> read32 = new HashSet<>();
    for (NodeProto n : g.getNodeList()) {
      for (String in : n.getInputList()) {
        (KEEP_FLOAT32.contains(n.getOpType()) ? read32 : read16).add(in);
      }
    }
    for (ValueInfoProto in : g.getInputList()) {
      types.put(in.getName(), in.getType().getTensorType().getElemType());
    }
    Map<String, String> half = new HashMap<>();
    for (TensorProto t : g.getInitializerList()) {
      if (t.getDataType() != FLOAT) {
        out.addInitializer(t);
        types.put(t.getName(), t.getDataType());
        continue;
      }
      if (read32.contains(t.getName()) || !read16.contains(t.getName())) {
        out.addInitializer(t);
        types.put(t.getName(), FLOAT);
      }
      if (read16.contains(t.getName())) {
        String name = read32.contains(t.getName()) ? t.getName() + "_fp16" : t.getName();
        out.addInitializer(toHalf(t, name));
        types.put(name, FLOAT16);
        half.put(t.getName(), name);
      }
    }
    for (NodeProto n : g.getNodeList()) {
      boolean keep32 = KEEP_FLOAT32.contains(n.getOpType());
      NodeProto.Builder b = n.toBuilder().clearInput();
      boolean anyHalf = false;
      for (String in : n.getInputList()) {
        if (in.isEmpty()) {
          b.addInput(in);
          continue;
        }
        String name = !keep32 && half.containsKey(in) ? half.get(in) : in;
        int type = types.getOrDefault(name, 0);
        if (keep32 && type == FLOAT16) {
          name = cast(name, FLOAT);
        } else if (!keep32 && type == FLOAT) {
          name = cast(name, FLOAT16);
        }
        anyHalf |= types.getOrDefault(name, 0) == FLOAT16;
        b.addInput(name);
      }
      int outType;
      if (n.getOpType().equals("Cast")) {
        long to = n.getAttributeList().stream().filter(a -> a.getName().equals("to")).findFirst()
            .map(AttributeProto::getI).orElse(0L);
        if (to == FLOAT) {
          b.clearAttribute().addAttribute(intAttr("to", FLOAT16));
          to = FLOAT16;
        }
        outType = (int) to;
      } else if (keep32) {
        outType = FLOAT;
      } else if (n.getOpType().equals("Shape")) {
        outType = TensorProto.DataType.INT64.getNumber();
      } else {
        outType = anyHalf ? FLOAT16 : 0; // 0: not a float (shapes, indices)
      }
      for (String o : n.getOutputList()) {
        types.put(o, outType);
      }
      out.addNode(b);
    }
    // outputs keep float32 under their names: the producer writes <name>_fp16, a Cast writes <name>
    for (ValueInfoProto o : g.getOutputList()) {
      out.addOutput(o);
      if (types.getOrDefault(o.getName(), 0) != FLOAT16) {
        continue;
      }
      String renamed = o.getName() + "_fp16";
      for (int i = 0; i < out.getNodeCount(); i++) {
        NodeProto.Builder nb = out.getNodeBuilder(i);
        for (int k = 0; k < nb.getOutputCount(); k++) {
          if (nb.getOutput(k).equals(o.getName())) {
            nb.setOutput(k, renamed);
          }
        }
      }
      out.addNode(NodeProto.newBuilder().setOpType("Cast").setName(o.getName() + "_to_float32").addInput(renamed)
          .addOutput(o.getName()).addAttribute(intAttr("to", FLOAT)));
    }
    return out.build();
  }

  /** A Cast of {@code value} to {@code type}, added once per value and type. */
  private String cast(String value, int type) {
    return casts.computeIfAbsent(value + "/" + type, k -> {
      String name = value + (type == FLOAT ? "_to_fp32_" : "_to_fp16_") + (counter++);
      out.addNode(NodeProto.newBuilder().setOpType("Cast").setName(name).addInput(value).addOutput(name)
          .addAttribute(intAttr("to", type)));
      types.put(name, type);
      return name;
    });
  }

  private static TensorProto toHalf(TensorProto t, String name) {
    float[] f = Int8Quantizer.floats(t);
    ByteBuffer b = ByteBuffer.allocate(f.length * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : f) {
      float c = Math.max(-MAX_FINITE, Math.min(MAX_FINITE, v));
      b.putShort(toHalf(c));
    }
    return t.toBuilder().setName(name).setDataType(FLOAT16).clearFloatData().clearRawData()
        .setRawData(ByteString.copyFrom(b.array())).build();
  }

  /** IEEE 754 binary16 bits of {@code f}, rounded to nearest even (Java 17 has no Float.floatToFloat16). */
  static short toHalf(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int exp = (bits >>> 23) & 0xff;
    int mant = bits & 0x7fffff;
    if (exp == 0xff) {
      return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 : 0));
    }
    int e = exp - 127 + 15;
    if (e >= 0x1f) {
      return (short) (sign | 0x7c00);
    }
    if (e <= 0) {
      if (e < -10) {
        return (short) sign;
      }
      mant |= 0x800000;
      int shift = 14 - e;
      int h = mant >> shift;
      int rem = mant & ((1 << shift) - 1);
      int halfway = 1 << (shift - 1);
      if (rem > halfway || (rem == halfway && (h & 1) != 0)) {
        h++;
      }
      return (short) (sign | h);
    }
    int h = (e << 10) | (mant >> 13);
    int rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1) != 0)) {
      h++; // may carry into the exponent, which is still correct (up to infinity)
    }
    return (short) (sign | h);
  }

  /** The float value of binary16 bits. */
  static float fromHalf(short s) {
    int h = s & 0xffff;
    int sign = (h & 0x8000) << 16;
    int exp = (h >>> 10) & 0x1f;
    int mant = h & 0x3ff;
    if (exp == 0) {
      float v = mant * 0x1p-24f;
      return sign != 0 ? -v : v;
    }
    if (exp == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    }
    return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
  }

  private static AttributeProto intAttr(String name, long v) {
    return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
  }
}
