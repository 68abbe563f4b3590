package io.framebridge.internal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Loads the JNI library once per class loader, netty-style:
 * <ol>
 *   <li>{@code System.loadLibrary("framebridge-linux-ARCH")} from {@code java.library.path};</li>
 *   <li>else the jar's {@code META-INF/native/libframebridge-linux-ARCH.so}, extracted into a fresh
 *       directory under {@value #DIR_PROPERTY} (if set) or {@code java.io.tmpdir}, loaded, then deleted.</li>
 * </ol>
 * If both fail, the {@link UnsatisfiedLinkError} lists every place tried and why it failed.
 * A {@code noexec} /tmp makes the extracted copy unloadable: point {@value #DIR_PROPERTY} at an exec-able dir.
 */
public final class NativeLoader {
    /** System property naming the directory the library is extracted to. */
    public static final String DIR_PROPERTY = "framebridge.native.dir";

    private static boolean loaded;

    private NativeLoader() {}

    /** {@code x86_64}, {@code aarch64}, ... as {@code uname -m} names it (the jni Makefile's naming). */
    public static String arch() {
        String a = System.getProperty("os.arch", "unknown").toLowerCase(Locale.ROOT);
        switch (a) {
            case "amd64":
            case "x86_64":
                return "x86_64";
            case "arm64":
            case "aarch64":
                return "aarch64";
            default:
                return a;
        }
    }

    /** Library name without {@code lib} and {@code .so}: {@code framebridge-linux-x86_64}. */
    public static String libraryName() {
        return "framebridge-linux-" + arch();
    }

    /** Path of the library inside the jar. */
    public static String resourcePath() {
        return "META-INF/native/lib" + libraryName() + ".so";
    }

    public static synchronized void load() {
        if (loaded) {
            return;
        }
        ClassLoader cl = NativeLoader.class.getClassLoader();
        List<String> tried = tryLoad(libraryName(), resourcePath(), cl != null ? cl : ClassLoader.getSystemClassLoader(),
                System.getProperty(DIR_PROPERTY));
        if (tried.isEmpty()) {
            loaded = true;
            return;
        }
        throw failure(tried);
    }

    static UnsatisfiedLinkError failure(List<String> tried) {
        return new UnsatisfiedLinkError("framebridge: cannot load the JNI library for "
                + System.getProperty("os.name") + "/" + arch() + "; tried:\n  " + String.join("\n  ", tried));
    }

    /**
     * Tries {@code System.loadLibrary(name)}, then the class path resource extracted under {@code dirProp}
     * (or java.io.tmpdir). Returns an empty list on success, else one line per place tried and why it failed.
     */
    static List<String> tryLoad(String name, String resource, ClassLoader cl, String dirProp) {
        List<String> tried = new ArrayList<>();
        try {
            System.loadLibrary(name);
            return tried;
        } catch (UnsatisfiedLinkError e) {
            tried.add("System.loadLibrary(\"" + name + "\") on java.library.path="
                    + System.getProperty("java.library.path") + ": " + e.getMessage());
        }
        try (InputStream in = cl.getResourceAsStream(resource)) {
            if (in == null) {
                tried.add("class path resource " + resource + ": not found");
                return tried;
            }
            String base = dirProp != null ? dirProp : System.getProperty("java.io.tmpdir");
            String from = dirProp != null ? DIR_PROPERTY : "java.io.tmpdir";
            Path dir = null;
            Path file = null;
            try {
                dir = Files.createTempDirectory(Path.of(base), "framebridge-");
                file = dir.resolve("lib" + name + ".so");
                Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
                System.load(file.toAbsolutePath().toString());
                tried.clear();
            } catch (IOException | UnsatisfiedLinkError | SecurityException e) {
                tried.add("class path resource " + resource + " extracted to " + (file != null ? file : base)
                        + " (" + from + "): " + e
                        + (dirProp == null ? " (if " + base + " is mounted noexec, set -D" + DIR_PROPERTY
                                + "=<an exec-able directory>)" : ""));
            } finally {
                // Linux keeps a loaded library mapped after its file is gone: leave nothing behind.
                try {
                    if (file != null) {
                        Files.deleteIfExists(file);
                    }
                    if (dir != null) {
                        Files.deleteIfExists(dir);
                    }
                } catch (IOException ignored) {
                    // best effort cleanup of a temp file
                }
            }
        } catch (IOException e) {
            tried.add("class path resource " + resource + ": " + e);
        }
        return tried;
    }
}
