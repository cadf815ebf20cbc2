package io.distilstream.runtime.hub;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Where and how models named by a Hugging Face Hub id are fetched. The environment is read once, here, under
 * huggingface_hub's names ({@code HF_HOME}, {@code HF_HUB_CACHE}, {@code HF_TOKEN}, {@code HF_ENDPOINT},
 * {@code HF_HUB_OFFLINE}), so Python and Java share one cache and one token, and tests pass a map instead of
 * mutating the process environment.
 */
public final class HubOptions {
  /** The public Hub; {@code HF_ENDPOINT} points elsewhere (a mirror, or a test's local server). */
  public static final String DEFAULT_ENDPOINT = "https://huggingface.co";
  /** Largest file fetched unless {@link #maxFileBytes(long)} says otherwise: a DistilBERT-base ONNX is 268 MB. */
  public static final long DEFAULT_MAX_FILE_BYTES = 4L << 30;
  /** Files at least this large show a progress line on stderr while they download. */
  public static final long DEFAULT_PROGRESS_MIN_BYTES = 8L << 20;

  /** huggingface_hub's truthy spellings of {@code HF_HUB_OFFLINE}. */
  private static final Set<String> TRUE = Set.of("1", "on", "yes", "true");

  private Path cacheDir;
  private String endpoint = DEFAULT_ENDPOINT;
  private String token;
  private boolean offline;
  private String revision;
  private String onnxFile;
  private boolean quantized;
  private boolean safetensors;
  private long maxFileBytes = DEFAULT_MAX_FILE_BYTES;
  private PrintStream progress = System.err;
  private long progressMinBytes = DEFAULT_PROGRESS_MIN_BYTES;

  private HubOptions() {}

  /** The variables read, under huggingface_hub's names (and ours for the file size limit). */
  static final List<String> VARIABLES = List.of("HF_HOME", "XDG_CACHE_HOME", "HF_HUB_CACHE", "HF_ENDPOINT",
      "HF_TOKEN", "HF_HUB_OFFLINE", "DISTILSTREAM_HUB_MAX_FILE_BYTES");

  /**
   * The settings of this process's environment. A Java system property of the same name ({@code -DHF_HOME=…}) takes
   * precedence over the variable: a process cannot change its own environment, and an embedded job (a MiniCluster,
   * a test serving models from a local hub) runs its TaskManagers in this JVM.
   */
  public static HubOptions fromEnvironment() {
    Map<String, String> env = new HashMap<>(System.getenv());
    for (String name : VARIABLES) {
      String p = System.getProperty(name);
      if (p != null) {
        env.put(name, p);
      }
    }
    return fromEnvironment(env, Path.of(System.getProperty("user.home", ".")));
  }

  /**
   * Settings from the given variables, as huggingface_hub reads them: the cache is {@code HF_HUB_CACHE}, else
   * {@code $HF_HOME/hub}, else {@code ~/.cache/huggingface/hub}; the token is {@code HF_TOKEN}, else the file
   * {@code $HF_HOME/token} that {@code huggingface-cli login} writes. {@code DISTILSTREAM_HUB_MAX_FILE_BYTES}
   * overrides the largest file fetched (4 GiB).
   */
  public static HubOptions fromEnvironment(Map<String, String> env, Path userHome) {
    HubOptions o = new HubOptions();
    String home = env.get("HF_HOME");
    Path hfHome = home != null && !home.isBlank() ? Path.of(home)
        : env.get("XDG_CACHE_HOME") != null && !env.get("XDG_CACHE_HOME").isBlank()
            ? Path.of(env.get("XDG_CACHE_HOME"), "huggingface")
            : userHome.resolve(".cache").resolve("huggingface");
    String cache = env.get("HF_HUB_CACHE");
    o.cacheDir = cache != null && !cache.isBlank() ? Path.of(cache) : hfHome.resolve("hub");
    String endpoint = env.get("HF_ENDPOINT");
    if (endpoint != null && !endpoint.isBlank()) {
      o.endpoint(endpoint);
    }
    String token = env.get("HF_TOKEN");
    o.token = token != null && !token.isBlank() ? token.trim() : readTokenFile(hfHome.resolve("token"));
    String offline = env.get("HF_HUB_OFFLINE");
    o.offline = offline != null && TRUE.contains(offline.trim().toLowerCase(Locale.ROOT));
    String max = env.get("DISTILSTREAM_HUB_MAX_FILE_BYTES");
    if (max != null && !max.isBlank()) {
      try {
        o.maxFileBytes = Long.parseLong(max.trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("DISTILSTREAM_HUB_MAX_FILE_BYTES takes a number of bytes, got '" + max
            + "'");
      }
    }
    return o;
  }

  private static String readTokenFile(Path file) {
    try {
      if (!Files.isRegularFile(file) || Files.size(file) > 4096) {
        return null;
      }
      String t = Files.readString(file, StandardCharsets.UTF_8).trim();
      return t.isEmpty() ? null : t;
    } catch (IOException | RuntimeException e) {
      return null; // an unreadable token file is no token, as in huggingface_hub
    }
  }


  public HubOptions cacheDir(Path dir) { this.cacheDir = dir; return this; }
  public HubOptions endpoint(String url) {
    String u = url.trim();
    while (u.endsWith("/")) {
      u = u.substring(0, u.length() - 1);
    }
    if (!u.startsWith("http://") && !u.startsWith("https://")) {
      throw new IllegalArgumentException("HF_ENDPOINT must be an http(s) URL, got '" + url + "'");
    }
    this.endpoint = u;
    return this;
  }
  public HubOptions token(String token) { this.token = token; return this; }
  public HubOptions offline(boolean offline) { this.offline = offline; return this; }
  /** Branch, tag or commit when the id has no {@code @REVISION}; {@code main} when neither says. */
  public HubOptions revision(String revision) { this.revision = revision; return this; }
  /** An ONNX file other than {@code model.onnx}, looked for at the top and under {@code onnx/}. */
  public HubOptions onnxFile(String name) { this.onnxFile = name; return this; }
  /** Fetch {@code model_quantized.onnx} (Optimum's int8 export) instead of {@code model.onnx}. */
  public HubOptions quantized(boolean quantized) { this.quantized = quantized; return this; }
  /** Fetch {@code model.safetensors} (not an ONNX graph): for {@code build-model}. */
  public HubOptions safetensors(boolean safetensors) { this.safetensors = safetensors; return this; }
  public HubOptions maxFileBytes(long bytes) { this.maxFileBytes = bytes; return this; }
  /** Where progress lines go; {@code null} for none. */
  public HubOptions progress(PrintStream out, long minBytes) {
    this.progress = out;
    this.progressMinBytes = minBytes;
    return this;
  }

  public Path cacheDir() { return cacheDir; }
  public String endpoint() { return endpoint; }
  public String token() { return token; }
  public boolean offline() { return offline; }
  public String revision() { return revision; }
  public String onnxFile() { return onnxFile; }
  public boolean quantized() { return quantized; }
  public boolean safetensors() { return safetensors; }
  public long maxFileBytes() { return maxFileBytes; }
  public PrintStream progress() { return progress; }
  public long progressMinBytes() { return progressMinBytes; }
}
