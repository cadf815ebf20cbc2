package io.distilstream.runtime.hub;

import java.util.regex.Pattern;

/**
 * A model on the Hugging Face Hub: {@code ORG/NAME}, optionally {@code @REVISION} (a branch, tag or commit). Names
 * follow the Hub's rules: letters, digits, {@code -_.}, at most 96 characters, neither starting nor ending with
 * {@code -} or {@code .}, no {@code --} or {@code ..} (the cache folder joins parts with {@code --}).
 */
public record HubId(String org, String name, String revision) {
  private static final Pattern PART = Pattern.compile("[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?");
  private static final Pattern REVISION = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_./-]{0,254}");
  private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

  /** The id, or {@code null} where {@code text} is not in the Hub's form. */
  public static HubId parse(String text) {
    if (text == null || text.length() > 400) {
      return null;
    }
    String id = text;
    String revision = null;
    int at = text.indexOf('@');
    if (at >= 0) {
      id = text.substring(0, at);
      revision = text.substring(at + 1);
      if (!validRevision(revision)) {
        return null;
      }
    }
    int slash = id.indexOf('/');
    if (slash < 0 || id.indexOf('/', slash + 1) >= 0) {
      return null;
    }
    String org = id.substring(0, slash);
    String name = id.substring(slash + 1);
    if (!validPart(org) || !validPart(name)) {
      return null;
    }
    return new HubId(org, name, revision);
  }

  /**
   * Why {@code text} is not a Hub id, for an error message; {@code null} where it is one. Says which part breaks
   * which of the Hub's rules.
   */
  public static String whyNot(String text) {
    if (text == null || text.isEmpty()) {
      return "it is empty";
    }
    if (parse(text) != null) {
      return null;
    }
    if (text.length() > 400) {
      return "it is over 400 characters";
    }
    int at = text.indexOf('@');
    String id = at >= 0 ? text.substring(0, at) : text;
    if (at >= 0 && !validRevision(text.substring(at + 1))) {
      return "'" + text.substring(at + 1) + "' is not a revision name (a branch, tag or commit)";
    }
    String[] parts = id.split("/", -1);
    if (parts.length != 2) {
      return "a Hub id is ORG/NAME[@REVISION], with one '/'";
    }
    for (String part : parts) {
      if (!validPart(part)) {
        return "'" + part + "' is not a Hub name (letters, digits, '-', '_', '.', at most 96 characters, not"
            + " starting or ending with '-' or '.', no '--' or '..')";
      }
    }
    return "it is not in the form ORG/NAME[@REVISION]";
  }

  /** The same repository at another revision. */
  public HubId at(String rev) {
    return new HubId(org, name, rev);
  }

  static boolean validPart(String s) {
    return PART.matcher(s).matches() && !s.contains("--") && !s.contains("..");
  }

  static boolean validRevision(String s) {
    return REVISION.matcher(s).matches() && !s.contains("..") && !s.contains("//") && !s.endsWith("/");
  }

  static boolean isCommit(String s) {
    return s != null && COMMIT.matcher(s).matches();
  }

  /** {@code ORG/NAME}, as URLs spell it. */
  public String repo() {
    return org + "/" + name;
  }

  /** The folder huggingface_hub caches this repository in. */
  public String cacheFolder() {
    return "models--" + org + "--" + name;
  }

  @Override
  public String toString() {
    return revision == null ? repo() : repo() + "@" + revision;
  }
}
