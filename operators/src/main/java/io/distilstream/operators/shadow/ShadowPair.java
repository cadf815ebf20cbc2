package io.distilstream.operators.shadow;

import io.distilstream.operators.InferenceSpec;
import io.distilstream.operators.ModelSpec;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A shadow model and the primary it shadows ({@code inference.models.SHADOW.shadows=PRIMARY}), by their configured
 * names; the names are what results carry in {@code ModelInfo.alias}.
 */
public record ShadowPair(String primary, String shadow) implements Serializable {
  public ShadowPair {
    Objects.requireNonNull(primary, "primary");
    Objects.requireNonNull(shadow, "shadow");
    if (primary.equals(shadow)) {
      throw new IllegalArgumentException("model '" + shadow + "' cannot shadow itself");
    }
  }

  /** The job's pairs, in the order its models are declared. */
  public static List<ShadowPair> of(InferenceSpec spec) {
    List<ShadowPair> out = new ArrayList<>();
    for (ModelSpec m : spec.models()) {
      if (m.isShadow()) {
        out.add(new ShadowPair(m.shadows(), m.name()));
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
