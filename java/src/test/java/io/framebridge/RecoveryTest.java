package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Dead peers (layout.md §5.2.1, §5.4, §7): lock stealing, adoption, abandoned claims, liveness. */
class RecoveryTest {
    static final int CAP = 4096;

    static Segment seg(RegionKind kind) {
        return Segment.createMemfd("recovery", new Spec().ring("r", kind, CAP));
    }

    static int base(Segment s) {
        return (int) s.region("r").offset();
    }

    @Test
    void aClaimLockHeldByADeadWriterIsStolenAndItsClaimBeyondTheTailAdopted() {
        try (Segment s = seg(RegionKind.MPSC); RingReader r = s.reader("r")) {
            ByteBuffer b = s.buffer();
            int base = base(s);
            int data = base + Layout.RING_DATA_OFFSET;
            // A writer in slot 5 (epoch 1) claimed 40 bytes at position 0 and died before its tail store,
            // still holding the claim lock.
            int deadToken = 5 | 1 << Layout.TOKEN_EPOCH_SHIFT;
            b.putInt(data + Layout.RECORD_TYPE_OFFSET, 1);
            b.putInt(data + Layout.RECORD_WRITER_OFFSET, deadToken);
            b.putLong(data + Layout.RECORD_SEQUENCE_OFFSET, 1);
            b.putLong(base + Layout.NEXT_SEQUENCE_OFFSET, 2);
            b.putInt(data + Layout.RECORD_SIZE_OFFSET, -40);
            b.putInt(base + Layout.CLAIM_LOCK_OFFSET, deadToken);
            try (RingWriter w = s.writer("r")) {
                Frame f = w.claim(1, 8);
                f.putLong(0, 42);
                w.commit();
                assertEquals(40 + 32, b.getLong(base + Layout.TAIL_POSITION_OFFSET), "adopted the dead claim");
                assertEquals(0, b.getInt(base + Layout.CLAIM_LOCK_OFFSET), "lock released");
            }
            Frame f = r.tryNext();
            assertNotNull(f);
            assertEquals(42, f.getLong(0));
            assertEquals(2, f.sequence());
            assertEquals(1, r.abandonedRecords());
        }
    }

    @Test
    void aNewSpscWriterAdoptsACommitWhoseTailStoreWasLost() {
        try (Segment s = seg(RegionKind.SPSC); RingReader r = s.reader("r")) {
            ByteBuffer b = s.buffer();
            int base = base(s);
            try (RingWriter w = s.writer("r")) {
                w.claim(1, 8).putLong(0, 1);
                w.commit();
            }
            // Simulate a writer that died between the size store and the tail store of its 2nd commit.
            b.putLong(base + Layout.TAIL_POSITION_OFFSET, 0);
            try (RingWriter w = s.writer("r")) {
                assertEquals(32, b.getLong(base + Layout.TAIL_POSITION_OFFSET));
                w.claim(1, 8).putLong(0, 2);
                w.commit();
            }
            assertEquals(1, r.tryNext().getLong(0));
            assertEquals(2, r.tryNext().getLong(0));
            assertNull(r.tryNext());
        }
    }

    @Test
    void aWriterWhoseTailIsBehindTheHeadContinuesFromTheHead() {
        try (Segment s = seg(RegionKind.SPSC)) {
            ByteBuffer b = s.buffer();
            int base = base(s);
            try (RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
                w.claim(1, 8);
                w.commit();
                assertNotNull(r.tryNext());
            } // reader close released: head = 32
            b.putLong(base + Layout.TAIL_POSITION_OFFSET, 0); // tail store lost, record read and released
            try (RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
                w.claim(1, 8).putLong(0, 9);
                w.commit();
                assertEquals(9, r.tryNext().getLong(0));
            }
        }
    }

    @Test
    void aWriterWaitingForSpaceLearnsThatTheReaderDied() {
        try (Segment s = seg(RegionKind.SPSC); RingWriter w = s.writer("r")) {
            RingReader r = s.reader("r");
            int n = w.maxPayload();
            w.claim(1, n);
            w.commit();
            w.claim(1, n - 8);
            w.commit();
            RingTest.forgeDeadOwner(s, base(s) + Layout.READER_OWNER_OFFSET);
            assertThrows(PeerDeadException.class, () -> w.claim(1, n, 5, TimeUnit.SECONDS));
            assertNotNull(r);
        }
    }

    @Test
    void aDeadMpscWriterSlotIsReusedWithANewEpoch() {
        try (Segment s = seg(RegionKind.MPSC)) {
            int slotOwner = base(s) + Layout.WRITER_SLOTS_OFFSET + Layout.WRITER_SLOT_OWNER_OFFSET;
            RingWriter w1 = s.writer("r");
            assertEquals(0, w1.slot());
            long before = s.buffer().getLong(slotOwner);
            RingTest.forgeDeadOwner(s, slotOwner);
            try (RingWriter w2 = s.writer("r")) {
                assertEquals(0, w2.slot(), "the dead writer's slot is taken over");
                assertEquals(Ownership.epoch(before) + 1, Ownership.epoch(s.buffer().getLong(slotOwner)));
            }
            try (RingWriter a = s.writer("r"); RingWriter c = s.writer("r")) {
                assertEquals(0, a.slot());
                assertEquals(1, c.slot(), "a live writer's slot is skipped");
            }
            assertNotNull(w1);
        }
    }

    @Test
    void allSixtyFourWriterSlotsBusy() {
        try (Segment s = seg(RegionKind.MPSC)) {
            RingWriter[] ws = new RingWriter[Layout.MAX_WRITERS];
            for (int i = 0; i < ws.length; i++) {
                ws[i] = s.writer("r");
            }
            assertThrows(BusyException.class, () -> s.writer("r"));
            ws[17].close();
            try (RingWriter w = s.writer("r")) {
                assertEquals(17, w.slot());
            }
        }
    }

    @Test
    void livenessFollowsProcStat() throws Exception {
        assertTrue(Liveness.isAlive(Liveness.SELF_PID, Liveness.SELF_START));
        assertFalse(Liveness.isAlive(Liveness.SELF_PID, Liveness.SELF_START + 1), "same pid, other start: a reused pid");
        assertFalse(Liveness.isAlive(RingTest.DEAD_PID, 0));
        assertFalse(Liveness.isAlive(0, 0));
        long[] st = Liveness.parseStat("123 (we(ir)d) na) me) Z 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 20 21");
        assertArrayEquals(new long[] {'Z', 4242}, st);
        assertNull(Liveness.parseStat("123 (x) S 1 2"));
        assertNull(Liveness.parseStat("garbage"));
        Process p = new ProcessBuilder("sleep", "30").start();
        try {
            long start = Liveness.startTime(p.pid());
            assertTrue(start > 0);
            assertTrue(Liveness.isAlive(p.pid(), start));
        } finally {
            p.destroyForcibly();
            p.waitFor();
        }
        assertEquals(-1, Liveness.startTime(p.pid()));
    }
    /** §5.2.1: a restarted SPSC writer must not reuse the sequence number of a record it adopts. */
    @Test
    void anAdoptedRecordCarriesTheSequenceForward() {
        try (Segment s = seg(RegionKind.SPSC); RingReader r = s.reader("r")) {
            ByteBuffer b = s.buffer();
            int base = base(s);
            try (RingWriter w = s.writer("r")) {
                w.claim(1, 8).putLong(0, 1);
                w.commit();
            }
            // The writer died after the size store of its commit: neither NextSequence nor the tail stored.
            b.putLong(base + Layout.TAIL_POSITION_OFFSET, 0);
            b.putLong(base + Layout.NEXT_SEQUENCE_OFFSET, 1);
            try (RingWriter w = s.writer("r")) {
                assertEquals(32, b.getLong(base + Layout.TAIL_POSITION_OFFSET), "adopted");
                assertEquals(2, b.getLong(base + Layout.NEXT_SEQUENCE_OFFSET), "NextSequence stored by adoption");
                w.claim(1, 8).putLong(0, 2);
                w.commit();
            }
            Frame f = r.tryNext();
            assertEquals(1, f.getLong(0));
            assertEquals(1, f.sequence());
            f = r.tryNext();
            assertEquals(2, f.getLong(0));
            assertEquals(2, f.sequence(), "not a reused sequence number");
        }
    }

    /** The same for an MPSC lock steal: the dead holder's claim took sequence 1 but NextSequence says 1. */
    @Test
    void aStolenLocksAdoptedClaimCarriesTheSequenceForward() {
        try (Segment s = seg(RegionKind.MPSC); RingReader r = s.reader("r")) {
            ByteBuffer b = s.buffer();
            int base = base(s);
            int data = base + Layout.RING_DATA_OFFSET;
            int deadToken = 5 | 1 << Layout.TOKEN_EPOCH_SHIFT;
            b.putInt(data + Layout.RECORD_TYPE_OFFSET, 1);
            b.putInt(data + Layout.RECORD_WRITER_OFFSET, deadToken);
            b.putLong(data + Layout.RECORD_SEQUENCE_OFFSET, 1);
            b.putLong(base + Layout.NEXT_SEQUENCE_OFFSET, 1);
            b.putInt(data + Layout.RECORD_SIZE_OFFSET, -40);
            b.putInt(base + Layout.CLAIM_LOCK_OFFSET, deadToken);
            try (RingWriter w = s.writer("r")) {
                w.claim(1, 8).putLong(0, 42);
                w.commit();
            }
            Frame f = r.tryNext();
            assertEquals(42, f.getLong(0));
            assertEquals(2, f.sequence(), "not the dead claim's sequence again");
        }
    }

    /**
     * §5.2: the reader recovered and released a claim that never reached the tail (head > tail): every MPSC
     * claim continues from the head instead of reporting a corrupt position.
     */
    @Test
    void everyMpscClaimHealsAHeadPastTheTail() {
        try (Segment s = seg(RegionKind.MPSC); RingReader r = s.reader("r"); RingWriter w = s.writer("r")) {
            ByteBuffer b = s.buffer();
            int base = base(s);
            w.claim(1, 8).putLong(0, 1);
            w.commit();
            assertEquals(1, r.tryNext().getLong(0));
            r.release();
            assertEquals(32, b.getLong(base + Layout.HEAD_POSITION_OFFSET));
            b.putLong(base + Layout.TAIL_POSITION_OFFSET, 0); // head 32 > tail 0, the lock is free (no steal)
            w.claim(1, 8).putLong(0, 2);
            w.commit();
            assertEquals(64, b.getLong(base + Layout.TAIL_POSITION_OFFSET));
            assertEquals(2, r.tryNext().getLong(0));
            assertEquals(0, s.counters("r").badRecords());
        }
    }
    /**
     * §7: a holder whose pid exists but whose start time does not match yet may be a taker between its CAS
     * and its start-time store: the slot is not taken over while it may still store it (up to 100 ms).
     */
    @Test
    void aTakeOverWaitsForARacingTakersStartTime() throws Exception {
        try (Segment s = seg(RegionKind.SPSC)) {
            ByteBuffer b = s.buffer();
            int base = base(s);
            int ownerOff = base + Layout.READER_OWNER_OFFSET;
            int startOff = base + Layout.READER_START_OFFSET;
            // A taker (this very process, so its pid exists) has done its CAS; its start time lands 20 ms later.
            b.putLong(ownerOff, 3L << Layout.OWNER_EPOCH_SHIFT | Liveness.SELF_PID);
            b.putLong(startOff, 0);
            Thread late = new Thread(() -> {
                java.util.concurrent.locks.LockSupport.parkNanos(20_000_000L);
                Mem.setLongVolatile(b, startOff, Liveness.SELF_START);
            });
            late.start();
            assertThrows(BusyException.class, () -> s.reader("r"), "the racing taker holds the slot");
            late.join();
            assertEquals(3L << Layout.OWNER_EPOCH_SHIFT | Liveness.SELF_PID, b.getLong(ownerOff), "not taken over");

            // A start time that never comes: taken over after the grace period.
            b.putLong(startOff, 0);
            long t0 = System.nanoTime();
            try (RingReader r = s.reader("r")) {
                assertTrue(System.nanoTime() - t0 >= 90_000_000L, "waited for the grace period");
                assertNull(r.tryNext());
                assertEquals(4, Ownership.epoch(b.getLong(ownerOff)));
            }
            // A pid that does not exist: certainly dead, no grace period needed.
            b.putLong(ownerOff, 7L << Layout.OWNER_EPOCH_SHIFT | RingTest.DEAD_PID);
            try (RingReader r = s.reader("r")) {
                assertEquals(8, Ownership.epoch(b.getLong(ownerOff)));
                assertNull(r.tryNext());
            }
        }
    }
}
