package io.distilstream.e2e;

import io.distilstream.tools.local.LocalKafka;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.kafka.KafkaContainer;

/**
 * The Kafka broker an end-to-end test runs against: the {@code apache/kafka} image through Testcontainers where a
 * Docker engine answers, the local KRaft broker ({@link LocalKafka}, its own JVM) otherwise. Both are real brokers;
 * the tests see only this interface, so the suite runs on either.
 *
 * <p>{@value #PROPERTY} picks one: {@code auto} (the default: the container when Docker is available), {@code local}
 * or {@code container} (fails without Docker, rather than quietly testing something else).
 */
public interface KafkaFixture extends AutoCloseable {
  /** System property that picks the implementation: auto, local or container. */
  String PROPERTY = "distilstream.kafka";
  /** The broker image: the one docker/compose.yaml runs, Kafka's own. */
  String IMAGE = "apache/kafka:4.2.0";

  /** Where clients connect, as Kafka's {@code bootstrap.servers}. */
  String bootstrapServers();

  /** Creates topics with {@code partitions} partitions (replication 1) and waits until each has a leader. */
  void createTopics(int partitions, Collection<String> topics) throws IOException;

  /** Writes values (no keys) to a topic in order; returns once the broker has acknowledged every one. */
  default void produce(String topic, List<byte[]> values) throws IOException {
    produce(topic, values, Map.of());
  }

  /** As {@link #produce(String, List)}, with producer settings over the defaults (such as max.request.size). */
  void produce(String topic, List<byte[]> values, Map<String, Object> producerOverrides) throws IOException;

  /** Stops the broker and removes what it wrote. */
  @Override
  void close();

  /**
   * Starts a broker with {@code brokerOverrides} (broker properties such as {@code message.max.bytes}) over its
   * defaults, of the kind {@value #PROPERTY} asks for.
   */
  static KafkaFixture start(Map<String, String> brokerOverrides) throws IOException {
    String kind = System.getProperty(PROPERTY, "auto");
    boolean container = switch (kind) {
      case "local" -> false;
      case "container" -> true;
      case "auto" -> DockerClientFactory.instance().isDockerAvailable();
      default -> throw new IllegalArgumentException(PROPERTY + " is auto, local or container, not '" + kind + "'");
    };
    return container ? Container.start(brokerOverrides) : new Local(LocalKafka.start(brokerOverrides));
  }

  /**
   * Creates topics (replication 1) on the broker at {@code bootstrapServers}; a producer's retries cover the moment
   * before a new partition's leader is known.
   */
  static void createTopics(String bootstrapServers, int partitions, Collection<String> topics) throws IOException {
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers))) {
      admin.createTopics(topics.stream().map(t -> new NewTopic(t, partitions, (short) 1)).toList()).all().get();
    } catch (ExecutionException e) {
      throw new IOException("creating topics " + topics + " failed: " + e.getCause(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while creating topics", e);
    }
  }

  /**
   * Writes values to a topic of the broker at {@code bootstrapServers}, in order (one request in flight) and
   * acknowledged by all replicas: what both implementations, and a test against a broker it did not start, use.
   */
  static void produce(String bootstrapServers, String topic, List<byte[]> values, Map<String, Object> overrides)
      throws IOException {
    Map<String, Object> props = new HashMap<>();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    props.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 1);
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    props.putAll(overrides);
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
      List<Future<RecordMetadata>> sent = new ArrayList<>(values.size());
      for (byte[] v : values) {
        sent.add(producer.send(new ProducerRecord<>(topic, v)));
      }
      producer.flush();
      for (Future<RecordMetadata> f : sent) {
        f.get();
      }
    } catch (ExecutionException e) {
      throw new IOException("producing to " + topic + " at " + bootstrapServers + " failed: " + e.getCause(),
          e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while producing to " + topic, e);
    }
  }

  /** The local KRaft broker in a JVM of its own. */
  final class Local implements KafkaFixture {
    private final LocalKafka kafka;

    Local(LocalKafka kafka) {
      this.kafka = kafka;
    }

    @Override
    public String bootstrapServers() {
      return kafka.bootstrapServers();
    }

    @Override
    public void createTopics(int partitions, Collection<String> topics) throws IOException {
      kafka.createTopics(partitions, topics);
    }

    @Override
    public void produce(String topic, List<byte[]> values, Map<String, Object> producerOverrides)
        throws IOException {
      kafka.produce(topic, values, producerOverrides); // its errors carry the broker's log
    }

    @Override
    public void close() {
      kafka.close();
    }
  }

  /** Kafka's own image through Testcontainers' Kafka module (KRaft, one node). */
  final class Container implements KafkaFixture {
    private final KafkaContainer kafka;

    private Container(KafkaContainer kafka) {
      this.kafka = kafka;
    }

    @SuppressWarnings("resource") // closed by close()
    static Container start(Map<String, String> brokerOverrides) {
      KafkaContainer k = new KafkaContainer(IMAGE);
      // the image turns KAFKA_MESSAGE_MAX_BYTES into message.max.bytes
      brokerOverrides.forEach((key, v) -> k.withEnv("KAFKA_" + key.toUpperCase(Locale.ROOT).replace('.', '_'), v));
      k.start();
      return new Container(k);
    }

    @Override
    public String bootstrapServers() {
      return kafka.getBootstrapServers();
    }

    @Override
    public void createTopics(int partitions, Collection<String> topics) throws IOException {
      KafkaFixture.createTopics(bootstrapServers(), partitions, topics);
    }

    @Override
    public void produce(String topic, List<byte[]> values, Map<String, Object> producerOverrides)
        throws IOException {
      KafkaFixture.produce(bootstrapServers(), topic, values, producerOverrides);
    }

    @Override
    public void close() {
      kafka.close();
    }
  }
}
