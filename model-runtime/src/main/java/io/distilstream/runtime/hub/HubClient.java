package io.distilstream.runtime.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * Fetches what a model needs from the Hugging Face Hub into huggingface_hub's cache layout, so Python and Java share
 * one cache: {@code models--ORG--NAME/blobs/<etag>} (sha256 for LFS files, git sha1 for others), {@code
 * snapshots/<commit>/<file>} as relative symlinks to the blobs (copies where links fail), {@code refs/<revision>}
 * holding the commit, {@code <etag>.incomplete} while a blob downloads.
 *
 * <p>It speaks the Hub's HTTP interface: {@code GET /api/models/{id}/revision/{rev}} for the commit and file list,
 * {@code HEAD /{id}/resolve/{commit}/{file}} for the etag and size ({@code X-Linked-Etag}, {@code X-Linked-Size} and
 * a redirect to the CDN for LFS files), then a GET that resumes with {@code Range} after a dropped connection. Every
 * input is bounded: the API answer's bytes and file count, each file's size ({@link HubOptions#maxFileBytes}),
 * redirects, header values; LFS files are checked against their sha256, others against their git sha1.
 */
public final class HubClient {
  /** Files listed by one revision; a model repository has tens. */
  static final int MAX_FILES = 10_000;
  static final int MAX_API_BYTES = 8 << 20;
  static final int MAX_REDIRECTS = 5;
  /** Tries per file, each resuming where the last one stopped. */
  static final int MAX_ATTEMPTS = 5;
  static final int MAX_PATH_CHARS = 1000;

  static final List<String> TOKENIZER_FILES =
      List.of("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json");
  /** Other frameworks' weights: never fetched, named in the error when nothing we read is there. */
  private static final List<String> OTHER_WEIGHTS =
      List.of("pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "model.safetensors.index.json",
          "pytorch_model.bin.index.json");
  private static final Pattern ETAG = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}");
  private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
  private static final Pattern SHA1 = Pattern.compile("[0-9a-f]{40}");
  private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d{1,19})-(\\d{1,19})/(\\d{1,19}|\\*)");
  private static final ObjectMapper JSON = new ObjectMapper();
  /** FileLock is per process; threads of one JVM (Flink subtasks) take this monitor first. */
  private static final ConcurrentHashMap<Path, Object> JVM_LOCKS = new ConcurrentHashMap<>();

  /** Connect, and wait for each read: a stalled server fails the try (and the next one resumes). */
  static final int CONNECT_TIMEOUT_MS = 15_000;
  static final int READ_TIMEOUT_MS = 60_000;

  private final HubOptions options;

  public HubClient(HubOptions options) {
    this.options = options;
  }

  /**
   * One answer. {@link HttpURLConnection} rather than {@code java.net.http}: it has a read timeout, so a server
   * that stops sending mid-body cannot hold a download forever; redirects are followed here, counted, and the token
   * stays on the endpoint's host.
   */
  private record Response(HttpURLConnection conn, int status, URI uri) implements AutoCloseable {
    InputStream body() throws IOException {
      InputStream in = status >= 400 ? conn.getErrorStream() : conn.getInputStream();
      return in != null ? in : InputStream.nullInputStream();
    }

    @Override
    public void close() {
      try {
        body().close();
      } catch (IOException ignored) {
        // nothing more to read from it
      }
    }
  }

  /** The commit and file list of one revision. */
  record RepoInfo(String commit, List<String> files) {}

  /** What a resolve URL's HEAD says about a file. */
  private record FileMeta(String etag, long size, boolean lfs, URI download) {}

  /** An I/O failure before any answer: no network, refused connection, timeout. */
  private static final class Unreachable extends Exception {
    private static final long serialVersionUID = 1L;

    Unreachable(IOException cause) {
      super(cause.getMessage() != null ? cause.getMessage() : cause.getClass().getSimpleName(), cause);
    }
  }

  /**
   * The local snapshot directory of {@code id}, fetching the files a pipeline needs that it lacks: {@code
   * config.json}, the tokenizer files and one weights file (see {@link #choose}). Offline ({@code HF_HUB_OFFLINE})
   * it makes no request and answers from the cache; when the endpoint cannot be reached it falls back to the cache
   * too, saying so on the progress stream.
   */
  public Path snapshot(HubId id) {
    String revision = revision(id);
    Path repoDir = options.cacheDir().resolve(id.cacheFolder());
    if (options.offline()) {
      return cached(id, repoDir, revision, "HF_HUB_OFFLINE is set");
    }
    RepoInfo info;
    try {
      info = repoInfo(id, revision);
    } catch (Unreachable e) {
      return cachedWhenUnreachable(id, repoDir, revision, e);
    }
    List<String> files = choose(id, revision, info.files());
    Path snapshot = repoDir.resolve("snapshots").resolve(info.commit());
    Path lockFile = options.cacheDir().resolve(".locks").resolve(id.cacheFolder() + ".lock");
    synchronized (JVM_LOCKS.computeIfAbsent(lockFile.toAbsolutePath().normalize(), k -> new Object())) {
      try {
        Files.createDirectories(lockFile.getParent());
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock lock = ch.lock()) {
          if (!revision.equals(info.commit())) {
            writeRef(repoDir, revision, info.commit());
          }
          for (String f : files) {
            if (!Files.exists(snapshot.resolve(f))) {
              fetch(id, info.commit(), f, repoDir, snapshot);
            }
          }
        }
      } catch (IOException e) {
        throw new HubException(id.repo() + ": cannot write the cache " + repoDir + ": " + e.getMessage(), e);
      }
    }
    return snapshot;
  }

  /**
   * {@code id} at the commit its revision names now, checked (as {@link #snapshot} would) to exist and to hold what a
   * pipeline needs, fetching nothing: one API request. A job pins its Hub ids with it when it is submitted, so a
   * wrong id fails there, and every TaskManager, and every restart, opens the same commit even when the branch
   * moves. Offline, or with the endpoint unreachable, the commit the cache holds for the revision. Writes only the
   * cache's {@code refs/<revision>}.
   */
  public HubId pin(HubId id) {
    String revision = revision(id);
    Path repoDir = options.cacheDir().resolve(id.cacheFolder());
    if (options.offline()) {
      return id.at(cached(id, repoDir, revision, "HF_HUB_OFFLINE is set").getFileName().toString());
    }
    RepoInfo info;
    try {
      info = repoInfo(id, revision);
    } catch (Unreachable e) {
      return id.at(cachedWhenUnreachable(id, repoDir, revision, e).getFileName().toString());
    }
    choose(id, revision, info.files());
    if (!revision.equals(info.commit())) {
      try {
        // as huggingface_hub does on resolving: a cache the TaskManagers share then answers offline runs of the branch
        writeRef(repoDir, revision, info.commit());
      } catch (IOException e) {
        note("distilstream: " + id + ": cannot record refs/" + revision + " in " + repoDir + ": " + e.getMessage());
      }
    }
    return id.at(info.commit());
  }

  private String revision(HubId id) {
    String revision = id.revision() != null ? id.revision()
        : options.revision() != null ? options.revision() : "main";
    if (!HubId.validRevision(revision)) {
      throw new HubException(id.repo() + ": '" + revision + "' is not a revision name (branch, tag or commit)");
    }
    return revision;
  }

  private Path cachedWhenUnreachable(HubId id, Path repoDir, String revision, Unreachable e) {
    Path cached = cachedOrNull(repoDir, revision);
    if (cached != null) {
      note("distilstream: cannot reach " + options.endpoint() + " (" + e.getMessage() + "); using the cached "
          + id.repo() + "@" + revision + " (" + cached.getFileName() + ")");
      return cached;
    }
    throw new HubException(id.repo() + "@" + revision + ": cannot reach " + options.endpoint() + " ("
        + e.getMessage() + ") and it is not in the cache " + repoDir + "; check the network, or set HF_ENDPOINT"
        + " to a mirror", e.getCause());
  }

  /**
   * What to fetch of a revision's files: {@code config.json}, the tokenizer files there are, and one weights file,
   * the first there is of {@code model.onnx}, {@code onnx/model.onnx}, {@code model.safetensors} (built to ONNX on
   * load); {@code model_quantized.onnx} (top or {@code onnx/}) when {@link HubOptions#quantized}; only {@code
   * model.safetensors} when {@link HubOptions#safetensors}. An ONNX file's external data ({@code *.onnx_data})
   * comes with it. Never another framework's weights.
   */
  List<String> choose(HubId id, String revision, List<String> files) {
    Set<String> have = new LinkedHashSet<>(files);
    String where = id.repo() + "@" + revision;
    if (!have.contains("config.json")) {
      throw new HubException(where + " has no config.json: not a transformers model repository");
    }
    List<String> out = new ArrayList<>();
    out.add("config.json");
    for (String t : TOKENIZER_FILES) {
      if (have.contains(t)) {
        out.add(t);
      }
    }
    if (!have.contains("tokenizer.json") && !have.contains("vocab.txt")) {
      throw new HubException(where + " has neither tokenizer.json nor vocab.txt");
    }
    List<String> candidates;
    if (options.safetensors()) {
      candidates = List.of("model.safetensors");
    } else if (options.onnxFile() != null) {
      candidates = List.of(options.onnxFile(), "onnx/" + options.onnxFile());
    } else if (options.quantized()) {
      candidates = List.of("model_quantized.onnx", "onnx/model_quantized.onnx");
    } else {
      candidates = List.of("model.onnx", "onnx/model.onnx", "model.safetensors");
    }
    String weights = candidates.stream().filter(have::contains).findFirst().orElseThrow(() -> {
      List<String> others = OTHER_WEIGHTS.stream().filter(have::contains).toList();
      return new HubException(where + " has no " + String.join(", ", candidates)
          + (others.isEmpty() ? "" : "; it has " + String.join(", ", others) + ", which distilstream does not read"
              + " (export with `optimum-cli export onnx`, or pick a revision with model.safetensors)"));
    });
    out.add(weights);
    if (weights.endsWith(".onnx") && have.contains(weights + "_data")) {
      out.add(weights + "_data");
    }
    return out;
  }

  // ---- the API -----------------------------------------------------------------------------------------------

  RepoInfo repoInfo(HubId id, String revision) throws Unreachable {
    URI url = URI.create(options.endpoint() + "/api/models/" + id.repo() + "/revision/" + encode(revision));
    Response r;
    byte[] body;
    try {
      r = send("GET", url, true, -1);
      if (r.status() != 200) {
        throw httpError(id, revision, null, r);
      }
      try (InputStream in = r.body()) {
        body = in.readNBytes(MAX_API_BYTES + 1);
      }
    } catch (IOException e) {
      throw new Unreachable(e);
    }
    if (body.length > MAX_API_BYTES) {
      throw new HubException(id.repo() + ": the API answer is over " + MAX_API_BYTES + " bytes");
    }
    JsonNode n;
    try {
      n = JSON.readTree(body);
    } catch (IOException e) {
      throw new HubException(id.repo() + ": the API answer from " + url + " is not JSON: " + e.getMessage(), e);
    }
    String commit = n == null ? "" : n.path("sha").asText("");
    if (!HubId.isCommit(commit)) {
      throw new HubException(id.repo() + ": the API answer from " + url + " has no commit sha");
    }
    JsonNode siblings = n.path("siblings");
    if (siblings.size() > MAX_FILES) {
      throw new HubException(id.repo() + "@" + revision + " lists " + siblings.size() + " files, over "
          + MAX_FILES);
    }
    List<String> files = new ArrayList<>();
    for (JsonNode s : siblings) {
      String f = s.path("rfilename").asText("");
      if (safeRelativePath(f)) {
        files.add(f);
      }
    }
    return new RepoInfo(commit, files);
  }

  /** A repository file name that stays inside the snapshot: relative, no {@code ..} or empty segments. */
  static boolean safeRelativePath(String f) {
    if (f.isEmpty() || f.length() > MAX_PATH_CHARS || f.startsWith("/") || f.indexOf('\\') >= 0
        || f.indexOf('\0') >= 0 || f.indexOf(':') >= 0) {
      return false;
    }
    for (String seg : f.split("/", -1)) {
      if (seg.isEmpty() || seg.equals(".") || seg.equals("..")) {
        return false;
      }
    }
    return true;
  }

  // ---- files -------------------------------------------------------------------------------------------------

  private void fetch(HubId id, String commit, String file, Path repoDir, Path snapshot) throws IOException {
    URI url = URI.create(options.endpoint() + "/" + id.repo() + "/resolve/" + commit + "/" + encodePath(file));
    FileMeta meta = head(id, commit, file, url);
    Path blob = repoDir.resolve("blobs").resolve(meta.etag());
    if (!Files.isRegularFile(blob) || Files.size(blob) != meta.size()) {
      Files.createDirectories(blob.getParent());
      Path part = blob.resolveSibling(meta.etag() + ".incomplete");
      download(id, file, meta, part);
      verify(id, file, meta, part);
      Files.move(part, blob, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
    link(snapshot.resolve(file), blob);
  }

  /** HEAD on the resolve URL: follows the Hub's own (relative) redirects, stops at an LFS one to the CDN. */
  private FileMeta head(HubId id, String commit, String file, URI url) throws IOException {
    URI at = url;
    for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
      Response r;
      try {
        r = send("HEAD", at, sameOrigin(at, url), -1);
        r.close();
      } catch (IOException e) {
        throw new HubException(id.repo() + ": " + file + ": cannot reach " + at.getHost() + ": " + e.getMessage(), e);
      }
      int s = r.status();
      Optional<String> linkedEtag = header(r, "X-Linked-Etag");
      if (s >= 300 && s < 400) {
        URI next = location(id, file, at, r);
        if (linkedEtag.isPresent() || !sameOrigin(next, url)) {
          return meta(id, file, r, next);
        }
        at = next;
        continue;
      }
      if (s >= 200 && s < 300) {
        return meta(id, file, r, at);
      }
      throw httpError(id, commit, file, r);
    }
    throw new HubException(id.repo() + ": " + file + ": more than " + MAX_REDIRECTS + " redirects from " + url);
  }

  private FileMeta meta(HubId id, String file, Response r, URI download) {
    Optional<String> linked = header(r, "X-Linked-Etag");
    String etag = linked.or(() -> header(r, "ETag")).map(HubClient::normalizeEtag).orElse("");
    if (!ETAG.matcher(etag).matches()) {
      throw new HubException(id.repo() + ": " + file + ": the Hub's answer has no usable ETag");
    }
    String sizeText = header(r, "X-Linked-Size").or(() -> header(r, "Content-Length")).orElse("");
    long size;
    try {
      size = Long.parseLong(sizeText.trim());
    } catch (NumberFormatException e) {
      throw new HubException(id.repo() + ": " + file + ": the Hub's answer has no size");
    }
    if (size < 0 || size > options.maxFileBytes()) {
      throw new HubException(id.repo() + ": " + file + " is " + size + " bytes, over the limit of "
          + options.maxFileBytes() + " (DISTILSTREAM_HUB_MAX_FILE_BYTES raises it)");
    }
    return new FileMeta(etag, size, linked.isPresent(), download);
  }

  static String normalizeEtag(String raw) {
    String e = raw.trim();
    if (e.startsWith("W/")) {
      e = e.substring(2);
    }
    if (e.length() >= 2 && e.startsWith("\"") && e.endsWith("\"")) {
      e = e.substring(1, e.length() - 1);
    }
    return e;
  }

  /**
   * Fills {@code part} to the announced size, resuming with {@code Range} from what an earlier try (in this call
   * or an earlier process) left: huggingface_hub's {@code .incomplete} file, so a dropped 300 MB download costs
   * only what was missing.
   */
  private void download(HubId id, String file, FileMeta meta, Path part) throws IOException {
    IOException last = null;
    for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      long have = Files.exists(part) ? Files.size(part) : -1;
      if (have > meta.size()) {
        Files.delete(part);
        have = -1;
      }
      if (have == meta.size()) {
        return;
      }
      try {
        getInto(id, file, meta, part, Math.max(have, 0));
      } catch (IOException e) {
        last = e;
        note("distilstream: " + id.repo() + " " + file + ": " + e.getMessage() + "; resuming");
      }
    }
    if (Files.exists(part) && Files.size(part) == meta.size()) {
      return;
    }
    throw new HubException(id.repo() + ": " + file + ": download incomplete after " + MAX_ATTEMPTS + " tries ("
        + (Files.exists(part) ? Files.size(part) : 0) + " of " + meta.size() + " bytes kept in " + part
        + "; run again to resume): " + (last == null ? "" : last.getMessage()), last);
  }

  private void getInto(HubId id, String file, FileMeta meta, Path part, long from) throws IOException {
    URI at = meta.download();
    for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
      Response r = send("GET", at, sameOrigin(at, URI.create(options.endpoint())), from);
      int s = r.status();
      if (s >= 300 && s < 400) {
        r.close();
        at = location(id, file, at, r);
        continue;
      }
      try (InputStream in = r.body()) {
        boolean append;
        if (s == 206) {
          var m = CONTENT_RANGE.matcher(header(r, "Content-Range").orElse(""));
          if (!m.matches() || Long.parseLong(m.group(1)) != from) {
            Files.deleteIfExists(part); // a range other than asked for: start over rather than splice
            throw new IOException("the server answered a range other than bytes=" + from + "-");
          }
          append = true;
        } else if (s == 200) {
          append = false; // the server ignored Range: the whole file again
        } else if (s == 416) {
          Files.deleteIfExists(part);
          throw new IOException("the server refused the range bytes=" + from + "-");
        } else {
          throw httpError(id, null, file, r);
        }
        copy(id, file, in, part, append ? from : 0, meta.size());
      }
      return;
    }
    throw new HubException(id.repo() + ": " + file + ": more than " + MAX_REDIRECTS + " redirects");
  }

  private void copy(HubId id, String file, InputStream in, Path part, long start, long size) throws IOException {
    Progress progress = new Progress(id.repo() + " " + file, size, start);
    try (OutputStream out = start > 0
        ? Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.APPEND)
        : Files.newOutputStream(part)) {
      byte[] buf = new byte[1 << 16];
      long done = start;
      int n;
      while ((n = in.read(buf)) > 0) {
        if (done + n > size) {
          throw new HubException(id.repo() + ": " + file + ": the server sent more than the " + size
              + " bytes it announced");
        }
        out.write(buf, 0, n);
        done += n;
        progress.update(done);
      }
      progress.finish(done);
    }
  }

  /** LFS files against their sha256 etag, git-stored ones against their blob sha1; a mismatch deletes the file. */
  private void verify(HubId id, String file, FileMeta meta, Path part) throws IOException {
    String expected = meta.etag().toLowerCase(Locale.ROOT);
    String algorithm = meta.lfs() && SHA256.matcher(expected).matches() ? "SHA-256"
        : !meta.lfs() && SHA1.matcher(expected).matches() ? "SHA-1" : null;
    if (algorithm == null) {
      return; // a mirror's own etag form: the size was checked, there is nothing to hash against
    }
    String actual;
    try {
      MessageDigest md = MessageDigest.getInstance(algorithm);
      if (!meta.lfs()) {
        md.update(("blob " + Files.size(part) + "\0").getBytes(StandardCharsets.US_ASCII));
      }
      try (InputStream in = Files.newInputStream(part)) {
        byte[] buf = new byte[1 << 16];
        int n;
        while ((n = in.read(buf)) > 0) {
          md.update(buf, 0, n);
        }
      }
      actual = HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    if (!actual.equals(expected)) {
      Files.deleteIfExists(part);
      throw new HubException(id.repo() + ": " + file + ": " + algorithm + " " + actual + " is not the " + expected
          + " the Hub announced; deleted, run again to fetch it afresh");
    }
  }

  /** A relative symlink {@code snapshots/<commit>/<file> -> ../../blobs/<etag>}, or a copy where links fail. */
  private static void link(Path target, Path blob) throws IOException {
    Files.createDirectories(target.getParent());
    Files.deleteIfExists(target); // a dangling link whose blob was deleted
    try {
      Files.createSymbolicLink(target, target.getParent().relativize(blob));
    } catch (UnsupportedOperationException | FileSystemException e) {
      Files.copy(blob, target, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  // ---- the cache ---------------------------------------------------------------------------------------------

  private static void writeRef(Path repoDir, String revision, String commit) throws IOException {
    Path ref = repoDir.resolve("refs").resolve(revision);
    if (Files.isRegularFile(ref) && commit.equals(Files.readString(ref, StandardCharsets.US_ASCII).trim())) {
      return;
    }
    Files.createDirectories(ref.getParent());
    Path tmp = ref.resolveSibling(ref.getFileName() + ".tmp");
    Files.writeString(tmp, commit, StandardCharsets.US_ASCII);
    Files.move(tmp, ref, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private static Path cachedOrNull(Path repoDir, String revision) {
    String commit = revision;
    if (!HubId.isCommit(revision)) {
      Path ref = repoDir.resolve("refs").resolve(revision);
      try {
        if (!Files.isRegularFile(ref) || Files.size(ref) > 100) {
          return null;
        }
        commit = Files.readString(ref, StandardCharsets.US_ASCII).trim();
      } catch (IOException e) {
        return null;
      }
      if (!HubId.isCommit(commit)) {
        return null;
      }
    }
    Path snapshot = repoDir.resolve("snapshots").resolve(commit);
    return Files.isRegularFile(snapshot.resolve("config.json")) ? snapshot : null;
  }

  private static Path cached(HubId id, Path repoDir, String revision, String why) {
    Path p = cachedOrNull(repoDir, revision);
    if (p == null) {
      throw new HubException(id.repo() + "@" + revision + ": " + why + " and it is not in the cache " + repoDir
          + ": fetch it once with network access (HF_HUB_OFFLINE unset)");
    }
    return p;
  }

  // ---- HTTP --------------------------------------------------------------------------------------------------

  /** @param from {@code Range: bytes=from-} when positive */
  private Response send(String method, URI url, boolean withToken, long from) throws IOException {
    HttpURLConnection c = (HttpURLConnection) url.toURL().openConnection();
    c.setRequestMethod(method);
    c.setInstanceFollowRedirects(false);
    c.setConnectTimeout(CONNECT_TIMEOUT_MS);
    c.setReadTimeout(READ_TIMEOUT_MS);
    c.setUseCaches(false);
    c.setRequestProperty("User-Agent", "distilstream (java)");
    c.setRequestProperty("Accept-Encoding", "identity"); // sizes and hashes are of the file's own bytes
    if (withToken && options.token() != null) {
      c.setRequestProperty("Authorization", "Bearer " + options.token());
    }
    if (from > 0) {
      c.setRequestProperty("Range", "bytes=" + from + "-");
    }
    return new Response(c, c.getResponseCode(), url);
  }

  private static URI location(HubId id, String file, URI at, Response r) {
    String loc = header(r, "Location").orElseThrow(() ->
        new HubException(id.repo() + ": " + file + ": a redirect without Location from " + at));
    URI next;
    try {
      next = at.resolve(loc);
    } catch (IllegalArgumentException e) {
      throw new HubException(id.repo() + ": " + file + ": a redirect to a malformed URL", e);
    }
    if (!"https".equalsIgnoreCase(next.getScheme()) && !"http".equalsIgnoreCase(next.getScheme())) {
      throw new HubException(id.repo() + ": " + file + ": a redirect to a non-HTTP URL");
    }
    return next;
  }

  private static boolean sameOrigin(URI a, URI b) {
    return a.getScheme().equalsIgnoreCase(b.getScheme()) && a.getHost() != null
        && a.getHost().equalsIgnoreCase(b.getHost()) && a.getPort() == b.getPort();
  }

  /** A header's value, {@code empty} if absent or over 2,000 characters (no header we read is that long). */
  private static Optional<String> header(Response r, String name) {
    return Optional.ofNullable(r.conn().getHeaderField(name)).filter(v -> v.length() <= 2000);
  }

  private HubException httpError(HubId id, String revision, String file, Response r) {
    r.close();
    int s = r.status();
    String code = header(r, "X-Error-Code").orElse("");
    String what = id.repo() + (revision != null ? "@" + revision : "") + (file != null ? ": " + file : "");
    if (s == 401 || s == 403) {
      if (code.equals("RepoNotFound")) {
        return new HubException(what + ": repository not found on " + options.endpoint()
            + " (if it is private, set HF_TOKEN to a token that can read it)");
      }
      return new HubException(what + ": HTTP " + s + ", the repository is gated or private: "
          + (options.token() == null
              ? "accept its terms on the Hub, then set HF_TOKEN to a read token"
              : "the token (HF_TOKEN) has no access; accept the repository's terms on the Hub with its account"));
    }
    if (s == 404) {
      String why = switch (code) {
        case "RevisionNotFound" -> "no revision '" + revision + "'";
        case "EntryNotFound" -> "no such file";
        case "RepoNotFound" -> "repository not found";
        default -> file != null ? "not found" : "repository or revision not found";
      };
      return new HubException(what + ": " + why + " on " + options.endpoint() + " (HTTP 404)");
    }
    return new HubException(what + ": HTTP " + s + " from " + r.uri().getHost());
  }

  private static String encode(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }

  private static String encodePath(String file) {
    StringBuilder sb = new StringBuilder();
    for (String seg : file.split("/")) {
      if (sb.length() > 0) {
        sb.append('/');
      }
      sb.append(encode(seg));
    }
    return sb.toString();
  }

  private void note(String line) {
    PrintStream p = options.progress();
    if (p != null) {
      p.println(line);
    }
  }

  /** One line on stderr, rewritten at most five times a second, for a file of at least the configured size. */
  private final class Progress {
    private final String label;
    private final long total;
    private final long start;
    private final long t0 = System.nanoTime();
    private long shownAt;
    private final boolean on;

    Progress(String label, long total, long start) {
      this.label = label;
      this.total = total;
      this.start = start;
      this.on = options.progress() != null && total >= options.progressMinBytes();
    }

    void update(long done) {
      long now = System.nanoTime();
      if (on && now - shownAt > 200_000_000L) {
        shownAt = now;
        show(done, false);
      }
    }

    void finish(long done) {
      if (on) {
        show(done, true);
      }
    }

    private void show(long done, boolean last) {
      double secs = Math.max(1e-3, (System.nanoTime() - t0) / 1e9);
      double mib = 1 << 20;
      options.progress().printf(Locale.ROOT, "\r%s %3d%% %.1f/%.1f MiB %.1f MiB/s%s", label,
          total == 0 ? 100 : (int) (done * 100 / total), done / mib, total / mib, (done - start) / mib / secs,
          last ? "\n" : "");
      options.progress().flush();
    }
  }
}
