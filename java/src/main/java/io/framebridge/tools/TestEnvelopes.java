package io.framebridge.tools;

import com.google.flatbuffers.FlatBufferBuilder;
import io.framebridge.frames.EnvelopeReader;
import io.framebridge.frames.fb.DType;
import io.framebridge.frames.fb.Envelope;
import io.framebridge.frames.fb.Kind;
import io.framebridge.frames.fb.MediaChunk;
import io.framebridge.frames.fb.MediaFormat;
import io.framebridge.frames.fb.ModelRequest;
import io.framebridge.frames.fb.ModelResponse;
import io.framebridge.frames.fb.Payload;
import io.framebridge.frames.fb.Tensor;
import io.framebridge.frames.fb.TraceContext;

/**
 * Envelope {@code i} of writer {@code w} as docs/peers.md ("Typed frames") specifies it, shared by the
 * peer program and the tests: {@link #build} writes it, {@link #check} compares every field.
 */
public final class TestEnvelopes {
    /** deadline_unix_nano of envelope i is this + i. */
    public static final long DEADLINE_BASE = 1790000000000000000L;
    static final int MEDIA_BYTES = 160;
    static final int FEATURES = 16;

    private TestEnvelopes() {
    }

    static long correlationId(int w, long i) {
        return ((long) w << 32) | (i & 0xFFFFFFFFL);
    }

    static String traceparent(int w, long i) {
        return String.format("00-%032x-%016x-01", i, w + 1L);
    }

    /** Builds envelope i of writer w (not finished); returns the root table's offset. */
    public static int build(FlatBufferBuilder b, int w, long i) {
        int payloadType;
        int payload;
        switch ((int) Long.remainderUnsigned(i, 3)) {
            case 0: {
                int codec = b.createString("opus");
                b.startVector(1, MEDIA_BYTES, 1);
                for (int k = MEDIA_BYTES - 1; k >= 0; k--) {
                    b.addByte((byte) (i + k));
                }
                int data = b.endVector();
                MediaChunk.startMediaChunk(b);
                MediaChunk.addCodec(b, codec);
                MediaChunk.addFormat(b, MediaFormat.Opus);
                MediaChunk.addStreamId(b, w);
                MediaChunk.addPtsNs(b, i * 20_000_000L);
                MediaChunk.addDtsNs(b, i * 20_000_000L);
                MediaChunk.addDurationNs(b, 20_000_000L);
                MediaChunk.addSampleRate(b, 48000);
                MediaChunk.addChannels(b, 2);
                MediaChunk.addWidth(b, 0);
                MediaChunk.addHeight(b, 0);
                MediaChunk.addKeyframe(b, i % 10 == 0);
                MediaChunk.addData(b, data);
                payload = MediaChunk.endMediaChunk(b);
                payloadType = Payload.MediaChunk;
                break;
            }
            case 1: {
                int name = b.createString("risk");
                int version = b.createString("v" + Long.remainderUnsigned(i, 5));
                int shape = Tensor.createShapeVector(b, new long[] {1, FEATURES});
                float base = (float) Long.remainderUnsigned(i, 1000);
                int data = floats(b, FEATURES, base);
                payload = ModelRequest.createModelRequest(b, name, version,
                        Tensor.createTensor(b, DType.Float32, shape, data));
                payloadType = Payload.ModelRequest;
                break;
            }
            default: {
                int name = b.createString("risk");
                int version = b.createString("v3");
                float q = 0.25f * (int) Long.remainderUnsigned(i, 4);
                int scores = ModelResponse.createScoresVector(b, new float[] {q, 1 - q});
                int labels = ModelResponse.createLabelsVector(b, new int[] {b.createString("fraud"), b.createString("ok")});
                payload = ModelResponse.createModelResponse(b, name, version, scores, labels, i, 2 * i, 3 * i);
                payloadType = Payload.ModelResponse;
                break;
            }
        }
        boolean failed = Long.remainderUnsigned(i, 3) == 2;
        int message = failed ? b.createString("not found #" + Long.toUnsignedString(i)) : 0;
        int trace = TraceContext.createTraceContext(b, b.createString(traceparent(w, i)),
                b.createString("fb=" + Long.toUnsignedString(i)));
        return Envelope.createEnvelope(b, i, failed ? 5 : 0, message, (i & 1) == 0 ? Kind.Request : Kind.OneWay,
                correlationId(w, i), DEADLINE_BASE + i, trace, (byte) payloadType, payload);
    }

    /**
     * A [ubyte] vector of n little-endian float32, element k = base + k / 4, 16-byte aligned as frame.fbs
     * asks (force_align: 16; the Java generator does not apply it).
     */
    static int floats(FlatBufferBuilder b, int n, float base) {
        b.startVector(1, 4 * n, 16);
        for (int k = n - 1; k >= 0; k--) {
            b.putFloat(base + k / 4.0f); // room was prepared by startVector
        }
        return b.endVector();
    }

    /** Checks every field of a verified envelope against envelope i of writer w; null if all match, else what differs. */
    public static String check(EnvelopeReader er, Envelope e, int w, long i) {
        StringBuilder bad = new StringBuilder();
        eq(bad, "sequence", e.sequence(), i);
        boolean failed = Long.remainderUnsigned(i, 3) == 2;
        eq(bad, "status", e.status(), failed ? 5 : 0);
        eq(bad, "status_message", e.statusMessage(), failed ? "not found #" + Long.toUnsignedString(i) : null);
        eq(bad, "kind", e.kind(), (i & 1) == 0 ? Kind.Request : Kind.OneWay);
        eq(bad, "correlation_id", e.correlationId(), correlationId(w, i));
        eq(bad, "deadline_unix_nano", e.deadlineUnixNano(), DEADLINE_BASE + i);
        TraceContext t = er.trace();
        if (t == null) {
            bad.append("; trace absent");
        } else {
            eq(bad, "trace.traceparent", t.traceparent(), traceparent(w, i));
            eq(bad, "trace.tracestate", t.tracestate(), "fb=" + Long.toUnsignedString(i));
        }
        switch ((int) Long.remainderUnsigned(i, 3)) {
            case 0: {
                eq(bad, "payload_type", er.payloadType(), Payload.MediaChunk);
                MediaChunk m = er.mediaChunk();
                if (m == null) {
                    break;
                }
                eq(bad, "codec", m.codec(), "opus");
                eq(bad, "format", m.format(), MediaFormat.Opus);
                eq(bad, "stream_id", m.streamId(), w);
                eq(bad, "pts_ns", m.ptsNs(), i * 20_000_000L);
                eq(bad, "dts_ns", m.dtsNs(), i * 20_000_000L);
                eq(bad, "duration_ns", m.durationNs(), 20_000_000L);
                eq(bad, "sample_rate", m.sampleRate(), 48000);
                eq(bad, "channels", m.channels(), 2);
                eq(bad, "width", m.width(), 0);
                eq(bad, "height", m.height(), 0);
                eq(bad, "keyframe", m.keyframe(), i % 10 == 0);
                eq(bad, "data length", m.dataLength(), MEDIA_BYTES);
                if (m.dataLength() == MEDIA_BYTES) {
                    for (int k = 0; k < MEDIA_BYTES; k++) {
                        if (m.data(k) != ((i + k) & 0xFF)) {
                            bad.append("; data[").append(k).append("] = ").append(m.data(k));
                            break;
                        }
                    }
                }
                break;
            }
            case 1: {
                eq(bad, "payload_type", er.payloadType(), Payload.ModelRequest);
                ModelRequest r = er.modelRequest();
                if (r == null) {
                    break;
                }
                eq(bad, "model_name", r.modelName(), "risk");
                eq(bad, "model_version", r.modelVersion(), "v" + Long.remainderUnsigned(i, 5));
                Tensor x = er.features();
                if (x == null) {
                    bad.append("; features absent");
                    break;
                }
                eq(bad, "dtype", x.dtype(), DType.Float32);
                eq(bad, "shape length", x.shapeLength(), 2);
                if (x.shapeLength() == 2) {
                    eq(bad, "shape[0]", x.shape(0), 1);
                    eq(bad, "shape[1]", x.shape(1), FEATURES);
                }
                eq(bad, "data length", x.dataLength(), 4 * FEATURES);
                if (x.dataLength() == 4 * FEATURES) {
                    java.nio.ByteBuffer d = x.dataAsByteBuffer(); // position: the first element
                    int at = d.position();
                    float base = (float) Long.remainderUnsigned(i, 1000);
                    for (int k = 0; k < FEATURES; k++) {
                        float got = d.getFloat(at + 4 * k);
                        if (Float.floatToRawIntBits(got) != Float.floatToRawIntBits(base + k / 4.0f)) {
                            bad.append("; features[").append(k).append("] = ").append(got);
                            break;
                        }
                    }
                }
                break;
            }
            default: {
                eq(bad, "payload_type", er.payloadType(), Payload.ModelResponse);
                ModelResponse r = er.modelResponse();
                if (r == null) {
                    break;
                }
                eq(bad, "model_name", r.modelName(), "risk");
                eq(bad, "model_version", r.modelVersion(), "v3");
                float q = 0.25f * (int) Long.remainderUnsigned(i, 4);
                eq(bad, "scores length", r.scoresLength(), 2);
                if (r.scoresLength() == 2) {
                    eq(bad, "scores[0]", r.scores(0), q);
                    eq(bad, "scores[1]", r.scores(1), 1 - q);
                }
                eq(bad, "labels length", r.labelsLength(), 2);
                if (r.labelsLength() == 2) {
                    eq(bad, "labels[0]", r.labels(0), "fraud");
                    eq(bad, "labels[1]", r.labels(1), "ok");
                }
                eq(bad, "queue_ns", r.queueNs(), i);
                eq(bad, "inference_ns", r.inferenceNs(), 2 * i);
                eq(bad, "total_ns", r.totalNs(), 3 * i);
                break;
            }
        }
        return bad.length() == 0 ? null : "writer " + w + " envelope " + i + ":" + bad.substring(1);
    }

    private static void eq(StringBuilder bad, String field, Object got, Object want) {
        if (got == null ? want != null : !got.equals(want)) {
            bad.append("; ").append(field).append(" = ").append(got).append(", want ").append(want);
        }
    }

    private static void eq(StringBuilder bad, String field, long got, long want) {
        if (got != want) {
            bad.append("; ").append(field).append(" = ").append(got).append(", want ").append(want);
        }
    }

    private static void eq(StringBuilder bad, String field, float got, float want) {
        if (Float.floatToRawIntBits(got) != Float.floatToRawIntBits(want)) {
            bad.append("; ").append(field).append(" = ").append(got).append(", want ").append(want);
        }
    }

    private static void eq(StringBuilder bad, String field, boolean got, boolean want) {
        if (got != want) {
            bad.append("; ").append(field).append(" = ").append(got).append(", want ").append(want);
        }
    }
}
