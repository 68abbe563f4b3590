package io.framebridge.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Slot.expire, the deadline's way out of PENDING: the slot must not become FREE until its waiter and parked
 * are cleared, or a caller that takes it at once has them cleared under it and misses its wake-up.
 */
class SlotExpireTest {
    @Test
    void expireFreesAPendingSlotAndClearsIt() {
        Slot s = new Slot();
        assertTrue(s.state.compareAndSet(Slot.FREE, Slot.RESERVED));
        s.pend(7, Thread.currentThread());
        s.parked = true;
        assertTrue(s.expire());
        assertEquals(Slot.FREE, s.state.get());
        assertNull(s.waiter);
        assertFalse(s.parked);
        assertFalse(s.expire(), "a FREE slot is not expired again");
    }

    @Test
    void expireLeavesASlotThatIsNoLongerPending() {
        for (int st : new int[] {Slot.RESERVED, Slot.DELIVERING, Slot.DONE, Slot.FAILED}) {
            Slot s = new Slot();
            s.pend(7, Thread.currentThread());
            s.state.set(st);
            assertFalse(s.expire(), "state " + st);
            assertEquals(st, s.state.get());
            assertSame(Thread.currentThread(), s.waiter, "state " + st);
        }
    }

    /**
     * Threads (more than the cores, so one is sometimes preempted mid-expiry) hand one slot round: each takes
     * it as soon as it is FREE, pends and announces itself parked as a follower does, looks a little later
     * whether its fields are still its own, and expires the call. With the slot freed before its fields were
     * cleared (the old order), the next taker finds them cleared.
     */
    @Test
    void aSlotTakenAsSoonAsItIsFreeKeepsItsWaiter() throws InterruptedException {
        Slot s = new Slot();
        int threads = Math.max(3, Runtime.getRuntime().availableProcessors() + 1);
        int rounds = 200_000;
        AtomicLong corr = new AtomicLong();
        AtomicLong lost = new AtomicLong();
        AtomicReference<String> fail = new AtomicReference<>();
        Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            ts[t] = new Thread(() -> {
                Thread me = Thread.currentThread();
                for (int n = 0, busy = 0; n < rounds && fail.get() == null; ) {
                    if (s.state.get() != Slot.FREE || !s.state.compareAndSet(Slot.FREE, Slot.RESERVED)) {
                        if ((++busy & 1023) == 0) {
                            Thread.yield(); // the holder may be preempted: let it run on a busy machine
                        } else {
                            Thread.onSpinWait();
                        }
                        continue;
                    }
                    s.pend(corr.incrementAndGet(), me);
                    s.parked = true;
                    for (int k = 0; k < 32; k++) { // the previous owner's late stores, if any, land meanwhile
                        Thread.onSpinWait();
                    }
                    if (s.waiter != me || !s.parked) {
                        lost.incrementAndGet();
                    }
                    s.parked = false;
                    if (!s.expire()) {
                        fail.compareAndSet(null, "expire refused a slot its caller holds pending");
                        return;
                    }
                    n++;
                }
            }, "slot-taker-" + t);
            ts[t].start();
        }
        for (Thread t : ts) {
            t.join();
        }
        assertNull(fail.get());
        assertEquals(0, lost.get(), "callers whose waiter/parked were cleared by the slot's previous call");
        assertEquals(Slot.FREE, s.state.get());
    }
}
