package io.distilstream.runtime.hub;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Hugging Face Hub on 127.0.0.1 for tests: model repositories under made-up ids, served with the Hub's URL layout
 * and headers. {@code GET /api/models/{id}/revision/{rev}} answers {@code sha} and {@code siblings}; {@code
 * /{id}/resolve/{rev}/{file}} answers small files itself ({@code ETag} = git blob sha1) and redirects LFS files
 * ({@code .onnx}, {@code .safetensors}, other weights) with {@code X-Linked-Etag} (sha256) and {@code
 * X-Linked-Size} to {@code /cdn/<sha256>}, which honours {@code Range}. Like the Hub, an unknown repository is 401
 * {@code RepoNotFound} without a token and 404 with one; a gated one lists its files but answers 401 (no token) or 403
 * (wrong token) {@code GatedRepo} on resolve. {@link #dropNext} cuts a CDN download mid-file. Public, in the test-jar,
 * so the operator tests open models by Hub id from it too.
 */
public final class LocalHub implements AutoCloseable {
  public static final String TOKEN = "hf_localhub_read_token";
  private static final Pattern API = Pattern.compile("/api/models/([^/]+/[^/]+)/revision/([^/]+)");
  private static final Pattern RESOLVE = Pattern.compile("/([^/]+/[^/]+)/resolve/([^/]+)/(.+)");
  private static final Pattern CDN = Pattern.compile("/cdn/([0-9a-f]{64})");
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One repository: its commit, files in order, and whether it is gated. */
  public record Repo(String id, String commit, Map<String, byte[]> files, boolean gated) {}

  private final HttpServer server;
  private final ExecutorService executor = Executors.newFixedThreadPool(4);
  private final Map<String, Repo> repos = new ConcurrentHashMap<>();
  private final Map<String, byte[]> lfs = new ConcurrentHashMap<>();
  private final Map<String, AtomicInteger> drops = new ConcurrentHashMap<>();
  /** "METHOD path [Range]" of every request, in arrival order. */
  public final List<String> requests = Collections.synchronizedList(new ArrayList<>());

  public LocalHub() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", this::handle);
    server.setExecutor(executor);
    server.start();
  }

  public String endpoint() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  /** Serves the files of {@code dir} (plus {@code extra} made-up files) as repository {@code id}. */
  public Repo add(String id, Path dir, boolean gated, Map<String, byte[]> extra) throws IOException {
    Map<String, byte[]> files = new LinkedHashMap<>();
    try (var list = Files.list(dir)) {
      for (Path f : list.sorted().toList()) {
        files.put(f.getFileName().toString(), Files.readAllBytes(f));
      }
    }
    files.putAll(extra);
    files.values().removeIf(v -> v == null);
    Repo repo = new Repo(id, hex("SHA-1", id.getBytes(StandardCharsets.UTF_8)), files, gated);
    repos.put(id, repo);
    for (var e : files.entrySet()) {
      if (isLfs(e.getKey())) {
        lfs.put(hex("SHA-256", e.getValue()), e.getValue());
      }
    }
    return repo;
  }

  /** The next {@code times} CDN downloads of {@code file} stop after half of what they announce. */
  public void dropNext(Repo repo, String file, int times) {
    drops.put(hex("SHA-256", repo.files().get(file)), new AtomicInteger(times));
  }

  static boolean isLfs(String file) {
    return file.endsWith(".onnx") || file.endsWith(".safetensors") || file.endsWith(".bin") || file.endsWith(".h5")
        || file.endsWith(".onnx_data");
  }

  static String gitSha1(byte[] content) {
    byte[] head = ("blob " + content.length + "\0").getBytes(StandardCharsets.US_ASCII);
    byte[] all = new byte[head.length + content.length];
    System.arraycopy(head, 0, all, 0, head.length);
    System.arraycopy(content, 0, all, head.length, content.length);
    return hex("SHA-1", all);
  }

  public static String hex(String algorithm, byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance(algorithm).digest(bytes));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private void handle(HttpExchange ex) throws IOException {
    String path = ex.getRequestURI().getPath(); // decoded: refs%2Fpr%2F1 arrives as refs/pr/1 only in the API form
    String range = ex.getRequestHeaders().getFirst("Range");
    requests.add(ex.getRequestMethod() + " " + ex.getRequestURI().getRawPath() + (range == null ? "" : " " + range));
    try {
      Matcher m;
      if ((m = API.matcher(ex.getRequestURI().getRawPath())).matches()) {
        api(ex, m.group(1), java.net.URLDecoder.decode(m.group(2), StandardCharsets.UTF_8));
      } else if ((m = CDN.matcher(path)).matches()) {
        cdn(ex, m.group(1), range);
      } else if ((m = RESOLVE.matcher(path)).matches()) {
        resolve(ex, m.group(1), m.group(2), m.group(3));
      } else {
        error(ex, 404, null);
      }
    } finally {
      ex.close();
    }
  }

  private Repo repoOr401(HttpExchange ex, String id) throws IOException {
    Repo repo = repos.get(id);
    if (repo == null) {
      error(ex, authorized(ex) ? 404 : 401, "RepoNotFound");
    }
    return repo;
  }

  private boolean authorized(HttpExchange ex) {
    return ("Bearer " + TOKEN).equals(ex.getRequestHeaders().getFirst("Authorization"));
  }

  private void api(HttpExchange ex, String id, String revision) throws IOException {
    Repo repo = repoOr401(ex, id);
    if (repo == null) {
      return;
    }
    if (!revision.equals("main") && !revision.equals(repo.commit())) {
      error(ex, 404, "RevisionNotFound");
      return;
    }
    ObjectNode n = JSON.createObjectNode();
    n.put("id", id);
    n.put("sha", repo.commit());
    n.put("gated", repo.gated() ? "manual" : "false");
    var siblings = n.putArray("siblings");
    repo.files().keySet().forEach(f -> siblings.addObject().put("rfilename", f));
    byte[] body = JSON.writeValueAsBytes(n);
    ex.getResponseHeaders().set("Content-Type", "application/json");
    ex.sendResponseHeaders(200, body.length);
    ex.getResponseBody().write(body);
  }

  private void resolve(HttpExchange ex, String id, String revision, String file) throws IOException {
    Repo repo = repoOr401(ex, id);
    if (repo == null) {
      return;
    }
    if (repo.gated() && !authorized(ex)) {
      error(ex, ex.getRequestHeaders().containsKey("Authorization") ? 403 : 401, "GatedRepo");
      return;
    }
    if (!revision.equals("main") && !revision.equals(repo.commit())) {
      error(ex, 404, "RevisionNotFound");
      return;
    }
    byte[] content = repo.files().get(file);
    if (content == null) {
      error(ex, 404, "EntryNotFound");
      return;
    }
    var h = ex.getResponseHeaders();
    h.set("X-Repo-Commit", repo.commit());
    boolean head = ex.getRequestMethod().equals("HEAD");
    if (isLfs(file)) {
      String sha = hex("SHA-256", content);
      h.set("X-Linked-Etag", "\"" + sha + "\"");
      h.set("X-Linked-Size", Long.toString(content.length));
      h.set("ETag", "\"" + gitSha1(("version https://git-lfs.github.com/spec/v1\noid sha256:" + sha).getBytes(
          StandardCharsets.US_ASCII)) + "\"");
      h.set("Location", endpoint() + "/cdn/" + sha + "?X-Amz-Expires=3600");
      ex.sendResponseHeaders(302, -1);
      return;
    }
    h.set("ETag", "\"" + gitSha1(content) + "\"");
    if (head) {
      h.set("Content-Length", Long.toString(content.length));
      ex.sendResponseHeaders(200, -1);
      return;
    }
    ex.sendResponseHeaders(200, content.length);
    ex.getResponseBody().write(content);
  }

  private void cdn(HttpExchange ex, String sha, String range) throws IOException {
    byte[] content = lfs.get(sha);
    if (content == null) {
      error(ex, 404, null);
      return;
    }
    long from = 0;
    if (range != null) {
      Matcher m = Pattern.compile("bytes=(\\d+)-").matcher(range);
      if (!m.matches() || Long.parseLong(m.group(1)) >= content.length) {
        ex.getResponseHeaders().set("Content-Range", "bytes */" + content.length);
        ex.sendResponseHeaders(416, -1);
        return;
      }
      from = Long.parseLong(m.group(1));
      ex.getResponseHeaders().set("Content-Range",
          "bytes " + from + "-" + (content.length - 1) + "/" + content.length);
    }
    ex.getResponseHeaders().set("ETag", "\"" + sha + "\"");
    ex.getResponseHeaders().set("Accept-Ranges", "bytes");
    int length = content.length - (int) from;
    ex.sendResponseHeaders(range != null ? 206 : 200, length);
    OutputStream out = ex.getResponseBody();
    AtomicInteger drop = drops.get(sha);
    if (drop != null && drop.getAndDecrement() > 0) {
      out.write(content, (int) from, length / 2);
      out.flush();
      // an exception out of the handler makes HttpServer close the connection: the client sees it cut mid-file
      throw new IOException("LocalHub drops this connection mid-file");
    }
    out.write(content, (int) from, length);
  }

  private static void error(HttpExchange ex, int status, String code) throws IOException {
    if (code != null) {
      ex.getResponseHeaders().set("X-Error-Code", code);
      ex.getResponseHeaders().set("X-Error-Message", code.replaceAll("([a-z])([A-Z])", "$1 $2"));
    }
    ex.sendResponseHeaders(status, -1);
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }
}
