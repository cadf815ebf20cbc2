package io.distilstream.runtime.hub;

import io.distilstream.runtime.model.ModelLoadException;

/** A model named by a Hub id could not be fetched: the message says which repository, file and why. */
public final class HubException extends ModelLoadException {
  private static final long serialVersionUID = 1L;

  public HubException(String message) {
    super(message);
  }

  public HubException(String message, Throwable cause) {
    super(message, cause);
  }
}
