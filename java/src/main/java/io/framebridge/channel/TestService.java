package io.framebridge.channel;

import com.google.flatbuffers.FlatBufferBuilder;
import io.framebridge.frames.EnvelopeReader;
import io.framebridge.frames.fb.MediaChunk;
import io.framebridge.frames.fb.ModelRequest;
import io.framebridge.frames.fb.ModelResponse;
import io.framebridge.frames.fb.Payload;
import io.framebridge.frames.fb.Tensor;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The test service every peer's {@code serve} runs (docs/channels.md §9): {@code sleep:<ms>;}, {@code
 * fail:<code>;}, {@code panic;}, echo of Raw; ModelRequest -> ModelResponse [sum, count]; MediaChunk ->
 * MediaChunk with inverted bytes. Thread-safe; echoes allocate nothing (Raw: {@link Reply#raw(java.nio.ByteBuffer, int, int)}
 * from the request's buffer; others: per-thread state).
 */
public final class TestService implements Handler {
    /** Per-thread state: the reply body reads the request it belongs to (ModelRequest, MediaChunk; Raw echoes need none). */
    private static final class State implements Body {
        Request req;
        byte[] scratch = new byte[1024];
        final Tensor tensor = new Tensor();

        @Override
        public void build(FlatBufferBuilder b, Fields f) {
            EnvelopeReader er = req.reader();
            f.sequence(req.envelope().sequence());
            switch (er.payloadType()) {
                case Payload.ModelRequest: {
                    ModelRequest m = er.modelRequest();
                    float sum = 0;
                    int count = 0;
                    Tensor t = m.features(tensor);
                    if (t != null) {
                        int n = t.dataLength() / 4;
                        for (int k = 0; k < n; k++) {
                            int bits = (t.data(4 * k) & 0xFF) | (t.data(4 * k + 1) & 0xFF) << 8 | (t.data(4 * k + 2) & 0xFF) << 16
                                    | (t.data(4 * k + 3) & 0xFF) << 24;
                            sum += Float.intBitsToFloat(bits);
                        }
                        count = n;
                    }
                    String name = m.modelName();
                    String version = m.modelVersion();
                    int no = name == null ? 0 : b.createString(name);
                    int vo = version == null ? 0 : b.createString(version);
                    int scores = ModelResponse.createScoresVector(b, new float[] {sum, count});
                    int l1 = b.createString("sum");
                    int l2 = b.createString("count");
                    int labels = ModelResponse.createLabelsVector(b, new int[] {l1, l2});
                    f.payload(Payload.ModelResponse, ModelResponse.createModelResponse(b, no, vo, scores, labels, 0, 0, 0));
                    break;
                }
                case Payload.MediaChunk: {
                    MediaChunk c = er.mediaChunk();
                    int n = c.dataLength();
                    byte[] s = grow(n);
                    for (int k = 0; k < n; k++) {
                        s[k] = (byte) (c.data(k) ^ 0xFF);
                    }
                    int data = b.createByteVector(s, 0, n);
                    String codec = c.codec();
                    int co = codec == null ? 0 : b.createString(codec);
                    f.payload(Payload.MediaChunk, MediaChunk.createMediaChunk(b, co, c.format(), c.streamId(), c.ptsNs(), c.dtsNs(),
                            c.durationNs(), c.sampleRate(), c.channels(), c.width(), c.height(), c.keyframe(), data));
                    break;
                }
                default:
                    break;
            }
        }

        byte[] grow(int n) {
            if (scratch.length < n) {
                scratch = new byte[Math.max(n, scratch.length * 2)];
            }
            return scratch;
        }
    }

    private final ThreadLocal<State> state = ThreadLocal.withInitial(State::new);

    @Override
    public void handle(Request req, Reply reply) throws Exception {
        EnvelopeReader er = req.reader();
        if (er.payloadType() == Payload.Raw) {
            // Absolute reads at the Raw bytes' position (verified): no vtable lookup per access.
            ByteBuffer bb = er.buffer();
            int at = er.rawDataPosition(); // -1: no data
            int n = at < 0 ? 0 : bb.getInt(at - 4);
            byte c0 = n > 0 ? bb.get(at) : 0;
            if (c0 == 's' || c0 == 'f' || c0 == 'p') {
                int m = Math.min(n, 32);
                byte[] head = new byte[m];
                bb.get(at, head, 0, m);
                String h = new String(head, StandardCharsets.ISO_8859_1);
                int semi = h.indexOf(';');
                if (h.startsWith("sleep:") && semi > 6) {
                    Thread.sleep(Long.parseLong(h.substring(6, semi)));
                } else if (h.startsWith("fail:") && semi > 5) {
                    reply.status(Integer.parseInt(h.substring(5, semi)), "failed as asked");
                    return;
                } else if (h.startsWith("panic;")) {
                    throw new IllegalStateException("panic as asked");
                }
            }
            // Echo: the request's bytes, copied straight from its buffer into a response laid out by hand.
            reply.sequence(req.envelope().sequence()).raw(bb, Math.max(at, 0), n);
            return;
        }
        State s = state.get();
        s.req = req;
        reply.body(s);
    }
}
