package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.flatbuffers.FlatBufferBuilder;
import io.framebridge.frames.EnvelopeReader;
import io.framebridge.frames.Envelopes;
import io.framebridge.frames.fb.Envelope;
import io.framebridge.frames.fb.Kind;
import io.framebridge.frames.fb.Payload;
import io.framebridge.frames.fb.Raw;
import io.framebridge.tools.TestEnvelopes;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/** Typed frames built in place by TypedWriter and read in place by EnvelopeReader, through real rings. */
class TypedFramesTest {

    /** Every payload kind (i % 3), every status branch, many laps of a small ring. */
    @ParameterizedTest
    @EnumSource(RegionKind.class)
    void envelopesRoundTripThroughARing(RegionKind kind) {
        if (kind != RegionKind.SPSC && kind != RegionKind.MPSC) {
            return;
        }
        try (Segment s = Segment.createMemfd("typed", new Spec().ring("r", kind, 1 << 14));
                RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            TypedWriter tw = new TypedWriter(w);
            EnvelopeReader er = new EnvelopeReader();
            for (long i = 0; i < 600; i++) {
                long idx = i;
                int n = tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> TestEnvelopes.build(b, 3, idx));
                assertEquals(0, n % 16, "claims are multiples of 16");
                Frame f = r.next();
                assertEquals(Envelopes.TYPE, f.type());
                assertEquals(n, f.length());
                // docs/schemas.md: the payload is a standard buffer: root offset at 0, "FRB1" at 4.
                assertEquals('F', f.getByte(4));
                assertEquals('1', f.getByte(7));
                Envelope e = er.read(f);
                assertNull(TestEnvelopes.check(er, e, 3, i));
                r.release();
            }
            assertEquals(600, tw.frames());
            assertTrue(tw.fallbacks() <= 2, "fallbacks " + tw.fallbacks() + ": the bound adapts");
        }
    }

    @Test
    void privateCopyModeReadsTheSame() {
        try (Segment s = Segment.createMemfd("typedcopy", new Spec().ring("r", RegionKind.SPSC, 1 << 14));
                RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            TypedWriter tw = new TypedWriter(w);
            EnvelopeReader er = new EnvelopeReader().privateCopy(true);
            for (long i = 0; i < 30; i++) {
                long idx = i;
                tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> TestEnvelopes.build(b, 0, idx));
                Envelope e = er.read(r.next());
                assertTrue(e.getByteBuffer().hasArray(), "reads a heap copy");
                assertNull(TestEnvelopes.check(er, e, 0, i));
                r.release();
            }
        }
    }

    /** A frame that outgrows its claim goes on in a heap buffer and is copied into a bigger claim, counted. */
    @Test
    void fallbackToABiggerClaimIsCountedAndCorrect() {
        try (Segment s = Segment.createMemfd("typedfb", new Spec().ring("r", RegionKind.SPSC, 1 << 16));
                RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            TypedWriter tw = new TypedWriter(w, 250);
            EnvelopeReader er = new EnvelopeReader();
            assertEquals(256, tw.bound(), "rounded up to 16");
            for (int size : new int[] {10, 3000, 3000, 5, 9000}) {
                byte[] data = new byte[size];
                for (int k = 0; k < size; k++) {
                    data[k] = (byte) (k * 31 + size);
                }
                long before = tw.fallbacks();
                int n = tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> {
                    int v = Raw.createDataVector(b, data);
                    int raw = Raw.createRaw(b, v);
                    return Envelope.createEnvelope(b, size, 0, 0, Kind.OneWay, 7, 0, 0, Payload.Raw, raw);
                });
                Frame f = r.next();
                assertEquals(n, f.length());
                Envelope e = er.read(f);
                assertEquals(size, e.sequence());
                Raw raw = er.raw();
                assertNotNull(raw);
                assertEquals(size, raw.dataLength());
                for (int k = 0; k < size; k++) {
                    assertEquals(data[k] & 0xFF, raw.data(k));
                }
                r.release();
                if (size == 3000 && before == 0 || size == 9000) {
                    assertEquals(before + 1, tw.fallbacks(), "size " + size + " outgrew the claim");
                    assertTrue(tw.bound() >= tw.lastSize(), "the bound grew to the frame");
                } else if (size != 5) {
                    assertEquals(before, tw.fallbacks(), "size " + size + " fit");
                }
            }
            assertEquals(2, tw.fallbacks());
        }
    }

    @Test
    void aFrameLargerThanTheRingIsRefusedAndTheRingStaysUsable() {
        try (Segment s = Segment.createMemfd("typedbig", new Spec().ring("r", RegionKind.SPSC, 4096));
                RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            TypedWriter tw = new TypedWriter(w);
            byte[] big = new byte[5000];
            assertThrows(IllegalArgumentException.class, () -> tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER,
                    b -> Raw.createRaw(b, Raw.createDataVector(b, big))));
            assertTrue(!w.hasClaim());
            tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> TestEnvelopes.build(b, 0, 1));
            EnvelopeReader er = new EnvelopeReader();
            assertNull(TestEnvelopes.check(er, er.read(r.next()), 0, 1));
            r.release();
        }
    }

    @Test
    void anExceptionInTheBuildFunctionAbortsTheClaim() {
        try (Segment s = Segment.createMemfd("typedexc", new Spec().ring("r", RegionKind.SPSC, 4096));
                RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            TypedWriter tw = new TypedWriter(w);
            assertThrows(IllegalStateException.class, () -> tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> {
                b.createString("partial");
                throw new IllegalStateException("user bug");
            }));
            assertTrue(!w.hasClaim());
            assertNull(r.tryNext());
            tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> TestEnvelopes.build(b, 0, 4));
            EnvelopeReader er = new EnvelopeReader();
            assertNull(TestEnvelopes.check(er, er.read(r.next()), 0, 4));
        }
    }

    @Test
    void aFrameOfAnotherTypeIsACorruptFrame() {
        try (Segment s = Segment.createMemfd("typedtype", new Spec().ring("r", RegionKind.SPSC, 4096));
                RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            w.claim(1, 32);
            w.commit();
            w.claim(Envelopes.TYPE, 32); // zeroes: root offset 0
            w.commit();
            EnvelopeReader er = new EnvelopeReader();
            assertThrows(CorruptFrameException.class, () -> er.read(r.next()));
            assertThrows(CorruptFrameException.class, () -> er.read(r.next()));
            assertThrows(IllegalStateException.class, er::payloadType);
        }
    }

    /** The stock reading path (what another language does): the payload alone, root offset at 0. */
    @Test
    void thePayloadIsAStandardFlatBuffer() {
        try (Segment s = Segment.createMemfd("typedstd", new Spec().ring("r", RegionKind.SPSC, 1 << 14));
                RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            TypedWriter tw = new TypedWriter(w, 1024); // a large gap
            tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> TestEnvelopes.build(b, 1, 5));
            byte[] payload = r.next().toArray();
            ByteBuffer bb = ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
            assertTrue(Envelope.EnvelopeBufferHasIdentifier(bb));
            Envelope e = Envelope.getRootAsEnvelope(bb);
            assertEquals(5, e.sequence());
            assertEquals("fb=5", e.trace().tracestate());
            // and a buffer built off-ring (no gap) reads the same through the verifier
            FlatBufferBuilder b = new FlatBufferBuilder(64);
            b.finish(TestEnvelopes.build(b, 1, 5), Envelopes.FILE_IDENTIFIER);
            byte[] plain = b.sizedByteArray();
            EnvelopeReader er = new EnvelopeReader();
            assertNull(TestEnvelopes.check(er, er.read(ByteBuffer.wrap(plain).order(ByteOrder.LITTLE_ENDIAN), 0, plain.length), 1, 5));
        }
    }

    /** The README's "Typed frames" example, as written there. */
    @Test
    void readmeExample() {
        try (Segment seg = Segment.createMemfd("typedreadme", new Spec().ring("requests", RegionKind.SPSC, 1 << 14));
                RingReader r = seg.reader("requests")) {
            TypedWriter tw = new TypedWriter(seg.writer("requests"));
            tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> {
                int name = b.createString("risk");
                int version = b.createString("v1");
                int req = io.framebridge.frames.fb.ModelRequest.createModelRequest(b, name, version, 0);
                Envelope.startEnvelope(b);
                Envelope.addSequence(b, 42);
                Envelope.addCorrelationId(b, 42);
                Envelope.addKind(b, Kind.Request);
                Envelope.addPayloadType(b, Payload.ModelRequest);
                Envelope.addPayload(b, req);
                return Envelope.endEnvelope(b);
            });
            EnvelopeReader er = new EnvelopeReader();
            Frame f = r.next();
            Envelope env = er.read(f);
            io.framebridge.frames.fb.ModelRequest req = er.modelRequest();
            assertEquals(42, env.correlationId());
            assertEquals("risk", req.modelName());
            assertNull(er.features());
            r.release();
        }
    }

    /** Growing past the claim (fallback) never writes outside it: the ring's free space stays zero. */
    @Test
    void theBuilderNeverWritesPastItsClaim() {
        int cap = 1 << 14;
        try (Segment s = Segment.createMemfd("typedpast", new Spec().ring("r", RegionKind.SPSC, cap));
                RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            ByteBuffer b = s.buffer();
            int base = (int) s.region("r").offset();
            int data = base + Layout.RING_DATA_OFFSET;
            TypedWriter tw = new TypedWriter(w, 16);
            for (int size = 1; size < 6000; size = size * 3 + 1) {
                byte[] payload = new byte[size];
                java.util.Arrays.fill(payload, (byte) 0x5A);
                tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, fb -> {
                    int raw = Raw.createRaw(fb, Raw.createDataVector(fb, payload));
                    return Envelope.createEnvelope(fb, 1, 0, 0, Kind.OneWay, 1, 0, 0, Payload.Raw, raw);
                });
                long tail = b.getLong(base + Layout.TAIL_POSITION_OFFSET);
                long head = b.getLong(base + Layout.HEAD_POSITION_OFFSET);
                for (long p = tail; p < head + cap; p++) {
                    assertEquals(0, b.get(data + (int) (p & (cap - 1))), "free byte at position " + p + " after a frame of " + size);
                }
                EnvelopeReader er = new EnvelopeReader();
                er.read(r.next());
                assertEquals(size, er.raw().dataLength());
                r.release();
            }
            assertTrue(tw.fallbacks() >= 3, "fallbacks " + tw.fallbacks());
        }
    }

    @Test
    void buildWithATimeoutGivesUpOnAFullRingWithoutCallingTheFunction() {
        try (Segment s = Segment.createMemfd("typedfull", new Spec().ring("r", RegionKind.SPSC, 4096));
                RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            TypedWriter tw = new TypedWriter(w, 1024);
            int n = 0;
            while (tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> TestEnvelopes.build(b, 0, 1), 0,
                    java.util.concurrent.TimeUnit.MILLISECONDS) > 0) {
                n++;
            }
            assertTrue(n >= 2, n + " frames fit");
            int[] calls = new int[1];
            long t0 = System.nanoTime();
            assertEquals(-1, tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> {
                calls[0]++;
                return TestEnvelopes.build(b, 0, 1);
            }, 20, java.util.concurrent.TimeUnit.MILLISECONDS));
            assertTrue(System.nanoTime() - t0 >= 15_000_000L, "waited for the timeout");
            assertEquals(0, calls[0]);
            assertTrue(!w.hasClaim());
            EnvelopeReader er = new EnvelopeReader();
            for (int i = 0; i < n; i++) {
                assertNull(TestEnvelopes.check(er, er.read(r.next()), 0, 1));
            }
            r.release();
            assertTrue(tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> TestEnvelopes.build(b, 0, 1), 1,
                    java.util.concurrent.TimeUnit.SECONDS) > 0, "space again after release");
            assertThrows(UnsupportedOperationException.class, () -> w.claim(1, 8).inPlaceBuffer());
        }
    }
}
