package io.framebridge.channel;

import io.framebridge.frames.EnvelopeReader;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One call in flight on a {@link FrameClient}: its correlation id, the thread waiting for it, and a
 * private buffer a leader copies its response into when another thread received it. Slots are made once
 * and reused, so a call allocates nothing in steady state.
 *
 * <p>States: FREE -> RESERVED (the caller writes {@code corr}, {@code waiter}) -> PENDING (request may be
 * on the ring) -> DELIVERING (a leader took it: copying, or reading it in place for its own call) -> DONE
 * (copy ready) -> FREE; PENDING -> FAILED (the connection died) -> FREE; PENDING -> RESERVED -> FREE
 * (deadline, {@link #expire}).
 * Every transition out of PENDING is a CAS, so exactly one of "response", "deadline" and "death" wins.
 */
final class Slot {
    static final int FREE = 0;
    static final int RESERVED = 1;
    static final int PENDING = 2;
    static final int DELIVERING = 3;
    static final int DONE = 4;
    static final int FAILED = 5;

    final AtomicInteger state = new AtomicInteger(FREE);
    /** Written before the ordered store of PENDING, read after a volatile load of it. */
    long corr;
    volatile Thread waiter;
    /** True while the waiter is (about to be) parked: a leader that delivers to it unparks it only then. */
    volatile boolean parked;
    byte[] buf = new byte[512];
    ByteBuffer bb = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
    int len;
    final EnvelopeReader er = new EnvelopeReader();

    /** Makes room for an n-byte copy (allocates only when a response is bigger than any before). */
    void ensure(int n) {
        if (buf.length < n) {
            buf = new byte[Math.max(n, buf.length * 2)];
            bb = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    /**
     * RESERVED -> PENDING for call {@code c} of {@code t}. Ordered stores, no fence: the caller takes the write
     * lock (a CAS) next, and its request's commit, a release store, comes after them.
     */
    void pend(long c, Thread t) {
        corr = c;
        WAITER.setRelease(this, t);
        state.lazySet(PENDING);
    }

    /** Back to FREE (by the call's own thread): ordered stores, no fence (a reserving CAS sees FREE soon enough). */
    void free() {
        WAITER.setRelease(this, null);
        PARKED.setRelease(this, false);
        state.lazySet(FREE);
    }

    /**
     * PENDING -> FREE for a call that gave up, by its own thread; false if the slot was no longer pending
     * (delivered, delivering or failed). Held as RESERVED while waiter and parked are cleared: a slot already
     * FREE could be taken by another caller, and the clearing would then land on that caller's fields (a
     * lost wake-up: it would sleep until its park timed out). A late response finds it not PENDING and is
     * dropped.
     */
    boolean expire() {
        if (state.get() != PENDING || !state.compareAndSet(PENDING, RESERVED)) {
            return false;
        }
        free();
        return true;
    }

    private static final VarHandle WAITER;
    private static final VarHandle PARKED;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            WAITER = l.findVarHandle(Slot.class, "waiter", Thread.class);
            PARKED = l.findVarHandle(Slot.class, "parked", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
}
