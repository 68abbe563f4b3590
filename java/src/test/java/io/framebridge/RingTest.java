package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class RingTest {
    static final int CAP = 4096;

    static Segment seg(RegionKind kind) {
        return Segment.createMemfd("ringtest", new Spec().ring("r", kind, CAP));
    }

    static byte[] payload(int n, int salt) {
        byte[] p = new byte[n];
        for (int i = 0; i < n; i++) {
            p[i] = (byte) (i * 31 + salt);
        }
        return p;
    }

    static void write(RingWriter w, int type, byte[] p) {
        Frame f = w.claim(type, p.length);
        f.putBytes(0, p);
        w.commit();
    }

    @Test
    void spscFramesArriveInOrderWithTypeSequenceAndPayload() {
        for (RegionKind kind : new RegionKind[] {RegionKind.SPSC, RegionKind.MPSC}) {
            try (Segment s = seg(kind); RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
                for (int i = 0; i < 10; i++) {
                    write(w, 1 + i, payload(i * 5, i));
                }
                for (int i = 0; i < 10; i++) {
                    Frame f = r.tryNext();
                    assertNotNull(f, kind + " frame " + i);
                    assertEquals(1 + i, f.type());
                    assertEquals(i + 1, f.sequence());
                    assertArrayEquals(payload(i * 5, i), f.toArray());
                }
                assertNull(r.tryNext());
                r.release();
                RingCounters c = s.counters("r");
                assertEquals(10, c.framesWritten());
                assertEquals(10, c.framesRead());
                assertEquals(c.bytesWritten(), c.bytesRead());
            }
        }
    }

    @Test
    void wrapInsertsPaddingAndFramesNeverSplit() {
        for (RegionKind kind : new RegionKind[] {RegionKind.SPSC, RegionKind.MPSC}) {
            try (Segment s = seg(kind); RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
                long expectSeq = 1;
                // Sizes that do not divide the capacity: every lap ends in a padding record of varying size.
                for (int i = 0; i < 500; i++) {
                    int n = (i * 37) % 700;
                    write(w, 3, payload(n, i));
                    Frame f = r.tryNext();
                    assertNotNull(f);
                    assertEquals(n, f.length());
                    assertEquals(expectSeq++, f.sequence());
                    assertArrayEquals(payload(n, i), f.toArray());
                    r.release();
                }
            }
        }
    }

    @Test
    void partialCommitShrinksTheFrame() {
        for (RegionKind kind : new RegionKind[] {RegionKind.SPSC, RegionKind.MPSC}) {
            try (Segment s = seg(kind); RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
                Frame f = w.claim(7, 100);
                assertEquals(100, f.length());
                f.putBytes(0, payload(10, 1));
                w.commit(10);
                Frame g = r.tryNext();
                assertEquals(10, g.length());
                assertArrayEquals(payload(10, 1), g.toArray());
            }
        }
    }

    @Test
    void abortPublishesNothingAndLaterFramesStillArrive() {
        for (RegionKind kind : new RegionKind[] {RegionKind.SPSC, RegionKind.MPSC}) {
            try (Segment s = seg(kind); RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
                w.claim(1, 64);
                w.abort();
                assertNull(r.tryNext());
                write(w, 2, payload(8, 2));
                Frame f = r.tryNext();
                assertNotNull(f);
                assertEquals(2, f.type());
                // MPSC loses the aborted sequence number (it is on the padding record); SPSC reuses it.
                assertEquals(kind == RegionKind.MPSC ? 2 : 1, f.sequence());
            }
        }
    }

    @Test
    void fullRingRefusesTryClaimAndTimesOutThenAcceptsAfterRelease() {
        for (RegionKind kind : new RegionKind[] {RegionKind.SPSC, RegionKind.MPSC}) {
            try (Segment s = seg(kind); RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
                int n = w.maxPayload();
                assertEquals(CAP / 2 - 24, n);
                write(w, 1, payload(n, 0));
                write(w, 1, payload(n - 8, 0));
                assertNull(w.tryClaim(1, n));
                assertNull(w.claim(1, n, 1, TimeUnit.MILLISECONDS));
                assertNotNull(r.tryNext());
                r.release();
                assertNotNull(w.tryClaim(1, n));
                w.commit();
                assertTrue(s.counters("r").fullStalls() >= 2);
            }
        }
    }

    /**
     * A stop word ends untimed waits (a reader sleeping for data, a writer sleeping for space) once it is set
     * and the ring woken; without it those waits would never end (the join would time out). Frames and space
     * that are there are still handed out while the word is set.
     */
    @Test
    void theStopWordEndsUntimedWaitsForDataAndForSpace() throws Exception {
        for (RegionKind kind : new RegionKind[] {RegionKind.SPSC, RegionKind.MPSC}) {
            AtomicBoolean stop = new AtomicBoolean();
            try (Segment s = seg(kind); RingWriter w = s.writer("r").stopWhen(stop); RingReader r = s.reader("r").stopWhen(stop)) {
                AtomicReference<Object> got = new AtomicReference<>("still waiting");
                Thread reader = new Thread(() -> got.set(r.next()));
                reader.start();
                while (s.counters("r").readerWaits() == 0) { // it sleeps on the futex now (spun out)
                    Thread.sleep(1);
                }
                stop.set(true);
                r.wakeup();
                reader.join(10_000);
                assertTrue(!reader.isAlive(), "the reader must return once stopped");
                assertNull(got.get());

                stop.set(false);
                int n = w.maxPayload();
                write(w, 1, payload(n, 0));
                write(w, 1, payload(n - 8, 0));
                AtomicReference<Object> claimed = new AtomicReference<>("still waiting");
                Thread writer = new Thread(() -> claimed.set(w.claim(1, n)));
                writer.start();
                while (s.counters("r").writerWaits() == 0) {
                    Thread.sleep(1);
                }
                stop.set(true);
                w.wakeup();
                writer.join(10_000);
                assertTrue(!writer.isAlive(), "the writer must return once stopped");
                assertNull(claimed.get());
                assertTrue(!w.hasClaim());

                // set, but there is something to hand out: it is handed out
                assertNotNull(r.next());
                r.release();
                assertNotNull(w.claim(1, 8));
                w.commit();
            }
        }
    }

    @Test
    void claimRejectsBadArgumentsAndDoubleClaims() {
        try (Segment s = seg(RegionKind.SPSC); RingWriter w = s.writer("r")) {
            assertThrows(IllegalArgumentException.class, () -> w.claim(0, 8));
            assertThrows(IllegalArgumentException.class, () -> w.claim(-5, 8));
            assertThrows(IllegalArgumentException.class, () -> w.claim(1, w.maxPayload() + 1));
            assertThrows(IllegalArgumentException.class, () -> w.claim(1, -1));
            assertThrows(IllegalStateException.class, () -> w.commit());
            assertThrows(IllegalStateException.class, () -> w.abort());
            Frame f = w.claim(1, 16);
            assertThrows(IllegalStateException.class, () -> w.claim(1, 16));
            assertThrows(IllegalArgumentException.class, () -> w.commit(17));
            assertThrows(IndexOutOfBoundsException.class, () -> f.putLong(9, 1));
            assertThrows(IndexOutOfBoundsException.class, () -> f.putByte(-1, (byte) 1));
            w.commit(16);
        }
    }

    @Test
    void readerFrameIsReadOnlyAndBoundsChecked() {
        try (Segment s = seg(RegionKind.SPSC); RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            write(w, 1, payload(12, 0));
            Frame f = r.tryNext();
            assertThrows(java.nio.ReadOnlyBufferException.class, () -> f.putByte(0, (byte) 1));
            assertThrows(IndexOutOfBoundsException.class, () -> f.getInt(9));
            assertThrows(IndexOutOfBoundsException.class, () -> f.getBytes(0, new byte[20], 0, 13));
            ByteBuffer bb = f.byteBuffer();
            assertEquals(12, bb.remaining());
            assertTrue(bb.isReadOnly());
            r.release();
            assertThrows(IndexOutOfBoundsException.class, () -> f.getByte(0), "a released frame is empty");
            Frame c = w.claim(1, 8);
            w.commit();
            assertThrows(IndexOutOfBoundsException.class, () -> c.putByte(0, (byte) 1), "a committed claim is empty");
        }
    }

    @Test
    void secondReaderAndSecondSpscWriterAreBusy() {
        try (Segment s = seg(RegionKind.SPSC)) {
            RingWriter w = s.writer("r");
            RingReader r = s.reader("r");
            assertThrows(BusyException.class, () -> s.reader("r"));
            assertThrows(BusyException.class, () -> s.writer("r"));
            r.close();
            w.close();
            try (RingReader r2 = s.reader("r"); RingWriter w2 = s.writer("r")) {
                assertNotNull(r2);
                assertNotNull(w2);
            }
        }
    }

    /** A pid no process has (above the kernel's pid_max limit of 2^22). */
    static final int DEAD_PID = 0x7FFFFFF0;

    /** Makes the owner word at off look like a process that died (same epoch, a pid that cannot exist). */
    static void forgeDeadOwner(Segment s, int off) {
        long o = s.buffer().getLong(off);
        s.buffer().putLong(off, (o & 0xFFFFFFFF00000000L) | DEAD_PID);
    }

    @Test
    void readerTakingOverFromADeadReaderRedeliversUnreleasedFrames() {
        try (Segment s = seg(RegionKind.SPSC); RingWriter w = s.writer("r")) {
            for (int i = 0; i < 4; i++) {
                write(w, 1, payload(8, i));
            }
            RingReader dead = s.reader("r");
            assertEquals(1, dead.tryNext().sequence());
            assertEquals(2, dead.tryNext().sequence());
            dead.release();
            assertEquals(3, dead.tryNext().sequence());
            forgeDeadOwner(s, (int) s.region("r").offset() + Layout.READER_OWNER_OFFSET);
            try (RingReader r = s.reader("r")) {
                assertEquals(3, r.tryNext().sequence(), "at-least-once across a reader crash");
                assertEquals(4, r.tryNext().sequence());
            }
        }
    }

    @Test
    void closingAReaderReleasesWhatItRead() {
        try (Segment s = seg(RegionKind.SPSC); RingWriter w = s.writer("r")) {
            for (int i = 0; i < 4; i++) {
                write(w, 1, payload(8, i));
            }
            try (RingReader r = s.reader("r")) {
                assertEquals(1, r.tryNext().sequence());
                assertEquals(2, r.tryNext().sequence());
            }
            try (RingReader r = s.reader("r")) {
                assertEquals(3, r.tryNext().sequence());
            }
        }
    }

    @Test
    void readerFinishesAReleaseItsPredecessorDiedIn() {
        try (Segment s = seg(RegionKind.SPSC); RingWriter w = s.writer("r")) {
            for (int i = 0; i < 3; i++) {
                write(w, 1, payload(8, i));
            }
            int base = (int) s.region("r").offset();
            // Predecessor stored ReleaseTo past frame 2 and died before zeroing and storing head.
            s.buffer().putLong(base + Layout.READER_RELEASE_TO_OFFSET, 2 * 32);
            try (RingReader r = s.reader("r")) {
                assertEquals(2 * 32, s.buffer().getLong(base + Layout.HEAD_POSITION_OFFSET));
                assertEquals(0, s.buffer().getInt(base + Layout.RING_DATA_OFFSET), "released bytes zeroed");
                assertEquals(3, r.tryNext().sequence());
            }
        }
    }

    @Test
    void newSpscWriterContinuesTailAndSequence() {
        try (Segment s = seg(RegionKind.SPSC); RingReader r = s.reader("r")) {
            try (RingWriter w = s.writer("r")) {
                write(w, 1, payload(8, 0));
                w.claim(1, 8); // closed with an outstanding claim: aborted
            }
            try (RingWriter w = s.writer("r")) {
                write(w, 1, payload(8, 1));
            }
            assertEquals(1, r.tryNext().sequence());
            Frame f = r.tryNext();
            assertEquals(2, f.sequence());
            assertArrayEquals(payload(8, 1), f.toArray());
        }
    }

    @Test
    void blockedReaderIsWokenByWriterInAnotherThread() throws Exception {
        for (long spin : new long[] {0, RingReader.DEFAULT_SPIN_NANOS}) {
            try (Segment s = seg(RegionKind.SPSC); RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
                r.spinNanos(spin);
                w.spinNanos(spin);
                int count = 2000;
                AtomicReference<Throwable> err = new AtomicReference<>();
                Thread t = new Thread(() -> {
                    try {
                        for (int i = 0; i < count; i++) {
                            Frame f = w.claim(1, 8 + i % 300);
                            f.putInt(0, i);
                            w.commit();
                            if (i % 97 == 0) {
                                Thread.sleep(1);
                            }
                        }
                    } catch (Throwable e) {
                        err.set(e);
                    }
                });
                t.start();
                for (int i = 0; i < count; i++) {
                    Frame f = r.next(30, TimeUnit.SECONDS);
                    assertNotNull(f, "frame " + i);
                    assertEquals(i, f.getInt(0));
                    if (i % 5 == 0) {
                        r.release();
                    }
                }
                r.release();
                t.join();
                assertNull(err.get());
                if (spin == 0) {
                    assertTrue(s.counters("r").readerWaits() > 0, "reader slept");
                }
            }
        }
    }

    @Test
    void nextTimesOutOnAnEmptyRingAndWakeupInterrupts() throws Exception {
        try (Segment s = seg(RegionKind.SPSC); RingReader r = s.reader("r")) {
            assertNull(r.next(5, TimeUnit.MILLISECONDS));
            AtomicReference<Throwable> got = new AtomicReference<>();
            Thread t = new Thread(() -> {
                try {
                    r.next();
                } catch (Throwable e) {
                    got.set(e);
                }
            });
            t.start();
            while (t.getState() != Thread.State.RUNNABLE || s.buffer().getInt((int) s.region("r").offset()
                    + Layout.DATA_WAITERS_OFFSET) == 0) {
                Thread.sleep(1);
            }
            t.interrupt();
            r.wakeup();
            t.join(10_000);
            assertTrue(got.get() instanceof WaitInterruptedException, String.valueOf(got.get()));
        }
    }

    @Test
    void drainHandsOverEveryAvailableFrameAndReleases() {
        try (Segment s = seg(RegionKind.MPSC); RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            for (int i = 0; i < 20; i++) {
                write(w, 1, payload(40, i));
            }
            List<Long> seqs = new ArrayList<>();
            assertEquals(8, r.drain(f -> seqs.add(f.sequence()), 8));
            assertEquals(12, r.drain(f -> seqs.add(f.sequence()), 100));
            assertEquals(0, r.drain(f -> seqs.add(f.sequence()), 100));
            assertEquals(20, seqs.size());
            assertEquals(20L, seqs.get(19));
            int base = (int) s.region("r").offset();
            assertEquals(s.buffer().getLong(base + Layout.TAIL_POSITION_OFFSET),
                    s.buffer().getLong(base + Layout.HEAD_POSITION_OFFSET));
        }
    }

    @Test
    void mpscWritersInThreadsDeliverEveryFrameOnceInPerWriterOrder() throws Exception {
        int writers = 4;
        int perWriter = 5000;
        try (Segment s = Segment.createMemfd("mpsc", new Spec().ring("r", RegionKind.MPSC, 16384));
                RingReader r = s.reader("r")) {
            List<Thread> ts = new ArrayList<>();
            AtomicReference<Throwable> err = new AtomicReference<>();
            for (int wi = 0; wi < writers; wi++) {
                final int id = wi;
                RingWriter w = s.writer("r");
                Thread t = new Thread(() -> {
                    try (w) {
                        for (int i = 0; i < perWriter; i++) {
                            if (i % 10 == 3) {
                                w.claim(1, 8 + (i % 50)).putInt(0, -1);
                                w.abort();
                            }
                            Frame f = w.claim(1, 8 + (i % 50));
                            f.putInt(0, id);
                            f.putInt(4, i);
                            w.commit();
                        }
                    } catch (Throwable e) {
                        err.set(e);
                    }
                });
                ts.add(t);
                t.start();
            }
            int[] next = new int[writers];
            long lastSeq = 0;
            for (int k = 0; k < writers * perWriter; k++) {
                Frame f = r.next(30, TimeUnit.SECONDS);
                assertNotNull(f, "frame " + k);
                int id = f.getInt(0);
                assertEquals(next[id]++, f.getInt(4), "writer " + id);
                assertTrue(f.sequence() > lastSeq, "sequence increases");
                lastSeq = f.sequence();
                if (k % 7 == 0) {
                    r.release();
                }
            }
            r.release();
            for (Thread t : ts) {
                t.join();
            }
            assertNull(err.get());
            assertNull(r.tryNext());
        }
    }

    @Test
    void sleepingWritersOnAFullRingAreWokenByReleasesWithoutLostWakeups() throws Exception {
        for (RegionKind kind : new RegionKind[] {RegionKind.SPSC, RegionKind.MPSC}) {
            int writers = kind == RegionKind.MPSC ? 3 : 1;
            int per = 3000;
            try (Segment s = seg(kind); RingReader r = s.reader("r")) {
                r.spinNanos(0);
                AtomicReference<Throwable> err = new AtomicReference<>();
                List<Thread> ts = new ArrayList<>();
                for (int wi = 0; wi < writers; wi++) {
                    final int id = wi;
                    RingWriter w = s.writer("r").spinNanos(0);
                    Thread t = new Thread(() -> {
                        java.util.Random rnd = new java.util.Random(id);
                        try (w) {
                            for (int i = 0; i < per; i++) {
                                Frame f = w.claim(1, 8 + rnd.nextInt(1500));
                                f.putInt(0, id);
                                f.putInt(4, i);
                                w.commit();
                                if (rnd.nextInt(64) == 0) {
                                    Thread.sleep(0, 200_000);
                                }
                            }
                        } catch (Throwable e) {
                            err.set(e);
                        }
                    });
                    ts.add(t);
                    t.start();
                }
                java.util.Random rnd = new java.util.Random(99);
                int[] next = new int[writers];
                for (int k = 0; k < writers * per; k++) {
                    Frame f = r.next(30, TimeUnit.SECONDS);
                    assertNotNull(f, kind + " frame " + k + " (a lost wake-up?)");
                    int id = f.getInt(0);
                    assertEquals(next[id]++, f.getInt(4));
                    r.release();
                    if (rnd.nextInt(64) == 0) {
                        Thread.sleep(0, 300_000);
                    }
                }
                for (Thread t : ts) {
                    t.join();
                }
                assertNull(err.get());
                RingCounters c = s.counters("r");
                assertTrue(c.fullStalls() > 0 && c.writerWaits() > 0, kind + ": writers slept for space: " + c);
            }
        }
    }

    @Test
    void aRingFullOfUnreleasedFramesReadsAsEmptyNotAsItsOldestRecordAgain() {
        for (RegionKind kind : new RegionKind[] {RegionKind.SPSC, RegionKind.MPSC}) {
            try (Segment s = seg(kind); RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
                // 64-byte records tile the 4096-byte data area exactly: the tail reaches head + capacity.
                for (int lap = 0; lap < 3; lap++) {
                    for (int i = 0; i < CAP / 64; i++) {
                        Frame f = w.tryClaim(1, 40);
                        assertNotNull(f, kind + " lap " + lap + " record " + i);
                        f.putInt(0, lap * 1000 + i);
                        w.commit();
                    }
                    assertNull(w.tryClaim(1, 0), "full");
                    for (int i = 0; i < CAP / 64; i++) {
                        assertEquals(lap * 1000 + i, r.tryNext().getInt(0));
                    }
                    assertNull(r.tryNext(), kind + ": the size word at readPos is the oldest unreleased record's");
                    assertThrows(RingFullException.class, () -> r.next(1, TimeUnit.MILLISECONDS));
                    assertEquals(0, s.counters("r").badRecords());
                    r.release();
                }
            }
        }
    }

    @Test
    void aReaderWaitingBehindAbortedClaimsFreesThemSoWritersNeverStarve() throws Exception {
        try (Segment s = seg(RegionKind.MPSC); RingReader r = s.reader("r")) {
            r.spinNanos(0);
            AtomicReference<Throwable> err = new AtomicReference<>();
            Thread t = new Thread(() -> {
                try (RingWriter w = s.writer("r").spinNanos(0)) {
                    for (int i = 0; i < 200; i++) { // 200 x 128 bytes of padding: six rings' worth
                        w.claim(1, 100, 30, TimeUnit.SECONDS).putInt(0, i);
                        w.abort();
                    }
                    w.claim(1, 8).putInt(0, 4242);
                    w.commit();
                } catch (Throwable e) {
                    err.set(e);
                }
            });
            t.start();
            Frame f = r.next(30, TimeUnit.SECONDS);
            t.join();
            assertNull(err.get());
            assertNotNull(f, "the frame after the aborts arrives");
            assertEquals(4242, f.getInt(0));
            assertEquals(201, f.sequence());
        }
    }

    @Test
    void spscPartialCommitAndAbortLeaveFreeSpaceZero() {
        try (Segment s = seg(RegionKind.SPSC); RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            int data = (int) s.region("r").offset() + Layout.RING_DATA_OFFSET;
            Frame f = w.claim(1, 200);
            for (int i = 0; i < 200; i++) {
                f.putByte(i, (byte) 0xEE);
            }
            w.abort();
            for (int i = 0; i < CAP; i++) {
                assertEquals(0, s.buffer().get(data + i), "abort left byte " + i);
            }
            f = w.claim(1, 200);
            for (int i = 0; i < 200; i++) {
                f.putByte(i, (byte) 0xEE);
            }
            w.commit(3);
            for (int i = 24 + 3; i < CAP; i++) {
                assertEquals(0, s.buffer().get(data + i), "partial commit left byte " + i);
            }
            assertEquals(3, r.tryNext().length());
            assertNull(r.tryNext(), "the next size word is zero, not the caller's 0xEE bytes");
        }
    }

    @Test
    void aRestartedSpscWriterZeroesWhatItsPredecessorLeftInFreeSpace() {
        try (Segment s = seg(RegionKind.SPSC); RingReader r = s.reader("r")) {
            int data = (int) s.region("r").offset() + Layout.RING_DATA_OFFSET;
            // A writer killed between claim and commit left filled payload bytes in free space.
            for (int i = 24; i < 1024; i++) {
                s.buffer().put(data + i, (byte) 0xEE);
            }
            try (RingWriter w = s.writer("r")) {
                w.claim(1, 4).putInt(0, 7);
                w.commit();
            }
            assertEquals(7, r.tryNext().getInt(0));
            assertNull(r.tryNext());
            assertEquals(0, s.counters("r").badRecords());
        }
    }

    @Test
    void aWriterRestartedOnAnExactlyFullRingKeepsEveryCommittedFrame() {
        try (Segment s = seg(RegionKind.SPSC)) {
            try (RingWriter w = s.writer("r")) {
                for (int i = 0; i < CAP / 64; i++) { // 64-byte records: exactly full
                    w.tryClaim(1, 40).putInt(0, i);
                    w.commit();
                }
            }
            try (RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
                assertNull(w.tryClaim(1, 0), "still full");
                for (int i = 0; i < CAP / 64; i++) {
                    Frame f = r.tryNext();
                    assertNotNull(f, "frame " + i + " survived the writer restart");
                    assertEquals(i, f.getInt(0));
                }
            }
        }
    }

    @Test
    void aPollingReaderAlsoFreesPaddingItSkipped() {
        try (Segment s = seg(RegionKind.MPSC); RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            int head = (int) s.region("r").offset() + Layout.HEAD_POSITION_OFFSET;
            for (int round = 0; round < 100; round++) { // 100 x 128 bytes: three rings' worth of aborts
                assertNotNull(w.tryClaim(1, 100), "round " + round);
                w.abort();
                assertNull(r.tryNext());
                assertEquals(128L * (round + 1), s.buffer().getLong(head), "padding released by tryNext");
            }
        }
    }
    /** A reader holding a whole ring of unreleased frames would wait forever in next(): it is told at once. */
    @Test
    void nextWithAWholeRingUnreleasedSaysToRelease() {
        for (RegionKind kind : new RegionKind[] {RegionKind.SPSC, RegionKind.MPSC}) {
            try (Segment s = seg(kind); RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
                for (int i = 0; i < 32; i++) {
                    assertNotNull(w.tryClaim(1, 104)); // 32 x 128 bytes: exactly full
                    w.commit();
                }
                for (int i = 0; i < 32; i++) {
                    assertNotNull(r.tryNext(), kind + " frame " + i);
                }
                org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(10), () -> {
                    RingFullException e = assertThrows(RingFullException.class, r::next);
                    assertTrue(e.getMessage().contains("call release()"), e.getMessage());
                    assertThrows(RingFullException.class, () -> r.next(0, TimeUnit.SECONDS));
                });
                r.release();
                w.claim(1, 4).putInt(0, 77);
                w.commit();
                assertEquals(77, r.next().getInt(0));
            }
        }
    }
}
