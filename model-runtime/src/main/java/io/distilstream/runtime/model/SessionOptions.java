package io.distilstream.runtime.model;

import java.io.Serializable;

/**
 * How to open an ONNX Runtime session: execution provider, threads, graph optimisation. Small and serializable so
 * it can travel inside a Flink job graph and be turned into a session in {@code open()}.
 */
public final class SessionOptions implements Serializable {
  private static final long serialVersionUID = 1L;

  private Device device = Device.CPU;
  private int deviceId = 0;
  private boolean cudaFallbackToCpu = false;
  private int intraOpThreads = 0;
  private String optimizationLevel = "all";
  /** Rewrite a per-tensor dynamic int8 graph (Optimum's {@code model_quantized.onnx}) into the per-row form. */
  private boolean int8Rewrite = false;
  /** Batch a graph whose results depend on batch composition anyway, instead of one sequence per call. */
  private boolean allowBatchDependentResults = false;
  /**
   * Run on the process-wide intra-op pool ({@link ModelSession#globalThreadPool(int)}) shared by every such session,
   * instead of threads of its own ({@link #intraOpThreads()} is then ignored).
   */
  private boolean sharedThreadPool = false;
  /**
   * Share one session (one copy of the weights) with every pipeline of the JVM that opens the same model files with
   * the same options, instead of opening one of its own.
   */
  private boolean shareSession = false;
  /**
   * With {@link #shareSession}: how long a shared session stays open, idle, after its last user closed it, so that
   * the next pipeline of the same model and options (the job's task restarted in this JVM) takes it over instead of
   * loading the model again. Not part of {@link #sessionKey()}: it does not shape the session.
   */
  private java.time.Duration shareLinger = java.time.Duration.ZERO;

  public static SessionOptions defaults() {
    return new SessionOptions();
  }

  public Device device() { return device; }
  public int deviceId() { return deviceId; }
  public boolean cudaFallbackToCpu() { return cudaFallbackToCpu; }
  /** 0 lets ONNX Runtime choose (one per physical core). */
  public int intraOpThreads() { return intraOpThreads; }
  public String optimizationLevel() { return optimizationLevel; }
  public boolean int8Rewrite() { return int8Rewrite; }
  public boolean allowBatchDependentResults() { return allowBatchDependentResults; }
  public boolean sharedThreadPool() { return sharedThreadPool; }
  public boolean shareSession() { return shareSession; }
  public java.time.Duration shareLinger() { return shareLinger; }
  /** What {@link ModelSession} does with a batch-dependent (per-tensor int8) graph, from the two settings above. */
  public ModelSession.Int8Policy int8Policy() {
    return new ModelSession.Int8Policy(int8Rewrite, allowBatchDependentResults);
  }

  public SessionOptions device(Device d) { this.device = d; return this; }
  public SessionOptions int8Rewrite(boolean b) { this.int8Rewrite = b; return this; }
  public SessionOptions allowBatchDependentResults(boolean b) { this.allowBatchDependentResults = b; return this; }
  public SessionOptions deviceId(int id) { this.deviceId = id; return this; }
  public SessionOptions sharedThreadPool(boolean b) { this.sharedThreadPool = b; return this; }
  public SessionOptions shareSession(boolean b) { this.shareSession = b; return this; }
  public SessionOptions shareLinger(java.time.Duration d) {
    if (d.isNegative()) throw new IllegalArgumentException("linger must be >= 0, got " + d);
    this.shareLinger = d;
    return this;
  }
  /** When CUDA is asked for but unavailable: fall back to the CPU with a warning instead of failing. */
  public SessionOptions cudaFallbackToCpu(boolean b) { this.cudaFallbackToCpu = b; return this; }
  public SessionOptions intraOpThreads(int n) {
    if (n < 0) throw new IllegalArgumentException("intra-op threads must be >= 0, got " + n);
    this.intraOpThreads = n;
    return this;
  }
  /** One of {@code none}, {@code basic}, {@code extended}, {@code all}. */
  public SessionOptions optimizationLevel(String level) {
    switch (level) {
      case "none": case "basic": case "extended": case "all": break;
      default: throw new IllegalArgumentException(
          "unknown graph optimisation level '" + level + "': expected none, basic, extended or all");
    }
    this.optimizationLevel = level;
    return this;
  }

  public SessionOptions copy() {
    SessionOptions o = new SessionOptions();
    o.device = device; o.deviceId = deviceId; o.cudaFallbackToCpu = cudaFallbackToCpu;
    o.intraOpThreads = intraOpThreads; o.optimizationLevel = optimizationLevel;
    o.int8Rewrite = int8Rewrite; o.allowBatchDependentResults = allowBatchDependentResults;
    o.sharedThreadPool = sharedThreadPool; o.shareSession = shareSession;
    o.shareLinger = shareLinger;
    return o;
  }

  /** Every setting that shapes a session, for telling apart sessions that may be shared. */
  public String sessionKey() {
    return device + ":" + deviceId + (cudaFallbackToCpu ? "/cpu" : "") + " threads=" + intraOpThreads
        + (sharedThreadPool ? "/pool" : "") + " opt=" + optimizationLevel + " int8-rewrite=" + int8Rewrite
        + " batch-dependent=" + allowBatchDependentResults;
  }

  @Override
  public String toString() {
    return "device=" + device + (device == Device.CUDA ? ":" + deviceId : "") + ", intra-op-threads="
        + (sharedThreadPool ? "task-manager pool" : intraOpThreads == 0 ? "auto" : intraOpThreads)
        + ", graph-optimization=" + optimizationLevel + (shareSession ? ", session shared by the slots" : "");
  }
}
