package io.distilstream.runtime.tokenizer;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.distilstream.runtime.model.ModelLoadException;
import java.io.IOException;
import java.io.InputStream;
import java.lang.ref.SoftReference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * BERT's WordPiece tokenizer in Java, with the behaviour of Hugging Face's {@code BertTokenizerFast} (the Rust
 * {@code tokenizers} library): BertNormalizer (control characters dropped, whitespace to spaces, CJK characters
 * split, accents stripped, lower-casing), BertPreTokenizer (split on whitespace and punctuation), greedy
 * longest-match WordPiece with {@code ##} continuations and {@code [UNK]} for words over 100 characters, special
 * tokens in the text ({@code [MASK]}) kept whole, and the {@code [CLS] A [SEP] B [SEP]} template.
 *
 * <p>Every token carries offsets into the original string in UTF-16 code units (Java {@code String} indices), so
 * {@code text.substring(start, end)} is what the token covers, whatever normalisation did. Immutable and
 * thread-safe.
 */
public final class WordPieceTokenizer {
  private static final ObjectMapper JSON = new ObjectMapper();
  /**
   * For tokenizer.json: field names not canonicalized (interned into a symbol table), since here they are the
   * vocabulary's tens of thousands of tokens, each seen once.
   */
  private static final ObjectMapper TOKENIZER_JSON =
      new ObjectMapper(JsonFactory.builder().disable(JsonFactory.Feature.CANONICALIZE_FIELD_NAMES).build());
  private static final String[] SPECIALS = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

  private final Map<String, Integer> vocab;
  private final String[] idToToken;
  private final String unkToken;
  private final String prefix;
  private final int maxInputCharsPerWord;
  private final boolean cleanText;
  private final boolean handleChineseChars;
  private final boolean stripAccents;
  private final boolean lowercase;
  /** Special tokens recognised in raw text, longest first. */
  private final String[] added;
  private final int maxTokenChars;
  private final int cls;
  private final int sep;
  private final int pad;
  private final int unk;
  private final int mask;

  private WordPieceTokenizer(Map<String, Integer> vocab, String unkToken, String prefix, int maxInputCharsPerWord,
      boolean cleanText, boolean handleChineseChars, Boolean stripAccents, boolean lowercase, List<String> added,
      Path source) {
    this.vocab = vocab;
    int size = 0;
    int longest = 0;
    for (Map.Entry<String, Integer> e : vocab.entrySet()) {
      size = Math.max(size, e.getValue() + 1);
      longest = Math.max(longest, e.getKey().codePointCount(0, e.getKey().length()));
    }
    this.idToToken = new String[size];
    vocab.forEach((t, id) -> idToToken[id] = t);
    this.maxTokenChars = longest;
    this.unkToken = unkToken;
    this.prefix = prefix;
    this.maxInputCharsPerWord = maxInputCharsPerWord;
    this.cleanText = cleanText;
    this.handleChineseChars = handleChineseChars;
    this.stripAccents = stripAccents != null ? stripAccents : lowercase;
    this.lowercase = lowercase;
    List<String> sorted = new ArrayList<>(added);
    sorted.sort((a, b) -> Integer.compare(b.length(), a.length()));
    this.added = sorted.toArray(new String[0]);
    this.unk = require(unkToken, source);
    this.cls = require("[CLS]", source);
    this.sep = require("[SEP]", source);
    this.pad = vocab.getOrDefault("[PAD]", 0);
    this.mask = vocab.getOrDefault("[MASK]", -1);
  }

  private int require(String token, Path source) {
    Integer id = vocab.get(token);
    if (id == null) {
      throw new ModelLoadException(source, "a vocabulary with " + token, "none");
    }
    return id;
  }

  // ---- loading -----------------------------------------------------------------------------------------------

  /** Loads {@code tokenizer.json}, or else {@code vocab.txt} with {@code tokenizer_config.json}. */
  public static WordPieceTokenizer fromDirectory(Path dir) {
    return Sources.read(dir).build();
  }

  /**
   * Tokenizers of this JVM by the content of their files: a tokenizer is immutable, so every pipeline whose model
   * has the same tokenizer files (the slots of a TaskManager, the job's tasks restarted in it, and models fine-tuned
   * from one base, which ship the same vocabulary) shares one instead of parsing it again. Held softly: the heap may
   * take back one that no pipeline uses.
   */
  private static final Map<String, SoftReference<WordPieceTokenizer>> SHARED = new ConcurrentHashMap<>();

  /**
   * As {@link #fromDirectory}, shared with every earlier load in this JVM of the same tokenizer files' content
   * (the files are read and hashed each time, about a millisecond; parsing them is what is saved).
   */
  public static WordPieceTokenizer shared(Path dir) {
    Sources files = Sources.read(dir);
    String key = files.key();
    SoftReference<WordPieceTokenizer> ref = SHARED.get(key);
    WordPieceTokenizer t = ref == null ? null : ref.get();
    if (t == null) {
      t = files.build();
      SHARED.values().removeIf(r -> r.get() == null);
      SHARED.put(key, new SoftReference<>(t));
    }
    return t;
  }

  /**
   * The bytes of a model directory's tokenizer files, read once: what the tokenizer is built from and what
   * {@link #shared} knows it by. {@code tokenizer.json} when there is one (the others are not read then), else
   * {@code vocab.txt} and the optional {@code tokenizer_config.json}.
   */
  private record Sources(Path dir, byte[] json, byte[] vocab, byte[] config) {
    static Sources read(Path dir) {
      Path json = dir.resolve("tokenizer.json");
      if (Files.isRegularFile(json)) {
        return new Sources(dir, bytes(json, "a Hugging Face tokenizer.json"), null, null);
      }
      Path vocab = dir.resolve("vocab.txt");
      if (Files.isRegularFile(vocab)) {
        Path config = dir.resolve("tokenizer_config.json");
        return new Sources(dir, null, bytes(vocab, VOCAB_EXPECTED),
            Files.isRegularFile(config) ? bytes(config, "valid JSON") : null);
      }
      throw new ModelLoadException(dir, "tokenizer.json, or vocab.txt (+ tokenizer_config.json)", "neither");
    }

    static final String VOCAB_EXPECTED = "a WordPiece vocabulary, one token per line";

    static byte[] bytes(Path file, String expected) {
      try {
        return Files.readAllBytes(file);
      } catch (IOException e) {
        throw new ModelLoadException(file, expected, e.getMessage());
      }
    }

    WordPieceTokenizer build() {
      if (json != null) {
        Path source = dir.resolve("tokenizer.json");
        try (JsonParser p = TOKENIZER_JSON.createParser(json)) {
          return fromTokenizerJson(p, source);
        } catch (IOException e) {
          throw new ModelLoadException(source, "a Hugging Face tokenizer.json", e.getMessage());
        }
      }
      return fromVocab(vocab, config, dir.resolve("vocab.txt"), dir.resolve("tokenizer_config.json"));
    }

    /** SHA-256 over which files there are and their bytes. */
    String key() {
      try {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        for (byte[] b : new byte[][] {json, vocab, config}) {
          sha.update(java.nio.ByteBuffer.allocate(8).putLong(b == null ? -1 : b.length).array());
          if (b != null) {
            sha.update(b);
          }
        }
        return HexFormat.of().formatHex(sha.digest());
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  public static WordPieceTokenizer fromTokenizerJson(InputStream in) throws IOException {
    try (JsonParser p = TOKENIZER_JSON.createParser(in)) {
      return fromTokenizerJson(p, Path.of("tokenizer.json"));
    }
  }

  /** From a JSON tree of a whole tokenizer.json (what {@link #fromTokenizerJson(JsonParser, Path)} reads, streamed). */
  static WordPieceTokenizer fromTokenizerJson(JsonNode root, Path source) {
    JsonNode v = root.path("model").path("vocab");
    Map<String, Integer> vocab = new HashMap<>();
    v.fields().forEachRemaining(e -> vocab.put(e.getKey(), e.getValue().asInt()));
    return fromTokenizerJson(root, v.isObject() ? vocab : null, source);
  }

  /**
   * Reads tokenizer.json as a stream: the vocabulary's entries go straight into the map, without a JSON tree node of
   * each (the tree of a 30,000-token vocabulary was most of a model's tokenizer load); everything else, small, is
   * read into a tree as before. The result is the tree path's in every case, duplicate keys included (the last wins).
   */
  static WordPieceTokenizer fromTokenizerJson(JsonParser p, Path source) throws IOException {
    if (p.nextToken() != JsonToken.START_OBJECT) {
      return fromTokenizerJson(p.currentToken() == null ? TOKENIZER_JSON.missingNode() : tree(p), source);
    }
    ObjectNode root = TOKENIZER_JSON.createObjectNode();
    Map<String, Integer> vocab = null;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String field = p.currentName();
      p.nextToken();
      if (!field.equals("model") || p.currentToken() != JsonToken.START_OBJECT) {
        root.set(field, tree(p));
        vocab = field.equals("model") ? null : vocab;
        continue;
      }
      ObjectNode model = root.putObject("model");
      vocab = null;
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        p.nextToken();
        if (name.equals("vocab") && p.currentToken() == JsonToken.START_OBJECT) {
          vocab = new HashMap<>();
          while (p.nextToken() == JsonToken.FIELD_NAME) {
            String token = p.currentName();
            p.nextToken();
            // an int as it is; anything else exactly as the tree's asInt() reads it
            vocab.put(token, p.currentToken() == JsonToken.VALUE_NUMBER_INT
                && p.getNumberType() == JsonParser.NumberType.INT ? p.getIntValue()
                : tree(p).asInt());
          }
          model.putObject("vocab"); // its entries live in the map
        } else {
          model.set(name, tree(p));
          vocab = name.equals("vocab") ? null : vocab;
        }
      }
    }
    return fromTokenizerJson(root, vocab, source);
  }

  /** The value at the parser's current token, as a tree. */
  private static JsonNode tree(JsonParser p) throws IOException {
    JsonNode n = TOKENIZER_JSON.readTree(p);
    return n != null ? n : TOKENIZER_JSON.nullNode();
  }

  /** {@code vocab}: the entries of {@code model.vocab}, null when that is not an object. */
  private static WordPieceTokenizer fromTokenizerJson(JsonNode root, Map<String, Integer> vocab, Path source) {
    JsonNode model = root.path("model");
    // older tokenizer.json files omit the model type; a WordPiece model is recognised by its vocab and prefix
    String type = model.path("type").asText(model.has("continuing_subword_prefix") ? "WordPiece" : "");
    if (!"WordPiece".equals(type) || vocab == null) {
      throw new ModelLoadException(source, "a WordPiece tokenizer model", "\"" + model.path("type").asText() + "\"");
    }
    JsonNode norm = root.path("normalizer");
    boolean clean = true;
    boolean chinese = true;
    Boolean strip = null;
    boolean lower = true;
    if ("BertNormalizer".equals(norm.path("type").asText())) {
      clean = norm.path("clean_text").asBoolean(true);
      chinese = norm.path("handle_chinese_chars").asBoolean(true);
      strip = norm.hasNonNull("strip_accents") ? norm.get("strip_accents").asBoolean() : null;
      lower = norm.path("lowercase").asBoolean(true);
    } else if (!norm.isMissingNode() && !norm.isNull()) {
      throw new ModelLoadException(source, "a BertNormalizer", "normalizer " + norm.path("type").asText());
    }
    List<String> added = new ArrayList<>();
    for (JsonNode t : root.path("added_tokens")) {
      if (t.path("special").asBoolean(false)) {
        added.add(t.path("content").asText());
        vocab.putIfAbsent(t.path("content").asText(), t.path("id").asInt());
      }
    }
    return new WordPieceTokenizer(vocab, model.path("unk_token").asText("[UNK]"),
        model.path("continuing_subword_prefix").asText("##"), model.path("max_input_chars_per_word").asInt(100),
        clean, chinese, strip, lower, added, source);
  }

  static WordPieceTokenizer fromVocab(Path vocabTxt, Path tokenizerConfig) {
    return fromVocab(Sources.bytes(vocabTxt, Sources.VOCAB_EXPECTED),
        Files.isRegularFile(tokenizerConfig) ? Sources.bytes(tokenizerConfig, "valid JSON") : null, vocabTxt,
        tokenizerConfig);
  }

  /** From the bytes of vocab.txt and of tokenizer_config.json ({@code null}: there is none). */
  private static WordPieceTokenizer fromVocab(byte[] vocabBytes, byte[] configBytes, Path vocabTxt,
      Path tokenizerConfig) {
    Map<String, Integer> vocab = new LinkedHashMap<>();
    try {
      // strict UTF-8 and readLine's line ends, as Files.readAllLines read the file
      List<String> lines = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(vocabBytes))
          .toString().lines().toList();
      for (int i = 0; i < lines.size(); i++) {
        vocab.putIfAbsent(lines.get(i).strip(), i);
      }
    } catch (IOException e) {
      throw new ModelLoadException(vocabTxt, Sources.VOCAB_EXPECTED, e.getMessage());
    }
    boolean lower = true;
    Boolean strip = null;
    boolean chinese = true;
    if (configBytes != null) {
      try {
        JsonNode c = JSON.readTree(configBytes);
        lower = c.path("do_lower_case").asBoolean(true);
        strip = c.hasNonNull("strip_accents") ? c.get("strip_accents").asBoolean() : null;
        chinese = c.path("tokenize_chinese_chars").asBoolean(true);
      } catch (IOException e) {
        throw new ModelLoadException(tokenizerConfig, "valid JSON", e.getMessage());
      }
    }
    List<String> added = new ArrayList<>();
    for (String s : SPECIALS) {
      if (vocab.containsKey(s)) {
        added.add(s);
      }
    }
    return new WordPieceTokenizer(vocab, "[UNK]", "##", 100, true, chinese, strip, lower, added, vocabTxt);
  }

  // ---- public API --------------------------------------------------------------------------------------------

  public int clsId() { return cls; }
  public int sepId() { return sep; }
  public int padId() { return pad; }
  public int unkId() { return unk; }
  /** -1 when the vocabulary has no [MASK]. */
  public int maskId() { return mask; }
  public int vocabSize() { return idToToken.length; }

  public String idToToken(int id) {
    return id >= 0 && id < idToToken.length && idToToken[id] != null ? idToToken[id] : unkToken;
  }

  public int tokenToId(String token) {
    return vocab.getOrDefault(token, -1);
  }

  /** The tokens' ids, no special tokens added. */
  public int[] tokenIds(String text) {
    return tokenize(text).ids();
  }

  /** {@code [CLS] text [SEP]}, truncated to {@code maxLength} tokens in all (0 = no limit). */
  public Encoding encode(String text, int maxLength) {
    Tokens a = tokenize(text);
    if (maxLength > 0 && a.size() + 2 > maxLength) {
      a = a.head(Math.max(0, maxLength - 2));
    }
    return template(a, null);
  }

  /** {@code [CLS] first [SEP] second [SEP]}, type ids 0 then 1; truncation {@code longest_first}. */
  public Encoding encodePair(String first, String second, int maxLength) {
    return pair(tokenize(first), tokenize(second), maxLength);
  }

  /** How a pair longer than the window is cut, as Hugging Face's {@code truncation} argument names it. */
  public enum Truncation {
    /** Cut the longer sequence first ({@link #encodePair}; multiple-choice). */
    LONGEST_FIRST,
    /** Cut only the first sequence (the zero-shot pipeline's premise); a second that leaves it no room is an error. */
    ONLY_FIRST
  }

  /**
   * {@code [CLS] first [SEP] second [SEP]} for each of {@code seconds}, tokenizing {@code first} once: a prompt with N
   * choices (or a premise with N hypotheses) costs its own length once, not N times. Pairs over {@code maxLength}
   * (0 = no limit) are cut as {@code truncation} says; with {@link Truncation#ONLY_FIRST}, a second that leaves no
   * room for one token of the first is an {@link IllegalArgumentException}, as the Rust library's error for it.
   */
  public List<Encoding> encodePairs(String first, List<String> seconds, int maxLength, Truncation truncation) {
    Tokens a = tokenize(first);
    List<Encoding> out = new ArrayList<>(seconds.size());
    for (String second : seconds) {
      Tokens b = tokenize(second);
      out.add(truncation == Truncation.LONGEST_FIRST ? pair(a, b, maxLength) : template(onlyFirst(a, b, maxLength), b));
    }
    return out;
  }

  private Encoding pair(Tokens a, Tokens b, int maxLength) {
    if (maxLength > 0 && a.size() + b.size() + 3 > maxLength) {
      // the Rust library's longest_first: the shorter sequence keeps what it can of half the budget, the longer one
      // the rest; when both are cut, the longer one (the second on ties) gets the odd token
      int budget = Math.max(0, maxLength - 3);
      boolean swap = a.size() > b.size();
      int n1 = Math.min(a.size(), b.size());
      int n2 = n1 > budget ? n1 : Math.max(n1, budget - n1);
      if (n1 + n2 > budget) {
        n1 = budget / 2;
        n2 = n1 + budget % 2;
      }
      a = a.head(Math.min(a.size(), swap ? n2 : n1));
      b = b.head(Math.min(b.size(), swap ? n1 : n2));
    }
    return template(a, b);
  }

  /** {@code a} cut to what {@code b} leaves of {@code maxLength}. */
  private static Tokens onlyFirst(Tokens a, Tokens b, int maxLength) {
    if (maxLength <= 0 || a.size() + b.size() + 3 <= maxLength) {
      return a;
    }
    int room = maxLength - b.size() - 3;
    if (room < 1) {
      throw new IllegalArgumentException("the second sequence has " + b.size() + " tokens, leaving no room for"
          + " the first in a window of " + maxLength);
    }
    return a.head(room);
  }

  /**
   * Question-answering windows, as Hugging Face's {@code truncation="only_second", return_overflowing_tokens=True,
   * stride=stride}: every window is {@code [CLS] question [SEP] part-of-context [SEP]}, at most {@code maxLength}
   * tokens, consecutive context parts sharing {@code stride} tokens. Context offsets index the context.
   */
  public List<Encoding> encodeWindows(String question, String context, int maxLength, int stride) {
    Tokens q = tokenize(question);
    Tokens c = tokenize(context);
    int capacity = maxLength - q.size() - 3;
    if (capacity <= stride || capacity < 1) {
      throw new IllegalArgumentException("the question (" + q.size() + " tokens) leaves " + Math.max(capacity, 0)
          + " context tokens per window of " + maxLength + ", not more than the stride of " + stride);
    }
    List<Encoding> windows = new ArrayList<>();
    int step = capacity - stride;
    for (int start = 0; ; start += step) {
      int stop = Math.min(start + capacity, c.size());
      windows.add(template(q, c.slice(start, stop)));
      if (stop >= c.size()) {
        return windows;
      }
    }
  }

  /** Ids back to text as Hugging Face's {@code decode} does for BERT. */
  public String decode(int[] ids, boolean skipSpecialTokens) {
    List<String> tokens = new ArrayList<>(ids.length);
    for (int id : ids) {
      if (skipSpecialTokens && (id == cls || id == sep || id == pad || id == mask)) {
        continue;
      }
      tokens.add(idToToken(id));
    }
    return io.distilstream.runtime.heads.WordPieceDecoder.decodeText(tokens);
  }

  // ---- tokens of one sequence ----------------------------------------------------------------------------------

  /** The tokens of one sequence, before special tokens: parallel arrays, {@code size} used. */
  private static final class Tokens {
    int[] ids = new int[16];
    int[] starts = new int[16];
    int[] ends = new int[16];
    int[] words = new int[16];
    int size;

    void add(int id, int start, int end, int word) {
      if (size == ids.length) {
        int n = size * 2;
        ids = java.util.Arrays.copyOf(ids, n);
        starts = java.util.Arrays.copyOf(starts, n);
        ends = java.util.Arrays.copyOf(ends, n);
        words = java.util.Arrays.copyOf(words, n);
      }
      ids[size] = id;
      starts[size] = start;
      ends[size] = end;
      words[size] = word;
      size++;
    }

    int size() { return size; }

    int[] ids() { return java.util.Arrays.copyOf(ids, size); }

    Tokens head(int n) { return slice(0, n); }

    Tokens slice(int from, int to) {
      Tokens t = new Tokens();
      t.ids = java.util.Arrays.copyOfRange(ids, from, to);
      t.starts = java.util.Arrays.copyOfRange(starts, from, to);
      t.ends = java.util.Arrays.copyOfRange(ends, from, to);
      t.words = java.util.Arrays.copyOfRange(words, from, to);
      t.size = to - from;
      if (t.size == 0) {
        t.ids = new int[1];
        t.starts = new int[1];
        t.ends = new int[1];
        t.words = new int[1];
      }
      return t;
    }
  }

  private Encoding template(Tokens a, Tokens b) {
    int n = a.size() + 2 + (b == null ? 0 : b.size() + 1);
    int[] ids = new int[n];
    int[] types = new int[n];
    int[] starts = new int[n];
    int[] ends = new int[n];
    int[] words = new int[n];
    byte[] seqs = new byte[n];
    int k = 0;
    ids[k] = cls;
    words[k] = -1;
    seqs[k++] = -1;
    for (int i = 0; i < a.size(); i++, k++) {
      ids[k] = a.ids[i];
      starts[k] = a.starts[i];
      ends[k] = a.ends[i];
      words[k] = a.words[i];
    }
    ids[k] = sep;
    words[k] = -1;
    seqs[k++] = -1;
    if (b != null) {
      for (int i = 0; i < b.size(); i++, k++) {
        ids[k] = b.ids[i];
        types[k] = 1;
        starts[k] = b.starts[i];
        ends[k] = b.ends[i];
        words[k] = b.words[i];
        seqs[k] = 1;
      }
      ids[k] = sep;
      types[k] = 1;
      words[k] = -1;
      seqs[k] = -1;
    }
    return new Encoding(ids, types, starts, ends, words, seqs);
  }

  /** Splits out special tokens written in the text, then normalises, pre-tokenizes and WordPieces the rest. */
  private Tokens tokenize(String text) {
    Tokens out = new Tokens();
    int[] word = {0};
    int from = 0;
    if (added.length > 0 && text.indexOf('[') >= 0) {
      int i = text.indexOf('[');
      while (i >= 0) {
        String hit = null;
        for (String s : added) {
          if (text.startsWith(s, i)) {
            hit = s;
            break;
          }
        }
        if (hit != null) {
          segment(text, from, i, out, word);
          out.add(vocab.get(hit), i, i + hit.length(), word[0]++);
          from = i + hit.length();
          i = text.indexOf('[', from);
        } else {
          i = text.indexOf('[', i + 1);
        }
      }
    }
    segment(text, from, text.length(), out, word);
    return out;
  }

  /**
   * Normalises {@code text[from, to)} keeping, for every normalised code point, the original range it came from,
   * then pre-tokenizes and WordPieces it. Each step is one pass over the segment (NFD's canonical reordering is a
   * counting sort of each run of marks), so the cost is linear in the text, whatever it holds.
   */
  private void segment(String text, int from, int to, Tokens out, int[] word) {
    if (from >= to) {
      return;
    }
    // BertNormalizer: clean text and split CJK, then strip accents, then lower-case, each over the whole segment
    Normalized norm = new Normalized(to - from + 8);
    for (int i = from; i < to; ) {
      int cp = text.codePointAt(i);
      int next = i + Character.charCount(cp);
      if (cp >= 0xD800 && cp <= 0xDFFF) {
        // a lone surrogate cannot reach the Rust tokenizers: UTF-8 encoding makes it U+FFFD first
        cp = 0xFFFD;
      }
      cleanInto(cp, i, next, norm);
      i = next;
    }
    if (stripAccents) {
      norm = stripAccents(norm);
    }
    if (lowercase) {
      norm = lowercase(norm);
    }
    // BertPreTokenizer: whitespace separates words and is dropped; punctuation is a word of its own
    int n = norm.size;
    int start = -1;
    for (int k = 0; k <= n; k++) {
      int cp = k < n ? norm.cps[k] : ' ';
      boolean space = k < n ? isWhitespace(cp) : true;
      boolean punct = !space && isPunctuation(cp);
      if (space || punct) {
        if (start >= 0) {
          wordPiece(norm, start, k, out, word[0]++);
          start = -1;
        }
        if (punct) {
          wordPiece(norm, k, k + 1, out, word[0]++);
        }
      } else if (start < 0) {
        start = k;
      }
    }
  }

  private void cleanInto(int cp, int start, int end, Normalized norm) {
    if (cleanText) {
      if (cp == 0 || cp == 0xFFFD || isControl(cp)) {
        return;
      }
      if (isWhitespace(cp)) {
        cp = ' ';
      }
    }
    if (handleChineseChars && isChinese(cp)) {
      norm.add(' ', start, end);
      norm.add(cp, start, end);
      norm.add(' ', start, end);
      return;
    }
    norm.add(cp, start, end);
  }

  /**
   * NFD, then non-spacing marks dropped. As in the Rust tokenizers, canonical reordering moves code points but not
   * alignments: the k-th code point of a reordered run keeps the original range of the k-th position.
   */
  private static Normalized stripAccents(Normalized in) {
    Normalized nfd = new Normalized(in.size + 8);
    for (int k = 0; k < in.size; k++) {
      int cp = in.cps[k];
      if (cp < 0xC0) {
        nfd.add(cp, in.starts[k], in.ends[k]); // ASCII and Latin-1 punctuation: nothing decomposes or combines
        continue;
      }
      String d = RustUnicode.decompose(cp);
      for (int i = 0; i < d.length(); ) {
        int c = d.codePointAt(i);
        i += Character.charCount(c);
        nfd.add(c, in.starts[k], in.ends[k]);
      }
    }
    reorderMarks(nfd);
    Normalized out = new Normalized(nfd.size + 8);
    for (int k = 0; k < nfd.size; k++) {
      int cp = nfd.cps[k];
      if (cp < 0x300 || !RustUnicode.isNonspacingMark(cp)) {
        out.add(cp, nfd.starts[k], nfd.ends[k]);
      }
    }
    return out;
  }

  /** Canonical ordering: each run of non-starters stably sorted by combining class, in O(run length). */
  private static void reorderMarks(Normalized norm) {
    int[] ranks = null;
    int[] sorted = null;
    for (int k = 0; k < norm.size; ) {
      if (norm.cps[k] < 0x300 || RustUnicode.combiningRank(norm.cps[k]) == 0) {
        k++;
        continue;
      }
      int runStart = k;
      int maxRank = 0;
      while (k < norm.size && norm.cps[k] >= 0x300 && RustUnicode.combiningRank(norm.cps[k]) > 0) {
        maxRank = Math.max(maxRank, RustUnicode.combiningRank(norm.cps[k]));
        k++;
      }
      int len = k - runStart;
      if (len < 2) {
        continue;
      }
      if (sorted == null || sorted.length < len) {
        sorted = new int[Math.max(len, 16)];
      }
      // counting sort by rank: stable, and ranks are few (one per combining class)
      ranks = ranks == null || ranks.length < maxRank + 2 ? new int[maxRank + 2] : ranks;
      java.util.Arrays.fill(ranks, 0, maxRank + 2, 0);
      for (int i = runStart; i < k; i++) {
        ranks[RustUnicode.combiningRank(norm.cps[i]) + 1]++;
      }
      for (int r = 1; r < maxRank + 2; r++) {
        ranks[r] += ranks[r - 1];
      }
      for (int i = runStart; i < k; i++) {
        sorted[ranks[RustUnicode.combiningRank(norm.cps[i])]++] = norm.cps[i];
      }
      System.arraycopy(sorted, 0, norm.cps, runStart, len);
    }
  }

  /** Rust's {@code char::to_lowercase}, whose only one-to-many mapping in Unicode is U+0130. */
  private static Normalized lowercase(Normalized in) {
    Normalized out = new Normalized(in.size + 8);
    for (int k = 0; k < in.size; k++) {
      int cp = in.cps[k];
      if (cp == 0x130) {
        out.add('i', in.starts[k], in.ends[k]);
        out.add(0x307, in.starts[k], in.ends[k]);
      } else {
        out.add(cp < 0x80 ? Character.toLowerCase(cp) : RustUnicode.toLowerCase(cp), in.starts[k], in.ends[k]);
      }
    }
    return out;
  }

  /** Greedy longest-match-first WordPiece over the normalised code points {@code [from, to)}. */
  private void wordPiece(Normalized norm, int from, int to, Tokens out, int wordId) {
    int chars = to - from;
    if (chars > maxInputCharsPerWord) {
      out.add(unk, norm.starts[from], norm.ends[to - 1], wordId);
      return;
    }
    int mark = out.size;
    StringBuilder sb = new StringBuilder();
    int start = from;
    while (start < to) {
      int end = Math.min(to, start + maxTokenChars);
      int id = -1;
      while (end > start) {
        sb.setLength(0);
        if (start > from) {
          sb.append(prefix);
        }
        for (int k = start; k < end; k++) {
          sb.appendCodePoint(norm.cps[k]);
        }
        Integer v = vocab.get(sb.toString());
        if (v != null) {
          id = v;
          break;
        }
        end--;
      }
      if (id < 0) {
        out.size = mark; // the whole word is unknown
        out.add(unk, norm.starts[from], norm.ends[to - 1], wordId);
        return;
      }
      out.add(id, norm.starts[start], norm.ends[end - 1], wordId);
      start = end;
    }
  }

  /** Normalised code points and, for each, the original UTF-16 range it came from. */
  private static final class Normalized {
    int[] cps;
    int[] starts;
    int[] ends;
    int size;

    Normalized(int capacity) {
      cps = new int[capacity];
      starts = new int[capacity];
      ends = new int[capacity];
    }

    void add(int cp, int start, int end) {
      if (size == cps.length) {
        int n = size * 2;
        cps = java.util.Arrays.copyOf(cps, n);
        starts = java.util.Arrays.copyOf(starts, n);
        ends = java.util.Arrays.copyOf(ends, n);
      }
      cps[size] = cp;
      starts[size] = start;
      ends[size] = end;
      size++;
    }
  }

  // ---- character classes, as the tokenizers library defines them ---------------------------------------------------

  /** Tab, newline and carriage return, and Unicode's White_Space property (Rust's char::is_whitespace). */
  static boolean isWhitespace(int c) {
    switch (c) {
      case '\t': case '\n': case '\r': case 0x0B: case 0x0C: case ' ': case 0x85: case 0xA0: case 0x1680:
      case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return true;
      default:
        return c >= 0x2000 && c <= 0x200A;
    }
  }

  /** Unicode's Cc, Cf, Cs and Co as the Rust tokenizers see them (not Cn), but for tab, newline and carriage return. */
  static boolean isControl(int c) {
    return c != '\t' && c != '\n' && c != '\r' && RustUnicode.isOther(c);
  }

  /** ASCII punctuation (which includes symbols such as $ + < = > ^ ` |) and Unicode's P* categories. */
  static boolean isPunctuation(int c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) {
      return true;
    }
    return c > 126 && RustUnicode.isPunctuation(c);
  }

  /** The CJK Unified Ideograph blocks BERT splits character by character. */
  static boolean isChinese(int c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF)
        || (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF)
        || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
  }
}
