package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.framebridge.internal.Native;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shared golden images ({@code schemas/testdata}, written by the Go side): each is copied to a private
 * file, attached (by path, or by fd), and must read exactly as {@code manifest.json} says (layout.md §8).
 */
class GoldenImageTest {
    @TempDir
    Path tmp;

    static Path testdata() {
        String p = System.getProperty("framebridge.testdata");
        return p != null ? Path.of(p) : Path.of("..", "schemas", "testdata");
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> manifest() throws IOException {
        Path m = testdata().resolve("manifest.json");
        assumeTrue(Files.exists(m), "golden manifest " + m + " is absent (the Go side generates it); skipping");
        return (Map<String, Object>) MiniJson.parse(Files.readString(m, StandardCharsets.UTF_8));
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> list(Object o) {
        return (List<Map<String, Object>>) o;
    }

    static long num(Map<String, Object> m, String k) {
        Object v = m.get(k);
        assertNotNull(v, "manifest field " + k);
        return (Long) v;
    }

    @Test
    void manifestSpeaksThisLayoutVersion() throws IOException {
        assertEquals((long) Layout.LAYOUT_VERSION, manifest().get("layout_version"));
    }

    @TestFactory
    Stream<DynamicTest> everyImageReadsAsTheManifestSays() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        int k = 0;
        for (Map<String, Object> image : list(manifest().get("images"))) {
            String file = (String) image.get("file");
            boolean byFd = (k++ % 2) == 1;
            tests.add(DynamicTest.dynamicTest(file + (byFd ? " (by fd)" : " (by path)"), () -> check(image, byFd)));
        }
        return tests.stream();
    }

    private Segment attach(Path copy, boolean byFd) {
        if (!byFd) {
            return Segment.attachPath(copy);
        }
        int fd = Native.open(copy.toString(), Native.OPEN_READ_WRITE);
        try {
            return Segment.attachFd(fd);
        } finally {
            Native.close(fd);
        }
    }

    private void check(Map<String, Object> image, boolean byFd) throws IOException {
        String file = (String) image.get("file");
        Path copy = tmp.resolve(file);
        Files.copy(testdata().resolve(file), copy);
        Object attachError = image.get("attach_error");
        if (attachError != null) {
            Class<? extends FramebridgeException> want = attachError.equals("version")
                    ? VersionMismatchException.class : CorruptSegmentException.class;
            assertThrows(want, () -> attach(copy, byFd), file + ": attach must fail with " + attachError);
            return;
        }
        try (Segment s = attach(copy, byFd)) {
            List<Map<String, Object>> regions = list(image.get("regions"));
            assertEquals(regions.size(), s.regions().size(), file + ": regions");
            for (int i = 0; i < regions.size(); i++) {
                Map<String, Object> want = regions.get(i);
                Region got = s.regions().get(i);
                assertEquals(want.get("name"), got.name(), file + ": region " + i + " name");
                assertEquals(want.get("kind"), got.kind().label(), file + ": region " + i + " kind");
                assertEquals(num(want, "offset"), got.offset(), file + ": region " + i + " offset");
                assertEquals(num(want, "length"), got.length(), file + ": region " + i + " length");
                assertEquals(num(want, "capacity"), got.capacity(), file + ": region " + i + " capacity");
            }
            for (Map<String, Object> ring : list(image.get("rings"))) {
                checkRing(s, file, ring);
            }
            for (Map<String, Object> mb : list(image.get("mailboxes"))) {
                String name = (String) mb.get("name");
                try (Mailbox m = s.mailbox(name)) {
                    byte[] dst = new byte[m.capacity()];
                    MailboxValue v = m.load(dst);
                    assertEquals(num(mb, "version"), v.version(), file + ": mailbox " + name + " version");
                    assertEquals(num(mb, "status"), (long) v.status(), file + ": mailbox " + name + " status");
                    assertEquals(mb.get("payload_hex"), HexFormat.of().formatHex(dst), file + ": mailbox " + name + " payload");
                }
            }
        }
    }

    private void checkRing(Segment s, String file, Map<String, Object> ring) {
        String name = (String) ring.get("name");
        String where = file + ": ring " + name;
        int base = (int) s.region(name).offset();
        assertEquals(num(ring, "head"), s.buffer().getLong(base + Layout.HEAD_POSITION_OFFSET), where + " head");
        assertEquals(num(ring, "tail"), s.buffer().getLong(base + Layout.TAIL_POSITION_OFFSET), where + " tail");
        long abandonedBefore = s.counters(name).abandonedRecords();
        List<Map<String, Object>> frames = list(ring.get("frames"));
        try (RingReader r = s.reader(name)) {
            String end = null;
            int i = 0;
            for (;;) {
                Frame f;
                try {
                    f = r.tryNext();
                } catch (CorruptSegmentException e) {
                    end = "corrupt";
                    break;
                }
                if (f == null) {
                    end = "empty";
                    break;
                }
                if (i >= frames.size()) {
                    throw new AssertionError(where + ": unexpected extra frame " + f);
                }
                Map<String, Object> want = frames.get(i);
                assertEquals(num(want, "type"), Integer.toUnsignedLong(f.type()), where + " frame " + i + " type");
                assertEquals(num(want, "seq"), f.sequence(), where + " frame " + i + " seq");
                assertEquals(want.get("payload_hex"), HexFormat.of().formatHex(f.toArray()), where + " frame " + i + " payload");
                i++;
            }
            assertEquals(frames.size(), i, where + ": frames delivered");
            assertEquals(ring.get("end"), end, where + ": how reading ended");
            assertEquals(num(ring, "abandoned"), s.counters(name).abandonedRecords() - abandonedBefore, where + ": abandoned");
            if ("empty".equals(end)) {
                assertNull(r.tryNext(), where + ": still empty");
            }
        }
    }
}
