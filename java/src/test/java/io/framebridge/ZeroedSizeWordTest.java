package io.framebridge;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Mirrors shm/zeroed_test.go: an SPSC size word zeroed behind the writer's tail (layout.md §5.5). */
class ZeroedSizeWordTest {
    static final int CAP = 4096;

    static void write(RingWriter w, String s) {
        byte[] p = s.getBytes(UTF_8);
        w.claim(1, p.length).putBytes(0, p);
        w.commit();
    }

    static String text(Frame f) {
        return new String(f.toArray(), UTF_8);
    }

    /**
     * A peer zeroes the size word of a committed record at the reader's position. Zero means "not committed
     * yet", so without a check the reader would wait behind it for ever while a full ring keeps the writer
     * waiting for space. The SPSC writer's tail, stored after every commit, gives it away: after a wait the
     * reader throws CorruptSegmentException, skips to the tail, and the ring works again.
     */
    @Test
    void spscSizeWordZeroedBehindTheTailIsSkippedAfterAWait() {
        try (Segment s = Segment.createMemfd("zeroed", new Spec().ring("r", RegionKind.SPSC, CAP));
                RingWriter w = s.writer("r");
                RingReader r = s.reader("r")) {
            for (int i = 0; i < 3; i++) {
                write(w, "committed");
            }
            ByteBuffer b = s.buffer();
            int data = (int) s.region("r").offset() + Layout.RING_DATA_OFFSET;
            b.putInt(data + Layout.RECORD_SIZE_OFFSET, 0);

            // The first sighting only waits (a tail seen before its size word on a weakly ordered CPU looks the
            // same for a moment); one after a wait is corruption.
            CorruptSegmentException err = null;
            for (int i = 0; i < 3 && err == null; i++) {
                try {
                    assertNull(r.next(5, TimeUnit.MILLISECONDS), "next " + i);
                } catch (CorruptSegmentException e) {
                    err = e;
                }
            }
            if (err == null) {
                fail("next over a zeroed committed record: no CorruptSegmentException");
            }
            assertTrue(err.getMessage().contains("position 0") && err.getMessage().contains("size = 0")
                    && err.getMessage().contains("skipped to the writers' tail"), err.getMessage());
            assertTrue(s.counters("r").readerWaits() > 0, "reported corruption without having waited once");

            write(w, "after");
            Frame f = r.next(5, TimeUnit.SECONDS);
            assertNotNull(f, "after the skip");
            assertEquals("after", text(f));
            assertEquals(1, s.counters("r").badRecords());
            assertEquals(1, r.badRecords());
        }
    }

    /** An SPSC claim in progress also reads as zero, but its writer has not moved the tail: the reader keeps waiting and then gets the frame. */
    @Test
    void spscClaimInProgressIsNotMistakenForAZeroedRecord() {
        try (Segment s = Segment.createMemfd("zeroed", new Spec().ring("r", RegionKind.SPSC, CAP));
                RingWriter w = s.writer("r");
                RingReader r = s.reader("r")) {
            Frame c = w.claim(1, 8);
            for (int i = 0; i < 3; i++) {
                assertNull(r.next(2, TimeUnit.MILLISECONDS), "next " + i + " behind a claim in progress");
            }
            c.putBytes(0, "claimed!".getBytes(UTF_8));
            w.commit(8);
            Frame f = r.next(5, TimeUnit.SECONDS);
            assertNotNull(f);
            assertEquals("claimed!", text(f));
            assertEquals(0, s.counters("r").badRecords());
        }
    }

    /**
     * In a full ring the writer never signals: one blocking next with a far timeout must still find the
     * overwritten size word (its sleep is bounded while an SPSC tail is past readPos), and the ring then works.
     */
    @Test
    void spscSizeWordZeroedInAFullRingIsFoundByOneBlockingNext() {
        try (Segment s = Segment.createMemfd("zeroed", new Spec().ring("r", RegionKind.SPSC, CAP));
                RingWriter w = s.writer("r");
                RingReader r = s.reader("r")) {
            Frame c;
            while ((c = w.tryClaim(1, 100)) != null) {
                c.putBytes(0, "full".getBytes(UTF_8));
                w.commit();
            }
            ByteBuffer b = s.buffer();
            int data = (int) s.region("r").offset() + Layout.RING_DATA_OFFSET;
            b.putInt(data + Layout.RECORD_SIZE_OFFSET, 0);
            try {
                r.next(60, TimeUnit.SECONDS); // a watchdog, not a timing assertion
                fail("blocking next on a full ring behind a zeroed size word returned without an error");
            } catch (CorruptSegmentException e) {
                // expected
            }
            write(w, "after");
            Frame f = r.next(5, TimeUnit.SECONDS);
            assertNotNull(f, "after the skip");
            assertEquals("after", text(f));
        }
    }
}
