package io.framebridge;

import io.framebridge.internal.Native;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/**
 * A latest-value mailbox (layout.md §4, §5.6): the packed {@code SharedFrame {seq u64, status i32,
 * payload[capacity]}} as a seqlock. One writer (it takes the mailbox writer slot on its first
 * {@link #store}), any number of readers; a reader never sees a torn value.
 */
public final class Mailbox implements AutoCloseable {
    /** Spins on an odd seq before the writer's liveness is checked. */
    private static final int ODD_SPINS_BEFORE_CHECK = 1024;

    private final Segment segment;
    private final ByteBuffer b;
    private final String name;
    private final int base;
    private final int capacity;
    private final int seqOff;
    private final int statusOff;
    private final int payloadOff;
    private final int signalOff;
    private final int waitersOff;
    private final int ownerOff;
    private final int startOff;
    private long owner; // 0 until the first store
    private long s; // last even seq this writer stored
    private boolean closed;

    Mailbox(Segment segment, Region r) {
        this.segment = segment;
        this.b = segment.buffer();
        this.name = r.name();
        this.base = (int) r.offset();
        this.capacity = (int) r.capacity();
        this.seqOff = base + Layout.MAILBOX_SEQ_OFFSET;
        this.statusOff = base + Layout.MAILBOX_STATUS_OFFSET;
        this.payloadOff = base + Layout.MAILBOX_PAYLOAD_OFFSET;
        this.signalOff = base + Layout.MAILBOX_SIGNAL_OFFSET;
        this.waitersOff = base + Layout.MAILBOX_WAITERS_OFFSET;
        this.ownerOff = base + Layout.MAILBOX_WRITER_OWNER_OFFSET;
        this.startOff = base + Layout.MAILBOX_WRITER_START_OFFSET;
    }

    public String name() {
        return name;
    }

    /** Payload bytes of the mailbox. */
    public int capacity() {
        return capacity;
    }

    /** Stores status and payload (the rest of the capacity is zeroed). Takes the writer slot on first use. */
    public void store(int status, byte[] payload) {
        store(status, payload, 0, payload.length);
    }

    public void store(int status, byte[] payload, int off, int len) {
        if (closed) {
            throw new IllegalStateException("mailbox " + name + " is closed");
        }
        if (len < 0 || off < 0 || off > payload.length - len) {
            throw new IndexOutOfBoundsException("payload range " + off + "+" + len + " of " + payload.length);
        }
        if (len > capacity) {
            throw new IllegalArgumentException("mailbox " + name + ": payload of " + len + " bytes exceeds capacity " + capacity);
        }
        if (owner == 0) {
            takeWriterSlot();
        }
        // An atomic read-modify-write, not a store: on weakly ordered CPUs it keeps the plain payload stores
        // below from becoming visible before the odd seq (§5.6).
        Mem.casLong(b, seqOff, s, s + 1);
        b.putInt(statusOff, status);
        b.put(payloadOff, payload, off, len);
        zeroPayloadFrom(len);
        Mem.setLongRelease(b, seqOff, s + 2);
        s += 2;
        EventCount.signal(b, signalOff, waitersOff);
    }

    /**
     * Takes the mailbox writer slot (§7). If the seq is odd, a writer died mid-store: publish an explicit
     * empty value (status 0, zero payload, seq + 1) and signal, so readers stop waiting for a store that never
     * ends (§5.6).
     */
    void takeWriterSlot() {
        long o = Ownership.take(b, ownerOff, startOff);
        if (o == 0) {
            throw new BusyException("mailbox " + name + ": the writer slot is held by a live process (pid "
                    + Ownership.pid(Mem.getLongVolatile(b, ownerOff)) + ")");
        }
        owner = o;
        long cur = Mem.getLongVolatile(b, seqOff);
        if ((cur & 1) != 0) {
            b.putInt(statusOff, 0);
            zeroPayloadFrom(0);
            cur++;
            Mem.setLongVolatile(b, seqOff, cur);
            EventCount.signal(b, signalOff, waitersOff);
        }
        s = cur;
    }

    /** Zeroes payload bytes [from, capacity). */
    private void zeroPayloadFrom(int from) {
        int i = from;
        for (; i < capacity && (i & 7) != 0; i++) {
            b.put(payloadOff + i, (byte) 0);
        }
        for (; i + 8 <= capacity; i += 8) {
            b.putLong(payloadOff + i, 0);
        }
        for (; i < capacity; i++) {
            b.put(payloadOff + i, (byte) 0);
        }
    }

    /**
     * Copies a consistent snapshot: status and {@code min(dst.length, capacity)} payload bytes into dst.
     * Throws {@link PeerDeadException} if a store is in progress and its writer is dead. A live writer that
     * stays mid-store (stopped with SIGSTOP, or hostile) keeps this retrying: use
     * {@link #load(byte[], long, TimeUnit)} to bound the wait.
     */
    public MailboxValue load(byte[] dst) {
        return load0(dst, Long.MAX_VALUE);
    }

    /**
     * {@link #load(byte[])} that gives up after the timeout: throws {@link BusyException} when no consistent
     * value could be read by then (a writer stalled mid-store, or one storing without pause).
     */
    public MailboxValue load(byte[] dst, long timeout, TimeUnit unit) {
        long t = Math.max(0, unit.toNanos(timeout));
        return load0(dst, t);
    }

    /** {@code timeoutNanos}: Long.MAX_VALUE waits without bound. */
    private MailboxValue load0(byte[] dst, long timeoutNanos) {
        int n = Math.min(dst.length, capacity);
        long start = timeoutNanos == Long.MAX_VALUE ? 0 : System.nanoTime();
        int tries = 0;
        int odd = 0;
        for (;;) {
            long s1 = Mem.getLongAcquire(b, seqOff);
            if ((s1 & 1) == 0) {
                int status = b.getInt(statusOff);
                b.get(payloadOff, dst, 0, n);
                // The acquire fence of §5.6: the copy's loads complete before the seq is read again.
                java.lang.invoke.VarHandle.acquireFence();
                long s2 = Mem.getLongAcquire(b, seqOff);
                if (s1 == s2) {
                    return new MailboxValue(s1 >>> 1, status, n);
                }
            } else if (++odd % ODD_SPINS_BEFORE_CHECK == 0 && !Ownership.ownerAlive(b, ownerOff, startOff)) {
                throw new PeerDeadException("mailbox " + name + ": the writer died during a store (seq " + s1 + ")");
            }
            if (++tries % ODD_SPINS_BEFORE_CHECK == 0 && timeoutNanos != Long.MAX_VALUE
                    && System.nanoTime() - start >= timeoutNanos) {
                throw new BusyException("mailbox " + name + ": no consistent value within " + timeoutNanos
                        + " ns: its writer is storing (stalled mid-store, or storing without pause)");
            }
            if (tries < 64) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
        }
    }

    /** The current version ({@code seq / 2}, rounded down while a store is in progress). */
    public long version() {
        return Mem.getLongAcquire(b, seqOff) >>> 1;
    }

    /**
     * Waits until the version differs from {@code seen} (sleeping on the mailbox eventcount), at most the
     * timeout. Returns the new version, or {@code seen} on timeout.
     */
    public long awaitChange(long seen, long timeout, TimeUnit unit) {
        long timeoutNanos = Math.max(0, unit.toNanos(timeout));
        long start = System.nanoTime();
        for (;;) {
            long v = version();
            if (v != seen) {
                return v;
            }
            long left = timeoutNanos - (System.nanoTime() - start);
            if (left <= 0) {
                return seen;
            }
            Mem.getAndAddInt(b, waitersOff, 1);
            try {
                int e = Mem.getIntVolatile(b, signalOff);
                if (version() != seen) {
                    continue;
                }
                Native.futexWait(b, signalOff, e, Math.min(left, Layout.LIVENESS_POLL_NANOS));
            } finally {
                Mem.getAndAddInt(b, waitersOff, -1);
            }
        }
    }

    /** Gives the writer slot up (if this handle stored). Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (owner != 0) {
            Ownership.release(b, ownerOff, owner);
        }
        segment.untrack(this);
    }
}
