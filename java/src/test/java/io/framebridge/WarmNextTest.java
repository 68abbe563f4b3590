package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/** RingWriter.warmNext is a hint: it changes no byte of the segment, whatever the ring holds, and frames flow as before. */
class WarmNextTest {
    private static byte[] snapshot(Segment s) {
        ByteBuffer b = s.buffer();
        byte[] a = new byte[b.capacity()];
        b.get(0, a);
        return a;
    }

    private static void warmChangesNothing(Segment s, RingWriter w, String where) {
        byte[] before = snapshot(s);
        w.warmNext();
        assertArrayEquals(before, snapshot(s), where);
    }

    @Test
    void spscWarmChangesNoByteAcrossWrapsAndAFullRing() {
        try (Segment s = RingTest.seg(RegionKind.SPSC); RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            warmChangesNothing(s, w, "before any commit");
            // Sizes that make records wrap at different places; the reader keeps 0..3 frames unreleased.
            for (int i = 0; i < 400; i++) {
                int n = 40 + (i * 37) % 700;
                byte[] p = RingTest.payload(n, i);
                RingTest.write(w, 1, p);
                warmChangesNothing(s, w, "after commit " + i);
                Frame f = r.tryNext();
                assertNotNull(f, "frame " + i);
                assertArrayEquals(p, f.toArray(), "frame " + i);
                if (i % 4 == 3) {
                    r.release();
                    warmChangesNothing(s, w, "after release " + i);
                }
            }
            r.release();
            // Nearly full: the next record of the last size does not fit; warming stays inside the free space.
            byte[] big = RingTest.payload(1500, 7);
            RingTest.write(w, 2, big);
            RingTest.write(w, 2, big);
            warmChangesNothing(s, w, "nearly full");
            Frame c = w.claim(3, 16);
            assertNotNull(c);
            warmChangesNothing(s, w, "with a claim outstanding");
            w.commit();
            assertArrayEquals(big, r.tryNext().toArray());
            assertArrayEquals(big, r.tryNext().toArray());
            assertEquals(3, r.tryNext().type());
            assertNull(r.tryNext());
            r.release();
        }
    }

    @Test
    void mpscWarmIsANoOp() {
        try (Segment s = RingTest.seg(RegionKind.MPSC); RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            RingTest.write(w, 1, RingTest.payload(100, 1));
            warmChangesNothing(s, w, "mpsc");
            assertNotNull(r.tryNext());
            r.release();
        }
    }
}
