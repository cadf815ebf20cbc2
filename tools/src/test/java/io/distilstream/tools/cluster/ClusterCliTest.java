package io.distilstream.tools.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code cluster submit} passes the cluster's registry only to a job that names none of its own. */
class ClusterCliTest {
  @Test
  void aJobsOwnRegistryUrlInSetOrConfigWins(@TempDir Path tmp) throws Exception {
    assertThat(ClusterCli.setsRegistryUrl(List.of("--parallelism", "2", "--set", "output.format=avro-confluent")))
        .isFalse();
    assertThat(ClusterCli.setsRegistryUrl(List.of("--set", "schema.registry.url=http://r:8081"))).isTrue();
    assertThat(ClusterCli.setsRegistryUrl(List.of("--set=schema.registry.url=http://r:8081"))).isTrue();

    Path with = Files.writeString(tmp.resolve("with.properties"), "schema.registry.url = http://r:8081\n");
    Path without = Files.writeString(tmp.resolve("without.properties"), "output.format=avro-confluent\n");
    assertThat(ClusterCli.setsRegistryUrl(List.of("--config", with.toString(), "--dry-run"))).isTrue();
    assertThat(ClusterCli.setsRegistryUrl(List.of("--config=" + without, "--dry-run"))).isFalse();
  }
}
