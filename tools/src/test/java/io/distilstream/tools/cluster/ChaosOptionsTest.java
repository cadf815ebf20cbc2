package io.distilstream.tools.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.runtime.cli.Args;
import org.junit.jupiter.api.Test;

/** {@code chaos --rescale}: how a rescale is done, and what the cluster then runs; {@code --set}: job options. */
class ChaosOptionsTest {
  @Test
  void rescalesThroughASavepointUnlessAskedForTheAdaptiveScheduler() {
    ChaosOptions byDefault = ChaosOptions.parse(new String[0]);
    assertThat(byDefault.rescale).isEqualTo("savepoint");
    assertThat(byDefault.adaptiveRescale()).isFalse();

    ChaosOptions adaptive = ChaosOptions.parse(new String[] {"--rescale", "adaptive"});
    assertThat(adaptive.adaptiveRescale()).isTrue();
    assertThat(LocalFlinkCluster.ADAPTIVE_SCHEDULER).containsEntry("jobmanager.scheduler", "adaptive");
  }

  @Test
  void rejectsAnUnknownWayToRescale() {
    assertThatThrownBy(() -> ChaosOptions.parse(new String[] {"--rescale", "reactive"}))
        .isInstanceOf(Args.UsageException.class).hasMessageContaining("savepoint or adaptive");
  }

  @Test
  void passesJobOptionsInTheOrderGivenAndRejectsOneWithoutAKey() {
    assertThat(ChaosOptions.parse(new String[0]).jobOptions).isEmpty();
    ChaosOptions o = ChaosOptions.parse(new String[] {"--set", "inference.share-sessions=true", "--set",
        "inference.session-linger=30 s"});
    assertThat(o.jobOptions).containsExactly("inference.share-sessions=true", "inference.session-linger=30 s");
    assertThatThrownBy(() -> ChaosOptions.parse(new String[] {"--set", "=true"}))
        .isInstanceOf(Args.UsageException.class).hasMessageContaining("KEY=VALUE");
  }
}
