package io.distilstream.tools.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cluster down} deletes what {@code cluster up} made and nothing else: a {@code --dir} the user already had
 * keeps its own files. The state files here name no process (those are stopped already), so no JVM is started.
 */
class ClusterDownTest {
  private static String down(Path state) throws Exception {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(buf, true, StandardCharsets.UTF_8);
    assertThat(ClusterCli.run(new String[] {"down", "--state", state.toString()}, out, out)).isZero();
    return buf.toString(StandardCharsets.UTF_8);
  }

  private static Path state(Path file, Path dir, ClusterFiles.Claim claim) throws Exception {
    Properties p = new Properties();
    p.setProperty("dir", dir.toString());
    p.setProperty("rest.port", "1");
    if (claim != null) {
      claim.store(p);
    }
    try (var w = Files.newBufferedWriter(file)) {
      p.store(w, "test");
    }
    return file;
  }

  /** What a cluster writes into its directory. */
  private static void clusterFiles(Path dir) throws Exception {
    Files.createDirectories(dir.resolve("conf"));
    Files.writeString(dir.resolve("conf/config.yaml"), "jobmanager.rpc.address: 127.0.0.1\n");
    Files.createDirectories(dir.resolve("log"));
    Files.writeString(dir.resolve("log/jobmanager.log"), "started\n");
    Files.createDirectories(dir.resolve("checkpoints/abc/chk-1"));
  }

  @Test
  void aDirThatExistedBeforeUpKeepsItsOwnFiles(@TempDir Path tmp) throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("mine"));
    Files.writeString(dir.resolve("notes.txt"), "my notes");
    Files.createDirectories(dir.resolve("data"));
    Files.writeString(dir.resolve("data/corpus.txt"), "my corpus");

    ClusterFiles.Claim claim = ClusterFiles.Claim.take(dir);
    clusterFiles(dir);
    String out = down(state(tmp.resolve("state.properties"), dir, claim));

    assertThat(dir.resolve("notes.txt")).hasContent("my notes");
    assertThat(dir.resolve("data/corpus.txt")).hasContent("my corpus");
    assertThat(dir.resolve("conf")).doesNotExist();
    assertThat(dir.resolve("log")).doesNotExist();
    assertThat(dir.resolve("checkpoints")).doesNotExist();
    assertThat(out).contains("the cluster's files in " + dir);
    assertThat(tmp.resolve("state.properties")).doesNotExist();
  }

  @Test
  void aDirThatUpCreatedIsDeleted(@TempDir Path tmp) throws Exception {
    Path dir = tmp.resolve("new-cluster");
    ClusterFiles.Claim claim = ClusterFiles.Claim.take(dir);
    assertThat(dir).isDirectory();
    clusterFiles(dir);
    down(state(tmp.resolve("state.properties"), dir, claim));
    assertThat(dir).doesNotExist();
  }

  @Test
  void aStateFileOfAnOlderUpDeletesOnlyTheClustersEntries(@TempDir Path tmp) throws Exception {
    // written before up recorded whether it created the directory: the user's files must survive all the same
    Path dir = Files.createDirectories(tmp.resolve("mine"));
    Files.writeString(dir.resolve("notes.txt"), "my notes");
    clusterFiles(dir);
    down(state(tmp.resolve("state.properties"), dir, null));
    assertThat(dir.resolve("notes.txt")).hasContent("my notes");
    assertThat(dir.resolve("conf")).doesNotExist();

    Path only = Files.createDirectories(tmp.resolve("only-cluster"));
    clusterFiles(only);
    down(state(tmp.resolve("state2.properties"), only, null));
    assertThat(only).doesNotExist();
  }
}
