package io.distilstream.runtime.hub;

import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/**
 * Where a model option points: a local directory, or a Hugging Face Hub id ({@code ORG/NAME} or {@code
 * ORG/NAME@REVISION}) fetched into the huggingface_hub cache. As {@code from_pretrained} does, an existing local path
 * wins; only text in the Hub's id form that names nothing on disk is a Hub id.
 */
public final class ModelSource {
  private ModelSource() {}

  /** {@link #resolve(String, HubOptions)} with the process environment's settings. */
  public static Path resolve(String pathOrHubId) {
    return isHubId(pathOrHubId) ? resolve(pathOrHubId, HubOptions.fromEnvironment()) : Path.of(pathOrHubId);
  }

  /** The local directory: the path itself, or the snapshot directory of the Hub id. */
  public static Path resolve(String pathOrHubId, HubOptions options) {
    HubId id = hubId(pathOrHubId);
    return id == null ? Path.of(pathOrHubId) : new HubClient(options).snapshot(id);
  }

  /** The Hub id {@code text} names, or {@code null} where it is a local path (existing, or not in id form). */
  public static HubId hubId(String text) {
    HubId id = HubId.parse(text);
    if (id == null) {
      return null;
    }
    try {
      return Files.exists(Path.of(text)) ? null : id;
    } catch (InvalidPathException e) {
      return id;
    }
  }

  public static boolean isHubId(String text) {
    return hubId(text) != null;
  }
}
