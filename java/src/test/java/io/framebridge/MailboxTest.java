package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class MailboxTest {
    static Segment seg(int cap) {
        return Segment.createMemfd("mb", new Spec().mailbox("m", cap));
    }

    @Test
    void storeThenLoadReturnsVersionStatusAndPayloadZeroPadded() {
        try (Segment s = seg(1024); Mailbox w = s.mailbox("m"); Mailbox r = s.mailbox("m")) {
            byte[] dst = new byte[1024];
            MailboxValue v = r.load(dst);
            assertEquals(new MailboxValue(0, 0, 1024), v, "nothing stored yet");
            byte[] big = new byte[1000];
            Arrays.fill(big, (byte) 9);
            w.store(3, big);
            w.store(-7, new byte[] {1, 2, 3});
            v = r.load(dst);
            assertEquals(2, v.version());
            assertEquals(-7, v.status());
            assertArrayEquals(new byte[] {1, 2, 3}, Arrays.copyOf(dst, 3));
            for (int i = 3; i < 1024; i++) {
                assertEquals(0, dst[i], "byte " + i + " zeroed by the shorter store");
            }
            byte[] small = new byte[2];
            assertEquals(2, r.load(small).length());
            assertEquals(4, s.buffer().getLong((int) s.region("m").offset() + Layout.MAILBOX_SEQ_OFFSET), "seq = 2 * version");
        }
    }

    @Test
    void storeRejectsOversizedPayloadsAndASecondLiveWriter() {
        try (Segment s = seg(16); Mailbox other = s.mailbox("m")) {
            Mailbox w = s.mailbox("m");
            assertThrows(IllegalArgumentException.class, () -> w.store(0, new byte[17]));
            w.store(0, new byte[16]);
            assertThrows(BusyException.class, () -> other.store(1, new byte[1]));
            w.close();
            other.store(1, new byte[1]);
            assertEquals(2, other.version());
        }
    }

    @Test
    void aWriterThatDiedMidStoreIsPeerDeadUntilTheNextStore() {
        try (Segment s = seg(64); Mailbox w = s.mailbox("m")) {
            w.store(1, new byte[] {5});
            int base = (int) s.region("m").offset();
            s.buffer().putLong(base + Layout.MAILBOX_SEQ_OFFSET, 3); // odd: a store in progress
            RingTest.forgeDeadOwner(s, base + Layout.MAILBOX_WRITER_OWNER_OFFSET);
            try (Mailbox r = s.mailbox("m")) {
                assertThrows(PeerDeadException.class, () -> r.load(new byte[64]));
                try (Mailbox w2 = s.mailbox("m")) {
                    w2.store(2, new byte[] {6});
                }
                MailboxValue v = r.load(new byte[64]);
                assertEquals(3, v.version(), "take-over continues from the odd seq + 1");
                assertEquals(2, v.status());
            }
        }
    }

    /** A live writer stalled mid-store (this process, as a SIGSTOPped writer leaves it): the timed load gives up. */
    @Test
    void aTimedLoadGivesUpOnAStalledLiveWriter() {
        try (Segment s = seg(16); Mailbox w = s.mailbox("m"); Mailbox r = s.mailbox("m")) {
            w.store(4, new byte[] {7});
            int seqAt = (int) s.region("m").offset() + Layout.MAILBOX_SEQ_OFFSET;
            long seq = s.buffer().getLong(seqAt);
            s.buffer().putLong(seqAt, seq + 1); // mid-store, writer alive
            BusyException e = assertThrows(BusyException.class, () -> r.load(new byte[16], 20, TimeUnit.MILLISECONDS));
            assertTrue(e.getMessage().contains("stalled"), e.getMessage());
            s.buffer().putLong(seqAt, seq); // the store ends
            byte[] dst = new byte[16];
            MailboxValue v = r.load(dst, 0, TimeUnit.MILLISECONDS);
            assertEquals(4, v.status());
            assertEquals(7, dst[0]);
        }
    }

    @Test
    void readersNeverSeeATornValue() throws Exception {
        try (Segment s = seg(4096)) {
            Mailbox w = s.mailbox("m");
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> err = new AtomicReference<>();
            Thread writer = new Thread(() -> {
                byte[] p = new byte[4096];
                for (int i = 1; !stop.get(); i++) {
                    Arrays.fill(p, 0, 1 + i % 4096, (byte) i);
                    w.store(i, p, 0, 1 + i % 4096);
                }
            });
            writer.start();
            try (Mailbox r = s.mailbox("m")) {
                byte[] dst = new byte[4096];
                long last = 0;
                for (int k = 0; k < 20000; k++) {
                    MailboxValue v = r.load(dst);
                    assertTrue(v.version() >= last, "versions never go back");
                    last = v.version();
                    if (v.version() == 0) {
                        continue;
                    }
                    int n = 1 + v.status() % 4096;
                    for (int i = 0; i < 4096; i++) {
                        byte want = i < n ? (byte) v.status() : 0;
                        if (dst[i] != want) {
                            err.set(new AssertionError("torn value: status " + v.status() + " byte " + i + " = " + dst[i]));
                        }
                    }
                    assertNull(err.get());
                }
            } finally {
                stop.set(true);
                writer.join();
                w.close();
            }
        }
    }

    @Test
    void awaitChangeWakesOnAStoreAndTimesOut() throws Exception {
        try (Segment s = seg(8); Mailbox w = s.mailbox("m"); Mailbox r = s.mailbox("m")) {
            assertEquals(0, r.awaitChange(0, 2, TimeUnit.MILLISECONDS), "timeout returns the seen version");
            Thread t = new Thread(() -> {
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
                w.store(1, new byte[] {1});
            });
            t.start();
            assertEquals(1, r.awaitChange(0, 30, TimeUnit.SECONDS));
            t.join();
        }
    }

    @Test
    void mailboxBytesAreThePackedSharedFrame() {
        try (Segment s = seg(1024); Mailbox w = s.mailbox("m")) {
            w.store(0x01020304, new byte[] {(byte) 0xAA, (byte) 0xBB});
            ByteBuffer b = s.buffer();
            int f = (int) s.region("m").offset() + Layout.MAILBOX_FRAME_OFFSET;
            assertEquals(2, b.getLong(f));
            assertEquals(0x01020304, b.getInt(f + 8));
            assertEquals((byte) 0xAA, b.get(f + 12));
            assertEquals((byte) 0xBB, b.get(f + 13));
            assertEquals(4096, s.region("m").length());
        }
    }
    /** §5.6: a writer taking over after a torn store publishes an explicit empty value and signals. */
    @Test
    void aTakeOverAfterATornStorePublishesAnEmptyValue() {
        try (Segment s = seg(64)) {
            ByteBuffer b = s.buffer();
            int base = (int) s.region("m").offset();
            try (Mailbox w = s.mailbox("m")) {
                byte[] full = new byte[64];
                Arrays.fill(full, (byte) 0x5a);
                w.store(9, full);
            }
            b.putLong(base + Layout.MAILBOX_SEQ_OFFSET, 3); // odd: a store in progress
            RingTest.forgeDeadOwner(s, base + Layout.MAILBOX_WRITER_OWNER_OFFSET);
            int signal = b.getInt(base + Layout.MAILBOX_SIGNAL_OFFSET);
            b.putInt(base + Layout.MAILBOX_WAITERS_OFFSET, 1); // a reader announced it sleeps
            try (Mailbox w2 = s.mailbox("m"); Mailbox r = s.mailbox("m")) {
                w2.takeWriterSlot();
                assertEquals(4, b.getLong(base + Layout.MAILBOX_SEQ_OFFSET), "even: seq + 1");
                assertTrue(b.getInt(base + Layout.MAILBOX_SIGNAL_OFFSET) != signal, "signalled");
                b.putInt(base + Layout.MAILBOX_WAITERS_OFFSET, 0);
                byte[] dst = new byte[64];
                Arrays.fill(dst, (byte) 1);
                MailboxValue v = r.load(dst);
                assertEquals(2, v.version());
                assertEquals(0, v.status(), "status 0");
                assertArrayEquals(new byte[64], dst, "zero payload");
                w2.store(2, new byte[] {6});
                v = r.load(dst);
                assertEquals(3, v.version());
                assertEquals(2, v.status());
            }
        }
    }
}
