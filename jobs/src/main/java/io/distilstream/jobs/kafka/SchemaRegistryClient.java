package io.distilstream.jobs.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509KeyManager;
import org.apache.avro.Schema;

/**
 * A small client of the Confluent Schema Registry REST API (Confluent's registry, Apicurio's {@code /apis/ccompat/v7},
 * Karapace, Redpanda): register a schema under a subject ({@code POST /subjects/{subject}/versions}), look one up
 * ({@code POST /subjects/{subject}}) and fetch a writer schema by id ({@code GET /schemas/ids/{id}}). Ids never
 * change, so schemas by id are cached for good, in a bounded LRU ({@code schema.registry.cache.capacity}); a schema
 * the registry sends is read only up to {@code schema.registry.max.schema.bytes}.
 *
 * <p>Each call tries the configured URLs in turn and fails with a {@link RegistryException} saying whether the
 * registry was unreachable ({@link RegistryException.Kind#UNAVAILABLE}: connection errors, timeouts, 5xx, 408,
 * 429: worth retrying), answered that the thing is not there ({@code NOT_FOUND}) or refused the request
 * ({@code REJECTED}: 409 incompatible, 422 invalid, 401/403). Retrying is the caller's choice.
 */
public final class SchemaRegistryClient {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";

  private final Settings settings;
  private final HttpClient http;
  private final String authorization;
  private final Map<Integer, Schema> byId;
  private final AtomicLong requests = new AtomicLong();
  /**
   * TLS handshakes in which the registry asked for a client certificate: a TLS 1.3 server that refuses the
   * certificate (or its absence) only closes the connection after the handshake, so this is how a failed request
   * can say that the key store is the setting to look at.
   */
  private final AtomicLong certificateRequests = new AtomicLong();

  public SchemaRegistryClient(Settings settings) {
    this.settings = settings;
    // HTTP/1.1: no h2c upgrade dance with registries behind proxies that mishandle it
    HttpClient.Builder b = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(settings.requestTimeout())
        .followRedirects(HttpClient.Redirect.NEVER);
    // without schema.registry.ssl.* options but with the JVM's javax.net.ssl.keyStore, the JDK's default context
    // (which presents that key store's certificate) stays in charge, as before
    boolean jvmKeyStore = !settings.hasTls() && System.getProperty("javax.net.ssl.keyStore") != null;
    if (settings.urls().stream().anyMatch(u -> u.startsWith("https:")) && !jvmKeyStore) {
      b.sslContext(sslContext(settings, certificateRequests));
    }
    this.http = b.build();
    this.authorization = authorization(settings);
    this.byId = lru(settings.cacheCapacity());
  }

  public Settings settings() {
    return settings;
  }

  /** HTTP requests sent so far (every attempt at every URL): tests check what the caches saved. */
  public long requests() {
    return requests.get();
  }

  /** The writer schema with this id, from the cache or the registry. */
  public Schema schemaById(int id) {
    synchronized (byId) {
      Schema s = byId.get(id);
      if (s != null) {
        return s;
      }
    }
    JsonNode n = call("GET", "/schemas/ids/" + id, null);
    String type = n.path("schemaType").asText("AVRO");
    if (!"AVRO".equalsIgnoreCase(type)) {
      throw new RegistryException(RegistryException.Kind.REJECTED, 200, 0,
          "schema id " + id + " is a " + type + " schema, not Avro");
    }
    Schema s = parse(n.path("schema").asText(), "schema id " + id);
    synchronized (byId) {
      byId.put(id, s);
    }
    return s;
  }

  /** Registers {@code schema} under {@code subject} (an existing equal version keeps its id) and returns its id. */
  public int register(String subject, Schema schema) {
    return call("POST", "/subjects/" + encode(subject) + "/versions", body(schema)).path("id").asInt(-1);
  }

  /** The id of {@code schema} as registered under {@code subject}; {@code NOT_FOUND} when it is not. */
  public int lookup(String subject, Schema schema) {
    return call("POST", "/subjects/" + encode(subject), body(schema)).path("id").asInt(-1);
  }

  /** The id of {@code schema} under {@code subject}, or empty when it is not registered there; registers nothing. */
  public OptionalInt find(String subject, Schema schema) {
    try {
      int id = lookup(subject, schema);
      return id < 0 ? OptionalInt.empty() : OptionalInt.of(id);
    } catch (RegistryException e) {
      if (e.kind() == RegistryException.Kind.NOT_FOUND) {
        return OptionalInt.empty();
      }
      throw e;
    }
  }

  /**
   * Why registering {@code schema} under {@code subject} would be refused under the subject's compatibility level
   * ({@code POST /compatibility/subjects/{s}/versions/latest}): empty when it would be accepted, or when the subject
   * has no version yet; the registry's messages when not (one line saying it gave none when it gave none).
   */
  public List<String> incompatibilities(String subject, Schema schema) {
    JsonNode n;
    try {
      n = call("POST", "/compatibility/subjects/" + encode(subject) + "/versions/latest?verbose=true", body(schema));
    } catch (RegistryException e) {
      if (e.kind() == RegistryException.Kind.NOT_FOUND) {
        return List.of();
      }
      throw e;
    }
    if (n.path("is_compatible").asBoolean(true)) {
      return List.of();
    }
    List<String> messages = new ArrayList<>();
    n.path("messages").forEach(m -> messages.add(clip(m.asText())));
    return messages.isEmpty() ? List.of("the registry gave no reason") : messages;
  }

  /** The registry's subjects ({@code GET /subjects}). */
  public List<String> subjects() {
    List<String> out = new ArrayList<>();
    call("GET", "/subjects", null).forEach(n -> out.add(n.asText()));
    return out;
  }

  /** Registers or, with {@code auto.register.schemas=false}, looks up. */
  public int idFor(String subject, Schema schema) {
    int id = settings.autoRegister() ? register(subject, schema) : lookup(subject, schema);
    if (id < 0) {
      throw new RegistryException(RegistryException.Kind.REJECTED, 200, 0,
          "the registry's answer for subject '" + subject + "' carried no id");
    }
    synchronized (byId) {
      byId.put(id, schema);
    }
    return id;
  }

  /** Sets a subject's compatibility level ({@code PUT /config/{subject}}): BACKWARD, FORWARD, FULL, NONE, ... */
  public void setCompatibility(String subject, String level) {
    call("PUT", "/config/" + encode(subject), "{\"compatibility\":\"" + level + "\"}");
  }

  private static String body(Schema schema) {
    try {
      return JSON.writeValueAsString(Map.of("schema", schema.toString()));
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private Schema parse(String text, String what) {
    try {
      return new Schema.Parser().parse(text);
    } catch (RuntimeException e) {
      throw new RegistryException(RegistryException.Kind.REJECTED, 200, 0,
          what + " is not a valid Avro schema: " + e.getMessage());
    }
  }

  private static String encode(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }

  private JsonNode call(String method, String path, String body) {
    RegistryException last = null;
    for (String url : settings.urls()) {
      HttpRequest.Builder r = HttpRequest.newBuilder(URI.create(url + path))
          .timeout(settings.requestTimeout())
          .header("Accept", CONTENT_TYPE + ", application/json");
      if (authorization != null) {
        r.header("Authorization", authorization);
      }
      r.method(method, body == null ? HttpRequest.BodyPublishers.noBody()
          : HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
      if (body != null) {
        r.header("Content-Type", CONTENT_TYPE);
      }
      requests.incrementAndGet();
      long asked = certificateRequests.get();
      HttpResponse<InputStream> response;
      try {
        response = http.send(r.build(), HttpResponse.BodyHandlers.ofInputStream());
      } catch (IOException e) {
        String tls = tlsRefusal(e, certificateRequests.get() > asked, settings.keystoreLocation() != null);
        if (tls != null) {
          // a certificate either side refuses is a setting to change, not an outage to wait out
          throw new RegistryException(RegistryException.Kind.REFUSED_ACCESS, 0, 0,
              "TLS with the schema registry at " + url + " failed: " + tls);
        }
        last = new RegistryException(RegistryException.Kind.UNAVAILABLE, 0, 0,
            "the schema registry at " + url + " did not answer " + method + " " + path + ": " + e);
        continue;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new java.util.concurrent.CancellationException("interrupted while calling the schema registry");
      }
      String text;
      try (InputStream in = response.body()) {
        // a schema (or an error) larger than the bound is refused before it is buffered whole
        byte[] b = in.readNBytes(settings.maxSchemaBytes() + 1);
        if (b.length > settings.maxSchemaBytes()) {
          throw new RegistryException(RegistryException.Kind.REJECTED, response.statusCode(), 0,
              "the schema registry's answer to " + method + " " + path + " is over schema.registry.max.schema.bytes ("
              + settings.maxSchemaBytes() + ")");
        }
        text = new String(b, StandardCharsets.UTF_8);
      } catch (IOException e) {
        last = new RegistryException(RegistryException.Kind.UNAVAILABLE, response.statusCode(), 0,
            "reading the schema registry's answer from " + url + " failed: " + e);
        continue;
      }
      int status = response.statusCode();
      if (status / 100 == 2) {
        try {
          return text.isEmpty() ? JSON.createObjectNode() : JSON.readTree(text);
        } catch (IOException e) {
          throw new RegistryException(RegistryException.Kind.REJECTED, status, 0,
              "the schema registry at " + url + " answered " + method + " " + path + " with invalid JSON");
        }
      }
      int code = 0;
      String message = text;
      try {
        JsonNode err = JSON.readTree(text);
        code = err.path("error_code").asInt(0);
        message = err.path("message").asText(text);
      } catch (IOException | RuntimeException ignored) {
        // not a JSON error body: its text is the message
      }
      String what = "the schema registry at " + url + " answered " + method + " " + path + " with " + status
          + (code != 0 ? " (error " + code + ")" : "") + ": " + clip(message);
      if (status == 401 || status == 403) {
        // names the options, never their values
        what += status == 401
            ? " (credentials: " + (authorization == null ? "none configured; set basic.auth.user.info or"
                + " bearer.auth.token" : "check " + (settings.bearerToken() != null ? "bearer.auth.token"
                : "basic.auth.user.info")) + ")"
            : " (the credentials are valid but not allowed this request)";
      }
      if (status >= 500 || status == 408 || status == 429) {
        last = new RegistryException(RegistryException.Kind.UNAVAILABLE, status, code, what);
        continue;
      }
      throw new RegistryException(status == 404 ? RegistryException.Kind.NOT_FOUND
          : status == 401 || status == 403 ? RegistryException.Kind.REFUSED_ACCESS : RegistryException.Kind.REJECTED,
          status, code, what);
    }
    throw last;
  }

  /**
   * What a TLS failure that configuration must fix says, naming the option to set, or null for any other I/O
   * failure: a server certificate the trust store does not hold, or a server that wants a client certificate.
   */
  static String tlsRefusal(IOException e, boolean certificateRequested, boolean haveCertificate) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof java.security.cert.CertificateException
          || t instanceof java.security.cert.CertPathBuilderException
          || t instanceof java.security.cert.CertPathValidatorException) {
        return "the registry's certificate is not trusted (" + t.getMessage() + "): set"
            + " schema.registry.ssl.truststore.location (and .password, .type) to a trust store that holds it or"
            + " its CA";
      }
      String m = String.valueOf(t.getMessage());
      // the JDK's HTTP client passes a TLS alert on as a plain IOException with the alert's text
      if (m.contains("certificate_required") || m.contains("bad_certificate")) {
        return keyStoreHint("the registry refused this client's certificate or wants one (" + m + ")");
      }
    }
    if (certificateRequested) {
      return keyStoreHint("the registry asked for a client certificate, " + (haveCertificate
          ? "was given the key store's, and closed the connection (" : "none is configured, and it closed the"
          + " connection (") + e.getMessage() + ")");
    }
    return null;
  }

  private static String keyStoreHint(String what) {
    return what + ": set schema.registry.ssl.keystore.location (and .password, .type, schema.registry.ssl.key.password)"
        + " to a key store with a certificate the registry trusts";
  }

  private static String clip(String s) {
    return s.length() <= 500 ? s : s.substring(0, 500) + "…";
  }

  private static String authorization(Settings s) {
    if (s.bearerToken() != null) {
      return "Bearer " + s.bearerToken();
    }
    if (s.userInfo() != null) {
      return "Basic " + Base64.getEncoder().encodeToString(s.userInfo().getBytes(StandardCharsets.UTF_8));
    }
    return null;
  }

  /** TLS with the configured stores (the JDK's trust store when none is), counting certificate requests. */
  private static SSLContext sslContext(Settings s, AtomicLong certificateRequests) {
    try {
      TrustManagerFactory tmf = null;
      if (s.truststoreLocation() != null) {
        tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(keyStore(s.truststoreLocation(), s.truststoreType(), s.truststorePassword()));
      }
      KeyManagerFactory kmf = null;
      if (s.keystoreLocation() != null) {
        kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        String keyPassword = s.keyPassword() != null ? s.keyPassword() : s.keystorePassword();
        kmf.init(keyStore(s.keystoreLocation(), s.keystoreType(), s.keystorePassword()),
            keyPassword == null ? new char[0] : keyPassword.toCharArray());
      }
      X509KeyManager keys = null;
      if (kmf != null) {
        for (KeyManager k : kmf.getKeyManagers()) {
          if (k instanceof X509KeyManager x) {
            keys = x;
          }
        }
      }
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(new KeyManager[] {new CountingKeyManager(keys, certificateRequests)},
          tmf == null ? null : tmf.getTrustManagers(), null);
      return ctx;
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalArgumentException("the schema registry's TLS settings (schema.registry.ssl.*) cannot be"
          + " used: " + e, e);
    }
  }

  /** The key store's key manager (or none), noting each time a server asks for a client certificate. */
  private static final class CountingKeyManager extends X509ExtendedKeyManager {
    private final X509KeyManager keys;
    private final AtomicLong requests;

    CountingKeyManager(X509KeyManager keys, AtomicLong requests) {
      this.keys = keys;
      this.requests = requests;
    }

    @Override
    public String chooseEngineClientAlias(String[] keyType, java.security.Principal[] issuers, SSLEngine engine) {
      requests.incrementAndGet();
      if (keys instanceof X509ExtendedKeyManager x) {
        return x.chooseEngineClientAlias(keyType, issuers, engine);
      }
      return keys == null ? null : keys.chooseClientAlias(keyType, issuers, null);
    }

    @Override
    public String chooseClientAlias(String[] keyType, java.security.Principal[] issuers, java.net.Socket socket) {
      requests.incrementAndGet();
      return keys == null ? null : keys.chooseClientAlias(keyType, issuers, socket);
    }

    @Override
    public String[] getClientAliases(String keyType, java.security.Principal[] issuers) {
      return keys == null ? null : keys.getClientAliases(keyType, issuers);
    }

    @Override
    public java.security.cert.X509Certificate[] getCertificateChain(String alias) {
      return keys == null ? null : keys.getCertificateChain(alias);
    }

    @Override
    public java.security.PrivateKey getPrivateKey(String alias) {
      return keys == null ? null : keys.getPrivateKey(alias);
    }

    @Override
    public String[] getServerAliases(String keyType, java.security.Principal[] issuers) {
      return null;
    }

    @Override
    public String chooseServerAlias(String keyType, java.security.Principal[] issuers, java.net.Socket socket) {
      return null;
    }
  }

  private static KeyStore keyStore(String location, String type, String password)
      throws GeneralSecurityException, IOException {
    KeyStore ks = KeyStore.getInstance(type);
    try (InputStream in = Files.newInputStream(Paths.get(location))) {
      ks.load(in, password == null ? null : password.toCharArray());
    }
    return ks;
  }

  static <K, V> Map<K, V> lru(int capacity) {
    return new LinkedHashMap<>(16, 0.75f, true) {
      private static final long serialVersionUID = 1L;

      @Override
      protected boolean removeEldestEntry(Map.Entry<K, V> eldest) {
        return size() > capacity;
      }
    };
  }

  /**
   * How a call failed; {@link Kind#UNAVAILABLE} is worth retrying, the others are answers; {@link Kind#REFUSED_ACCESS}
   * (TLS or credentials refused, 401, 403) is about this client's settings, not about the schema or record asked for.
   */
  public static final class RegistryException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public enum Kind { UNAVAILABLE, NOT_FOUND, REJECTED, REFUSED_ACCESS }

    private final Kind kind;
    private final int status;
    private final int errorCode;

    RegistryException(Kind kind, int status, int errorCode, String message) {
      super(message);
      this.kind = kind;
      this.status = status;
      this.errorCode = errorCode;
    }

    public Kind kind() { return kind; }
    /** The HTTP status, 0 when there was no answer. */
    public int status() { return status; }
    /** The registry's {@code error_code} (40401 subject not found, 40403 schema not found, 409 ...), or 0. */
    public int errorCode() { return errorCode; }
  }

  /** Subject names for a topic's values, as Confluent's strategies name them. */
  public enum SubjectNameStrategy {
    /** {@code <topic>-value} (Confluent's default, {@code TopicNameStrategy}). */
    TOPIC,
    /** the record's full name ({@code RecordNameStrategy}). */
    RECORD,
    /** {@code <topic>-<record full name>} ({@code TopicRecordNameStrategy}). */
    TOPIC_RECORD;

    public String subject(String topic, Schema schema) {
      switch (this) {
        case RECORD: return schema.getFullName();
        case TOPIC_RECORD: return topic + "-" + schema.getFullName();
        default: return topic + "-value";
      }
    }

    /** {@code topic}, {@code record}, {@code topic-record}, or Confluent's class names for them. */
    public static SubjectNameStrategy parse(String s) {
      String simple = s.trim().substring(s.trim().lastIndexOf('.') + 1).toLowerCase(Locale.ROOT);
      switch (simple) {
        case "topic": case "topicnamestrategy": return TOPIC;
        case "record": case "recordnamestrategy": return RECORD;
        case "topic-record": case "topicrecordnamestrategy": return TOPIC_RECORD;
        default:
          throw new IllegalArgumentException("value.subject.name.strategy must be topic, record or topic-record"
              + " (or Confluent's TopicNameStrategy, RecordNameStrategy, TopicRecordNameStrategy), got '" + s + "'");
      }
    }
  }

  /**
   * The registry options, under the names Confluent's clients use.
   *
   * @param urls {@code schema.registry.url}: one or more base URLs, comma-separated, tried in turn
   * @param userInfo {@code basic.auth.user.info} ({@code user:password}) with {@code basic.auth.credentials.source}
   *     USER_INFO, or the user info of the URL with URL; null: no basic auth
   * @param bearerToken {@code bearer.auth.token} with {@code bearer.auth.credentials.source=STATIC_TOKEN}
   * @param autoRegister {@code auto.register.schemas} (true): register output schemas, else only look them up
   * @param subjectStrategy {@code value.subject.name.strategy} (topic)
   * @param cacheCapacity {@code schema.registry.cache.capacity} (1000): schemas kept by id, and by unknown id
   * @param maxSchemaBytes {@code schema.registry.max.schema.bytes} (1 MiB): largest registry answer read
   * @param requestTimeout {@code schema.registry.request.timeout.ms} (10000)
   */
  public record Settings(List<String> urls, String userInfo, String bearerToken, String truststoreLocation,
      String truststorePassword, String truststoreType, String keystoreLocation, String keystorePassword,
      String keystoreType, String keyPassword, boolean autoRegister, SubjectNameStrategy subjectStrategy,
      int cacheCapacity, int maxSchemaBytes, Duration requestTimeout) implements Serializable {
    public static final String URL = "schema.registry.url";

    public Settings {
      urls = List.copyOf(urls);
      if (urls.isEmpty()) {
        throw new IllegalArgumentException(URL + " is required for the avro-confluent format");
      }
      if (cacheCapacity < 1 || maxSchemaBytes < 1024) {
        throw new IllegalArgumentException("schema.registry.cache.capacity must be >= 1 and"
            + " schema.registry.max.schema.bytes >= 1024; got " + cacheCapacity + ", " + maxSchemaBytes);
      }
    }

    boolean hasTls() {
      return truststoreLocation != null || keystoreLocation != null;
    }

    /** The settings in {@code conf} (the job's flat keys); null when {@code schema.registry.url} is not set. */
    public static Settings from(Map<String, String> conf) {
      String url = conf.get(URL);
      if (url == null || url.isBlank()) {
        return null;
      }
      List<String> urls = new ArrayList<>();
      String urlUserInfo = null;
      for (String u : url.split(",")) {
        URI uri = URI.create(u.trim());
        if (uri.getScheme() == null || !List.of("http", "https").contains(uri.getScheme())) {
          throw new IllegalArgumentException(URL + " must hold http(s) URLs, got '" + u.trim() + "'");
        }
        if (uri.getUserInfo() != null) {
          urlUserInfo = uri.getUserInfo();
        }
        // the user info goes in a header, never in the request line
        String base = uri.getScheme() + "://" + uri.getHost() + (uri.getPort() >= 0 ? ":" + uri.getPort() : "")
            + (uri.getRawPath() == null ? "" : uri.getRawPath());
        urls.add(base.endsWith("/") ? base.substring(0, base.length() - 1) : base);
      }
      String source = conf.getOrDefault("basic.auth.credentials.source", "USER_INFO").trim().toUpperCase(Locale.ROOT);
      String userInfo;
      switch (source) {
        case "USER_INFO": userInfo = blankToNull(conf.get("basic.auth.user.info")); break;
        case "URL": userInfo = urlUserInfo; break;
        default:
          throw new IllegalArgumentException("basic.auth.credentials.source must be USER_INFO or URL, got '"
              + source + "'");
      }
      String bearer = null;
      String bearerSource = conf.get("bearer.auth.credentials.source");
      if (bearerSource != null) {
        if (!"STATIC_TOKEN".equalsIgnoreCase(bearerSource.trim())) {
          throw new IllegalArgumentException("bearer.auth.credentials.source: only STATIC_TOKEN is supported, got '"
              + bearerSource + "'");
        }
        bearer = blankToNull(conf.get("bearer.auth.token"));
        if (bearer == null) {
          throw new IllegalArgumentException("bearer.auth.credentials.source=STATIC_TOKEN needs bearer.auth.token");
        }
      }
      String p = "schema.registry.ssl.";
      return new Settings(urls, userInfo, bearer, blankToNull(conf.get(p + "truststore.location")),
          blankToNull(conf.get(p + "truststore.password")), conf.getOrDefault(p + "truststore.type", "PKCS12").trim(),
          blankToNull(conf.get(p + "keystore.location")), blankToNull(conf.get(p + "keystore.password")),
          conf.getOrDefault(p + "keystore.type", "PKCS12").trim(), blankToNull(conf.get(p + "key.password")),
          Boolean.parseBoolean(conf.getOrDefault("auto.register.schemas", "true").trim()),
          SubjectNameStrategy.parse(conf.getOrDefault("value.subject.name.strategy", "topic")),
          integer(conf, "schema.registry.cache.capacity", 1000),
          integer(conf, "schema.registry.max.schema.bytes", 1024 * 1024),
          Duration.ofMillis(integer(conf, "schema.registry.request.timeout.ms", 10_000)));
    }

    private static int integer(Map<String, String> conf, String key, int dflt) {
      String v = conf.get(key);
      try {
        return v == null ? dflt : Integer.parseInt(v.trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(key + " must be a number, got '" + v + "'");
      }
    }

    private static String blankToNull(String s) {
      return s == null || s.isBlank() ? null : s.trim();
    }

    @Override
    public String toString() {
      // no secrets in logs
      String auth = bearerToken != null ? "bearer" : userInfo != null ? "basic" : "none";
      return "Settings[urls=" + urls + ", auth=" + auth
          + ", tls=" + hasTls() + ", autoRegister=" + autoRegister + ", subjectStrategy=" + subjectStrategy + "]";
    }
  }
}
