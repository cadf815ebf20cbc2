package io.distilstream.operators;

import io.distilstream.runtime.hub.ModelSource;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.ModelLoadException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

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
}
