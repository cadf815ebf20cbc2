package io.distilstream.runtime.graph;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.distilstream.runtime.model.ModelLoadException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A {@code .safetensors} file, memory-mapped: an 8-byte little-endian header length, a JSON header naming every
 * tensor's dtype, shape and byte range, then the raw data. F32, F16 and BF16 tensors are read as floats.
 */
public final class SafeTensors {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long MAX_HEADER = 100L << 20;

  /** One tensor's entry in the header. */
  public record Info(String dtype, long[] shape, long begin, long end) {
    public long elements() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }
  }

  private final Path file;
  private final MappedByteBuffer data;
  private final long dataStart;
  private final Map<String, Info> tensors;

  private SafeTensors(Path file, MappedByteBuffer data, long dataStart, Map<String, Info> tensors) {
    this.file = file;
    this.data = data;
    this.dataStart = dataStart;
    this.tensors = tensors;
  }

  public static SafeTensors open(Path file) {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size < 8) {
        throw new ModelLoadException(file, "a safetensors file (8-byte header length first)", size + " bytes");
      }
      MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
      map.order(ByteOrder.LITTLE_ENDIAN);
      long headerLen = map.getLong(0);
      if (headerLen <= 0 || headerLen > MAX_HEADER || 8 + headerLen > size) {
        throw new ModelLoadException(file, "a header length within the file (" + size + " bytes)",
            headerLen + " (truncated or not a safetensors file)");
      }
      byte[] header = new byte[(int) headerLen];
      map.get(8, header);
      JsonNode root;
      try {
        root = JSON.readTree(new String(header, StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new ModelLoadException(file, "a JSON header", "unreadable JSON: " + e.getMessage());
      }
      long dataStart = 8 + headerLen;
      Map<String, Info> tensors = new LinkedHashMap<>();
      for (var it = root.fields(); it.hasNext(); ) {
        var e = it.next();
        if (e.getKey().equals("__metadata__")) {
          continue;
        }
        JsonNode t = e.getValue();
        String dtype = t.path("dtype").asText();
        long[] shape = new long[t.path("shape").size()];
        for (int i = 0; i < shape.length; i++) {
          shape[i] = t.path("shape").get(i).asLong();
        }
        long begin = t.path("data_offsets").path(0).asLong(-1);
        long end = t.path("data_offsets").path(1).asLong(-1);
        Info info = new Info(dtype, shape, begin, end);
        int width = width(dtype);
        if (begin < 0 || end < begin || dataStart + end > size) {
          throw new ModelLoadException(file, "tensor '" + e.getKey() + "' inside the file",
              "data_offsets [" + begin + ", " + end + "] past the end (" + (size - dataStart)
                  + " data bytes): the file is truncated");
        }
        if (width > 0 && end - begin != info.elements() * width) {
          throw new ModelLoadException(file, "tensor '" + e.getKey() + "' of " + info.elements() + " x " + width
              + " bytes", (end - begin) + " bytes");
        }
        tensors.put(e.getKey(), info);
      }
      return new SafeTensors(file, map, dataStart, tensors);
    } catch (IOException e) {
      throw new ModelLoadException(file, "a readable safetensors file", e.toString());
    }
  }

  private static int width(String dtype) {
    switch (dtype) {
      case "F32": return 4;
      case "F16": case "BF16": return 2;
      default: return -1;
    }
  }

  public Set<String> names() {
    return tensors.keySet();
  }

  public boolean has(String name) {
    return tensors.containsKey(name);
  }

  public Info info(String name) {
    Info i = tensors.get(name);
    if (i == null) {
      throw new ModelLoadException(file, "a tensor named '" + name + "'", "none (" + tensors.size() + " tensors)");
    }
    return i;
  }

  /** The tensor as floats, checking its shape. */
  public float[] floats(String name, long... expectedShape) {
    Info i = info(name);
    if (expectedShape.length > 0 && !Arrays.equals(i.shape(), expectedShape)) {
      throw new ModelLoadException(file, "tensor '" + name + "' of shape " + Arrays.toString(expectedShape),
          "shape " + Arrays.toString(i.shape()));
    }
    int n = Math.toIntExact(i.elements());
    float[] out = new float[n];
    ByteBuffer b = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    b.position(Math.toIntExact(dataStart + i.begin()));
    switch (i.dtype()) {
      case "F32":
        b.asFloatBuffer().get(out);
        break;
      case "F16":
        for (int k = 0; k < n; k++) {
          out[k] = halfToFloat(b.getShort());
        }
        break;
      case "BF16":
        for (int k = 0; k < n; k++) {
          out[k] = Float.intBitsToFloat((b.getShort() & 0xFFFF) << 16);
        }
        break;
      default:
        throw new ModelLoadException(file, "tensor '" + name + "' in F32, F16 or BF16", "dtype " + i.dtype());
    }
    return out;
  }

  /** IEEE 754 half precision to float (Java 17 has no Float.float16ToFloat). */
  static float halfToFloat(short h) {
    int bits = h & 0xFFFF;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1F;
    int mant = bits & 0x3FF;
    if (exp == 0) {
      if (mant == 0) {
        return Float.intBitsToFloat(sign);
      }
      float v = mant / 1024f * (1f / (1 << 14)); // subnormal
      return sign != 0 ? -v : v;
    }
    if (exp == 31) {
      return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
    }
    return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
  }
}
