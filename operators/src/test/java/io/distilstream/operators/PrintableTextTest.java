package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** A text the tokenizer would reduce to nothing (control characters, format characters, spaces) is not input. */
class PrintableTextTest {
  @Test
  void controlFormatAndSpaceCharactersAloneAreNotPrintable() {
    assertThat(InferenceFunction.printable("\u0000\u0001\u0007\t\n\u001f\u007f\u0085\u009f\u200b\u00a0\u2028"))
        .isFalse();
    assertThat(InferenceFunction.printable("\u0000a\u0001")).isTrue();
    assertThat(InferenceFunction.printable("🙂")).isTrue();
    assertThat(InferenceFunction.printable("é")).isTrue();
  }
}
