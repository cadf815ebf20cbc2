package io.distilstream.runtime.heads;

/** One extractive answer: {@code context.substring(start, end)} is {@code answer}. */
public record Answer(float score, int start, int end, String answer) {}
