package io.distilstream.runtime.model;

import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * A model directory as Hugging Face publishes it: {@code config.json}, the tokenizer ({@code tokenizer.json}, or
 * {@code vocab.txt} with {@code tokenizer_config.json}) and {@code model.onnx} with Optimum's names. Checked at load
 * so that a missing file fails before the first event, naming the path.
 */
public final class ModelDirectory implements Serializable {
  private static final long serialVersionUID = 1L;

  public static final String CONFIG = "config.json";
  public static final String TOKENIZER_JSON = "tokenizer.json";
  public static final String VOCAB_TXT = "vocab.txt";
  public static final String MODEL_ONNX = "model.onnx";
  /** What Optimum's {@code ORTQuantizer} (and ORT's {@code quantize_dynamic} examples) write. */
  public static final String MODEL_QUANTIZED_ONNX = "model_quantized.onnx";
  public static final String SAFETENSORS = "model.safetensors";
  /** Where Hub repositories that also hold PyTorch weights keep their ONNX exports. */
  public static final String ONNX_SUBDIR = "onnx";

  private final String dir;
  private final String onnxFile;

  private ModelDirectory(Path dir, Path onnxFile) {
    this.dir = dir.toString();
    this.onnxFile = onnxFile.toString();
  }

  /**
   * Validates the directory; the ONNX file defaults to {@code model.onnx} inside it, else {@code
   * model_quantized.onnx} (an Optimum-quantized directory), else the graph is built from {@code model.safetensors}.
   */
  public static ModelDirectory of(Path dir) {
    return of(dir, null);
  }

  public static ModelDirectory of(Path dir, Path onnxFile) {
    Path abs = dir.toAbsolutePath().normalize();
    if (!Files.isDirectory(abs)) {
      throw new ModelLoadException(abs, "a model directory (config.json, tokenizer.json or vocab.txt, model.onnx)",
          Files.exists(abs) ? "a file" : "nothing: the path does not exist");
    }
    if (!Files.isRegularFile(abs.resolve(CONFIG))) {
      throw new ModelLoadException(abs.resolve(CONFIG), "the Hugging Face model config", "no such file");
    }
    if (!Files.isRegularFile(abs.resolve(TOKENIZER_JSON)) && !Files.isRegularFile(abs.resolve(VOCAB_TXT))) {
      throw new ModelLoadException(abs, "tokenizer files: tokenizer.json, or vocab.txt (+ tokenizer_config.json)",
          "neither");
    }
    Path onnx = onnxFile != null ? onnxFile.toAbsolutePath().normalize() : abs.resolve(MODEL_ONNX);
    if (onnxFile != null && !onnxFile.isAbsolute() && !Files.isRegularFile(onnx)
        && Files.isRegularFile(abs.resolve(onnxFile))) {
      onnx = abs.resolve(onnxFile).normalize(); // --onnx model_quantized.onnx names a file inside the directory
    }
    if (onnxFile != null && !onnxFile.isAbsolute() && !Files.isRegularFile(onnx)
        && Files.isRegularFile(abs.resolve(ONNX_SUBDIR).resolve(onnxFile))) {
      onnx = abs.resolve(ONNX_SUBDIR).resolve(onnxFile).normalize(); // a Hub repository's onnx/ folder
    }
    // model.onnx, else the Hub's onnx/model.onnx (Optimum and Xenova repositories), else the quantized forms
    for (String alt : new String[] {ONNX_SUBDIR + "/" + MODEL_ONNX, MODEL_QUANTIZED_ONNX,
        ONNX_SUBDIR + "/" + MODEL_QUANTIZED_ONNX}) {
      if (onnxFile == null && !Files.isRegularFile(onnx) && Files.isRegularFile(abs.resolve(alt))) {
        onnx = abs.resolve(alt);
      }
    }
    if (onnxFile == null && !Files.isRegularFile(onnx) && Files.isRegularFile(abs.resolve(SAFETENSORS))) {
      return new ModelDirectory(abs, onnx); // the graph is built from model.safetensors when loaded
    }
    if (!Files.isRegularFile(onnx)) {
      String hint = Files.isRegularFile(abs.resolve("model.safetensors"))
          ? "no such file; this directory has model.safetensors: build the graph with "
              + "`bin/distilstream build-model --model " + abs + "`, or export with `optimum-cli export onnx`"
          : "no such file; export one with `optimum-cli export onnx --model <hub-id> " + abs + "`";
      throw new ModelLoadException(onnx, "an ONNX model", hint);
    }
    return new ModelDirectory(abs, onnx);
  }

  public Path path() { return Path.of(dir); }
  public Path configFile() { return path().resolve(CONFIG); }
  public Path onnxFile() { return Path.of(onnxFile); }
  /** True when there is no ONNX file and the graph must be built from {@code model.safetensors}. */
  public boolean needsBuild() { return !Files.isRegularFile(onnxFile()); }
  public Path safetensorsFile() { return path().resolve(SAFETENSORS); }
  /**
   * The commit of a Hugging Face Hub snapshot ({@code .../models--ORG--NAME/snapshots/<commit>}), or {@code null}
   * for any other directory.
   */
  public String hubCommit() {
    Path p = path();
    Path parent = p.getParent();
    Path repo = parent == null ? null : parent.getParent();
    String commit = p.getFileName().toString();
    return repo != null && parent.getFileName().toString().equals("snapshots")
        && repo.getFileName().toString().startsWith("models--") && commit.matches("[0-9a-f]{40}") ? commit : null;
  }

  /**
   * The directory name, as models are usually named after their folder; a Hub snapshot's {@code ORG/NAME} (from
   * its cache folder {@code models--ORG--NAME}: Hub names hold no {@code --}), not its commit.
   */
  public String name() {
    if (hubCommit() != null) {
      String folder = path().getParent().getParent().getFileName().toString();
      String[] parts = folder.substring("models--".length()).split("--");
      if (parts.length == 2) {
        return parts[0] + "/" + parts[1];
      }
    }
    return path().getFileName().toString();
  }

  /**
   * The model's version: {@code config.json}'s {@code version} where the publisher set one, else the first 16 hex
   * digits of a SHA-256 over the config, tokenizer and ONNX files, so a changed model is a changed version. A Hub
   * snapshot's version is its commit.
   */
  public String version() {
    String v = readConfig().version();
    return v != null ? v : hubCommit() != null ? hubCommit() : contentHash();
  }

  public String contentHash() {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[1 << 16];
      for (Path f : new Path[] {configFile(), path().resolve(TOKENIZER_JSON), path().resolve(VOCAB_TXT), onnxFile(),
          safetensorsFile()}) {
        if (!Files.isRegularFile(f)) {
          continue;
        }
        sha.update(f.getFileName().toString().getBytes(StandardCharsets.UTF_8));
        try (InputStream in = Files.newInputStream(f)) {
          int n;
          while ((n = in.read(buf)) > 0) {
            sha.update(buf, 0, n);
          }
        }
      }
      return HexFormat.of().formatHex(sha.digest(), 0, 8);
    } catch (IOException e) {
      throw new ModelLoadException("cannot read " + this + " to hash it: " + e.getMessage(), e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  public ModelConfig readConfig() {
    return ModelConfig.read(configFile());
  }

  @Override
  public String toString() {
    return dir;
  }
}
