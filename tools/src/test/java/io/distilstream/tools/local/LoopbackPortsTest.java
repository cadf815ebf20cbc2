package io.distilstream.tools.local;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class LoopbackPortsTest {

  @Test
  void portsLieBelowTheEphemeralRangeAreBindableAndNeverRepeat() throws Exception {
    int low = LoopbackPorts.ephemeralLow();
    if (Files.isRegularFile(Path.of("/proc/sys/net/ipv4/ip_local_port_range"))) {
      // a real range's low end (the first read of the file once gave 3: a short read of procfs)
      assertThat(low).as("the ephemeral range's low end").isBetween(1024, 65535);
    }
    Set<Integer> seen = new HashSet<>();
    for (int i = 0; i < 50; i++) {
      int port = LoopbackPorts.free();
      assertThat(seen.add(port)).as("port %d handed out twice", port).isTrue();
      if (low > LoopbackPorts.LOWEST + 1) {
        assertThat(port).isBetween(LoopbackPorts.LOWEST, low - 1);
      }
      try (ServerSocket s = new ServerSocket(port, 0, InetAddress.getLoopbackAddress())) {
        assertThat(s.getLocalPort()).isEqualTo(port);
      }
    }
  }
}
