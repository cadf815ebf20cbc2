package io.distilstream.runtime.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.batch.BatchingOptions;
import io.distilstream.runtime.batch.DynamicBatcher;
import io.distilstream.runtime.tokenizer.Encoding;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every model in ../shared reproduces the logits a PyTorch implementation computed ({@code golden.json}): each case
 * as given (its rows batched together), and every row again after shuffling all rows into other batches, so a
 * sequence's logits do not depend on what it was batched and padded with.
 */
public class GoldenParityTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One golden row: the un-padded sequence and its expected outputs (un-padded too). */
  private record Row(Encoding encoding, List<double[]> expected) {}

  @ParameterizedTest
  @ValueSource(strings = {SharedModels.SEQ_CLS, SharedModels.MULTI_LABEL, SharedModels.TOKEN_CLS,
      SharedModels.QA, SharedModels.MASKED_LM, SharedModels.BERT_TOKEN_CLS})
  void reproducesGoldenOutputsAsGivenAndShuffled(String model) throws Exception {
    Path dir = SharedModels.model(model);
    try (ModelSession session = ModelSession.open(dir.resolve("model.onnx"), SessionOptions.defaults())) {
      assertReproducesGolden(dir, session);
    }
  }

  /** Checks a session (of an exported or a built graph) against the directory's golden.json. */
  public static void assertReproducesGolden(Path dir, ModelSession session) throws Exception {
    JsonNode golden = JSON.readTree(dir.resolve("golden.json").toFile());
    double tolerance = golden.path("tolerance").asDouble();
    assertThat(tolerance).isPositive().isLessThanOrEqualTo(1e-4);
    {
      List<String> names = new ArrayList<>();
      golden.get("cases").get(0).get("outputs").fieldNames().forEachRemaining(names::add);
      List<Row> all = new ArrayList<>();
      int checked = 0;
      for (JsonNode c : golden.get("cases")) {
        List<Row> rows = rows(c, names, session);
        List<Encoding> batch = rows.stream().map(Row::encoding).toList();
        checked += compare(session.run(batch), rows, names, session, tolerance, "as given");
        all.addAll(rows);
      }
      for (int batchSize : new int[] {1, 2, 3, 5}) {
        List<Row> shuffled = new ArrayList<>(all);
        Collections.shuffle(shuffled, new Random(batchSize));
        // token budget small enough that the long row runs alone and short ones share
        DynamicBatcher batcher = new DynamicBatcher(session, new BatchingOptions(batchSize, 64));
        float[][][] out = batcher.run(shuffled.stream().map(Row::encoding).toList());
        checked += compare(out, shuffled, names, session, tolerance, "shuffled into batches of " + batchSize);
      }
      assertThat(checked).as("values compared").isGreaterThanOrEqualTo(all.size() * 5);
    }
  }

  private static List<Row> rows(JsonNode c, List<String> names, ModelSession session) {
    List<Row> rows = new ArrayList<>();
    JsonNode ids = c.get("input_ids");
    for (int r = 0; r < ids.size(); r++) {
      int len = 0;
      for (JsonNode m : c.get("attention_mask").get(r)) {
        len += m.asInt();
      }
      int[] rowIds = new int[len];
      int[] types = new int[len];
      for (int t = 0; t < len; t++) {
        rowIds[t] = ids.get(r).get(t).asInt();
        if (c.has("token_type_ids")) {
          types[t] = c.get("token_type_ids").get(r).get(t).asInt();
        }
      }
      List<double[]> expected = new ArrayList<>();
      for (String name : names) {
        expected.add(flatten(c.get("outputs").get(name).get(r), len,
            session.outputShape(session.outputIndex(name))));
      }
      rows.add(new Row(Encoding.ofIds(rowIds, types), expected));
    }
    return rows;
  }

  /** Flattens one row's expected output, keeping only the real (un-padded) tokens. */
  private static double[] flatten(JsonNode row, int len, ModelSession.OutputShape shape) {
    List<Double> v = new ArrayList<>();
    if (shape == ModelSession.OutputShape.PER_SEQUENCE) {
      row.forEach(x -> v.add(x.asDouble()));
    } else {
      for (int t = 0; t < len; t++) {
        JsonNode tok = row.get(t);
        if (tok.isArray()) {
          tok.forEach(x -> v.add(x.asDouble()));
        } else {
          v.add(tok.asDouble());
        }
      }
    }
    return v.stream().mapToDouble(Double::doubleValue).toArray();
  }

  private static int compare(float[][][] out, List<Row> rows, List<String> names, ModelSession session,
      double tolerance, String how) {
    int checked = 0;
    for (int k = 0; k < names.size(); k++) {
      int o = session.outputIndex(names.get(k));
      int width = session.outputWidth(o);
      for (int r = 0; r < rows.size(); r++) {
        double[] expected = rows.get(r).expected().get(k);
        float[] actual = out[o][r];
        // the masked-LM golden keeps only vocabulary entries 0..63 of each token's logits
        int keep = session.outputShape(o) == ModelSession.OutputShape.PER_TOKEN_VECTOR
            ? expected.length / rows.get(r).encoding().length() : width;
        int len = session.outputShape(o) == ModelSession.OutputShape.PER_SEQUENCE ? 1
            : rows.get(r).encoding().length();
        assertThat(keep).isPositive().isLessThanOrEqualTo(width);
        for (int t = 0; t < len; t++) {
          for (int j = 0; j < keep; j++) {
            double e = expected[t * keep + j];
            double a = actual[t * width + j];
            if (Math.abs(e - a) > tolerance) {
              throw new AssertionError(String.format("%s, %s: output %s row %d token %d index %d: expected %.7f,"
                  + " got %.7f", session.modelFile(), how, names.get(k), r, t, j, e, a));
            }
            checked++;
          }
        }
      }
    }
    return checked;
  }
}
