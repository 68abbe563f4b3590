package io.framebridge.frames;

import io.framebridge.CorruptFrameException;
import io.framebridge.Frame;
import io.framebridge.frames.fb.Envelope;
import io.framebridge.frames.fb.MediaChunk;
import io.framebridge.frames.fb.ModelRequest;
import io.framebridge.frames.fb.ModelResponse;
import io.framebridge.frames.fb.Payload;
import io.framebridge.frames.fb.Raw;
import io.framebridge.frames.fb.Tensor;
import io.framebridge.frames.fb.TraceContext;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Reads {@code Envelope} frames (ring type {@link Envelopes#TYPE}) in place, never trusting the writer:
 * {@link #read(Frame)} verifies the whole frame ({@link Envelopes#verify}) and only then returns the
 * generated accessor over it; a bad frame is a {@link CorruptFrameException}. The accessor objects
 * (envelope, trace, payload tables) are reused: one reader per thread, no garbage per frame (the String
 * getters of the generated code allocate their Strings; {@code ...InByteBuffer} variants do not).
 *
 * <pre>{@code
 * EnvelopeReader er = new EnvelopeReader();
 * Frame f = ringReader.next();
 * Envelope env = er.read(f);                 // verified; valid until ringReader.release()
 * ModelRequest req = er.modelRequest();      // null unless the payload is a ModelRequest
 * }</pre>
 *
 * <p>Policy ({@code docs/schemas.md}, Verification): by default the frame is verified and read where it
 * lies in shared memory. A committed frame is not written again by a writer that follows the protocol; a
 * hostile writer that rewrites it between verification and reading can make a generated accessor return
 * garbage or throw {@code IndexOutOfBoundsException}/{@code IllegalArgumentException} (never read outside
 * the mapping, never crash the JVM). {@link #privateCopy(boolean) privateCopy(true)} copies each frame into
 * a reused heap buffer first and verifies and reads the copy: then nothing the writer does afterwards
 * matters.
 */
public final class EnvelopeReader {
    private final FlatVerifier verifier = new FlatVerifier();
    private final Opener opener = new Opener();
    private final Envelope env = new Envelope();
    private final TraceContext trace = new TraceContext();
    private final MediaChunk mediaChunk = new MediaChunk();
    private final ModelRequest modelRequest = new ModelRequest();
    private final ModelResponse modelResponse = new ModelResponse();
    private final Raw raw = new Raw();
    private final Tensor tensor = new Tensor();
    private boolean copy;
    private ByteBuffer priv;
    private int payloadType;
    private boolean valid;
    private ByteBuffer bb;
    private int root;
    /** What {@link #touchLines} loaded (kept only so the loads stay). */
    private int touched;

    /** Verify and read a private copy of each frame instead of the frame in place (see the class comment). */
    public EnvelopeReader privateCopy(boolean on) {
        this.copy = on;
        return this;
    }

    /** The verifier (to change its limits). */
    public FlatVerifier verifier() {
        return verifier;
    }

    /**
     * Verifies a frame read from a ring and returns its Envelope (a reused object; valid until the ring
     * reader's release, or the next read). The frame must have type {@link Envelopes#TYPE}.
     *
     * @throws CorruptFrameException if the frame has another type or fails verification
     */
    public Envelope read(Frame f) {
        valid = false;
        if (f.type() != Envelopes.TYPE) {
            throw new CorruptFrameException("frame type " + f.type() + " is not a FlatBuffers Envelope (" + Envelopes.TYPE + ")");
        }
        if (copy) {
            int n = f.length();
            ByteBuffer p = priv;
            if (p == null || p.capacity() < n) {
                p = ByteBuffer.allocate(Math.max(n, 1024)).order(ByteOrder.LITTLE_ENDIAN);
                priv = p;
            }
            f.getBytes(0, p.array(), p.arrayOffset(), n);
            p.limit(n).position(0);
            return read(p, 0, n);
        }
        ByteBuffer b = f.inPlaceBuffer();
        touched = touchLines(b, b.position(), b.limit());
        return read(b, b.position(), b.limit());
    }

    /**
     * Loads a byte of every cache line of {@code bb[start, end)}, all at once (Go {@code frames.touchLines}).
     * A frame just committed by another core is a cache miss per line; the verifier and the accessors walk it
     * along a chain of offsets, one dependent miss after another, while these independent loads let the
     * misses overlap. The result is stored in a field so the loads are not compiled away.
     */
    static int touchLines(ByteBuffer bb, int start, int end) {
        if (end <= start) {
            return 0;
        }
        int x = bb.get(end - 1);
        for (int i = start; i < end; i += 64) {
            x ^= bb.get(i);
        }
        return x;
    }

    /**
     * Verifies the Envelope buffer {@code bb[start, end)} (absolute positions; little-endian) and returns
     * it. The accessors read {@code bb} by absolute position; set its limit to {@code end} so nothing can
     * read past the buffer.
     */
    public Envelope read(ByteBuffer bb, int start, int end) {
        valid = false;
        int root = opener.open(verifier, bb, start, end); // one shape again and again: compared, not re-verified
        env.__assign(root, bb);
        this.bb = bb;
        this.root = root;
        int t = env.payloadType() & 0xFF;
        // Only a type this schema knows was verified: never touch the value of another (a Table's reset
        // already reads its vtable).
        payloadType = t >= Payload.MediaChunk && t <= Payload.Raw && env.payload(raw) != null ? t : Payload.NONE;
        valid = true;
        return env;
    }

    private void need() {
        if (!valid) {
            throw new IllegalStateException("no verified envelope: read() a frame first");
        }
    }

    /** The last envelope's payload type if known to this schema and present ({@link Payload}), else NONE. */
    public int payloadType() {
        need();
        return payloadType;
    }

    /** The last envelope's trace context (reused object), or null if absent. */
    public TraceContext trace() {
        need();
        return env.trace(trace);
    }

    /** The payload as a MediaChunk (reused object), or null if it is not one. */
    public MediaChunk mediaChunk() {
        need();
        return payloadType == Payload.MediaChunk ? (MediaChunk) env.payload(mediaChunk) : null;
    }

    /** The payload as a ModelRequest (reused object), or null if it is not one. */
    public ModelRequest modelRequest() {
        need();
        return payloadType == Payload.ModelRequest ? (ModelRequest) env.payload(modelRequest) : null;
    }

    /** The features tensor of a ModelRequest payload (reused object), or null. */
    public Tensor features() {
        ModelRequest r = modelRequest();
        return r == null ? null : r.features(tensor);
    }

    /** The payload as a ModelResponse (reused object), or null if it is not one. */
    public ModelResponse modelResponse() {
        need();
        return payloadType == Payload.ModelResponse ? (ModelResponse) env.payload(modelResponse) : null;
    }

    /** The payload as Raw (reused object), or null if it is not one. */
    public Raw raw() {
        need();
        return payloadType == Payload.Raw ? (Raw) env.payload(raw) : null;
    }

    /** The buffer the last envelope was read from (absolute positions below are in it). */
    public ByteBuffer buffer() {
        need();
        return bb;
    }

    /** The absolute position of what field {@code voff} of the table at {@code t} refers to, or -1. */
    private int ref(int t, int voff) {
        int vt = t - bb.getInt(t);
        int o = voff < (bb.getShort(vt) & 0xFFFF) ? bb.getShort(vt + voff) & 0xFFFF : 0;
        return o == 0 ? -1 : t + o + bb.getInt(t + o);
    }

    /**
     * The absolute position in {@link #buffer()} of the Raw payload's bytes, or -1 if the payload is not
     * Raw or has no data. Allocates nothing (unlike {@code raw().dataAsByteBuffer()}).
     */
    public int rawDataPosition() {
        int v = rawVector();
        return v < 0 ? -1 : v + 4;
    }

    /** The length of the Raw payload's bytes (0 if the payload is not Raw or has no data). */
    public int rawDataLength() {
        int v = rawVector();
        return v < 0 ? 0 : bb.getInt(v);
    }

    private int rawVector() {
        need();
        if (payloadType != Payload.Raw) {
            return -1;
        }
        return ref(ref(root, 20), 4); // Envelope.payload, Raw.data
    }

    /**
     * The trace's strings for {@link EnvelopeLayout#trace(ByteBuffer, int, int, int, int)}: sets {@code l}'s
     * trace to a copy of this envelope's (nothing if it has none) and returns true if it had one.
     */
    public boolean copyTraceTo(EnvelopeLayout l) {
        need();
        int t = ref(root, 16); // Envelope.trace
        if (t < 0) {
            return false;
        }
        int ps = ref(t, 4); // traceparent
        int ss = ref(t, 6); // tracestate
        l.trace(bb, ps < 0 ? -1 : ps + 4, ps < 0 ? 0 : bb.getInt(ps), ss < 0 ? -1 : ss + 4, ss < 0 ? 0 : bb.getInt(ss));
        return true;
    }
}
