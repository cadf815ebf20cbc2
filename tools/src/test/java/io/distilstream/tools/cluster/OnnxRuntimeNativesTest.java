package io.distilstream.tools.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import ai.onnxruntime.OrtEnvironment;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The TaskManagers' ONNX Runtime libraries: extracted once from the jar on the classpath, kept when already there,
 * and loaded from there by a JVM given {@code -Donnxruntime.native.path} (a real JVM, a real ONNX Runtime).
 */
class OnnxRuntimeNativesTest {

  @Test
  void extractsOnceAndAJvmLoadsOnnxRuntimeFromThere(@TempDir Path tmp) throws Exception {
    // surefire's class path is a manifest-only jar: name ONNX Runtime's jar and this test's classes directly
    String classpath = String.join(File.pathSeparator, location(OrtEnvironment.class), location(Child.class));
    Path dir = OnnxRuntimeNatives.extract(classpath, tmp.resolve("native"));
    assertThat(dir).isEqualTo(tmp.resolve("native"));
    Path lib = dir.resolve(System.mapLibraryName("onnxruntime"));
    assertThat(lib).isRegularFile();
    assertThat(dir.resolve(System.mapLibraryName("onnxruntime4j_jni"))).isRegularFile();
    try (var files = Files.list(dir)) {
      assertThat(files.map(p -> p.getFileName().toString())).noneMatch(n -> n.endsWith(".part"));
    }

    // a second cluster start keeps what is there
    FileTime before = FileTime.fromMillis(1_000_000L);
    Files.setLastModifiedTime(lib, before);
    assertThat(OnnxRuntimeNatives.extract(classpath, dir)).isEqualTo(dir);
    assertThat(Files.getLastModifiedTime(lib)).isEqualTo(before);

    // a JVM told the directory maps ONNX Runtime's library from it (Linux tells which file: /proc/self/maps)
    Assumptions.assumeTrue(Files.isReadable(Path.of("/proc/self/maps")), "no /proc/self/maps");
    Path log = tmp.resolve("child.log");
    Process p = new ProcessBuilder(Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
        "-D" + OnnxRuntimeNatives.PROPERTY + "=" + dir, "-cp", classpath, Child.class.getName())
        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
    String out = Files.readString(log, StandardCharsets.UTF_8);
    assertThat(p.exitValue()).as(out).isZero();
    assertThat(out).as(out).contains("onnxruntime " + OrtEnvironment.getEnvironment().getVersion())
        .contains("mapped from " + lib.toRealPath());
  }

  private static String location(Class<?> c) throws Exception {
    return Paths.get(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
  }

  @Test
  void noOnnxRuntimeJarChangesNothing(@TempDir Path tmp) throws Exception {
    String classpath = String.join(File.pathSeparator, List.of(tmp.resolve("a.jar").toString(),
        tmp.resolve("classes").toString()));
    assertThat(OnnxRuntimeNatives.extract(classpath, tmp.resolve("native"))).isNull();
    assertThat(tmp.resolve("native")).doesNotExist();
  }

  /** Loads ONNX Runtime and says which file its library was mapped from (Linux's /proc/self/maps). */
  public static final class Child {
    public static void main(String[] args) throws Exception {
      System.out.println("onnxruntime " + OrtEnvironment.getEnvironment().getVersion());
      String name = System.mapLibraryName("onnxruntime");
      for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
        int slash = line.indexOf('/');
        if (slash >= 0 && line.endsWith("/" + name)) {
          System.out.println("mapped from " + line.substring(slash));
          return;
        }
      }
      System.out.println("not mapped from a file named " + name);
    }
  }
}
