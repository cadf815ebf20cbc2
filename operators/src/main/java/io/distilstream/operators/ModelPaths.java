package io.distilstream.operators;

import io.distilstream.runtime.hub.ModelSource;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.ModelLoadException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * A configured model path is a model directory, a symlink to one, or a pointer file: a small text file (say
 * {@code /models/toxic/CURRENT}) whose first line names the directory, relative to the file's folder or absolute.
 * Publishing a model is then an atomic rename of a new pointer file over the old one. A configured model may also be
 * a Hugging Face Hub id ({@code ORG/NAME[@REVISION]}, see {@link ModelSource}): an existing local path wins.
 */
public final class ModelPaths {
  private ModelPaths() {}

  /**
   * Opens a configured model where it runs (each TaskManager): a Hub id through the Hugging Face cache of this
   * process's environment ({@code HF_HOME}, fetched on first use; a cluster sharing one {@code HF_HOME} downloads
   * once), else the local directory {@link #resolve} finds.
   */
  public static ModelDirectory open(String configured) {
    return ModelDirectory.of(resolve(ModelSource.resolve(configured)));
  }

  /** The directory a configured path names now. */
  public static Path resolve(Path configured) {
    if (!Files.isRegularFile(configured)) {
      return configured;
    }
    try {
      String line = Files.readAllLines(configured, StandardCharsets.UTF_8).stream()
          .map(String::trim).filter(s -> !s.isEmpty() && !s.startsWith("#")).findFirst()
          .orElseThrow(() -> new ModelLoadException(configured, "a model directory, or a pointer file naming one",
              "an empty file"));
      Path target = Path.of(line);
      return target.isAbsolute() ? target : configured.toAbsolutePath().resolveSibling(target).normalize();
    } catch (IOException e) {
      throw new ModelLoadException("cannot read the model pointer file " + configured + ": " + e.getMessage(), e);
    }
  }

  /** What a configured local path is, for hot reload: only a pointer file or a symlink can be repointed. */
  public enum Kind {
    POINTER_FILE, SYMLINK, DIRECTORY, MISSING;

    /** As the CLI's JSON names it. */
    public String id() {
      return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }
  }

  /** The kind of a configured path (a symlink is a symlink, whatever it points at). */
  public static Kind kind(Path configured) {
    if (Files.isSymbolicLink(configured)) {
      return Kind.SYMLINK;
    }
    if (Files.isRegularFile(configured)) {
      return Kind.POINTER_FILE;
    }
    return Files.isDirectory(configured) ? Kind.DIRECTORY : Kind.MISSING;
  }

  /**
   * Points a pointer file or symlink at {@code directory} atomically: the new pointer (a file naming the absolute
   * directory, or a symlink to it) is written beside the old one and renamed over it, so a reader (hot reload)
   * sees the old target or the new one, never a partial file or a missing link.
   */
  public static void repoint(Path configured, Path directory) throws IOException {
    Kind kind = kind(configured);
    if (kind != Kind.POINTER_FILE && kind != Kind.SYMLINK) {
      throw new IllegalArgumentException(configured + " is " + kind.id() + ", not a pointer file or symlink");
    }
    Path abs = configured.toAbsolutePath();
    Path tmp = abs.resolveSibling("." + abs.getFileName() + ".repoint-" + ProcessHandle.current().pid());
    Files.deleteIfExists(tmp);
    if (kind == Kind.SYMLINK) {
      Files.createSymbolicLink(tmp, directory.toAbsolutePath());
    } else {
      Files.writeString(tmp, directory.toAbsolutePath() + "\n", StandardCharsets.UTF_8);
    }
    try {
      // rename(2): atomic, and it replaces the link itself, not what the link points at
      Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(tmp);
      throw e;
    }
  }
}
