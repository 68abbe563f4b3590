package io.framebridge.frames;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.framebridge.CorruptFrameException;
import io.framebridge.frames.fb.Envelope;
import io.framebridge.tools.TestEnvelopes;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The encoded frames another language committed under {@code schemas/testdata/frames/} (FlatBuffers
 * payloads, {@code *.frb} / {@code *.fbs.bin} / {@code *.bin}): each valid one verifies and equals
 * envelope {@code sequence} of writer {@code correlation_id >> 32} field by field (docs/peers.md); one whose
 * name says bad/corrupt/invalid is a CorruptFrameException. Skipped (with a reason) while there are none.
 */
class TestVectorsTest {
    static Path dir() {
        String p = System.getProperty("framebridge.testdata");
        return (p != null ? Path.of(p) : Path.of("..", "schemas", "testdata")).resolve("frames");
    }

    static boolean flatbuffers(Path f) {
        String n = f.getFileName().toString();
        return n.endsWith(".frb") || n.endsWith(".fbs.bin") || (n.endsWith(".bin") && !n.contains("capnp"));
    }

    static boolean bad(Path f) {
        String n = f.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        return n.contains("bad") || n.contains("corrupt") || n.contains("invalid");
    }

    @Test
    void committedFramesReadIdentically() throws IOException {
        Path d = dir();
        assumeTrue(Files.isDirectory(d), d + " absent: no typed-frame test vectors committed yet");
        List<Path> files;
        try (Stream<Path> s = Files.walk(d)) {
            files = s.filter(Files::isRegularFile).filter(TestVectorsTest::flatbuffers).sorted().collect(Collectors.toList());
        }
        assumeTrue(!files.isEmpty(), d + " has no FlatBuffers frames (*.frb, *.fbs.bin, *.bin)");
        EnvelopeReader er = new EnvelopeReader();
        int good = 0;
        for (Path f : files) {
            byte[] a = Files.readAllBytes(f);
            ByteBuffer bb = ByteBuffer.wrap(a).order(ByteOrder.LITTLE_ENDIAN);
            if (bad(f)) {
                assertThrows(CorruptFrameException.class, () -> er.read(bb, 0, a.length), f.toString());
                continue;
            }
            Envelope e = er.read(bb, 0, a.length);
            int w = (int) (e.correlationId() >>> 32);
            assertNull(TestEnvelopes.check(er, e, w, e.sequence()), f.toString());
            good++;
        }
        System.out.println("TestVectorsTest: " + files.size() + " frames from " + d + ", " + good + " valid");
        assertTrue(good > 0 || files.stream().allMatch(TestVectorsTest::bad));
    }
}
