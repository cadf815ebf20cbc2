package io.distilstream.operators;

import io.distilstream.runtime.hub.ModelSource;
import io.distilstream.runtime.model.ModelDirectory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hot reload for one subtask ({@code inference.model-reload-interval}): a background thread looks at each configured
 * model path every interval (the directory it names after symlinks and {@link ModelPaths pointer files}, and each
 * file's size and modification time, so a symlink swap, a rewritten pointer file, a renamed directory or files
 * replaced in place all count). When that changes and
 * the model's version (content hash, or {@code config.json}'s {@code version}) differs from the one serving, it
 * loads the new model beside the old one and hands it over through {@link #takeReady}; the operator switches on its
 * own thread, between batches, and closes the old model once its in-flight requests are done.
 *
 * <p>A model that fails to load is logged, counted ({@code modelReloadFailures}) and reported once through
 * {@link #takeFailures} (the operator turns it into a {@code MODEL_RELOAD_FAILED} dead letter); the old model keeps
 * serving, and the same broken files are not tried again until they change.
 */
final class ModelReloader implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ModelReloader.class);

  /** Loads a model (by its name in the job) into a ready-to-serve runtime (pipeline and batcher). */
  interface Loader {
    InferenceFunction.TaskRuntime<?, ?> load(String model, ModelDirectory dir, ModelVersion version);
  }

  record Ready(String model, InferenceFunction.TaskRuntime<?, ?> runtime) {}

  record Failure(String model, String path, String message) {}

  /** Model paths by model name: each model reloads on its own, two models on one path each reload. */
  private final Map<String, String> paths;
  private final Map<String, String> fingerprints = new HashMap<>();
  private final Map<String, String> serving = new HashMap<>();
  private final Loader loader;
  private final ConcurrentLinkedQueue<Ready> ready = new ConcurrentLinkedQueue<>();
  private final ConcurrentLinkedQueue<Failure> failures = new ConcurrentLinkedQueue<>();
  private final Counter reloads;
  private final Counter reloadFailures;
  private final ScheduledExecutorService executor;
  /** Set by {@link #close}; a load that finishes after it closes what it loaded. Guarded by {@code this}. */
  private boolean closed;

  ModelReloader(Map<String, String> paths, Map<String, String> servingVersions, Loader loader, Duration interval,
      MetricGroup metrics, String threadName) {
    this.paths = new LinkedHashMap<>(paths);
    // a Hub id was pinned to a commit at submission (ModelSource.pin): its files never change, nothing to watch
    this.paths.values().removeIf(ModelSource::isHubId);
    this.serving.putAll(servingVersions);
    this.loader = loader;
    MetricGroup g = metrics.addGroup(InferenceMetrics.GROUP);
    this.reloads = g.counter("modelReloads");
    this.reloadFailures = g.counter("modelReloadFailures");
    for (Map.Entry<String, String> e : this.paths.entrySet()) {
      fingerprints.put(e.getKey(), fingerprint(Path.of(e.getValue())));
    }
    this.executor = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, threadName);
      t.setDaemon(true);
      return t;
    });
    long ms = Math.max(1, interval.toMillis());
    executor.scheduleWithFixedDelay(this::checkAll, ms, ms, TimeUnit.MILLISECONDS);
  }

  /** What identifies the files a path names now: the real path, and each file's name, size and modification time. */
  static String fingerprint(Path path) {
    try {
      Path real = ModelPaths.resolve(path).toRealPath();
      StringBuilder sb = new StringBuilder(real.toString());
      try (Stream<Path> files = Files.list(real)) {
        for (Path f : files.sorted().toList()) {
          if (Files.isRegularFile(f)) {
            sb.append('|').append(f.getFileName()).append(':').append(Files.size(f)).append(':')
                .append(Files.getLastModifiedTime(f).toMillis());
          }
        }
      }
      return sb.toString();
    } catch (IOException | RuntimeException e) {
      return "unreadable: " + e;
    }
  }

  private void checkAll() {
    for (Map.Entry<String, String> e : paths.entrySet()) {
      try {
        check(e.getKey(), Path.of(e.getValue()));
      } catch (Throwable t) { // never let the schedule die
        LOG.error("model reload check of {} failed", e.getValue(), t);
      }
    }
  }

  private void check(String model, Path path) {
    String fp = fingerprint(path);
    if (fp.equals(fingerprints.get(model))) {
      return;
    }
    fingerprints.put(model, fp); // tried once per change: a broken model is not reloaded in a loop
    try {
      ModelDirectory dir = ModelDirectory.of(ModelPaths.resolve(path).toRealPath());
      ModelVersion version = ModelVersion.of(dir, path.getFileName().toString());
      if (version.version().equals(serving.get(model))) {
        return;
      }
      LOG.info("{}: {} changed, loading {} beside {}", model, path, version, serving.get(model));
      InferenceFunction.TaskRuntime<?, ?> runtime = loader.load(model, dir, version);
      if (!offer(new Ready(model, runtime))) {
        LOG.info("{}: closed while {} loaded; closing it", model, version);
        runtime.close(); // nobody will take it: its session and batcher thread would leak
        return;
      }
      serving.put(model, version.version());
      reloads.inc();
    } catch (Exception | LinkageError e) {
      String message = "could not load the new model for " + model + " from " + path + "; the previous model ("
          + serving.get(model) + ") keeps serving: " + e.getMessage();
      // queued before it is counted: whoever sees the count also finds the notice
      failures.add(new Failure(model, path.toString(), message));
      reloadFailures.inc();
      LOG.error(message, e);
    }
  }

  /** Hands a loaded model over, unless the reloader has closed. */
  private synchronized boolean offer(Ready r) {
    if (closed) {
      return false;
    }
    ready.add(r);
    return true;
  }

  /** Models loaded since the last call, oldest first. */
  List<Ready> takeReady() {
    List<Ready> out = new ArrayList<>();
    Ready r;
    while ((r = ready.poll()) != null) {
      out.add(r);
    }
    return out;
  }

  /** Failed loads since the last call. */
  List<Failure> takeFailures() {
    List<Failure> out = new ArrayList<>();
    Failure f;
    while ((f = failures.poll()) != null) {
      out.add(f);
    }
    return out;
  }

  boolean hasNews() {
    return !ready.isEmpty() || !failures.isEmpty();
  }

  @Override
  public void close() {
    List<Ready> unclaimed;
    synchronized (this) {
      closed = true; // from here a load that finishes closes its own model (see offer)
      unclaimed = takeReady();
    }
    for (Ready r : unclaimed) {
      r.runtime().close();
    }
    executor.shutdownNow();
    try {
      executor.awaitTermination(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
