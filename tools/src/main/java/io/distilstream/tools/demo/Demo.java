package io.distilstream.tools.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.distilstream.jobs.EnrichmentJob;
import io.distilstream.jobs.JobConfig;
import io.distilstream.jobs.kafka.ConfluentWireFormat;
import io.distilstream.jobs.kafka.SchemaRegistryClient;
import io.distilstream.runtime.cli.Args;
import io.distilstream.runtime.cli.BuildModelCli;
import io.distilstream.runtime.hub.ModelSource;
import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.AnswerResult;
import io.distilstream.schemas.ClassificationResult;
import io.distilstream.schemas.DeadLetter;
import io.distilstream.schemas.EntityResult;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import io.distilstream.tools.local.LocalKafka;
import io.distilstream.tools.local.LocalSchemaRegistry;
import io.distilstream.tools.local.TopicReader;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * {@code distilstream demo}: a real Kafka broker and a local Flink cluster on this machine, sample events in, the
 * enrichment job for all three tasks, and what arrives on the output topics (read_committed) printed as tables.
 */
public final class Demo {
  public static final String USAGE = String.join("\n",
      "usage: distilstream demo [--model TASK=DIR|ORG/NAME[@REV]]... [--model-dir DIR] [--parallelism N]",
      "                         [--schema-registry]",
      "  Starts a Kafka broker (KRaft, 127.0.0.1, temp dir) and a local Flink cluster, produces sample events,",
      "  runs the enrichment job for text-classification, token-classification and question-answering, and",
      "  prints the results. Exits 0 when every event got its results or a dead letter.",
      "  --model TASK=DIR|ORG/NAME[@REV]   the model for a task (repeatable): a model directory, or a Hugging",
      "                     Face Hub id fetched into the HF cache (an existing local path wins), e.g.",
      "                     text-classification=distilbert/distilbert-base-uncased-finetuned-sst-2-english",
      "  --model-dir DIR    a directory with one model directory per task, named after the task",
      "  --parallelism N    Flink parallelism (2)",
      "  --schema-registry  also start a schema registry (Apicurio, Confluent-compatible API; needs a Java 21+",
      "                     runtime on the machine): some events in the Confluent wire format, every result and",
      "                     dead letter written in it (output.format=avro-confluent) and read back through it");

  private static final ObjectMapper JSON = new ObjectMapper();

  private Demo() {}

  public static int run(String[] argv, PrintStream out) throws Exception {
    Args args = Args.parse(argv, Set.of("schema-registry"));
    Map<Task, String> models = models(args);
    int parallelism = args.integer("parallelism", 2);
    boolean withRegistry = args.flag("schema-registry");
    args.rejectUnknown();

    out.println("distilstream demo");
    out.println("models:");
    boolean seeded = args.all("model").isEmpty() && args.string("model-dir", null) == null;
    for (Map.Entry<Task, String> e : models.entrySet()) {
      out.printf("  %-22s %s%n", e.getKey(), e.getValue());
    }
    if (seeded) {
      out.println("NOTE: no models given, so these are small DistilBERT models with seeded random weights, built in"
          + " Java just now:\n      their labels, entities and answers are not meaningful. Point the demo at real"
          + " models with\n      --model TASK=DIR (a Hugging Face export, or a directory with model.safetensors) or a Hub id:\n"
          + "      --model text-classification=distilbert/distilbert-base-uncased-finetuned-sst-2-english");
    }

    try (LocalSchemaRegistry registry = withRegistry ? LocalSchemaRegistry.start() : null;
        LocalKafka kafka = LocalKafka.start(Map.of())) {
      out.println("kafka: " + kafka.bootstrapServers() + " (KRaft, " + kafka.directory() + ")");
      if (registry != null) {
        out.println("schema registry: " + registry.url() + " (Apicurio, pid " + registry.pid() + ")");
      }
      Map<String, String> conf = new LinkedHashMap<>();
      conf.put("kafka.bootstrap.servers", kafka.bootstrapServers());
      conf.put("job.name", "distilstream-demo");
      conf.put("source.bounded", "true");
      conf.put("source.starting-offsets", "earliest");
      conf.put("execution.checkpointing.interval", "1 s");
      conf.put("inference.max-wait", "20 ms");
      models.forEach((task, model) -> conf.put("inference.model." + task.id(), model));
      if (registry != null) {
        conf.put("schema.registry.url", registry.url());
        conf.put("output.format", "avro-confluent");
      }
      JobConfig cfg = JobConfig.of(conf);
      SchemaRegistryClient client = registry == null ? null : new SchemaRegistryClient(cfg.registrySettings());
      List<String> topics = List.of(cfg.get(JobConfig.INPUT_TOPIC), cfg.get(JobConfig.CLASSIFICATIONS_TOPIC),
          cfg.get(JobConfig.ENTITIES_TOPIC), cfg.get(JobConfig.ANSWERS_TOPIC), cfg.get(JobConfig.EMBEDDINGS_TOPIC),
          cfg.get(JobConfig.DEAD_LETTERS_TOPIC));
      kafka.createTopics(2, topics);
      int produced = produceSamples(kafka.bootstrapServers(), cfg.get(JobConfig.INPUT_TOPIC), client);
      out.println("produced " + produced + " events to " + cfg.get(JobConfig.INPUT_TOPIC)
          + (client != null ? " (Avro single-object, the Confluent wire format, JSON, plain text, and a few broken"
          + " ones)" : " (Avro, JSON, plain text, and a few broken ones)"));

      Configuration flink = new Configuration();
      StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, flink);
      long start = System.nanoTime();
      EnrichmentJob.run(env, cfg);
      out.printf("job finished in %.1f s%n%n", (System.nanoTime() - start) / 1e9);

      String bs = kafka.bootstrapServers();
      Results read = new Results(client);
      if (client != null) {
        out.println("every record below was read through the registry (Confluent wire format, schema id in each)");
      }
      printClassifications(out, TopicReader.readCommitted(bs, cfg.get(JobConfig.CLASSIFICATIONS_TOPIC)), read);
      printEntities(out, TopicReader.readCommitted(bs, cfg.get(JobConfig.ENTITIES_TOPIC)), read);
      printAnswers(out, TopicReader.readCommitted(bs, cfg.get(JobConfig.ANSWERS_TOPIC)), read);
      printDeadLetters(out, TopicReader.readCommitted(bs, cfg.get(JobConfig.DEAD_LETTERS_TOPIC)), read);
    }
    return 0;
  }

  /** Each task's model: an absolute directory, or a Hub id as given (the job pins and fetches it). */
  static Map<Task, String> models(Args args) throws java.io.IOException {
    Map<Task, String> models = new EnumMap<>(Task.class);
    String dir = args.string("model-dir", null);
    if (dir != null) {
      for (Task t : List.of(Task.TEXT_CLASSIFICATION, Task.TOKEN_CLASSIFICATION, Task.QUESTION_ANSWERING)) {
        Path p = Paths.get(dir, t.id());
        if (Files.isDirectory(p)) {
          models.put(t, p.toAbsolutePath().toString());
        }
      }
      if (models.isEmpty()) {
        throw new Args.UsageException("--model-dir " + dir + " holds no text-classification/,"
            + " token-classification/ or question-answering/ model directory");
      }
    }
    for (String m : args.all("model")) {
      int eq = m.indexOf('=');
      if (eq <= 0) {
        throw new Args.UsageException("--model takes TASK=DIR or TASK=ORG/NAME[@REVISION], got '" + m + "'");
      }
      models.put(Task.parse(m.substring(0, eq)), ModelSource.absolute(m.substring(eq + 1)));
    }
    if (models.isEmpty()) {
      seededModels().forEach((t, seeded) -> models.put(t, seeded.toString()));
    }
    return models;
  }

  /**
   * Small DistilBERT models with seeded random weights, built in Java into a temp directory: the demo runs on any
   * machine with a JDK, and says plainly that their outputs mean nothing.
   */
  static Map<Task, Path> seededModels() throws java.io.IOException {
    Map<Task, Path> models = new EnumMap<>(Task.class);
    Path root = Files.createTempDirectory("distilstream-demo-models-");
    Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(root)));
    for (Task t : List.of(Task.TEXT_CLASSIFICATION, Task.TOKEN_CLASSIFICATION, Task.QUESTION_ANSWERING)) {
      Path dir = root.resolve(t.id());
      BuildModelCli.build(BuildModelCli.Request.seeded("distilbert-small", t.id(), 7, dir));
      models.put(t, dir);
    }
    return models;
  }

  private static void deleteTree(Path root) {
    try (var files = Files.walk(root)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (java.io.IOException | RuntimeException ignored) {
      // a temp directory left behind is not worth failing the demo for
    }
  }

  /** Reads result records in the encoding the job wrote them in: single-object, or through the registry. */
  private record Results(SchemaRegistryClient registry) {
    <T extends org.apache.avro.specific.SpecificRecordBase> T read(byte[] v, Class<T> type,
        org.apache.avro.message.BinaryMessageDecoder<T> singleObject) throws java.io.IOException {
      return registry != null ? ConfluentWireFormat.decode(registry, v, type) : singleObject.decode(v);
    }
  }

  static int produceSamples(String bootstrapServers, String topic) throws Exception {
    return produceSamples(bootstrapServers, topic, null);
  }

  /**
   * The bundled sample events, each in one of the accepted encodings (every third in the Confluent wire format when
   * a registry is given, its schema registered under the topic's subject), plus records that cannot be decoded.
   */
  static int produceSamples(String bootstrapServers, String topic, SchemaRegistryClient registry) throws Exception {
    int confluentId = registry == null ? -1 : registry.register(topic + "-value", TextEvent.getClassSchema());
    Map<String, Object> props = Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
        ProducerConfig.ACKS_CONFIG, "all",
        ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class,
        ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    List<byte[]> values = new ArrayList<>();
    try (InputStream in = Demo.class.getResourceAsStream("/demo/events.jsonl");
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
      String line;
      int i = 0;
      while ((line = r.readLine()) != null) {
        if (line.isBlank()) {
          continue;
        }
        // alternate encodings: Avro single-object for some, JSON for the others (and the Confluent format)
        if (confluentId >= 0 && i % 3 == 2) {
          i++;
          values.add(ConfluentWireFormat.encode(confluentId, toEvent(JSON.readTree(line))));
        } else if (i++ % 2 == 0) {
          values.add(TextEvents.encode(toEvent(JSON.readTree(line))));
        } else {
          values.add(line.getBytes(StandardCharsets.UTF_8));
        }
      }
    }
    values.add("A plain-text comment: I really enjoyed the concert last night.".getBytes(StandardCharsets.UTF_8));
    values.add(new byte[] {(byte) 0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9}); // Avro header, unknown schema
    values.add(new byte[] {'b', 'a', 'd', (byte) 0xFF, (byte) 0xFE}); // not UTF-8
    if (confluentId >= 0) {
      values.add(new byte[] {0, 0, 0x01, (byte) 0x86, (byte) 0xA0, 2, 'x'}); // Confluent format, unknown schema id
    }
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
      for (byte[] v : values) {
        producer.send(new ProducerRecord<>(topic, v)).get();
      }
    }
    return values.size();
  }

  private static TextEvent toEvent(JsonNode n) {
    List<String> tasks = new ArrayList<>();
    n.path("tasks").forEach(t -> tasks.add(t.asText()));
    return TextEvent.newBuilder()
        .setId(n.get("id").asText())
        .setKey(n.hasNonNull("key") ? n.get("key").asText() : null)
        .setText(n.hasNonNull("text") ? n.get("text").asText() : null)
        .setQuestion(n.hasNonNull("question") ? n.get("question").asText() : null)
        .setContext(n.hasNonNull("context") ? n.get("context").asText() : null)
        .setTasks(tasks)
        .build();
  }

  private static void printClassifications(PrintStream out, List<ConsumerRecord<byte[], byte[]>> records,
      Results read) throws Exception {
    out.println("== text-classification (" + records.size() + ") ==");
    out.printf("%-28s %-12s %8s %10s%n", "id", "label", "score", "latency");
    Set<String> models = new TreeSet<>();
    for (ConsumerRecord<byte[], byte[]> r : records) {
      ClassificationResult c = read.read(r.value(), ClassificationResult.class, ClassificationResult.getDecoder());
      out.printf("%-28s %-12s %8.4f %8.1fms%n", clip(c.getId(), 28), c.getLabels().get(0).getLabel(),
          c.getLabels().get(0).getScore(), c.getLatencyMicros() / 1000.0);
      models.add(c.getModel().getName() + "@" + c.getModel().getVersion());
    }
    printModels(out, models);
  }

  private static void printEntities(PrintStream out, List<ConsumerRecord<byte[], byte[]>> records, Results read)
      throws Exception {
    out.println("== token-classification (" + records.size() + ") ==");
    out.printf("%-28s %s%n", "id", "entities (label word [start,end) score)");
    Set<String> models = new TreeSet<>();
    for (ConsumerRecord<byte[], byte[]> r : records) {
      EntityResult e = read.read(r.value(), EntityResult.class, EntityResult.getDecoder());
      models.add(e.getModel().getName() + "@" + e.getModel().getVersion());
      StringBuilder sb = new StringBuilder();
      e.getEntities().stream().limit(6).forEach(s -> sb.append(String.format(Locale.ROOT, "%s '%s' [%d,%d) %.2f; ",
          s.getLabel(), s.getWord(), s.getStart(), s.getEnd(), s.getScore())));
      if (e.getEntities().size() > 6) {
        sb.append("… ").append(e.getEntities().size() - 6).append(" more");
      }
      out.printf("%-28s %s%n", clip(e.getId(), 28), sb.length() == 0 ? "(none)" : sb);
    }
    printModels(out, models);
  }

  private static void printAnswers(PrintStream out, List<ConsumerRecord<byte[], byte[]>> records, Results read)
      throws Exception {
    out.println("== question-answering (" + records.size() + ") ==");
    out.printf("%-28s %-40s %8s%n", "id", "answer", "score");
    Set<String> models = new TreeSet<>();
    for (ConsumerRecord<byte[], byte[]> r : records) {
      AnswerResult a = read.read(r.value(), AnswerResult.class, AnswerResult.getDecoder());
      models.add(a.getModel().getName() + "@" + a.getModel().getVersion());
      out.printf("%-28s %-40s %8.4f%n", clip(a.getId(), 28), "'" + clip(a.getAnswers().get(0).getAnswer(), 38) + "'",
          a.getAnswers().get(0).getScore());
    }
    printModels(out, models);
  }

  /** Which model (name@version: a Hub id's commit, else config.json's version or a content hash) made the rows. */
  private static void printModels(PrintStream out, Set<String> models) {
    if (!models.isEmpty()) {
      out.println("made by " + String.join(", ", models));
    }
    out.println();
  }

  private static void printDeadLetters(PrintStream out, List<ConsumerRecord<byte[], byte[]>> records, Results read)
      throws Exception {
    out.println("== dead letters (" + records.size() + ") ==");
    out.printf("%-28s %-16s %-11s %s%n", "id", "reason", "stage", "message");
    for (ConsumerRecord<byte[], byte[]> r : records) {
      DeadLetter d = read.read(r.value(), DeadLetter.class, DeadLetter.getDecoder());
      out.printf("%-28s %-16s %-11s %s%n", clip(String.valueOf(d.getId()), 28), d.getReason(), d.getStage(),
          clip(d.getMessage(), 70));
    }
    out.println();
  }

  private static String clip(String s, int n) {
    return s.length() <= n ? s : s.substring(0, n - 1) + "…";
  }
}
