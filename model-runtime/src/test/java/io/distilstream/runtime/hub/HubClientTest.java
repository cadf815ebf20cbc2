package io.distilstream.runtime.hub;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.heads.LabelScore;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.pipeline.Pipeline;
import io.distilstream.runtime.pipeline.PipelineOptions;
import io.distilstream.runtime.pipeline.TextClassificationPipeline;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Hub client against {@link LocalHub}, a local server speaking the Hub's HTTP interface: what it fetches, the
 * huggingface_hub cache layout it leaves, resumed downloads, gated and missing repositories, offline mode.
 */
class HubClientTest {
  private static final String SST2 = "distilstream-test/tiny-sst2";
  private static final byte[] NOT_OURS = "weights of another framework".getBytes(StandardCharsets.UTF_8);

  @TempDir
  Path cache;
  private LocalHub hub;
  private LocalHub.Repo sst2;
  private final ByteArrayOutputStream progress = new ByteArrayOutputStream();

  @BeforeEach
  void start() throws Exception {
    hub = new LocalHub();
    Path seq = SharedModels.model(SharedModels.SEQ_CLS);
    sst2 = hub.add(SST2, seq, false, Map.of("pytorch_model.bin", NOT_OURS, "tf_model.h5", NOT_OURS));
  }

  @AfterEach
  void stop() {
    hub.close();
  }

  private HubOptions options() {
    return HubOptions.fromEnvironment(Map.of("HF_HUB_CACHE", cache.toString(), "HF_ENDPOINT", hub.endpoint()),
        cache).progress(new PrintStream(progress, true, StandardCharsets.UTF_8), 1 << 20);
  }

  @Test
  void fetchesConfigTokenizerAndOneOnnxIntoTheHuggingfaceHubLayout() throws Exception {
    Path snap = ModelSource.resolve(SST2, options());

    Path repoDir = cache.resolve("models--distilstream-test--tiny-sst2");
    assertThat(snap).isEqualTo(repoDir.resolve("snapshots").resolve(sst2.commit()));
    assertThat(Files.readString(repoDir.resolve("refs/main"))).isEqualTo(sst2.commit());
    try (var list = Files.list(snap)) {
      assertThat(list.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder(
          "config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "model.onnx");
    }
    byte[] onnx = sst2.files().get("model.onnx");
    String sha256 = LocalHub.hex("SHA-256", onnx);
    assertThat(Files.readSymbolicLink(snap.resolve("model.onnx"))).isEqualTo(Path.of("../../blobs/" + sha256));
    assertThat(Files.readSymbolicLink(snap.resolve("config.json")))
        .isEqualTo(Path.of("../../blobs/" + LocalHub.gitSha1(sst2.files().get("config.json"))));
    assertThat(Files.readAllBytes(snap.resolve("model.onnx"))).isEqualTo(onnx);
    assertThat(hub.requests).noneMatch(r -> r.contains("pytorch_model") || r.contains("tf_model")
        || r.contains("safetensors") || r.contains("golden"));
    assertThat(hub.requests).anyMatch(r -> r.startsWith("GET /cdn/" + sha256));
    assertThat(progress.toString(StandardCharsets.UTF_8)).contains("model.onnx").contains("100%");

    // the fetched model is the local one: same results, and its version is the commit
    ModelDirectory dir = ModelDirectory.of(snap);
    assertThat(dir.version()).isEqualTo(sst2.commit());
    assertThat(dir.hubCommit()).isEqualTo(sst2.commit());
    try (TextClassificationPipeline fetched = Pipeline.textClassification(snap, PipelineOptions.defaults());
         TextClassificationPipeline local = Pipeline.textClassification(SharedModels.model(SharedModels.SEQ_CLS),
             PipelineOptions.defaults())) {
      List<LabelScore> a = fetched.run("a wonderful little film");
      List<LabelScore> b = local.run("a wonderful little film");
      assertThat(a.get(0).label()).isEqualTo(b.get(0).label());
      assertThat(a.get(0).score()).isEqualTo(b.get(0).score());
    }

    // a second resolve asks for the commit and downloads nothing
    hub.requests.clear();
    assertThat(ModelSource.resolve(SST2 + "@main", options())).isEqualTo(snap);
    assertThat(hub.requests).containsExactly("GET /api/models/" + SST2 + "/revision/main");
  }

  @Test
  void offlineModeAnswersFromTheCacheWithoutARequest() throws Exception {
    Path snap = ModelSource.resolve(SST2, options());
    hub.requests.clear();
    assertThat(ModelSource.resolve(SST2, options().offline(true))).isEqualTo(snap);
    assertThat(ModelSource.resolve(SST2 + "@" + sst2.commit(), options().offline(true))).isEqualTo(snap);
    assertThat(hub.requests).isEmpty();
    assertThatThrownBy(() -> ModelSource.resolve("distilstream-test/never-fetched", options().offline(true)))
        .isInstanceOf(HubException.class).hasMessageContaining("HF_HUB_OFFLINE").hasMessageContaining("not in the cache");

    // no network: the cache, with a note; nothing cached: a clear error
    String endpoint = hub.endpoint();
    hub.close();
    HubOptions down = options().endpoint(endpoint);
    assertThat(ModelSource.resolve(SST2, down)).isEqualTo(snap);
    assertThat(progress.toString(StandardCharsets.UTF_8)).contains("cannot reach").contains("using the cached");
    assertThatThrownBy(() -> ModelSource.resolve("distilstream-test/never-fetched", down))
        .isInstanceOf(HubException.class).hasMessageContaining("cannot reach " + endpoint);
  }

  @Test
  void aConnectionDroppedMidFileResumesWithRange() throws Exception {
    hub.dropNext(sst2, "model.onnx", 1);
    Path snap = ModelSource.resolve(SST2, options());
    byte[] onnx = sst2.files().get("model.onnx");
    String sha = LocalHub.hex("SHA-256", onnx);
    assertThat(Files.readAllBytes(snap.resolve("model.onnx"))).isEqualTo(onnx);
    assertThat(hub.requests).contains("GET /cdn/" + sha + " bytes=" + onnx.length / 2 + "-");
    assertThat(cache.resolve("models--distilstream-test--tiny-sst2/blobs/" + sha + ".incomplete")).doesNotExist();
  }

  @Test
  void aDownloadThatKeepsFailingIsKeptAndResumedByTheNextRun() throws Exception {
    byte[] onnx = sst2.files().get("model.onnx");
    String sha = LocalHub.hex("SHA-256", onnx);
    hub.dropNext(sst2, "model.onnx", HubClient.MAX_ATTEMPTS);
    assertThatThrownBy(() -> ModelSource.resolve(SST2, options()))
        .isInstanceOf(HubException.class).hasMessageContaining("model.onnx: download incomplete")
        .hasMessageContaining("run again to resume");
    Path part = cache.resolve("models--distilstream-test--tiny-sst2/blobs/" + sha + ".incomplete");
    long kept = Files.size(part);
    assertThat(kept).isGreaterThan(onnx.length / 2).isLessThan(onnx.length);

    hub.requests.clear();
    Path snap = ModelSource.resolve(SST2, options());
    assertThat(Files.readAllBytes(snap.resolve("model.onnx"))).isEqualTo(onnx);
    assertThat(hub.requests).contains("GET /cdn/" + sha + " bytes=" + kept + "-");
    assertThat(part).doesNotExist();
  }

  @Test
  void safetensorsWithoutOnnxIsFetchedAndBuiltOnLoad() throws Exception {
    Map<String, byte[]> noOnnx = new HashMap<>();
    noOnnx.put("model.onnx", null);
    hub.add("distilstream-test/st-only", SharedModels.model(SharedModels.SEQ_CLS), false, noOnnx);
    Path snap = ModelSource.resolve("distilstream-test/st-only", options());
    assertThat(snap.resolve("model.safetensors")).exists();
    assertThat(snap.resolve("model.onnx")).doesNotExist();
    ModelDirectory dir = ModelDirectory.of(snap);
    assertThat(dir.needsBuild()).isTrue();
    try (TextClassificationPipeline built = Pipeline.textClassification(snap, PipelineOptions.defaults());
         TextClassificationPipeline local = Pipeline.textClassification(SharedModels.model(SharedModels.SEQ_CLS),
             PipelineOptions.defaults())) {
      assertThat(built.run("not good at all").get(0).score())
          .isCloseTo(local.run("not good at all").get(0).score(), within(1e-4f));
    }
    // build-model asks for the safetensors even where an ONNX graph exists
    Path st = ModelSource.resolve(SST2, options().safetensors(true));
    assertThat(st.resolve("model.safetensors")).exists();
  }

  @Test
  void anOnnxFolderAndItsQuantizedGraphAreFound() throws Exception {
    Path seq = SharedModels.model(SharedModels.SEQ_CLS);
    byte[] onnx = Files.readAllBytes(seq.resolve("model.onnx"));
    Map<String, byte[]> layout = new HashMap<>();
    layout.put("model.onnx", null);
    layout.put("model.safetensors", null);
    layout.put("onnx/model.onnx", onnx);
    layout.put("onnx/model_quantized.onnx", onnx);
    hub.add("distilstream-test/onnx-folder", seq, false, layout);

    Path snap = ModelSource.resolve("distilstream-test/onnx-folder", options());
    assertThat(ModelDirectory.of(snap).onnxFile()).isEqualTo(snap.resolve("onnx/model.onnx"));
    assertThat(Files.readSymbolicLink(snap.resolve("onnx/model.onnx")))
        .isEqualTo(Path.of("../../../blobs/" + LocalHub.hex("SHA-256", onnx)));
    assertThat(snap.resolve("onnx/model_quantized.onnx")).doesNotExist();

    Path q = ModelSource.resolve("distilstream-test/onnx-folder", options().quantized(true));
    assertThat(q.resolve("onnx/model_quantized.onnx")).exists();
    assertThat(ModelDirectory.of(q, Path.of("model_quantized.onnx")).onnxFile())
        .isEqualTo(q.resolve("onnx/model_quantized.onnx"));
  }

  @Test
  void runWithQuantizeInt8FetchesAndRunsTheQuantizedGraph() throws Exception {
    Path seq = SharedModels.model(SharedModels.SEQ_CLS);
    byte[] onnx = Files.readAllBytes(seq.resolve("model.onnx"));
    byte[] quantized = java.util.Arrays.copyOf(onnx, onnx.length); // the same graph: which file came is what counts
    Map<String, byte[]> layout = new HashMap<>();
    layout.put("model.onnx", null);
    layout.put("onnx/model.onnx", onnx);
    layout.put("onnx/model_quantized.onnx", quantized);
    hub.add("distilstream-test/optimum-int8", seq, false, layout);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int rc = io.distilstream.runtime.cli.RuntimeCli.run(new String[] {"--task", "text-classification", "--model",
        "distilstream-test/optimum-int8", "--quantize", "int8"},
        new java.io.ByteArrayInputStream("a wonderful little film\n".getBytes(StandardCharsets.UTF_8)),
        new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(progress, true, StandardCharsets.UTF_8),
        options());
    assertThat(rc).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8)).contains("\"label\"");
    assertThat(hub.requests).anyMatch(r -> r.startsWith("HEAD /distilstream-test/optimum-int8/resolve/")
        && r.endsWith("/onnx/model_quantized.onnx"));
    assertThat(hub.requests).noneMatch(r -> r.contains("/resolve/") && r.endsWith("/onnx/model.onnx"));
    assertThatThrownBy(() -> io.distilstream.runtime.cli.RuntimeCli.run(new String[] {"--task",
        "text-classification", "--model", "distilstream-test/optimum-int8", "--quantize", "int4"},
        new java.io.ByteArrayInputStream(new byte[0]), new PrintStream(out), new PrintStream(progress), options()))
        .hasMessageContaining("--quantize takes int8");
  }

  @Test
  void gatedRepositoriesNeedHfToken() throws Exception {
    hub.add("distilstream-test/gated", SharedModels.model(SharedModels.SEQ_CLS), true, Map.of());
    assertThatThrownBy(() -> ModelSource.resolve("distilstream-test/gated", options()))
        .isInstanceOf(HubException.class).hasMessageContaining("HTTP 401").hasMessageContaining("gated")
        .hasMessageContaining("set HF_TOKEN");
    assertThatThrownBy(() -> ModelSource.resolve("distilstream-test/gated", options().token("hf_wrong")))
        .isInstanceOf(HubException.class).hasMessageContaining("HTTP 403").hasMessageContaining("no access");
    Path snap = ModelSource.resolve("distilstream-test/gated",
        HubOptions.fromEnvironment(Map.of("HF_HUB_CACHE", cache.toString(), "HF_ENDPOINT", hub.endpoint(),
            "HF_TOKEN", LocalHub.TOKEN), cache));
    assertThat(snap.resolve("model.onnx")).exists();
  }

  @Test
  void missingRepositoriesRevisionsAndWeightsSayWhich() throws Exception {
    assertThatThrownBy(() -> ModelSource.resolve("distilstream-test/nope", options()))
        .isInstanceOf(HubException.class).hasMessageContaining("repository not found")
        .hasMessageContaining("HF_TOKEN");
    assertThatThrownBy(() -> ModelSource.resolve("distilstream-test/nope", options().token(LocalHub.TOKEN)))
        .isInstanceOf(HubException.class).hasMessageContaining("repository not found").hasMessageContaining("404");
    assertThatThrownBy(() -> ModelSource.resolve(SST2 + "@v9", options()))
        .isInstanceOf(HubException.class).hasMessageContaining("no revision 'v9'");
    Map<String, byte[]> ptOnly = new HashMap<>();
    ptOnly.put("model.onnx", null);
    ptOnly.put("model.safetensors", null);
    ptOnly.put("pytorch_model.bin", NOT_OURS);
    hub.add("distilstream-test/pt-only", SharedModels.model(SharedModels.SEQ_CLS), false, ptOnly);
    assertThatThrownBy(() -> ModelSource.resolve("distilstream-test/pt-only", options()))
        .isInstanceOf(HubException.class).hasMessageContaining("has no model.onnx, onnx/model.onnx, model.safetensors")
        .hasMessageContaining("pytorch_model.bin, which distilstream does not read");
    assertThatThrownBy(() -> ModelSource.resolve(SST2, options().maxFileBytes(1000)))
        .isInstanceOf(HubException.class).hasMessageContaining("over the limit of 1000");
  }

  @Test
  void pinningChecksTheIdAgainstTheHubAndNamesItsCommitWithoutDownloading() throws Exception {
    assertThat(ModelSource.pin(SST2, options())).isEqualTo(SST2 + "@" + sst2.commit());
    assertThat(ModelSource.pin(SST2 + "@" + sst2.commit(), options())).isEqualTo(SST2 + "@" + sst2.commit());
    assertThat(hub.requests).allMatch(r -> r.startsWith("GET /api/models/"), "only the API was asked");
    Path repoDir = cache.resolve("models--distilstream-test--tiny-sst2");
    assertThat(repoDir.resolve("snapshots")).doesNotExist();
    assertThat(Files.readString(repoDir.resolve("refs/main"))).isEqualTo(sst2.commit());
    assertThatThrownBy(() -> ModelSource.pin(SST2 + "@v9", options()))
        .isInstanceOf(HubException.class).hasMessageContaining("no revision 'v9'");
    assertThatThrownBy(() -> ModelSource.pin("distilstream-test/nope", options()))
        .isInstanceOf(HubException.class).hasMessageContaining("repository not found");
    // neither a local path nor a Hub id: the error says why it is not an id, before any request
    int asked = hub.requests.size();
    assertThatThrownBy(() -> ModelSource.pin("distilstream-test/na me", options()))
        .hasMessageContaining("neither a local path").hasMessageContaining("'na me' is not a Hub name");
    assertThatThrownBy(() -> ModelSource.pin("org/name@", options()))
        .hasMessageContaining("'' is not a revision name");
    assertThatThrownBy(() -> ModelSource.resolve("a/b/c", options()))
        .hasMessageContaining("ORG/NAME[@REVISION], with one '/'");
    assertThat(hub.requests).hasSize(asked);
    assertThat(ModelSource.pin("src/test", options())).isEqualTo("src/test"); // a local path is left as it is

    // offline, the cache's commit; a snapshot names itself ORG/NAME, its version is the commit
    assertThatThrownBy(() -> ModelSource.pin(SST2, options().offline(true)))
        .isInstanceOf(HubException.class).hasMessageContaining("HF_HUB_OFFLINE is set");
    ModelDirectory dir = ModelDirectory.of(ModelSource.resolve(SST2, options()));
    assertThat(dir.name()).isEqualTo(SST2);
    assertThat(dir.version()).isEqualTo(sst2.commit());
    assertThat(ModelSource.pin(SST2, options().offline(true))).isEqualTo(SST2 + "@" + sst2.commit());
    assertThat(ModelSource.displayName(SST2 + "@" + sst2.commit())).isEqualTo(SST2);
    assertThat(ModelSource.absolute(SST2)).isEqualTo(SST2);
    assertThat(ModelSource.absolute("src/test")).isEqualTo(Path.of("src/test").toAbsolutePath().toString());
  }

  @Test
  void javaSystemPropertiesOfTheSameNamesOverTheEnvironment() {
    System.setProperty("HF_HUB_CACHE", cache.toString());
    System.setProperty("HF_ENDPOINT", hub.endpoint());
    try {
      HubOptions o = HubOptions.fromEnvironment();
      assertThat(o.cacheDir()).isEqualTo(cache);
      assertThat(o.endpoint()).isEqualTo(hub.endpoint());
      assertThat(ModelSource.pin(SST2)).isEqualTo(SST2 + "@" + sst2.commit());
    } finally {
      System.clearProperty("HF_HUB_CACHE");
      System.clearProperty("HF_ENDPOINT");
    }
  }

  @Test
  void idsAreTheHubsAndAnExistingLocalPathWins() {
    assertThat(HubId.parse("distilbert/distilbert-base-uncased-finetuned-sst-2-english"))
        .isEqualTo(new HubId("distilbert", "distilbert-base-uncased-finetuned-sst-2-english", null));
    assertThat(HubId.parse("org/name@refs/pr/1")).isEqualTo(new HubId("org", "name", "refs/pr/1"));
    for (String bad : new String[] {"name", "/abs/path", "a/b/c", "../x", "org/..", "org/a--b", "org/a..b",
        "-org/name", "org/name.", "org/na me", "./x", "org/name@", "org/name@../../etc", "~/models", "C:/x"}) {
      assertThat(HubId.parse(bad)).as(bad).isNull();
    }
    assertThat(ModelSource.isHubId("src/test")).isFalse(); // exists beside the module: a local path
    assertThat(ModelSource.resolve("src/test")).isEqualTo(Path.of("src/test"));
    assertThat(ModelSource.isHubId("org/does-not-exist-here")).isTrue();
    for (String bad : new String[] {"", "/etc/passwd", "../x", "a/../../x", "a//b", "a\\b", "./a", "C:x"}) {
      assertThat(HubClient.safeRelativePath(bad)).as(bad).isFalse();
    }
    assertThat(HubClient.safeRelativePath("onnx/model.onnx")).isTrue();
  }

  @Test
  void settingsComeFromHuggingfaceHubsVariables(@TempDir Path home) throws Exception {
    HubOptions d = HubOptions.fromEnvironment(Map.of(), home);
    assertThat(d.cacheDir()).isEqualTo(home.resolve(".cache/huggingface/hub"));
    assertThat(d.endpoint()).isEqualTo("https://huggingface.co");
    assertThat(d.token()).isNull();
    assertThat(d.offline()).isFalse();
    assertThat(d.maxFileBytes()).isEqualTo(4L << 30);
    Files.writeString(home.resolve("token"), "hf_from_file\n");
    HubOptions o = HubOptions.fromEnvironment(Map.of("HF_HOME", home.toString(), "HF_ENDPOINT",
        "http://mirror.local:8080/", "HF_HUB_OFFLINE", "1", "DISTILSTREAM_HUB_MAX_FILE_BYTES", "123"), home);
    assertThat(o.cacheDir()).isEqualTo(home.resolve("hub"));
    assertThat(o.token()).isEqualTo("hf_from_file");
    assertThat(o.endpoint()).isEqualTo("http://mirror.local:8080");
    assertThat(o.offline()).isTrue();
    assertThat(o.maxFileBytes()).isEqualTo(123);
    HubOptions c = HubOptions.fromEnvironment(Map.of("HF_HOME", home.toString(), "HF_HUB_CACHE", "/x/cache",
        "HF_TOKEN", "hf_env"), home);
    assertThat(c.cacheDir()).isEqualTo(Path.of("/x/cache"));
    assertThat(c.token()).isEqualTo("hf_env");
  }
}
