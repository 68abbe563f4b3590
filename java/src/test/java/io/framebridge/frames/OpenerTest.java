package io.framebridge.frames;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.flatbuffers.FlatBufferBuilder;
import io.framebridge.CorruptFrameException;
import io.framebridge.frames.fb.Envelope;
import io.framebridge.frames.fb.Kind;
import io.framebridge.frames.fb.Payload;
import io.framebridge.frames.fb.Raw;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The {@link Opener} (Go {@code frames.Opener}): for every input its verdict is the full verifier's, whether
 * the frame has the remembered structure, a mutated one, or another length; frames of the remembered shape
 * read as the full path reads them.
 */
class OpenerTest {
    /** Where frames are put in their buffer: positions are relative to it, never absolute. */
    static final int AT = 24;

    static byte[] raw(int n, int seed) {
        byte[] d = new byte[n];
        for (int k = 0; k < n; k++) {
            d[k] = (byte) (0xA5 + seed + k);
        }
        return d;
    }

    /** Envelopes an Opener remembers (hand-laid and builder-made, with and without Raw) and two it does not. */
    static List<byte[]> frames() {
        List<byte[]> out = new ArrayList<>();
        for (int n : new int[] {0, 3, 64, 300}) {
            out.add(new EnvelopeLayout().sequence(7).kind(Kind.Response).correlationId(9).deadlineUnixNano(11)
                    .raw(raw(n, 0), 0, n).encode());
            FlatBufferBuilder b = new FlatBufferBuilder(64);
            int v = b.createByteVector(raw(n, 0));
            int r = Raw.createRaw(b, v);
            Envelope.startEnvelope(b);
            Envelope.addCorrelationId(b, 9);
            Envelope.addPayload(b, r);
            Envelope.addKind(b, Kind.Response);
            Envelope.addPayloadType(b, Payload.Raw);
            b.finish(Envelope.endEnvelope(b), Envelopes.FILE_IDENTIFIER);
            out.add(b.sizedByteArray());
        }
        out.add(new EnvelopeLayout().kind(Kind.Response).correlationId(3).encode());
        out.add(new EnvelopeLayout().kind(Kind.Response).correlationId(3).status(5).statusMessage("failed").encode());
        out.add(new EnvelopeLayout().kind(Kind.Request).correlationId(3).trace("00-ab".getBytes(), null).raw(raw(8, 1), 0, 8)
                .encode());
        return out;
    }

    static ByteBuffer place(byte[] f, int slack) {
        ByteBuffer bb = ByteBuffer.allocate(AT + f.length + slack).order(ByteOrder.LITTLE_ENDIAN);
        bb.put(AT, f);
        return bb;
    }

    /** The full verifier's verdict: the root's position, or the exception's message. */
    static String verdict(FlatVerifier v, ByteBuffer bb, int start, int end) {
        try {
            return "root " + Envelopes.verify(v, bb, start, end);
        } catch (CorruptFrameException | IllegalArgumentException e) {
            return e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    static String verdict(Opener o, FlatVerifier v, ByteBuffer bb, int start, int end) {
        try {
            return "root " + o.open(v, bb, start, end);
        } catch (CorruptFrameException | IllegalArgumentException e) {
            return e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    /** An Opener that has seen {@code f} (twice: learned, then compared). */
    static Opener learned(byte[] f) {
        Opener o = new Opener();
        FlatVerifier v = new FlatVerifier();
        for (int i = 0; i < 2; i++) {
            ByteBuffer bb = place(f, 0);
            assertEquals("root " + Envelopes.verify(new FlatVerifier(), bb, AT, AT + f.length), verdict(o, v, bb, AT, AT + f.length));
        }
        return o;
    }

    @Test
    void framesOfTheRememberedShapeReadAsTheFullPathReadsThem() {
        for (byte[] f : frames()) {
            EnvelopeReader er = new EnvelopeReader();
            for (int round = 0; round < 3; round++) {
                byte[] g = f.clone();
                // New values in the same structure: the Raw bytes.
                EnvelopeReader plain = new EnvelopeReader();
                plain.read(ByteBuffer.wrap(g).order(ByteOrder.LITTLE_ENDIAN), 0, g.length);
                if (plain.rawDataLength() > 0) {
                    g[plain.rawDataPosition()] = (byte) round;
                }
                ByteBuffer bb = place(g, round * 8);
                EnvelopeReader fresh = new EnvelopeReader(); // its first frame takes the full path
                String want = EnvelopeLayoutTest.describe(fresh, fresh.read(place(g, 0), AT, AT + g.length));
                assertEquals(want, EnvelopeLayoutTest.describe(er, er.read(bb, AT, AT + g.length)));
            }
        }
    }

    @Test
    void everySingleByteChangeGetsTheFullVerifiersVerdict() {
        FlatVerifier full = new FlatVerifier();
        int compared = 0;
        for (byte[] f : frames()) {
            int upTo = Math.min(f.length, 160); // the structure and the start of the Raw bytes
            for (int i = 0; i < upTo; i++) {
                for (int val : new int[] {0, 1, 0x7F, 0x80, 0xFF, (f[i] + 1) & 0xFF, (f[i] - 1) & 0xFF, (f[i] + 4) & 0xFF}) {
                    byte[] g = f.clone();
                    g[i] = (byte) val;
                    ByteBuffer bb = place(g, 0);
                    String want = verdict(full, bb, AT, AT + g.length);
                    assertEquals(want, verdict(learned(f), new FlatVerifier(), bb, AT, AT + g.length),
                            "frame of " + f.length + " bytes, byte " + i + " = " + val);
                    compared++;
                }
            }
        }
        assertTrue(compared > 5000, "compared " + compared);
    }

    @Test
    void everyLengthGetsTheFullVerifiersVerdict() {
        FlatVerifier full = new FlatVerifier();
        for (byte[] f : frames()) {
            Opener o = learned(f);
            for (int n = 0; n <= f.length + 16; n++) {
                byte[] g = Arrays.copyOf(f, n);
                ByteBuffer bb = place(g, 32);
                assertEquals(verdict(full, bb, AT, AT + n), verdict(o, new FlatVerifier(), bb, AT, AT + n),
                        "frame of " + f.length + " bytes cut to " + n);
                o = learned(f); // a frame it accepted may have taught it another shape
            }
        }
    }

    @Test
    void randomMutationsGetTheFullVerifiersVerdict() {
        Random rnd = new Random(42);
        FlatVerifier full = new FlatVerifier();
        List<byte[]> fs = frames();
        for (int k = 0; k < 20000; k++) {
            byte[] f = fs.get(rnd.nextInt(fs.size()));
            byte[] g = f.clone();
            for (int m = 1 + rnd.nextInt(4); m > 0; m--) {
                int i = rnd.nextInt(Math.min(g.length, 128));
                g[i] = rnd.nextBoolean() ? (byte) rnd.nextInt(256) : (byte) (g[i] + rnd.nextInt(9) - 4);
            }
            int n = rnd.nextInt(8) == 0 ? rnd.nextInt(g.length + 1) : g.length;
            ByteBuffer bb = place(g, 8);
            Opener o = learned(f);
            assertEquals(verdict(full, bb, AT, AT + n), verdict(o, new FlatVerifier(), bb, AT, AT + n), "mutation " + k);
        }
    }

    @Test
    void theVerifiersLimitsAreHeldOnEveryFrame() {
        byte[] f = frames().get(4); // hand-laid, 64-byte Raw: two tables deep
        Opener o = learned(f);
        ByteBuffer bb = place(f, 0);
        assertThrows(CorruptFrameException.class, () -> o.open(new FlatVerifier().maxDepth(1), bb, AT, AT + f.length));
        assertThrows(CorruptFrameException.class, () -> o.open(new FlatVerifier().maxTables(1), bb, AT, AT + f.length));
        assertEquals(AT + bb.getInt(AT), o.open(new FlatVerifier(), bb, AT, AT + f.length));
        // Buffers the verifier refuses outright: the same refusal.
        ByteBuffer big = ByteBuffer.allocate(AT + f.length).put(AT, f); // big-endian
        assertThrows(IllegalArgumentException.class, () -> o.open(new FlatVerifier(), big, AT, AT + f.length));
        assertThrows(IllegalArgumentException.class, () -> o.open(new FlatVerifier(), bb, AT, AT + f.length + 1));
    }
}
