package io.framebridge.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeLoaderTest {
    @TempDir
    Path tmp;

    @Test
    void failureListsEveryPlaceTried() {
        List<String> tried = NativeLoader.tryLoad("framebridge-no-such-lib", "META-INF/native/libframebridge-no-such-lib.so",
                getClass().getClassLoader(), null);
        assertEquals(2, tried.size(), tried.toString());
        assertTrue(tried.get(0).contains("java.library.path="), tried.get(0));
        assertTrue(tried.get(1).contains("META-INF/native/libframebridge-no-such-lib.so: not found"), tried.get(1));
        String msg = NativeLoader.failure(tried).getMessage();
        assertTrue(msg.contains("java.library.path") && msg.contains("no-such-lib.so"), msg);
    }

    @Test
    void anUnusableExtractionDirectoryIsNamedWithItsProperty() {
        String missing = tmp.resolve("does-not-exist").toString();
        List<String> tried = NativeLoader.tryLoad("framebridge-no-such-lib", NativeLoader.resourcePath(),
                getClass().getClassLoader(), missing);
        assertEquals(2, tried.size(), tried.toString());
        assertTrue(tried.get(1).contains(missing) && tried.get(1).contains(NativeLoader.DIR_PROPERTY), tried.get(1));
    }

    @Test
    void extractsTheJarCopyIntoTheConfiguredDirectoryAndLeavesNothingBehind() throws Exception {
        List<String> tried = NativeLoader.tryLoad("framebridge-no-such-lib", NativeLoader.resourcePath(),
                getClass().getClassLoader(), tmp.toString());
        assertTrue(tried.isEmpty(), tried.toString());
        try (var files = java.nio.file.Files.list(tmp)) {
            assertEquals(0, files.count(), "extracted copy deleted after loading");
        }
    }
}
