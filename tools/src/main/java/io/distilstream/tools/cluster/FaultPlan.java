package io.distilstream.tools.cluster;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * When a fault run injects what: each fault at a fraction of the results, in order. [0.1, 0.9] is cut into one slot
 * per fault, each fault at a random point of its slot (from {@code --seed}); the rescales spread evenly over the
 * slots, kills and broker restarts in random order between.
 */
final class FaultPlan {
  /** What a step injects. */
  enum Kind { KILL, BROKER_RESTART, RESCALE }

  /**
   * One fault: injected once {@code at} of the results have arrived; a rescale goes to
   * {@code parallelism[parallelismIndex]}.
   */
  record Step(double at, Kind kind, int parallelismIndex) {}

  private FaultPlan() {}

  /** The plan for these options. */
  static List<Step> of(ChaosOptions o) {
    SplittableRandom rnd = new SplittableRandom(o.seed);
    int changes = o.parallelism.size() - 1;
    int n = o.kills + o.brokerRestarts + changes;
    List<Kind> others = new ArrayList<>();
    for (int i = 0; i < o.kills; i++) {
      others.add(Kind.KILL);
    }
    for (int i = 0; i < o.brokerRestarts; i++) {
      others.add(Kind.BROKER_RESTART);
    }
    Collections.shuffle(others, new Random(rnd.nextLong()));
    Set<Integer> rescaleSlots = new HashSet<>();
    for (int j = 1; j <= changes; j++) {
      rescaleSlots.add((int) Math.round(j * n / (changes + 1.0)));
    }
    List<Step> plan = new ArrayList<>();
    int change = 1;
    int other = 0;
    double width = 0.8 / Math.max(1, n);
    for (int slot = 0; slot < n; slot++) {
      double at = 0.1 + width * (slot + rnd.nextDouble());
      if (rescaleSlots.contains(slot) && change <= changes) {
        plan.add(new Step(at, Kind.RESCALE, change++));
      } else if (other < others.size()) {
        plan.add(new Step(at, others.get(other++), 0));
      } else {
        plan.add(new Step(at, Kind.RESCALE, change++));
      }
    }
    return plan;
  }

  /**
   * The plan squeezed into [{@code now}, 90 %]: where waiting for the hostile corpus took the results past the
   * plan's start, no fault may be due before it can be injected.
   */
  static List<Step> squeezed(List<Step> plan, double now) {
    return plan.stream()
        .map(s -> new Step(now + (s.at() - 0.1) * (0.9 - now) / 0.8, s.kind(), s.parallelismIndex())).toList();
  }
}
