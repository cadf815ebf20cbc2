package io.distilstream.runtime.cli;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * GNU-style flags ({@code --name value}, {@code --name=value}, boolean {@code --name}) for the command line. Each
 * command declares the flags it knows; anything else is an error, so a typo never passes silently.
 */
public final class Args {
  private final Map<String, List<String>> values = new LinkedHashMap<>();
  private final Set<String> used = new HashSet<>();
  private final List<String> positional = new ArrayList<>();

  private Args() {}

  /**
   * @param booleans flags that take no value
   */
  public static Args parse(String[] argv, Set<String> booleans) {
    Args a = new Args();
    for (int i = 0; i < argv.length; i++) {
      String arg = argv[i];
      if (!arg.startsWith("--") || arg.equals("--")) {
        a.positional.add(arg);
        continue;
      }
      String name = arg.substring(2);
      String value;
      int eq = name.indexOf('=');
      if (eq >= 0) {
        value = name.substring(eq + 1);
        name = name.substring(0, eq);
      } else if (booleans.contains(name)) {
        value = "true";
      } else if (i + 1 < argv.length) {
        value = argv[++i];
      } else {
        throw new UsageException("--" + name + " needs a value");
      }
      a.values.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
    }
    return a;
  }

  public String string(String name, String dflt) {
    used.add(name);
    List<String> v = values.get(name);
    return v == null ? dflt : v.get(v.size() - 1);
  }

  public String required(String name) {
    String v = string(name, null);
    if (v == null) {
      throw new UsageException("--" + name + " is required");
    }
    return v;
  }

  public List<String> all(String name) {
    used.add(name);
    return values.getOrDefault(name, List.of());
  }

  public int integer(String name, int dflt) {
    String v = string(name, null);
    if (v == null) {
      return dflt;
    }
    try {
      return Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      throw new UsageException("--" + name + " takes a whole number, got '" + v + "'");
    }
  }

  public boolean flag(String name) {
    String v = string(name, null);
    return v != null && !v.equalsIgnoreCase("false");
  }

  public List<String> positional() {
    return positional;
  }

  /** Fails on flags no command asked for. Call after reading every flag. */
  public void rejectUnknown() {
    for (String name : values.keySet()) {
      if (!used.contains(name)) {
        throw new UsageException("unknown flag --" + name);
      }
    }
  }

  /** A command line that cannot be run: printed with the usage, exit code 2. */
  public static final class UsageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public UsageException(String message) {
      super(message);
    }
  }
}
