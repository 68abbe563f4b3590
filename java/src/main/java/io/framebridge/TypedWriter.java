package io.framebridge;

import com.google.flatbuffers.FlatBufferBuilder;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;

/**
 * Builds FlatBuffers frames in place in a ring ({@code docs/schemas.md}, "Typed frames in a ring"): a
 * reused {@link FlatBufferBuilder} writes straight into the claimed ring space, no intermediate buffer and
 * no copy.
 *
 * <pre>{@code
 * TypedWriter tw = new TypedWriter(seg.writer("requests"));
 * tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> {
 *     int name = b.createString("risk");
 *     ...
 *     return Envelope.createEnvelope(b, ...);   // the root table; build() finishes the buffer
 * });
 * }</pre>
 *
 * <p>How (docs/schemas.md, type 16): claim {@code L} bytes ({@link #bound()}, a multiple of 16, adapted
 * to the sizes built); hand the builder a little-endian slice of bytes {@code [8, L)} of the claim; the
 * builder writes back to front, so the body (tables, vtables, strings, vectors) ends the claim; the
 * buffer is not finished: the writer puts the root table's position at payload offset 0 and the file
 * identifier at 4 itself, and commits {@code L}. The payload is then a standard FlatBuffers buffer any
 * reader opens at offset 0; the gap between the prefix and the body is never referenced. (As the Go
 * writer: a minimal envelope fits a 64-byte claim.)
 *
 * <p>Fallback: when the builder outgrows the claim, its {@code ByteBufferFactory} hands it a heap buffer
 * (the builder copies what it built there and goes on); at the end the claim is aborted and a claim of
 * the right size takes a copy. Counted in {@link #fallbacks()}; the bound grows so the next frame of that
 * size is built in place again. The build function is called exactly once per frame.
 *
 * <p>Garbage: none per frame in steady state. The builder is reused ({@code init}); its vtable arrays grow
 * once. A ByteBuffer slice per claim position is made once and cached (up to {@link #MAX_CACHED_SLICES}
 * positions, keyed by offset): a stream of frames whose bound is stable revisits the same positions every
 * lap of the ring, so after the first lap no slice is allocated ({@link #sliceAllocations()}). Strings
 * you encode ({@code createString}) allocate nothing; what your build function allocates is yours.
 *
 * <p>One thread at a time, like the {@link RingWriter} it wraps (which stays usable for raw frames).
 */
public final class TypedWriter {
    /** Default first bound, in bytes. */
    public static final int DEFAULT_BOUND = 256;
    /** Most claim positions whose slice is kept (per writer). */
    public static final int MAX_CACHED_SLICES = 8192;
    /** Frames between two decisions to shrink the bound to the recent peak. */
    static final int SHRINK_WINDOW = 256;

    /** Builds one buffer: add what the frame holds and return the root table's offset. Do not call finish. */
    @FunctionalInterface
    public interface BuildFunction {
        int build(FlatBufferBuilder builder);
    }

    private final RingWriter w;
    private final int maxBound;
    private final FlatBufferBuilder fbb;
    private final Factory factory;

    private int bound;
    private int peak;
    private int window;

    // the slice cache: open addressing on the payload's segment offset, for slices of length cacheLen
    private final int[] keys;
    private final ByteBuffer[] slices;
    private final int cacheMask;
    private final int cacheShift;
    private int cacheCount;
    private int cacheLen = -1;

    private long frames;
    private long fallbacks;
    private long sliceAllocations;
    private long bytes;
    private int lastSize;

    /** A typed writer over {@code w} with the default first bound. */
    public TypedWriter(RingWriter w) {
        this(w, DEFAULT_BOUND);
    }

    /** A typed writer over {@code w}; {@code firstBound}: the first claim's size (rounded up to 16). */
    public TypedWriter(RingWriter w, int firstBound) {
        this.w = w;
        this.maxBound = w.maxPayload() & -16;
        if (maxBound < 16) {
            throw new IllegalArgumentException("ring " + w.ring() + " is too small for typed frames");
        }
        this.bound = clampBound(firstBound);
        this.factory = new Factory(2L * maxBound);
        int entries = Math.min(MAX_CACHED_SLICES, Math.max(16, maxBound / 16));
        int tableSize = Integer.highestOneBit(entries * 2 - 1) << 1;
        this.keys = new int[tableSize];
        this.slices = new ByteBuffer[tableSize];
        this.cacheMask = tableSize - 1;
        this.cacheShift = 32 - Integer.numberOfTrailingZeros(tableSize);
        java.util.Arrays.fill(keys, -1);
        this.fbb = new FlatBufferBuilder(ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN), factory);
    }

    private int clampBound(int n) {
        long b = ((long) Math.max(n, 16) + 15) & -16L;
        return (int) Math.min(b, maxBound);
    }

    /** The ring writer underneath. */
    public RingWriter ringWriter() {
        return w;
    }

    /**
     * Builds one frame of {@code type} in place and commits it, waiting as long as the ring is full.
     * {@code fileIdentifier}: the schema's 4-character identifier ({@code "FRB1"} for frame.fbs), or null
     * for none. Returns the committed payload length. An exception from {@code fn} aborts the claim and
     * propagates.
     *
     * @throws IllegalArgumentException if the built buffer exceeds the ring's largest payload
     */
    public int build(int type, String fileIdentifier, BuildFunction fn) {
        return build0(type, fileIdentifier, fn, -1);
    }

    /** Like {@link #build(int, String, BuildFunction)}; returns -1 (without calling fn) if the ring stays
     * full for the timeout. (A frame that falls back to a bigger claim waits for that claim's space.) Also -1
     * when the ring writer's stop word ({@link RingWriter#stopWhen}) ends a wait.
     */
    public int build(int type, String fileIdentifier, BuildFunction fn, long timeout, TimeUnit unit) {
        return build0(type, fileIdentifier, fn, Math.max(0, unit.toNanos(timeout)));
    }

    private Frame claim(int type, int n, long timeoutNanos) {
        if (timeoutNanos < 0) {
            return w.claim(type, n);
        }
        return timeoutNanos == 0 ? w.tryClaim(type, n) : w.claim(type, n, timeoutNanos, TimeUnit.NANOSECONDS);
    }

    /** Bytes [0, 8) of a type-16 payload: the root offset and the file identifier. */
    static final int PREFIX = 8;

    private int build0(int type, String id, BuildFunction fn, long timeoutNanos) {
        if (id != null && id.length() != 4) {
            throw new IllegalArgumentException("file identifier \"" + id + "\": want 4 characters");
        }
        int L = bound;
        Frame f = claim(type, L, timeoutNanos);
        if (f == null) {
            return -1;
        }
        // The builder gets [8, L) of the claim; it writes back to front, so its offsets from the end are
        // offsets from the payload's end (a multiple of 16): every alignment holds relative to the payload.
        ByteBuffer slice = slice(f.segmentBuffer(), f.segmentOffset() + PREFIX, L - PREFIX);
        factory.reset();
        int root;
        int s;
        try {
            fbb.init(slice, factory);
            root = fn.build(fbb);
            s = fbb.offset(); // body bytes, ending the builder's buffer
            if (root <= 0 || root > s) {
                throw new IllegalArgumentException("build function returned " + root + ": want the offset of a table it built"
                        + " (1.." + s + ")");
            }
        } catch (RuntimeException | Error e) {
            w.abort();
            throw e;
        }
        if (!factory.grew) {
            // In place: the body ends the claim; the prefix makes the payload a standard buffer (no finish()).
            prefix(f.segmentBuffer(), f.segmentOffset(), L - root, id);
            w.commit(L);
        } else {
            // Fallback: the builder went on in a heap buffer; copy the body to the end of a claim that fits.
            w.abort();
            fallbacks++;
            if ((long) s + PREFIX > maxBound) {
                throw new IllegalArgumentException("typed frame of " + (s + PREFIX) + " bytes: ring " + w.ring()
                        + " takes at most " + maxBound);
            }
            ByteBuffer built = factory.last; // the builder's buffer now (dataBuffer() wants a finished buffer)
            int n = clampBound(s + PREFIX);
            Frame g = w.claim(type, n); // waits for space even under a timeout: the frame is built
            if (g == null) {
                return -1; // the writer's stop word ended the wait: the frame is dropped
            }
            int at = g.segmentOffset();
            ByteBuffer seg = g.segmentBuffer();
            seg.put(at + n - s, built, built.capacity() - s, s);
            prefix(seg, at, n - root, id);
            w.commit(n);
            L = n;
        }
        frames++;
        bytes += L;
        lastSize = s + PREFIX;
        adapt(s + PREFIX, factory.grew);
        return L;
    }

    /**
     * Writes the Envelope {@code l} lays out ({@link io.framebridge.frames.EnvelopeLayout}: no builder, the
     * Raw payload copied from its source) as one type-16 frame of exactly {@code l.size()} bytes, and
     * commits it. Waits up to {@code timeout} for ring space (0: not at all); returns the committed length,
     * or -1 if the ring stayed full (or the ring writer's stop word ended the wait). Leaves the bound of
     * {@link #build} alone. Counted in {@link #frames()} and {@link #bytes()}.
     *
     * @throws IllegalArgumentException if the envelope exceeds the ring's largest payload
     */
    public int writeEnvelope(io.framebridge.frames.EnvelopeLayout l, long timeout, TimeUnit unit) {
        int n = l.size();
        if (n > maxBound) {
            throw new IllegalArgumentException("envelope of " + n + " bytes: ring " + w.ring() + " takes at most " + maxBound);
        }
        Frame f = claim(io.framebridge.frames.Envelopes.TYPE, n, Math.max(0, unit.toNanos(timeout)));
        if (f == null) {
            return -1;
        }
        try {
            l.write(f.segmentBuffer(), f.segmentOffset());
        } catch (RuntimeException | Error e) {
            w.abort();
            throw e;
        }
        w.commit(n);
        frames++;
        bytes += n;
        lastSize = n;
        return n;
    }

    /** Root offset (the root table's position in the payload) at 0, the identifier at 4. */
    private static void prefix(ByteBuffer seg, int at, int rootPos, String id) {
        seg.putInt(at, rootPos);
        if (id != null) {
            for (int i = 0; i < 4; i++) {
                seg.put(at + 4 + i, (byte) id.charAt(i));
            }
        }
    }

    /**
     * Grows the bound at once after a fallback (to the frame + 25%); once per {@link #SHRINK_WINDOW} frames
     * shrinks it to the window's largest frame + 1/16 if that is smaller. Bound changes are rare in a
     * steady stream (each one costs a lap of new slices), the gap stays within ~6% + 15 bytes.
     */
    private void adapt(int s, boolean grew) {
        if (s > peak) {
            peak = s;
        }
        if (grew) {
            bound = clampBound(s + s / 4);
            return;
        }
        if (++window >= SHRINK_WINDOW) {
            int want = clampBound(peak + peak / 16);
            if (want < bound) {
                bound = want;
            }
            window = 0;
            peak = 0;
        }
    }

    /** A little-endian slice of the segment {@code [off, off + len)}: cached per offset for the current length. */
    private ByteBuffer slice(ByteBuffer seg, int off, int len) {
        if (len != cacheLen) {
            java.util.Arrays.fill(keys, -1);
            java.util.Arrays.fill(slices, null);
            cacheCount = 0;
            cacheLen = len;
        }
        int i = (off * 0x9E3779B1) >>> cacheShift; // Fibonacci hashing: positions k*R spread evenly
        for (;;) {
            int k = keys[i];
            if (k == off) {
                return slices[i];
            }
            if (k == -1) {
                break;
            }
            i = (i + 1) & cacheMask;
        }
        sliceAllocations++;
        ByteBuffer s = seg.slice(off, len).order(ByteOrder.LITTLE_ENDIAN);
        if (cacheCount < (cacheMask + 1) / 2) { // at most half full: probes stay short
            keys[i] = off;
            slices[i] = s;
            cacheCount++;
        }
        return s;
    }

    /** The claim size the next frame starts with (a multiple of 16). */
    public int bound() {
        return bound;
    }

    /** Frames committed. */
    public long frames() {
        return frames;
    }

    /** Frames that outgrew their claim and were copied into a bigger one. */
    public long fallbacks() {
        return fallbacks;
    }

    /** Claim slices created (cache misses); flat in steady state. */
    public long sliceAllocations() {
        return sliceAllocations;
    }

    /** Payload bytes committed (incl. gaps). */
    public long bytes() {
        return bytes;
    }

    /** Size of the last frame as a standard buffer: its body plus the 8-byte prefix (without the gap). */
    public int lastSize() {
        return lastSize;
    }

    /**
     * The builder's buffer factory: called only when the builder outgrows the claim. Hands out a reused
     * heap buffer (a fresh one if it grows twice in one frame).
     */
    private static final class Factory extends FlatBufferBuilder.ByteBufferFactory {
        private final long max;
        private ByteBuffer scratch;
        /** The last buffer handed out: the builder's buffer after it grew. */
        ByteBuffer last;
        boolean grew;

        Factory(long max) {
            this.max = max;
        }

        void reset() {
            grew = false;
        }

        @Override
        public ByteBuffer newByteBuffer(int capacity) {
            if (capacity > max) { // the builder doubles: a frame that fits needs at most 2x the largest payload
                throw new IllegalArgumentException("typed frame outgrows the ring: the builder asks for " + capacity
                        + " bytes; the ring's largest payload is " + max / 2);
            }
            ByteBuffer b = scratch;
            if (grew || b == null || b.capacity() < capacity) {
                b = ByteBuffer.allocate(capacity).order(ByteOrder.LITTLE_ENDIAN);
                scratch = b;
            }
            grew = true;
            last = b;
            return b;
        }
    }
}
