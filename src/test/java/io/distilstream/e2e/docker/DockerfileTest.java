package io.distilstream.e2e.docker;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.e2e.docker.DockerFiles.Dockerfile;
import io.distilstream.e2e.docker.DockerFiles.Instruction;
import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarFile;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The Dockerfiles, checked without a Docker engine or hadolint (neither is on this machine or in CI): the rules
 * that matter for these images, each against what the build really produces.
 */
class DockerfileTest {
  /** The image's start command; the compose file, the K8s manifest and DockerJobITCase all use exactly this. */
  static final String JOB_CLASS = "io.distilstream.jobs.JobCli";

  static Path jobJar() {
    Path jar = Paths.get(System.getProperty("distilstream.job.jar",
        DockerFiles.root().resolve("jobs/target/distilstream-jobs-0.1.0-SNAPSHOT-job.jar").toString()));
    assertThat(jar).as("the shaded job jar (./mvnw package builds it)").isRegularFile();
    return jar;
  }

  /** Image references: a registry/name and an explicit tag, never latest; a full x.y.z version for flink. */
  private static void assertPinned(Instruction from) {
    String image = from.words().stream().filter(w -> !w.startsWith("--")).findFirst().orElseThrow();
    assertThat(image).as("FROM at line %d names a tag", from.line()).matches("[^:@\\s]+[:@][^\\s]+");
    String tag = image.substring(image.indexOf(':') + 1);
    assertThat(tag).as("FROM %s", image).doesNotContain("latest").doesNotContain("$");
    assertThat(tag).as("FROM %s: a full version", image).matches("\\d+\\.\\d+\\.\\d+.*");
  }

  @Test
  void cpuImageIsTheOfficialFlinkImageOfTheProjectsFlinkVersionOnJava17() throws IOException {
    Dockerfile df = DockerFiles.dockerfile("Dockerfile");
    assertThat(df.all("FROM")).hasSize(1);
    df.all("FROM").forEach(DockerfileTest::assertPinned);
    String flink = System.getProperty("distilstream.flink.version", "2.2.0");
    assertThat(df.all("FROM").get(0).args()).isEqualTo("flink:" + flink + "-java17");
  }

  @Test
  void gpuImageIsACudaBaseWithTheSameFlinkDistribution() throws IOException {
    Dockerfile cpu = DockerFiles.dockerfile("Dockerfile");
    Dockerfile gpu = DockerFiles.dockerfile("Dockerfile.gpu");
    gpu.all("FROM").forEach(DockerfileTest::assertPinned);
    assertThat(gpu.all("FROM").get(0).args()).isEqualTo(cpu.all("FROM").get(0).args() + " AS flink");
    assertThat(gpu.last("FROM").args()).as("ONNX Runtime's CUDA provider needs CUDA 12 and cuDNN 9")
        .matches("nvidia/cuda:12\\.\\d+\\.\\d+-cudnn-runtime-ubuntu\\d+\\.\\d+");
    List<String> fromFlink = gpu.all("COPY").stream().filter(c -> c.args().contains("--from=flink"))
        .map(c -> c.words().get(c.words().size() - 1)).toList();
    assertThat(fromFlink).as("Java, Flink and the entrypoint of the official image")
        .containsExactlyInAnyOrder("/opt/java/openjdk", "/opt/flink", "/docker-entrypoint.sh");
  }

  @Test
  void bothImagesRunAsFlinkWithTheEntrypointOfTheFlinkImage() throws IOException {
    for (String name : List.of("Dockerfile", "Dockerfile.gpu")) {
      Dockerfile df = DockerFiles.dockerfile(name);
      Instruction user = df.last("USER");
      assertThat(user).as(name + ": USER").isNotNull();
      assertThat(user.args()).as(name).isEqualTo("flink");
      Instruction cmd = df.last("CMD");
      assertThat(user.line()).as(name + ": USER before CMD").isLessThan(cmd.line());
      assertThat(df.last("ENTRYPOINT").execForm()).as(name).containsExactly("/docker-entrypoint.sh");
      assertThat(df.all("ADD")).as(name + ": COPY, not ADD").isEmpty();
      for (Instruction run : df.all("RUN")) {
        if (run.args().contains("apt-get install")) {
          assertThat(run.args()).as(name + " line " + run.line())
              .contains("--no-install-recommends").contains("rm -rf /var/lib/apt/lists/*")
              .contains("apt-get update").contains("-y");
        }
      }
    }
  }

  @Test
  void theJarTheBuildProducesIsCopiedIntoUsrlibAndIsTheOnlyJobJar() throws IOException {
    Path jar = jobJar();
    for (String name : List.of("Dockerfile", "Dockerfile.gpu")) {
      Dockerfile df = DockerFiles.dockerfile(name);
      List<Instruction> jarCopies = df.all("COPY").stream()
          .filter(c -> !c.args().contains("--from=")).filter(c -> c.args().contains(".jar")).toList();
      assertThat(jarCopies).as(name).hasSize(1);
      List<String> words = jarCopies.get(0).words().stream().filter(w -> !w.startsWith("--")).toList();
      assertThat(words).as(name).hasSize(2);
      String source = words.get(0);
      String dest = words.get(1);
      assertThat(dest).as(name).isEqualTo("/opt/flink/usrlib/distilstream-job.jar");
      assertThat(jarCopies.get(0).args()).as(name).contains("--chown=flink:flink");
      // the pattern matches the jar the build wrote, and nothing else in its folder (COPY to a file needs one)
      PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + source);
      Path rel = DockerFiles.root().relativize(jar.toAbsolutePath().normalize());
      assertThat(m.matches(rel)).as(name + ": COPY %s matches %s", source, rel).isTrue();
      try (Stream<Path> files = Files.list(jar.getParent())) {
        List<Path> matching = files.map(f -> DockerFiles.root().relativize(f.toAbsolutePath().normalize()))
            .filter(m::matches).toList();
        assertThat(matching).as(name + ": files matching " + source).containsExactly(rel);
      }
    }
  }

  @Test
  void theJobClassIsTheJarsMainClassAndIsInTheJar() throws IOException {
    try (JarFile jar = new JarFile(jobJar().toFile())) {
      assertThat(jar.getManifest().getMainAttributes().getValue("Main-Class")).isEqualTo(JOB_CLASS);
      assertThat(jar.getEntry(JOB_CLASS.replace('.', '/') + ".class")).isNotNull();
      assertThat(jar.getEntry("org/apache/flink/connector/kafka/sink/KafkaSink.class"))
          .as("the Kafka connector travels in the jar (the image's lib/ does not have it)").isNotNull();
      assertThat(jar.getEntry("org/apache/flink/runtime/minicluster/MiniCluster.class"))
          .as("Flink itself comes from the image").isNull();
    }
  }

  /**
   * The start command: {@code standalone-job --job-classname io.distilstream.jobs.JobCli -- --config FILE}. The
   * {@code --} matters: Flink's entrypoint parses its options with commons-cli, which takes a prefix of a long
   * option for the option, so a bare {@code --config FILE} would be read as {@code --configDir FILE} and the job
   * would get no arguments (DockerJobITCase runs the entrypoint with exactly these words).
   */
  @Test
  void theStartCommandPassesTheJobArgumentsAfterADoubleDash() throws IOException {
    List<String> cmd = DockerFiles.dockerfile("Dockerfile").last("CMD").execForm();
    assertThat(cmd.subList(0, 4)).containsExactly("standalone-job", "--job-classname", JOB_CLASS, "--");
    List<String> jobArgs = cmd.subList(4, cmd.size());
    assertThat(jobArgs).containsExactly("--config", "/opt/distilstream/job.properties");

    List<String> gpu = DockerFiles.dockerfile("Dockerfile.gpu").last("CMD").execForm();
    List<String> expected = new ArrayList<>(cmd);
    expected.addAll(List.of("--set", "inference.device=cuda"));
    assertThat(gpu).isEqualTo(expected);
  }

  /** The GPU image's instructions build the jar with -Pgpu: that profile must swap in onnxruntime_gpu. */
  @Test
  void theGpuProfileOfTheBuildSwapsInTheCudaOnnxRuntime() throws IOException {
    String pom = Files.readString(DockerFiles.root().resolve("pom.xml"));
    java.util.regex.Matcher profile = Pattern.compile("(?s)<profile>\\s*<id>gpu</id>(.*?)</profile>").matcher(pom);
    assertThat(profile.find()).as("a gpu profile in the root pom").isTrue();
    assertThat(profile.group(1)).contains("<onnxruntime.artifactId>onnxruntime_gpu</onnxruntime.artifactId>");
    assertThat(pom).contains("<artifactId>${onnxruntime.artifactId}</artifactId>");
    String gpu = Files.readString(DockerFiles.docker("Dockerfile.gpu"));
    assertThat(gpu).contains("-Pgpu package");
    assertThat(Files.readString(DockerFiles.docker("compose.gpu.yaml"))).contains("-Pgpu package");
  }

  @Test
  void theJobPropertiesAreCopiedWhereTheArgumentsNameThem() throws IOException {
    for (String name : List.of("Dockerfile", "Dockerfile.gpu")) {
      Dockerfile df = DockerFiles.dockerfile(name);
      List<String> cmd = df.last("CMD").execForm();
      String config = cmd.get(cmd.indexOf("--config") + 1);
      assertThat(df.all("COPY")).as(name).anySatisfy(c ->
          assertThat(c.words().stream().filter(w -> !w.startsWith("--")).toList())
              .containsExactly("docker/job.properties", config));
      // every local COPY source exists (the jar is checked above)
      for (Instruction c : df.all("COPY")) {
        if (!c.args().contains("--from=") && !c.args().contains(".jar")) {
          List<String> w = c.words().stream().filter(x -> !x.startsWith("--")).toList();
          for (String src : w.subList(0, w.size() - 1)) {
            assertThat(DockerFiles.root().resolve(src)).as(name + ": COPY " + src).exists();
          }
        }
      }
    }
  }

  /** The build context is the repository root; each Dockerfile's .dockerignore must let through what it copies. */
  @Test
  void theDockerignoreFilesSendWhatIsCopiedAndNothingElse() throws IOException {
    for (String name : List.of("Dockerfile", "Dockerfile.gpu")) {
      List<String> lines = Files.readAllLines(DockerFiles.docker(name + ".dockerignore")).stream()
          .map(String::trim).filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
      assertThat(lines.get(0)).as(name + ".dockerignore starts by ignoring everything").isEqualTo("*");
      List<String> allowed = lines.stream().filter(l -> l.startsWith("!")).map(l -> l.substring(1)).toList();
      Dockerfile df = DockerFiles.dockerfile(name);
      for (Instruction c : df.all("COPY")) {
        if (!c.args().contains("--from=")) {
          List<String> w = c.words().stream().filter(x -> !x.startsWith("--")).toList();
          assertThat(allowed).as(name + ".dockerignore lets " + w.get(0) + " through").contains(w.get(0));
        }
      }
    }
  }

  @Test
  void noSecretsOrModelsAreBakedIn() throws IOException {
    Pattern forbidden = Pattern.compile("(?i)(\\.onnx|safetensors|/models|password|secret|token)");
    for (String name : List.of("Dockerfile", "Dockerfile.gpu")) {
      for (Instruction i : DockerFiles.dockerfile(name).instructions()) {
        if (List.of("COPY", "ADD", "ENV", "ARG").contains(i.keyword())) {
          assertThat(forbidden.matcher(i.args()).find()).as(name + " line " + i.line() + ": " + i.args()).isFalse();
        }
      }
    }
  }
}
