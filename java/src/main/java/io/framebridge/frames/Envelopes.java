package io.framebridge.frames;

import io.framebridge.frames.fb.Payload;

/**
 * schemas/frame.fbs in a ring: the ring frame type and file identifier of an {@code Envelope}, and its
 * verifier (the checks of the C++ generated {@code VerifyEnvelopeBuffer}, table by table, on a
 * {@link FlatVerifier}). Read frames with {@link EnvelopeReader}; build them with
 * {@link io.framebridge.TypedWriter} and the generated {@code io.framebridge.frames.fb} classes.
 */
public final class Envelopes {
    /** Ring frame type of a FlatBuffers Envelope (docs/schemas.md). */
    public static final int TYPE = 16;
    /** frame.fbs {@code file_identifier}. */
    public static final String FILE_IDENTIFIER = "FRB1";
    /** Ring frame type "stop" of the peer programs (docs/peers.md). */
    public static final int TYPE_STOP = 2;

    private Envelopes() {
    }

    /**
     * Verifies an Envelope buffer {@code bb[start, end)} (absolute positions, little-endian) and returns its
     * root table's position.
     *
     * @throws io.framebridge.CorruptFrameException if anything an accessor could read is out of place
     */
    public static int verify(FlatVerifier v, java.nio.ByteBuffer bb, int start, int end) {
        int root = v.root(bb, start, end, FILE_IDENTIFIER);
        v.table(root, Envelopes::envelope);
        return root;
    }

    // Field vtable offsets are 4 + 2 * (field index), as in the generated code.

    static void envelope(FlatVerifier v, int t) {
        v.scalar(t, 4, 8); // sequence
        v.scalar(t, 6, 4); // status
        v.string(v.offset(t, 8)); // status_message
        v.scalar(t, 10, 1); // kind
        v.scalar(t, 12, 8); // correlation_id
        v.scalar(t, 14, 8); // deadline_unix_nano
        v.table(v.offset(t, 16), Envelopes::traceContext); // trace
        int type = v.unionType(t, 18); // payload_type
        int payload = v.offset(t, 20); // payload
        switch (type) {
            case Payload.MediaChunk: v.table(payload, Envelopes::mediaChunk); break;
            case Payload.ModelRequest: v.table(payload, Envelopes::modelRequest); break;
            case Payload.ModelResponse: v.table(payload, Envelopes::modelResponse); break;
            case Payload.Raw: v.table(payload, Envelopes::raw); break;
            default: break; // NONE, or a type newer than this schema: never read (as C++ VerifyPayload)
        }
    }

    static void traceContext(FlatVerifier v, int t) {
        v.string(v.offset(t, 4)); // traceparent
        v.string(v.offset(t, 6)); // tracestate
    }

    static void mediaChunk(FlatVerifier v, int t) {
        v.string(v.offset(t, 4)); // codec
        v.scalar(t, 6, 2); // format
        v.scalar(t, 8, 8); // stream_id
        v.scalar(t, 10, 8); // pts_ns
        v.scalar(t, 12, 8); // dts_ns
        v.scalar(t, 14, 8); // duration_ns
        v.scalar(t, 16, 4); // sample_rate
        v.scalar(t, 18, 2); // channels
        v.scalar(t, 20, 2); // width
        v.scalar(t, 22, 2); // height
        v.scalar(t, 24, 1); // keyframe
        v.vector(v.offset(t, 26), 1); // data
    }

    static void tensor(FlatVerifier v, int t) {
        v.scalar(t, 4, 1); // dtype
        v.vector(v.offset(t, 6), 8); // shape
        v.vector(v.offset(t, 8), 1); // data
    }

    static void modelRequest(FlatVerifier v, int t) {
        v.string(v.offset(t, 4)); // model_name
        v.string(v.offset(t, 6)); // model_version
        v.table(v.offset(t, 8), Envelopes::tensor); // features
    }

    static void modelResponse(FlatVerifier v, int t) {
        v.string(v.offset(t, 4)); // model_name
        v.string(v.offset(t, 6)); // model_version
        v.vector(v.offset(t, 8), 4); // scores
        v.strings(v.offset(t, 10)); // labels
        v.scalar(t, 12, 8); // queue_ns
        v.scalar(t, 14, 8); // inference_ns
        v.scalar(t, 16, 8); // total_ns
    }

    static void raw(FlatVerifier v, int t) {
        v.vector(v.offset(t, 4), 1); // data
    }
}
