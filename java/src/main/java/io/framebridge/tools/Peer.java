package io.framebridge.tools;

import com.google.flatbuffers.FlatBufferBuilder;
import io.framebridge.CorruptFrameException;
import io.framebridge.Frame;
import io.framebridge.RingReader;
import io.framebridge.RingWriter;
import io.framebridge.Segment;
import io.framebridge.TypedWriter;
import io.framebridge.frames.EnvelopeReader;
import io.framebridge.frames.Envelopes;
import io.framebridge.frames.fb.DType;
import io.framebridge.frames.fb.Envelope;
import io.framebridge.frames.fb.Kind;
import io.framebridge.frames.fb.ModelRequest;
import io.framebridge.frames.fb.ModelResponse;
import io.framebridge.frames.fb.Payload;
import io.framebridge.frames.fb.Tensor;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * The Java peer program of docs/peers.md: {@code write}, {@code read}, {@code echo}, {@code ping},
 * {@code stream-write}, {@code stream-read}, and the typed-frame commands {@code typed-write},
 * {@code typed-read}, {@code typed-echo}, {@code typed-ping} (FlatBuffers only: {@code --format capnp} is a
 * usage error, Java has no Cap'n Proto code generator here), and the channel commands {@code serve}, {@code call},
 * {@code call-script}, {@code call-ping}, {@code call-torture} ({@link PeerChannel}). Prints {@code ready} once attached, a final {@code ok ...}
 * line and exits 0; a failed check prints {@code FAIL: ...} and exits 1; usage errors exit 2.
 *
 * <pre>java -cp framebridge-0.1.0-SNAPSHOT.jar io.framebridge.tools.Peer read --segment S --ring r --count 1000 --writers 2</pre>
 */
public final class Peer {
    static final int TYPE_DATA = 1;
    static final int TYPE_STOP = 2;
    /** Bytes of a test frame that name its writer and index. */
    static final int HEADER_BYTES = 12;

    private static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String m) {
            super(m);
        }
    }

    private static final class CheckFailed extends Exception {
        private static final long serialVersionUID = 1L;

        CheckFailed(String m) {
            super(m);
        }
    }

    private final PrintStream out;
    private String segment;
    private String ring;
    private String in;
    private String outRing;
    private long count;
    private int sizeMin = 64;
    private int sizeMax = 64;
    private int writer;
    private int writers = 1;
    private long spinUs = -1;
    private int pauseUs;
    private long seed = 1;
    private long holdAt = -1;
    private int releaseEvery = 16;
    private int iters = 10000;
    private int warmup = 1000;
    private String format = "fbs";
    private String payload = "model";
    private Random rng;
    private Segment seg;

    private Peer(PrintStream out) {
        this.out = out;
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs one command; returns the exit code (0 ok, 1 failed check, 2 usage). */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0) {
            err.println("usage: Peer write|read|echo|ping|stream-write|stream-read|typed-write|typed-read|typed-echo|typed-ping"
                    + "|serve|call|call-script|call-ping|call-torture [flags] (see docs/peers.md)");
            return 2;
        }
        String cmd = args[0];
        if (PeerChannel.handles(cmd)) {
            return PeerChannel.run(cmd, Arrays.copyOfRange(args, 1, args.length), out, err, System.in);
        }
        Peer p = new Peer(out);
        try {
            p.parse(Arrays.copyOfRange(args, 1, args.length));
            p.rng = new Random(p.seed);
            switch (cmd) {
                case "write": p.write(); break;
                case "read": p.read(); break;
                case "echo": p.echo(); break;
                case "ping": p.ping(); break;
                case "stream-write": p.streamWrite(); break;
                case "stream-read": p.streamRead(); break;
                case "typed-write": p.typedWrite(); break;
                case "typed-read": p.typedRead(); break;
                case "typed-echo": p.typedEcho(); break;
                case "typed-ping": p.typedPing(); break;
                default: throw new UsageException("unknown command " + cmd);
            }
            return 0;
        } catch (UsageException e) {
            err.println("peer: " + e.getMessage());
            return 2;
        } catch (CheckFailed e) {
            out.println("FAIL: " + e.getMessage());
            out.flush();
            return 1;
        } catch (RuntimeException e) {
            out.println("FAIL: " + e);
            out.flush();
            return 1;
        } finally {
            if (p.seg != null) {
                p.seg.close();
            }
        }
    }

    private void parse(String[] a) throws UsageException {
        Map<String, String> v;
        try {
            v = Flags.parse(a);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        try {
            for (Map.Entry<String, String> e : v.entrySet()) {
                String val = e.getValue();
                switch (e.getKey()) {
                    case "segment": segment = val; break;
                    case "ring": ring = val; break;
                    case "in": in = val; break;
                    case "out": outRing = val; break;
                    case "count": count = Long.parseLong(val); break;
                    case "size": parseSize(val); break;
                    case "writer": writer = Integer.parseInt(val); break;
                    case "writers": writers = Integer.parseInt(val); break;
                    case "spin-us": spinUs = Long.parseLong(val); break;
                    case "pause-us": pauseUs = Integer.parseInt(val); break;
                    case "seed": seed = Long.parseLong(val); break;
                    case "hold-at": holdAt = Long.parseLong(val); break;
                    case "release-every": releaseEvery = Integer.parseInt(val); break;
                    case "iters": iters = Integer.parseInt(val); break;
                    case "warmup": warmup = Integer.parseInt(val); break;
                    case "format": format = val; break;
                    case "payload": payload = val; break;
                    default: throw new UsageException("unknown flag --" + e.getKey());
                }
            }
        } catch (NumberFormatException e) {
            throw new UsageException("bad number: " + e.getMessage());
        }
        if (segment == null || segment.isEmpty()) {
            throw new UsageException("--segment is required");
        }
        if (format.equals("capnp")) {
            throw new UsageException("--format capnp: the Java peer speaks FlatBuffers only (there is no Cap'n Proto"
                    + " code generator for Java here); use --format fbs");
        }
        if (!format.equals("fbs")) {
            throw new UsageException("--format " + format + ": want fbs (or capnp, Go and C++ only)");
        }
        if (!payload.equals("model") && !payload.equals("minimal")) {
            throw new UsageException("--payload " + payload + ": want model or minimal");
        }
        if (count < 0 || writers < 1 || writer < 0 || releaseEvery < 1 || iters < 1 || warmup < 0 || pauseUs < 0) {
            throw new UsageException("negative or zero count, writers, release-every or iters");
        }
    }

    private void parseSize(String s) throws UsageException {
        int colon = s.indexOf(':');
        if (colon >= 0) {
            sizeMin = Integer.parseInt(s.substring(0, colon));
            sizeMax = Integer.parseInt(s.substring(colon + 1));
        } else {
            sizeMin = Integer.parseInt(s);
            sizeMax = sizeMin;
        }
        if (sizeMin < HEADER_BYTES || sizeMax < sizeMin) {
            throw new UsageException("size " + s + ": want " + HEADER_BYTES + " <= MIN <= MAX");
        }
    }

    // ---- frame content (docs/peers.md) ------------------------------------------------------------

    /** Payload size of frame i: min + (i * 7919) % (max - min + 1). */
    static int size(long i, int min, int max) {
        return min + (int) Long.remainderUnsigned(i * 7919L, max - min + 1L);
    }

    /** Fills frame i of writer w. */
    static void fill(Frame f, int len, int w, long i) {
        f.putInt(0, w);
        f.putLong(4, i);
        int v = (int) (i + 7 * HEADER_BYTES + w) & 0xFF;
        for (int k = HEADER_BYTES; k < len; k++) {
            f.putByte(k, (byte) v);
            v = (v + 7) & 0xFF;
        }
    }

    /** Checks every byte after the header of frame i of writer w. */
    static void check(Frame f, int w, long i) throws CheckFailed {
        int v = (int) (i + 7 * HEADER_BYTES + w) & 0xFF;
        int len = f.length();
        for (int k = HEADER_BYTES; k < len; k++) {
            int got = f.getByte(k) & 0xFF;
            if (got != v) {
                throw new CheckFailed("writer " + w + " frame " + i + ": byte " + k + " is 0x" + Integer.toHexString(got)
                        + ", want 0x" + Integer.toHexString(v));
            }
            v = (v + 7) & 0xFF;
        }
    }

    // ---- commands ----------------------------------------------------------------------------------

    private void say(String s) {
        out.println(s);
        out.flush();
    }

    private static void need(String... names) throws UsageException {
        for (String n : names) {
            if (n == null || n.isEmpty()) {
                throw new UsageException("missing ring name flag (--ring, --in or --out)");
            }
        }
    }

    private RingWriter openWriter(String name) {
        RingWriter w = seg.writer(name);
        if (spinUs >= 0) {
            w.spinNanos(TimeUnit.MICROSECONDS.toNanos(spinUs));
        }
        return w;
    }

    private RingReader openReader(String name) {
        RingReader r = seg.reader(name);
        if (spinUs >= 0) {
            r.spinNanos(TimeUnit.MICROSECONDS.toNanos(spinUs));
        }
        return r;
    }

    private void maybePause() {
        if (pauseUs > 0 && rng.nextInt(64) == 0) {
            long us = rng.nextInt(pauseUs + 1);
            try {
                TimeUnit.MICROSECONDS.sleep(us);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void write() throws UsageException {
        need(ring);
        seg = Segment.attach(segment);
        try (RingWriter w = openWriter(ring)) {
            say("ready");
            for (long i = 0; i < count; i++) {
                int n = size(i, sizeMin, sizeMax);
                Frame f = w.claim(TYPE_DATA, n);
                fill(f, n, writer, i);
                if (i == holdAt) {
                    for (int k = n / 2; k < n; k++) {
                        f.putByte(k, (byte) 0); // a half-written frame: the reader must never deliver it
                    }
                    say("holding " + i);
                    for (;;) {
                        try {
                            Thread.sleep(Long.MAX_VALUE);
                        } catch (InterruptedException e) {
                            // wait to be killed
                        }
                    }
                }
                w.commit(n);
                maybePause();
            }
        }
        say("ok frames=" + count);
    }

    private void read() throws UsageException, CheckFailed {
        need(ring);
        seg = Segment.attach(segment);
        long bytes = 0;
        try (RingReader r = openReader(ring)) {
            say("ready");
            long[] next = new long[writers];
            for (long got = 0; got < count; got++) {
                Frame f = r.next();
                if (f.type() != TYPE_DATA) {
                    throw new CheckFailed("frame " + got + " has type " + f.type() + ", want " + TYPE_DATA);
                }
                if (f.length() < HEADER_BYTES) {
                    throw new CheckFailed("frame of " + f.length() + " bytes is shorter than the 12-byte test header");
                }
                long w = Integer.toUnsignedLong(f.getInt(0));
                long i = f.getLong(4);
                if (w >= writers) {
                    throw new CheckFailed("frame " + got + " names writer " + w + "; expected " + writers + " writers");
                }
                if (i != next[(int) w]) {
                    throw new CheckFailed("writer " + w + ": got frame " + i + ", want " + next[(int) w] + " (lost or reordered)");
                }
                check(f, (int) w, i);
                next[(int) w]++;
                bytes += f.length();
                if ((got + 1) % releaseEvery == 0) {
                    r.release();
                }
                maybePause();
            }
            r.release();
        }
        say("ok frames=" + count + " bytes=" + bytes + " abandoned=" + seg.counters(ring).abandonedRecords());
    }

    private void echo() throws UsageException {
        need(in, outRing);
        seg = Segment.attach(segment);
        try (RingReader r = openReader(in); RingWriter w = openWriter(outRing)) {
            say("ready");
            for (long n = 1; ; n++) {
                Frame f = r.next();
                int type = f.type();
                Frame o = w.claim(type, f.length());
                o.putFrame(0, f);
                r.release();
                w.commit();
                if (type == TYPE_STOP) {
                    say("ok frames=" + n);
                    return;
                }
            }
        }
    }

    private void ping() throws UsageException, CheckFailed {
        need(in, outRing);
        seg = Segment.attach(segment);
        try (RingWriter w = openWriter(outRing); RingReader r = openReader(in)) {
            say("ready");
            int size = sizeMin;
            long[] samples = new long[iters];
            for (int i = 0; i < warmup + iters; i++) {
                long d = roundTrip(w, r, i, TYPE_DATA, size);
                if (i >= warmup) {
                    samples[i - warmup] = d;
                }
            }
            roundTrip(w, r, warmup + iters, TYPE_STOP, size);
            Arrays.sort(samples);
            say("ok p50_ns=" + percentile(samples, 50) + " p99_ns=" + percentile(samples, 99) + " iters=" + iters);
        }
    }

    private static long roundTrip(RingWriter w, RingReader r, long i, int type, int size) throws CheckFailed {
        long start = System.nanoTime();
        Frame f = w.claim(type, size);
        f.putInt(0, 0);
        f.putLong(4, i);
        w.commit();
        Frame e = r.next();
        long d = System.nanoTime() - start;
        long got = e.length() >= HEADER_BYTES ? e.getLong(4) : -1;
        if (got != i || e.length() != size || e.type() != type) {
            throw new CheckFailed("echo of round trip " + i + " came back as " + got + " (" + e.length() + " bytes, type "
                    + e.type() + ")");
        }
        r.release();
        return d;
    }

    /** Nearest-rank percentile of sorted samples. */
    static long percentile(long[] sorted, double q) {
        if (sorted.length == 0) {
            return 0;
        }
        int i = (int) (q / 100 * sorted.length + 0.5) - 1;
        return sorted[Math.max(0, Math.min(i, sorted.length - 1))];
    }

    private void streamWrite() throws UsageException {
        need(ring);
        int size = sizeMin;
        if (size < 16) {
            throw new UsageException("stream frames need at least 16 bytes");
        }
        seg = Segment.attach(segment);
        try (RingWriter w = openWriter(ring)) {
            say("ready");
            for (long i = 0; i < count; i++) {
                Frame f = w.claim(TYPE_DATA, size);
                f.putLong(0, i);
                f.putLong(8, size);
                w.commit();
            }
            w.claim(TYPE_STOP, 16);
            w.commit();
        }
        say("ok frames=" + count);
    }

    private void streamRead() throws UsageException, CheckFailed {
        need(ring);
        seg = Segment.attach(segment);
        try (RingReader r = openReader(ring)) {
            say("ready");
            long frames = 0;
            long bytes = 0;
            long start = 0;
            int pending = 0;
            for (;;) {
                Frame f = r.tryNext();
                if (f == null) {
                    r.release();
                    pending = 0;
                    f = r.next();
                }
                if (frames == 0 && start == 0) {
                    start = System.nanoTime();
                }
                if (f.type() == TYPE_STOP) {
                    long ns = System.nanoTime() - start;
                    r.release();
                    say("ok frames=" + frames + " bytes=" + bytes + " ns=" + ns);
                    return;
                }
                if (f.length() < 16 || f.getLong(0) != frames) {
                    throw new CheckFailed("stream frame " + frames + " out of order or short (" + f.length() + " bytes)");
                }
                frames++;
                bytes += f.length();
                if (++pending == 256) {
                    r.release();
                    pending = 0;
                }
            }
        }
    }

    // ---- typed frames (docs/peers.md "Typed frames", docs/schemas.md) ------------------------------------

    private void typedWrite() throws UsageException {
        need(ring);
        seg = Segment.attach(segment);
        try (RingWriter w = openWriter(ring)) {
            TypedWriter tw = new TypedWriter(w);
            say("ready");
            int wr = writer;
            for (long i = 0; i < count; i++) {
                long idx = i;
                tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> TestEnvelopes.build(b, wr, idx));
            }
            say("ok frames=" + count + " fallbacks=" + tw.fallbacks() + " bound=" + tw.bound());
        }
    }

    private void typedRead() throws UsageException, CheckFailed {
        need(ring);
        seg = Segment.attach(segment);
        EnvelopeReader er = new EnvelopeReader();
        try (RingReader r = openReader(ring)) {
            say("ready");
            long[] next = new long[writers];
            for (long got = 0; got < count; got++) {
                Frame f = r.next();
                Envelope e;
                try {
                    e = er.read(f);
                } catch (CorruptFrameException x) {
                    throw new CheckFailed("frame " + got + " (seq " + f.sequence() + ", " + f.length() + " bytes): " + x.getMessage());
                }
                long w = e.correlationId() >>> 32;
                if (w >= writers) {
                    throw new CheckFailed("frame " + got + ": correlation_id " + Long.toHexString(e.correlationId())
                            + " names writer " + w + "; expected " + writers + " writers");
                }
                long i = next[(int) w];
                if (e.sequence() != i) {
                    throw new CheckFailed("writer " + w + ": got envelope " + Long.toUnsignedString(e.sequence()) + ", want " + i
                            + " (lost or reordered)");
                }
                String bad = TestEnvelopes.check(er, e, (int) w, i);
                if (bad != null) {
                    throw new CheckFailed(bad);
                }
                next[(int) w]++;
                if ((got + 1) % releaseEvery == 0) {
                    r.release();
                }
            }
            r.release();
        }
        say("ok frames=" + count);
    }

    /** The typed-echo response to a verified request: kind Response, same correlation id and sequence, status 0. */
    private static int response(FlatBufferBuilder b, long sequence, long correlationId, boolean model) {
        int payloadOffset = 0;
        if (model) {
            int name = b.createString("risk");
            int version = b.createString("v3");
            b.startVector(4, 2, 4);
            b.addFloat(0.5f);
            b.addFloat(0.5f);
            int scores = b.endVector();
            int fraud = b.createString("fraud");
            int ok = b.createString("ok");
            b.startVector(4, 2, 4);
            b.addOffset(ok);
            b.addOffset(fraud);
            int labels = b.endVector();
            payloadOffset = ModelResponse.createModelResponse(b, name, version, scores, labels, 0, 0, 0);
        }
        Envelope.startEnvelope(b);
        Envelope.addCorrelationId(b, correlationId);
        Envelope.addSequence(b, sequence);
        if (model) {
            Envelope.addPayload(b, payloadOffset);
            Envelope.addPayloadType(b, Payload.ModelResponse);
        }
        Envelope.addKind(b, Kind.Response);
        return Envelope.endEnvelope(b);
    }

    private void typedEcho() throws UsageException, CheckFailed {
        need(in, outRing);
        seg = Segment.attach(segment);
        EnvelopeReader er = new EnvelopeReader();
        try (RingReader r = openReader(in); RingWriter w = openWriter(outRing)) {
            TypedWriter tw = new TypedWriter(w);
            say("ready");
            for (long n = 1; ; n++) {
                Frame f = r.next();
                if (f.type() == TYPE_STOP) {
                    Frame o = w.claim(TYPE_STOP, f.length());
                    o.putFrame(0, f);
                    r.release();
                    w.commit();
                    say("ok frames=" + n);
                    return;
                }
                Envelope e;
                try {
                    e = er.read(f);
                } catch (CorruptFrameException x) {
                    throw new CheckFailed("frame " + n + ": " + x.getMessage());
                }
                long seq = e.sequence();
                long corr = e.correlationId();
                boolean model = er.payloadType() == Payload.ModelRequest;
                r.release(); // before building: the response may need the space
                tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> response(b, seq, corr, model));
            }
        }
    }

    /** typed-ping's request i: a ModelRequest of 256 float32 features, or the minimal envelope. */
    private static int request(FlatBufferBuilder b, long i, boolean model, float[] features) {
        int payloadOffset = 0;
        if (model) {
            int name = b.createString("risk");
            int version = b.createString("v1");
            b.startVector(8, 2, 8);
            b.addLong(features.length);
            b.addLong(1);
            int shape = b.endVector();
            b.startVector(1, 4 * features.length, 16); // force_align: 16
            for (int k = features.length - 1; k >= 0; k--) {
                b.putFloat(features[k]);
            }
            int data = b.endVector();
            int tensor = Tensor.createTensor(b, DType.Float32, shape, data);
            payloadOffset = ModelRequest.createModelRequest(b, name, version, tensor);
        }
        Envelope.startEnvelope(b);
        Envelope.addCorrelationId(b, i);
        Envelope.addSequence(b, i);
        if (model) {
            Envelope.addPayload(b, payloadOffset);
            Envelope.addPayloadType(b, Payload.ModelRequest);
        }
        Envelope.addKind(b, Kind.Request);
        return Envelope.endEnvelope(b);
    }

    private void typedPing() throws UsageException, CheckFailed {
        need(in, outRing);
        seg = Segment.attach(segment);
        boolean model = payload.equals("model");
        float[] features = new float[256];
        for (int k = 0; k < features.length; k++) {
            features[k] = k / 256.0f;
        }
        EnvelopeReader er = new EnvelopeReader();
        try (RingWriter w = openWriter(outRing); RingReader r = openReader(in)) {
            TypedWriter tw = new TypedWriter(w);
            say("ready");
            long[] samples = new long[iters];
            int bytes = 0;
            for (int i = 0; i < warmup + iters; i++) {
                long idx = i;
                long start = System.nanoTime();
                bytes = tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, b -> request(b, idx, model, features));
                Frame f = r.next();
                Envelope e;
                try {
                    e = er.read(f);
                } catch (CorruptFrameException x) {
                    throw new CheckFailed("response " + i + ": " + x.getMessage());
                }
                long corr = e.correlationId();
                float score = 0;
                if (model) {
                    ModelResponse resp = er.modelResponse();
                    score = resp == null || resp.scoresLength() != 2 ? -1 : resp.scores(0) + resp.scores(1);
                }
                long d = System.nanoTime() - start;
                if (corr != i || e.sequence() != i || e.kind() != Kind.Response || (model && score != 1.0f)) {
                    throw new CheckFailed("response " + i + " came back as correlation_id " + corr + ", sequence " + e.sequence()
                            + ", kind " + e.kind() + (model ? ", scores sum " + score : ""));
                }
                r.release();
                if (i >= warmup) {
                    samples[i - warmup] = d;
                }
            }
            Frame stop = w.claim(TYPE_STOP, 16);
            stop.putLong(0, warmup + iters);
            w.commit();
            Frame e = r.next();
            if (e.type() != TYPE_STOP) {
                throw new CheckFailed("stop frame came back as type " + e.type());
            }
            r.release();
            Arrays.sort(samples);
            say("ok p50_ns=" + percentile(samples, 50) + " p99_ns=" + percentile(samples, 99) + " iters=" + iters
                    + " bytes=" + bytes);
        }
    }
}
