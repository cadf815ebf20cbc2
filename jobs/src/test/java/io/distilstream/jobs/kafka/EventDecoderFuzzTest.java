package io.distilstream.jobs.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import java.lang.management.ManagementFactory;
import java.util.Arrays;

/**
 * Fuzz target: {@link EventDecoder#decode} on any record value, in each input format (auto, avro, json, text).
 * Invariants: it returns an event (with an id, re-encodable as Avro, no unpaired surrogate in any text) or throws
 * {@link EventDecoder.MalformedEvent}, nothing else (no other exception, no {@code OutOfMemoryError} or
 * {@code StackOverflowError}); and it allocates at most 64 bytes per record byte plus 16 MB (room for Jazzer's instrumentation and the JIT), whatever lengths or
 * counts the record claims.
 *
 * <p>Input: byte 0 picks the format; the rest is the record value. The committed inputs hold Avro, JSON and text
 * seeds and the hostile corpus's crashes (a 16-byte Avro record claiming a 2^31-byte string, an Avro array claiming
 * 2^30 items, deeply nested JSON, lone surrogate escapes).
 */
class EventDecoderFuzzTest {
  // the formats that need no schema registry, in the order the committed inputs were written for
  private static final EventDecoder.Format[] FORMATS = {
    EventDecoder.Format.AUTO, EventDecoder.Format.AVRO, EventDecoder.Format.JSON, EventDecoder.Format.TEXT};

  @FuzzTest(maxDuration = "5s")
  void decode(byte[] data) throws Exception {
    if (data.length < 1) {
      return;
    }
    EventDecoder decoder = new EventDecoder(FORMATS[(data[0] & 0xFF) % FORMATS.length]);
    byte[] value = Arrays.copyOfRange(data, 1, data.length);
    RawEvent raw = new RawEvent("text-events", 0, 42, 1_700_000_000_000L, null, value);
    long bound = 64L * value.length + (16L << 20);
    TextEvent event;
    long before = allocated();
    try {
      event = decoder.decode(raw);
    } catch (EventDecoder.MalformedEvent e) {
      event = null;
    }
    long used = allocated() - before;
    if (used > bound) {
      // once more: one-time work (class loading, Jackson's and Avro's lazy tables) is not the record's cost
      before = allocated();
      try {
        decoder.decode(raw);
      } catch (EventDecoder.MalformedEvent e) {
        // as before
      }
      used = allocated() - before;
    }
    assertThat(used).as("bytes allocated decoding %d bytes", value.length).isLessThanOrEqualTo(bound);
    if (event == null) {
      return;
    }
    assertThat(event.getId()).isNotNull();
    for (CharSequence s : new CharSequence[] {event.getText(), event.getQuestion(), event.getContext(),
        event.getTextPair(), event.getKey()}) {
      assertThat(unpairedSurrogate(s)).as("unpaired surrogate in %s", s).isFalse();
    }
    // a dead letter re-encodes the event: that must work for every decoded event
    assertThat(TextEvents.decode(TextEvents.encode(event)).getId().toString()).isEqualTo(event.getId().toString());
  }

  private static long allocated() {
    return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
  }

  private static boolean unpairedSurrogate(CharSequence s) {
    if (s == null) {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c) && (i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(++i)))) {
        return true;
      }
      if (Character.isLowSurrogate(c)) {
        return true;
      }
    }
    return false;
  }
}
