package io.framebridge;

import java.nio.ByteBuffer;
import java.nio.ReadOnlyBufferException;

/**
 * A reusable, garbage-free view of one frame's payload inside the mapped segment (Go {@code Frame{Data,
 * Type, Seq}}). A reader's frame is read-only and valid until {@link RingReader#release()}; a writer's
 * frame is writable and valid until commit or abort. Every accessor is bounds-checked against
 * {@link #length()}: a frame can never read or write outside itself.
 *
 * <p>The same object is returned for every frame of a reader or writer: copy what you keep. After
 * {@code release()} (reader) or {@code commit()}/{@code abort()} (writer) the view is empty and every
 * access throws {@link IndexOutOfBoundsException}.
 */
public final class Frame {
    private final ByteBuffer buf;
    private final boolean writable;
    private int offset;
    private int length;
    private int type;
    private long sequence;
    /** Reader frames: a read-only duplicate of the mapping for {@link #inPlaceBuffer()} (made once). */
    private ByteBuffer inPlace;

    Frame(ByteBuffer segment, boolean writable) {
        this.buf = segment;
        this.writable = writable;
    }

    /** The whole mapped segment (package use: typed writers slice their claim from it). */
    ByteBuffer segmentBuffer() {
        return buf;
    }

    void set(int offset, int length, int type, long sequence) {
        this.offset = offset;
        this.length = length;
        this.type = type;
        this.sequence = sequence;
    }

    /** Makes the view empty: every access throws, so a stale view cannot touch the ring. */
    void invalidate() {
        this.offset = 0;
        this.length = 0;
        this.type = 0;
        this.sequence = 0;
    }

    /** Payload bytes (for a claim: the claimed size). */
    public int length() {
        return length;
    }

    /** Frame type (1..2^31-1 for user frames). */
    public int type() {
        return type;
    }

    /** Sequence number in the ring (1, 2, 3, ...); 0 for a claim not yet committed. */
    public long sequence() {
        return sequence;
    }

    /** Offset of the payload in the segment (for use with a buffer from {@link #byteBuffer()}). */
    public int segmentOffset() {
        return offset;
    }

    private int at(int index, int width) {
        if (index < 0 || index > length - width) {
            throw new IndexOutOfBoundsException("index " + index + " + " + width + " outside frame of " + length + " bytes");
        }
        return offset + index;
    }

    private int wat(int index, int width) {
        if (!writable) {
            throw new ReadOnlyBufferException();
        }
        return at(index, width);
    }

    public byte getByte(int index) {
        return buf.get(at(index, 1));
    }

    public short getShort(int index) {
        return buf.getShort(at(index, 2));
    }

    public int getInt(int index) {
        return buf.getInt(at(index, 4));
    }

    public long getLong(int index) {
        return buf.getLong(at(index, 8));
    }

    /** Copies {@code len} payload bytes from {@code index} into {@code dst[dstOff..]}. */
    public void getBytes(int index, byte[] dst, int dstOff, int len) {
        if (len < 0 || dstOff < 0 || dstOff > dst.length - len) {
            throw new IndexOutOfBoundsException("dst range " + dstOff + "+" + len + " of " + dst.length);
        }
        buf.get(at(index, len), dst, dstOff, len);
    }

    /** Copies the whole payload into a new array (allocates). */
    public byte[] toArray() {
        byte[] a = new byte[length];
        getBytes(0, a, 0, length);
        return a;
    }

    public Frame putByte(int index, byte v) {
        buf.put(wat(index, 1), v);
        return this;
    }

    public Frame putShort(int index, short v) {
        buf.putShort(wat(index, 2), v);
        return this;
    }

    public Frame putInt(int index, int v) {
        buf.putInt(wat(index, 4), v);
        return this;
    }

    public Frame putLong(int index, long v) {
        buf.putLong(wat(index, 8), v);
        return this;
    }

    /** Copies {@code src[srcOff..srcOff+len)} to payload bytes from {@code index}. */
    public Frame putBytes(int index, byte[] src, int srcOff, int len) {
        if (len < 0 || srcOff < 0 || srcOff > src.length - len) {
            throw new IndexOutOfBoundsException("src range " + srcOff + "+" + len + " of " + src.length);
        }
        buf.put(wat(index, len), src, srcOff, len);
        return this;
    }

    public Frame putBytes(int index, byte[] src) {
        return putBytes(index, src, 0, src.length);
    }

    /** Copies another frame's payload (e.g. to echo it) to payload bytes from {@code index}. */
    public Frame putFrame(int index, Frame src) {
        int to = wat(index, src.length);
        buf.put(to, src.buf, src.offset, src.length);
        return this;
    }

    /**
     * A little-endian ByteBuffer over exactly this payload (position 0, limit {@link #length()}); read-only
     * for a reader's frame. Allocates a small object: use it for libraries that want a ByteBuffer
     * (e.g. FlatBuffers), the accessors above on the hot path.
     */
    public ByteBuffer byteBuffer() {
        ByteBuffer s = buf.slice(offset, length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        return writable ? s : s.asReadOnlyBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * A reader's frame as a read-only little-endian ByteBuffer <em>without allocating</em>: one buffer
     * object per reader (the same on every call), over the mapping, with {@code position()} = the payload's
     * first byte and {@code limit()} = just past its last. Absolute accessors take segment offsets, as the
     * FlatBuffers runtime uses them ({@code Envelope.getRootAsEnvelope(frame.inPlaceBuffer(), env)} reads
     * in place). Reads past the frame's end throw; reads before its start are not prevented by the buffer,
     * so verify a frame before handing it to generated accessors ({@code io.framebridge.frames}). Valid,
     * like the frame, until {@link RingReader#release()}; the next {@code next()} repositions it.
     *
     * @throws UnsupportedOperationException for a writer's claim (use {@link #byteBuffer()})
     */
    public ByteBuffer inPlaceBuffer() {
        if (writable) {
            throw new UnsupportedOperationException("inPlaceBuffer is for frames read from a ring; a claim has byteBuffer()");
        }
        ByteBuffer v = inPlace;
        if (v == null) {
            v = buf.asReadOnlyBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN);
            inPlace = v;
        }
        v.limit(offset + length).position(offset);
        return v;
    }

    @Override
    public String toString() {
        return "Frame{type=" + type + ", seq=" + sequence + ", length=" + length + "}";
    }
}
