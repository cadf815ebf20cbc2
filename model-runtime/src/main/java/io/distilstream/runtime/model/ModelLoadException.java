package io.distilstream.runtime.model;

import java.nio.file.Path;

/** A model directory, or a file in it, is missing or is not what the runtime expects. */
public class ModelLoadException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public ModelLoadException(Path path, String expected, String found) {
    super(path + ": expected " + expected + ", found " + found);
  }

  public ModelLoadException(String message, Throwable cause) {
    super(message, cause);
  }

  public ModelLoadException(String message) {
    super(message);
  }
}
