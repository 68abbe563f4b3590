package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.flatbuffers.FlatBufferBuilder;
import io.framebridge.frames.EnvelopeReader;
import io.framebridge.frames.Envelopes;
import io.framebridge.frames.fb.DType;
import io.framebridge.frames.fb.Envelope;
import io.framebridge.frames.fb.Kind;
import io.framebridge.frames.fb.ModelRequest;
import io.framebridge.frames.fb.Payload;
import io.framebridge.frames.fb.Tensor;
import org.junit.jupiter.api.Test;

/**
 * Typed frames in steady state allocate nothing per frame: build in place (TypedWriter), commit, next,
 * verify (EnvelopeReader), read scalars and the tensor in place, release, over 100k frames, measured with
 * ThreadMXBean.getThreadAllocatedBytes as NoGarbageTest does. Prints the figures.
 */
class TypedNoGarbageTest {
    static final int FRAMES = 100_000;

    /** A reusable build function (no capture per frame): a minimal envelope or a ModelRequest of 256 float32. */
    static final class Request implements TypedWriter.BuildFunction {
        final float[] features = new float[256];
        long i;
        boolean model;

        @Override
        public int build(FlatBufferBuilder b) {
            int payload = 0;
            if (model) {
                int name = b.createString("risk");
                int version = b.createString("v1");
                b.startVector(8, 2, 8);
                b.addLong(features.length);
                b.addLong(1);
                int shape = b.endVector();
                b.startVector(1, 4 * features.length, 16);
                for (int k = features.length - 1; k >= 0; k--) {
                    b.putFloat(features[k]);
                }
                int data = b.endVector();
                payload = ModelRequest.createModelRequest(b, name, version, Tensor.createTensor(b, DType.Float32, shape, data));
            }
            Envelope.startEnvelope(b);
            Envelope.addCorrelationId(b, i);
            Envelope.addSequence(b, i);
            if (model) {
                Envelope.addPayload(b, payload);
                Envelope.addPayloadType(b, Payload.ModelRequest);
            }
            Envelope.addKind(b, Kind.Request);
            return Envelope.endEnvelope(b);
        }
    }

    static long loop(TypedWriter tw, RingReader r, EnvelopeReader er, Request q, int frames) {
        long sum = 0;
        for (int i = 0; i < frames; i++) {
            q.i = i;
            tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, q);
            Envelope e = er.read(r.next());
            sum += e.correlationId() + e.sequence();
            Tensor x = er.features();
            if (x != null) {
                sum += x.dataLength() + x.shape(1);
            }
            if ((i & 15) == 15) {
                r.release();
            }
        }
        r.release();
        return sum;
    }

    @Test
    void steadyStateTypedFramesAllocateNothingPerFrame() {
        com.sun.management.ThreadMXBean mx = NoGarbageTest.mx();
        long tid = Thread.currentThread().getId();
        for (boolean model : new boolean[] {false, true}) {
            for (RegionKind kind : new RegionKind[] {RegionKind.SPSC, RegionKind.MPSC}) {
                try (Segment s = Segment.createMemfd("typednogc", new Spec().ring("r", kind, 1 << 17));
                        RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
                    TypedWriter tw = new TypedWriter(w);
                    EnvelopeReader er = new EnvelopeReader();
                    Request q = new Request();
                    q.model = model;
                    loop(tw, r, er, q, 3 * FRAMES); // warm up: JIT, first lap of the ring, the bound settles
                    long slices = tw.sliceAllocations();
                    long before = mx.getThreadAllocatedBytes(tid);
                    long sum = loop(tw, r, er, q, FRAMES);
                    long allocated = mx.getThreadAllocatedBytes(tid) - before;
                    assertTrue(sum != 0);
                    System.out.printf("TypedNoGarbageTest: %s %s frames of %d bytes: %d bytes allocated for %d frames"
                            + " (%.3f B/frame), %d slices made in the first %d frames%n", kind, model ? "model" : "minimal",
                            tw.bound(), allocated, FRAMES, (double) allocated / FRAMES, slices, 3 * FRAMES);
                    assertEquals(slices, tw.sliceAllocations(), "no claim slice made in steady state");
                    assertTrue(allocated < NoGarbageTest.SLACK, kind + (model ? " model: " : " minimal: ") + allocated
                            + " bytes allocated for " + FRAMES + " frames");
                }
            }
        }
    }
}
