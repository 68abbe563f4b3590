package io.framebridge.frames;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.flatbuffers.FlatBufferBuilder;
import io.framebridge.CorruptFrameException;
import io.framebridge.frames.fb.Envelope;
import io.framebridge.frames.fb.Kind;
import io.framebridge.frames.fb.ModelResponse;
import io.framebridge.frames.fb.Payload;
import io.framebridge.tools.TestEnvelopes;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** The verifier's corruption cases: each is a CorruptFrameException, nothing else. */
class FlatVerifierTest {

    /** Envelope i of writer 1, built off-ring, as exactly-sized bytes. */
    static byte[] envelope(long i) {
        FlatBufferBuilder b = new FlatBufferBuilder(64);
        b.finish(TestEnvelopes.build(b, 1, i), Envelopes.FILE_IDENTIFIER);
        return b.sizedByteArray();
    }

    static ByteBuffer le(byte[] a) {
        return ByteBuffer.wrap(a).order(ByteOrder.LITTLE_ENDIAN);
    }

    static Envelope read(EnvelopeReader er, byte[] a) {
        return er.read(le(a), 0, a.length);
    }

    static int vtable(ByteBuffer b, int t) {
        return t - b.getInt(t);
    }

    /** Position of field vo of table t. */
    static int field(ByteBuffer b, int t, int vo) {
        int fo = b.getShort(vtable(b, t) + vo) & 0xFFFF;
        assertTrue(fo != 0, "field " + vo + " present");
        return t + fo;
    }

    static int target(ByteBuffer b, int at) {
        return at + b.getInt(at);
    }

    /** Applies a corruption to a fresh copy of envelope i; it must be rejected with a CorruptFrameException. */
    static String rejects(long i, Consumer<ByteBuffer> corrupt) {
        byte[] a = envelope(i);
        ByteBuffer b = le(a);
        corrupt.accept(b);
        CorruptFrameException e = assertThrows(CorruptFrameException.class, () -> read(new EnvelopeReader(), a));
        return e.getMessage();
    }

    @Test
    void validEnvelopesOfEveryKindVerifyAndRead() {
        EnvelopeReader er = new EnvelopeReader();
        for (long i = 0; i < 30; i++) {
            assertNull(TestEnvelopes.check(er, read(er, envelope(i)), 1, i));
        }
    }

    @Test
    void shortBuffersAndIdentifiers() {
        byte[] a = envelope(0);
        EnvelopeReader er = new EnvelopeReader();
        for (int n = 0; n < 8; n++) {
            int len = n;
            assertThrows(CorruptFrameException.class, () -> er.read(le(a), 0, len));
        }
        String m = rejects(0, b -> b.put(4, (byte) 'X'));
        assertTrue(m.contains("identifier"), m);
    }

    @Test
    void rootOffsets() {
        rejects(0, b -> b.putInt(0, 0));
        rejects(0, b -> b.putInt(0, -4));
        rejects(0, b -> b.putInt(0, b.capacity()));
        rejects(0, b -> b.putInt(0, Integer.MAX_VALUE));
        String m = rejects(0, b -> b.putInt(0, b.getInt(0) + 1));
        assertTrue(m.contains("misaligned"), m);
    }

    @Test
    void vtables() {
        rejects(0, b -> b.putInt(b.getInt(0), -100_000)); // vtable past the end
        rejects(0, b -> b.putInt(b.getInt(0), 100_000)); // before the start
        rejects(0, b -> b.putInt(b.getInt(0), b.getInt(0) + 1)); // misaligned, before the start
        rejects(0, b -> b.putShort(vtable(b, b.getInt(0)), (short) 5)); // odd size
        rejects(0, b -> b.putShort(vtable(b, b.getInt(0)), (short) 0x9000)); // Java reads it as negative
        rejects(0, b -> b.putShort(vtable(b, b.getInt(0)), (short) 0x7FF0)); // past the end
        String m = rejects(0, b -> b.putShort(vtable(b, b.getInt(0)) + 4, (short) 0x8004)); // sequence field offset
        assertTrue(m.contains("32768"), m);
    }

    @Test
    void scalarFieldsOutsideOrMisaligned() {
        rejects(3, b -> {
            int t = b.getInt(0);
            b.putShort(vtable(b, t) + 4, (short) (b.capacity() - 4 - t)); // 8-byte sequence crossing the end
        });
        rejects(3, b -> {
            int t = b.getInt(0);
            b.putShort(vtable(b, t) + 4, (short) (field(b, t, 4) - t + 2)); // misaligned u64
        });
    }

    @Test
    void strings() {
        // envelope 2 has status_message "not found #2"
        rejects(2, b -> b.putInt(target(b, field(b, b.getInt(0), 8)), 1_000_000)); // length past the end
        rejects(2, b -> b.putInt(target(b, field(b, b.getInt(0), 8)), -1));
        String m = rejects(2, b -> {
            int s = target(b, field(b, b.getInt(0), 8));
            b.put(s + 4 + b.getInt(s), (byte) 'x'); // no NUL terminator
        });
        assertTrue(m.contains("NUL"), m);
        for (byte[] bad : new byte[][] {{(byte) 0xFF}, {(byte) 0xC0, (byte) 0x80}, {(byte) 0xED, (byte) 0xA0, (byte) 0x80},
                {(byte) 0xF4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, {(byte) 0xE2, (byte) 0x28, (byte) 0xA1},
                {(byte) 'o', (byte) 'k', (byte) 0xC3}}) {
            m = rejects(2, b -> {
                int s = target(b, field(b, b.getInt(0), 8));
                int n = b.getInt(s);
                for (int k = 0; k < bad.length; k++) {
                    b.put(s + 4 + n - bad.length + k, bad[k]);
                }
            });
            assertTrue(m.contains("UTF-8"), m);
        }
        rejects(2, b -> b.putInt(field(b, b.getInt(0), 8), 0)); // offset 0
        rejects(2, b -> b.putInt(field(b, b.getInt(0), 8), -8)); // backwards
    }

    @Test
    void vectorsAndNestedTables() {
        // envelope 0: MediaChunk payload with a 160-byte data vector (vtable slot 26)
        rejects(0, b -> {
            int chunk = target(b, field(b, b.getInt(0), 20));
            b.putInt(target(b, field(b, chunk, 26)), 0x7FFFFFFF);
        });
        rejects(0, b -> {
            int chunk = target(b, field(b, b.getInt(0), 20));
            b.putInt(target(b, field(b, chunk, 26)), -1);
        });
        rejects(0, b -> b.putInt(field(b, b.getInt(0), 20), b.capacity())); // payload offset past the end
        // envelope 1: ModelRequest -> Tensor (shape: 2 longs)
        rejects(1, b -> {
            int req = target(b, field(b, b.getInt(0), 20));
            int tensor = target(b, field(b, req, 8));
            b.putInt(target(b, field(b, tensor, 6)), 1 << 29); // 2^29 * 8 bytes
        });
        // envelope 2: ModelResponse labels (vector of strings): an element pointing outside, or backwards
        rejects(2, b -> {
            int resp = target(b, field(b, b.getInt(0), 20));
            b.putInt(target(b, field(b, resp, 10)) + 4, 1 << 20);
        });
        rejects(2, b -> {
            int resp = target(b, field(b, b.getInt(0), 20));
            b.putInt(target(b, field(b, resp, 10)) + 8, -64);
        });
        // trace: a nested table whose vtable is outside
        rejects(2, b -> {
            int trace = target(b, field(b, b.getInt(0), 16));
            b.putInt(trace, -1_000_000);
        });
    }

    @Test
    void unions() {
        // a union value that is not a table of its type: MediaChunk's data field offset read as a string...
        EnvelopeReader er = new EnvelopeReader();
        byte[] a = envelope(1);
        ByteBuffer b = le(a);
        int t = b.getInt(0);
        b.put(field(b, t, 18), (byte) 9); // a payload type newer than the schema: accepted, never read
        Envelope e = read(er, a);
        assertEquals(1, e.sequence());
        assertEquals(Payload.NONE, er.payloadType());
        assertNull(er.modelRequest());
        assertNull(er.mediaChunk());
        b.put(field(b, t, 18), Payload.ModelRequest);
        int req = target(b, field(b, t, 20));
        b.putInt(req, -0x10000); // its vtable far outside
        assertThrows(CorruptFrameException.class, () -> read(er, a));
    }

    @Test
    void depthAndTableLimits() {
        byte[] a = envelope(1); // Envelope -> ModelRequest -> Tensor: depth 3
        EnvelopeReader er = new EnvelopeReader();
        er.verifier().maxDepth(2);
        String m = assertThrows(CorruptFrameException.class, () -> read(er, a)).getMessage();
        assertTrue(m.contains("deeper"), m);
        er.verifier().maxDepth(3);
        assertNotNull(read(er, a));
        er.verifier().maxTables(3);
        assertThrows(CorruptFrameException.class, () -> read(er, a));
        er.verifier().maxTables(FlatVerifier.DEFAULT_MAX_TABLES);
        assertNotNull(read(er, a));
    }

    /** One string shared by thousands of labels: valid FlatBuffers, but verification work is bounded. */
    @Test
    void sharedStringsCannotMakeVerificationSlow() {
        FlatBufferBuilder b = new FlatBufferBuilder(1024);
        int big = b.createString("x".repeat(4000));
        int[] refs = new int[3000];
        java.util.Arrays.fill(refs, big);
        int labels = ModelResponse.createLabelsVector(b, refs);
        int resp = ModelResponse.createModelResponse(b, 0, 0, 0, labels, 0, 0, 0);
        b.finish(Envelope.createEnvelope(b, 1, 0, 0, Kind.Response, 1, 0, 0, Payload.ModelResponse, resp),
                Envelopes.FILE_IDENTIFIER);
        byte[] a = b.sizedByteArray();
        String m = assertThrows(CorruptFrameException.class, () -> read(new EnvelopeReader(), a)).getMessage();
        assertTrue(m.contains("64x"), m);
        // a few shares are fine
        FlatBufferBuilder c = new FlatBufferBuilder(1024);
        int s = c.createString("fraud");
        int l2 = ModelResponse.createLabelsVector(c, new int[] {s, s, s});
        int r2 = ModelResponse.createModelResponse(c, 0, 0, 0, l2, 0, 0, 0);
        c.finish(Envelope.createEnvelope(c, 1, 0, 0, Kind.Response, 1, 0, 0, Payload.ModelResponse, r2),
                Envelopes.FILE_IDENTIFIER);
        EnvelopeReader er = new EnvelopeReader();
        read(er, c.sizedByteArray());
        assertEquals("fraud", er.modelResponse().labels(2));
    }

    @Test
    void bigEndianBuffersAndBadRangesAreCallerErrors() {
        byte[] a = envelope(0);
        FlatVerifier v = new FlatVerifier();
        assertThrows(IllegalArgumentException.class, () -> v.root(ByteBuffer.wrap(a), 0, a.length, null));
        assertThrows(IllegalArgumentException.class, () -> v.root(le(a), 0, a.length + 1, null));
        assertThrows(IllegalArgumentException.class, () -> v.root(le(a), -1, 4, null));
    }
}
