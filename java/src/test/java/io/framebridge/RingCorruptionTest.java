package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Malformed records and positions (layout.md §5.5): typed exceptions, counted, skipped; never a crash or hang. */
class RingCorruptionTest {
    static final int CAP = 4096;

    static final class Fixture implements AutoCloseable {
        final Segment s;
        final ByteBuffer b;
        final int base;
        final int data;

        Fixture(RegionKind kind) {
            s = Segment.createMemfd("corrupt", new Spec().ring("r", kind, CAP));
            b = s.buffer();
            base = (int) s.region("r").offset();
            data = base + Layout.RING_DATA_OFFSET;
        }

        void write(int count, int n) {
            try (RingWriter w = s.writer("r")) {
                for (int i = 0; i < count; i++) {
                    Frame f = w.claim(1, n);
                    f.putInt(0, i);
                    w.commit();
                }
            }
        }

        @Override
        public void close() {
            s.close();
        }
    }

    /** Record i of equal-size records of payload n. */
    static int rec(Fixture f, int i, int n) {
        return f.data + i * (int) Layout.align8(24 + n);
    }

    static void expectBadRecord(RegionKind kind, String field, java.util.function.BiConsumer<Fixture, Integer> corrupt) {
        try (Fixture f = new Fixture(kind)) {
            f.write(3, 16);
            corrupt.accept(f, rec(f, 1, 16));
            try (RingReader r = f.s.reader("r")) {
                Frame held = r.tryNext();
                assertEquals(0, held.getInt(0));
                CorruptSegmentException e = assertThrows(CorruptSegmentException.class, r::tryNext, field);
                assertTrue(e.getMessage().contains("position 40") && e.getMessage().contains(field), e.getMessage());
                assertEquals(1, f.s.counters("r").badRecords());
                assertNull(r.tryNext(), "skipped to the tail: empty");
                // The frame delivered before the bad record is still held: not released, not zeroed.
                assertEquals(0, f.b.getLong(f.base + Layout.HEAD_POSITION_OFFSET), "a skip releases nothing held");
                assertEquals(40, f.b.getInt(f.data + Layout.RECORD_SIZE_OFFSET), "held record intact");
                assertEquals(0, f.b.getInt(rec(f, 1, 16) + Layout.RECORD_SIZE_OFFSET), "skipped bytes zeroed");
                r.release();
                assertEquals(3 * 40, f.b.getLong(f.base + Layout.HEAD_POSITION_OFFSET), "release after the skip");
            }
            // The ring works again after the skip.
            f.write(1, 16);
            try (RingReader r = f.s.reader("r")) {
                assertNotNull(r.tryNext());
            }
        }
    }

    @Test
    void malformedRecordsAreTypedErrorsCountedAndSkipped() {
        expectBadRecord(RegionKind.SPSC, "size", (f, at) -> f.b.putInt(at + Layout.RECORD_SIZE_OFFSET, 44));
        expectBadRecord(RegionKind.SPSC, "size", (f, at) -> f.b.putInt(at + Layout.RECORD_SIZE_OFFSET, 4));
        expectBadRecord(RegionKind.SPSC, "size", (f, at) -> f.b.putInt(at + Layout.RECORD_SIZE_OFFSET, CAP));
        expectBadRecord(RegionKind.SPSC, "size", (f, at) -> f.b.putInt(at + Layout.RECORD_SIZE_OFFSET, Integer.MAX_VALUE - 7));
        expectBadRecord(RegionKind.SPSC, "size", (f, at) -> f.b.putInt(at + Layout.RECORD_SIZE_OFFSET, Integer.MIN_VALUE));
        expectBadRecord(RegionKind.SPSC, "size", (f, at) -> f.b.putInt(at + Layout.RECORD_SIZE_OFFSET, -40));
        expectBadRecord(RegionKind.SPSC, "size", (f, at) -> f.b.putInt(at + Layout.RECORD_SIZE_OFFSET, 16));
        expectBadRecord(RegionKind.SPSC, "length", (f, at) -> f.b.putInt(at + Layout.RECORD_LENGTH_OFFSET, 17));
        expectBadRecord(RegionKind.SPSC, "length", (f, at) -> f.b.putInt(at + Layout.RECORD_LENGTH_OFFSET, -1));
        expectBadRecord(RegionKind.MPSC, "size", (f, at) -> f.b.putInt(at + Layout.RECORD_SIZE_OFFSET, -16));
        expectBadRecord(RegionKind.MPSC, "size", (f, at) -> f.b.putInt(at + Layout.RECORD_SIZE_OFFSET, -44));
    }

    @Test
    void aRunOfPaddingLongerThanTheRingIsMalformedNotAnEndlessLoop() {
        try (Fixture f = new Fixture(RegionKind.SPSC); RingReader r = f.s.reader("r")) {
            for (int i = 0; i < CAP; i += 8) {
                f.b.putInt(f.data + i + Layout.RECORD_SIZE_OFFSET, 8); // all padding, type 0
            }
            assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
                // The reader walks one ring of padding, frees it (nothing was delivered) and finds zeros.
                assertNull(r.tryNext());
                assertEquals(CAP, f.b.getLong(f.base + Layout.HEAD_POSITION_OFFSET));
                assertNull(r.tryNext());
            });
        }
    }

    @Test
    void aRecordEndingMoreThanARingPastTheLastReleaseIsMalformed() {
        try (Fixture f = new Fixture(RegionKind.SPSC)) {
            f.b.putLong(f.base + Layout.HEAD_POSITION_OFFSET, CAP / 2);
            f.b.putLong(f.base + Layout.TAIL_POSITION_OFFSET, CAP / 2);
            f.write(1, CAP / 2 - 24); // one record filling [CAP/2, CAP)
            try (RingReader r = f.s.reader("r")) {
                assertNotNull(r.tryNext()); // delivered, not released
                f.b.putInt(f.data + Layout.RECORD_SIZE_OFFSET, CAP); // a whole-ring padding record at index 0
                CorruptSegmentException e = assertThrows(CorruptSegmentException.class, r::tryNext);
                assertTrue(e.getMessage().contains("past the released position"), e.getMessage());
            }
        }
    }

    @Test
    void claimOfAWriterWithAnOutOfTableSlotIsRecoveredAsAbandoned() {
        try (Fixture f = new Fixture(RegionKind.MPSC)) {
            f.write(2, 16);
            int at = rec(f, 0, 16);
            f.b.putInt(at + Layout.RECORD_SIZE_OFFSET, -40);
            f.b.putInt(at + Layout.RECORD_WRITER_OFFSET, 200 | 5 << 8);
            try (RingReader r = f.s.reader("r")) {
                assertEquals(1, r.tryNext().getInt(0));
                assertEquals(1, r.abandonedRecords());
            }
        }
    }

    @Test
    void claimOfALiveWriterBlocksAndIsDeliveredOnCommit() {
        try (Fixture f = new Fixture(RegionKind.MPSC); RingWriter w = f.s.writer("r"); RingReader r = f.s.reader("r")) {
            Frame c = w.claim(1, 8);
            c.putInt(0, 77);
            assertNull(r.tryNext(), "claimed by a live writer");
            assertEquals(0, r.abandonedRecords());
            w.commit();
            assertEquals(77, r.tryNext().getInt(0));
        }
    }

    @Test
    void badPositionsAreRefusedOnAttach() {
        try (Fixture f = new Fixture(RegionKind.SPSC)) {
            f.b.putLong(f.base + Layout.HEAD_POSITION_OFFSET, 12);
            assertThrows(CorruptSegmentException.class, () -> f.s.reader("r"));
            assertThrows(CorruptSegmentException.class, () -> f.s.writer("r"));
            f.b.putLong(f.base + Layout.HEAD_POSITION_OFFSET, 0);
            f.b.putLong(f.base + Layout.TAIL_POSITION_OFFSET, 2L * CAP);
            assertThrows(CorruptSegmentException.class, () -> f.s.writer("r"), "tail - head > capacity");
            f.b.putLong(f.base + Layout.TAIL_POSITION_OFFSET, -8);
            assertThrows(CorruptSegmentException.class, () -> f.s.writer("r"));
            // The slots were given back after each refusal.
            f.b.putLong(f.base + Layout.TAIL_POSITION_OFFSET, 0);
            f.s.writer("r").close();
            f.s.reader("r").close();
        }
    }

    @Test
    void anUnusableTailIsNotAdoptedAndTheErrorRepeats() {
        try (Fixture f = new Fixture(RegionKind.SPSC)) {
            f.write(2, 16);
            f.b.putInt(rec(f, 0, 16) + Layout.RECORD_SIZE_OFFSET, 12);
            f.b.putLong(f.base + Layout.TAIL_POSITION_OFFSET, 1L << 40);
            try (RingReader r = f.s.reader("r")) {
                assertThrows(CorruptSegmentException.class, r::tryNext);
                assertThrows(CorruptSegmentException.class, r::tryNext);
                assertEquals(0, r.position(), "the reader stays");
                assertEquals(2, f.s.counters("r").badRecords());
            }
        }
    }

    @Test
    void aWriterWhoseHeadIsBeyondCapacityReportsCorruptionOnClaim() {
        try (Fixture f = new Fixture(RegionKind.MPSC); RingWriter w = f.s.writer("r")) {
            f.b.putLong(f.base + Layout.HEAD_POSITION_OFFSET, 8L * CAP);
            assertThrows(CorruptSegmentException.class, () -> w.tryClaim(1, 8));
            f.b.putLong(f.base + Layout.HEAD_POSITION_OFFSET, 0);
            assertNotNull(w.tryClaim(1, 8), "the claim lock was released");
            w.commit();
        }
    }

    @Test
    void randomCorruptionOfPositionsAndRecordsOnlyEverYieldsTypedErrors() {
        assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
            Random rnd = new Random(7);
            for (RegionKind kind : new RegionKind[] {RegionKind.SPSC, RegionKind.MPSC}) {
                try (Fixture f = new Fixture(kind)) {
                    byte[] clean = new byte[Layout.RING_CONTROL_LENGTH + CAP];
                    int corruptions = 0;
                    for (int iter = 0; iter < 600; iter++) {
                        f.b.put(f.base, clean);
                        // A realistic ring: some frames read and released, some pending.
                        try (RingWriter w = f.s.writer("r"); RingReader r = f.s.reader("r")) {
                            int n = rnd.nextInt(40);
                            for (int i = 0; i < n; i++) {
                                Frame fr = w.tryClaim(1 + rnd.nextInt(3), rnd.nextInt(300));
                                if (fr == null) {
                                    break;
                                }
                                w.commit(rnd.nextInt(fr.length() + 1));
                                if (rnd.nextBoolean()) {
                                    r.tryNext();
                                }
                            }
                            r.release();
                        }
                        int flips = 1 + rnd.nextInt(8);
                        for (int k = 0; k < flips; k++) {
                            int at;
                            switch (rnd.nextInt(4)) {
                                case 0: at = f.base + Layout.HEAD_POSITION_OFFSET + rnd.nextInt(8); break;
                                case 1: at = f.base + Layout.TAIL_POSITION_OFFSET + rnd.nextInt(8); break;
                                case 2: at = f.base + Layout.READER_RELEASE_TO_OFFSET + rnd.nextInt(8); break;
                                default: at = f.data + rnd.nextInt(CAP); break;
                            }
                            f.b.put(at, (byte) rnd.nextInt(256));
                        }
                        try (RingReader r = f.s.reader("r")) {
                            for (int i = 0; i < 100; i++) {
                                try {
                                    Frame fr = r.tryNext();
                                    if (fr == null) {
                                        break;
                                    }
                                    fr.toArray();
                                } catch (CorruptSegmentException e) {
                                    corruptions++;
                                }
                            }
                            r.release();
                        } catch (CorruptSegmentException e) {
                            corruptions++;
                        }
                        if (kind == RegionKind.SPSC) {
                            try (RingWriter w = f.s.writer("r")) {
                                if (w.tryClaim(1, 100) != null) {
                                    w.commit();
                                }
                            } catch (CorruptSegmentException e) {
                                corruptions++;
                            }
                        }
                    }
                    assertTrue(corruptions > 50, kind + ": corruption detected " + corruptions + " times");
                }
            }
        });
    }
}
