package io.distilstream.jobs;

import io.distilstream.jobs.kafka.AvroRecordSerializer;
import io.distilstream.jobs.kafka.EventDecoder;
import io.distilstream.jobs.kafka.SchemaRegistryClient;
import io.distilstream.operators.InferenceOptions;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.kafka.sink.TransactionNamingStrategy;

/**
 * The enrichment job's configuration: one flat set of keys, from a properties file and then {@code --set key=value}
 * overrides. Flink keys ({@code parallelism.default}, {@code execution.checkpointing.interval}, ...) go to Flink,
 * {@code inference.*} to the operator ({@link InferenceOptions}), and every {@code kafka.*} key to the Kafka
 * clients with the prefix removed ({@code kafka.security.protocol=SASL_SSL}, ...). Secrets are never printed.
 */
public final class JobConfig {
  public static final ConfigOption<String> JOB_NAME = ConfigOptions.key("job.name")
      .stringType().defaultValue("distilstream-enrichment").withDescription("Flink job name.");
  public static final ConfigOption<String> BOOTSTRAP_SERVERS = ConfigOptions.key("kafka.bootstrap.servers")
      .stringType().noDefaultValue()
      .withDescription("Kafka bootstrap servers (required; on the command line also --bootstrap-servers).");
  /** Read as a raw key ({@link #transactionTimeoutMs}); declared for its key, default and documentation. */
  public static final ConfigOption<Long> TRANSACTION_TIMEOUT_MS = ConfigOptions.key("kafka.transaction.timeout.ms")
      .longType().defaultValue(Duration.ofMinutes(15).toMillis())
      .withDescription("The sinks' Kafka transaction timeout in ms (the producers' transaction.timeout.ms; Flink's"
          + " own default of 1 h is above the broker's default limit). Must be at least 2 ×"
          + " execution.checkpointing.interval + execution.checkpointing.timeout (a transaction stays open from one"
          + " checkpoint's barrier until the next checkpoint completes; 10 min 20 s with Flink's defaults) and at"
          + " most the broker's transaction.max.timeout.ms (15 min by default); both are checked at start. It must"
          + " also outlast a restart (a restore commits the restored checkpoint's transactions; one the broker"
          + " aborted first is lost), which is why it is not derived from the interval. It bounds how long"
          + " read_committed readers wait behind a transaction that a recovery could not abort.");
  /** Read as a raw key ({@link #maxRequestSize}); declared for its key, default and documentation. */
  public static final ConfigOption<Integer> MAX_REQUEST_SIZE = ConfigOptions.key("kafka.max.request.size")
      .intType().defaultValue(1024 * 1024)
      .withDescription("The producers' max.request.size (Kafka's default). Unless inference.max-result-bytes is"
          + " set, a result over this less 1 KiB becomes a RESULT_TOO_LARGE dead letter instead of failing the sink.");
  public static final ConfigOption<String> INPUT_TOPIC = topic("input", "text-events",
      "Input topic of text events (TextEvent, JSON or plain text: input.format).");
  public static final ConfigOption<String> CLASSIFICATIONS_TOPIC =
      topic("classifications", "text-labels", "text-classification results (ClassificationResult).");
  public static final ConfigOption<String> ENTITIES_TOPIC =
      topic("entities", "text-entities", "token-classification results (EntityResult).");
  public static final ConfigOption<String> ANSWERS_TOPIC =
      topic("answers", "text-answers", "question-answering results (AnswerResult).");
  public static final ConfigOption<String> EMBEDDINGS_TOPIC =
      topic("embeddings", "text-embeddings", "feature-extraction results (EmbeddingResult).");
  public static final ConfigOption<String> FILL_MASK_TOPIC =
      topic("fill-mask", "text-fill-mask", "fill-mask results (FillMaskResult: per mask the candidates with score, token,"
          + " token_str and sequence).");
  public static final ConfigOption<String> CHOICES_TOPIC =
      topic("choices", "text-choices", "multiple-choice results (ChoiceResult: per choice its score and logit; the"
          + " best).");
  public static final ConfigOption<String> ZERO_SHOT_TOPIC =
      topic("zero-shot", "text-zero-shot", "zero-shot-classification results (ClassificationResult: every candidate"
          + " label, best first). Not part of the derived sink.transactional-id-prefix, so adding zero-shot renames"
          + " no running deployment's transactions.");
  public static final ConfigOption<String> DEAD_LETTERS_TOPIC =
      topic("dead-letters", "text-dead-letters", "Events without a result (DeadLetter: the original bytes, reason, message and stage).");
  public static final ConfigOption<String> SHADOW_SUMMARY_TOPIC =
      topic("shadow-summary", "text-shadow-summary", "ShadowSummary records: per primary/shadow pair"
          + " (inference.models.<name>.shadows), its agreement every inference.shadow.summary-every compared events."
          + " Written only by a job with a shadow.");
  public static final ConfigOption<String> INPUT_FORMAT = ConfigOptions.key("input.format")
      .stringType().defaultValue("auto")
      .withDescription("auto (Avro single-object, JSON or plain text per record; the Confluent wire format too when"
          + " schema.registry.url is set), avro, avro-confluent, json or text.");
  public static final ConfigOption<String> OUTPUT_FORMAT = ConfigOptions.key("output.format")
      .stringType().defaultValue("avro")
      .withDescription("Encoding of every result and dead letter: avro (single-object encoding) or avro-confluent"
          + " (the Confluent wire format; schemas registered in the schema registry at start).");
  public static final ConfigOption<String> SCHEMA_REGISTRY_URL = ConfigOptions.key("schema.registry.url")
      .stringType().noDefaultValue()
      .withDescription("Schema registry base URL(s), comma-separated (Confluent API; Apicurio: .../apis/ccompat/v7)."
          + " Beside it, as Confluent's clients name them: basic.auth.credentials.source, basic.auth.user.info,"
          + " bearer.auth.credentials.source, bearer.auth.token, schema.registry.ssl.{truststore,keystore}.*,"
          + " auto.register.schemas, value.subject.name.strategy; and schema.registry.cache.capacity,"
          + " schema.registry.max.schema.bytes, schema.registry.request.timeout.ms.");
  public static final ConfigOption<Integer> MAX_RECORD_BYTES = ConfigOptions.key("input.max-record-bytes")
      .intType().defaultValue(EventDecoder.Limits.DEFAULTS.maxRecordBytes())
      .withDescription("Largest input record value that is decoded; a larger one is a LIMIT_EXCEEDED dead letter"
          + " (its first 512 KiB kept). Every allocation of decoding is bounded by a constant times this.");
  public static final ConfigOption<Integer> MAX_JSON_DEPTH = ConfigOptions.key("input.max-json-depth")
      .intType().defaultValue(EventDecoder.Limits.DEFAULTS.maxJsonDepth())
      .withDescription("Deepest nesting of a JSON event (an event is 2 deep); deeper is a LIMIT_EXCEEDED dead"
          + " letter.");
  public static final ConfigOption<Integer> MAX_COLLECTION_ITEMS = ConfigOptions.key("input.max-collection-items")
      .intType().defaultValue(EventDecoder.Limits.DEFAULTS.maxCollectionItems())
      .withDescription("Most items in an event's tasks, models, choices and attributes together (and names in the"
          + " inference.routing.header), Avro or JSON; more is a"
          + " LIMIT_EXCEEDED dead letter. Avro lengths and counts are also checked against the bytes that remain.");
  public static final ConfigOption<String> GROUP_ID = ConfigOptions.key("source.group-id")
      .stringType().noDefaultValue().withDescription("Consumer group id; default: the job name.");
  public static final ConfigOption<String> STARTING_OFFSETS = ConfigOptions.key("source.starting-offsets")
      .stringType().defaultValue("committed")
      .withDescription("committed (falling back to earliest), earliest or latest.");
  public static final ConfigOption<Boolean> BOUNDED = ConfigOptions.key("source.bounded")
      .booleanType().defaultValue(false)
      .withDescription("Stop at the offsets that are latest when the job starts (demo, tests, backfills).");
  public static final ConfigOption<String> TRANSACTIONAL_ID_PREFIX = ConfigOptions.key("sink.transactional-id-prefix")
      .stringType().noDefaultValue()
      .withDescription("Prefix of the sinks' Kafka transactional ids. Default: the job name, '-', and 8 hex digits"
          + " of a hash of the bootstrap servers, the consumer group and every topic, so that two deployments of"
          + " one job name on one Kafka cluster do not fence each other (two that share all of these are the same"
          + " pipeline). Keep it stable across restarts: restoring under another prefix leaves the old open"
          + " transactions to time out.");
  public static final ConfigOption<String> TRANSACTION_NAMING = ConfigOptions.key("sink.transaction-naming")
      .stringType().defaultValue("incrementing")
      .withDescription("How the sinks name their Kafka transactions, and so how a recovery finds the ones a lost"
          + " TaskManager left open. 'incrementing' (the connector's own default): one id per subtask and"
          + " checkpoint, <prefix>-<subtask>-<checkpoint>; a recovery initialises (so aborts) the ids from the"
          + " restored checkpoint on, one by one, until one was never used, for its own subtask id and the ones a"
          + " lower parallelism left it. Each id stays on the broker until transactional.id.expiration.ms (7 days by"
          + " default). 'pooling': a few ids per subtask, reused; a recovery lists the open transactions on its topics"
          + " (Admin listTransactions, broker 3.0+) and aborts its own; with ACLs it needs, besides WRITE, DESCRIBE on"
          + " the transactional ids and DESCRIBE and READ on the output topics. Pooling leaves a transaction open"
          + " until kafka.transaction.timeout.ms when the job is restored at a lower parallelism after a failure"
          + " between a sink's barrier and the completion of that checkpoint (connector 5.0.0; DownscaleStallITCase)."
          + " State written with pooling cannot be restored with incrementing (the connector refuses): a job that ran"
          + " with pooling keeps it, or starts without state.");

  /** Flink's KafkaSink default (1 h) exceeds the broker's default transaction.max.timeout.ms (15 min). */
  public static final long DEFAULT_TRANSACTION_TIMEOUT_MS = TRANSACTION_TIMEOUT_MS.defaultValue();
  static final Duration DEFAULT_CHECKPOINT_INTERVAL = Duration.ofSeconds(10);

  private final Configuration conf;

  private JobConfig(Configuration conf) {
    this.conf = conf;
  }

  private static ConfigOption<String> topic(String name, String dflt, String doc) {
    return ConfigOptions.key("topics." + name).stringType().defaultValue(dflt).withDescription(doc);
  }

  /** Reads a properties file (may be null), then applies the overrides in order. */
  public static JobConfig load(Path propertiesFile, Map<String, String> overrides) throws IOException {
    Map<String, String> all = new TreeMap<>();
    if (propertiesFile != null) {
      if (!Files.isRegularFile(propertiesFile)) {
        throw new IllegalArgumentException("configuration file not found: " + propertiesFile);
      }
      Properties p = new Properties();
      try (Reader r = Files.newBufferedReader(propertiesFile, StandardCharsets.UTF_8)) {
        p.load(r);
      }
      p.stringPropertyNames().forEach(k -> all.put(k, p.getProperty(k).trim()));
    }
    all.putAll(overrides);
    return of(all);
  }

  public static JobConfig of(Map<String, String> values) {
    Configuration c = Configuration.fromMap(values);
    if (!c.contains(CheckpointingOptions.CHECKPOINTING_INTERVAL)) {
      c.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, DEFAULT_CHECKPOINT_INTERVAL);
    }
    JobConfig jc = new JobConfig(c);
    jc.validate();
    return jc;
  }

  private void validate() {
    if (!conf.getOptional(BOOTSTRAP_SERVERS).isPresent()) {
      throw new IllegalArgumentException(BOOTSTRAP_SERVERS.key() + " is required (or --bootstrap-servers)");
    }
    long txTimeout = transactionTimeoutMs();
    long floor = minTransactionTimeoutMs();
    if (txTimeout < floor) {
      throw new IllegalArgumentException("kafka.transaction.timeout.ms (" + txTimeout + ") must be at least 2 × "
          + CheckpointingOptions.CHECKPOINTING_INTERVAL.key() + " (" + checkpointInterval().toMillis() + " ms) + "
          + CheckpointingOptions.CHECKPOINTING_TIMEOUT.key() + " (" + checkpointTimeout().toMillis() + " ms) = "
          + floor + " ms: a transaction stays open from one checkpoint's barrier until the next checkpoint"
          + " completes, and one the broker times out before the commit loses its records. Raise it (up to the"
          + " broker's transaction.max.timeout.ms), or lower the checkpoint interval or timeout");
    }
    decoderLimits(); // validates them
    SchemaRegistryClient.Settings registry = registrySettings(); // validates them
    boolean confluentIn = inputFormat() == EventDecoder.Format.AVRO_CONFLUENT;
    if ((confluentIn || outputFormat() == AvroRecordSerializer.Format.AVRO_CONFLUENT) && registry == null) {
      throw new IllegalArgumentException((confluentIn ? INPUT_FORMAT.key() : OUTPUT_FORMAT.key())
          + "=avro-confluent needs " + SCHEMA_REGISTRY_URL.key());
    }
    transactionNaming(); // validates it
    String offsets = conf.get(STARTING_OFFSETS).toLowerCase(Locale.ROOT);
    if (!List.of("committed", "earliest", "latest").contains(offsets)) {
      throw new IllegalArgumentException(STARTING_OFFSETS.key() + " must be committed, earliest or latest, got '"
          + offsets + "'");
    }
  }

  public Configuration flink() { return conf; }
  public String jobName() { return conf.get(JOB_NAME); }
  public String bootstrapServers() { return conf.get(BOOTSTRAP_SERVERS); }
  public String get(ConfigOption<String> option) { return conf.get(option); }
  public boolean bounded() { return conf.get(BOUNDED); }
  public EventDecoder.Format inputFormat() {
    return EventDecoder.parseFormat(conf.get(INPUT_FORMAT));
  }
  public AvroRecordSerializer.Format outputFormat() {
    return AvroRecordSerializer.parseFormat(conf.get(OUTPUT_FORMAT));
  }
  /** The schema registry options ({@code schema.registry.url} and the keys beside it), or null without a URL. */
  public SchemaRegistryClient.Settings registrySettings() {
    return SchemaRegistryClient.Settings.from(conf.toMap());
  }
  /** The input decoder's bounds ({@code input.max-*}). */
  public EventDecoder.Limits decoderLimits() {
    return new EventDecoder.Limits(conf.get(MAX_RECORD_BYTES), conf.get(MAX_JSON_DEPTH),
        conf.get(MAX_COLLECTION_ITEMS));
  }
  /**
   * The producers' {@code max.request.size} ({@code kafka.max.request.size}, Kafka's default 1 MiB): a result
   * whose record would be larger becomes a RESULT_TOO_LARGE dead letter instead of failing the sink.
   */
  public int maxRequestSize() {
    String v = conf.toMap().get(MAX_REQUEST_SIZE.key());
    return v == null ? MAX_REQUEST_SIZE.defaultValue() : Integer.parseInt(v.trim());
  }
  public String groupId() { return conf.getOptional(GROUP_ID).orElse(jobName()); }
  public String transactionalIdPrefix() {
    return conf.getOptional(TRANSACTIONAL_ID_PREFIX).orElseGet(this::derivedTransactionalIdPrefix);
  }

  /**
   * The job name and a hash of what makes a deployment distinct on a Kafka cluster: its brokers, consumer group and
   * topics. The same for every restart of one deployment (its transactions must be found again after a restore).
   */
  private String derivedTransactionalIdPrefix() {
    StringBuilder identity = new StringBuilder(bootstrapServers()).append('\n').append(groupId());
    // topics.zero-shot is left out: adding it would rename the transactions of every deployment running before it
    for (ConfigOption<String> topic : List.of(INPUT_TOPIC, CLASSIFICATIONS_TOPIC, ENTITIES_TOPIC, ANSWERS_TOPIC,
        EMBEDDINGS_TOPIC, FILL_MASK_TOPIC, CHOICES_TOPIC, DEAD_LETTERS_TOPIC)) {
      identity.append('\n').append(conf.get(topic));
    }
    try {
      byte[] hash = MessageDigest.getInstance("SHA-256").digest(identity.toString().getBytes(StandardCharsets.UTF_8));
      return jobName() + "-" + HexFormat.of().formatHex(hash, 0, 4);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is part of every JDK", e);
    }
  }

  /** The sinks' {@link TransactionNamingStrategy} ({@code sink.transaction-naming}). */
  public TransactionNamingStrategy transactionNaming() {
    String v = conf.get(TRANSACTION_NAMING).trim().toUpperCase(Locale.ROOT);
    try {
      return TransactionNamingStrategy.valueOf(v);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(TRANSACTION_NAMING.key() + " must be pooling or incrementing, got '"
          + conf.get(TRANSACTION_NAMING) + "'");
    }
  }

  public Duration checkpointInterval() {
    return conf.get(CheckpointingOptions.CHECKPOINTING_INTERVAL);
  }

  /** Flink's {@code execution.checkpointing.timeout}: how long a checkpoint may take before it is aborted. */
  public Duration checkpointTimeout() {
    return conf.get(CheckpointingOptions.CHECKPOINTING_TIMEOUT);
  }

  /**
   * The least {@code kafka.transaction.timeout.ms} the job accepts: 2 × the checkpoint interval + the checkpoint
   * timeout. A sink's transaction is opened at one checkpoint's barrier and committed when the next checkpoint
   * completes: up to an interval and a checkpoint that takes up to its timeout, and one interval more when that
   * checkpoint is declined and the next one commits it. A floor, not a default: a restore also commits the restored
   * checkpoint's transactions, so the timeout must outlast the downtime too, which no setting bounds; the default
   * (15 min) is kept for that.
   */
  public long minTransactionTimeoutMs() {
    return 2 * checkpointInterval().toMillis() + checkpointTimeout().toMillis();
  }

  public long transactionTimeoutMs() {
    String v = conf.toMap().get(TRANSACTION_TIMEOUT_MS.key());
    try {
      return v == null ? DEFAULT_TRANSACTION_TIMEOUT_MS : Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("kafka.transaction.timeout.ms must be a number of milliseconds, got '"
          + v + "'");
    }
  }

  /** Every {@code kafka.*} key, prefix removed: passed to the Kafka source, sinks and admin client as they are. */
  public Properties kafkaProperties() {
    Properties p = new Properties();
    for (Map.Entry<String, String> e : conf.toMap().entrySet()) {
      if (e.getKey().startsWith("kafka.")) {
        p.setProperty(e.getKey().substring("kafka.".length()), e.getValue());
      }
    }
    p.setProperty("transaction.timeout.ms", Long.toString(transactionTimeoutMs()));
    return p;
  }

  /** The configuration for logs and messages, secrets masked. */
  public String describe() {
    StringBuilder sb = new StringBuilder();
    for (Map.Entry<String, String> e : new TreeMap<>(conf.toMap()).entrySet()) {
      sb.append("  ").append(e.getKey()).append(" = ")
          .append(isSecret(e.getKey()) ? "******"
              // basic.auth.credentials.source=URL: the password is in the URL
              : e.getKey().equals(SCHEMA_REGISTRY_URL.key()) ? e.getValue().replaceAll("//[^/@,]*@", "//******@")
              : e.getValue()).append('\n');
    }
    return sb.toString();
  }

  static boolean isSecret(String key) {
    String k = key.toLowerCase(Locale.ROOT);
    return k.contains("password") || k.contains("secret") || k.contains("jaas") || k.contains("credential")
        || k.endsWith("user.info") || k.equals("bearer.auth.token") // the schema registry's
        || (k.startsWith("kafka.") && (k.contains("token") || k.endsWith(".key")));
  }
}
