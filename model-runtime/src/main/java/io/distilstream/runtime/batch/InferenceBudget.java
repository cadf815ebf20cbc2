package io.distilstream.runtime.batch;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;

/**
 * The inference threads of one TaskManager, shared by the micro-batchers of every model and slot that runs there:
 * each batcher holds a {@link Lane}, takes its lane's permits before a batch runs and gives them back after. A
 * permit is one thread: a batch on a session with threads of its own costs its intra-op threads, a batch on the
 * TaskManager's shared pool costs one (its calling thread; the pool's threads are bounded by the pool). So the
 * batches that run at once never ask for more threads than the TaskManager has.
 *
 * <p>{@link Policy#FAIR}: when permits free up, the waiting lane that has used the least run time goes first
 * (start-time fair queueing: a lane's virtual time grows by each batch's run time times its permits; a lane that
 * comes back from idle starts at the virtual time of the batch last granted, so idleness earns no credit). A model
 * whose batches take 10x longer gets about a tenth of the batches of a busy fast one, not half, and the fast one's
 * latency stays its own. {@link Policy#FIFO}: batches in the order they asked, for comparison. A lane that gives its
 * permits back with more requests queued stays in the running for the next grant, so a busy lane does not lose its
 * turn in the moment between two batches.
 *
 * <p>One budget per TaskManager: {@link #shared}. Its registry is a static of this class, which Flink loads per job
 * (child-first user class loader), so jobs that share a TaskManager have a budget each, and a job restarted with a
 * new class loader gets a new one. Unlike ONNX Runtime's environment (native, one per process, see
 * {@code ModelSession.environment()}), a budget holds no native state, so nothing has to survive the class loader:
 * the old job's batchers have given their permits back when its subtasks closed.
 */
public final class InferenceBudget {
  /** How waiting lanes are ordered. */
  public enum Policy {
    /** Least recent run time first (weighted by permits). */
    FAIR,
    /** In the order the batches asked. */
    FIFO;

    /** {@code fair} or {@code fifo}, case-insensitive. */
    public static Policy of(String name) {
      return valueOf(name.trim().toUpperCase(Locale.ROOT));
    }
  }

  private static final Map<String, InferenceBudget> SHARED = new HashMap<>();

  private final int permits;
  private final Policy policy;
  private final LongSupplier clock;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition granted = lock.newCondition();
  /** Signalled when a lane starts waiting (for {@link #awaitWaiting}). */
  private final Condition changed = lock.newCondition();
  /** Lanes waiting for a grant, in the order they asked. Guarded by {@link #lock}. */
  private final List<Lane> waiting = new ArrayList<>();
  private int free;
  /** Virtual time of the batch last granted: where a lane that was idle starts. */
  private long virtualNow;
  private long grants;

  /** A budget of {@code permits} threads on the system clock. */
  public InferenceBudget(int permits, Policy policy) {
    this(permits, policy, System::nanoTime);
  }

  /**
   * A budget whose run times come from {@code clock} (nanoseconds): tests and simulations give it a logical clock so
   * that the order of grants does not depend on the machine's speed.
   */
  public InferenceBudget(int permits, Policy policy, LongSupplier clock) {
    if (permits < 1) {
      throw new IllegalArgumentException("a budget needs at least one permit, got " + permits);
    }
    this.permits = permits;
    this.free = permits;
    this.policy = policy;
    this.clock = clock;
  }

  /** This JVM's budget of {@code permits} threads under {@code policy} (made by its first user). */
  public static InferenceBudget shared(int permits, Policy policy) {
    synchronized (SHARED) {
      return SHARED.computeIfAbsent(permits + "/" + policy, k -> new InferenceBudget(permits, policy));
    }
  }

  public int permits() {
    return permits;
  }

  public Policy policy() {
    return policy;
  }

  /** Permits not held by a batch now. */
  public int free() {
    lock.lock();
    try {
      return free;
    } finally {
      lock.unlock();
    }
  }

  /** Lanes waiting for a grant now (for tests). */
  public int waiting() {
    lock.lock();
    try {
      return waiting.size();
    } finally {
      lock.unlock();
    }
  }

  /** Blocks until at least {@code lanes} lanes wait for a grant (for tests: no polling, no sleeps). */
  public void awaitWaiting(int lanes) throws InterruptedException {
    lock.lock();
    try {
      while (waiting.size() < lanes) {
        changed.await();
      }
    } finally {
      lock.unlock();
    }
  }

  /** Batches granted so far. */
  public long grants() {
    lock.lock();
    try {
      return grants;
    } finally {
      lock.unlock();
    }
  }

  /**
   * A lane of this budget for one batcher, whose batches each take {@code cost} permits (capped at the budget's
   * size, so a lane can always run).
   */
  public Lane lane(String name, int cost) {
    return new Lane(name, Math.max(1, Math.min(cost, permits)));
  }

  // under the lock: grants permits to waiting lanes while the next one in policy order fits
  private void dispatch() {
    while (!waiting.isEmpty()) {
      Lane next = waiting.get(0);
      if (policy == Policy.FAIR) {
        for (Lane l : waiting) {
          if (l.virtualTime < next.virtualTime) {
            next = l; // ties keep the order of asking: the list is in that order
          }
        }
      }
      if (next.cost > free) {
        return; // no lane jumps the one whose turn it is: a lane needing many permits would never get them
      }
      waiting.remove(next);
      free -= next.cost;
      next.state = Lane.GRANTED;
      virtualNow = Math.max(virtualNow, next.virtualTime);
      grants++;
      granted.signalAll();
    }
  }

  /** One batcher's access to the budget; used by that batcher's thread only, except {@link #close}. */
  public final class Lane implements AutoCloseable {
    static final int IDLE = 0;
    static final int WAITING = 1;
    static final int GRANTED = 2;
    static final int RUNNING = 3;

    private final String name;
    private final int cost;
    // guarded by the budget's lock
    private int state = IDLE;
    private boolean closed;
    private long virtualTime;
    private long startedAt;

    private Lane(String name, int cost) {
      this.name = name;
      this.cost = cost;
    }

    public String name() {
      return name;
    }

    /** Permits each batch of this lane takes. */
    public int cost() {
      return cost;
    }

    /**
     * Waits until this lane's batch may run and takes its permits.
     *
     * @return nanoseconds spent waiting (0 when a grant was already reserved for it), or -1 when the lane was closed
     *     and the batch must not run
     */
    public long acquire() {
      lock.lock();
      try {
        long start = clock.getAsLong();
        if (closed) {
          return -1;
        }
        if (state == IDLE) {
          state = WAITING;
          virtualTime = Math.max(virtualTime, virtualNow); // idle time earns no credit
          waiting.add(this);
          changed.signalAll();
          dispatch();
        }
        while (state == WAITING && !closed) {
          granted.awaitUninterruptibly();
        }
        if (state != GRANTED) {
          return -1; // closed while waiting
        }
        state = RUNNING;
        startedAt = clock.getAsLong();
        return Math.max(0, startedAt - start);
      } finally {
        lock.unlock();
      }
    }

    /**
     * Gives the permits back after a batch and charges its run time to this lane.
     *
     * @param backlogged more requests are queued: the lane asks for its next grant now, in the same step
     */
    public void release(boolean backlogged) {
      lock.lock();
      try {
        if (state != RUNNING) {
          return;
        }
        virtualTime += Math.max(0, clock.getAsLong() - startedAt) * cost;
        free += cost;
        if (backlogged && !closed) {
          state = WAITING;
          waiting.add(this);
          changed.signalAll();
        } else {
          state = IDLE;
        }
        dispatch();
      } finally {
        lock.unlock();
      }
    }

    /**
     * Leaves the budget: a batcher blocked in {@link #acquire} returns -1, permits granted but not yet taken go back.
     * A batch that is running keeps its permits until its {@link #release}.
     */
    @Override
    public void close() {
      lock.lock();
      try {
        closed = true;
        if (state == WAITING) {
          waiting.remove(this);
          state = IDLE;
        } else if (state == GRANTED) {
          free += cost;
          state = IDLE;
        }
        dispatch();
        granted.signalAll();
      } finally {
        lock.unlock();
      }
    }

    @Override
    public String toString() {
      return name + "(" + cost + ")";
    }
  }

  @Override
  public String toString() {
    return permits + " threads, " + policy.name().toLowerCase(Locale.ROOT);
  }
}
