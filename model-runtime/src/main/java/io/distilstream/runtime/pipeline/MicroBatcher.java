package io.distilstream.runtime.pipeline;

import io.distilstream.runtime.batch.DynamicBatcher;
import io.distilstream.runtime.tokenizer.Encoding;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Turns single requests into batches: callers {@link #submit} one input at a time and get a future; one thread
 * drains the queue and runs a batch when it holds {@code maxBatchSize} requests or {@code maxTokens} tokens, or when
 * its oldest request has waited {@code maxWait}. The pipeline then groups each batch by length (see
 * {@link io.distilstream.runtime.batch.DynamicBatcher}). Every future completes exactly once, with an outcome, or
 * with a {@link CancellationException} when the batcher closes first.
 */
public final class MicroBatcher<I, O> implements AutoCloseable {
  /** Told about every batch run, for metrics. Called on the batcher thread. */
  public interface Listener {
    /**
     * @param size requests in the batch
     * @param tokens tokens of the requests (un-padded)
     * @param paddedTokens tokens after padding each length group to its longest member
     * @param nanos time of the model call and post-processing
     */
    void onBatch(int size, int tokens, int paddedTokens, long nanos);

    Listener NONE = (size, tokens, padded, nanos) -> {};
  }

  private static final class Request<I, O> {
    final Pipeline.Prepared<I> prepared;
    final CompletableFuture<Outcome<O>> future = new CompletableFuture<>();
    final long enqueuedNanos = System.nanoTime();

    Request(Pipeline.Prepared<I> prepared) {
      this.prepared = prepared;
    }
  }

  private final Pipeline<I, O> pipeline;
  private final int maxBatchSize;
  private final int maxTokens;
  private final long maxWaitNanos;
  private final Listener listener;
  private final LinkedBlockingQueue<Request<I, O>> queue = new LinkedBlockingQueue<>();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final Thread thread;

  public MicroBatcher(Pipeline<I, O> pipeline, int maxBatchSize, int maxTokens, Duration maxWait,
      Listener listener, String threadName) {
    if (maxBatchSize < 1 || maxTokens < 1 || maxWait.isNegative()) {
      throw new IllegalArgumentException("max-batch-size and max-tokens must be >= 1 and max-wait >= 0");
    }
    this.pipeline = pipeline;
    this.maxBatchSize = maxBatchSize;
    this.maxTokens = maxTokens;
    this.maxWaitNanos = maxWait.toNanos();
    this.listener = listener == null ? Listener.NONE : listener;
    this.thread = new Thread(this::loop, threadName);
    this.thread.setDaemon(true);
    this.thread.start();
  }

  /**
   * Queues one input. Tokenization happens here, on the caller's thread, so the batcher thread only runs the model.
   * Inputs that fail tokenization complete at once.
   */
  public CompletableFuture<Outcome<O>> submit(I input) {
    return submitPrepared(pipeline.prepare(input));
  }

  /** Queues an input already tokenized by the pipeline (e.g. a sentence pair, {@code preparePair}). */
  public CompletableFuture<Outcome<O>> submitPrepared(Pipeline.Prepared<I> p) {
    Request<I, O> r = new Request<>(p);
    if (p.failed()) {
      r.future.complete(Outcome.failure(p.reason(), p.message()));
      return r.future;
    }
    if (closed.get()) {
      r.future.completeExceptionally(new CancellationException("micro-batcher closed"));
      return r.future;
    }
    queue.add(r);
    if (closed.get()) {
      cancelPending(); // closed while we queued: nobody will drain the queue any more
    }
    return r.future;
  }

  /** Requests waiting for a batch. */
  public int queueDepth() {
    return queue.size();
  }

  private void loop() {
    List<Request<I, O>> batch = new ArrayList<>(maxBatchSize);
    while (!closed.get()) {
      try {
        Request<I, O> first = queue.poll(100, TimeUnit.MILLISECONDS);
        if (first == null) {
          continue;
        }
        batch.add(first);
        int tokens = first.prepared.tokens();
        long deadline = first.enqueuedNanos + maxWaitNanos;
        while (batch.size() < maxBatchSize && tokens < maxTokens) {
          Request<I, O> next = queue.poll();
          if (next == null) {
            long left = deadline - System.nanoTime();
            if (left <= 0 || (next = queue.poll(left, TimeUnit.NANOSECONDS)) == null) {
              break;
            }
          }
          batch.add(next);
          tokens += next.prepared.tokens();
        }
        runBatch(batch, tokens);
      } catch (InterruptedException e) {
        // only close() interrupts: the requests collected so far never ran
        for (Request<I, O> r : batch) {
          r.future.completeExceptionally(new CancellationException("micro-batcher closed"));
        }
      } catch (RuntimeException | Error e) {
        // runBatch completes every request; anything thrown past it must not kill the thread silently
        for (Request<I, O> r : batch) {
          r.future.complete(Outcome.failure(Outcome.Reason.MODEL_ERROR, "batch failed: " + e));
        }
      } finally {
        batch.clear();
      }
    }
    cancelPending();
  }

  private void runBatch(List<Request<I, O>> batch, int tokens) {
    List<Pipeline.Prepared<I>> prepared = new ArrayList<>(batch.size());
    for (Request<I, O> r : batch) {
      prepared.add(r.prepared);
    }
    long start = System.nanoTime();
    List<Outcome<O>> outcomes = pipeline.runPrepared(prepared);
    long nanos = System.nanoTime() - start;
    for (int i = 0; i < batch.size(); i++) {
      batch.get(i).future.complete(outcomes.get(i));
    }
    listener.onBatch(batch.size(), tokens, paddedTokens(prepared), nanos);
  }

  private int paddedTokens(List<Pipeline.Prepared<I>> prepared) {
    List<Encoding> all = new ArrayList<>();
    for (Pipeline.Prepared<I> p : prepared) {
      all.addAll(p.windows);
    }
    int padded = 0;
    for (int[] group : DynamicBatcher.plan(all, pipeline.batcher.options())) {
      int longest = 0;
      for (int i : group) {
        longest = Math.max(longest, all.get(i).length());
      }
      padded += longest * group.length;
    }
    return padded;
  }

  private void cancelPending() {
    Request<I, O> r;
    while ((r = queue.poll()) != null) {
      r.future.completeExceptionally(new CancellationException("micro-batcher closed"));
    }
  }

  /** Stops the batcher thread; queued requests complete with a {@link CancellationException}. */
  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      thread.interrupt();
      try {
        thread.join(10_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      cancelPending();
    }
  }
}
