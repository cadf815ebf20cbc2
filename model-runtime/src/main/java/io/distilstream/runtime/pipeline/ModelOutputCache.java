package io.distilstream.runtime.pipeline;

import io.distilstream.runtime.tokenizer.Encoding;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A least-recently-used cache of model outputs for repeated inputs (moderation traffic repeats: retweets, spam,
 * copy-paste), shared by every pipeline of one JVM that asks for the same bounds: in Flink, by the slots of one
 * TaskManager.
 *
 * <p>What is cached is the model's output for an input's token windows, not the input's result: post-processing runs
 * every time, on the input's own text and options (entity offsets, answer text, zero-shot labels), so a hit can only
 * differ from a miss where the model call itself would. An entry is keyed by its {@link Scope} (the model's content
 * hash, the task and the session options: everything that changes the model's output for given tokens) and by the
 * windows' token ids and type ids (which the tokenizer options already shaped).
 *
 * <p>Bounded by entries and by bytes (estimated: arrays plus a fixed overhead per entry); an entry larger than
 * {@link #maxEntryBytes} (one sixteenth of the bytes) is never cached, and that is decided from the windows' lengths
 * before a key or a copy is allocated. Closing a scope's last user drops the scope's entries (a hot reload closes the
 * old model's pipeline); closing the cache's last scope drops the cache.
 */
public final class ModelOutputCache {
  /** Estimated bytes an entry costs besides its arrays: map node, key and value objects, array headers. */
  static final int ENTRY_OVERHEAD = 128;

  private static final Map<Bounds, ModelOutputCache> SHARED = new HashMap<>();

  /** The limits of a cache; pipelines that ask for equal bounds share one cache. */
  public record Bounds(long maxEntries, long maxBytes) implements java.io.Serializable {
    public Bounds {
      if (maxEntries < 1) {
        throw new IllegalArgumentException("cache.max-entries must be >= 1, got " + maxEntries);
      }
      if (maxBytes < 1) {
        throw new IllegalArgumentException("cache.max-bytes must be >= 1, got " + maxBytes);
      }
    }
  }

  /** Told about each input a pipeline looked up, and about evictions it caused. */
  public interface Listener {
    void onLookups(int hits, int misses);

    default void onEvictions(int count) {}
  }

  private final Bounds bounds;
  private final long maxEntryBytes;
  /** Access-ordered: the eldest is the least recently used. Guarded by {@code this}. */
  private final LinkedHashMap<Key, float[][][]> entries = new LinkedHashMap<>(16, 0.75f, true);
  /** Open scopes by name, with their user counts. Guarded by {@code this}. */
  private final Map<String, Integer> users = new HashMap<>();
  private long bytes;
  private final AtomicLong hits = new AtomicLong();
  private final AtomicLong misses = new AtomicLong();
  private final AtomicLong evictions = new AtomicLong();

  ModelOutputCache(Bounds bounds) {
    this.bounds = bounds;
    this.maxEntryBytes = Math.max(1, bounds.maxBytes() / 16);
  }

  /**
   * A scope of this JVM's cache with these bounds (created on first use), for the pipeline of one model, task and
   * session options. Close it when the pipeline closes ({@link Pipeline#useCache} does).
   *
   * @param name everything besides the tokens that changes the model's outputs; equal names share entries
   */
  public static Scope open(Bounds bounds, String name, Listener listener) {
    synchronized (SHARED) {
      ModelOutputCache cache = SHARED.computeIfAbsent(bounds, ModelOutputCache::new);
      synchronized (cache) {
        cache.users.merge(name, 1, Integer::sum);
      }
      return cache.new Scope(name, listener);
    }
  }

  /** The cache of this JVM with these bounds, or null when no scope of it is open. For tests and metrics. */
  static ModelOutputCache shared(Bounds bounds) {
    synchronized (SHARED) {
      return SHARED.get(bounds);
    }
  }

  public Bounds bounds() { return bounds; }
  /** Largest entry that is cached, in estimated bytes. */
  public long maxEntryBytes() { return maxEntryBytes; }
  public synchronized int size() { return entries.size(); }
  public synchronized long bytes() { return bytes; }
  public long hits() { return hits.get(); }
  public long misses() { return misses.get(); }
  public long evictions() { return evictions.get(); }

  /** Estimated bytes of a key over these windows, or -1 when it has more ints than an array can hold. */
  static long keyBytes(List<Encoding> windows) {
    long ints = 1;
    for (Encoding e : windows) {
      ints += 1 + 2L * e.length();
    }
    return ints > Integer.MAX_VALUE - 16 ? -1 : 4 * ints;
  }

  static long valueBytes(float[][][] value) {
    long b = 0;
    for (float[][] window : value) {
      b += 16;
      for (float[] output : window) {
        b += 16 + 4L * (output == null ? 0 : output.length);
      }
    }
    return b;
  }

  private synchronized float[][][] get(Key key) {
    float[][][] v = entries.get(key);
    return v == null ? null : copy(v);
  }

  /** Stores a copy of {@code value} unless it is too large; returns how many entries made room for it. */
  private synchronized int put(Key key, float[][][] value, long size) {
    if (!users.containsKey(key.scope) || entries.containsKey(key)) {
      return 0; // the scope closed meanwhile (its entries are gone), or another slot stored the same outputs
    }
    entries.put(key, copy(value));
    bytes += size;
    int evicted = 0;
    Iterator<Map.Entry<Key, float[][][]>> it = entries.entrySet().iterator();
    while ((entries.size() > bounds.maxEntries() || bytes > bounds.maxBytes()) && it.hasNext()) {
      Map.Entry<Key, float[][][]> eldest = it.next();
      bytes -= eldest.getKey().size;
      it.remove();
      evicted++;
    }
    evictions.addAndGet(evicted);
    return evicted;
  }

  private synchronized void dropScope(String name) {
    entries.entrySet().removeIf(e -> {
      if (e.getKey().scope.equals(name)) {
        bytes -= e.getKey().size;
        return true;
      }
      return false;
    });
  }

  static float[][][] copy(float[][][] v) {
    float[][][] c = new float[v.length][][];
    for (int w = 0; w < v.length; w++) {
      c[w] = new float[v[w].length][];
      for (int o = 0; o < v[w].length; o++) {
        c[w][o] = v[w][o] == null ? null : v[w][o].clone();
      }
    }
    return c;
  }

  /**
   * One pipeline's view of the cache: its entries are those of its name. Thread-safe; {@link #close} once.
   */
  public final class Scope implements AutoCloseable {
    private final String name;
    private final Listener listener;
    private boolean closed;

    private Scope(String name, Listener listener) {
      this.name = Objects.requireNonNull(name);
      this.listener = listener == null ? (h, m) -> {} : listener;
    }

    public String name() { return name; }
    public ModelOutputCache cache() { return ModelOutputCache.this; }

    /**
     * The key of an input's windows, or null when its entry could not be cached (decided from the windows'
     * lengths, before the key is allocated).
     */
    public Key key(List<Encoding> windows) {
      long size = keyBytes(windows);
      if (size < 0 || size + ENTRY_OVERHEAD > maxEntryBytes) {
        return null;
      }
      int[] k = new int[(int) (size / 4)];
      int at = 0;
      k[at++] = windows.size();
      for (Encoding e : windows) {
        k[at++] = e.length();
        System.arraycopy(e.ids, 0, k, at, e.length());
        at += e.length();
        System.arraycopy(e.typeIds, 0, k, at, e.length());
        at += e.length();
      }
      return new Key(name, k, size + ENTRY_OVERHEAD);
    }

    /** A copy of the outputs stored under {@code key} ({@code [window][output][]}), or null. */
    public float[][][] get(Key key) {
      return ModelOutputCache.this.get(key);
    }

    /** Stores a copy of an input's outputs, unless they (with their key) pass the entry limit. */
    public void put(Key key, float[][][] outputs) {
      long size = key.size + valueBytes(outputs);
      if (size > maxEntryBytes) {
        return;
      }
      Key sized = new Key(key.scope, key.tokens, size, key.hash);
      int evicted = ModelOutputCache.this.put(sized, outputs, size);
      if (evicted > 0) {
        listener.onEvictions(evicted);
      }
    }

    /** Counts one batch's lookups: inputs served from the cache (or by a repeat in the same batch) and the rest. */
    public void count(int hitCount, int missCount) {
      hits.addAndGet(hitCount);
      misses.addAndGet(missCount);
      listener.onLookups(hitCount, missCount);
    }

    /** The last user of this scope's name drops its entries; the last scope of the cache drops the cache. */
    @Override
    public void close() {
      synchronized (SHARED) {
        ModelOutputCache cache = ModelOutputCache.this;
        boolean last;
        synchronized (cache) {
          if (closed) {
            return;
          }
          closed = true;
          last = cache.users.merge(name, -1, Integer::sum) == 0;
          if (last) {
            cache.users.remove(name);
          }
        }
        if (last) {
          cache.dropScope(name);
        }
        synchronized (cache) {
          if (cache.users.isEmpty()) {
            SHARED.remove(cache.bounds, cache);
          }
        }
      }
    }
  }

  /** A scope's name and an input's token ids and type ids, window by window; {@code size} is the entry's estimate. */
  public static final class Key {
    final String scope;
    final int[] tokens;
    final long size;
    private final int hash;

    Key(String scope, int[] tokens, long size) {
      this(scope, tokens, size, 31 * scope.hashCode() + Arrays.hashCode(tokens));
    }

    private Key(String scope, int[] tokens, long size, int hash) {
      this.scope = scope;
      this.tokens = tokens;
      this.size = size;
      this.hash = hash;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && k.hash == hash && k.scope.equals(scope) && Arrays.equals(k.tokens, tokens);
    }

    @Override
    public int hashCode() {
      return hash;
    }
  }
}
