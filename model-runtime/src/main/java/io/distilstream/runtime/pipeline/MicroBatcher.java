package io.distilstream.runtime.pipeline;

import io.distilstream.runtime.batch.BatchingOptions;
import io.distilstream.runtime.batch.DynamicBatcher;
import io.distilstream.runtime.batch.InferenceBudget;
import io.distilstream.runtime.tokenizer.Encoding;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Turns single requests into batches: callers {@link #submit} one input at a time and get a future; one thread
 * drains the queue and runs a batch when it holds {@code maxBatchSize} requests or {@code maxTokens} tokens, or when
 * its oldest request has waited {@code maxWait}. The pipeline then groups each batch by length (see
 * {@link io.distilstream.runtime.batch.DynamicBatcher}). Every future completes exactly once, with an outcome, or
 * with a {@link CancellationException} when the batcher closes first.
 *
 * <p>Under load, when more than one batch is queued, the batcher plans over a window of the queue's oldest requests
 * (the pipeline's {@link BatchingOptions#planWindowBatches()} batches' worth) instead of taking the first
 * {@code maxBatchSize}: it groups the window by length as the pipeline will, runs the full groups first, and keeps
 * max-wait for the rest: a request of a partial group that has not waited {@code maxWait} stays queued to join later
 * arrivals of its length, one that has runs in this round. Requests then complete out of arrival order; their
 * results do not depend on which requests share their batch.
 *
 * <p>The queue holds at most {@code queueCapacity} requests: {@link #submit} blocks while it is full, which is the
 * caller's back-pressure (on a Flink operator's thread, Flink's own). A caller that gives up on a request cancels its
 * future ({@code future.cancel}): the request leaves the queue at once and never runs, and the listener counts it
 * ({@link Listener#onCancelled}). {@link #close} waits for a batch that is running, so the pipeline's session can be
 * closed right after it.
 */
public final class MicroBatcher<I, O> implements AutoCloseable {
  /** Queue capacity of the constructor without one: this many full batches. */
  public static final int DEFAULT_QUEUE_BATCHES = 4;

  /** Told about every batch run, for metrics. Called on the batcher thread. */
  public interface Listener {
    /**
     * @param size requests in the batch
     * @param tokens tokens of the requests (un-padded)
     * @param paddedTokens tokens after padding each length group to its longest member
     * @param nanos time of the model call and post-processing
     */
    void onBatch(int size, int tokens, int paddedTokens, long nanos);

    /** {@code count} requests were cancelled by their caller before they ran, and dropped. Any thread. */
    default void onCancelled(int count) {}

    /** A batch waited {@code nanos} for the thread budget before it ran (only with a budget). */
    default void onBudgetWait(long nanos) {}

    /** A batch's model call starts, on the batcher thread; {@link #onModelCallEnd} follows however it ends. */
    default void onModelCallStart() {}

    /** The model call {@link #onModelCallStart} announced has returned or thrown. */
    default void onModelCallEnd() {}

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
  private final int queueCapacity;
  private final Listener listener;
  /** This batcher's share of the TaskManager's thread budget; null: batches run as soon as they are formed. */
  private final InferenceBudget.Lane lane;
  // one lock for the queue and the closed flag, so that close() wakes every waiter and nothing slips in after it
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition notEmpty = lock.newCondition();
  private final Condition notFull = lock.newCondition();
  private final ArrayDeque<Request<I, O>> queue = new ArrayDeque<>();
  /** Batches planned from a window of the queue, to run before anything else is collected (under the lock). */
  private final ArrayDeque<List<Request<I, O>>> planned = new ArrayDeque<>();
  /** The window planned over when more than one batch is queued, in requests; at most maxBatchSize: no planning. */
  private final int planWindow;
  private final BatchingOptions planOptions;
  private boolean closed;
  private final Thread thread;

  /** A batcher whose queue holds {@link #DEFAULT_QUEUE_BATCHES} full batches. */
  public MicroBatcher(Pipeline<I, O> pipeline, int maxBatchSize, int maxTokens, Duration maxWait,
      Listener listener, String threadName) {
    this(pipeline, maxBatchSize, maxTokens, maxWait, DEFAULT_QUEUE_BATCHES * maxBatchSize, listener, threadName);
  }

  public MicroBatcher(Pipeline<I, O> pipeline, int maxBatchSize, int maxTokens, Duration maxWait,
      int queueCapacity, Listener listener, String threadName) {
    this(pipeline, maxBatchSize, maxTokens, maxWait, queueCapacity, listener, threadName, null);
  }

  /**
   * A batcher whose batches run within {@code lane}'s budget (null: no budget). The batcher closes the lane when it
   * closes.
   */
  public MicroBatcher(Pipeline<I, O> pipeline, int maxBatchSize, int maxTokens, Duration maxWait,
      int queueCapacity, Listener listener, String threadName, InferenceBudget.Lane lane) {
    if (maxBatchSize < 1 || maxTokens < 1 || maxWait.isNegative() || queueCapacity < 1) {
      throw new IllegalArgumentException(
          "max-batch-size, max-tokens and the queue capacity must be >= 1 and max-wait >= 0");
    }
    this.pipeline = pipeline;
    this.maxBatchSize = maxBatchSize;
    this.maxTokens = maxTokens;
    this.maxWaitNanos = maxWait.toNanos();
    this.queueCapacity = queueCapacity;
    BatchingOptions batching = pipeline.batcher.options();
    this.planWindow = batching.planWindowBatches() * maxBatchSize;
    this.planOptions = new BatchingOptions(maxBatchSize, maxTokens, batching.maxPaddingRatio());
    this.listener = listener == null ? Listener.NONE : listener;
    this.lane = lane;
    this.thread = new Thread(this::loop, threadName);
    this.thread.setDaemon(true);
    this.thread.start();
  }

  /**
   * Queues one input, blocking while the queue is full. Tokenization happens here, on the caller's thread, so the
   * batcher thread only runs the model. Inputs that fail tokenization complete at once.
   */
  public CompletableFuture<Outcome<O>> submit(I input) {
    return submitPrepared(pipeline.prepare(input));
  }

  /**
   * Queues an input already tokenized by the pipeline (e.g. a sentence pair, {@code preparePair}), blocking while
   * the queue is full. Cancelling the returned future drops the request if it has not run yet.
   */
  public CompletableFuture<Outcome<O>> submitPrepared(Pipeline.Prepared<I> p) {
    Request<I, O> r = new Request<>(p);
    if (p.failed()) {
      r.future.complete(Outcome.failure(p.reason(), p.message()));
      return r.future;
    }
    lock.lock();
    try {
      while (!closed && queue.size() >= queueCapacity) {
        notFull.await();
      }
      if (closed) {
        r.future.completeExceptionally(new CancellationException("micro-batcher closed"));
        return r.future;
      }
      queue.addLast(r);
      notEmpty.signal();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt(); // the caller is being stopped: the request never queued
      r.future.completeExceptionally(new CancellationException("interrupted while the queue was full"));
      return r.future;
    } finally {
      lock.unlock();
    }
    r.future.whenComplete((o, e) -> {
      if (e instanceof CancellationException && remove(r)) {
        listener.onCancelled(1); // cancelled by its caller while queued or planned: it never runs
      }
    });
    return r.future;
  }

  private boolean remove(Request<I, O> r) {
    lock.lock();
    try {
      boolean removed = queue.remove(r);
      if (removed) {
        notFull.signal();
        return true;
      }
      // planned but not yet collected: it leaves its planned batch (else it was never counted when the batcher
      // closed with it planned)
      for (Iterator<List<Request<I, O>>> it = planned.iterator(); it.hasNext(); ) {
        List<Request<I, O>> b = it.next();
        if (b.remove(r)) {
          if (b.isEmpty()) {
            it.remove();
          }
          return true;
        }
      }
      return false;
    } finally {
      lock.unlock();
    }
  }

  /** Requests waiting for a batch. */
  public int queueDepth() {
    lock.lock();
    try {
      // planned requests have left the queue but still wait for their batch (the budget's "still busy" reads this)
      int depth = queue.size();
      for (List<Request<I, O>> b : planned) {
        depth += b.size();
      }
      return depth;
    } finally {
      lock.unlock();
    }
  }

  /** Callers blocked in {@link #submit} on a full queue (for tests). */
  int blockedSubmitters() {
    lock.lock();
    try {
      return lock.getWaitQueueLength(notFull);
    } finally {
      lock.unlock();
    }
  }

  /** Most requests the queue holds before {@link #submit} blocks. */
  public int queueCapacity() {
    return queueCapacity;
  }

  private void loop() {
    List<Request<I, O>> batch = new ArrayList<>(maxBatchSize);
    while (true) {
      try {
        if (!collect(batch)) {
          cancel(batch); // closed: what was collected (and left queued) never runs
          break;
        }
        runWithinBudget(batch);
      } catch (RuntimeException | Error e) {
        // runBatch completes every request; anything thrown past it must not kill the thread silently
        for (Request<I, O> r : batch) {
          r.future.complete(Outcome.failure(Outcome.Reason.MODEL_ERROR, "batch failed: " + e));
        }
      } finally {
        batch.clear();
      }
    }
  }

  /**
   * Waits for the next batch and moves its requests from the queue into {@code batch}. False when the batcher has
   * closed: {@code batch} then holds every request left, for the caller to cancel.
   */
  private boolean collect(List<Request<I, O>> batch) {
    lock.lock();
    try {
      while (queue.isEmpty() && planned.isEmpty() && !closed) {
        notEmpty.awaitUninterruptibly();
      }
      if (closed) {
        drainInto(batch);
        return false;
      }
      if (planned.isEmpty() && queue.size() > maxBatchSize && planWindow > maxBatchSize) {
        plan();
      }
      if (!planned.isEmpty()) {
        batch.addAll(planned.pollFirst());
        return true;
      }
      Request<I, O> first = queue.pollFirst();
      notFull.signal();
      batch.add(first);
      int tokens = first.prepared.tokens();
      long deadline = first.enqueuedNanos + maxWaitNanos;
      while (batch.size() < maxBatchSize && tokens < maxTokens) {
        Request<I, O> next = queue.pollFirst();
        if (next == null) {
          long left = deadline - System.nanoTime();
          if (left <= 0) {
            break;
          }
          notEmpty.awaitNanos(left);
          if (closed) {
            drainInto(batch);
            return false;
          }
          continue;
        }
        notFull.signal();
        batch.add(next);
        tokens += next.prepared.tokens();
      }
      return true;
    } catch (InterruptedException e) {
      // nobody interrupts this thread; if something does, run what was collected
      return true;
    } finally {
      lock.unlock();
    }
  }

  /** Empties the queue into {@code batch}, to be cancelled outside the lock (completing runs callbacks). */
  private void drainInto(List<Request<I, O>> batch) {
    planned.forEach(batch::addAll);
    planned.clear();
    batch.addAll(queue);
    queue.clear();
    notFull.signalAll();
  }

  /**
   * Under load (more than one batch queued): groups the oldest {@code planWindow} requests by length as the pipeline
   * will ({@link DynamicBatcher#plan}), and moves into {@link #planned} first the full groups (oldest first), then,
   * packed in length order, the requests of partial groups that have waited max-wait. The rest stay queued, to group
   * with later arrivals; if nothing is planned, the caller takes the queue's first batch as without planning.
   */
  private void plan() {
    List<Request<I, O>> window = new ArrayList<>(Math.min(planWindow, queue.size()));
    for (Iterator<Request<I, O>> it = queue.iterator(); it.hasNext() && window.size() < planWindow; ) {
      window.add(it.next());
    }
    int[] lengths = new int[window.size()];
    for (int i = 0; i < lengths.length; i++) {
      lengths[i] = longestWindow(window.get(i).prepared);
    }
    long now = System.nanoTime();
    List<int[]> remainder = new ArrayList<>();
    // the plan sorts by length and is stable, so groups come shortest first; full ones run oldest member first
    List<int[]> full = new ArrayList<>();
    for (int[] group : DynamicBatcher.plan(lengths, planOptions)) {
      int longest = lengths[group[group.length - 1]];
      boolean isFull = group.length >= maxBatchSize || (long) (group.length + 1) * longest > maxTokens;
      (isFull ? full : remainder).add(group);
    }
    full.sort((a, b) -> Integer.compare(min(a), min(b)));
    Set<Request<I, O>> taken = Collections.newSetFromMap(new IdentityHashMap<>());
    for (int[] group : full) {
      List<Request<I, O>> b = new ArrayList<>(group.length);
      for (int i : group) {
        b.add(window.get(i));
      }
      planned.addLast(b);
      taken.addAll(b);
    }
    List<Request<I, O>> due = new ArrayList<>();
    int tokens = 0;
    for (int[] group : remainder) {
      for (int i : group) {
        Request<I, O> r = window.get(i);
        if (now - r.enqueuedNanos < maxWaitNanos) {
          continue; // still within max-wait: it may yet find company of its length
        }
        int t = r.prepared.tokens();
        if (!due.isEmpty() && (due.size() >= maxBatchSize || tokens + t > maxTokens)) {
          planned.addLast(due);
          due = new ArrayList<>();
          tokens = 0;
        }
        due.add(r);
        tokens += t;
        taken.add(r);
      }
    }
    if (!due.isEmpty()) {
      planned.addLast(due);
    }
    if (!taken.isEmpty()) {
      queue.removeIf(taken::contains);
      notFull.signalAll();
    }
  }

  private static int min(int[] group) {
    int m = Integer.MAX_VALUE;
    for (int i : group) {
      m = Math.min(m, i);
    }
    return m;
  }

  private static int longestWindow(Pipeline.Prepared<?> p) {
    int longest = 0;
    for (Encoding e : p.windows) {
      longest = Math.max(longest, e.length());
    }
    return longest;
  }

  private static <I, O> void cancel(List<Request<I, O>> requests) {
    for (Request<I, O> r : requests) {
      r.future.completeExceptionally(new CancellationException("micro-batcher closed"));
    }
  }

  /** The hook of the thread budget: takes the lane's permits around the batch; without a lane, just runs it. */
  private void runWithinBudget(List<Request<I, O>> batch) {
    if (lane == null) {
      runBatch(batch);
      return;
    }
    long waited = lane.acquire();
    if (waited < 0) {
      cancel(batch); // the batcher closed while the batch waited for its turn: it never runs
      return;
    }
    listener.onBudgetWait(waited);
    try {
      runBatch(batch);
    } finally {
      lane.release(queueDepth() > 0); // still busy: ask for the next turn in the same step
    }
  }

  private void runBatch(List<Request<I, O>> collected) {
    // a request cancelled after it left the queue is dropped here, before the model call
    List<Request<I, O>> batch = new ArrayList<>(collected.size());
    for (Request<I, O> r : collected) {
      if (!r.future.isDone()) {
        batch.add(r);
      }
    }
    if (batch.size() < collected.size()) {
      listener.onCancelled(collected.size() - batch.size());
    }
    if (batch.isEmpty()) {
      return;
    }
    List<Pipeline.Prepared<I>> prepared = new ArrayList<>(batch.size());
    int tokens = 0;
    for (Request<I, O> r : batch) {
      prepared.add(r.prepared);
      tokens += r.prepared.tokens();
    }
    long start = System.nanoTime();
    List<Outcome<O>> outcomes;
    listener.onModelCallStart();
    try {
      outcomes = pipeline.runPrepared(prepared);
    } finally {
      listener.onModelCallEnd();
    }
    long nanos = System.nanoTime() - start;
    // reported before the futures complete, so a caller that sees its result also sees the batch in the metrics
    listener.onBatch(batch.size(), tokens, paddedTokens(prepared), nanos);
    for (int i = 0; i < batch.size(); i++) {
      batch.get(i).future.complete(outcomes.get(i));
    }
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

  /**
   * Stops the batcher: queued requests, and callers blocked on a full queue, complete with a
   * {@link CancellationException}; a batch that is running finishes first (its requests get their outcomes), so
   * the pipeline may be closed as soon as this returns.
   */
  @Override
  public void close() {
    List<Request<I, O>> queued = new ArrayList<>();
    lock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      drainInto(queued);
      notEmpty.signalAll();
    } finally {
      lock.unlock();
    }
    cancel(queued); // never to run: completed now, not after the batch that is running
    if (lane != null) {
      lane.close(); // a batch waiting for the budget wakes up and is cancelled
    }
    if (Thread.currentThread() == thread) {
      return; // closed from a callback on the batcher thread: it exits after this batch
    }
    try {
      thread.join(); // no time limit: the session must outlive the model call that is running on it
    } catch (InterruptedException e) {
      // stop waiting; Pipeline.close() still waits for the running batch before it frees the session
      Thread.currentThread().interrupt();
    }
  }
}
