package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

class SegmentTest {
    static Spec spec() {
        return new Spec().ring("in", RegionKind.SPSC, 8192).ring("fan", RegionKind.MPSC, 4096).mailbox("state", 1024);
    }

    static int entry(int i) {
        return Layout.REGION_TABLE_OFFSET + i * Layout.REGION_ENTRY_LENGTH;
    }

    static long mappingsNamed(String label) throws Exception {
        return Files.readAllLines(Path.of("/proc/self/maps")).stream().filter(l -> l.contains("/memfd:" + label)).count();
    }

    /** close() releases the memfd's pages at once (Go unmaps too); a view kept past close reads zeros, never faults. */
    @Test
    void closeReleasesTheMappingAndStaleViewsReadZeros() throws Exception {
        String label = "framebridge:maptest-" + ProcessHandle.current().pid();
        Segment s = Segment.createMemfd("maptest-" + ProcessHandle.current().pid(), new Spec().ring("r", RegionKind.SPSC, 4096));
        ByteBuffer view = s.buffer();
        assertTrue(view.getLong(Layout.MAGIC_OFFSET) != 0);
        assertTrue(mappingsNamed(label) >= 1, "mapped while open");
        s.close();
        assertEquals(0, mappingsNamed(label), "unmapped by close");
        assertEquals(0, view.getLong(Layout.MAGIC_OFFSET));
        s.close(); // idempotent
    }

    @Test
    void createLaysRegionsOutInSpecOrderFromTheSecondPage() {
        try (Segment s = Segment.createMemfd("seg", spec())) {
            List<Region> r = s.regions();
            assertEquals(3, r.size());
            assertEquals(new Region(0, "in", RegionKind.SPSC, 4096, 4096 + 8192, 8192), r.get(0));
            assertEquals(new Region(1, "fan", RegionKind.MPSC, 4096 + 12288, 8192, 4096), r.get(1));
            assertEquals(new Region(2, "state", RegionKind.MAILBOX, 4096 + 12288 + 8192, 4096, 1024), r.get(2));
            assertEquals(4096 + 12288 + 8192 + 4096, s.size());
            assertEquals(1, s.generation());
            assertEquals(ProcessHandle.current().pid(), s.creatorPid());
            assertEquals(Liveness.SELF_START, s.creatorStart());
            assertTrue(Math.abs(System.currentTimeMillis() * 1_000_000L - s.createdUnixNano()) < 60_000_000_000L);
            ByteBuffer b = s.buffer();
            assertEquals(Layout.MAGIC, b.getLong(Layout.MAGIC_OFFSET));
            assertEquals(1, b.getLong((int) r.get(0).offset() + Layout.NEXT_SEQUENCE_OFFSET), "sequences start at 1");
        }
    }

    @Test
    void memfdSegmentsAreSealedAgainstResizing() {
        try (Segment s = Segment.createMemfd("seal", spec())) {
            NativeException e = assertThrows(NativeException.class, () -> io.framebridge.internal.Native.ftruncate(s.fd(), 4096));
            assertEquals(Errno.EPERM, e.errno());
        }
    }

    @Test
    void namedSegmentIsMode0600AndAttachableByNameAndUnlinkable() throws Exception {
        String name = "fbjava-seg-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        try (Segment s = Segment.create(name, spec())) {
            try {
                Path p = Path.of(Segment.SHM_DIR, name);
                assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(p)));
                try (Segment a = Segment.attach(name)) {
                    assertEquals(s.regions(), a.regions());
                    assertEquals(name, a.name());
                    assertFalse(a.isStale());
                }
                assertEquals(Errno.EEXIST, assertThrows(NativeException.class, () -> Segment.create(name, spec())).errno());
                assertThrows(BusyException.class, () -> Segment.create(name, spec(), true), "creator alive");
            } finally {
                s.unlink();
            }
            assertTrue(s.isStale(), "the name is gone");
            assertEquals(Errno.ENOENT, assertThrows(NativeException.class, () -> Segment.attach(name)).errno());
        }
    }

    @Test
    void recreatingASegmentOfADeadCreatorBumpsTheGeneration() throws Exception {
        String name = "fbjava-gen-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        try (Segment old = Segment.create(name, spec())) {
            old.buffer().putInt(Layout.CREATOR_PID_OFFSET, RingTest.DEAD_PID);
            assertEquals(Errno.EEXIST, assertThrows(NativeException.class, () -> Segment.create(name, spec())).errno());
            try (Segment fresh = Segment.create(name, spec(), true)) {
                assertEquals(2, fresh.generation());
                assertTrue(old.isStale());
                assertFalse(fresh.isStale());
                fresh.unlink();
            }
        }
    }

    @Test
    void specRejectsWhatTheLayoutForbids() {
        assertThrows(IllegalArgumentException.class, () -> new Spec().ring("r", RegionKind.SPSC, 6000));
        assertThrows(IllegalArgumentException.class, () -> new Spec().ring("r", RegionKind.SPSC, 2048));
        assertThrows(IllegalArgumentException.class, () -> new Spec().ring("r", RegionKind.SPSC, 1L << 31));
        assertThrows(IllegalArgumentException.class, () -> new Spec().ring("r", RegionKind.MAILBOX, 4096));
        assertThrows(IllegalArgumentException.class, () -> new Spec().mailbox("m", 0));
        assertThrows(IllegalArgumentException.class, () -> new Spec().mailbox("m", (1 << 20) + 1));
        assertThrows(IllegalArgumentException.class, () -> new Spec().mailbox("a/b", 8));
        assertThrows(IllegalArgumentException.class, () -> new Spec().mailbox("x".repeat(32), 8));
        assertThrows(IllegalArgumentException.class, () -> new Spec().mailbox("m", 8).mailbox("m", 8));
        assertThrows(IllegalArgumentException.class, () -> Segment.createMemfd("x", new Spec()));
        assertThrows(IllegalArgumentException.class, () -> Segment.create("../etc", spec()));
        Spec full = new Spec();
        for (int i = 0; i < Layout.MAX_REGIONS; i++) {
            full.mailbox("m" + i, 8);
        }
        assertThrows(IllegalArgumentException.class, () -> full.mailbox("one-more", 8));
    }

    @Test
    void handlesNameTheirRegionAndKind() {
        try (Segment s = Segment.createMemfd("h", spec())) {
            assertThrows(IllegalArgumentException.class, () -> s.reader("nope"));
            assertThrows(IllegalArgumentException.class, () -> s.reader("state"));
            assertThrows(IllegalArgumentException.class, () -> s.mailbox("in"));
        }
    }

    @Test
    void closeDetachesHandlesAndIsIdempotent() {
        Segment s = Segment.createMemfd("c", spec());
        RingReader r = s.reader("in");
        s.close();
        s.close();
        assertThrows(IllegalStateException.class, r::tryNext);
        assertThrows(IllegalStateException.class, () -> s.reader("in"));
        assertEquals(0, Ownership.pid(s.buffer().getLong((int) s.region("in").offset() + Layout.READER_OWNER_OFFSET)));
    }

    /** Applies a mutation to a fresh segment's header and attaches a second time by fd. */
    static Throwable attachAfter(Consumer<ByteBuffer> mutate) {
        try (Segment s = Segment.createMemfd("v", spec())) {
            mutate.accept(s.buffer());
            try (Segment t = Segment.attachFd(s.fd())) {
                assertEquals(s.size(), t.size());
                return null;
            } catch (FramebridgeException e) {
                return e;
            }
        }
    }

    static void expectCorrupt(String field, Consumer<ByteBuffer> mutate) {
        Throwable t = attachAfter(mutate);
        if (!(t instanceof CorruptSegmentException)) {
            fail(field + ": want CorruptSegmentException, got " + t);
        }
        assertTrue(t.getMessage().contains(field), field + " not named in: " + t.getMessage());
    }

    @Test
    void attachValidatesEveryHeaderField() {
        expectCorrupt("magic", b -> b.putLong(Layout.MAGIC_OFFSET, 0));
        assertTrue(attachAfter(b -> b.putInt(Layout.VERSION_OFFSET, 2)) instanceof VersionMismatchException);
        expectCorrupt("header length", b -> b.putInt(Layout.HEADER_LENGTH_OFFSET, 2048));
        expectCorrupt("segment size", b -> b.putLong(Layout.SEGMENT_SIZE_OFFSET, b.getLong(Layout.SEGMENT_SIZE_OFFSET) + 4096));
        expectCorrupt("generation", b -> b.putLong(Layout.GENERATION_OFFSET, 0));
        expectCorrupt("region count", b -> b.putInt(Layout.REGION_COUNT_OFFSET, 0));
        expectCorrupt("region count", b -> b.putInt(Layout.REGION_COUNT_OFFSET, 33));
        expectCorrupt("region count", b -> b.putInt(Layout.REGION_COUNT_OFFSET, -1));
        expectCorrupt("region entry 3 kind", b -> b.putInt(Layout.REGION_COUNT_OFFSET, 4));
        expectCorrupt("region entry 1 kind", b -> b.putInt(entry(1) + Layout.REGION_KIND_OFFSET, 4));
        expectCorrupt("region entry 0 flags", b -> b.putInt(entry(0) + Layout.REGION_FLAGS_OFFSET, 1));
        expectCorrupt("region entry 0 offset", b -> b.putLong(entry(0) + Layout.REGION_OFFSET_OFFSET, 4100));
        expectCorrupt("region entry 0 offset", b -> b.putLong(entry(0) + Layout.REGION_OFFSET_OFFSET, 0));
        expectCorrupt("region entry 2 offset+length", b -> b.putLong(entry(2) + Layout.REGION_OFFSET_OFFSET,
                b.getLong(entry(2) + Layout.REGION_OFFSET_OFFSET) + 4096));
        expectCorrupt("region entry 2 offset+length", b -> b.putLong(entry(2) + Layout.REGION_OFFSET_OFFSET, -4096L));
        expectCorrupt("region entry 2 offset+length", b -> b.putLong(entry(2) + Layout.REGION_LENGTH_OFFSET, -4096L));
        expectCorrupt("region entry 0 length", b -> b.putLong(entry(0) + Layout.REGION_LENGTH_OFFSET, 4095));
        expectCorrupt("region entry 0 length", b -> b.putLong(entry(0) + Layout.REGION_LENGTH_OFFSET, 4096));
        expectCorrupt("region entry 0 capacity", b -> b.putLong(entry(0) + Layout.REGION_CAPACITY_OFFSET, 6000));
        expectCorrupt("region entry 0 capacity", b -> b.putLong(entry(0) + Layout.REGION_CAPACITY_OFFSET, 1L << 31));
        expectCorrupt("region entry 0 capacity", b -> b.putLong(entry(0) + Layout.REGION_CAPACITY_OFFSET, 2048));
        expectCorrupt("region entry 0 length", b -> b.putLong(entry(0) + Layout.REGION_CAPACITY_OFFSET, 4096));
        expectCorrupt("region entry 2 capacity", b -> b.putLong(entry(2) + Layout.REGION_CAPACITY_OFFSET, 0));
        expectCorrupt("region entry 2 capacity", b -> b.putLong(entry(2) + Layout.REGION_CAPACITY_OFFSET, (1 << 20) + 1));
        expectCorrupt("region entry 2 length", b -> b.putLong(entry(2) + Layout.REGION_CAPACITY_OFFSET, 4000));
        expectCorrupt("region entry 1 name", b -> b.put(entry(1) + Layout.REGION_NAME_OFFSET, (byte) 0));
        expectCorrupt("region entry 1 name", b -> b.put(entry(1) + Layout.REGION_NAME_OFFSET, (byte) '/'));
        expectCorrupt("region entry 1 name", b -> b.put(entry(1) + Layout.REGION_NAME_OFFSET + 20, (byte) 'x'));
        expectCorrupt("region entry 1 name", b -> b.put(entry(1) + Layout.REGION_NAME_OFFSET,
                "y".repeat(32).getBytes(StandardCharsets.US_ASCII)));
        expectCorrupt("region entry 1 name", b -> b.put(entry(1) + Layout.REGION_NAME_OFFSET, new byte[] {'i', 'n', 0}));
        expectCorrupt("overlaps entry 0", b -> b.putLong(entry(1) + Layout.REGION_OFFSET_OFFSET, 8192));
    }

    @Test
    void attachRefusesObjectsSmallerThanAHeader() throws Exception {
        int fd = io.framebridge.internal.Native.memfdCreate("tiny", false);
        try {
            io.framebridge.internal.Native.ftruncate(fd, 100);
            assertThrows(CorruptSegmentException.class, () -> Segment.attachFd(fd));
        } finally {
            io.framebridge.internal.Native.close(fd);
        }
    }

    @Test
    void randomHeaderCorruptionIsRefusedWithTypedErrorsOrYieldsAUsableSegment() {
        Random rnd = new Random(42);
        try (Segment s = Segment.createMemfd("fuzz", spec())) {
            ByteBuffer b = s.buffer();
            byte[] good = new byte[Layout.HEADER_LENGTH];
            b.get(0, good);
            int refused = 0;
            for (int iter = 0; iter < 1500; iter++) {
                b.put(0, good);
                int flips = 1 + rnd.nextInt(6);
                for (int k = 0; k < flips; k++) {
                    // Mostly the fixed fields and the used table entries, sometimes anywhere in the page.
                    int at = rnd.nextInt(4) == 0 ? rnd.nextInt(Layout.HEADER_LENGTH) : rnd.nextInt(entry(3));
                    b.put(at, (byte) rnd.nextInt(256));
                }
                try (Segment t = Segment.attachFd(s.fd())) {
                    for (Region r : t.regions()) {
                        assertTrue(r.offset() >= 4096 && r.offset() + r.length() <= t.size());
                    }
                } catch (CorruptSegmentException | VersionMismatchException e) {
                    refused++;
                }
            }
            assertTrue(refused > 100, "most corruptions are caught: " + refused);
            b.put(0, good);
        }
    }
    /** A segment removed and created afresh starts at generation 1 again: staleness compares the inode too. */
    @Test
    void aNameRecreatedWithTheSameGenerationIsStale() throws Exception {
        String name = "fbjava-ino-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        try (Segment old = Segment.create(name, spec())) {
            assertFalse(old.isStale());
            old.unlink();
            try (Segment fresh = Segment.create(name, spec())) {
                try {
                    assertEquals(old.generation(), fresh.generation(), "both generation 1");
                    assertTrue(old.isStale(), "another file under the same name");
                    assertFalse(fresh.isStale());
                } finally {
                    fresh.unlink();
                }
            }
        }
    }

    /** Anyone may create files in /dev/shm: a FIFO under the name is refused at once, never waited on. */
    @Test
    void attachByNameRefusesAFifoWithoutBlocking() throws Exception {
        String name = "fbjava-fifo-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        Path p = Path.of(Segment.SHM_DIR, name);
        try (Segment s = Segment.create(name, spec())) {
            s.unlink();
            Process mk = new ProcessBuilder("mkfifo", "-m", "600", p.toString()).inheritIO().start();
            assertEquals(0, mk.waitFor());
            try {
                org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(10), () -> {
                    NativeException e = assertThrows(NativeException.class, () -> Segment.attach(name));
                    assertEquals(Errno.ENODEV, e.errno());
                    assertTrue(e.getMessage().contains("not a regular file"), e.getMessage());
                    assertEquals(Errno.ENODEV, assertThrows(NativeException.class, () -> Segment.attachPath(p)).errno());
                    assertEquals(Errno.ENODEV, assertThrows(NativeException.class, s::isStale).errno());
                    // Replacing it (replaceStale) does not block reading its header either: unreadable, replaced.
                    try (Segment r = Segment.create(name, spec(), true)) {
                        assertEquals(1, r.generation());
                        assertTrue(Files.isRegularFile(p));
                    }
                });
            } finally {
                Files.deleteIfExists(p);
            }
        }
    }
}
