package io.distilstream.operators.shadow;

import io.distilstream.operators.InferenceSpec;
import io.distilstream.operators.ModelSpec;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A shadow model and the primary it shadows ({@code inference.models.SHADOW.shadows=PRIMARY}), by their names in the
 * job, and the names their results carry in {@code ModelInfo.name} ({@link ModelSpec#recordName()}: the same for a
 * named model, the directory's name for a primary of {@code inference.model.<task>}).
 */
public record ShadowPair(String primary, String shadow, String primaryRecordName, String shadowRecordName)
    implements Serializable {
  public ShadowPair {
    Objects.requireNonNull(primary, "primary");
    Objects.requireNonNull(shadow, "shadow");
    Objects.requireNonNull(primaryRecordName, "primaryRecordName");
    Objects.requireNonNull(shadowRecordName, "shadowRecordName");
    if (primary.equals(shadow)) {
      throw new IllegalArgumentException("model '" + shadow + "' cannot shadow itself");
    }
  }

  /** A pair of named models: their results carry their names. */
  public ShadowPair(String primary, String shadow) {
    this(primary, shadow, primary, shadow);
  }

  /** The job's pairs, in the order its models are declared. */
  public static List<ShadowPair> of(InferenceSpec spec) {
    List<ShadowPair> out = new ArrayList<>();
    for (ModelSpec m : spec.models()) {
      if (m.isShadow()) {
        ModelSpec primary = spec.model(m.shadows());
        out.add(new ShadowPair(primary.name(), m.name(), primary.recordName(), m.recordName()));
      }
    }
    return out;
  }

  /** The key the pair's comparisons are grouped by. */
  public String key() {
    return primary + " > " + shadow;
  }

  @Override
  public String toString() {
    return shadow + " shadows " + primary;
  }
}
