package io.distilstream.tools.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BarPlotTest {
  private static Measurement measured(String id, String group, double... eventsPerSecond) {
    Measurement m = new Measurement(id, group, id, "1 slot x 2 threads");
    for (double e : eventsPerSecond) {
      m.runs.add(new Measurement.Run((long) (e * 10), 100, 0, 10, 0, null, null));
    }
    return m;
  }

  @Test
  void rowsAreGroupedByFamilyInTheFixedOrder() {
    Measurement ours = measured("ours", "ours", 70);
    Measurement ceiling = measured("ceiling", "ceiling", 80);
    Measurement naive = measured("naive", "naive", 50);
    Measurement ceiling2 = measured("ceiling-2", "ceiling", 60);
    assertThat(BarPlot.rows(List.of(ours, ceiling, naive, ceiling2))).containsExactly(ceiling, ceiling2, naive, ours);
  }

  @Test
  void aTargetIsARedTickOnTheBarItAppliesTo(@TempDir Path dir) throws Exception {
    Measurement ceiling = measured("ceiling", "ceiling", 78, 80, 82);
    Measurement ours = measured("ours", "ours", 60, 61, 62);
    Path without = dir.resolve("without.png");
    Path with = dir.resolve("with.png");
    BarPlot.write(without, "t", List.of(ceiling, ours), List.of());
    BarPlot.write(with, "t", List.of(ceiling, ours), List.of(new BarPlot.Target(ours, ceiling, 0.9, "r")));

    BufferedImage a = ImageIO.read(without.toFile());
    BufferedImage b = ImageIO.read(with.toFile());
    assertThat(b.getWidth()).isEqualTo(a.getWidth());
    // two family headers and two bars
    assertThat(b.getHeight()).isEqualTo(60 + 4 * 28 + 70);
    assertThat(redPixels(a)).isZero();
    assertThat(redPixels(b)).isGreaterThan(20);
  }

  @Test
  void stepsAreOneTwoOrFiveTimesAPowerOfTen() {
    assertThat(BarPlot.niceStep(13)).isEqualTo(20);
    assertThat(BarPlot.niceStep(0.3)).isEqualTo(0.5);
    assertThat(BarPlot.niceStep(100)).isEqualTo(100);
    assertThat(BarPlot.niceStep(0)).isEqualTo(1);
  }

  private static int redPixels(BufferedImage img) {
    int n = 0;
    for (int y = 0; y < img.getHeight(); y++) {
      for (int x = 0; x < img.getWidth(); x++) {
        int rgb = img.getRGB(x, y) & 0xFFFFFF;
        if (rgb == 0xFF0000) {
          n++;
        }
      }
    }
    return n;
  }
}
