package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/**
 * Steady state allocates nothing per frame: claim/commit/next/release over 100k frames, measured with
 * {@code com.sun.management.ThreadMXBean.getThreadAllocatedBytes}, must stay under a small fixed slack.
 */
class NoGarbageTest {
    static final int FRAMES = 100_000;
    /** Fixed slack for the measurement itself; 100k frames at even 1 byte each would exceed it. */
    static final long SLACK = 16 * 1024;

    static com.sun.management.ThreadMXBean mx() {
        java.lang.management.ThreadMXBean m = ManagementFactory.getThreadMXBean();
        assumeTrue(m instanceof com.sun.management.ThreadMXBean, "needs com.sun.management.ThreadMXBean");
        com.sun.management.ThreadMXBean x = (com.sun.management.ThreadMXBean) m;
        assumeTrue(x.isThreadAllocatedMemorySupported(), "thread allocation accounting unsupported");
        x.setThreadAllocatedMemoryEnabled(true);
        return x;
    }

    static long loop(RingWriter w, RingReader r, int frames) {
        long sum = 0;
        for (int i = 0; i < frames; i++) {
            Frame f = w.claim(1, 64);
            f.putLong(0, i);
            f.putInt(8, i);
            w.commit(48 + (i & 15));
            Frame g = r.next();
            sum += g.getLong(0) + g.length() + g.sequence();
            if ((i & 15) == 15) {
                r.release();
            }
        }
        r.release();
        return sum;
    }

    @Test
    void steadyStateRingTrafficAllocatesNothingPerFrame() {
        com.sun.management.ThreadMXBean mx = mx();
        long tid = Thread.currentThread().getId();
        for (RegionKind kind : new RegionKind[] {RegionKind.SPSC, RegionKind.MPSC}) {
            try (Segment s = Segment.createMemfd("nogc", new Spec().ring("r", kind, 1 << 16));
                    RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
                loop(w, r, 3 * FRAMES); // warm up: JIT-compile the path
                long before = mx.getThreadAllocatedBytes(tid);
                long sum = loop(w, r, FRAMES);
                long allocated = mx.getThreadAllocatedBytes(tid) - before;
                assertTrue(sum != 0);
                assertTrue(allocated < SLACK, kind + ": " + allocated + " bytes allocated for " + FRAMES + " frames");
            }
        }
    }

    @Test
    void steadyStateTryNextAndDrainAllocateNothing() {
        com.sun.management.ThreadMXBean mx = mx();
        long tid = Thread.currentThread().getId();
        try (Segment s = Segment.createMemfd("nogc2", new Spec().ring("r", RegionKind.SPSC, 1 << 16));
                RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            long[] seen = new long[1];
            FrameHandler h = f -> seen[0] += f.getInt(0);
            Runnable round = () -> {
                for (int i = 0; i < FRAMES / 10; i++) {
                    for (int k = 0; k < 10; k++) {
                        Frame f = w.tryClaim(1, 32);
                        assertNotNull(f);
                        f.putInt(0, 1);
                        w.commit();
                    }
                    if ((i & 1) == 0) {
                        r.drain(h, 100);
                    } else {
                        while (r.tryNext() != null) {
                            seen[0]++;
                        }
                        r.release();
                    }
                }
            };
            round.run();
            round.run();
            long before = mx.getThreadAllocatedBytes(tid);
            round.run();
            long allocated = mx.getThreadAllocatedBytes(tid) - before;
            assertEquals(3L * FRAMES, seen[0]);
            assertTrue(allocated < SLACK, allocated + " bytes allocated for " + FRAMES + " frames");
        }
    }
}
