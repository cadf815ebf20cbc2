package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;

import io.distilstream.runtime.pipeline.Outcome;
import io.distilstream.schemas.DeadLetter;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The reason and stage codes are a contract with the dead-letter topic's consumers: these pin them. */
class DeadLetterReasonTest {

  @Test
  void reasonCodesAreTheStringsWrittenBefore() {
    assertThat(Arrays.stream(DeadLetterReason.values()).map(DeadLetterReason::code)).containsExactly(
        "MALFORMED_EVENT", "INVALID_INPUT", "TEXT_TOO_LONG", "UNKNOWN_TASK", "MODEL_ERROR", "TIMEOUT",
        "LIMIT_EXCEEDED", "RESULT_TOO_LARGE", "MODEL_RELOAD_FAILED", "UNKNOWN_MODEL");
  }

  @Test
  void everyOutcomeReasonMapsToTheCodeOfItsName() {
    // dead letters carried outcome.reason().name() before there was a mapping
    for (Outcome.Reason r : Outcome.Reason.values()) {
      assertThat(DeadLetterReason.of(r).code()).as("%s", r).isEqualTo(r.name());
    }
  }

  @Test
  void stageCodesAreTheStringsWrittenBefore() {
    assertThat(Arrays.stream(Stage.values()).map(Stage::code))
        .containsExactly("decode", "preprocess", "inference", "reload");
  }

  @Test
  void theRecordCarriesTheCodes() {
    DeadLetter d = DeadLetters.of("id", new byte[] {1}, DeadLetterReason.TEXT_TOO_LONG, null, Stage.PREPROCESS, "t");
    assertThat(d.getReason()).isEqualTo("TEXT_TOO_LONG");
    assertThat(d.getStage()).isEqualTo("preprocess");
    assertThat(d.getMessage()).isEqualTo("TEXT_TOO_LONG"); // no message: the reason stands in, as before
  }
}
