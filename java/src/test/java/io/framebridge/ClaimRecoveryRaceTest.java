package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * §5.4: the reader judges a claim's writer dead after it loaded the claimed size word. A writer that commits
 * and then gives its slot up in between is dead by then, but its frame is committed and must be delivered,
 * not turned into padding (PeerProcessTest's MPSC kill test lost its last-but-two frame this way, rarely).
 */
class ClaimRecoveryRaceTest {
    static final int FRAMES = 100_000;

    @Test
    void aWriterThatCommitsAndLeavesWhileTheReaderJudgesItsClaimLosesNoFrame() throws Exception {
        try (Segment s = Segment.createMemfd("race", new Spec().ring("r", RegionKind.MPSC, 4096));
                RingReader r = s.reader("r")) {
            r.spinNanos(Long.MAX_VALUE);
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failed = new AtomicReference<>();
            Thread writer = new Thread(() -> {
                try {
                    for (long i = 0; i < FRAMES; i++) {
                        // A writer per frame: its close frees the slot (pid 0) and the next takes it with a new
                        // epoch, so a claim the reader sees pending names a dead writer right after the commit.
                        try (RingWriter w = s.writer("r")) {
                            Frame f = w.stopWhen(stop).claim(1, 8);
                            if (f == null) {
                                return; // the reader gave up
                            }
                            f.putLong(0, i);
                            w.commit();
                        }
                    }
                } catch (Throwable t) {
                    failed.set(t);
                }
            });
            writer.start();
            try {
                for (long i = 0; i < FRAMES; i++) {
                    Frame f = r.next(10, TimeUnit.SECONDS);
                    assertNull(failed.get());
                    assertNotNull(f, "frame " + i + " never came");
                    assertEquals(i, f.getLong(0), "lost or reordered (abandoned=" + r.abandonedRecords() + ")");
                    r.release();
                }
            } finally {
                stop.set(true);
                r.release(); // a writer waiting for space wakes and sees the stop word
                writer.join();
            }
            assertNull(failed.get());
            assertEquals(0, r.abandonedRecords(), "no writer died holding a claim");
        }
    }
}
