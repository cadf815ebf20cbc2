package io.distilstream.operators;

import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.model.ModelSession;
import io.distilstream.schemas.ModelInfo;
import java.io.Serializable;

/**
 * Which model produced a result: the model's name (its directory's name), its version ({@code config.json}'s
 * {@code version} where the publisher set one, else the Hub commit of a model fetched by Hub id, else a content hash
 * of the model files), the content hash itself, and
 * the runtime (distilstream and ONNX Runtime versions). Carried by every DataStream record ({@link ModelInfo}) and
 * available to SQL as {@code model_name}, {@code model_version}, {@code model_runtime} columns.
 */
public record ModelVersion(String name, String version, String hash, String runtime) implements Serializable {

  /** Reads the version of a model directory (hashing its files). */
  public static ModelVersion of(ModelDirectory dir) {
    return of(dir, dir.name());
  }

  /** The version of a model directory reached through a path of another name (a {@code current} symlink). */
  public static ModelVersion of(ModelDirectory dir, String name) {
    String hash = dir.contentHash();
    String v = dir.readConfig().version();
    String commit = dir.hubCommit(); // a model fetched by Hub id: the commit it resolved to
    return new ModelVersion(name, v != null ? v : commit != null ? commit : hash, hash, currentRuntime());
  }

  public ModelInfo toModelInfo() {
    return ModelInfo.newBuilder().setName(name).setVersion(version).setRuntime(runtime).build();
  }

  /** This library's and ONNX Runtime's versions. */
  public static String currentRuntime() {
    String v = ModelVersion.class.getPackage().getImplementationVersion();
    return "distilstream/" + (v != null ? v : "dev") + " onnxruntime/" + ModelSession.environment().getVersion();
  }

  @Override
  public String toString() {
    return name + "@" + version;
  }
}
