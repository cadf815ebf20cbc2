package io.distilstream.operators.shadow;

import io.distilstream.runtime.compare.Agreement;
import io.distilstream.schemas.InferenceOutput;
import io.distilstream.schemas.ModelInfo;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Joins a primary's and a shadow's output of one event (keyed by {@link ShadowSide#joinKey()}): the first side to
 * arrive waits in keyed state, the second completes the pair, which is compared ({@link ShadowResults#add}) and
 * emitted as one {@link ShadowComparison}; the state is then cleared. A side that waits longer than the pair
 * timeout (processing time) is emitted as unpaired ({@code PAIR_TIMEOUT}) and dropped, so the state stays bounded
 * by the events of one timeout. A dead letter or timeout of either side makes the pair unpaired with its reason: it
 * is counted, never compared.
 */
public final class ShadowJoin extends KeyedProcessFunction<String, ShadowSide, ShadowComparison> {
  private static final long serialVersionUID = 1L;
  /** The reason of a side that never got its pair. */
  public static final String PAIR_TIMEOUT = "PAIR_TIMEOUT";
  /** The reason of a side replaced by a second output of the same side and event (an event id used twice). */
  public static final String DUPLICATE_ID = "DUPLICATE_ID";

  private final Map<String, ShadowPair> pairs;
  private final long timeoutMs;
  private transient ValueState<InferenceOutput> waiting;
  private transient ValueState<Boolean> waitingIsPrimary;
  private transient ValueState<Long> timer;

  public ShadowJoin(Map<String, ShadowPair> pairsByKey, ShadowOptions.Settings settings) {
    this.pairs = Map.copyOf(pairsByKey);
    this.timeoutMs = settings.pairTimeout().toMillis();
  }

  @Override
  public void open(OpenContext openContext) {
    waiting = getRuntimeContext().getState(
        new ValueStateDescriptor<>("waiting", new AvroTypeInfo<>(InferenceOutput.class)));
    waitingIsPrimary = getRuntimeContext().getState(new ValueStateDescriptor<>("waiting-is-primary", Types.BOOLEAN));
    timer = getRuntimeContext().getState(new ValueStateDescriptor<>("timer", Types.LONG));
  }

  @Override
  public void processElement(ShadowSide side, Context ctx, Collector<ShadowComparison> out) throws Exception {
    InferenceOutput other = waiting.value();
    long now = ctx.timerService().currentProcessingTime();
    if (other != null && waitingIsPrimary.value() == side.primary) {
      // the same side twice for one event id: the ids are not unique; the older one cannot be paired reliably
      emitUnpaired(side.pair, side.primary ? other : null, side.primary ? null : other, DUPLICATE_ID, now, out);
      clear(ctx);
      other = null;
    }
    if (other == null) {
      waiting.update(side.output);
      waitingIsPrimary.update(side.primary);
      long at = now + timeoutMs;
      ctx.timerService().registerProcessingTimeTimer(at);
      timer.update(at);
      return;
    }
    InferenceOutput primary = side.primary ? side.output : other;
    InferenceOutput shadow = side.primary ? other : side.output;
    clear(ctx);
    String reason = reason(primary, shadow);
    if (reason != null) {
      emitUnpaired(side.pair, primary, shadow, reason, now, out);
      return;
    }
    ShadowComparison c = base(side.pair, primary, shadow, now);
    c.agreement = ShadowResults.add(new Agreement(), primary, shadow).toJson().toString();
    out.collect(c);
  }

  @Override
  public void onTimer(long timestamp, OnTimerContext ctx, Collector<ShadowComparison> out) throws Exception {
    InferenceOutput w = waiting.value();
    if (w == null) {
      return;
    }
    boolean primary = waitingIsPrimary.value();
    String pairKey = ctx.getCurrentKey().substring(0, ctx.getCurrentKey().lastIndexOf('\n'));
    emitUnpaired(pairKey, primary ? w : null, primary ? null : w, PAIR_TIMEOUT, timestamp, out);
    waiting.clear();
    waitingIsPrimary.clear();
    timer.clear();
  }

  private void clear(Context ctx) throws Exception {
    Long t = timer.value();
    if (t != null) {
      ctx.timerService().deleteProcessingTimeTimer(t);
    }
    waiting.clear();
    waitingIsPrimary.clear();
    timer.clear();
  }

  /** The dead-letter reason of the primary, else of the shadow; null when both have results. */
  private static String reason(InferenceOutput primary, InferenceOutput shadow) {
    if (primary.getDeadLetter() != null) {
      return primary.getDeadLetter().getReason();
    }
    if (shadow.getDeadLetter() != null) {
      return shadow.getDeadLetter().getReason();
    }
    return null;
  }

  private void emitUnpaired(String pairKey, InferenceOutput primary, InferenceOutput shadow, String reason,
      long now, Collector<ShadowComparison> out) {
    ShadowComparison c = base(pairKey, primary, shadow, now);
    c.unpairedReason = reason;
    out.collect(c);
  }

  private ShadowComparison base(String pairKey, InferenceOutput primary, InferenceOutput shadow, long now) {
    ShadowPair pair = pairs.get(pairKey);
    ShadowComparison c = new ShadowComparison();
    c.pair = pairKey;
    c.primary = pair.primary();
    c.shadow = pair.shadow();
    c.primaryVersion = version(primary);
    c.shadowVersion = version(shadow);
    c.task = primary != null ? ShadowResults.task(primary) : ShadowResults.task(shadow);
    c.time = now;
    return c;
  }

  private static String version(InferenceOutput o) {
    ModelInfo m = o == null ? null : ShadowResults.model(o);
    return m == null ? null : m.getVersion();
  }
}
