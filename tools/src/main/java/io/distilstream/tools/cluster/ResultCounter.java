package io.distilstream.tools.cluster;

import io.distilstream.schemas.AnswerResult;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.EntityResult;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * A {@code read_committed} consumer of the result and dead-letter topics, in its own thread: counts results per
 * task and event id, collects dead letters, samples the text-classification count over time (progress and
 * throughput), and keeps, per result partition, when each result became visible to it and the broker's
 * LogAppendTime of it (the reader-side gaps around faults, {@link #gapAround}). It sees only what committed
 * transactions wrote.
 */
final class ResultCounter implements AutoCloseable {
  /** A dead letter as read back: id (null for undecodable records), reason, stage and the original bytes. */
  record Dead(String id, String reason, String stage, ByteBuffer original) {}

  private final KafkaConsumer<byte[], byte[]> consumer;
  private final Map<String, String> topicToTask;
  private final String deadLetterTopic;
  private final String bootstrap;
  private final Map<String, Map<String, Integer>> counts = new HashMap<>();
  private final List<Dead> dead = new ArrayList<>();
  private final List<long[]> samples = new ArrayList<>(); // {millis, text-classification results}
  /** Per result partition ("topic-partition"): when each result was polled, and its LogAppendTime, in order. */
  private final Map<String, Timeline> timelines = new java.util.TreeMap<>();
  private long classifications;
  private volatile boolean running = true;
  private volatile RuntimeException failure;
  private final Thread thread;

  ResultCounter(String bootstrap, Map<String, String> topicToTask, String deadLetterTopic) {
    this.topicToTask = topicToTask;
    this.deadLetterTopic = deadLetterTopic;
    this.bootstrap = bootstrap;
    Map<String, Object> props = new HashMap<>();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    props.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 4 * 1024 * 1024);
    props.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100); // when a result became visible, to 0.1 s
    props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    consumer = new KafkaConsumer<>(props);
    List<TopicPartition> partitions = new ArrayList<>();
    for (String t : topics()) {
      consumer.partitionsFor(t, Duration.ofSeconds(60))
          .forEach(p -> partitions.add(new TopicPartition(p.topic(), p.partition())));
    }
    consumer.assign(partitions);
    consumer.seekToBeginning(partitions);
    samples.add(new long[] {System.currentTimeMillis(), 0});
    thread = new Thread(this::loop, "result-counter");
    thread.setDaemon(true);
    thread.start();
  }

  private Set<String> topics() {
    Set<String> s = new java.util.LinkedHashSet<>(topicToTask.keySet());
    s.add(deadLetterTopic);
    return s;
  }

  private void loop() {
    try {
      while (running) {
        var records = consumer.poll(Duration.ofMillis(200));
        long polled = System.currentTimeMillis();
        synchronized (this) {
          for (ConsumerRecord<byte[], byte[]> r : records) {
            add(r, polled);
          }
          samples.add(new long[] {System.currentTimeMillis(), classifications});
        }
        notePositions();
      }
    } catch (org.apache.kafka.common.errors.WakeupException e) {
      // closing
    } catch (RuntimeException e) {
      failure = e;
    } finally {
      consumer.close(Duration.ofSeconds(5));
    }
  }

  private void add(ConsumerRecord<byte[], byte[]> r, long polled) {
    try {
      if (r.topic().equals(deadLetterTopic)) {
        DeadLetter d = DeadLetter.getDecoder().decode(r.value());
        dead.add(new Dead(d.getId(), d.getReason(), d.getStage(), d.getOriginal()));
        return;
      }
      timelines.computeIfAbsent(r.topic() + "-" + r.partition(), k -> new Timeline()).add(polled, r.timestamp());
      String task = topicToTask.get(r.topic());
      String id;
      switch (task) {
        case "text-classification":
          id = ClassificationResult.getDecoder().decode(r.value()).getId();
          classifications++;
          break;
        case "token-classification":
          id = EntityResult.getDecoder().decode(r.value()).getId();
          break;
        case "feature-extraction":
          id = io.distilstream.schemas.EmbeddingResult.getDecoder().decode(r.value()).getId();
          break;
        case "fill-mask":
          id = io.distilstream.schemas.FillMaskResult.getDecoder().decode(r.value()).getId();
          break;
        case "multiple-choice":
          id = io.distilstream.schemas.ChoiceResult.getDecoder().decode(r.value()).getId();
          break;
        default:
          id = AnswerResult.getDecoder().decode(r.value()).getId();
      }
      counts.computeIfAbsent(task, k -> new HashMap<>()).merge(id, 1, Integer::sum);
    } catch (java.io.IOException e) {
      throw new IllegalStateException("undecodable record on " + r.topic() + " at offset " + r.offset(), e);
    }
  }

  private void check() {
    if (failure != null) {
      throw new IllegalStateException("the result consumer failed: " + failure, failure);
    }
  }

  /** text-classification results so far (one per good event when nothing is lost or duplicated). */
  synchronized long classifications() {
    check();
    return classifications;
  }

  synchronized Map<String, Map<String, Integer>> counts() {
    check();
    Map<String, Map<String, Integer>> copy = new HashMap<>();
    counts.forEach((k, v) -> copy.put(k, new HashMap<>(v)));
    return copy;
  }

  synchronized List<Dead> deadLetters() {
    check();
    return new ArrayList<>(dead);
  }

  /** text-classification results at wall time {@code millis} (the last sample at or before it). */
  synchronized long classificationsAt(long millis) {
    long c = 0;
    for (long[] s : samples) {
      if (s[0] > millis) {
        break;
      }
      c = s[1];
    }
    return c;
  }

  /** Results per second of text-classification between two wall times. */
  double rate(long fromMillis, long toMillis) {
    return (classificationsAt(toMillis) - classificationsAt(fromMillis)) * 1000.0 / Math.max(1, toMillis - fromMillis);
  }

  /** Blocks until the consumer has read everything committed up to now (the last stable offsets). */
  void catchUp(Duration timeout) throws java.io.IOException {
    Map<TopicPartition, Long> want = endOffsets("read_committed");
    LocalFlinkCluster.awaitCondition("the result consumer to catch up", timeout, () -> {
      check();
      return want.entrySet().stream().allMatch(e -> position(e.getKey()) >= e.getValue());
    });
  }

  /**
   * Result partitions an open transaction holds back now: records written (the high watermark) beyond what a
   * read_committed reader may read (the last stable offset), "topic-partition" to the records held.
   */
  Map<String, Long> heldPartitions() {
    Map<TopicPartition, Long> committed = endOffsets("read_committed");
    Map<TopicPartition, Long> written = endOffsets("read_uncommitted");
    Map<String, Long> held = new java.util.TreeMap<>();
    written.forEach((p, w) -> {
      long c = committed.getOrDefault(p, w);
      if (w > c && !p.topic().equals(deadLetterTopic)) {
        held.put(p.topic() + "-" + p.partition(), w - c);
      }
    });
    return held;
  }

  private Map<TopicPartition, Long> endOffsets(String isolation) {
    Map<String, Object> props = Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation,
        ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class,
        ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    try (KafkaConsumer<byte[], byte[]> probe = new KafkaConsumer<>(props)) {
      List<TopicPartition> parts = new ArrayList<>();
      for (String t : topics()) {
        probe.partitionsFor(t, Duration.ofSeconds(60))
            .forEach(p -> parts.add(new TopicPartition(p.topic(), p.partition())));
      }
      return probe.endOffsets(parts, Duration.ofSeconds(60));
    }
  }

  private final Map<TopicPartition, Long> positions = new java.util.concurrent.ConcurrentHashMap<>();

  private long position(TopicPartition p) {
    return positions.getOrDefault(p, -1L);
  }

  /** Called from the loop: remembers positions for {@link #catchUp}. */
  private void notePositions() {
    for (TopicPartition p : consumer.assignment()) {
      positions.put(p, consumer.position(p));
    }
  }

  /** Per result partition: when each result became visible here and its LogAppendTime (ascending copies). */
  synchronized Map<String, long[][]> timelines() {
    check();
    Map<String, long[][]> copy = new java.util.TreeMap<>();
    timelines.forEach((p, t) -> copy.put(p, new long[][] {
        java.util.Arrays.copyOf(t.seen, t.size), java.util.Arrays.copyOf(t.appended, t.size)}));
    return copy;
  }

  /** One partition's results in offset order: visible-at and LogAppendTime, in milliseconds. */
  private static final class Timeline {
    long[] seen = new long[1024];
    long[] appended = new long[1024];
    int size;

    void add(long seenAt, long appendedAt) {
      if (size == seen.length) {
        seen = java.util.Arrays.copyOf(seen, size * 2);
        appended = java.util.Arrays.copyOf(appended, size * 2);
      }
      seen[size] = seenAt;
      appended[size++] = appendedAt;
    }
  }

  /**
   * What a reader of one partition saw of a fault at {@code t0}: {@code resumeMs}, from the fault to the first
   * result after it; {@code gapMs}, the largest time between two consecutive results from the last one before the
   * fault up to {@code until} (the next fault; a silence that runs past it counts up to it), the time before the
   * first one counting from the fault where the partition had none before it. Null when no result came after the
   * fault (the partition had nothing left).
   *
   * @param times the partition's result times, ascending (visible-at, or LogAppendTime)
   */
  static Gap gapAround(long[] times, long t0, long until) {
    int first = 0;
    while (first < times.length && times[first] <= t0) {
      first++;
    }
    if (first == times.length) {
      return null;
    }
    long gap = 0;
    for (int i = first; i < times.length; i++) {
      long prev = i == 0 ? t0 : times[i - 1];
      if (prev >= until) {
        break;
      }
      gap = Math.max(gap, Math.min(times[i], until) - prev); // silence past the next fault is that one's
    }
    return new Gap(times[first] - t0, gap);
  }

  /** See {@link #gapAround}. */
  record Gap(long resumeMs, long gapMs) {}

  /** The nearest-rank percentile ({@code q} in (0, 1]) of {@code xs}; null for none. */
  static Long percentile(List<Long> xs, double q) {
    if (xs.isEmpty()) {
      return null;
    }
    List<Long> sorted = new ArrayList<>(xs);
    java.util.Collections.sort(sorted);
    return sorted.get(Math.max(0, (int) Math.ceil(q * sorted.size()) - 1));
  }

  @Override
  public void close() {
    running = false;
    consumer.wakeup();
    try {
      thread.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  static Map<String, Integer> reasonsOf(List<Dead> dead) {
    return dead.stream().collect(Collectors.toMap(Dead::reason, d -> 1, Integer::sum, java.util.TreeMap::new));
  }
}
