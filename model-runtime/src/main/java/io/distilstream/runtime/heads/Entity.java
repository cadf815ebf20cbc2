package io.distilstream.runtime.heads;

/**
 * One token-classification result, as Hugging Face's pipeline gives it: with aggregation {@code none} a token
 * ({@code entity} is its tag, {@code index} its position), otherwise a group ({@code entityGroup}, index -1).
 * {@code start}/{@code end} are UTF-16 offsets into the text.
 */
public record Entity(String entity, String entityGroup, float score, String word, int start, int end, int index) {
  /** The tag or group, whichever this entity has. */
  public String label() {
    return entityGroup != null ? entityGroup : entity;
  }
}
