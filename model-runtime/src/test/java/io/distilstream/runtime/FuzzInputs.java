package io.distilstream.runtime;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import java.util.function.ToLongFunction;

/**
 * Helpers of the fuzz targets ({@code *FuzzTest}): fuzzer bytes to strings, and the bound on what one input may
 * allocate. The bytes are read the same way in regression runs (committed inputs) and while fuzzing.
 */
public final class FuzzInputs {
  /** Separates the strings of one input (a text and its pair, a question and its context, a prompt's choices). */
  public static final byte SEPARATOR = 0x1F;

  /**
   * Allocation every input may make besides its per-byte share. Generous on purpose: a question-answering window
   * alone is about 0.6 MB, and while fuzzing, Jazzer's instrumentation and the JIT allocate on the same thread
   * (7.7 MB seen for a 331-byte input that takes 0.6 MB uninstrumented); the bound is there to catch allocations
   * sized by a number read from the input, which are gigabytes.
   */
  public static final long SLACK_BYTES = 16L << 20;

  /**
   * While fuzzing (not when replaying committed inputs), the bound is this many times larger: Jazzer's comparison
   * hooks allocate on the same thread in proportion to the work (a 7.5 KB multiple-choice input: 13 MB replayed, 35 MB
   * fuzzed), so the fuzzer would report its own allocations. Allocations sized by a number read from the input are
   * gigabytes and still fail; the committed inputs keep the tight bound.
   */
  static final int FUZZING_FACTOR = 4;

  private static final boolean FUZZING = System.getProperty("JAZZER_FUZZ") != null
      || System.getenv("JAZZER_FUZZ") != null;

  private FuzzInputs() {}

  /**
   * The strings of {@code data[from..]} split at {@link #SEPARATOR}. With {@code raw} every two bytes are one UTF-16
   * code unit, so lone surrogates and any other char reach the code under test; otherwise the bytes are UTF-8
   * (malformed sequences become U+FFFD, as a Kafka record's text does).
   */
  public static List<String> strings(byte[] data, int from, boolean raw) {
    List<String> out = new ArrayList<>();
    int start = from;
    for (int i = from; i <= data.length; i++) {
      if (i == data.length || data[i] == SEPARATOR) {
        out.add(decode(data, start, i, raw));
        start = i + 1;
      }
    }
    return out;
  }

  private static String decode(byte[] data, int from, int to, boolean raw) {
    if (!raw) {
      return new String(data, from, to - from, StandardCharsets.UTF_8);
    }
    char[] c = new char[(to - from) / 2];
    for (int i = 0; i < c.length; i++) {
      c[i] = (char) ((data[from + 2 * i] & 0xFF) | (data[from + 2 * i + 1] & 0xFF) << 8);
    }
    return new String(c);
  }

  /**
   * Runs {@code call} on one input of {@code inputBytes} and checks what it allocated on this thread: at most
   * {@code perByte} bytes per input byte and {@link #SLACK_BYTES} ({@link #FUZZING_FACTOR} times that while fuzzing). A bounded cost per record is the point (issue 16): an allocation
   * sized by a number read from the input, rather than by the input, breaks it long before the heap runs out. A
   * first call that passes the bound runs again and only the second counts, as one-time work (class loading, lazy
   * tables) is not the input's cost.
   */
  public static <T> T withBoundedAllocation(long inputBytes, int perByte, Supplier<T> call) {
    return withBoundedAllocation(inputBytes, perByte, call, out -> 0L);
  }

  /** As above, with {@code allowance(result)} bytes more for what the call returns (e.g. the model's windows). */
  public static <T> T withBoundedAllocation(long inputBytes, int perByte, Supplier<T> call,
      ToLongFunction<T> allowance) {
    long before = allocatedBytes();
    T out = call.get();
    long allocated = allocatedBytes() - before;
    long bound = (perByte * inputBytes + SLACK_BYTES + allowance.applyAsLong(out)) * (FUZZING ? FUZZING_FACTOR : 1);
    if (allocated > bound) {
      before = allocatedBytes();
      out = call.get();
      allocated = allocatedBytes() - before;
      if (allocated > bound) {
        throw new AssertionError("allocated " + allocated + " bytes for an input of " + inputBytes
            + " bytes, over the bound of " + (FUZZING ? FUZZING_FACTOR + " x (" : "(") + perByte
            + " x input + 16 MB + " + allowance.applyAsLong(out) + " for the result) = " + bound);
      }
    }
    return out;
  }

  /** Bytes allocated so far by the current thread (HotSpot's per-thread allocation counter). */
  static long allocatedBytes() {
    return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
  }
}
