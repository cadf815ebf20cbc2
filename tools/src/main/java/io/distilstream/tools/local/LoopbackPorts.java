package io.distilstream.tools.local;

import java.io.BufferedReader;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Free TCP ports on the loopback address for the processes the local harnesses start (brokers, registries, Flink's
 * REST, RPC, blob and metrics ports).
 *
 * <p>A port is handed to a child process as a number and bound by it seconds later. A port that the kernel chose
 * for {@code new ServerSocket(0)} lies in its ephemeral range, the same range it draws from for the local end of
 * every outgoing connection (each Kafka and REST client here makes many): one of those can take the port in between,
 * and the child then fails with "Address already in use" (seen in CI: a JobManager's REST endpoint). So ports are
 * drawn below the ephemeral range, where the kernel never assigns one on its own, checked bindable, and never handed
 * out twice by this JVM.
 */
public final class LoopbackPorts {
  /** The lowest port drawn; below it lie well-known and registered services' ports. */
  static final int LOWEST = 20_000;
  private static final int ATTEMPTS = 200;
  private static final Set<Integer> HANDED_OUT = new HashSet<>();

  private LoopbackPorts() {}

  /** A port that is free now on 127.0.0.1, outside the kernel's ephemeral range, not handed out before here. */
  public static synchronized int free() throws IOException {
    int high = ephemeralLow() - 1;
    if (high > LOWEST) {
      for (int i = 0; i < ATTEMPTS; i++) {
        int port = ThreadLocalRandom.current().nextInt(LOWEST, high + 1);
        if (!HANDED_OUT.contains(port) && bindable(port)) {
          HANDED_OUT.add(port);
          return port;
        }
      }
    }
    // no free port below the range (or no range below it): the kernel's choice, still never repeated here
    for (int i = 0; i < ATTEMPTS; i++) {
      try (ServerSocket s = new ServerSocket(0, 0, InetAddress.getLoopbackAddress())) {
        int port = s.getLocalPort();
        if (HANDED_OUT.add(port)) {
          return port;
        }
      }
    }
    throw new IOException("no free loopback port found in " + ATTEMPTS + " attempts");
  }

  private static boolean bindable(int port) {
    try (ServerSocket s = new ServerSocket(port, 0, InetAddress.getLoopbackAddress())) {
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** The low end of Linux's ephemeral port range; the IANA range's (49152) where there is no such file. */
  static int ephemeralLow() {
    Path range = Path.of("/proc/sys/net/ipv4/ip_local_port_range");
    // one buffered read from offset 0: a sysctl file answers a read at a later offset with end of file, and
    // Files.readString sizes its first read by the file's size, which procfs gives as 0 (it read "3" of "32768")
    try (BufferedReader r = Files.newBufferedReader(range, StandardCharsets.US_ASCII)) {
      String line = r.readLine();
      return Integer.parseInt(line.trim().split("\\s+")[0]);
    } catch (IOException | RuntimeException e) {
      return 49_152;
    }
  }
}
