package io.framebridge.frames;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.flatbuffers.FlatBufferBuilder;
import io.framebridge.Frame;
import io.framebridge.RegionKind;
import io.framebridge.RingReader;
import io.framebridge.RingWriter;
import io.framebridge.Segment;
import io.framebridge.Spec;
import io.framebridge.TypedWriter;
import io.framebridge.frames.fb.Envelope;
import io.framebridge.frames.fb.Kind;
import io.framebridge.frames.fb.Payload;
import io.framebridge.frames.fb.Raw;
import io.framebridge.frames.fb.TraceContext;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Envelopes laid out by hand ({@link EnvelopeLayout}) against the same envelopes made by a
 * {@link FlatBufferBuilder}: every subset of the fields verifies and reads back identically through the
 * generated accessors, every byte is written, and the Go-laid vectors still read.
 */
class EnvelopeLayoutTest {
    static final byte[] MESSAGE = "deadline exceeded: ünïcödé".getBytes(StandardCharsets.UTF_8);
    static final byte[] PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".getBytes(StandardCharsets.UTF_8);
    static final byte[] STATE = "congo=t61rcWkgMzE".getBytes(StandardCharsets.UTF_8);
    static final int[] RAW_SIZES = {-1, 0, 1, 3, 64, 1000}; // -1: no payload
    // Trace variants: 0 none, 1 empty TraceContext, 2 parent only, 3 state only, 4 both.
    static final int TRACES = 5;

    /** One combination: bit i of mask sets scalar/string field i; trace and raw size as above. */
    record Fields(int mask, int trace, int rawSize) {
        long sequence() {
            return (mask & 1) != 0 ? 0x0102030405060708L : 0;
        }

        int status() {
            return (mask & 2) != 0 ? 14 : 0;
        }

        boolean message() {
            return (mask & 4) != 0;
        }

        int kind() {
            return (mask & 8) != 0 ? Kind.Response : Kind.Unspecified;
        }

        long corr() {
            return (mask & 16) != 0 ? -7L : 0;
        }

        long deadline() {
            return (mask & 32) != 0 ? 1790000000000000123L : 0;
        }

        byte[] parent() {
            return trace == 2 || trace == 4 ? PARENT : null;
        }

        byte[] state() {
            return trace == 3 || trace == 4 ? STATE : null;
        }

        byte[] raw() {
            if (rawSize < 0) {
                return null;
            }
            byte[] d = new byte[rawSize];
            for (int k = 0; k < rawSize; k++) {
                d[k] = (byte) ((k * 31 + mask) % 200); // never 0xEE (the unwritten-byte marker)
            }
            return d;
        }

        EnvelopeLayout lay(EnvelopeLayout l) {
            l.reset().sequence(sequence()).status(status()).kind(kind()).correlationId(corr()).deadlineUnixNano(deadline());
            if (message()) {
                l.statusMessage(MESSAGE, 0, MESSAGE.length);
            }
            if (trace != 0) {
                l.trace(parent(), state());
            }
            byte[] d = raw();
            if (d != null) {
                l.raw(d, 0, d.length);
            }
            return l;
        }

        byte[] build() {
            FlatBufferBuilder b = new FlatBufferBuilder(64);
            byte[] d = raw();
            int rawOff = d == null ? 0 : Raw.createRaw(b, b.createByteVector(d));
            int msg = message() ? b.createString(ByteBuffer.wrap(MESSAGE)) : 0;
            int tr = 0;
            if (trace != 0) {
                int p = parent() == null ? 0 : b.createString(ByteBuffer.wrap(PARENT));
                int s = state() == null ? 0 : b.createString(ByteBuffer.wrap(STATE));
                tr = TraceContext.createTraceContext(b, p, s);
            }
            int e = Envelope.createEnvelope(b, sequence(), status(), msg, kind(), corr(), deadline(), tr,
                    d == null ? Payload.NONE : Payload.Raw, rawOff);
            b.finish(e, Envelopes.FILE_IDENTIFIER);
            return b.sizedByteArray();
        }
    }

    static String str(ByteBuffer bb) {
        if (bb == null) {
            return null;
        }
        byte[] a = new byte[bb.remaining()];
        bb.duplicate().get(a);
        return new String(a, StandardCharsets.UTF_8);
    }

    /** Everything the generated accessors read from a verified envelope, as one string. */
    static String describe(EnvelopeReader er, Envelope e) {
        StringBuilder s = new StringBuilder();
        s.append("seq=").append(e.sequence()).append(" status=").append(e.status()).append(" msg=").append(e.statusMessage())
                .append(" kind=").append(e.kind()).append(" corr=").append(e.correlationId()).append(" deadline=")
                .append(e.deadlineUnixNano());
        TraceContext t = er.trace();
        s.append(" trace=").append(t == null ? "none" : t.traceparent() + "|" + t.tracestate());
        s.append(" payloadType=").append(e.payloadType()).append(" known=").append(er.payloadType());
        Raw r = er.raw();
        if (r != null) {
            byte[] d = new byte[r.dataLength()];
            for (int k = 0; k < d.length; k++) {
                d[k] = (byte) r.data(k);
            }
            s.append(" raw=").append(Arrays.toString(d));
            assertEquals(d.length, er.rawDataLength());
            for (int k = 0; k < d.length; k++) {
                assertEquals(d[k], er.buffer().get(er.rawDataPosition() + k), "rawDataPosition byte " + k);
            }
        }
        return s.toString();
    }

    static Envelope read(EnvelopeReader er, byte[] a) {
        return er.read(ByteBuffer.wrap(a).order(ByteOrder.LITTLE_ENDIAN), 0, a.length);
    }

    @Test
    void everySubsetOfFieldsVerifiesAndReadsLikeABuiltEnvelope() {
        EnvelopeReader er = new EnvelopeReader();
        EnvelopeLayout l = new EnvelopeLayout();
        int checked = 0;
        for (int mask = 0; mask < 64; mask++) {
            for (int trace = 0; trace < TRACES; trace++) {
                for (int rawSize : RAW_SIZES) {
                    Fields f = new Fields(mask, trace, rawSize);
                    String want = describe(er, read(er, f.build()));

                    int n = f.lay(l).size();
                    assertEquals(0, n % 16, f + ": size " + n);
                    // Written at an 8-aligned offset into bytes that are not zero: every byte must be written.
                    byte[] a = new byte[n + 24];
                    Arrays.fill(a, (byte) 0xEE);
                    ByteBuffer bb = ByteBuffer.wrap(a).order(ByteOrder.LITTLE_ENDIAN);
                    int rawAt = l.write(bb, 8);
                    assertEquals(rawSize >= 0, rawAt >= 0, f + ": raw position " + rawAt);
                    for (int k = 0; k < 8; k++) {
                        assertEquals((byte) 0xEE, a[k], f + ": byte " + k + " before the frame written");
                        assertEquals((byte) 0xEE, a[8 + n + k], f + ": byte " + k + " after the frame written");
                    }
                    byte[] frame = Arrays.copyOfRange(a, 8, 8 + n);
                    assertEquals(want, describe(er, read(er, frame)), f.toString());
                    assertTrue(Arrays.equals(frame, f.lay(l).encode()), f + ": write and encode differ");
                    // No stale 0xEE: the padding is zero (only payload/strings could hold 0xEE, and they do not).
                    for (int k = 0; k < n; k++) {
                        assertTrue(frame[k] != (byte) 0xEE, f + ": byte " + k + " not written");
                    }
                    checked++;
                }
            }
        }
        assertEquals(64 * TRACES * RAW_SIZES.length, checked);
    }

    @Test
    void theSameShapeAgainHasOnlyTheNewValues() {
        // One layout reused across shapes (a template is kept per shape in turn) against a fresh one per envelope
        // (always the full path): byte for byte the same, three times over, shapes interleaved.
        EnvelopeLayout reused = new EnvelopeLayout();
        int checked = 0;
        for (int round = 0; round < 3; round++) {
            for (int mask = 0; mask < 64; mask++) {
                for (int rawSize : RAW_SIZES) {
                    for (int again = 0; again < 2; again++) {
                        Fields f = new Fields(mask, mask % TRACES, rawSize);
                        int salt = round * 2 + again;
                        EnvelopeLayout want = f.lay(new EnvelopeLayout());
                        f.lay(reused);
                        for (EnvelopeLayout l : new EnvelopeLayout[] {want, reused}) {
                            if (f.sequence() != 0) {
                                l.sequence(f.sequence() + salt);
                            }
                            if (f.corr() != 0) {
                                l.correlationId(f.corr() - salt);
                            }
                            if (f.deadline() != 0) {
                                l.deadlineUnixNano(f.deadline() + salt);
                            }
                            if (f.status() != 0) {
                                l.status(f.status() + salt);
                            }
                            if (f.kind() != 0) {
                                l.kind(Kind.Request + salt % 2);
                            }
                            byte[] d = f.raw();
                            if (d != null) {
                                for (int k = 0; k < d.length; k++) {
                                    d[k] += (byte) salt;
                                }
                                l.raw(d, 0, d.length);
                            }
                        }
                        byte[] w = new byte[want.size() + 16];
                        Arrays.fill(w, (byte) 0xEE);
                        int wantRawAt = want.write(ByteBuffer.wrap(w).order(ByteOrder.LITTLE_ENDIAN), 8);
                        byte[] a = new byte[reused.size() + 16];
                        Arrays.fill(a, (byte) 0xEE);
                        int rawAt = reused.write(ByteBuffer.wrap(a).order(ByteOrder.LITTLE_ENDIAN), 8);
                        assertTrue(Arrays.equals(w, a), f + " round " + round + " again " + again);
                        assertEquals(wantRawAt, rawAt, f + ": raw position");
                        checked++;
                    }
                }
            }
        }
        assertEquals(3 * 64 * RAW_SIZES.length * 2, checked);
    }

    @Test
    void anEmptyEnvelopeIsThirtyTwoBytesAsInCppAndVerifies() {
        EnvelopeLayout l = new EnvelopeLayout();
        byte[] a = l.encode();
        assertEquals(32, a.length); // prefix 8, vtable 4, pad 4, table 4 (soffset), pad to 16
        Envelope e = read(new EnvelopeReader(), a);
        assertEquals(0, e.sequence());
        assertNull(e.statusMessage());
    }

    @Test
    void theRawPayloadAndTraceAreCopiedFromAByteBufferRange() {
        ByteBuffer src = ByteBuffer.allocateDirect(256).order(ByteOrder.LITTLE_ENDIAN);
        for (int k = 0; k < 256; k++) {
            src.put(k, (byte) k);
        }
        src.put(100, PARENT, 0, 20);
        EnvelopeLayout l = new EnvelopeLayout().raw(src, 10, 5).trace(src, 100, 20, -1, 0).sequence(9);
        EnvelopeReader er = new EnvelopeReader();
        Envelope e = read(er, l.encode());
        assertEquals(9, e.sequence());
        assertEquals(5, er.rawDataLength());
        for (int k = 0; k < 5; k++) {
            assertEquals(10 + k, er.buffer().get(er.rawDataPosition() + k));
        }
        assertEquals(new String(PARENT, 0, 20, StandardCharsets.UTF_8), er.trace().traceparent());
        assertNull(er.trace().tracestate());
    }

    @Test
    void sourceRangesOutsideTheirBufferAreRefused() {
        EnvelopeLayout l = new EnvelopeLayout();
        byte[] a = new byte[8];
        assertThrows(IndexOutOfBoundsException.class, () -> l.raw(a, 4, 5));
        assertThrows(IndexOutOfBoundsException.class, () -> l.raw(a, -1, 1));
        assertThrows(IndexOutOfBoundsException.class, () -> l.raw(ByteBuffer.allocate(8), 0, 9));
        assertThrows(IndexOutOfBoundsException.class, () -> l.trace(ByteBuffer.allocate(8), 6, 4, -1, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> l.statusMessage(a, 0, -1));
        // A frame that does not fit its destination, or a big-endian destination, is refused too.
        l.reset().raw(new byte[40], 0, 40);
        assertThrows(IndexOutOfBoundsException.class, () -> l.write(ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN), 8));
        assertThrows(IllegalArgumentException.class, () -> l.write(ByteBuffer.allocate(256), 0));
    }

    @Test
    void aTypedWriterCommitsExactlyTheLaidOutEnvelope() {
        EnvelopeReader er = new EnvelopeReader();
        EnvelopeLayout l = new EnvelopeLayout();
        try (Segment s = Segment.createMemfd("layout", new Spec().ring("r", RegionKind.SPSC, 1 << 12));
                RingWriter w = s.writer("r"); RingReader r = s.reader("r")) {
            TypedWriter tw = new TypedWriter(w);
            // More frames than the ring holds at once: the layout lands at every offset, across the wrap.
            for (int i = 0; i < 200; i++) {
                Fields f = new Fields(i % 64, i % TRACES, RAW_SIZES[i % RAW_SIZES.length]);
                String want = describe(er, read(er, f.build()));
                int n = tw.writeEnvelope(f.lay(l), 0, TimeUnit.NANOSECONDS);
                assertEquals(l.size(), n);
                Frame got = r.next();
                assertEquals(n, got.length());
                assertEquals(want, describe(er, er.read(got)), f.toString());
                r.release();
            }
            assertEquals(200, tw.frames());
            // Too large for the ring: refused before any claim.
            l.reset().raw(new byte[1 << 12], 0, 1 << 12);
            assertThrows(IllegalArgumentException.class, () -> tw.writeEnvelope(l, 0, TimeUnit.NANOSECONDS));
            assertTrue(!w.hasClaim());
        }
    }

    @Test
    void theGoLaidVectorsReadAndTheirFieldsRelayIdentically() throws IOException {
        String td = System.getProperty("framebridge.testdata"); // as GoldenImageTest.testdata()
        Path dir = (td != null ? Path.of(td) : Path.of("..", "schemas", "testdata")).resolve("frames");
        EnvelopeReader er = new EnvelopeReader();
        EnvelopeLayout l = new EnvelopeLayout();
        int checked = 0;
        for (int i = 0; i < 3; i++) {
            Path p = dir.resolve("envelope-w1-i" + i + "-fields.fbs.bin");
            assumeTrue(Files.isRegularFile(p), p + " absent");
            byte[] a = Files.readAllBytes(p);
            Envelope e = read(er, a);
            assertNull(io.framebridge.tools.TestEnvelopes.check(er, e, 1, i), p.toString());
            // Lay out its envelope fields (not the payload) by hand, copying the trace from the Go frame.
            l.reset().sequence(e.sequence()).status(e.status()).kind(e.kind()).correlationId(e.correlationId())
                    .deadlineUnixNano(e.deadlineUnixNano());
            if (e.statusMessage() != null) {
                l.statusMessage(e.statusMessage());
            }
            boolean traced = er.copyTraceTo(l);
            assertEquals(er.trace() != null, traced);
            String want = e.sequence() + " " + e.status() + " " + e.statusMessage() + " " + e.kind() + " " + e.correlationId() + " "
                    + e.deadlineUnixNano() + " " + (traced ? er.trace().traceparent() + "|" + er.trace().tracestate() : "none");
            Envelope g = read(er, l.encode());
            String got = g.sequence() + " " + g.status() + " " + g.statusMessage() + " " + g.kind() + " " + g.correlationId() + " "
                    + g.deadlineUnixNano() + " " + (er.trace() != null ? er.trace().traceparent() + "|" + er.trace().tracestate() : "none");
            assertEquals(want, got, p.toString());
            checked++;
        }
        assertEquals(3, checked);
    }
}
