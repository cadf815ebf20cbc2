package io.distilstream.jobs.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.tools.local.LocalSchemaRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The registry client's TLS and credential options against a real registry: Apicurio Registry serving HTTPS only
 * (Quarkus' {@code quarkus.http.ssl.*}), with a server and a client key pair that {@code keytool} makes for this test.
 * Apicurio fixes {@code quarkus.http.ssl.client-auth} when it is built and checks credentials only through an OpenID
 * Connect server, so client certificates and basic and bearer auth are checked by a small reverse proxy in front of
 * it (the JDK's HTTPS server: it requires a client certificate it trusts, compares the {@code Authorization} header,
 * answers 401 as a registry does, and forwards everything else to the registry over its TLS).
 */
class RegistryTlsAuthITCase {
  private static final String PASSWORD = "changeit";
  private static final String TOKEN = "t0ken-that-must-not-leak";
  private static final String USER_INFO = "reader:pa55word-that-must-not-leak";

  @TempDir static Path keys;
  private static LocalSchemaRegistry registry;
  private static HttpsServer proxy;

  @BeforeAll
  static void start() throws Exception {
    String why = LocalSchemaRegistry.unavailableReason();
    Assumptions.assumeTrue(why == null, () -> "no schema registry can run here: " + why);
    keyPair("server", "CN=localhost", "SAN=ip:127.0.0.1,dns:localhost");
    keyPair("client", "CN=distilstream-job", null);
    trust("client-trusts.p12", "server");
    trust("server-trusts.p12", "client");
    Map<String, String> tls = new HashMap<>();
    String c = "quarkus.http.ssl.certificate.";
    tls.put(c + "key-store-file", keys.resolve("server.p12").toString());
    tls.put(c + "key-store-password", PASSWORD);
    tls.put(c + "key-store-file-type", "PKCS12");
    SSLContext client = sslContext("client.p12", "client-trusts.p12");
    registry = LocalSchemaRegistry.startHttps(tls, client);
    proxy = authProxy(URI.create(registry.url()), client);
  }

  @AfterAll
  static void stop() {
    if (proxy != null) {
      proxy.stop(0);
    }
    if (registry != null) {
      registry.close();
    }
  }

  private static Map<String, String> tlsOptions(boolean trustStore, boolean keyStore) {
    return tlsOptions(registry.url(), trustStore, keyStore);
  }

  private static Map<String, String> tlsOptions(String url, boolean trustStore, boolean keyStore) {
    Map<String, String> m = new HashMap<>();
    m.put("schema.registry.url", url);
    if (trustStore) {
      m.put("schema.registry.ssl.truststore.location", keys.resolve("client-trusts.p12").toString());
      m.put("schema.registry.ssl.truststore.password", PASSWORD);
    }
    if (keyStore) {
      m.put("schema.registry.ssl.keystore.location", keys.resolve("client.p12").toString());
      m.put("schema.registry.ssl.keystore.password", PASSWORD);
      m.put("schema.registry.ssl.key.password", PASSWORD);
    }
    return m;
  }

  private static SchemaRegistryClient client(Map<String, String> options) {
    return new SchemaRegistryClient(SchemaRegistryClient.Settings.from(options));
  }

  @Test
  void theTrustStoreReachesTheRegistry() {
    SchemaRegistryClient c = client(tlsOptions(true, false));
    int id = c.register("tls-value", DeadLetter.getClassSchema());
    assertThat(id).isPositive();
    assertThat(c.lookup("tls-value", DeadLetter.getClassSchema())).isEqualTo(id);
    // a new client: the schema comes from the registry, not from the cache of the one that registered it
    assertThat(client(tlsOptions(true, false)).schemaById(id)).isEqualTo(DeadLetter.getClassSchema());
  }

  @Test
  void anUntrustedRegistryIsRefusedNamingTheTrustStoreOption() {
    // no trust store: the JDK's default CAs, which do not hold the test's self-signed server certificate
    SchemaRegistryClient c = client(tlsOptions(false, true));
    assertThatThrownBy(() -> c.register("tls-value", DeadLetter.getClassSchema()))
        .isInstanceOfSatisfying(SchemaRegistryClient.RegistryException.class,
            e -> assertThat(e.kind()).as(e.getMessage())
                .isEqualTo(SchemaRegistryClient.RegistryException.Kind.REFUSED_ACCESS))
        .hasMessageContaining("not trusted")
        .hasMessageContaining("schema.registry.ssl.truststore.location")
        .hasMessageContaining(registry.url());
    // refused, not retried: one request
    assertThat(c.requests()).isEqualTo(1);
  }

  @Test
  void theClientCertificateIsPresentedAndWithoutOneTheServerRefusesNamingTheKeyStoreOption() {
    Map<String, String> withCertificate = viaProxy(Map.of("bearer.auth.credentials.source", "STATIC_TOKEN",
        "bearer.auth.token", TOKEN));
    assertThat(client(withCertificate).register("mtls-value", DeadLetter.getClassSchema())).isPositive();

    Map<String, String> without = new HashMap<>(withCertificate);
    without.keySet().removeIf(k -> k.startsWith("schema.registry.ssl.keystore") || k.endsWith("key.password"));
    SchemaRegistryClient c = client(without);
    assertThatThrownBy(() -> c.register("mtls-value", DeadLetter.getClassSchema()))
        .isInstanceOfSatisfying(SchemaRegistryClient.RegistryException.class,
            e -> assertThat(e.kind()).as(e.getMessage())
                .isEqualTo(SchemaRegistryClient.RegistryException.Kind.REFUSED_ACCESS))
        .hasMessageContaining("schema.registry.ssl.keystore.location");
  }

  /** Options for the proxy: its TLS (trust store and client certificate) and {@code auth}. */
  private static Map<String, String> viaProxy(Map<String, String> auth) {
    Map<String, String> m = tlsOptions(proxyUrl(), true, true);
    m.putAll(auth);
    return m;
  }

  private static String proxyUrl() {
    return "https://127.0.0.1:" + proxy.getAddress().getPort() + "/apis/ccompat/v7";
  }

  @Test
  void theRightBearerTokenWorksAndAWrongOneIsA401WithoutTheToken() {
    Map<String, String> right = viaProxy(Map.of("bearer.auth.credentials.source", "STATIC_TOKEN",
        "bearer.auth.token", TOKEN));
    assertThat(client(right).register("bearer-value", DeadLetter.getClassSchema())).isPositive();

    String wrong = TOKEN + "-old";
    SchemaRegistryClient c = client(viaProxy(Map.of("bearer.auth.credentials.source", "STATIC_TOKEN",
        "bearer.auth.token", wrong)));
    assertThatThrownBy(() -> c.register("bearer-value", DeadLetter.getClassSchema()))
        .isInstanceOfSatisfying(SchemaRegistryClient.RegistryException.class,
            e -> assertThat(e.status()).isEqualTo(401))
        .hasMessageContaining("401")
        .hasMessageContaining("check bearer.auth.token")
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain(wrong));
  }

  @Test
  void basicAuthFromUserInfoOrTheUrlWorksAndAWrongPasswordIsA401WithoutIt() {
    assertThat(client(viaProxy(Map.of("basic.auth.user.info", USER_INFO)))
        .register("basic-value", DeadLetter.getClassSchema())).isPositive();
    Map<String, String> inUrl = viaProxy(Map.of("basic.auth.credentials.source", "URL"));
    inUrl.put("schema.registry.url", proxyUrl().replace("https://", "https://" + USER_INFO + "@"));
    assertThat(client(inUrl).lookup("basic-value", DeadLetter.getClassSchema())).isPositive();

    String wrong = "reader:guess-that-must-not-leak";
    SchemaRegistryClient c = client(viaProxy(Map.of("basic.auth.user.info", wrong)));
    assertThatThrownBy(() -> c.lookup("basic-value", DeadLetter.getClassSchema()))
        .isInstanceOfSatisfying(SchemaRegistryClient.RegistryException.class,
            e -> assertThat(e.status()).isEqualTo(401))
        .hasMessageContaining("check basic.auth.user.info")
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("guess-that-must-not-leak"));
    // no credentials at all: the message says which options take them
    assertThatThrownBy(() -> client(viaProxy(Map.of())).lookup("basic-value", DeadLetter.getClassSchema()))
        .hasMessageContaining("none configured; set basic.auth.user.info or bearer.auth.token");
  }

  @Test
  void readingWithRefusedCredentialsHoldsTheRecordWithoutADeadLetter() throws Exception {
    EventDecoder d = new EventDecoder(EventDecoder.Format.AVRO_CONFLUENT, EventDecoder.Limits.DEFAULTS,
        SchemaRegistryClient.Settings.from(viaProxy(Map.of("bearer.auth.credentials.source", "STATIC_TOKEN",
            "bearer.auth.token", "expired"))));
    // the record is not at fault: no dead letter per record while the registry refuses the job's credentials
    CountDownLatch refused = new CountDownLatch(2);
    d.confluent().onUnavailable = attempt -> refused.countDown();
    List<DeadLetter> dead = new ArrayList<>();
    AtomicReference<Throwable> failed = new AtomicReference<>();
    Thread t = new Thread(() -> {
      try {
        d.processElement(ConfluentFormatITCase.raw(new byte[] {0, 0, 0, 0, 7, 2, 'x'}),
            ConfluentFormatITCase.context(d, dead), ConfluentFormatITCase.collector(new ArrayList<>()));
      } catch (Throwable e) {
        failed.set(e);
      }
    });
    t.start();
    assertThat(refused.await(60, TimeUnit.SECONDS)).isTrue();
    t.interrupt(); // what Flink does to a task it cancels
    t.join(TimeUnit.SECONDS.toMillis(60));
    assertThat(t.isAlive()).isFalse();
    assertThat(failed.get()).isInstanceOf(CancellationException.class);
    assertThat(dead).isEmpty();
  }

  /**
   * A TLS reverse proxy that requires a client certificate it trusts, and lets a request through to {@code registry}
   * only with the test's bearer token or basic credentials, as a registry behind an authenticating gateway does;
   * else 401 with a registry's error body.
   */
  private static HttpsServer authProxy(URI registry, SSLContext tls) throws Exception {
    HttpClient upstream = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).sslContext(tls).build();
    String origin = registry.getScheme() + "://" + registry.getRawAuthority();
    List<String> accepted = List.of("Bearer " + TOKEN,
        "Basic " + Base64.getEncoder().encodeToString(USER_INFO.getBytes(StandardCharsets.UTF_8)));
    HttpsServer server = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.setHttpsConfigurator(new HttpsConfigurator(sslContext("server.p12", "server-trusts.p12")) {
      @Override
      public void configure(HttpsParameters params) {
        SSLParameters p = getSSLContext().getDefaultSSLParameters();
        p.setNeedClientAuth(true);
        params.setSSLParameters(p);
      }
    });
    server.createContext("/", exchange -> {
      try (exchange) {
        String auth = exchange.getRequestHeaders().getFirst("Authorization");
        if (auth == null || !accepted.contains(auth)) {
          respond(exchange, 401, "{\"error_code\":40101,\"message\":\"Unauthorized\"}");
          return;
        }
        byte[] body = exchange.getRequestBody().readAllBytes();
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create(origin + exchange.getRequestURI()))
            .method(exchange.getRequestMethod(), HttpRequest.BodyPublishers.ofByteArray(body));
        for (String h : List.of("Content-Type", "Accept")) {
          String v = exchange.getRequestHeaders().getFirst(h);
          if (v != null) {
            r.header(h, v);
          }
        }
        HttpResponse<String> answer = upstream.send(r.build(), HttpResponse.BodyHandlers.ofString());
        respond(exchange, answer.statusCode(), answer.body());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    server.start();
    return server;
  }

  private static void respond(HttpExchange exchange, int status, String body) throws IOException {
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", "application/vnd.schemaregistry.v1+json");
    exchange.sendResponseHeaders(status, b.length == 0 ? -1 : b.length);
    if (b.length > 0) {
      exchange.getResponseBody().write(b);
    }
  }

  /** A self-signed key pair in {@code NAME.p12} and its certificate in {@code NAME.crt}. */
  private static void keyPair(String name, String dname, String san) throws Exception {
    List<String> gen = new ArrayList<>(List.of("-genkeypair", "-alias", name, "-keyalg", "EC", "-groupname",
        "secp256r1", "-dname", dname, "-validity", "2", "-keystore", keys.resolve(name + ".p12").toString(),
        "-storetype", "PKCS12", "-storepass", PASSWORD, "-keypass", PASSWORD));
    if (san != null) {
      gen.addAll(List.of("-ext", san));
    }
    keytool(gen);
    keytool(List.of("-exportcert", "-alias", name, "-keystore", keys.resolve(name + ".p12").toString(),
        "-storepass", PASSWORD, "-file", keys.resolve(name + ".crt").toString()));
  }

  /** A trust store {@code file} that holds {@code name}'s certificate. */
  private static void trust(String file, String name) throws Exception {
    keytool(List.of("-importcert", "-noprompt", "-alias", name, "-file", keys.resolve(name + ".crt").toString(),
        "-keystore", keys.resolve(file).toString(), "-storetype", "PKCS12", "-storepass", PASSWORD));
  }

  private static void keytool(List<String> args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(Paths.get(System.getProperty("java.home"), "bin", "keytool").toString());
    cmd.addAll(args);
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("keytool " + args).isTrue();
    assertThat(p.exitValue()).as("keytool " + args + ": " + out).isZero();
  }

  /** A TLS context with the key pair in {@code keyStore} that trusts the certificates in {@code trustStore}. */
  private static SSLContext sslContext(String keyStore, String trustStore) throws Exception {
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(load(trustStore));
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(load(keyStore), PASSWORD.toCharArray());
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
    return ctx;
  }

  private static KeyStore load(String file) throws Exception {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(keys.resolve(file))) {
      ks.load(in, PASSWORD.toCharArray());
    }
    return ks;
  }
}
