package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.tokenizer.Encoding;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 22, item 8: the output cache. Results with the cache are byte for byte those without it (repeats within a
 * batch, across batches, across a model switch, texts that differ only where the tokenizer does not look); the
 * cache keeps its bounds, never caches an entry over its limit, and drops a closed scope's entries.
 */
class ModelOutputCacheTest {
  private static final ModelOutputCache.Bounds BOUNDS = new ModelOutputCache.Bounds(10_000, 64L << 20);

  /** 40 distinct texts, then 150 inputs drawn from them with repeats (seeded), some differing only in case. */
  static List<String> textsWithRepeats() {
    Random r = new Random(22);
    String[] words = {"Paris", "was", "great", "terrible", "and", "John", "went", "to", "Berlin", "the", "movie",
        "is", "not", "bad", "at", "all", "Google", "hired", "Mary"};
    List<String> distinct = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      StringBuilder sb = new StringBuilder();
      int n = 2 + r.nextInt(i % 5 == 0 ? 40 : 10);
      for (int w = 0; w < n; w++) {
        sb.append(w == 0 ? "" : " ").append(words[r.nextInt(words.length)]);
      }
      distinct.add(sb.toString());
    }
    List<String> inputs = new ArrayList<>();
    for (int i = 0; i < 150; i++) {
      String t = distinct.get((int) Math.min(39, Math.abs(r.nextGaussian()) * 12));
      // the uncased tokenizers give these the same ids: post-processing must still use each input's own text
      inputs.add(i % 7 == 0 ? t.toLowerCase(java.util.Locale.ROOT) : i % 11 == 0 ? "  " + t + " " : t);
    }
    inputs.set(1, inputs.get(0)); // a repeat within the first batch
    inputs.set(2, inputs.get(0));
    return inputs;
  }

  /** Every input's result as JSON bytes, run in batches of {@code batchSize}. */
  static <I, O> List<byte[]> run(Pipeline<I, O> p, List<I> inputs, int batchSize) {
    List<byte[]> out = new ArrayList<>();
    for (int from = 0; from < inputs.size(); from += batchSize) {
      for (Outcome<O> o : p.runAll(inputs.subList(from, Math.min(inputs.size(), from + batchSize)))) {
        out.add(ResultJson.of(o, 0).toString().getBytes(StandardCharsets.UTF_8));
      }
    }
    return out;
  }

  static void assertSameBytes(List<byte[]> expected, List<byte[]> actual) {
    assertThat(actual).hasSameSizeAs(expected);
    for (int i = 0; i < expected.size(); i++) {
      assertThat(new String(actual.get(i), StandardCharsets.UTF_8)).as("input %d", i)
          .isEqualTo(new String(expected.get(i), StandardCharsets.UTF_8));
      assertThat(actual.get(i)).as("input %d", i).isEqualTo(expected.get(i));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"text-classification", "token-classification", "question-answering", "fill-mask"})
  void resultsWithTheCacheAreByteForByteTheResultsWithoutIt(String taskId) {
    Task task = Task.parse(taskId);
    String model = switch (task) {
      case TOKEN_CLASSIFICATION -> SharedModels.TOKEN_CLS;
      case QUESTION_ANSWERING -> SharedModels.QA;
      case FILL_MASK -> SharedModels.MASKED_LM;
      default -> SharedModels.SEQ_CLS;
    };
    ModelDirectory dir = ModelDirectory.of(SharedModels.model(model));
    List<Object> inputs = new ArrayList<>();
    for (String t : textsWithRepeats()) {
      inputs.add(switch (task) {
        case QUESTION_ANSWERING -> new QuestionAnsweringPipeline.Question("where did John go?", t);
        case FILL_MASK -> t.replaceFirst("(?i)paris|john|the", "[MASK]");
        default -> t;
      });
    }
    PipelineOptions options = PipelineOptions.defaults().maxLength(48).longText(
        task == Task.TEXT_CLASSIFICATION ? PipelineOptions.LongText.CHUNK : null).stride(8).docStride(16);
    List<byte[]> plain;
    long looked;
    try (Pipeline<Object, Object> p = open(task, dir, options)) {
      plain = run(p, inputs, 16);
      // inputs that fail before the model (fill-mask without a mask) are not looked up
      looked = inputs.stream().filter(i -> !p.prepare(i).failed()).count();
    }
    assertThat(looked).isGreaterThan(inputs.size() / 2);
    AtomicLong hits = new AtomicLong();
    AtomicLong misses = new AtomicLong();
    try (Pipeline<Object, Object> p = open(task, dir, options)) {
      p.useCache(BOUNDS, dir.contentHash(), (h, m) -> {
        hits.addAndGet(h);
        misses.addAndGet(m);
      });
      assertSameBytes(plain, run(p, inputs, 16));
      assertThat(hits.get() + misses.get()).isEqualTo(looked);
      assertThat(hits.get()).isGreaterThan(looked / 2);
      // the second pass is served from the cache, in other batch shapes
      assertSameBytes(plain, run(p, inputs, 7));
      assertThat(misses.get()).isLessThan(looked / 2);
      assertThat(hits.get() + misses.get()).isEqualTo(2 * looked);
    }
    assertThat(ModelOutputCache.shared(BOUNDS)).as("the last scope closed drops the cache").isNull();
  }

  @SuppressWarnings("unchecked")
  private static Pipeline<Object, Object> open(Task task, ModelDirectory dir, PipelineOptions options) {
    return (Pipeline<Object, Object>) Pipeline.create(task, dir, options);
  }

  /**
   * A hot reload: the new model's pipeline shares the cache, gets its own model's results (never the old one's,
   * though the tokens are the same), and closing the old pipeline drops only the old model's entries.
   */
  @Test
  void aNewModelNeverSeesTheOldModelsOutputsAndTheOldEntriesGoWithIt() {
    ModelDirectory v1 = ModelDirectory.of(SharedModels.model(SharedModels.SEQ_CLS));
    ModelDirectory v2 = ModelDirectory.of(SharedModels.model(SharedModels.MULTI_LABEL));
    List<String> texts = textsWithRepeats();
    PipelineOptions options = PipelineOptions.defaults().topK(0);
    List<byte[]> plain1;
    List<byte[]> plain2;
    try (var p1 = Pipeline.textClassification(v1.path(), options);
         var p2 = Pipeline.textClassification(v2.path(), options)) {
      plain1 = run(p1, texts, 16);
      plain2 = run(p2, texts, 16);
    }
    try (var p1 = Pipeline.textClassification(v1.path(), options);
         var p2 = Pipeline.textClassification(v2.path(), options)) {
      p1.useCache(BOUNDS, v1.contentHash(), null);
      p2.useCache(BOUNDS, v2.contentHash(), null);
      ModelOutputCache cache = p1.cache().cache();
      assertThat(p2.cache().cache()).isSameAs(cache);
      assertSameBytes(plain1, run(p1, texts, 16));
      int v1Entries = cache.size();
      assertSameBytes(plain2, run(p2, texts, 16));
      int v2Entries = cache.size() - v1Entries;
      assertThat(v1Entries).isPositive();
      assertThat(v2Entries).isPositive();
      p1.close(); // the reload retires the old model
      assertThat(cache.size()).isEqualTo(v2Entries);
      assertThat(ModelOutputCache.shared(BOUNDS)).isSameAs(cache);
      long misses = cache.misses();
      assertSameBytes(plain2, run(p2, texts, 16));
      assertThat(cache.misses()).as("the new model's entries stay").isEqualTo(misses);
    }
    assertThat(ModelOutputCache.shared(BOUNDS)).isNull();
  }

  @Test
  void theCacheKeepsItsEntryAndByteBoundsAndNeverCachesAnOversizedEntry() {
    ModelOutputCache.Bounds bounds = new ModelOutputCache.Bounds(3, 16 * 1024);
    AtomicLong evicted = new AtomicLong();
    ModelOutputCache.Listener listener = new ModelOutputCache.Listener() {
      @Override
      public void onLookups(int hits, int misses) {}

      @Override
      public void onEvictions(int count) {
        evicted.addAndGet(count);
      }
    };
    try (ModelOutputCache.Scope a = ModelOutputCache.open(bounds, "model-a", listener);
         ModelOutputCache.Scope b = ModelOutputCache.open(bounds, "model-b", listener)) {
      ModelOutputCache cache = a.cache();
      assertThat(b.cache()).isSameAs(cache);
      assertThat(cache.maxEntryBytes()).isEqualTo(1024);
      float[][][] small = {{{1f, 2f, 3f}}};
      for (int i = 0; i < 5; i++) {
        ModelOutputCache.Key k = a.key(List.of(ids(i, i + 1)));
        a.put(k, small);
      }
      assertThat(cache.size()).isEqualTo(3);
      assertThat(evicted.get()).isEqualTo(2);
      assertThat(cache.evictions()).isEqualTo(2);
      // least recently used goes first: 2 is read, then 5 evicts 3
      assertThat(a.get(a.key(List.of(ids(2, 3))))).isNotNull();
      a.put(a.key(List.of(ids(5, 6))), small);
      assertThat(a.get(a.key(List.of(ids(3, 4))))).isNull();
      assertThat(a.get(a.key(List.of(ids(2, 3))))).isNotNull();
      // the same tokens in another scope are another entry
      assertThat(b.get(b.key(List.of(ids(2, 3))))).isNull();

      // a key over the entry limit is refused before it is allocated; a value over it is not stored
      assertThat(a.key(List.of(ids(new int[200])))).isNull();
      ModelOutputCache.Key k = a.key(List.of(ids(7, 8)));
      a.put(k, new float[][][] {{new float[300]}});
      assertThat(a.get(k)).isNull();

      // a copy goes in and a copy comes out: post-processing that writes to its arrays changes no entry
      float[][][] value = {{{0.5f}}};
      ModelOutputCache.Key v = a.key(List.of(ids(9)));
      a.put(v, value);
      value[0][0][0] = 7f;
      a.get(v)[0][0][0] = 8f;
      assertThat(a.get(v)[0][0][0]).isEqualTo(0.5f);
      assertThat(cache.bytes()).isLessThanOrEqualTo(bounds.maxBytes());
    }
    // bytes bound: 30 entries of ~600 bytes in a 16 KiB cache
    try (ModelOutputCache.Scope a = ModelOutputCache.open(new ModelOutputCache.Bounds(1000, 16 * 1024), "m", null)) {
      for (int i = 0; i < 30; i++) {
        a.put(a.key(List.of(ids(i))), new float[][][] {{new float[100]}});
      }
      assertThat(a.cache().bytes()).isLessThanOrEqualTo(16 * 1024);
      assertThat(a.cache().size()).isBetween(20, 29);
    }
  }

  private static Encoding ids(int... ids) {
    return Encoding.ofIds(ids, null);
  }
}
