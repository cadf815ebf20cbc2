package io.distilstream.tools.cluster;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * ONNX Runtime's native libraries, taken out of its jar once for a cluster, for the TaskManagers to load with
 * {@code -Donnxruntime.native.path=DIR} (ONNX Runtime's own property). Without it, the first model a TaskManager
 * opens has ONNX Runtime copy the libraries (28 MB for 1.29 on linux-x64) out of the jar into a temp directory
 * first: about 0.5 s of a fresh TaskManager's first task on this machine, which a killed TaskManager's replacement
 * pays before it writes results again.
 */
final class OnnxRuntimeNatives {
  /** ONNX Runtime's property: a directory holding every native library it loads. */
  static final String PROPERTY = "onnxruntime.native.path";

  private OnnxRuntimeNatives() {}

  /**
   * Extracts the libraries of this platform from the ONNX Runtime jar on {@code classpath} into {@code into}
   * (files already there with the entry's size are kept) and returns {@code into}; null, changing nothing, when there
   * is no such jar or it has no libraries for this platform (ONNX Runtime then extracts them itself, as before).
   */
  static Path extract(String classpath, Path into) throws IOException {
    String folder = "ai/onnxruntime/native/" + platform() + "/";
    for (String entry : classpath.split(File.pathSeparator)) {
      String name = Paths.get(entry).getFileName().toString();
      if (!name.endsWith(".jar") || !(name.startsWith("onnxruntime-") || name.startsWith("onnxruntime_gpu-"))) {
        continue;
      }
      boolean any = false;
      try (ZipFile jar = new ZipFile(entry)) {
        for (ZipEntry e : java.util.Collections.list(jar.entries())) {
          String path = e.getName();
          if (e.isDirectory() || !path.startsWith(folder) || path.indexOf('/', folder.length()) >= 0) {
            continue;
          }
          Files.createDirectories(into);
          Path target = into.resolve(path.substring(folder.length()));
          if (!Files.isRegularFile(target) || Files.size(target) != e.getSize()) {
            // whole or not at all: a TaskManager starting beside this must never load half a library
            Path part = Files.createTempFile(into, target.getFileName().toString(), ".part");
            try (InputStream in = jar.getInputStream(e)) {
              Files.copy(in, part, StandardCopyOption.REPLACE_EXISTING);
            }
            Files.move(part, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
          }
          any = true;
        }
      }
      return any ? into : null;
    }
    return null;
  }

  /** The platform folder in ONNX Runtime's jar: {@code linux-x64}, {@code osx-aarch64}, {@code win-x64}, ... */
  static String platform() {
    String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
    String o = os.contains("mac") || os.contains("darwin") ? "osx" : os.contains("win") ? "win" : "linux";
    String a = arch.equals("amd64") || arch.equals("x86_64") ? "x64"
        : arch.equals("aarch64") || arch.equals("arm64") ? "aarch64" : arch;
    return o + "-" + a;
  }
}
