package io.distilstream.runtime.heads;

/** One label of a text-classification result. */
public record LabelScore(String label, float score) {}
