package io.framebridge.frames;

import io.framebridge.frames.fb.Payload;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * An Envelope laid out by hand (the Java twin of Go's {@code frames.Writer.BuildEnvelope} and C++'s
 * {@code typed::LayEnvelope}; docs/schemas.md "Go: building an Envelope"): an Envelope whose payload is
 * {@code Raw} (or none), with its status message and trace, written straight into a claimed ring slice
 * without a {@code FlatBufferBuilder}. The result is an ordinary type-16 buffer (root offset and
 * {@code "FRB1"} at 0) that {@link Envelopes#verify} and every language's verifier accept and read like
 * one made by a builder. The byte layout is C++'s, front to back:
 *
 * <pre>
 *   0     4      8                       p (8-aligned)                         te
 *   | root | FRB1 | Envelope vtable:      | soffset = p - 8 | 4-byte fields | pad | 8-byte fields |
 *   |  = p |      | vsize, tsize, slots   | 1-byte fields |
 *   te: [Raw vtable 6, 8, 4 | pad | Raw table: soffset, uoffset 4 | u32 n | n bytes | pad to 4]
 *       [status_message: u32 n | n bytes | 0 | pad to 4]
 *       [TraceContext vtable | pad | table: soffset, uoffsets | traceparent string | tracestate string]
 *       zero padding to a multiple of 16 (the committed size)
 * </pre>
 *
 * Only present fields get a vtable slot (zero scalars are left out, as builders leave out defaults) and the
 * vtable ends at the last present field. Every byte of {@code [0, size())} is written (padding as zero),
 * so the same fields always give the same bytes.
 *
 * <p>Use: {@link #reset()}, set the fields, then {@link io.framebridge.TypedWriter#writeEnvelope} (or
 * {@link #size()} and {@link #write(ByteBuffer, int)} on a buffer of your own). Strings and the Raw payload
 * are copied from the sources given (a {@code byte[]} range or an absolute {@code ByteBuffer} range, e.g.
 * the request's bytes in the ring); the sources must stay unchanged until the write. No garbage per frame
 * (but {@link #statusMessage(String)} encodes its string). One thread at a time.
 */
public final class EnvelopeLayout {
    /** The largest string or Raw payload taken, in bytes. */
    public static final int MAX_FIELD = 1 << 30;

    // Envelope field ids (vtable slot 4 + 2 * id) of schemas/frame.fbs; EnvelopeLayoutTest reads every
    // field of every subset back through the generated accessors.
    static final int SEQUENCE = 0;
    static final int STATUS = 1;
    static final int STATUS_MESSAGE = 2;
    static final int KIND = 3;
    static final int CORRELATION_ID = 4;
    static final int DEADLINE = 5;
    static final int TRACE = 6;
    static final int PAYLOAD_TYPE = 7;
    static final int PAYLOAD = 8;
    static final int COUNT = 9;

    /** Bytes [0, 8): the root offset and the file identifier; the Envelope vtable starts after them. */
    static final int VTABLE = 8;
    /** The Raw table's vtable: 6 bytes (vsize, tsize, one slot), a table of 8 bytes, {@code data} at 4. */
    static final int RAW_VSIZE = 6;
    static final int RAW_TSIZE = 8;
    static final int RAW_DATA_AT = 4;

    private static final int IDENTIFIER = ('F') | ('R' << 8) | ('B' << 16) | ('1' << 24);

    /** A byte string to copy: from a byte[] range or an absolute ByteBuffer range. */
    private static final class Src {
        boolean present;
        byte[] array;
        ByteBuffer buf;
        int pos;
        int len;

        void clear() {
            present = false;
            array = null;
            buf = null;
            pos = 0;
            len = 0;
        }

        void set(byte[] a, int off, int n) {
            if (off < 0 || n < 0 || off > a.length - n) {
                throw new IndexOutOfBoundsException("range " + off + "+" + n + " of " + a.length + " bytes");
            }
            checkLen(n);
            present = true;
            array = a;
            buf = null;
            pos = off;
            len = n;
        }

        void set(ByteBuffer b, int at, int n) {
            if (at < 0 || n < 0 || at > b.limit() - n) {
                throw new IndexOutOfBoundsException("range " + at + "+" + n + " of a buffer limited to " + b.limit());
            }
            checkLen(n);
            present = true;
            array = null;
            buf = b;
            pos = at;
            len = n;
        }

        void copyTo(ByteBuffer dst, int at) {
            if (len == 0) {
                return;
            }
            if (array != null) {
                dst.put(at, array, pos, len);
            } else {
                dst.put(at, buf, pos, len);
            }
        }

        private static void checkLen(int n) {
            if (n > MAX_FIELD) {
                throw new IllegalArgumentException("envelope field of " + n + " bytes: at most " + MAX_FIELD);
            }
        }
    }

    // the fields
    private long sequence;
    private int status;
    private byte kind;
    private long correlationId;
    private long deadlineUnixNano;
    private final Src message = new Src();
    private boolean trace;
    private final Src traceparent = new Src();
    private final Src tracestate = new Src();
    private final Src raw = new Src();

    // the layout (offsets from the frame's start), computed by size()
    private final int[] at = new int[COUNT];
    private int vsize;
    private int tsize;
    private int p;
    private int rawVt;
    private int rawT;
    private int rawVec;
    private int msg;
    private int trVt;
    private int trVsize;
    private int trT;
    private int trParent;
    private int trState;
    private int size;
    private boolean laid;

    // The same shape again (Go frames/template.go): the last envelope laid out without a status message or
    // trace, its bytes and where its scalars and Raw bytes go. One of the same shape (same fields present,
    // same Raw length: every call of a request/response loop) is a copy with its own values written over.
    private long tmplKey; // shape() of the template; 0: none
    private byte[] tmpl = new byte[0];
    private int tmplSize;
    private int tmplRawAt = -1;
    private int tmplSequence;
    private int tmplStatus;
    private int tmplCorrelationId;
    private int tmplDeadline;
    private int tmplKind;

    /** Clears every field (an empty envelope). Returns this. */
    public EnvelopeLayout reset() {
        sequence = 0;
        status = 0;
        kind = 0;
        correlationId = 0;
        deadlineUnixNano = 0;
        message.clear();
        trace = false;
        traceparent.clear();
        tracestate.clear();
        raw.clear();
        laid = false;
        return this;
    }

    /** The envelope's sequence (0: left out). */
    public EnvelopeLayout sequence(long s) {
        sequence = s;
        laid = false;
        return this;
    }

    /** The status (0 = OK, left out; otherwise a gRPC code). */
    public EnvelopeLayout status(int s) {
        status = s;
        laid = false;
        return this;
    }

    /** The {@code io.framebridge.frames.fb.Kind}, 0..255 (0 = Unspecified, left out). */
    public EnvelopeLayout kind(int k) {
        if (k < 0 || k > 255) {
            throw new IllegalArgumentException("envelope kind " + k + ": want a ubyte 0..255");
        }
        kind = (byte) k;
        laid = false;
        return this;
    }

    /** The correlation id (0: left out). */
    public EnvelopeLayout correlationId(long c) {
        correlationId = c;
        laid = false;
        return this;
    }

    /** The absolute CLOCK_REALTIME deadline in ns (0 = none, left out). */
    public EnvelopeLayout deadlineUnixNano(long d) {
        deadlineUnixNano = d;
        laid = false;
        return this;
    }

    /** The status message as UTF-8 bytes {@code a[off, off + n)}. */
    public EnvelopeLayout statusMessage(byte[] a, int off, int n) {
        message.set(a, off, n);
        laid = false;
        return this;
    }

    /** The status message (null: absent). Encodes the string: allocates (meant for error replies). */
    public EnvelopeLayout statusMessage(String s) {
        if (s == null) {
            message.clear();
        } else {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            message.set(b, 0, b.length);
        }
        laid = false;
        return this;
    }

    /**
     * A {@code TraceContext} whose strings are UTF-8 bytes of {@code src} at absolute positions (a position
     * below 0: that string is absent), e.g. a request's trace copied into its response.
     */
    public EnvelopeLayout trace(ByteBuffer src, int parentPos, int parentLen, int statePos, int stateLen) {
        trace = true;
        if (parentPos < 0) {
            traceparent.clear();
        } else {
            traceparent.set(src, parentPos, parentLen);
        }
        if (statePos < 0) {
            tracestate.clear();
        } else {
            tracestate.set(src, statePos, stateLen);
        }
        laid = false;
        return this;
    }

    /** A {@code TraceContext} with these UTF-8 strings (null: absent). */
    public EnvelopeLayout trace(byte[] parent, byte[] state) {
        trace = true;
        if (parent == null) {
            traceparent.clear();
        } else {
            traceparent.set(parent, 0, parent.length);
        }
        if (state == null) {
            tracestate.clear();
        } else {
            tracestate.set(state, 0, state.length);
        }
        laid = false;
        return this;
    }

    /** The payload is {@code Raw{data: a[off, off + n)}}. */
    public EnvelopeLayout raw(byte[] a, int off, int n) {
        raw.set(a, off, n);
        laid = false;
        return this;
    }

    /** The payload is {@code Raw{data: src[pos, pos + n)}} (absolute positions; src's position is not used). */
    public EnvelopeLayout raw(ByteBuffer src, int pos, int n) {
        raw.set(src, pos, n);
        laid = false;
        return this;
    }

    /** True if the payload is Raw. */
    public boolean hasRaw() {
        return raw.present;
    }

    private static int align(int n, int a) {
        return (n + a - 1) & -a;
    }

    /**
     * The frame's size in bytes (a multiple of 16): what {@link #write} fills.
     *
     * @throws IllegalArgumentException if the strings and payload together exceed 2^31 - 64 bytes
     */
    public int size() {
        if (laid) {
            return size;
        }
        if (tmplKey != 0 && shape() == tmplKey) {
            size = tmplSize; // write() takes the template
            laid = true;
            return size;
        }
        long total = 256L + raw.len + message.len + traceparent.len + tracestate.len;
        if (total > Integer.MAX_VALUE - 64) {
            throw new IllegalArgumentException("envelope of about " + total + " bytes: too large");
        }
        java.util.Arrays.fill(at, 0);
        int o = 4; // after the soffset
        if (status != 0) {
            at[STATUS] = o;
            o += 4;
        }
        if (message.present) {
            at[STATUS_MESSAGE] = o;
            o += 4;
        }
        if (trace) {
            at[TRACE] = o;
            o += 4;
        }
        if (raw.present) {
            at[PAYLOAD] = o;
            o += 4;
        }
        boolean wide = sequence != 0 || correlationId != 0 || deadlineUnixNano != 0;
        if (wide && (o & 7) != 0) {
            o += 4; // 8-byte fields 8-aligned, as the table
        }
        if (sequence != 0) {
            at[SEQUENCE] = o;
            o += 8;
        }
        if (correlationId != 0) {
            at[CORRELATION_ID] = o;
            o += 8;
        }
        if (deadlineUnixNano != 0) {
            at[DEADLINE] = o;
            o += 8;
        }
        if (kind != 0) {
            at[KIND] = o;
            o += 1;
        }
        if (raw.present) {
            at[PAYLOAD_TYPE] = o;
            o += 1;
        }
        tsize = o;
        int last = COUNT - 1;
        while (last >= 0 && at[last] == 0) {
            last--;
        }
        vsize = 4 + 2 * (last + 1);
        p = align(VTABLE + vsize, 8);
        int e = p + tsize;
        if (raw.present) {
            rawVt = align(e, 2);
            rawT = align(rawVt + RAW_VSIZE, 4);
            rawVec = rawT + RAW_TSIZE;
            e = rawVec + 4 + raw.len;
        }
        if (message.present) {
            msg = align(e, 4);
            e = msg + 4 + message.len + 1;
        }
        if (trace) {
            trVt = align(e, 2);
            trVsize = tracestate.present ? 8 : traceparent.present ? 6 : 4;
            trT = align(trVt + trVsize, 4);
            e = trT + 4 + 4 * ((traceparent.present ? 1 : 0) + (tracestate.present ? 1 : 0));
            if (traceparent.present) {
                trParent = align(e, 4);
                e = trParent + 4 + traceparent.len + 1;
            }
            if (tracestate.present) {
                trState = align(e, 4);
                e = trState + 4 + tracestate.len + 1;
            }
        }
        size = align(e, 16);
        laid = true;
        return size;
    }

    /** Zeroes {@code bb[from, to)}. */
    private static void zero(ByteBuffer bb, int from, int to) {
        int i = from;
        for (; i + 8 <= to; i += 8) {
            bb.putLong(i, 0);
        }
        for (; i < to; i++) {
            bb.put(i, (byte) 0);
        }
    }

    private static void putString(ByteBuffer bb, int at, Src s) {
        bb.putInt(at, s.len);
        s.copyTo(bb, at + 4);
        bb.put(at + 4 + s.len, (byte) 0);
    }

    /**
     * Writes the envelope into {@code bb[base, base + size())} (absolute positions; {@code bb} little-endian,
     * {@code base} 8-aligned relative to the frame's start, as a ring claim is) and returns the absolute
     * position of the Raw payload's bytes (-1 without a Raw payload). Every byte is written.
     *
     * @throws IllegalArgumentException if {@code bb} is not little-endian
     * @throws IndexOutOfBoundsException if the frame does not fit below {@code bb.limit()}
     */
    public int write(ByteBuffer bb, int base) {
        if (bb.order() != ByteOrder.LITTLE_ENDIAN) {
            throw new IllegalArgumentException("envelope layout: the buffer must be little-endian");
        }
        int n = size();
        if (base < 0 || base > bb.limit() - n) {
            throw new IndexOutOfBoundsException("envelope of " + n + " bytes at " + base + ": buffer limit " + bb.limit());
        }
        long key = shape();
        if (key != 0 && key == tmplKey) {
            return writeTemplate(bb, base);
        }
        bb.putInt(base, p);
        bb.putInt(base + 4, IDENTIFIER);
        int v = base + VTABLE;
        int t = base + p;
        // The Envelope vtable and table, zeroed first (padding between the fields).
        zero(bb, v, t + tsize);
        bb.putShort(v, (short) vsize);
        bb.putShort(v + 2, (short) tsize);
        for (int i = 0; 4 + 2 * i < vsize; i++) {
            bb.putShort(v + 4 + 2 * i, (short) at[i]);
        }
        bb.putInt(t, p - VTABLE); // soffset: vtable = table - soffset
        if (at[STATUS] != 0) {
            bb.putInt(t + at[STATUS], status);
        }
        if (at[SEQUENCE] != 0) {
            bb.putLong(t + at[SEQUENCE], sequence);
        }
        if (at[CORRELATION_ID] != 0) {
            bb.putLong(t + at[CORRELATION_ID], correlationId);
        }
        if (at[DEADLINE] != 0) {
            bb.putLong(t + at[DEADLINE], deadlineUnixNano);
        }
        if (at[KIND] != 0) {
            bb.put(t + at[KIND], kind);
        }
        int cur = p + tsize; // relative: everything before it is written
        int rawAt = -1;
        if (raw.present) {
            bb.put(t + at[PAYLOAD_TYPE], Payload.Raw);
            bb.putInt(t + at[PAYLOAD], rawT - (p + at[PAYLOAD]));
            zero(bb, base + cur, base + rawVt);
            bb.putShort(base + rawVt, (short) RAW_VSIZE);
            bb.putShort(base + rawVt + 2, (short) RAW_TSIZE);
            bb.putShort(base + rawVt + 4, (short) RAW_DATA_AT);
            zero(bb, base + rawVt + RAW_VSIZE, base + rawT);
            bb.putInt(base + rawT, rawT - rawVt);
            bb.putInt(base + rawT + RAW_DATA_AT, rawVec - (rawT + RAW_DATA_AT));
            bb.putInt(base + rawVec, raw.len);
            rawAt = base + rawVec + 4;
            raw.copyTo(bb, rawAt);
            cur = rawVec + 4 + raw.len;
        }
        if (message.present) {
            bb.putInt(t + at[STATUS_MESSAGE], msg - (p + at[STATUS_MESSAGE]));
            zero(bb, base + cur, base + msg);
            putString(bb, base + msg, message);
            cur = msg + 4 + message.len + 1;
        }
        if (trace) {
            bb.putInt(t + at[TRACE], trT - (p + at[TRACE]));
            zero(bb, base + cur, base + trVt);
            int o = 4; // the TraceContext table: soffset, then a uoffset per present string
            int parentAt = 0;
            int stateAt = 0;
            if (traceparent.present) {
                parentAt = o;
                o += 4;
            }
            if (tracestate.present) {
                stateAt = o;
                o += 4;
            }
            bb.putShort(base + trVt, (short) trVsize);
            bb.putShort(base + trVt + 2, (short) o);
            if (trVsize >= 6) {
                bb.putShort(base + trVt + 4, (short) parentAt);
            }
            if (trVsize >= 8) {
                bb.putShort(base + trVt + 6, (short) stateAt);
            }
            zero(bb, base + trVt + trVsize, base + trT);
            bb.putInt(base + trT, trT - trVt);
            cur = trT + o;
            if (traceparent.present) {
                bb.putInt(base + trT + parentAt, trParent - (trT + parentAt));
                zero(bb, base + cur, base + trParent);
                putString(bb, base + trParent, traceparent);
                cur = trParent + 4 + traceparent.len + 1;
            }
            if (tracestate.present) {
                bb.putInt(base + trT + stateAt, trState - (trT + stateAt));
                zero(bb, base + cur, base + trState);
                putString(bb, base + trState, tracestate);
                cur = trState + 4 + tracestate.len + 1;
            }
        }
        zero(bb, base + cur, base + size);
        if (key != 0) {
            save(key, bb, base, rawAt < 0 ? -1 : rawAt - base);
        }
        return rawAt;
    }

    /**
     * A key equal for two envelopes exactly when {@link #write} lays them out alike: which fields are present
     * and the Raw length; 0 when there is a status message or trace (no template then).
     */
    private long shape() {
        if (message.present || trace) {
            return 0;
        }
        long k = 1;
        k |= status != 0 ? 1 << 1 : 0;
        k |= sequence != 0 ? 1 << 2 : 0;
        k |= correlationId != 0 ? 1 << 3 : 0;
        k |= deadlineUnixNano != 0 ? 1 << 4 : 0;
        k |= kind != 0 ? 1 << 5 : 0;
        if (raw.present) {
            k |= 1 << 6 | (long) raw.len << 8;
        }
        return k;
    }

    /** Makes {@code bb[base, base + size)}, just laid out for shape {@code key}, the template. */
    private void save(long key, ByteBuffer bb, int base, int rawRel) {
        if (tmpl.length < size) {
            tmpl = new byte[Math.max(size, 256)];
        }
        bb.get(base, tmpl, 0, size);
        tmplKey = key;
        tmplSize = size;
        tmplRawAt = rawRel;
        tmplSequence = at[SEQUENCE] == 0 ? 0 : p + at[SEQUENCE];
        tmplStatus = at[STATUS] == 0 ? 0 : p + at[STATUS];
        tmplCorrelationId = at[CORRELATION_ID] == 0 ? 0 : p + at[CORRELATION_ID];
        tmplDeadline = at[DEADLINE] == 0 ? 0 : p + at[DEADLINE];
        tmplKind = at[KIND] == 0 ? 0 : p + at[KIND];
    }

    /** The template's bytes with this envelope's Raw bytes and scalars written over (same result as the full path). */
    private int writeTemplate(ByteBuffer bb, int base) {
        int n = tmplSize;
        int rawAt = -1;
        if (tmplRawAt >= 0) {
            bb.put(base, tmpl, 0, tmplRawAt);
            rawAt = base + tmplRawAt;
            raw.copyTo(bb, rawAt);
            int e = tmplRawAt + raw.len;
            bb.put(base + e, tmpl, e, n - e); // the zero padding
        } else {
            bb.put(base, tmpl, 0, n);
        }
        if (tmplSequence != 0) {
            bb.putLong(base + tmplSequence, sequence);
        }
        if (tmplStatus != 0) {
            bb.putInt(base + tmplStatus, status);
        }
        if (tmplCorrelationId != 0) {
            bb.putLong(base + tmplCorrelationId, correlationId);
        }
        if (tmplDeadline != 0) {
            bb.putLong(base + tmplDeadline, deadlineUnixNano);
        }
        if (tmplKind != 0) {
            bb.put(base + tmplKind, kind);
        }
        return rawAt;
    }

    /** The frame's bytes in a new array (tests, vectors, tools; allocates). */
    public byte[] encode() {
        byte[] a = new byte[size()];
        write(ByteBuffer.wrap(a).order(ByteOrder.LITTLE_ENDIAN), 0);
        return a;
    }
}
