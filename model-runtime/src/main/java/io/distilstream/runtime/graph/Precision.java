package io.distilstream.runtime.graph;

import ai.onnx.proto.OnnxMl.ModelProto;
import java.util.Locale;

/**
 * The numeric form of a built graph: float32 as built, dynamically quantized int8 for CPUs ({@link Int8Quantizer}),
 * or float16 for GPUs ({@link Fp16Converter}).
 */
public final class Precision {
  public enum Kind { FP32, INT8, FP16 }

  private final Kind kind;
  private final boolean quantizeHeads;
  private final boolean reduceRange;
  private final Int8Quantizer.Activation activation;

  private Precision(Kind kind, boolean quantizeHeads, boolean reduceRange, Int8Quantizer.Activation activation) {
    this.kind = kind;
    this.activation = activation;
    this.quantizeHeads = quantizeHeads;
    this.reduceRange = reduceRange;
  }

  private static final Int8Quantizer.Activation PER_ROW = Int8Quantizer.Activation.PER_ROW;

  public static Precision fp32() { return new Precision(Kind.FP32, false, false, PER_ROW); }
  public static Precision fp16() { return new Precision(Kind.FP16, false, false, PER_ROW); }
  /**
   * int8 encoder MatMuls (attention q/k/v/out, FFN), the head kept float32, full 8-bit weights, activations
   * quantized per row (batch-invariant).
   */
  public static Precision int8() { return new Precision(Kind.INT8, false, false, PER_ROW); }

  /** Quantize the head's Linear layers too. */
  public Precision quantizeHeads(boolean b) { return new Precision(kind, b, reduceRange, activation); }
  /** 7-bit weights (ORT's reduce_range): for AVX2 CPUs without VNNI, where u8×s8 pair sums can saturate. */
  public Precision reduceRange(boolean b) { return new Precision(kind, quantizeHeads, b, activation); }
  /** How int8 activations are quantized: per row (default, batch-invariant) or per tensor (Optimum's form). */
  public Precision activation(Int8Quantizer.Activation a) { return new Precision(kind, quantizeHeads, reduceRange, a); }

  public Kind kind() { return kind; }
  public Int8Quantizer.Activation activation() { return activation; }

  /** {@code build-model --int8-activation per-row|per-tensor}. */
  public static Int8Quantizer.Activation parseActivation(String value) {
    String v = value == null ? "per-row" : value.toLowerCase(Locale.ROOT);
    switch (v) {
      case "per-row": case "row": return Int8Quantizer.Activation.PER_ROW;
      case "per-tensor": case "tensor": return Int8Quantizer.Activation.PER_TENSOR;
      default: throw new IllegalArgumentException("unknown --int8-activation '" + value
          + "': expected per-row or per-tensor");
    }
  }

  /** From {@code build-model}'s flags: {@code --quantize int8} and {@code --dtype fp32|fp16}. */
  public static Precision parse(String quantize, String dtype) {
    String q = quantize == null ? "none" : quantize.toLowerCase(Locale.ROOT);
    String d = dtype == null ? "fp32" : dtype.toLowerCase(Locale.ROOT);
    if (!q.equals("none") && !q.equals("int8")) {
      throw new IllegalArgumentException("unknown --quantize '" + quantize + "': expected int8");
    }
    if (!d.equals("fp32") && !d.equals("float32") && !d.equals("fp16") && !d.equals("float16")) {
      throw new IllegalArgumentException("unknown --dtype '" + dtype + "': expected fp32 or fp16");
    }
    boolean half = d.startsWith("f") && d.contains("16");
    if (q.equals("int8") && half) {
      throw new IllegalArgumentException("--quantize int8 and --dtype fp16 do not combine: choose one");
    }
    return q.equals("int8") ? int8() : half ? fp16() : fp32();
  }

  ModelProto apply(ModelProto model) {
    switch (kind) {
      case INT8: return Int8Quantizer.quantize(model, reduceRange, Int8Quantizer.encoderWeights(quantizeHeads),
          activation);
      case FP16: return Fp16Converter.convert(model);
      default: return model;
    }
  }

  @Override
  public String toString() {
    return kind.name().toLowerCase(Locale.ROOT) + (kind == Kind.INT8 && quantizeHeads ? "+heads" : "")
        + (reduceRange ? " (7-bit)" : "")
        + (kind == Kind.INT8 && activation == Int8Quantizer.Activation.PER_TENSOR ? " (per-tensor activations)" : "");
  }
}
