package io.framebridge;

import io.framebridge.internal.Native;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A writer of one ring (Go {@code seg.Writer(ring)}): {@link #claim} reserves space for a frame and
 * returns a writable {@link Frame} view inside the ring, {@link #commit} publishes it (possibly shorter),
 * {@link #abort} gives it up.
 *
 * <p>SPSC (layout.md §5.1): the writer owns writer slot 0 and keeps its own tail; a claim writes nothing
 * shared; a commit stores the record, then its size word (the commit flag the reader polls), then the tail. MPSC (§5.2): the writer owns one of 64 writer slots; claims are
 * serialised by a claim lock holding the writer token (stolen from a dead holder), claimed records carry
 * a negative size until committed, so a writer killed mid-frame is recovered by the reader (§5.4).
 *
 * <p>Waiting for space (§6): spin for the spin budget, then sleep on the space eventcount (a JNI futex
 * call only then). One thread at a time per writer object; use one writer per thread for MPSC fan-in.
 * No allocation per frame.
 */
public final class RingWriter implements AutoCloseable {
    /** Default spin budget before sleeping (ns). */
    public static final long DEFAULT_SPIN_NANOS = 50_000;

    private final Segment segment;
    private final ByteBuffer b;
    private final String ring;
    private final boolean mpsc;
    private final int base;
    private final int data;
    private final int capacity;
    private final long mask;
    private final long maxPayload;
    private final int tailOff;
    private final int headOff;
    private final int lockOff;
    private final int nextSeqOff;
    private final int spaceSignalOff;
    private final int spaceWaitersOff;
    private final int dataSignalOff;
    private final int dataWaitersOff;
    private final int slot;
    private final int slotOwnerOff;
    private final long owner;
    private final int token;
    private final Frame frame;
    private long spinNanos = DEFAULT_SPIN_NANOS;
    private AtomicBoolean stop;

    // SPSC writer state (§5.1)
    private long tail;
    private long headCache;
    private long seq;
    private long framesWritten;
    private long bytesWritten;
    private long fullStalls;
    private long writerWaits;
    private long writerWakes;

    // the current claim
    private boolean claimed;
    private int recIdx; // data-area index of the claimed record
    private int pad; // padding before it (SPSC: published with the commit)
    private int claimSize; // MPSC: the claimed record size
    private int claimN;
    private int claimType;

    // MPSC wait condition
    private long waitHead;
    private long needSpace;
    private boolean closed;
    private int lastSize; // SPSC: the size of the last record committed (warmNext)

    RingWriter(Segment segment, Region r) {
        this.segment = segment;
        this.b = segment.buffer();
        this.ring = r.name();
        this.mpsc = r.kind() == RegionKind.MPSC;
        this.base = (int) r.offset();
        this.data = base + Layout.RING_DATA_OFFSET;
        this.capacity = (int) r.capacity();
        this.mask = r.capacity() - 1;
        this.maxPayload = Layout.maxPayload(r.capacity());
        this.tailOff = base + Layout.TAIL_POSITION_OFFSET;
        this.headOff = base + Layout.HEAD_POSITION_OFFSET;
        this.lockOff = base + Layout.CLAIM_LOCK_OFFSET;
        this.nextSeqOff = base + Layout.NEXT_SEQUENCE_OFFSET;
        this.spaceSignalOff = base + Layout.SPACE_SIGNAL_OFFSET;
        this.spaceWaitersOff = base + Layout.SPACE_WAITERS_OFFSET;
        this.dataSignalOff = base + Layout.DATA_SIGNAL_OFFSET;
        this.dataWaitersOff = base + Layout.DATA_WAITERS_OFFSET;
        this.frame = new Frame(b, true);

        int taken = -1;
        long o = 0;
        int slots = mpsc ? Layout.MAX_WRITERS : 1;
        for (int i = 0; i < slots && taken < 0; i++) {
            int off = base + Layout.WRITER_SLOTS_OFFSET + i * Layout.WRITER_SLOT_LENGTH;
            o = Ownership.take(b, off + Layout.WRITER_SLOT_OWNER_OFFSET, off + Layout.WRITER_SLOT_START_OFFSET);
            if (o != 0) {
                taken = i;
            }
        }
        if (taken < 0) {
            throw new BusyException("ring " + ring + ": " + (mpsc ? "all " + Layout.MAX_WRITERS + " writer slots are"
                    : "the writer slot is") + " held by live processes");
        }
        this.slot = taken;
        this.slotOwnerOff = base + Layout.WRITER_SLOTS_OFFSET + taken * Layout.WRITER_SLOT_LENGTH
                + Layout.WRITER_SLOT_OWNER_OFFSET;
        this.owner = o;
        this.token = Ownership.token(taken, o);
        if (!mpsc) {
            try {
                // Resume after a previous writer: its tail, plus anything it committed without publishing it.
                adopt();
                // A predecessor killed between claim and commit may have filled its claim: free space must
                // read as zero again before our records' size words land inside those bytes (§5.1).
                Zero.positions(b, data, capacity, tail, headCache + capacity);
                long s = b.getLong(nextSeqOff);
                seq = s == 0 ? 1 : s;
                framesWritten = b.getLong(base + Layout.FRAMES_WRITTEN_OFFSET);
                bytesWritten = b.getLong(base + Layout.BYTES_WRITTEN_OFFSET);
                fullStalls = b.getLong(base + Layout.FULL_STALLS_OFFSET);
                writerWaits = b.getLong(base + Layout.WRITER_WAITS_OFFSET);
                writerWakes = b.getLong(base + Layout.WRITER_WAKES_OFFSET);
            } catch (RuntimeException e) {
                Ownership.release(b, slotOwnerOff, owner);
                throw e;
            }
        }
    }

    /**
     * §5.2.1: publishes records a dead writer wrote beyond the tail without publishing it. Callers hold the
     * writer role (the SPSC slot, or the MPSC claim lock). Sets {@code tail} and {@code headCache}.
     */
    private void adopt() {
        long t = Mem.getLongVolatile(b, tailOff);
        long h = Mem.getLongVolatile(b, headOff);
        long orig = t;
        if (t < 0 || h < 0) { // positions are u64 counters that never reach 2^63
            checkPositions(t, h);
        }
        long nextSeq = b.getLong(nextSeqOff);
        for (;;) {
            if (headPastTail(h, t)) {
                t = h; // the reader consumed records the tail never covered
            }
            checkPositions(t, h);
            for (;;) {
                int idx = (int) (t & mask);
                int v = Mem.getIntAcquire(b, data + idx + Layout.RECORD_SIZE_OFFSET);
                long size = v < 0 ? -(long) v : v;
                if (v == 0 || (size & (Layout.RECORD_ALIGNMENT - 1)) != 0 || size > capacity - idx || t + size - h > capacity) {
                    break;
                }
                if (size >= Layout.RECORD_HEADER_LENGTH) {
                    // An adopted record took a sequence number its writer may not have published in NextSequence.
                    long rs = b.getLong(data + idx + Layout.RECORD_SEQUENCE_OFFSET);
                    if (rs != 0 && Long.compareUnsigned(rs, nextSeq) >= 0) {
                        nextSeq = rs + 1;
                    }
                }
                t += size;
            }
            // The reader may have recovered and released what stood at the tail meanwhile (zero again, head
            // past it): follow it.
            long h2 = Mem.getLongVolatile(b, headOff);
            if (!headPastTail(h2, t)) {
                break;
            }
            h = h2;
        }
        if (t != orig) {
            Mem.setLongVolatile(b, tailOff, t);
        }
        b.putLong(nextSeqOff, nextSeq);
        tail = t;
        headCache = h;
    }

    /** {@code head > tail}, at most a capacity past it and 8-aligned (unsigned compares, as in Go). */
    private boolean headPastTail(long h, long t) {
        return Long.compareUnsigned(h, t) > 0 && Long.compareUnsigned(h - t, capacity) <= 0
                && (h & (Layout.RECORD_ALIGNMENT - 1)) == 0;
    }

    /** tail - capacity <= head <= tail, both multiples of 8 and non-negative. */
    private void checkPositions(long t, long h) {
        if (t < 0 || (t & (Layout.RECORD_ALIGNMENT - 1)) != 0) {
            throw new CorruptSegmentException("ring " + ring + ": tail position = " + t + ": want a non-negative multiple of 8");
        }
        if (h < 0 || (h & (Layout.RECORD_ALIGNMENT - 1)) != 0 || h > t || t - h > capacity) {
            throw new CorruptSegmentException("ring " + ring + ": head position = " + h + ": want in [tail-capacity, tail] = ["
                    + (t - capacity) + ", " + t + "] and a multiple of 8");
        }
    }

    /** Spin budget before sleeping, in ns (0: sleep at once). */
    public RingWriter spinNanos(long ns) {
        this.spinNanos = Math.max(0, ns);
        return this;
    }

    /**
     * A stop word the caller owns (Go: the {@code stop} of {@code AwaitRelease}): while it is true, a wait for
     * space ends at once as if its timeout had passed (the claim returns null, also the untimed
     * {@link #claim(int, int)}; a claim that fits is still made). To end a wait in another thread, set the
     * word, then call {@link #wakeup()}: the waiter checks it after it announces itself and before it sleeps,
     * so the wake cannot be lost. Null (the default) for none.
     */
    public RingWriter stopWhen(AtomicBoolean stop) {
        this.stop = stop;
        return this;
    }

    private boolean stopped() {
        AtomicBoolean s = stop;
        return s != null && s.get();
    }

    public String ring() {
        return ring;
    }

    public boolean isMpsc() {
        return mpsc;
    }

    /** Writer slot index this writer holds. */
    public int slot() {
        return slot;
    }

    /** Largest payload this ring accepts (capacity/2 - 24, rounded down to 8). */
    public int maxPayload() {
        return (int) maxPayload;
    }

    /**
     * Claims {@code n} payload bytes for a frame of {@code type}, waiting as long as the ring is full (null only
     * when the {@link #stopWhen stop word} is set).
     */
    public Frame claim(int type, int n) {
        return claim0(type, n, -1);
    }

    /** Like {@link #claim(int, int)} but gives up after the timeout: returns null if still full. */
    public Frame claim(int type, int n, long timeout, TimeUnit unit) {
        return claim0(type, n, Math.max(0, unit.toNanos(timeout)));
    }

    /** Claims without waiting: null if the ring is full. */
    public Frame tryClaim(int type, int n) {
        return claim0(type, n, 0);
    }

    private Frame claim0(int type, int n, long timeoutNanos) {
        if (closed) {
            throw new IllegalStateException("ring " + ring + ": writer is closed");
        }
        if (claimed) {
            throw new IllegalStateException("ring " + ring + ": a claim is outstanding; commit or abort it first");
        }
        if (type <= 0) {
            throw new IllegalArgumentException("frame type " + Integer.toUnsignedString(type)
                    + ": user types are 1..2^31-1 (0 is padding)");
        }
        if (n < 0 || n > maxPayload) {
            throw new IllegalArgumentException("ring " + ring + ": payload of " + n + " bytes; this ring takes 0.." + maxPayload);
        }
        int size = (int) Layout.align8(Layout.RECORD_HEADER_LENGTH + (long) n);
        return mpsc ? claimMpsc(type, n, size, timeoutNanos) : claimSpsc(type, n, size, timeoutNanos);
    }

    private Frame claimSpsc(int type, int n, int size, long timeoutNanos) {
        int idx = (int) (tail & mask);
        int p = idx + size > capacity ? capacity - idx : 0;
        needSpace = (long) p + size;
        if (capacity - (tail - headCache) < needSpace) {
            refreshHead(Mem.getLongAcquire(b, headOff));
            if (capacity - (tail - headCache) < needSpace) {
                b.putLong(base + Layout.FULL_STALLS_OFFSET, ++fullStalls);
                if (!waitSpace(timeoutNanos, System.nanoTime())) {
                    return null;
                }
            }
        }
        // A claim writes nothing shared: the padding, if any, is written by commit (§5.1).
        pad = p;
        recIdx = p > 0 ? 0 : idx;
        return claimed(type, n, size, 0);
    }

    private void refreshHead(long h) {
        if (h < 0 || (h & (Layout.RECORD_ALIGNMENT - 1)) != 0 || h > tail || tail - h > capacity) {
            throw new CorruptSegmentException("ring " + ring + ": head position = " + h
                    + ": want a multiple of 8 in [tail-capacity, tail] = [" + (tail - capacity) + ", " + tail + "]");
        }
        headCache = h;
    }

    private Frame claimed(int type, int n, int size, long sequence) {
        claimed = true;
        claimSize = size;
        claimN = n;
        claimType = type;
        frame.set(data + recIdx + Layout.RECORD_HEADER_LENGTH, n, type, sequence);
        return frame;
    }

    private Frame claimMpsc(int type, int n, int size, long timeoutNanos) {
        long start = timeoutNanos > 0 ? System.nanoTime() : 0;
        boolean stalled = false;
        for (;;) {
            if (lock()) {
                try {
                    adopt(); // the dead holder may have left records beyond the tail
                } catch (RuntimeException e) {
                    Mem.setIntVolatile(b, lockOff, 0);
                    throw e;
                }
            }
            long t;
            long h;
            int idx;
            int p;
            try {
                t = Mem.getLongVolatile(b, tailOff);
                h = Mem.getLongAcquire(b, headOff);
                if (headPastTail(h, t)) {
                    // The reader recovered and released a dead lock holder's claim that never reached the
                    // tail (layout.md §5.2): continue from the head.
                    t = h;
                    Mem.setLongVolatile(b, tailOff, t);
                }
                checkPositions(t, h);
                idx = (int) (t & mask);
                p = idx + size > capacity ? capacity - idx : 0;
            } catch (RuntimeException e) {
                Mem.setIntVolatile(b, lockOff, 0);
                throw e;
            }
            if (capacity - (t - h) < (long) p + size) {
                Mem.setIntVolatile(b, lockOff, 0);
                if (!stalled) {
                    stalled = true;
                    Mem.getAndAddLong(b, base + Layout.FULL_STALLS_OFFSET, 1);
                }
                waitHead = h;
                long left = timeoutNanos;
                if (timeoutNanos > 0) {
                    left = timeoutNanos - (System.nanoTime() - start);
                    if (left <= 0) {
                        return null;
                    }
                }
                if (!waitSpace(left, System.nanoTime())) {
                    return null;
                }
                continue;
            }
            if (p > 0) {
                int at = data + idx;
                b.putInt(at + Layout.RECORD_TYPE_OFFSET, Layout.PADDING_TYPE);
                if (p >= Layout.RECORD_HEADER_LENGTH) {
                    b.putInt(at + Layout.RECORD_LENGTH_OFFSET, 0);
                    b.putInt(at + Layout.RECORD_WRITER_OFFSET, token);
                    b.putLong(at + Layout.RECORD_SEQUENCE_OFFSET, 0);
                }
                Mem.setIntRelease(b, at + Layout.RECORD_SIZE_OFFSET, p);
            }
            recIdx = p > 0 ? 0 : idx;
            int at = data + recIdx;
            long s = b.getLong(nextSeqOff);
            if (s == 0) {
                s = 1;
            }
            b.putInt(at + Layout.RECORD_TYPE_OFFSET, type);
            b.putInt(at + Layout.RECORD_LENGTH_OFFSET, 0);
            b.putInt(at + Layout.RECORD_WRITER_OFFSET, token);
            b.putLong(at + Layout.RECORD_SEQUENCE_OFFSET, s);
            b.putLong(nextSeqOff, s + 1);
            Mem.setIntRelease(b, at + Layout.RECORD_SIZE_OFFSET, -size);
            Mem.setLongVolatile(b, tailOff, t + p + size);
            Mem.setIntVolatile(b, lockOff, 0);
            pad = 0;
            return claimed(type, n, size, s);
        }
    }

    /**
     * §5.2 step 1: CAS the claim lock from 0 to our token, yielding every 64 attempts; every 1024 attempts
     * steal it from a dead holder. Returns true if it was stolen (the caller must adopt, §5.2.1).
     */
    private boolean lock() {
        int attempts = 0;
        while (!Mem.casInt(b, lockOff, 0, token)) {
            attempts++;
            if ((attempts & 1023) == 0) {
                int h = Mem.getIntVolatile(b, lockOff);
                if (h != 0 && Ownership.tokenDead(b, base, h) && Mem.casInt(b, lockOff, h, token)) {
                    return true;
                }
            }
            if ((attempts & 63) == 0) {
                Thread.yield(); // let a preempted holder run
            } else {
                Thread.onSpinWait();
            }
        }
        return false;
    }

    private boolean spaceReady() {
        long h = Mem.getLongVolatile(b, headOff);
        if (mpsc) {
            return h != waitHead;
        }
        refreshHead(h);
        return capacity - (tail - headCache) >= needSpace;
    }

    /**
     * §6 waiting side for space. timeoutNanos: 0 = do not wait, < 0 = no limit. Sleeps are bounded by
     * LivenessPoll so the writer keeps re-checking. Returns false on timeout.
     */
    private boolean waitSpace(long timeoutNanos, long start) {
        if (timeoutNanos == 0) {
            return false;
        }
        if (spinNanos > 0) {
            for (int i = 1; ; i++) {
                if (spaceReady()) {
                    return true;
                }
                if (stopped()) {
                    return false;
                }
                Thread.onSpinWait();
                if ((i & 63) == 0 && System.nanoTime() - start >= spinNanos) { // the clock every 64 tries
                    break;
                }
            }
        }
        for (;;) {
            Mem.getAndAddInt(b, spaceWaitersOff, 1);
            try {
                int e = Mem.getIntVolatile(b, spaceSignalOff);
                if (spaceReady()) {
                    return true;
                }
                if (stopped()) { // after announcing and reading the signal: a stopper's wakeup() bumps it
                    return false;
                }
                long ro = Mem.getLongVolatile(b, base + Layout.READER_OWNER_OFFSET);
                if (Ownership.pid(ro) != 0
                        && !Ownership.ownerAlive(b, base + Layout.READER_OWNER_OFFSET, base + Layout.READER_START_OFFSET)) {
                    throw new PeerDeadException("ring " + ring + ": reader pid " + Ownership.pid(ro)
                            + " died with the ring full; a new reader continues from its last release");
                }
                long sleep = Layout.LIVENESS_POLL_NANOS;
                if (timeoutNanos > 0) {
                    long left = timeoutNanos - (System.nanoTime() - start);
                    if (left <= 0) {
                        return false;
                    }
                    sleep = Math.min(sleep, left);
                }
                if (mpsc) {
                    Mem.getAndAddLong(b, base + Layout.WRITER_WAITS_OFFSET, 1);
                } else {
                    b.putLong(base + Layout.WRITER_WAITS_OFFSET, ++writerWaits);
                }
                Native.futexWait(b, spaceSignalOff, e, sleep);
            } finally {
                Mem.getAndAddInt(b, spaceWaitersOff, -1);
            }
            if (spaceReady()) {
                return true;
            }
            if (Thread.interrupted()) {
                throw new WaitInterruptedException("ring " + ring + ": interrupted while waiting for space");
            }
            if (timeoutNanos > 0 && System.nanoTime() - start >= timeoutNanos) {
                return false;
            }
        }
    }

    /** Publishes the whole claim. */
    public void commit() {
        commit(claimN);
    }

    /** Publishes the first {@code m <= n} claimed bytes (a partial commit). */
    public void commit(int m) {
        if (!claimed) {
            throw new IllegalStateException("ring " + ring + ": commit without a claim");
        }
        if (m < 0 || m > claimN) {
            throw new IllegalArgumentException("commit of " + m + " bytes; the claim has " + claimN);
        }
        int at = data + recIdx;
        frame.invalidate();
        if (mpsc) {
            b.putInt(at + Layout.RECORD_TYPE_OFFSET, claimType);
            b.putInt(at + Layout.RECORD_LENGTH_OFFSET, m);
            Mem.setIntVolatile(b, at + Layout.RECORD_SIZE_OFFSET, claimSize);
            claimed = false;
            Mem.getAndAddLong(b, base + Layout.FRAMES_WRITTEN_OFFSET, 1);
            Mem.getAndAddLong(b, base + Layout.BYTES_WRITTEN_OFFSET, m);
            if (EventCount.signal(b, dataSignalOff, dataWaitersOff)) {
                Mem.getAndAddLong(b, base + Layout.WRITER_WAKES_OFFSET, 1);
            }
        } else {
            int size = (int) Layout.align8(Layout.RECORD_HEADER_LENGTH + (long) m);
            if (m < claimN) {
                // The record shrinks: payload bytes past m are free space again and must read as zero (§5.1).
                Zero.range(b, at + Layout.RECORD_HEADER_LENGTH, m, claimN);
            }
            b.putInt(at + Layout.RECORD_TYPE_OFFSET, claimType);
            b.putInt(at + Layout.RECORD_LENGTH_OFFSET, m);
            b.putInt(at + Layout.RECORD_WRITER_OFFSET, 0);
            b.putLong(at + Layout.RECORD_SEQUENCE_OFFSET, seq);
            if (pad > 0) {
                int padAt = data + (int) (tail & mask);
                b.putInt(padAt + Layout.RECORD_TYPE_OFFSET, Layout.PADDING_TYPE);
                if (pad >= Layout.RECORD_HEADER_LENGTH) {
                    b.putInt(padAt + Layout.RECORD_LENGTH_OFFSET, 0);
                    b.putInt(padAt + Layout.RECORD_WRITER_OFFSET, 0);
                    b.putLong(padAt + Layout.RECORD_SEQUENCE_OFFSET, 0);
                }
                Mem.setIntRelease(b, padAt + Layout.RECORD_SIZE_OFFSET, pad);
            }
            // The size word is the commit flag the reader polls (§5.1 step 3).
            Mem.setIntRelease(b, at + Layout.RECORD_SIZE_OFFSET, size);
            seq++;
            b.putLong(nextSeqOff, seq);
            lastSize = size;
            tail += pad + size;
            claimed = false;
            Mem.setLongVolatile(b, tailOff, tail);
            b.putLong(base + Layout.FRAMES_WRITTEN_OFFSET, ++framesWritten);
            b.putLong(base + Layout.BYTES_WRITTEN_OFFSET, bytesWritten += m);
            if (EventCount.signal(b, dataSignalOff, dataWaitersOff)) {
                b.putLong(base + Layout.WRITER_WAKES_OFFSET, ++writerWakes);
            }
        }
    }

    /** Most cache lines {@link #warmNext} takes: a call's next request or response, not a whole burst. */
    static final int WARM_LINES = 8;

    /**
     * SPSC hint for a writer about to wait for something else (a client for its response; Go
     * {@code Writer.WarmNext}, C++ {@code PrefetchNext}): takes ownership, ahead of time, of the cache lines
     * where the next record of the same size as the last one committed will be written. The reader zeroes
     * what it releases (layout.md §5.1), which leaves those lines in its cache; without this, laying the next
     * record waits for them one by one and the commit's fence for all of them. Only free space this writer
     * owns is touched (below the cached head + capacity) and no byte changes (an atomic add of zero); the
     * line holding the size word at the tail is left alone: the reader is polling it. MPSC rings: no-op.
     */
    public void warmNext() {
        if (mpsc || claimed || closed || lastSize == 0) {
            return;
        }
        long t = tail;
        int size = lastSize;
        long start = (t & mask) + size > capacity ? t + (capacity - (t & mask)) : t; // a record that would wrap starts at 0
        long end = Math.min(start + size, headCache + capacity);
        long first = start > t ? start & ~63L : (t | 63) + 1; // the line after the tail's
        for (int n = 0; first < end && n < WARM_LINES; first += 64, n++) {
            Mem.getAndAddInt(b, data + (int) (first & mask), 0);
        }
    }

    /** Gives the claim up: SPSC zeroes the claimed bytes (nothing was published); MPSC turns it into padding. */
    public void abort() {
        if (!claimed) {
            throw new IllegalStateException("ring " + ring + ": abort without a claim");
        }
        claimed = false;
        frame.invalidate();
        if (!mpsc) {
            // The caller may have filled the claim; it is free space again (§5.1).
            Zero.range(b, data + recIdx + Layout.RECORD_HEADER_LENGTH, 0, claimN);
        }
        if (mpsc) {
            int at = data + recIdx;
            b.putInt(at + Layout.RECORD_TYPE_OFFSET, Layout.PADDING_TYPE);
            Mem.setIntVolatile(b, at + Layout.RECORD_SIZE_OFFSET, claimSize);
            if (EventCount.signal(b, dataSignalOff, dataWaitersOff)) {
                Mem.getAndAddLong(b, base + Layout.WRITER_WAKES_OFFSET, 1);
            }
        }
    }

    /** True while a claim is outstanding. */
    public boolean hasClaim() {
        return claimed;
    }

    /** Wakes every writer of this ring sleeping for space so it re-checks (and sees an interrupt). */
    public void wakeup() {
        EventCount.wakeAll(b, spaceSignalOff);
    }

    /** Aborts an outstanding claim and gives the writer slot up. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (claimed) {
            abort();
        }
        closed = true;
        Ownership.release(b, slotOwnerOff, owner);
        segment.untrack(this);
    }
}
