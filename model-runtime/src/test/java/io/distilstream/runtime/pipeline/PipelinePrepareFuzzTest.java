package io.distilstream.runtime.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.distilstream.runtime.FamilyModels;
import io.distilstream.runtime.FuzzInputs;
import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.graph.GraphBuilder;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.tokenizer.Encoding;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Fuzz target: every task's pre-processing ({@link Pipeline#prepare}, and {@link TextClassificationPipeline#preparePair})
 * on the fixture models of ../shared (and, for feature extraction and multiple choice, graphs built from a fixture's
 * config and seeded weights), under the default long-text policy and under reject or chunk. Invariants: it never
 * throws, whatever the input; a failed input has a reason; a prepared one has windows within the model's length and
 * vocabulary (one per choice for multiple choice), no more windows than the input has bytes, and allocated at most
 * 256 bytes per input byte plus 64 per token it hands to the model.
 *
 * <p>Input: byte 0 picks the pipeline, byte 1 bit 0 raw UTF-16 strings; the rest are the strings, split at 0x1F
 * bytes: the text (and its pair), the question and its context, or the prompt and its choices.
 */
class PipelinePrepareFuzzTest {
  /** One pipeline and how fuzz strings become its input. */
  private record Target(String name, Pipeline<?, ?> pipeline, Function<List<String>, Pipeline.Prepared<?>> prepare,
      Function<List<String>, Integer> windowsWanted) {}

  private static final List<Target> TARGETS = targets();

  private static List<Target> targets() {
    try {
      Path built = Files.createDirectories(Paths.get("target", "fuzz-models"));
      Path features = built.resolve("feature-extraction");
      Path choices = built.resolve("multiple-choice");
      if (!Files.exists(features.resolve("model.onnx"))) {
        FamilyModels.write(features, SharedModels.SEQ_CLS, "DistilBertModel", List.of("LABEL_0"),
            GraphBuilder.Head.BASE, 7, 0.3);
      }
      if (!Files.exists(choices.resolve("model.onnx"))) {
        FamilyModels.write(choices, SharedModels.SEQ_CLS, "DistilBertForMultipleChoice", List.of("LABEL_0"),
            GraphBuilder.Head.MULTIPLE_CHOICE, 7, 0.3);
      }
      PipelineOptions reject = PipelineOptions.defaults().longText(PipelineOptions.LongText.REJECT);
      PipelineOptions chunk = PipelineOptions.defaults().longText(PipelineOptions.LongText.CHUNK);
      List<Target> t = new ArrayList<>();
      for (PipelineOptions o : List.of(PipelineOptions.defaults(), reject, chunk)) {
        TextClassificationPipeline p = (TextClassificationPipeline) Pipeline.create(Task.TEXT_CLASSIFICATION,
            ModelDirectory.of(SharedModels.model(SharedModels.SEQ_CLS)), o);
        t.add(new Target("text-classification " + o.longText(), p, s -> p.prepare(s.get(0)), s -> -1));
        t.add(new Target("text-classification pair " + o.longText(), p,
            s -> p.preparePair(s.get(0), s.size() > 1 ? s.get(1) : null), s -> -1));
      }
      for (PipelineOptions o : List.of(PipelineOptions.defaults(), reject)) {
        t.add(text(Task.TOKEN_CLASSIFICATION, SharedModels.model(SharedModels.TOKEN_CLS), o));
        t.add(text(Task.TOKEN_CLASSIFICATION, SharedModels.model(SharedModels.BERT_TOKEN_CLS), o));
        t.add(text(Task.FILL_MASK, SharedModels.model(SharedModels.MASKED_LM), o));
        t.add(text(Task.FEATURE_EXTRACTION, features, o));
        QuestionAnsweringPipeline qa = (QuestionAnsweringPipeline) Pipeline.create(Task.QUESTION_ANSWERING,
            ModelDirectory.of(SharedModels.model(SharedModels.QA)), o);
        t.add(new Target("question-answering " + o.longText(), qa, s -> qa.prepare(
            new QuestionAnsweringPipeline.Question(s.get(0), s.size() > 1 ? s.get(1) : null)), s -> -1));
        MultipleChoicePipeline mc = (MultipleChoicePipeline) Pipeline.create(Task.MULTIPLE_CHOICE,
            ModelDirectory.of(choices), o);
        t.add(new Target("multiple-choice " + o.longText(), mc, s -> mc.prepare(
            new MultipleChoicePipeline.Question(s.get(0), s.subList(1, s.size()))), s -> s.size() - 1));
      }
      return t;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @SuppressWarnings("unchecked")
  private static Target text(Task task, Path dir, PipelineOptions o) {
    Pipeline<String, ?> p = (Pipeline<String, ?>) Pipeline.create(task, ModelDirectory.of(dir), o);
    return new Target(task + " " + dir.getFileName() + " " + o.longText(), p, s -> p.prepare(s.get(0)), s -> -1);
  }

  @FuzzTest(maxDuration = "5s")
  void prepare(byte[] data) {
    if (data.length < 2) {
      return;
    }
    Target t = TARGETS.get((data[0] & 0xFF) % TARGETS.size());
    List<String> s = FuzzInputs.strings(data, 2, (data[1] & 1) != 0);
    Pipeline.Prepared<?> p = FuzzInputs.withBoundedAllocation(data.length, 256, () -> t.prepare().apply(s),
        prepared -> 64L * prepared.tokens());

    assertThat(p).as(t.name()).isNotNull();
    if (p.failed()) {
      assertThat(p.reason()).as("%s: the reason of a failed input", t.name()).isNotNull();
      return;
    }
    List<Encoding> windows = p.windows;
    assertThat(windows).as(t.name()).isNotEmpty().hasSizeLessThanOrEqualTo(data.length + 1);
    int wanted = t.windowsWanted().apply(s);
    if (wanted >= 0) {
      assertThat(windows).as("%s: one window per choice", t.name()).hasSize(wanted);
    }
    int vocab = t.pipeline().tokenizer().vocabSize();
    for (Encoding e : windows) {
      assertThat(e.length()).as("%s: window length", t.name()).isBetween(2, t.pipeline().maxLength());
      for (int id : e.ids) {
        assertThat(id).as("%s: token id", t.name()).isBetween(0, vocab - 1);
      }
    }
  }
}
