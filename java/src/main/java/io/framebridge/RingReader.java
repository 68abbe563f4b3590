package io.framebridge;

import io.framebridge.internal.Native;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The single reader of one ring (Go {@code seg.Reader(ring)}, layout.md §5.3-5.5). {@link #next()} returns
 * a read-only {@link Frame} view in place; {@link #release()} frees every frame returned so far (batch
 * releases). It keeps {@code readPos} and {@code releasedPos} and polls the size word at readPos (the
 * commit flag); every position and record field read from shared memory is loaded once into a local and
 * checked before use. Released bytes are zeroed, so free space reads as "nothing written yet".
 *
 * <ul>
 *   <li>A claimed (negative-size) MPSC record whose writer is dead is turned into padding (§5.4): counted
 *       in {@code AbandonedRecords}, no committed frame is lost.</li>
 *   <li>A malformed record throws {@link CorruptSegmentException} naming position, field and value, counts
 *       {@code BadRecords} and skips to the tail (§5.5). A bad tail is never adopted. Frames returned
 *       before stay valid until {@link #release()}.</li>
 * </ul>
 * One thread at a time. No allocation per frame.
 */
public final class RingReader implements AutoCloseable {
    /** Default spin budget before sleeping (ns). */
    public static final long DEFAULT_SPIN_NANOS = 50_000;

    private static final int FRAME = 0;
    private static final int EMPTY = 1;
    private static final int PENDING = 2;

    private final Segment segment;
    private final ByteBuffer b;
    private final String ring;
    private final boolean mpsc;
    private final int base;
    private final int data;
    private final long capacity;
    private final long mask;
    private final int tailOff;
    private final int headOff;
    private final int dataSignalOff;
    private final int dataWaitersOff;
    private final int spaceSignalOff;
    private final int spaceWaitersOff;
    private final int ownerOff;
    private final long owner;
    private final Frame frame;
    private long spinNanos = DEFAULT_SPIN_NANOS;
    private AtomicBoolean stop;
    private boolean closed;

    private long readPos;
    private long releasedPos;
    /** A frame was returned since the last release (else only padding was read, which we may free). */
    private boolean deliveredSinceRelease;

    // pending (claimed) record at readPos
    private long pendingPos = -1;
    private long pendingCheckedAt;

    // SPSC size word zeroed behind the writer's tail (see zeroPassed)
    /** readPos + 1 where zeroPassed first saw an overwritten size word (0: none). */
    private long zeroAt;
    /** readerWaits then: the second sighting must come after a wait. */
    private long zeroWaits;

    // counters (single writer: plain stores of local copies)
    private long framesRead;
    private long bytesRead;
    private long readerWaits;
    private long readerWakes;
    private long badRecords;
    private long abandoned;

    RingReader(Segment segment, Region r) {
        this.segment = segment;
        this.b = segment.buffer();
        this.ring = r.name();
        this.mpsc = r.kind() == RegionKind.MPSC;
        this.base = (int) r.offset();
        this.data = base + Layout.RING_DATA_OFFSET;
        this.capacity = r.capacity();
        this.mask = r.capacity() - 1;
        this.tailOff = base + Layout.TAIL_POSITION_OFFSET;
        this.headOff = base + Layout.HEAD_POSITION_OFFSET;
        this.dataSignalOff = base + Layout.DATA_SIGNAL_OFFSET;
        this.dataWaitersOff = base + Layout.DATA_WAITERS_OFFSET;
        this.spaceSignalOff = base + Layout.SPACE_SIGNAL_OFFSET;
        this.spaceWaitersOff = base + Layout.SPACE_WAITERS_OFFSET;
        this.ownerOff = base + Layout.READER_OWNER_OFFSET;
        this.frame = new Frame(b, false);
        this.owner = Ownership.take(b, ownerOff, base + Layout.READER_START_OFFSET);
        if (owner == 0) {
            throw new BusyException("ring " + ring + ": the reader slot is held by a live process (pid "
                    + Ownership.pid(Mem.getLongVolatile(b, ownerOff)) + ")");
        }
        try {
            long h = Mem.getLongVolatile(b, headOff);
            if (h < 0 || (h & (Layout.RECORD_ALIGNMENT - 1)) != 0) {
                throw new CorruptSegmentException("ring " + ring + ": head position = " + Long.toUnsignedString(h)
                        + ": want a multiple of 8");
            }
            // §7: finish a release our predecessor died in.
            long to = b.getLong(base + Layout.READER_RELEASE_TO_OFFSET);
            if (to > h && to - h <= capacity && (to & (Layout.RECORD_ALIGNMENT - 1)) == 0) {
                zero(h, to);
                h = to;
                Mem.setLongVolatile(b, headOff, h);
            }
            readPos = h;
            releasedPos = h;
            framesRead = b.getLong(base + Layout.FRAMES_READ_OFFSET);
            bytesRead = b.getLong(base + Layout.BYTES_READ_OFFSET);
            readerWaits = b.getLong(base + Layout.READER_WAITS_OFFSET);
            readerWakes = b.getLong(base + Layout.READER_WAKES_OFFSET);
            badRecords = b.getLong(base + Layout.BAD_RECORDS_OFFSET);
            abandoned = b.getLong(base + Layout.ABANDONED_RECORDS_OFFSET);
        } catch (RuntimeException e) {
            Ownership.release(b, ownerOff, owner);
            throw e;
        }
    }

    /** Spin budget before sleeping, in ns (0: sleep at once). */
    public RingReader spinNanos(long ns) {
        this.spinNanos = Math.max(0, ns);
        return this;
    }

    /**
     * A stop word the caller owns (Go: the {@code stop} of {@code NextUntil}): while it is true, a wait for data
     * ends at once as if its timeout had passed ({@link #next()} and {@link #next(long, TimeUnit)} return null;
     * a committed frame is still returned). To end a wait in another thread, set the word, then call
     * {@link #wakeup()}: the waiter checks the word after it announces itself and before it sleeps, so the wake
     * cannot be lost. Null (the default) for none. Checking it costs a volatile load per poll while waiting.
     */
    public RingReader stopWhen(AtomicBoolean stop) {
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

    /** Position of the next record to read. */
    public long position() {
        return readPos;
    }

    /** Claims of dead writers this ring's readers recovered (the AbandonedRecords counter). */
    public long abandonedRecords() {
        return abandoned;
    }

    /** Records dropped as malformed (the BadRecords counter). */
    public long badRecords() {
        return badRecords;
    }

    /** The next frame if one is committed, else null (also null while the next record is claimed by a live writer). */
    public Frame tryNext() {
        checkOpen();
        return poll(false) == FRAME ? frame : null;
    }

    /** The next frame, waiting as long as it takes (null only when the {@link #stopWhen stop word} is set). */
    public Frame next() {
        return next0(-1);
    }

    /** The next frame, or null after the timeout. */
    public Frame next(long timeout, TimeUnit unit) {
        return next0(Math.max(0, unit.toNanos(timeout)));
    }

    /**
     * Hands every frame available now (at most {@code max}) to the handler, then releases them all.
     * Returns how many frames were handled.
     */
    public int drain(FrameHandler handler, int max) {
        checkOpen();
        int n = 0;
        try {
            while (n < max && poll(false) == FRAME) {
                n++;
                handler.onFrame(frame);
            }
        } finally {
            if (n > 0) {
                release();
            }
        }
        return n;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("ring " + ring + ": reader is closed");
        }
    }

    private Frame next0(long timeoutNanos) {
        checkOpen();
        if (readPos - releasedPos >= capacity && deliveredSinceRelease) {
            // Waiting could never end: the writers wait for this very space (Go: ErrFull from Next).
            throw new RingFullException("ring " + ring + ": the reader holds a whole ring of unreleased frames;"
                    + " call release()");
        }
        int st = poll(false);
        if (st == FRAME) {
            return frame;
        }
        if (timeoutNanos == 0 || stopped()) {
            return null;
        }
        long start = System.nanoTime();
        if (spinNanos > 0) {
            for (int i = 1; ; i++) {
                Thread.onSpinWait();
                st = poll(false);
                if (st == FRAME) {
                    return frame;
                }
                if (stopped()) {
                    return null;
                }
                if ((i & 63) == 0 && System.nanoTime() - start >= spinNanos) { // the clock every 64 tries
                    break;
                }
            }
        }
        for (;;) {
            if (!deliveredSinceRelease && readPos != releasedPos) {
                // Only padding (aborted, abandoned or wrap records) was read since the last release: free it
                // before sleeping, or writers waiting for that space would wait for us forever.
                release();
            }
            Mem.getAndAddInt(b, dataWaitersOff, 1);
            try {
                int e = Mem.getIntVolatile(b, dataSignalOff);
                if (!dataReady(st)) {
                    if (stopped()) { // after announcing and reading the signal: a stopper's wakeup() bumps it
                        return null;
                    }
                    // Bounded too when an SPSC tail is past readPos: a size word overwritten with zero there
                    // (zeroPassed) must be looked at again though the stalled writer never signals.
                    long sleep = st == PENDING || zeroAt != 0
                            || (!mpsc && Long.compareUnsigned(Mem.getLongVolatile(b, tailOff), readPos) > 0)
                                    ? Layout.LIVENESS_POLL_NANOS : -1;
                    if (timeoutNanos > 0) {
                        long left = timeoutNanos - (System.nanoTime() - start);
                        if (left <= 0) {
                            return null;
                        }
                        sleep = sleep < 0 ? left : Math.min(sleep, left);
                    }
                    b.putLong(base + Layout.READER_WAITS_OFFSET, ++readerWaits);
                    Native.futexWait(b, dataSignalOff, e, sleep);
                }
            } finally {
                Mem.getAndAddInt(b, dataWaitersOff, -1);
            }
            st = poll(true); // the slow poll between sleeps (Go: poll(true) before each sleep)
            if (st == FRAME) {
                return frame;
            }
            if (Thread.interrupted()) {
                throw new WaitInterruptedException("ring " + ring + ": interrupted while waiting for data");
            }
            if (timeoutNanos > 0 && System.nanoTime() - start >= timeoutNanos) {
                return null;
            }
        }
    }

    /** §6 step 4 re-check: the size word at readPos (load.sc) became non-zero, or a claim's got committed. */
    private boolean dataReady(int st) {
        int size = Mem.getIntVolatile(b, data + (int) (readPos & mask) + Layout.RECORD_SIZE_OFFSET);
        return st == PENDING ? size >= 0 : size != 0;
    }

    /**
     * Is the zero size word at readPos (data index {@code idx}) one the SPSC writer has committed past? Its
     * tail, stored after each commit's size word, is beyond readPos: only a peer overwriting the size word
     * makes that so, and left alone it would stall a full ring for good (the writer waits for space behind a
     * record the reader never sees). Two sightings at the same position, at least one wait apart, are
     * required, so a tail store seen before its size word (weakly ordered CPUs) is not taken for corruption.
     */
    private boolean zeroPassed(int idx) {
        long t = Mem.getLongVolatile(b, tailOff);
        if (!(Long.compareUnsigned(t, readPos) > 0 && Long.compareUnsigned(t - releasedPos, capacity) <= 0
                && (t & (Layout.RECORD_ALIGNMENT - 1)) == 0)
                || Mem.getIntVolatile(b, data + idx + Layout.RECORD_SIZE_OFFSET) != 0) { // re-loaded after the tail
            zeroAt = 0;
            return false;
        }
        if (zeroAt == readPos + 1 && readerWaits != zeroWaits) {
            zeroAt = 0;
            return true;
        }
        if (zeroAt != readPos + 1) {
            zeroAt = readPos + 1;
            zeroWaits = readerWaits;
        }
        return false;
    }

    /**
     * §5.3: one step of the reader, from the size word at readPos alone (the commit flag). Returns FRAME
     * (frame set), EMPTY or PENDING (a live writer's claim). {@code slow}: the poll between sleeps, which
     * also checks an SPSC zero size word against the tail ({@link #zeroPassed}).
     */
    private int poll(boolean slow) {
        for (;;) {
            final long pos = readPos;
            if (pos - releasedPos >= capacity) {
                // The whole data area holds records read but not released: the size word at readPos is the
                // oldest unreleased record's, not a new one. Nothing more can arrive until release().
                if (!deliveredSinceRelease) {
                    release(); // only padding was read: free it ourselves
                    continue;
                }
                return EMPTY;
            }
            final int idx = (int) (pos & mask);
            final int at = data + idx;
            final int raw = Mem.getIntAcquire(b, at + Layout.RECORD_SIZE_OFFSET);
            if (raw == 0) {
                if (slow && !mpsc && zeroPassed(idx)) {
                    throw bad(pos, "size", 0, "zero where the writer's tail says a record was committed"
                            + " (its size word was overwritten)");
                }
                freePadding();
                return EMPTY;
            }
            final long size = raw < 0 ? -(long) raw : raw;
            if ((size & (Layout.RECORD_ALIGNMENT - 1)) != 0 || size < Layout.MIN_RECORD_SIZE) {
                throw bad(pos, "size", raw, "want a multiple of 8, >= 8");
            }
            if (size > capacity - idx) {
                throw bad(pos, "size", raw, "record at index " + idx + " would cross the end of the "
                        + capacity + "-byte data area");
            }
            // Writers never write past head + capacity (head == releasedPos), so a record that would end
            // beyond it is malformed; this also bounds how far one call walks through padding.
            if (pos + size - releasedPos > capacity) {
                throw bad(pos, "size", raw, "record would end " + (pos + size - releasedPos)
                        + " bytes past the released position, more than the capacity " + capacity);
            }
            if (raw < 0) {
                if (!mpsc) {
                    throw bad(pos, "size", raw, "negative (claimed) size in an SPSC ring");
                }
                if (size < Layout.RECORD_HEADER_LENGTH) {
                    throw bad(pos, "size", raw, "a claimed record needs >= " + Layout.RECORD_HEADER_LENGTH);
                }
                int token = b.getInt(at + Layout.RECORD_WRITER_OFFSET);
                if (writerDead(pos, token)) {
                    // The verdict came after the size load: the writer may have committed, then left its slot
                    // (or exited), in between. A dead writer stores nothing more, so look again.
                    if (Mem.getIntVolatile(b, at + Layout.RECORD_SIZE_OFFSET) != raw) {
                        pendingPos = -1;
                        continue;
                    }
                    // §5.4: type 0 then the positive size: a padding record; no committed record is touched.
                    b.putInt(at + Layout.RECORD_TYPE_OFFSET, Layout.PADDING_TYPE);
                    Mem.setIntRelease(b, at + Layout.RECORD_SIZE_OFFSET, (int) size);
                    b.putLong(base + Layout.ABANDONED_RECORDS_OFFSET, ++abandoned);
                    pendingPos = -1;
                    continue;
                }
                freePadding();
                return PENDING;
            }
            final int type = b.getInt(at + Layout.RECORD_TYPE_OFFSET);
            if (type == Layout.PADDING_TYPE) {
                readPos = pos + size;
                continue;
            }
            if (size < Layout.RECORD_HEADER_LENGTH) {
                throw bad(pos, "size", size, "a frame record needs >= " + Layout.RECORD_HEADER_LENGTH);
            }
            final long length = Integer.toUnsignedLong(b.getInt(at + Layout.RECORD_LENGTH_OFFSET));
            if (length > size - Layout.RECORD_HEADER_LENGTH) {
                throw bad(pos, "length", length, "record size " + size + " holds at most " + (size - Layout.RECORD_HEADER_LENGTH));
            }
            final long sequence = b.getLong(at + Layout.RECORD_SEQUENCE_OFFSET);
            frame.set(at + Layout.RECORD_HEADER_LENGTH, (int) length, type, sequence);
            deliveredSinceRelease = true;
            readPos = pos + size;
            b.putLong(base + Layout.FRAMES_READ_OFFSET, ++framesRead);
            b.putLong(base + Layout.BYTES_READ_OFFSET, bytesRead += length);
            return FRAME;
        }
    }

    /**
     * If only padding was read since the last release, release it now (no frame view can be affected):
     * writers waiting for that space must not wait for a reader that waits for a frame (layout.md §5.3).
     */
    private void freePadding() {
        if (!deliveredSinceRelease && readPos != releasedPos) {
            release();
        }
    }

    /** Is the writer named by a claimed record's token dead (§5.4)? /proc is read at most every LivenessPoll. */
    private boolean writerDead(long pos, int token) {
        if (Ownership.tokenEpochStale(b, base, token)) { // also a slot index outside the table: never a live writer
            return true;
        }
        long now = System.nanoTime();
        if (pendingPos == pos && now - pendingCheckedAt < Layout.LIVENESS_POLL_NANOS) {
            return false;
        }
        pendingPos = pos;
        pendingCheckedAt = now;
        return Ownership.tokenDead(b, base, token);
    }

    /**
     * §5.5: count, skip to the published tail (only if {@code readPos < tail <= releasedPos + capacity},
     * 8-aligned; zeroing only the skipped bytes [readPos, tail), so frames the caller still holds stay
     * valid; released only if no frame was delivered since the last release), and report. Otherwise stay and report again.
     */
    private CorruptSegmentException bad(long pos, String field, long value, String want) {
        b.putLong(base + Layout.BAD_RECORDS_OFFSET, ++badRecords);
        pendingPos = -1;
        long t = Mem.getLongVolatile(b, tailOff);
        String what;
        // Writers never write past head + capacity, and head == releasedPos.
        if (Long.compareUnsigned(t, readPos) > 0 && Long.compareUnsigned(t - releasedPos, capacity) <= 0
                && (t & (Layout.RECORD_ALIGNMENT - 1)) == 0) {
            // Zero only what is skipped: frames delivered before stay valid until the caller's release().
            zero(readPos, t);
            readPos = t;
            freePadding(); // releases only if no frame was delivered since the last release
            what = "; skipped to the writers' tail " + t;
        } else {
            what = "; the tail (" + t + ") is not usable, the reader stays";
        }
        return new CorruptSegmentException("ring " + ring + ": record at position " + pos + ": " + field + " = " + value
                + ": " + want + what);
    }

    /**
     * Frees every frame returned so far (§5.3): ReleaseTo, zero the released bytes (free space reads as
     * zero), {@code store.sc(head, readPos)}, then wake writers waiting for space.
     */
    public void release() {
        frame.invalidate();
        deliveredSinceRelease = false;
        if (readPos != releasedPos) {
            b.putLong(base + Layout.READER_RELEASE_TO_OFFSET, readPos);
            zero(releasedPos, readPos);
            releasedPos = readPos;
            Mem.setLongVolatile(b, headOff, readPos);
            if (EventCount.signal(b, spaceSignalOff, spaceWaitersOff)) {
                b.putLong(base + Layout.READER_WAKES_OFFSET, ++readerWakes);
            }
        }
    }

    /** Zeroes the data bytes of positions [from, to) (to - from <= capacity), wrapping at the end. */
    private void zero(long from, long to) {
        Zero.positions(b, data, capacity, from, to);
    }

    /** Wakes this ring's reader if it sleeps, so it re-checks (and sees an interrupt). */
    public void wakeup() {
        EventCount.wakeAll(b, dataSignalOff);
    }

    /** Releases what was read and gives the reader slot up. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        release();
        closed = true;
        Ownership.release(b, ownerOff, owner);
        segment.untrack(this);
    }
}
