package io.distilstream.operators.shadow;

import java.io.Serializable;
import java.util.Objects;

/**
 * A shadow model and the primary it shadows ({@code inference.models.SHADOW.shadows=PRIMARY}), by their configured
 * names; the names are what results carry in {@code ModelInfo.name}.
 */
public record ShadowPair(String primary, String shadow) implements Serializable {
  public ShadowPair {
    Objects.requireNonNull(primary, "primary");
    Objects.requireNonNull(shadow, "shadow");
    if (primary.equals(shadow)) {
      throw new IllegalArgumentException("model '" + shadow + "' cannot shadow itself");
    }
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
