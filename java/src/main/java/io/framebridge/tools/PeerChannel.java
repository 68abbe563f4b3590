package io.framebridge.tools;

import com.google.flatbuffers.FlatBufferBuilder;
import io.framebridge.PeerDeadException;
import io.framebridge.RingFullException;
import io.framebridge.channel.Body;
import io.framebridge.channel.CallStatusException;
import io.framebridge.channel.DeadlineExceededException;
import io.framebridge.channel.Fields;
import io.framebridge.channel.FrameClient;
import io.framebridge.channel.FrameServer;
import io.framebridge.channel.ResponseHandler;
import io.framebridge.channel.TestService;
import io.framebridge.frames.fb.DType;
import io.framebridge.frames.fb.MediaChunk;
import io.framebridge.frames.fb.MediaFormat;
import io.framebridge.frames.fb.ModelRequest;
import io.framebridge.frames.fb.ModelResponse;
import io.framebridge.frames.fb.Payload;
import io.framebridge.frames.fb.Raw;
import io.framebridge.frames.fb.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The channel commands of the Java peer (docs/peers.md "Channels"): {@code serve}, {@code call},
 * {@code call-script}, {@code call-ping}, {@code call-torture}. Exit codes as {@link Peer}: 0 ok, 1 a failed
 * check ({@code FAIL: ...}), 2 usage.
 */
final class PeerChannel {
    static final String[] COMMANDS = {"serve", "call", "call-script", "call-ping", "call-torture"};

    static final class Usage extends Exception {
        private static final long serialVersionUID = 1L;

        Usage(String m) {
            super(m);
        }
    }

    static final class Failed extends Exception {
        private static final long serialVersionUID = 1L;

        Failed(String m) {
            super(m);
        }
    }

    private final PrintStream out;
    private final InputStream stdin;
    private String socket;
    private int workers;
    private int socketMode = 0600;
    private int[] allowUids = new int[0];
    private long spinUs = -1;
    private long count = 1000;
    private int inflight = -1;
    private int size = 64;
    private long deadlineMs = 10_000;
    private int iters = 10_000;
    private int warmup = 1000;
    private long redialMs = 10_000;

    private PeerChannel(PrintStream out, InputStream stdin) {
        this.out = out;
        this.stdin = stdin;
    }

    static boolean handles(String cmd) {
        return Arrays.asList(COMMANDS).contains(cmd);
    }

    /** Runs one channel command; returns the exit code. */
    static int run(String cmd, String[] args, PrintStream out, PrintStream err, InputStream stdin) {
        PeerChannel p = new PeerChannel(out, stdin);
        try {
            p.parse(args);
            switch (cmd) {
                case "serve": p.serve(); break;
                case "call": p.call(); break;
                case "call-ping": p.callPing(); break;
                case "call-script": p.callScript(); break;
                case "call-torture": p.callTorture(); break;
                default: throw new Usage("unknown command " + cmd);
            }
            return 0;
        } catch (Usage e) {
            err.println("peer: " + e.getMessage());
            return 2;
        } catch (Failed e) {
            out.println("FAIL: " + e.getMessage());
            out.flush();
            return 1;
        } catch (RuntimeException | InterruptedException | IOException e) {
            out.println("FAIL: " + e);
            out.flush();
            return 1;
        }
    }

    private void parse(String[] a) throws Usage {
        Map<String, String> v;
        try {
            v = Flags.parse(a);
        } catch (IllegalArgumentException e) {
            throw new Usage(e.getMessage());
        }
        try {
            for (Map.Entry<String, String> e : v.entrySet()) {
                String val = e.getValue();
                switch (e.getKey()) {
                    case "socket": socket = val; break;
                    case "workers": workers = Integer.parseInt(val); break;
                    case "socket-mode": socketMode = Integer.parseInt(val, 8); break;
                    case "allow-uid":
                        allowUids = Arrays.stream(val.split(",")).mapToInt(Integer::parseInt).toArray();
                        break;
                    case "spin-us": spinUs = Long.parseLong(val); break;
                    case "count": count = Long.parseLong(val); break;
                    case "inflight": inflight = Integer.parseInt(val); break;
                    case "size": size = Integer.parseInt(val); break;
                    case "deadline-ms": deadlineMs = Long.parseLong(val); break;
                    case "iters": iters = Integer.parseInt(val); break;
                    case "warmup": warmup = Integer.parseInt(val); break;
                    case "redial-ms": redialMs = Long.parseLong(val); break;
                    default: throw new Usage("unknown flag --" + e.getKey());
                }
            }
        } catch (NumberFormatException e) {
            throw new Usage("bad number: " + e.getMessage());
        }
        if (socket == null || socket.isEmpty()) {
            throw new Usage("--socket is required");
        }
        if (size < 8 || count < 0 || iters < 1 || warmup < 0 || workers < 0 || deadlineMs < 1) {
            throw new Usage("--size must be >= 8; --count, --iters, --warmup, --workers >= 0; --deadline-ms >= 1");
        }
    }

    private void say(String s) {
        out.println(s);
        out.flush();
    }

    private FrameClient.Options clientOptions() {
        FrameClient.Options o = new FrameClient.Options();
        if (spinUs >= 0) {
            o.spinNanos(spinUs * 1000);
        }
        return o;
    }

    // ---- serve -----------------------------------------------------------------------------------------

    private void serve() throws IOException {
        FrameServer.Options o = new FrameServer.Options().socketMode(socketMode)
                .onClosed((gen, reason) -> say("closed gen=" + gen + " reason=" + reason));
        if (allowUids.length > 0) {
            o.allow(allowUids, null);
        }
        if (spinUs >= 0) {
            o.spinNanos(spinUs * 1000);
        }
        ExecutorService pool = workers > 0 ? Executors.newFixedThreadPool(workers) : null;
        if (pool != null) {
            o.executor(pool, Math.max(64, workers * 4));
        }
        FrameServer s;
        try {
            s = FrameServer.listen(socket, o);
        } catch (RuntimeException e) {
            if (pool != null) {
                pool.shutdownNow();
            }
            throw e;
        }
        try {
            s.serve(new TestService());
            say("ready");
            while (stdin.read() >= 0) {
                // serve until standard input reaches end of file
            }
        } finally {
            // On a failure the exception goes on to run(), which prints FAIL and exits 1: no ok line then.
            s.close();
            if (pool != null) {
                pool.shutdownNow();
            }
        }
        say("ok connections=" + s.accepted() + " calls=" + s.calls() + " expired="
                + (s.expiredRequests() + s.expiredResponses()));
    }

    // ---- the echo call of docs/peers.md ------------------------------------------------------------------

    /** Builds call i's Raw request (bytes 0..7 = i, byte k = (i + k) & 0xFF; sequence i). Reused per thread. */
    static final class EchoCall implements Body, ResponseHandler<EchoCall> {
        private static final java.lang.invoke.VarHandle LONG = java.lang.invoke.MethodHandles.byteArrayViewVarHandle(long[].class,
                java.nio.ByteOrder.LITTLE_ENDIAN);
        final byte[] data;
        long i;
        String bad;
        /** System.nanoTime as the response reached read, before the check (call-ping stops its clock there). */
        long readAt;

        EchoCall(int size) {
            data = new byte[size];
        }

        EchoCall at(long idx) {
            i = idx;
            for (int k = 0; k < 8; k++) {
                data[k] = (byte) (idx >>> (8 * k));
            }
            for (int k = 8; k < data.length; k++) {
                data[k] = (byte) (idx + k);
            }
            bad = null;
            return this;
        }

        @Override
        public void build(FlatBufferBuilder b, Fields f) {
            int v = b.createByteVector(data);
            f.sequence(i).payload(Payload.Raw, Raw.createRaw(b, v));
        }

        @Override
        public EchoCall read(io.framebridge.frames.fb.Envelope env, io.framebridge.frames.EnvelopeReader er) {
            readAt = System.nanoTime();
            Raw raw = er.raw();
            if (env.sequence() != i) {
                bad = "call " + i + ": response sequence " + env.sequence();
            } else if (raw == null || er.rawDataLength() != data.length) {
                bad = "call " + i + ": response payload " + (raw == null ? "missing" : er.rawDataLength() + " bytes") + ", want "
                        + data.length + " bytes";
            } else {
                java.nio.ByteBuffer bb = er.buffer();
                int at = er.rawDataPosition();
                int k = 0;
                for (; k + 8 <= data.length; k += 8) { // eight bytes at a time while they match
                    if (bb.getLong(at + k) != (long) LONG.get(data, k)) {
                        break;
                    }
                }
                for (; k < data.length; k++) { // absolute reads: no vtable lookup per byte
                    if (bb.get(at + k) != data[k]) {
                        bad = "call " + i + ": response byte " + k + " = " + (bb.get(at + k) & 0xFF) + ", want " + (data[k] & 0xFF);
                        break;
                    }
                }
            }
            return this;
        }

        void checkBefore(FrameClient c, long deadlineNanoTime) throws Failed {
            EchoCall r = c.callRawBefore(i, data, 0, data.length, this, deadlineNanoTime, false);
            if (r.bad != null) {
                throw new Failed(r.bad);
            }
        }

        void check(FrameClient c, long timeoutMs) throws Failed {
            EchoCall r = c.callRaw(i, data, 0, data.length, this, timeoutMs, TimeUnit.MILLISECONDS);
            if (r.bad != null) {
                throw new Failed(r.bad);
            }
        }
    }

    private void call() throws Failed, InterruptedException {
        int k = inflight < 1 ? 1 : inflight;
        try (FrameClient c = FrameClient.dial(socket, Duration.ofSeconds(10), clientOptions())) {
            say("ready");
            AtomicLong next = new AtomicLong();
            AtomicReference<String> fail = new AtomicReference<>();
            Thread[] ts = new Thread[k];
            for (int t = 0; t < k; t++) {
                ts[t] = new Thread(() -> {
                    EchoCall e = new EchoCall(size);
                    for (long i; fail.get() == null && (i = next.getAndIncrement()) < count; ) {
                        try {
                            e.at(i).check(c, deadlineMs);
                        } catch (Failed | RuntimeException x) {
                            fail.compareAndSet(null, x.getMessage() == null ? x.toString() : x.toString());
                        }
                    }
                });
                ts[t].start();
            }
            for (Thread t : ts) {
                t.join();
            }
            if (fail.get() != null) {
                throw new Failed(fail.get());
            }
        }
        say("ok calls=" + count);
    }

    private void callPing() throws Failed {
        try (FrameClient c = FrameClient.dial(socket, Duration.ofSeconds(10), clientOptions())) {
            say("ready");
            EchoCall e = new EchoCall(size);
            long[] samples = new long[iters];
            for (int i = 0; i < warmup + iters; i++) {
                // As the Go peer: the payload (the caller's data) is made before the clock starts, and the
                // clock stops as the response reaches read, before the echo is checked (in full, untimed).
                e.at(i);
                long start = System.nanoTime();
                e.checkBefore(c, start + deadlineMs * 1_000_000); // the call reads no clock of its own
                long d = e.readAt - start;
                if (i >= warmup) {
                    samples[i - warmup] = d;
                }
            }
            Arrays.sort(samples);
            say("ok p50_ns=" + Peer.percentile(samples, 50) + " p99_ns=" + Peer.percentile(samples, 99) + " iters=" + iters);
        }
    }

    // ---- call-script ----------------------------------------------------------------------------------

    private static Body raw(String s) {
        byte[] d = s.getBytes(StandardCharsets.UTF_8);
        return (b, f) -> f.payload(Payload.Raw, Raw.createRaw(b, b.createByteVector(d)));
    }

    private static Body rawBytes(byte[] d) {
        return (b, f) -> f.payload(Payload.Raw, Raw.createRaw(b, b.createByteVector(d)));
    }

    private void callScript() throws Failed, InterruptedException {
        int checks = 0;
        try (FrameClient c = FrameClient.dial(socket, Duration.ofSeconds(10), clientOptions())) {
            say("ready");
            // fail:7;
            try {
                c.call(raw("fail:7;"), (e, er) -> null, 10, TimeUnit.SECONDS);
                throw new Failed("fail:7; succeeded");
            } catch (CallStatusException e) {
                if (e.code() != 7 || !e.statusMessage().equals("failed as asked")) {
                    throw new Failed("fail:7; gave status " + e.code() + " message '" + e.statusMessage() + "'");
                }
            }
            checks++;
            // panic; then a call succeeds
            try {
                c.call(raw("panic;"), (e, er) -> null, 10, TimeUnit.SECONDS);
                throw new Failed("panic; succeeded");
            } catch (CallStatusException e) {
                if (e.code() != 13) {
                    throw new Failed("panic; gave status " + e.code() + ", want 13");
                }
            }
            new EchoCall(size).at(1).check(c, 10_000);
            checks++;
            // ModelRequest of 16 features 0..15
            String model = c.call((b, f) -> {
                int name = b.createString("risk");
                int ver = b.createString("v7");
                b.startVector(8, 1, 8);
                b.addLong(16);
                int shape = b.endVector();
                b.startVector(1, 64, 16);
                for (int k = 15; k >= 0; k--) {
                    b.putFloat(k);
                }
                int data = b.endVector();
                int t = Tensor.createTensor(b, DType.Float32, shape, data);
                f.payload(Payload.ModelRequest, ModelRequest.createModelRequest(b, name, ver, t));
            }, (e, er) -> {
                ModelResponse m = er.modelResponse();
                if (m == null) {
                    return "no ModelResponse";
                }
                if (m.scoresLength() != 2 || m.scores(0) != 120f || m.scores(1) != 16f) {
                    return "scores " + (m.scoresLength() == 2 ? m.scores(0) + "," + m.scores(1) : m.scoresLength() + " of them");
                }
                if (m.labelsLength() != 2 || !"sum".equals(m.labels(0)) || !"count".equals(m.labels(1))) {
                    return "labels wrong";
                }
                if (!"risk".equals(m.modelName()) || !"v7".equals(m.modelVersion())) {
                    return "model name/version not copied";
                }
                return null;
            }, 10, TimeUnit.SECONDS);
            if (model != null) {
                throw new Failed("ModelRequest: " + model);
            }
            checks++;
            // MediaChunk
            String media = c.call((b, f) -> {
                int codec = b.createString("opus");
                int data = b.createByteVector(new byte[] {0, 1, 2, (byte) 0xF0});
                f.payload(Payload.MediaChunk, MediaChunk.createMediaChunk(b, codec, MediaFormat.Opus, 9, 10, 11, 12, 48000,
                        2, 0, 0, true, data));
            }, (e, er) -> {
                MediaChunk m = er.mediaChunk();
                if (m == null) {
                    return "no MediaChunk";
                }
                boolean ok = "opus".equals(m.codec()) && m.format() == MediaFormat.Opus && m.streamId() == 9 && m.ptsNs() == 10
                        && m.dtsNs() == 11 && m.durationNs() == 12 && m.sampleRate() == 48000 && m.channels() == 2 && m.keyframe()
                        && m.dataLength() == 4 && m.data(0) == 0xFF && m.data(1) == 0xFE && m.data(2) == 0xFD && m.data(3) == 0x0F;
                return ok ? null : "fields or inverted bytes wrong";
            }, 10, TimeUnit.SECONDS);
            if (media != null) {
                throw new Failed("MediaChunk: " + media);
            }
            checks++;
            // deadline: sleep:300; with 50 ms fails within 250 ms; the next call succeeds
            long t0 = System.nanoTime();
            try {
                c.call(raw("sleep:300;"), (e, er) -> null, 50, TimeUnit.MILLISECONDS);
                throw new Failed("sleep:300; with a 50 ms deadline succeeded");
            } catch (DeadlineExceededException e) {
                long ms = (System.nanoTime() - t0) / 1_000_000;
                if (ms > 250) {
                    throw new Failed("deadline error after " + ms + " ms, want <= 250");
                }
            }
            new EchoCall(size).at(2).check(c, 10_000);
            checks++;
            // ErrFull: sleep:300; in flight, fail-fast 1 KiB OneWay sends fill the request ring
            Thread sleeper = new Thread(() -> {
                try {
                    c.call(raw("sleep:300;"), (e, er) -> null, 10, TimeUnit.SECONDS);
                } catch (RuntimeException ignored) {
                    // only its effect matters: an inline server is busy
                }
            });
            sleeper.start();
            Thread.sleep(20);
            byte[] kib = new byte[1024];
            boolean full = false;
            for (int i = 0; i < 100_000 && !full; i++) {
                try {
                    c.send(rawBytes(kib), 10, TimeUnit.SECONDS, true);
                } catch (RingFullException e) {
                    full = true;
                }
            }
            sleeper.join();
            if (!full) {
                throw new Failed("fail-fast sends never reported a full request ring");
            }
            checks++;
            // 1,000 echo calls in flight at once
            int n = 1000;
            Thread[] ts = new Thread[n];
            AtomicReference<String> fail = new AtomicReference<>();
            for (int i = 0; i < n; i++) {
                long idx = 1000 + i;
                ts[i] = new Thread(() -> {
                    try {
                        new EchoCall(size).at(idx).check(c, 30_000);
                    } catch (Failed | RuntimeException x) {
                        fail.compareAndSet(null, x.toString());
                    }
                });
            }
            for (Thread t : ts) {
                t.start();
            }
            for (Thread t : ts) {
                t.join();
            }
            if (fail.get() != null) {
                throw new Failed("1000 in flight: " + fail.get());
            }
            checks++;
        }
        say("ok checks=" + checks);
    }

    // ---- call-torture ---------------------------------------------------------------------------------

    private void callTorture() throws Failed, InterruptedException {
        int k = inflight < 1 ? 8 : inflight;
        AtomicLong next = new AtomicLong();
        AtomicLong ok = new AtomicLong();
        long deaths = 0;
        FrameClient c = FrameClient.dial(socket, Duration.ofSeconds(10), clientOptions());
        say("ready");
        say("connected gen=" + c.generation());
        // Stops (after the calls in flight finish or fail) when standard input reaches end of file.
        java.util.concurrent.atomic.AtomicBoolean eof = new java.util.concurrent.atomic.AtomicBoolean();
        Thread stdinWatch = new Thread(() -> {
            try {
                while (stdin.read() >= 0) {
                    // wait for end of file
                }
            } catch (IOException e) {
                // treat a broken stdin as end of file
            }
            eof.set(true);
        }, "stdin-eof");
        stdinWatch.setDaemon(true);
        stdinWatch.start();
        while (ok.get() < count && !eof.get()) {
            AtomicLong pending = new AtomicLong();
            AtomicReference<String> fail = new AtomicReference<>();
            FrameClient cc = c;
            Thread[] ts = new Thread[k];
            for (int t = 0; t < k; t++) {
                ts[t] = new Thread(() -> {
                    EchoCall e = new EchoCall(size);
                    while (fail.get() == null && ok.get() < count && !eof.get()) {
                        long i = next.getAndIncrement();
                        try {
                            e.at(i).check(cc, deadlineMs);
                            ok.incrementAndGet();
                        } catch (PeerDeadException x) {
                            pending.incrementAndGet();
                            return;
                        } catch (Failed | RuntimeException x) {
                            fail.compareAndSet(null, x.toString());
                        }
                    }
                });
                ts[t].start();
            }
            for (Thread t : ts) {
                t.join();
            }
            if (fail.get() != null) {
                throw new Failed(fail.get());
            }
            if (c.deadReason() == null) {
                break;
            }
            deaths++;
            java.time.Instant learned = java.time.Instant.now(); // CLOCK_REALTIME, microsecond resolution
            say("dead t_ns=" + (learned.getEpochSecond() * 1_000_000_000L + learned.getNano()) + " pending=" + pending.get());
            c.close();
            long until = System.nanoTime() + redialMs * 1_000_000L;
            c = null;
            while (c == null && !eof.get()) {
                try {
                    c = FrameClient.dial(socket, Duration.ofSeconds(1), clientOptions());
                    say("connected gen=" + c.generation());
                } catch (RuntimeException e) {
                    if (System.nanoTime() - until > 0) {
                        throw new Failed("could not redial within " + redialMs + " ms: " + e.getMessage());
                    }
                    Thread.sleep(1);
                }
            }
        }
        if (c != null) {
            c.close();
        }
        say("ok calls=" + ok.get() + " deaths=" + deaths);
    }
}
