package io.distilstream.jobs;

import io.distilstream.jobs.kafka.AvroRecordSerializer;
import io.distilstream.jobs.kafka.EventDecoder;
import io.distilstream.jobs.kafka.RawEvent;
import io.distilstream.jobs.kafka.RawEventDeserializer;
import io.distilstream.jobs.kafka.SchemaRegistryClient;
import io.distilstream.operators.Enrichment;
import io.distilstream.operators.InferenceOptions;
import io.distilstream.operators.InferenceSpec;
import io.distilstream.operators.ModelSpec;
import io.distilstream.operators.shadow.ShadowOptions;
import io.distilstream.operators.shadow.ShadowPair;
import io.distilstream.operators.shadow.Shadows;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.AnswerResult;
import io.distilstream.schemas.ChoiceResult;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.EmbeddingResult;
import io.distilstream.schemas.EntityResult;
import io.distilstream.schemas.FillMaskResult;
import io.distilstream.schemas.ModelInfo;
import io.distilstream.schemas.ShadowSummary;
import io.distilstream.schemas.TextEvent;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.apache.avro.specific.SpecificRecordBase;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.FilterFunction;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.lineage.DefaultKafkaDatasetFacet;
import org.apache.flink.connector.kafka.lineage.DefaultKafkaDatasetIdentifier;
import org.apache.flink.connector.kafka.lineage.KafkaDatasetFacet;
import org.apache.flink.connector.kafka.lineage.KafkaDatasetFacetProvider;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.function.SerializableFunction;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.config.ConfigResource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The enrichment job: Kafka source ({@code read_committed}) → decode (bad records → dead letters) → the async
 * micro-batching inference operator → one exactly-once Kafka sink per output topic, and the dead-letter topic.
 * Checkpointing runs in exactly-once mode; each sink has its own transactional id prefix under the job's, and
 * names its transactions with {@code sink.transaction-naming} (incrementing: a recovery aborts what a lost
 * TaskManager left open, at any parallelism).
 */
public final class EnrichmentJob {
  private static final Logger LOG = LoggerFactory.getLogger(EnrichmentJob.class);

  private EnrichmentJob() {}

  /** Adds the job's pipeline to {@code env}. Validates everything it can without a broker. */
  public static void build(StreamExecutionEnvironment env, JobConfig cfg) {
    build(env, cfg, UnaryOperator.identity());
  }

  /**
   * As {@link #build(StreamExecutionEnvironment, JobConfig)}, with a step of the caller's between decoding and
   * inference (filtering or enriching events; the tests inject failures there).
   */
  public static void build(StreamExecutionEnvironment env, JobConfig cfg,
      UnaryOperator<DataStream<TextEvent>> beforeInference) {
    // avro-confluent: every output schema is registered (or looked up) now, before the job runs
    SchemaRegistryClient registry = cfg.outputFormat() == AvroRecordSerializer.Format.AVRO_CONFLUENT
        ? new SchemaRegistryClient(cfg.registrySettings()) : null;
    build(env, cfg, beforeInference, new Serializers() {
      @Override
      public <T extends SpecificRecordBase> AvroRecordSerializer<T> of(String topic, Class<T> type,
          SerializableFunction<T, String> key) {
        return AvroRecordSerializer.of(cfg.outputFormat(), registry, topic, type, key);
      }
    });
  }

  /** One topic the job writes, and the type of its records. */
  public record OutputTopic(String topic, Class<? extends SpecificRecordBase> type) {}

  /**
   * Builds the job as {@link #build(StreamExecutionEnvironment, JobConfig)} does, but without calling the schema
   * registry (for {@code --dry-run}), and returns the topics its sinks write, in order.
   */
  public static List<OutputTopic> buildWithoutRegistry(StreamExecutionEnvironment env, JobConfig cfg) {
    List<OutputTopic> topics = new ArrayList<>();
    build(env, cfg, UnaryOperator.identity(), new Serializers() {
      @Override
      public <T extends SpecificRecordBase> AvroRecordSerializer<T> of(String topic, Class<T> type,
          SerializableFunction<T, String> key) {
        topics.add(new OutputTopic(topic, type));
        return AvroRecordSerializer.of(AvroRecordSerializer.Format.AVRO, null, topic, type, key);
      }
    });
    return topics;
  }

  /** Makes each sink's value serializer: the job's registers its schema; the dry run's only notes the topic. */
  private interface Serializers {
    <T extends SpecificRecordBase> AvroRecordSerializer<T> of(String topic, Class<T> type,
        SerializableFunction<T, String> key);
  }

  private static void build(StreamExecutionEnvironment env, JobConfig cfg,
      UnaryOperator<DataStream<TextEvent>> beforeInference, Serializers registry) {
    InferenceSpec spec = InferenceSpec.fromConfiguration(inferenceConfiguration(cfg));
    // Flink options in the job's configuration (parallelism.default, restart strategy, ...) apply to this job
    env.configure(cfg.flink(), EnrichmentJob.class.getClassLoader());
    env.enableCheckpointing(cfg.checkpointInterval().toMillis(), CheckpointingMode.EXACTLY_ONCE);

    Properties kafka = cfg.kafkaProperties();
    KafkaSourceBuilder<RawEvent> source = KafkaSource.<RawEvent>builder()
        .setBootstrapServers(cfg.bootstrapServers())
        .setTopics(cfg.get(JobConfig.INPUT_TOPIC))
        .setGroupId(cfg.groupId())
        .setDeserializer(new RawEventDeserializer(spec.routing().header()))
        .setProperties(consumerProperties(kafka))
        // only what upstream transactions committed: no result for an event that was rolled back
        .setProperty("isolation.level", "read_committed")
        .setStartingOffsets(startingOffsets(cfg.get(JobConfig.STARTING_OFFSETS)));
    if (cfg.bounded()) {
      source.setBounded(OffsetsInitializer.latest());
    }
    DataStream<RawEvent> raw = env
        .fromSource(source.build(), WatermarkStrategy.noWatermarks(), "kafka: " + cfg.get(JobConfig.INPUT_TOPIC))
        .uid("distilstream-kafka-source");
    SingleOutputStreamOperator<TextEvent> events = raw
        .process(new EventDecoder(cfg.inputFormat(), cfg.decoderLimits(), cfg.registrySettings()))
        .returns(new AvroTypeInfo<>(TextEvent.class))
        .name("decode events")
        .uid("distilstream-decode");

    Enrichment.Streams out = Enrichment.apply(beforeInference.apply(events), spec);
    String prefix = cfg.transactionalIdPrefix();
    sinkTask(Task.TEXT_CLASSIFICATION, out.classifications(), JobConfig.CLASSIFICATIONS_TOPIC,
        ClassificationResult.class, r -> r.getKey() != null ? r.getKey() : r.getId(), spec, cfg, kafka, prefix,
        registry);
    sinkTask(Task.TOKEN_CLASSIFICATION, out.entities(), JobConfig.ENTITIES_TOPIC, EntityResult.class,
        r -> r.getKey() != null ? r.getKey() : r.getId(), spec, cfg, kafka, prefix, registry);
    sinkTask(Task.QUESTION_ANSWERING, out.answers(), JobConfig.ANSWERS_TOPIC, AnswerResult.class,
        r -> r.getKey() != null ? r.getKey() : r.getId(), spec, cfg, kafka, prefix, registry);
    sinkTask(Task.FEATURE_EXTRACTION, out.embeddings(), JobConfig.EMBEDDINGS_TOPIC, EmbeddingResult.class,
        r -> r.getKey() != null ? r.getKey() : r.getId(), spec, cfg, kafka, prefix, registry);
    sinkTask(Task.FILL_MASK, out.fillMasks(), JobConfig.FILL_MASK_TOPIC, FillMaskResult.class,
        r -> r.getKey() != null ? r.getKey() : r.getId(), spec, cfg, kafka, prefix, registry);
    sinkTask(Task.MULTIPLE_CHOICE, out.choices(), JobConfig.CHOICES_TOPIC, ChoiceResult.class,
        r -> r.getKey() != null ? r.getKey() : r.getId(), spec, cfg, kafka, prefix, registry);
    sinkTask(Task.ZERO_SHOT_CLASSIFICATION, out.zeroShot(), JobConfig.ZERO_SHOT_TOPIC, ClassificationResult.class,
        r -> r.getKey() != null ? r.getKey() : r.getId(), spec, cfg, kafka, prefix, registry);
    DataStream<DeadLetter> dead = out.deadLetters().union(events.getSideOutput(Enrichment.DEAD_LETTERS));
    sink(dead, cfg, kafka, "dead-letters", cfg.get(JobConfig.DEAD_LETTERS_TOPIC),
        DeadLetter.class, DeadLetter::getId, prefix, registry);
    List<ShadowPair> pairs = ShadowPair.of(spec);
    if (!pairs.isEmpty()) {
      // agreement of each shadow with its primary, keyed by pair so that a pair's summaries stay in order
      DataStream<ShadowSummary> summaries = Shadows.apply(out.inference(), pairs,
          ShadowOptions.Settings.of(cfg.flink()));
      sink(summaries, cfg, kafka, "shadow-summary", cfg.get(JobConfig.SHADOW_SUMMARY_TOPIC),
          ShadowSummary.class, s -> s.getPrimary() + ">" + s.getShadow(), prefix, registry);
    }
  }

  /**
   * The topic each model's results go to: {@code inference.models.<name>.topic}, else the task's topic for a model
   * of {@code inference.model.<task>}, else {@code <task's topic>-<name>}; a shadow's default is
   * {@code <its primary's topic>-shadow}. In the spec's model order.
   */
  public static Map<String, String> modelTopics(InferenceSpec spec, JobConfig cfg) {
    Map<String, String> out = new LinkedHashMap<>();
    for (ModelSpec m : spec.models()) {
      String taskTopic = cfg.get(TASK_TOPICS.get(m.task()));
      out.put(m.name(), m.topic() != null ? m.topic() : m.perTaskKey() ? taskTopic : taskTopic + "-" + m.name());
    }
    for (ModelSpec m : spec.models()) {
      if (m.isShadow() && m.topic() == null) {
        out.put(m.name(), out.get(m.shadows()) + SHADOW_TOPIC_SUFFIX);
      }
    }
    return out;
  }

  /** What a shadow's default topic adds to its primary's. */
  public static final String SHADOW_TOPIC_SUFFIX = "-shadow";

  /**
   * A shadow's results never reach a primary's consumers: its topic may not be one a model that is no shadow writes
   * (its own primary's above all).
   */
  private static void checkShadowTopic(ModelSpec shadow, Map<String, String> topics, InferenceSpec spec) {
    String topic = topics.get(shadow.name());
    for (ModelSpec m : spec.models()) {
      if (!m.isShadow() && topic.equals(topics.get(m.name()))) {
        throw new IllegalArgumentException("shadow '" + shadow.name() + "' would write its results to '" + topic
            + "', the topic of model '" + m.name() + "', whose consumers must never see a shadow's results: set "
            + InferenceOptions.MODELS_PREFIX + shadow.name() + ".topic to another topic, or leave it unset (default "
            + topics.get(shadow.shadows()) + SHADOW_TOPIC_SUFFIX + ")");
      }
    }
  }

  /** Each task's topic option. */
  private static final Map<Task, ConfigOption<String>> TASK_TOPICS = Map.of(
      Task.TEXT_CLASSIFICATION, JobConfig.CLASSIFICATIONS_TOPIC, Task.TOKEN_CLASSIFICATION, JobConfig.ENTITIES_TOPIC,
      Task.QUESTION_ANSWERING, JobConfig.ANSWERS_TOPIC, Task.FEATURE_EXTRACTION, JobConfig.EMBEDDINGS_TOPIC,
      Task.FILL_MASK, JobConfig.FILL_MASK_TOPIC, Task.MULTIPLE_CHOICE, JobConfig.CHOICES_TOPIC,
      Task.ZERO_SHOT_CLASSIFICATION, JobConfig.ZERO_SHOT_TOPIC);

  /**
   * The sinks of one task's results: one per topic its models write. Models on the task's own topic share its sink
   * as before (same uid and transactional id); a model on a topic of its own gets a sink of its own, fed by a filter
   * on the model's name in each record ({@code model.name}), with uid and transactional-id prefix
   * {@code model-<name>} (the first of the topic's models, by name), unique because model names are.
   */
  private static <T extends SpecificRecordBase> void sinkTask(Task task, DataStream<T> stream,
      ConfigOption<String> topicOption, Class<T> type, SerializableFunction<T, String> key, InferenceSpec spec,
      JobConfig cfg, Properties kafka, String prefix, Serializers registry) {
    String taskTopic = cfg.get(topicOption);
    Map<String, String> topics = modelTopics(spec, cfg);
    Map<String, java.util.TreeSet<String>> byTopic = new LinkedHashMap<>();
    for (ModelSpec m : spec.models()) {
      if (m.task() == task) {
        String topic = topics.get(m.name());
        checkTopic(topic, m, task, cfg);
        if (m.isShadow()) {
          checkShadowTopic(m, topics, spec);
        }
        byTopic.computeIfAbsent(topic, t -> new java.util.TreeSet<>()).add(m.recordName());
      }
    }
    boolean split = byTopic.size() > 1 || (byTopic.size() == 1 && !byTopic.containsKey(taskTopic));
    for (Map.Entry<String, java.util.TreeSet<String>> e : byTopic.entrySet()) {
      String topic = e.getKey();
      boolean own = !topic.equals(taskTopic);
      String kind = own ? "model-" + firstModel(spec, task, topics, topic)
          : topicOption.key().substring("topics.".length());
      DataStream<T> records = !split ? stream : stream.filter(new ModelFilter<>(e.getValue()))
          .name("models " + e.getValue()).uid("distilstream-filter-" + kind);
      sink(records, cfg, kafka, kind, topic, type, key, prefix, registry);
    }
  }

  /** The first (by name) of the task's models writing to {@code topic}: names its sink. */
  private static String firstModel(InferenceSpec spec, Task task, Map<String, String> topics, String topic) {
    return spec.models().stream().filter(m -> m.task() == task && topic.equals(topics.get(m.name())))
        .map(ModelSpec::name).sorted().findFirst().orElseThrow();
  }

  /** A model's topic may not be the input, the dead letters' or another task's: those hold other records. */
  private static void checkTopic(String topic, ModelSpec m, Task task, JobConfig cfg) {
    List<String> others = new ArrayList<>(List.of(cfg.get(JobConfig.INPUT_TOPIC),
        cfg.get(JobConfig.DEAD_LETTERS_TOPIC)));
    TASK_TOPICS.forEach((t, o) -> {
      if (t != task) {
        others.add(cfg.get(o));
      }
    });
    if (others.contains(topic)) {
      throw new IllegalArgumentException("model '" + m.name() + "' would write its " + task.id() + " results to '"
          + topic + "', the topic of other records (input, dead letters or another task's results): set "
          + InferenceOptions.MODELS_PREFIX + m.name() + ".topic");
    }
  }

  /** Keeps the records of some models: the name each result carries in {@code model.name} (its recordName). */
  static final class ModelFilter<T extends SpecificRecordBase> implements FilterFunction<T> {
    private static final long serialVersionUID = 1L;
    private final java.util.Set<String> models;

    ModelFilter(java.util.Set<String> models) {
      this.models = new java.util.TreeSet<>(models);
    }

    @Override
    public boolean filter(T record) {
      return record.get("model") instanceof ModelInfo m && models.contains(m.getName());
    }
  }

  /**
   * The job's configuration as the operator reads it: {@code inference.max-result-bytes}, when unset, follows the
   * producers' {@code kafka.max.request.size} (less 1 KiB for the record's framing), so that no result the
   * operator emits is one the sink refuses.
   */
  static Configuration inferenceConfiguration(JobConfig cfg) {
    Configuration c = new Configuration(cfg.flink());
    if (!c.contains(InferenceOptions.MAX_RESULT_BYTES)) {
      c.set(InferenceOptions.MAX_RESULT_BYTES, Math.max(1024, cfg.maxRequestSize() - 1024));
    }
    return c;
  }

  /** One exactly-once sink; {@code kind} names its uid and transactional-id prefix (unique per job). */
  private static <T extends SpecificRecordBase> void sink(DataStream<T> stream, JobConfig cfg, Properties kafka,
      String kind, String topic, Class<T> type, SerializableFunction<T, String> key, String prefix,
      Serializers registry) {
    KafkaSink<T> sink = KafkaSink.<T>builder()
        .setBootstrapServers(cfg.bootstrapServers())
        .setKafkaProducerConfig(producerProperties(kafka))
        .setRecordSerializer(new TopicSerializer<>(
            registry.of(topic, type, key), topic))
        .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .setTransactionalIdPrefix(prefix + "-" + kind)
        // incrementing by default: a recovery probes and aborts every id the old attempt may have used, so that a
        // transaction a killed TaskManager left open does not hold back read_committed readers until it times out;
        // pooling skips the ids the restored state lists, and misses one reused at a lower parallelism
        .setTransactionNamingStrategy(cfg.transactionNaming())
        .build();
    stream.sinkTo(sink).name("kafka: " + topic).uid("distilstream-sink-" + kind);
  }

  /**
   * A record serializer that names its one topic to the connector ({@link KafkaDatasetFacetProvider}): the pooling
   * transaction naming lists the open transactions of the sink's topics on recovery, so it must know them (and
   * lineage reports them).
   */
  static final class TopicSerializer<T> implements KafkaRecordSerializationSchema<T>, KafkaDatasetFacetProvider {
    private static final long serialVersionUID = 1L;
    private final KafkaRecordSerializationSchema<T> delegate;
    private final String topic;

    TopicSerializer(KafkaRecordSerializationSchema<T> delegate, String topic) {
      this.delegate = delegate;
      this.topic = topic;
    }

    @Override
    public void open(SerializationSchema.InitializationContext context, KafkaSinkContext sinkContext)
        throws Exception {
      delegate.open(context, sinkContext);
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(T element, KafkaSinkContext context, Long timestamp) {
      return delegate.serialize(element, context, timestamp);
    }

    @Override
    public Optional<KafkaDatasetFacet> getKafkaDatasetFacet() {
      return Optional.of(new DefaultKafkaDatasetFacet(DefaultKafkaDatasetIdentifier.ofTopics(List.of(topic))));
    }
  }

  private static OffsetsInitializer startingOffsets(String s) {
    switch (s.toLowerCase(java.util.Locale.ROOT)) {
      case "earliest": return OffsetsInitializer.earliest();
      case "latest": return OffsetsInitializer.latest();
      default: return OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST);
    }
  }

  private static Properties consumerProperties(Properties kafka) {
    Properties p = new Properties();
    p.putAll(kafka);
    p.remove("transaction.timeout.ms");
    return p;
  }

  private static Properties producerProperties(Properties kafka) {
    Properties p = new Properties();
    p.putAll(kafka);
    p.remove("isolation.level");
    p.remove("group.id");
    return p;
  }

  /**
   * Checks the broker side of exactly-once before the job starts: the producers' {@code transaction.timeout.ms}
   * must not exceed the broker's {@code transaction.max.timeout.ms}, or every transaction is refused.
   */
  public static void checkBroker(JobConfig cfg) {
    Properties p = cfg.kafkaProperties();
    p.remove("transaction.timeout.ms");
    p.putIfAbsent("request.timeout.ms", "15000");
    p.putIfAbsent("default.api.timeout.ms", "30000");
    try (Admin admin = Admin.create(p)) {
      Collection<Node> nodes = admin.describeCluster().nodes().get(60, TimeUnit.SECONDS);
      if (nodes.isEmpty()) {
        throw new IllegalStateException("the Kafka cluster at " + cfg.bootstrapServers() + " reports no brokers");
      }
      ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, nodes.iterator().next().idString());
      Config c = admin.describeConfigs(List.of(broker)).all().get(60, TimeUnit.SECONDS).get(broker);
      ConfigEntry max = c.get("transaction.max.timeout.ms");
      if (max != null && max.value() != null && cfg.transactionTimeoutMs() > Long.parseLong(max.value())) {
        throw new IllegalArgumentException("kafka.transaction.timeout.ms (" + cfg.transactionTimeoutMs()
            + ") is above the broker's transaction.max.timeout.ms (" + max.value() + "): the broker would refuse"
            + " every transaction. Lower kafka.transaction.timeout.ms (it must stay at least "
            + cfg.minTransactionTimeoutMs() + " ms: 2 × execution.checkpointing.interval +"
            + " execution.checkpointing.timeout), or raise the broker's limit");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while checking the Kafka cluster", e);
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      throw new IllegalStateException("cannot reach the Kafka cluster at " + cfg.bootstrapServers() + ": " + e, e);
    }
  }

  /** Checks, builds and runs the job on the environment's cluster (local, or the one {@code flink run} gives). */
  public static JobExecutionResult run(StreamExecutionEnvironment env, JobConfig cfg) throws Exception {
    checkBroker(cfg);
    build(env, cfg);
    LOG.info("starting {} with\n{}", cfg.jobName(), cfg.describe());
    return env.execute(cfg.jobName());
  }
}
