package io.distilstream.runtime;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/** Locates {@code ../shared} (models and data for tests) beside the checkout. */
public final class SharedModels {
  private SharedModels() {}

  public static Path sharedDir() {
    String prop = System.getProperty("distilstream.shared", System.getenv("DISTILSTREAM_SHARED"));
    if (prop != null && Files.isDirectory(Paths.get(prop, "models"))) {
      return Paths.get(prop).toAbsolutePath().normalize();
    }
    for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
      Path candidate = p.resolveSibling("shared");
      if (Files.isDirectory(candidate.resolve("models"))) {
        return candidate.normalize();
      }
    }
    throw new IllegalStateException(
        "../shared/models not found beside the checkout (set -Ddistilstream.shared=DIR or DISTILSTREAM_SHARED)");
  }

  public static Path model(String name) {
    Path dir = sharedDir().resolve("models").resolve(name);
    if (!Files.isDirectory(dir)) {
      throw new IllegalStateException("test model missing: " + dir + " (see ../shared/README.md)");
    }
    return dir;
  }

  public static final String SEQ_CLS = "tiny-distilbert-sequence-classification";
  public static final String MULTI_LABEL = "tiny-distilbert-multi-label";
  public static final String TOKEN_CLS = "tiny-distilbert-token-classification";
  public static final String QA = "tiny-distilbert-question-answering";
  public static final String MASKED_LM = "tiny-distilbert-masked-lm";
  public static final String BERT_TOKEN_CLS = "tiny-bert-token-classification";
}
