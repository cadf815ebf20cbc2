package io.distilstream.runtime.pipeline;

import io.distilstream.runtime.SharedModels;
import io.distilstream.runtime.model.ModelDirectory;
import io.distilstream.runtime.tokenizer.Encoding;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * A pipeline on the real sequence-classification fixture whose model call can be held at a gate: a test knows when
 * a batch has started ({@link #started}) and decides when its real ONNX Runtime call goes ahead. Its result for an
 * input is the input itself and the logits the model computed, so a test sees which request got which outcome.
 */
final class GatedPipeline extends Pipeline<String, GatedPipeline.Result> {
  record Result(String input, float[] logits) {}

  /** Inputs of each model call, in call order. */
  final List<List<String>> batches = new CopyOnWriteArrayList<>();
  /** Receives each batch as its model call starts. */
  final LinkedBlockingQueue<List<String>> started = new LinkedBlockingQueue<>();
  private volatile CompletableFuture<Void> gate = CompletableFuture.completedFuture(null);
  private final ThreadLocal<List<String>> current = new ThreadLocal<>();

  GatedPipeline() {
    super(Task.TEXT_CLASSIFICATION, ModelDirectory.of(SharedModels.model(SharedModels.SEQ_CLS)),
        PipelineOptions.defaults(), 0);
  }

  /** Forgets the batches so far and opens the gate (between tests sharing one pipeline). */
  void reset() {
    gate.complete(null); // a test that failed holding the gate must not leave a batch stuck in it
    batches.clear();
    started.clear();
    gate = CompletableFuture.completedFuture(null);
  }

  /** Model calls from now on wait until the returned future is completed. */
  CompletableFuture<Void> hold() {
    gate = new CompletableFuture<>();
    return gate;
  }

  @Override
  public synchronized List<Outcome<Result>> runPrepared(List<Prepared<String>> batch) {
    current.set(batch.stream().map(Prepared::input).toList());
    return super.runPrepared(batch);
  }

  @Override
  protected List<Encoding> preprocess(String input) {
    return List.of(encodeOneWindow(input));
  }

  @Override
  protected float[][][] runModel(List<Encoding> flat, int[] windowsPerInput) throws Exception {
    List<String> inputs = current.get();
    batches.add(inputs);
    started.add(inputs);
    gate.join();
    return super.runModel(flat, windowsPerInput);
  }

  @Override
  protected Result postprocess(String input, List<Encoding> windows, float[][][] outputs) {
    return new Result(input, outputs[0][0]);
  }
}
