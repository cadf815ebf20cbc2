package io.distilstream.runtime.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URL;
import java.net.URLClassLoader;
import org.junit.jupiter.api.Test;

/**
 * A job restarted in a TaskManager loads this project's classes again in a new user class loader, while ONNX
 * Runtime's classes (parent-first) and its process-wide environment stay: the new copy of {@link ModelSession} must
 * still find the environment's global thread pool, or {@code inference.thread-pool=task-manager} would quietly fall
 * back to threads per session after the first restart.
 */
class ModelSessionRestartTest {
  /** Loads {@code io.distilstream.*} itself (child-first, as Flink's user class loader does), the rest from its parent. */
  private static final class RestartedJobLoader extends URLClassLoader {
    RestartedJobLoader(URL classes, ClassLoader parent) {
      super(new URL[] {classes}, parent);
    }

    @Override
    protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
      synchronized (getClassLoadingLock(name)) {
        if (!name.startsWith("io.distilstream.")) {
          return super.loadClass(name, resolve);
        }
        Class<?> c = findLoadedClass(name);
        if (c == null) {
          c = findClass(name);
        }
        if (resolve) {
          resolveClass(c);
        }
        return c;
      }
    }
  }

  @Test
  void aSecondCopyOfTheClassFindsTheEnvironmentsPool() throws Exception {
    int pool = ModelSession.globalThreadPool();
    assertThat(pool).as("this JVM's environment was made by ModelSession, with a pool").isPositive();

    URL classes = ModelSession.class.getProtectionDomain().getCodeSource().getLocation();
    try (RestartedJobLoader loader = new RestartedJobLoader(classes, ModelSession.class.getClassLoader())) {
      Class<?> again = loader.loadClass(ModelSession.class.getName());
      assertThat(again).isNotSameAs(ModelSession.class);
      int seen = (int) again.getMethod("globalThreadPool").invoke(null);
      assertThat(seen).isEqualTo(pool);
    }
  }
}
