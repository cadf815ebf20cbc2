package io.distilstream.runtime.graph;

import static org.assertj.core.api.Assertions.assertThat;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.FunctionProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import dev.langchain4j.model.embedding.onnx.allminilml6v2q.AllMiniLmL6V2QuantizedEmbeddingModel;
import io.distilstream.runtime.SharedModels;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link PerRowQuantization#mayBeBatchDependent} reads operator types only (wherever a graph may hold them), not
 * names, strings or weights, and falls back to the whole-file scan for bytes that are no ModelProto.
 */
class OpTypeScanTest {

  @Test
  void realGraphs() throws IOException {
    for (String m : List.of(SharedModels.SEQ_CLS, SharedModels.TOKEN_CLS, SharedModels.QA, SharedModels.MASKED_LM,
        SharedModels.BERT_TOKEN_CLS)) {
      byte[] onnx = Files.readAllBytes(SharedModels.model(m).resolve("model.onnx"));
      assertThat(scan(onnx)).as(m).isFalse();
    }
    // per-tensor dynamic int8, as Optimum and ORT's quantize_dynamic write it
    try (InputStream in = AllMiniLmL6V2QuantizedEmbeddingModel.class.getClassLoader()
        .getResourceAsStream("all-minilm-l6-v2-q.onnx")) {
      assertThat(scan(in.readAllBytes())).isTrue();
    }
  }

  @Test
  void opTypesAnywhereCountNamesAndWeightsDoNot() {
    assertThat(scan(model(graph(node("DynamicQuantizeLinear"))))).isTrue();
    assertThat(scan(model(graph(node("MatMul"), node("com.microsoft", "DynamicQuantizeMatMul"))))).isTrue();
    // inside an If's branch, a Loop's body (graphs) and a model-local function
    NodeProto ifNode = node("If").toBuilder().addAttribute(AttributeProto.newBuilder().setName("then_branch")
        .setType(AttributeProto.AttributeType.GRAPH).setG(graph(node("MatMulIntegerToFloat")))).build();
    assertThat(scan(model(graph(node("Relu"), ifNode)))).isTrue();
    NodeProto loop = node("Loop").toBuilder().addAttribute(AttributeProto.newBuilder().setName("bodies")
        .setType(AttributeProto.AttributeType.GRAPHS).addGraphs(graph(node("Add")))
        .addGraphs(graph(node("QAttention")))).build();
    assertThat(scan(model(graph(loop)))).isTrue();
    ModelProto withFunction = model(graph(node("local", "Fn"))).toBuilder()
        .addFunctions(FunctionProto.newBuilder().setName("Fn").setDomain("local").addNode(node("DynamicQuantizeLSTM")))
        .build();
    assertThat(scan(withFunction)).isTrue();

    // the names only in a node's name, a doc string and a weight's bytes: not an op
    NodeProto named = node("MatMul").toBuilder().setName("DynamicQuantizeLinear_1").setDocString("QAttention")
        .build();
    TensorProto weight = TensorProto.newBuilder().setName("w").setDataType(TensorProto.DataType.UINT8.getNumber())
        .addDims(25).setRawData(ByteString.copyFrom("MatMulIntegerToFloatXXXXX", StandardCharsets.US_ASCII))
        .build();
    ModelProto decoy = model(graph(named).toBuilder().addInitializer(weight).build());
    assertThat(scan(decoy)).isFalse();
    assertThat(scan(model(graph(node("MatMul"), node("Gelu"))))).isFalse();
    assertThat(scan(new byte[0])).isFalse();
  }

  @Test
  void bytesThatAreNoModelAreScannedWhole() {
    byte[] model = model(graph(node("DynamicQuantizeLinear"))).toByteArray();
    byte[] cut = java.util.Arrays.copyOf(model, model.length - 1); // a truncated file
    assertThat(scan(cut)).isTrue();
    assertThat(scan("not a model, DynamicQuantize in text".getBytes(StandardCharsets.US_ASCII))).isTrue();
    assertThat(scan("\u00ff\u00ff\u00ff\u00ff".getBytes(StandardCharsets.ISO_8859_1))).isFalse();
  }

  private static boolean scan(ModelProto m) {
    return scan(m.toByteArray());
  }

  private static boolean scan(byte[] b) {
    return PerRowQuantization.mayBeBatchDependent(ByteBuffer.wrap(b));
  }

  private static ModelProto model(GraphProto g) {
    return ModelProto.newBuilder().setIrVersion(8).setProducerName("test").setGraph(g).build();
  }

  private static GraphProto graph(NodeProto... nodes) {
    return GraphProto.newBuilder().setName("g").addAllNode(List.of(nodes)).build();
  }

  private static NodeProto node(String op) {
    return node("", op);
  }

  private static NodeProto node(String domain, String op) {
    return NodeProto.newBuilder().setOpType(op).setDomain(domain).addInput("x").addOutput("y_" + op).build();
  }
}
