package io.distilstream.runtime.hub;

import io.distilstream.runtime.model.ModelLoadException;
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
    return isHubId(pathOrHubId) ? resolve(pathOrHubId, HubOptions.fromEnvironment()) : local(pathOrHubId);
  }

  /**
   * The local directory: the path itself, or the snapshot directory of the Hub id (fetched into the cache where it
   * lacks files). Text that names nothing on disk and is not a Hub id either fails here, saying both.
   */
  public static Path resolve(String pathOrHubId, HubOptions options) {
    HubId id = hubId(pathOrHubId);
    return id == null ? local(pathOrHubId) : new HubClient(options).snapshot(id);
  }

  /**
   * What a job carries to its TaskManagers for a configured model, checked now, at submission: a Hub id pinned to
   * the commit its revision names ({@code ORG/NAME@<commit>}, see {@link HubClient#pin}; one API request, no
   * download); a local path unchanged. A missing repository, revision or weights file, or text that is neither a
   * path nor a Hub id, fails here with the reason.
   */
  public static String pin(String pathOrHubId, HubOptions options) {
    HubId id = hubId(pathOrHubId);
    if (id == null) {
      local(pathOrHubId);
      return pathOrHubId;
    }
    return new HubClient(options).pin(id).toString();
  }

  /** {@link #pin(String, HubOptions)} with the process environment's settings. */
  public static String pin(String pathOrHubId) {
    return isHubId(pathOrHubId) ? pin(pathOrHubId, HubOptions.fromEnvironment()) : pin(pathOrHubId, null);
  }

  /**
   * A configured model as a configuration carries it to other processes, whose working directories differ: a Hub id
   * as given, a local path made absolute. Text that is neither fails here, as in {@link #resolve}.
   */
  public static String absolute(String pathOrHubId) {
    return isHubId(pathOrHubId) ? pathOrHubId : local(pathOrHubId).toAbsolutePath().toString();
  }

  /**
   * How results name the model: a Hub id's {@code ORG/NAME} (its commit is the version), else the last path
   * element.
   */
  public static String displayName(String pathOrHubId) {
    HubId id = hubId(pathOrHubId);
    if (id != null) {
      return id.repo();
    }
    Path name = Path.of(pathOrHubId).getFileName();
    return name == null ? pathOrHubId : name.toString();
  }

  /**
   * {@code text} as a local path. Where nothing is there and the text looks meant as a Hub id (relative, with a
   * {@code /} or {@code @}), the error says why it is not one too, rather than only "no such directory".
   */
  private static Path local(String text) {
    Path p;
    try {
      p = Path.of(text);
    } catch (InvalidPathException e) {
      throw new ModelLoadException("'" + text + "' is neither a local path (" + e.getReason() + ") nor a Hub id: "
          + HubId.whyNot(text));
    }
    if (!Files.exists(p) && !p.isAbsolute() && !text.startsWith(".") && !text.startsWith("~")
        && (text.contains("/") || text.contains("@"))) {
      throw new ModelLoadException("'" + text + "' is neither a local path (nothing is there, seen from "
          + Path.of("").toAbsolutePath() + ") nor a Hub id (ORG/NAME[@REVISION]): " + HubId.whyNot(text));
    }
    return p;
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
