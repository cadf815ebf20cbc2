package io.distilstream.tools.local;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The one-line files the tools build writes into {@code tools/target} for the local fixtures (the Kafka server's
 * classpath, the schema registry archive's path): named by a system property, else found by walking up from the
 * working directory, so that a test in any module and the CLI find the same file.
 */
final class BuildFiles {
  private BuildFiles() {}

  /** The content of the first readable {@code tools/target/NAME} (or {@code target/NAME}, or the property's file). */
  static Optional<String> read(String property, String name) {
    List<Path> candidates = new ArrayList<>();
    String prop = System.getProperty(property);
    if (prop != null) {
      candidates.add(Paths.get(prop));
    }
    for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
      candidates.add(p.resolve("tools/target").resolve(name));
      candidates.add(p.resolve("target").resolve(name));
    }
    for (Path c : candidates) {
      if (Files.isRegularFile(c)) {
        try {
          return Optional.of(Files.readString(c).trim());
        } catch (IOException e) {
          // an unreadable candidate: try the next one
        }
      }
    }
    return Optional.empty();
  }
}
