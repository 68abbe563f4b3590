package io.framebridge.frames;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.framebridge.CorruptFrameException;
import io.framebridge.Frame;
import io.framebridge.RegionKind;
import io.framebridge.RingReader;
import io.framebridge.RingWriter;
import io.framebridge.Segment;
import io.framebridge.Spec;
import io.framebridge.TypedWriter;
import io.framebridge.frames.fb.Envelope;
import io.framebridge.frames.fb.MediaChunk;
import io.framebridge.frames.fb.ModelRequest;
import io.framebridge.frames.fb.ModelResponse;
import io.framebridge.frames.fb.Raw;
import io.framebridge.frames.fb.Tensor;
import io.framebridge.frames.fb.TraceContext;
import io.framebridge.tools.TestEnvelopes;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A fuzz loop: random mutations of valid Envelope frames (built off-ring and in place in a ring, with and
 * without a gap). Each mutant is verified and, if accepted, every accessor is read. The only exception
 * allowed is CorruptFrameException. Mutants end their arrays, so any read past the frame throws
 * IndexOutOfBoundsException and fails the test; half of them start at offset 0 (a read before the frame
 * throws too), half at offset 8 (positions as in a ring). Bounded by iterations and time;
 * -Dframebridge.fuzz.seconds=N runs longer, -Dframebridge.fuzz.seed=S replays.
 */
class EnvelopeFuzzTest {
    static final int[] INTERESTING = {0, 1, -1, 2, 3, 4, 7, 8, 16, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF,
        0x80000000, 0xFFFFFFF0, -4, -8};

    static List<byte[]> seeds() {
        List<byte[]> s = new ArrayList<>();
        for (long i = 0; i < 6; i++) {
            s.add(FlatVerifierTest.envelope(i));
        }
        // frames as a ring holds them: built in place, with a gap after the root offset and identifier
        try (Segment seg = Segment.createMemfd("fuzzseed", new Spec().ring("r", RegionKind.SPSC, 1 << 14));
                RingWriter w = seg.writer("r"); RingReader r = seg.reader("r")) {
            TypedWriter tw = new TypedWriter(w, 1024);
            for (long i = 0; i < 6; i++) {
                long idx = i;
                tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> TestEnvelopes.build(b, 2, idx));
                Frame f = r.next();
                s.add(f.toArray());
                r.release();
            }
        }
        return s;
    }

    /** Reads every field of a verified envelope; returns a checksum so nothing is optimised away. */
    static long touchAll(EnvelopeReader er, Envelope e) {
        long h = e.sequence() + e.status() + e.kind() + e.correlationId() + e.deadlineUnixNano() + e.payloadType();
        h += len(e.statusMessage());
        TraceContext t = er.trace();
        if (t != null) {
            h += len(t.traceparent()) + len(t.tracestate());
        }
        MediaChunk m = er.mediaChunk();
        if (m != null) {
            h += len(m.codec()) + m.format() + m.streamId() + m.ptsNs() + m.dtsNs() + m.durationNs() + m.sampleRate()
                    + m.channels() + m.width() + m.height() + (m.keyframe() ? 1 : 0);
            for (int k = 0, n = m.dataLength(); k < n; k++) {
                h += m.data(k);
            }
        }
        ModelRequest q = er.modelRequest();
        if (q != null) {
            h += len(q.modelName()) + len(q.modelVersion());
            Tensor x = er.features();
            if (x != null) {
                h += x.dtype();
                for (int k = 0, n = x.shapeLength(); k < n; k++) {
                    h += x.shape(k);
                }
                for (int k = 0, n = x.dataLength(); k < n; k++) {
                    h += x.data(k);
                }
            }
        }
        ModelResponse p = er.modelResponse();
        if (p != null) {
            h += len(p.modelName()) + len(p.modelVersion()) + p.queueNs() + p.inferenceNs() + p.totalNs();
            for (int k = 0, n = p.scoresLength(); k < n; k++) {
                h += (long) p.scores(k);
            }
            for (int k = 0, n = p.labelsLength(); k < n; k++) {
                h += len(p.labels(k));
            }
        }
        Raw raw = er.raw();
        if (raw != null) {
            for (int k = 0, n = raw.dataLength(); k < n; k++) {
                h += raw.data(k);
            }
        }
        return h;
    }

    static int len(String s) {
        return s == null ? 0 : s.length();
    }

    static void mutate(byte[] a, int len, SplittableRandom rnd) {
        ByteBuffer b = ByteBuffer.wrap(a).order(ByteOrder.LITTLE_ENDIAN);
        int n = 1 + rnd.nextInt(4);
        for (int k = 0; k < n && len > 0; k++) {
            switch (rnd.nextInt(6)) {
                case 0: a[rnd.nextInt(len)] ^= (byte) (1 << rnd.nextInt(8)); break;
                case 1: a[rnd.nextInt(len)] = (byte) rnd.nextInt(256); break;
                case 2:
                    if (len >= 4) {
                        int at = rnd.nextBoolean() ? rnd.nextInt(len / 4) * 4 : rnd.nextInt(len - 3);
                        int v = rnd.nextBoolean() ? INTERESTING[rnd.nextInt(INTERESTING.length)] : rnd.nextInt(2 * len) - len / 2;
                        b.putInt(at, v);
                    }
                    break;
                case 3:
                    if (len >= 2) {
                        int at = rnd.nextInt(len / 2) * 2;
                        b.putShort(at, (short) (rnd.nextBoolean() ? INTERESTING[rnd.nextInt(INTERESTING.length)] : rnd.nextInt(len + 8)));
                    }
                    break;
                case 4: { // copy a chunk over another place
                    int from = rnd.nextInt(len);
                    int to = rnd.nextInt(len);
                    int c = Math.min(rnd.nextInt(16) + 1, Math.min(len - from, len - to));
                    System.arraycopy(a, from, a, to, c);
                    break;
                }
                default: a[rnd.nextInt(len)] = 0; break;
            }
        }
    }

    @Test
    void mutatedFramesOnlyEverThrowCorruptFrameException() {
        long seed = Long.getLong("framebridge.fuzz.seed", System.nanoTime());
        double seconds = Double.parseDouble(System.getProperty("framebridge.fuzz.seconds", "3"));
        int maxIters = seconds > 3 ? Integer.MAX_VALUE : 300_000;
        SplittableRandom rnd = new SplittableRandom(seed);
        List<byte[]> seeds = seeds();
        EnvelopeReader er = new EnvelopeReader();
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        long accepted = 0;
        long rejected = 0;
        long sum = 0;
        int iters = 0;
        for (; iters < maxIters && ((iters & 1023) != 0 || System.nanoTime() < deadline); iters++) {
            byte[] src = seeds.get(rnd.nextInt(seeds.size()));
            int len = rnd.nextInt(8) == 0 ? rnd.nextInt(src.length + 1) : src.length; // sometimes truncated
            byte[] a = Arrays.copyOf(src, len);
            mutate(a, len, rnd);
            // Every other mutant sits at offset 8 of a bigger buffer, as a frame in a ring (positions != 0).
            int at = (iters & 1) * 8;
            byte[] host = at == 0 ? a : new byte[len + at];
            if (at != 0) {
                System.arraycopy(a, 0, host, at, len);
                Arrays.fill(host, 0, at, (byte) 0xA5);
            }
            ByteBuffer bb = ByteBuffer.wrap(host).order(ByteOrder.LITTLE_ENDIAN);
            try {
                Envelope e = er.read(bb, at, at + len);
                sum += touchAll(er, e);
                accepted++;
            } catch (CorruptFrameException expected) {
                rejected++;
            } catch (RuntimeException | Error e) {
                AssertionError f = new AssertionError("seed " + seed + " iteration " + iters + ": " + e + " for frame "
                        + java.util.HexFormat.of().formatHex(a), e);
                throw f;
            }
        }
        System.out.println("EnvelopeFuzzTest: seed " + seed + ", " + iters + " mutants, " + accepted + " accepted, "
                + rejected + " rejected (checksum " + sum + ")");
        assertTrue(accepted > 0 && rejected > 0, "accepted " + accepted + ", rejected " + rejected);
    }

    /** Random bytes after a valid identifier: mostly rejected, never anything but CorruptFrameException. */
    @Test
    void randomBuffers() {
        SplittableRandom rnd = new SplittableRandom(42);
        EnvelopeReader er = new EnvelopeReader();
        for (int i = 0; i < 50_000; i++) {
            byte[] a = new byte[8 + rnd.nextInt(120)];
            for (int k = 0; k < a.length; k++) {
                a[k] = (byte) (rnd.nextInt(4) == 0 ? rnd.nextInt(256) : rnd.nextInt(8));
            }
            a[4] = 'F';
            a[5] = 'R';
            a[6] = 'B';
            a[7] = '1';
            a[0] = (byte) (rnd.nextInt(a.length) & ~3);
            a[1] = a[2] = a[3] = 0;
            try {
                touchAll(er, er.read(ByteBuffer.wrap(a).order(ByteOrder.LITTLE_ENDIAN), 0, a.length));
            } catch (CorruptFrameException expected) {
                // fine
            } catch (RuntimeException e) {
                fail("iteration " + i + ": " + e + " for " + java.util.HexFormat.of().formatHex(a), e);
            }
        }
    }
}
