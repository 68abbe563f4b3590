package io.framebridge.frames;

import io.framebridge.CorruptFrameException;
import io.framebridge.frames.fb.Payload;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * {@link Envelopes#verify} for a reader that sees envelopes of one shape again and again, as a channel's
 * client and server do (Go {@code frames.Opener}). After a full verification it remembers the envelope's
 * structure: every byte the verifier's decisions rest on (the root offset, identifier, vtable and the
 * table's soffset, and for a {@code Raw} payload its union offset and type, table soffset, vtable and data
 * offset), and how long a frame must be to hold it. A frame whose structure is the same byte for byte, that
 * is at least that long, and whose {@code Raw} length fits inside it would pass the verifier exactly as the
 * remembered one did, so it is accepted after those comparisons alone; anything else goes through the full
 * verifier, whose verdict and message it gets.
 *
 * <p>Only envelopes without a status message or trace, whose scalars lie inside their table and whose
 * payload is absent or {@code Raw}, are remembered (another shape leaves the memory as it is). The shape is
 * learned from a private copy that is verified again, so a writer that changes the frame while it is read
 * cannot make an unverified structure remembered. The verifier's depth and table limits are checked on every
 * frame. One thread at a time; allocates nothing once its copy buffer has grown.
 */
public final class Opener {
    /** Most bytes of an envelope's head (root offset .. table soffset) remembered. */
    static final int MAX_HEAD = 256;
    /** Most bytes of a Raw vtable remembered. */
    static final int MAX_RAW_VTABLE = 32;
    /** Largest frame a shape is learned from (it is copied and verified again). */
    static final int MAX_LEARN = 4096;

    // Envelope fields by vtable slot (4 + 2 * id): the size of a scalar, 0 for an offset field.
    private static final int[] SCALAR_SIZE = {8, 4, 0, 1, 8, 8, 0, 1, 0};
    private static final int PAYLOAD_TYPE_SLOT = 18;
    private static final int PAYLOAD_SLOT = 20;

    private boolean valid;
    /** Every position below is relative to the frame's start. */
    private int minLen;
    private int root;
    private final long[] head = new long[MAX_HEAD / 8];
    private int headLen;
    private int depth;
    private int payAt; // the payload's uoffset; 0: no payload
    private int payOff;
    private int typeAt;
    private int rawT;
    private int rawSoff;
    private int rawVtAt;
    private final short[] rawVt = new short[MAX_RAW_VTABLE / 2];
    private int rawVsize;
    private int dataAt; // Raw.data's uoffset; 0: no data field
    private int dataOff;
    private int vec;
    private byte[] copy = new byte[0];
    private ByteBuffer copyBuf = ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN);

    /**
     * Verifies the Envelope buffer {@code bb[start, end)} (absolute positions, little-endian) as
     * {@link Envelopes#verify} does, with the same verdict for every input, and returns its root table's position.
     *
     * @throws CorruptFrameException if anything an accessor could read is out of place
     */
    public int open(FlatVerifier v, ByteBuffer bb, int start, int end) {
        if (valid && same(v, bb, start, end)) {
            return start + root;
        }
        int r = Envelopes.verify(v, bb, start, end);
        learn(v, bb, start, end);
        return r;
    }

    /** Does {@code bb[start, end)} have the remembered structure (and the verifier the limits it needs)? */
    private boolean same(FlatVerifier v, ByteBuffer bb, int start, int end) {
        int n = end - start;
        if (start < 0 || n < minLen || end > bb.capacity() || bb.order() != ByteOrder.LITTLE_ENDIAN
                || v.maxDepth() < depth || v.maxTables() < depth) { // as many tables as levels here
            return false;
        }
        int i = 0;
        for (; i + 8 <= headLen; i += 8) {
            if (bb.getLong(start + i) != head[i >> 3]) {
                return false;
            }
        }
        if (i < headLen && bb.getInt(start + i) != (int) head[i >> 3]) { // headLen is a multiple of 4
            return false;
        }
        if (payAt == 0) {
            return true;
        }
        if (bb.getInt(start + payAt) != payOff || bb.get(start + typeAt) != Payload.Raw || bb.getInt(start + rawT) != rawSoff) {
            return false;
        }
        for (int k = 0; 2 * k < rawVsize; k++) {
            if (bb.getShort(start + rawVtAt + 2 * k) != rawVt[k]) {
                return false;
            }
        }
        if (dataAt == 0) {
            return true;
        }
        if (bb.getInt(start + dataAt) != dataOff) {
            return false;
        }
        long len = bb.getInt(start + vec); // signed, as the verifier reads it
        return len >= 0 && vec + 4 + len <= n;
    }

    /**
     * Remembers the structure of {@code bb[start, end)}, which the verifier accepted, if it is a shape this
     * handles: from a private copy verified again (the frame may change under us), else nothing changes.
     */
    private void learn(FlatVerifier v, ByteBuffer bb, int start, int end) {
        int n = end - start;
        if (n > MAX_LEARN) {
            return;
        }
        if (copy.length < n) {
            copy = new byte[Math.max(n, 256)];
            copyBuf = ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN);
        }
        ByteBuffer c = copyBuf;
        c.put(0, bb, start, n);
        try {
            Envelopes.verify(v, c, 0, n);
        } catch (CorruptFrameException e) {
            return; // the frame changed since it was verified: remember nothing from it
        }
        int rt = c.getInt(0);
        if (rt + 4 > MAX_HEAD) {
            return;
        }
        long vtl = (long) rt - c.getInt(rt);
        if (vtl < 8 || vtl > rt - 4) {
            return; // a vtable elsewhere than between the identifier and the table
        }
        int vt = (int) vtl;
        int vsize = Short.toUnsignedInt(c.getShort(vt));
        int tsize = Short.toUnsignedInt(c.getShort(vt + 2));
        if (vt + vsize > rt) {
            return;
        }
        int min = rt + Math.max(4, tsize);
        for (int id = 0; id < SCALAR_SIZE.length; id++) {
            int fo = slot(c, vt, vsize, 4 + 2 * id);
            if (fo == 0 || 4 + 2 * id == PAYLOAD_SLOT) {
                continue;
            }
            if (SCALAR_SIZE[id] == 0 || fo + SCALAR_SIZE[id] > tsize) {
                return; // a status message, a trace, or a scalar beyond the table
            }
        }
        int pay = 0;
        int po = 0;
        int ty = 0;
        int t = 0;
        int ts = 0;
        int rvAt = 0;
        int rvsize = 0;
        int da = 0;
        int dOff = 0;
        int vc = 0;
        int fo = slot(c, vt, vsize, PAYLOAD_SLOT);
        if (fo != 0) {
            int to = slot(c, vt, vsize, PAYLOAD_TYPE_SLOT);
            if (to == 0 || c.get(rt + to) != Payload.Raw) {
                return;
            }
            pay = rt + fo;
            ty = rt + to;
            po = c.getInt(pay);
            t = pay + po; // verified: inside the copy
            ts = c.getInt(t);
            rvAt = (int) ((long) t - ts);
            rvsize = Short.toUnsignedInt(c.getShort(rvAt));
            if (rvsize > MAX_RAW_VTABLE) {
                return;
            }
            min = Math.max(min, Math.max(pay + 4, Math.max(t + 4, rvAt + Math.max(2, rvsize))));
            int dfo = slot(c, rvAt, rvsize, 4);
            if (dfo != 0) {
                da = t + dfo;
                dOff = c.getInt(da);
                vc = da + dOff;
                min = Math.max(min, Math.max(da + 4, vc + 4));
            }
        }
        // All checks passed: remember.
        valid = false;
        root = rt;
        headLen = rt + 4;
        for (int i = 0; i < headLen; i += 8) {
            head[i >> 3] = i + 8 <= headLen ? c.getLong(i) : c.getInt(i);
        }
        depth = pay == 0 ? 1 : 2;
        payAt = pay;
        payOff = po;
        typeAt = ty;
        rawT = t;
        rawSoff = ts;
        rawVtAt = rvAt;
        rawVsize = rvsize;
        for (int k = 0; 2 * k < rvsize; k++) {
            rawVt[k] = c.getShort(rvAt + 2 * k);
        }
        dataAt = da;
        dataOff = dOff;
        vec = vc;
        minLen = min;
        valid = true;
    }

    /** Field offset in vtable slot {@code vo} of the vtable at {@code vt} (size {@code vsize}), 0 if absent. */
    private static int slot(ByteBuffer c, int vt, int vsize, int vo) {
        return vo + 2 <= vsize ? Short.toUnsignedInt(c.getShort(vt + vo)) : 0;
    }
}
