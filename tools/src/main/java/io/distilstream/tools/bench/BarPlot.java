package io.distilstream.tools.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * {@code events-per-second.png}: one horizontal bar per pattern (median, whisker min to max), grouped by family in
 * the order ceiling, naive, peer, ours, and a red tick on a bar wherever a ratio target applies to it (the target
 * times the figure it is measured against), so a reader sees at a glance which bars reach their targets. Drawn with
 * Java2D: a category chart rotates long labels beside the wrong bars.
 */
final class BarPlot {
  /** A ratio target drawn on the bar of {@code over}: {@code target × under}'s events per second. */
  record Target(Measurement over, Measurement under, double target, String name) {
    double at() { return target * under.eventsPerSecond(); }
  }

  static final List<String> FAMILIES = List.of("ceiling", "naive", "peer", "ours");

  private static final int WIDTH = 1400;
  private static final int LABEL_WIDTH = 520;
  private static final int ROW = 28;
  private static final int TOP = 60;
  private static final int BOTTOM = 70;
  private static final Map<String, Color> COLORS = Map.of("ceiling", new Color(0x4C72B0), "naive",
      new Color(0xDD8452), "peer", new Color(0x8172B3), "ours", new Color(0x55A868));

  private BarPlot() {}

  /** The rows in the order drawn: families in {@link #FAMILIES} order, then any other family, each in run order. */
  static List<Measurement> rows(List<Measurement> bars) {
    Map<String, List<Measurement>> byFamily = new LinkedHashMap<>();
    for (String f : FAMILIES) {
      byFamily.put(f, new ArrayList<>());
    }
    for (Measurement m : bars) {
      byFamily.computeIfAbsent(m.group, k -> new ArrayList<>()).add(m);
    }
    List<Measurement> out = new ArrayList<>();
    byFamily.values().forEach(out::addAll);
    return out;
  }

  static void write(Path file, String title, List<Measurement> bars, List<Target> targets) throws IOException {
    List<Measurement> rows = rows(bars);
    String family = null;
    int headers = 0;
    for (Measurement m : rows) {
      if (!m.group.equals(family)) {
        headers++;
        family = m.group;
      }
    }
    int height = TOP + (rows.size() + headers) * ROW + BOTTOM;
    double max = 0;
    for (Measurement m : rows) {
      max = Math.max(max, m.maxEventsPerSecond());
    }
    for (Target t : targets) {
      max = Math.max(max, t.at());
    }
    double step = niceStep(max / 6);
    double scaleMax = Math.ceil(max * 1.08 / step) * step;
    int plotLeft = LABEL_WIDTH;
    int plotWidth = WIDTH - LABEL_WIDTH - 90;

    BufferedImage img = new BufferedImage(WIDTH, height, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, WIDTH, height);
      Font plain = new Font(Font.SANS_SERIF, Font.PLAIN, 13);
      Font bold = plain.deriveFont(Font.BOLD);
      g.setColor(Color.BLACK);
      g.setFont(bold.deriveFont(16f));
      g.drawString(title, 20, 30);

      int plotBottom = height - BOTTOM;
      g.setFont(plain);
      for (double x = 0; x <= scaleMax + 1e-9; x += step) {
        int px = plotLeft + (int) Math.round(x / scaleMax * plotWidth);
        g.setColor(new Color(0xE5E5E5));
        g.drawLine(px, TOP - 5, px, plotBottom);
        g.setColor(Color.DARK_GRAY);
        String label = format(x);
        g.drawString(label, px - g.getFontMetrics().stringWidth(label) / 2, plotBottom + 18);
      }
      g.drawString("events/s", plotLeft + plotWidth / 2 - 25, plotBottom + 38);

      int y = TOP;
      family = null;
      for (Measurement m : rows) {
        if (!m.group.equals(family)) {
          family = m.group;
          g.setColor(Color.BLACK);
          g.setFont(bold);
          g.drawString(family, 20, y + ROW - 9);
          y += ROW;
        }
        g.setFont(plain);
        g.setColor(Color.BLACK);
        g.drawString(fit(g, m.pattern + " (" + m.layout + ")", LABEL_WIDTH - 50), 40, y + ROW - 9);
        int x0 = plotLeft;
        int x1 = plotLeft + (int) Math.round(m.eventsPerSecond() / scaleMax * plotWidth);
        g.setColor(COLORS.getOrDefault(m.group, Color.GRAY));
        g.fillRect(x0, y + 5, Math.max(1, x1 - x0), ROW - 10);
        int lo = plotLeft + (int) Math.round(m.minEventsPerSecond() / scaleMax * plotWidth);
        int hi = plotLeft + (int) Math.round(m.maxEventsPerSecond() / scaleMax * plotWidth);
        int mid = y + ROW / 2;
        g.setColor(Color.DARK_GRAY);
        g.setStroke(new BasicStroke(1.5f));
        g.drawLine(lo, mid, hi, mid);
        g.drawLine(lo, mid - 5, lo, mid + 5);
        g.drawLine(hi, mid - 5, hi, mid + 5);
        for (Target t : targets) {
          if (t.over() == m) {
            int tx = plotLeft + (int) Math.round(t.at() / scaleMax * plotWidth);
            g.setColor(Color.RED);
            g.setStroke(new BasicStroke(3f));
            g.drawLine(tx, y + 1, tx, y + ROW - 1);
          }
        }
        g.setStroke(new BasicStroke(1f));
        g.setColor(Color.BLACK);
        g.drawString(format(m.eventsPerSecond()), Math.max(hi, x1) + 6, y + ROW - 9);
        y += ROW;
      }
      g.setColor(Color.DARK_GRAY);
      g.drawString("bar: median of runs; whisker: min to max; red tick: a ratio target (the target times the"
          + " figure it is measured against, e.g. 0.9 x the grouped ceiling)", 20, height - 12);
    } finally {
      g.dispose();
    }
    ImageIO.write(img, "png", file.toFile());
  }

  private static String fit(Graphics2D g, String s, int width) {
    if (g.getFontMetrics().stringWidth(s) <= width) {
      return s;
    }
    String t = s;
    while (t.length() > 1 && g.getFontMetrics().stringWidth(t + "…") > width) {
      t = t.substring(0, t.length() - 1);
    }
    return t + "…";
  }

  /** 1, 2 or 5 times a power of ten, at least {@code raw}. */
  static double niceStep(double raw) {
    if (!(raw > 0)) {
      return 1;
    }
    double p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (double m : new double[] {1, 2, 5, 10}) {
      if (m * p >= raw) {
        return m * p;
      }
    }
    return 10 * p;
  }

  private static String format(double v) {
    return v >= 100 || v == Math.rint(v) ? String.format(Locale.ROOT, "%.0f", v)
        : String.format(Locale.ROOT, "%.1f", v);
  }
}
