package io.distilstream.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.distilstream.operators.InferenceOptions;
import io.distilstream.operators.InferenceSpec;
import io.distilstream.operators.ModelPaths;
import io.distilstream.operators.ModelSpec;
import io.distilstream.operators.ModelVersion;
import io.distilstream.runtime.cli.Args;
import io.distilstream.runtime.hub.ModelSource;
import io.distilstream.runtime.model.ModelDirectory;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Set;

/**
 * {@code distilstream promote}: makes a shadow model the primary through hot reload's safe swap. The primary's
 * configured path (a pointer file or a symlink) is repointed atomically at the shadow's model directory; the running
 * job's reloader sees the change within {@code inference.model-reload-interval}, loads the model beside the old one
 * and switches between batches, so every event gets exactly one result, from the old model or the new. Nothing else
 * in the job changes: the shadow keeps running (now agreeing with itself) until the job is redeployed without it.
 */
public final class PromoteCli {
  public static final String USAGE = String.join("\n",
      "usage: distilstream promote --config FILE [--set KEY=VALUE]... --model SHADOW [--dry-run]",
      "  Makes the shadow model SHADOW its primary's model in the running job, through hot reload: the primary's",
      "  path (a pointer file or symlink) is repointed atomically at the shadow's model directory.",
      "  --config FILE       the running job's properties file (as given to 'distilstream job')",
      "  --set KEY=VALUE     an option overriding the file (repeatable), as for 'distilstream job'",
      "  --model SHADOW      the shadow to promote (inference.models.SHADOW.shadows names its primary)",
      "  --dry-run           print what it would do; change nothing",
      "  Prints one JSON object: the primary, the shadow, the path, its old and new directory and version.",
      "  Exit 1 when the promotion is refused (the JSON's error says why and what to do).");

  private static final ObjectMapper JSON = new ObjectMapper();

  private PromoteCli() {}

  /** A promotion that cannot be done as configured: the message says why and what to do. */
  static final class Refused extends Exception {
    private static final long serialVersionUID = 1L;

    Refused(String message) {
      super(message);
    }
  }

  public static int run(String[] argv, PrintStream out) throws Exception {
    Args args = Args.parse(argv, Set.of("dry-run"));
    String config = args.string("config", null);
    String shadow = args.required("model");
    boolean dryRun = args.flag("dry-run");
    var overrides = JobCli.sets(args);
    args.rejectUnknown();
    if (config == null && overrides.isEmpty()) {
      throw new Args.UsageException("--config FILE (the running job's) is required");
    }
    JobConfig cfg = JobConfig.load(config == null ? null : Path.of(config), overrides);
    ObjectNode result = JSON.createObjectNode().put("command", "promote").put("dry_run", dryRun)
        .put("shadow", shadow);
    try {
      InferenceSpec spec = InferenceSpec.fromConfiguration(EnrichmentJob.inferenceConfiguration(cfg));
      promote(spec, shadow, dryRun, result);
      out.println(JSON.writeValueAsString(result));
      return 0;
    } catch (Refused e) {
      result.put("promoted", false).put("error", e.getMessage());
      out.println(JSON.writeValueAsString(result));
      return 1;
    }
  }

  /** Checks the promotion, fills {@code result} with what it does, and does it unless {@code dryRun}. */
  static void promote(InferenceSpec spec, String shadowName, boolean dryRun, ObjectNode result)
      throws Refused, IOException {
    ModelSpec shadow = spec.model(shadowName);
    if (shadow == null) {
      throw new Refused("the job has no model named '" + shadowName + "'");
    }
    if (!shadow.isShadow()) {
      throw new Refused("model '" + shadowName + "' shadows no model (" + InferenceOptions.MODELS_PREFIX + shadowName
          + ".shadows is unset): promote makes a shadow its primary's model");
    }
    ModelSpec primary = spec.model(shadow.shadows());
    String pathKey = pathKey(primary);
    result.put("primary", primary.name()).put("task", primary.task().id()).put("path_key", pathKey)
        .put("path", primary.source());
    if (spec.reloadInterval() == null) {
      throw new Refused(InferenceOptions.MODEL_RELOAD_INTERVAL.key() + " is not set: the running job does not"
          + " watch its models, so it would never switch. Set it (e.g. '10 s'), restart the job from a savepoint,"
          + " then promote");
    }
    result.put("reload_interval_ms", spec.reloadInterval().toMillis());
    if (ModelSource.isHubId(primary.source())) {
      throw new Refused(pathKey + " is the Hugging Face Hub id " + primary.source() + ": a Hub model is pinned"
          + " to its commit and never reloaded. Download it, point a pointer file or symlink at its directory, set "
          + pathKey + " to that and restart the job, then promote");
    }
    Path path = Path.of(primary.source());
    ModelPaths.Kind kind = ModelPaths.kind(path);
    result.put("path_kind", kind.id());
    if (kind == ModelPaths.Kind.DIRECTORY) {
      throw new Refused(pathKey + " (" + path + ") is a model directory: promote repoints a pointer file or a"
          + " symlink, which hot reload watches. Make one (e.g. 'ln -s " + path + " " + path + ".current'), set "
          + pathKey + " to it and restart the job from a savepoint, then promote");
    }
    if (kind == ModelPaths.Kind.MISSING) {
      throw new Refused(pathKey + " (" + path + ") does not exist here: run promote where the job's model paths"
          + " are (the same shared volume)");
    }
    if (ModelSource.isHubId(shadow.source())) {
      throw new Refused("the shadow's path is the Hugging Face Hub id " + shadow.source() + ": download it and set "
          + pathKey(shadow) + " to its directory");
    }
    Path from = ModelPaths.resolve(path).toRealPath();
    Path to = ModelPaths.resolve(Path.of(shadow.source())).toRealPath();
    ModelVersion fromVersion = ModelVersion.of(ModelDirectory.of(from));
    ModelVersion toVersion = ModelVersion.of(ModelDirectory.of(to));
    result.set("from", JSON.createObjectNode().put("directory", from.toString())
        .put("version", fromVersion.version()));
    result.set("to", JSON.createObjectNode().put("directory", to.toString()).put("version", toVersion.version()));
    if (from.equals(to)) {
      result.put("promoted", false).put("note", "the primary already serves the shadow's model directory");
      return;
    }
    if (!dryRun) {
      ModelPaths.repoint(path, to);
    }
    result.put("promoted", !dryRun).put("note", (dryRun ? "would repoint " : "repointed ") + path + " at " + to
        + "; the running job switches between batches within "
        + spec.reloadInterval().toMillis() + " ms (its modelReloads metric counts it). The shadow keeps running"
        + " until the job is redeployed without " + InferenceOptions.MODELS_PREFIX + shadow.name() + ".*");
  }

  /** The key that configures a model's path. */
  static String pathKey(ModelSpec m) {
    return m.perTaskKey() ? InferenceOptions.MODEL_PREFIX + m.task().id()
        : InferenceOptions.MODELS_PREFIX + m.name() + ".path";
  }
}
