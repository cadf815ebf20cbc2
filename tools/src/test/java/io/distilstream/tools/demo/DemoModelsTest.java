package io.distilstream.tools.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.runtime.cli.Args;
import io.distilstream.runtime.pipeline.Task;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code demo --model TASK=…}: a Hub id travels to the job as given (it pins and fetches it), a path absolute. */
class DemoModelsTest {
  private static Map<Task, String> models(String... argv) throws Exception {
    return Demo.models(Args.parse(argv, Set.of("schema-registry")));
  }

  @Test
  void modelFlagsTakeHubIdsAndDirectories(@TempDir Path dir) throws Exception {
    String sst2 = "distilbert/distilbert-base-uncased-finetuned-sst-2-english";
    Map<Task, String> m = models("--model", "text-classification=" + sst2, "--model",
        "token-classification=" + dir, "--model", "question-answering=distilbert/distilbert-base-cased-distilled-squad@main");
    assertThat(m).containsEntry(Task.TEXT_CLASSIFICATION, sst2)
        .containsEntry(Task.TOKEN_CLASSIFICATION, dir.toAbsolutePath().toString())
        .containsEntry(Task.QUESTION_ANSWERING, "distilbert/distilbert-base-cased-distilled-squad@main");
    assertThatThrownBy(() -> models("--model", "text-classification=distilbert/no such model"))
        .hasMessageContaining("neither a local path").hasMessageContaining("'no such model' is not a Hub name");
    assertThatThrownBy(() -> models("--model", sst2)).hasMessageContaining("--model takes TASK=DIR or TASK=ORG/NAME");
  }
}
