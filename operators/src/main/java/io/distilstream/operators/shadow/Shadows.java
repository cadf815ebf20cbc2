package io.distilstream.operators.shadow;

import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.ShadowSummary;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.util.Collector;

/**
 * Compares shadow models with their primaries on the inference operator's output: each output of a paired model
 * goes to its pair's join ({@link ShadowJoin}, keyed by pair and event), whose per-event comparisons are summed per
 * pair ({@link ShadowSummarizer}) into a {@link ShadowSummary} every N compared events.
 *
 * <pre>{@code
 * DataStream<ShadowSummary> summaries = Shadows.apply(out.inference(), pairs, ShadowOptions.Settings.of(conf));
 * }</pre>
 */
public final class Shadows {
  public static final String ROUTE_UID = "distilstream-shadow-route";
  public static final String JOIN_UID = "distilstream-shadow-join";
  public static final String SUMMARY_UID = "distilstream-shadow-summary";

  /** Explicit, so that the output travels with Avro's serializer, never as a generic (Kryo) type. */
  static final TypeInformation<ShadowSide> SIDE_TYPE = Types.POJO(ShadowSide.class, Map.of("pair", Types.STRING,
      "id", Types.STRING, "primary", Types.BOOLEAN, "output", new AvroTypeInfo<>(InferenceOutput.class)));

  private Shadows() {}

  public static DataStream<ShadowSummary> apply(DataStream<InferenceOutput> inference, List<ShadowPair> pairs,
      ShadowOptions.Settings settings) {
    Map<String, ShadowPair> byKey = new LinkedHashMap<>();
    for (ShadowPair p : pairs) {
      byKey.put(p.key(), p);
    }
    SingleOutputStreamOperator<ShadowSide> sides = inference
        .flatMap(new Route(pairs))
        .returns(SIDE_TYPE)
        .name("distilstream: shadow sides")
        .uid(ROUTE_UID);
    SingleOutputStreamOperator<ShadowComparison> compared = sides
        .keyBy(ShadowSide::joinKey)
        .process(new ShadowJoin(byKey, settings))
        .returns(Types.POJO(ShadowComparison.class))
        .name("distilstream: shadow join")
        .uid(JOIN_UID);
    return compared
        .keyBy(c -> c.pair)
        .process(new ShadowSummarizer(settings))
        .returns(new AvroTypeInfo<>(ShadowSummary.class))
        .name("distilstream: shadow summary")
        .uid(SUMMARY_UID);
  }

  /**
   * Tags each output of a paired model with its pairs and side: a primary with two shadows is in two pairs. A result
   * names its model in {@code ModelInfo.name}; a named model's dead letter in its message's {@code model '<name>': }
   * prefix. Outputs of unpaired models, those without an event id, and dead letters that name no model (a per-task
   * model's) are not routed: the side waiting for them times out and is counted unpaired.
   */
  static final class Route implements FlatMapFunction<InferenceOutput, ShadowSide> {
    private static final long serialVersionUID = 1L;
    private static final String DEAD_LETTER_MODEL = "model '";
    private final Map<String, List<ShadowPair>> asPrimary = new LinkedHashMap<>();
    private final Map<String, List<ShadowPair>> asShadow = new LinkedHashMap<>();
    private final Map<String, String> recordNames = new LinkedHashMap<>();

    Route(List<ShadowPair> pairs) {
      for (ShadowPair p : pairs) {
        asPrimary.computeIfAbsent(p.primaryRecordName(), k -> new ArrayList<>()).add(p);
        asShadow.computeIfAbsent(p.shadowRecordName(), k -> new ArrayList<>()).add(p);
        recordNames.put(p.primary(), p.primaryRecordName());
        recordNames.put(p.shadow(), p.shadowRecordName());
      }
    }

    @Override
    public void flatMap(InferenceOutput o, Collector<ShadowSide> out) {
      String record = recordName(o);
      String id = ShadowResults.id(o);
      if (record == null || id == null) {
        return;
      }
      for (ShadowPair p : asPrimary.getOrDefault(record, List.of())) {
        out.collect(new ShadowSide(p.key(), id, true, o));
      }
      for (ShadowPair p : asShadow.getOrDefault(record, List.of())) {
        out.collect(new ShadowSide(p.key(), id, false, o));
      }
    }

    private String recordName(InferenceOutput o) {
      if (o.getDeadLetter() != null) {
        String m = o.getDeadLetter().getMessage();
        int end = m == null || !m.startsWith(DEAD_LETTER_MODEL) ? -1 : m.indexOf("': ", DEAD_LETTER_MODEL.length());
        return end < 0 ? null : recordNames.get(m.substring(DEAD_LETTER_MODEL.length(), end));
      }
      ModelInfo m = ShadowResults.model(o);
      return m == null ? null : m.getName();
    }
  }
}
