package io.distilstream.runtime.model;

import java.util.Locale;

/** Where ONNX Runtime runs the model. */
public enum Device {
  CPU,
  CUDA;

  public static Device parse(String s) {
    try {
      return valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown device '" + s + "': expected cpu or cuda");
    }
  }

  @Override
  public String toString() {
    return name().toLowerCase(Locale.ROOT);
  }
}
