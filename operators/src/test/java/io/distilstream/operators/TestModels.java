package io.distilstream.operators;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/** Locates ../shared/models, and builds the one deliberately broken model directory the failure tests need. */
final class TestModels {
  private TestModels() {}

  static Path model(String name) {
    String prop = System.getProperty("distilstream.shared", System.getenv("DISTILSTREAM_SHARED"));
    if (prop != null && Files.isDirectory(Paths.get(prop, "models", name))) {
      return Paths.get(prop, "models", name).toAbsolutePath().normalize();
    }
    for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
      Path candidate = p.resolveSibling("shared").resolve("models").resolve(name);
      if (Files.isDirectory(candidate)) {
        return candidate.normalize();
      }
    }
    throw new IllegalStateException("../shared/models/" + name + " not found beside the checkout");
  }

  static final String SEQ_CLS = "tiny-distilbert-sequence-classification";
  static final String TOKEN_CLS = "tiny-distilbert-token-classification";
  static final String QA = "tiny-distilbert-question-answering";

  /** A word whose id is past the model's vocabulary in {@link #withOutOfRangeWord}. */
  static final String BOOM = "zzboomzz";

  /**
   * The sequence classifier with a vocab.txt that has extra entries, the last one {@link #BOOM}, so that its id is
   * beyond the model's embedding table: ONNX Runtime then fails (Gather index out of range) on any text containing
   * it, and only on those. A real runtime failure, produced by a real model on real input.
   */
  static Path withOutOfRangeWord(Path into) throws IOException {
    Path src = model(SEQ_CLS);
    Files.createDirectories(into);
    Files.copy(src.resolve("config.json"), into.resolve("config.json"));
    Files.copy(src.resolve("tokenizer_config.json"), into.resolve("tokenizer_config.json"));
    Files.copy(src.resolve("model.onnx"), into.resolve("model.onnx"));
    List<String> vocab = new ArrayList<>(Files.readAllLines(src.resolve("vocab.txt")));
    while (vocab.size() < 40_000) {
      vocab.add("[unused_extra_" + vocab.size() + "]");
    }
    vocab.add(BOOM);
    Files.write(into.resolve("vocab.txt"), vocab);
    return into;
  }

  /**
   * Question answering that cannot keep up: one request per model call, each a long context of many windows, 200
   * in flight and a 300 ms timeout, so that the tail of the queue times out ({@link #longQuestions}).
   */
  static InferenceSpec slowQuestionAnswering() {
    return InferenceSpec.builder()
        .model(io.distilstream.runtime.pipeline.Task.QUESTION_ANSWERING, model(QA))
        .pipelineOptions(io.distilstream.runtime.pipeline.PipelineOptions.defaults()
            .batching(new io.distilstream.runtime.batch.BatchingOptions(1, 4096)))
        .maxWait(java.time.Duration.ZERO)
        .timeout(java.time.Duration.ofMillis(300))
        .capacity(200)
        .build();
  }

  /** {@code n} question-answering events q0, q1, … over a context of about 1,600 tokens. */
  static List<io.distilstream.schemas.TextEvent> longQuestions(int n) {
    String context = "Flink checkpoints the state of every operator and Kafka keeps the log. ".repeat(150);
    List<io.distilstream.schemas.TextEvent> events = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      events.add(io.distilstream.schemas.TextEvent.newBuilder().setId("q" + i).setQuestion("What keeps the log?")
          .setContext(context).setTasks(List.of("question-answering")).build());
    }
    return events;
  }
}
