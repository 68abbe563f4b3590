package io.framebridge.channel;

import com.google.flatbuffers.FlatBufferBuilder;
import io.framebridge.CorruptFrameException;
import io.framebridge.CorruptSegmentException;
import io.framebridge.Frame;
import io.framebridge.Layout;
import io.framebridge.Liveness;
import io.framebridge.PeerDeadException;
import io.framebridge.RegionKind;
import io.framebridge.RingReader;
import io.framebridge.RingWriter;
import io.framebridge.Segment;
import io.framebridge.Spec;
import io.framebridge.TypedWriter;
import io.framebridge.frames.EnvelopeLayout;
import io.framebridge.frames.Envelopes;
import io.framebridge.frames.fb.Envelope;
import io.framebridge.frames.fb.Kind;
import io.framebridge.frames.fb.TraceContext;
import io.framebridge.internal.Native;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One accepted connection of a {@link FrameServer}: its thread does the handshake (§2), then reads the
 * requests ring in order (§6), spinning on the ring before it sleeps like the raw {@code echo} peer (no
 * system call per request while the client keeps up); a {@link SocketWatcher} ends it when the client goes
 * (§4). The end of the connection sets the rings' stop word and pokes their futex words, so the reader and
 * a responder waiting for space return at once; the reader thread then closes the segment, which unmaps it.
 */
final class ServerConnection implements Runnable {
    private static final long SLICE_NANOS = FrameClient.SLICE_NANOS;

    private final FrameServer server;
    private final SocketFd sock;
    private final Handler handler;
    private final Thread thread;
    private volatile String reason;
    private volatile boolean closed;
    /** The rings' stop word: set when the connection ends, so waits on either ring end at once. */
    private final AtomicBoolean stop = new AtomicBoolean();
    private boolean segClosed; // guarded by this (as are the publications of seg, r, w for wakeRings)
    private SocketWatcher watcher;
    private long generation;
    private int peerPid;
    private int peerUid;
    private long helloPid;
    private Segment seg;
    private RingReader r;
    private RingWriter w;
    private TypedWriter tw;
    private final ReentrantLock writeLock = new ReentrantLock();
    private final Request inlineReq = new Request();
    private final Reply inlineReply = new Reply();
    private final Responder inlineResponder = new Responder();
    private ArrayBlockingQueue<Task> pool;
    /** Requests handed to the handler inline (written by the reader thread only; FrameServer.calls sums them). */
    final AtomicLong inlineCalls = new AtomicLong();

    ServerConnection(FrameServer server, int sock, Handler handler) {
        this.server = server;
        this.sock = new SocketFd(sock);
        this.handler = handler;
        this.thread = new Thread(this, "framebridge-conn");
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    void join(long ms) {
        try {
            thread.join(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Ends the connection with a reason (first reason wins); the reader thread tears it down. */
    void close(String why) {
        if (reason == null) {
            reason = why;
        }
        ending();
        SocketWatcher wt = watcher;
        if (wt != null) {
            wt.stop();
        } else {
            sock.shutdown(); // still in the handshake: its recv returns end of file (no-op once closed)
        }
    }

    /** Marks the connection closed and wakes whoever waits on its rings (the reader, a responder). */
    private void ending() {
        closed = true;
        stop.set(true);
        synchronized (this) {
            if (r != null && w != null && !segClosed) {
                r.wakeup();
                w.wakeup();
            }
        }
    }

    @Override
    public void run() {
        boolean ok = false;
        try {
            ok = handshake();
        } catch (RuntimeException e) {
            reason = "handshake failed: " + e.getMessage();
        }
        if (!ok) {
            server.refused.incrementAndGet();
            teardownRefused();
            return;
        }
        thread.setName("framebridge-conn gen=" + generation);
        // §4: the client's pidfd too, so a client whose socket outlives it (a forked child holds it) is noticed.
        int pidfd = PeerPidfd.open(sock.fd(), peerPid, helloPid);
        if (pidfd == PeerPidfd.EXITED) {
            close("peer-dead: the client process " + peerPid + " exited");
        }
        watcher = new SocketWatcher(sock, pidfd, "client process " + peerPid, "framebridge-conn-watch gen=" + generation, why -> {
            if (reason == null) {
                reason = why;
            }
            ending();
        });
        watcher.start();
        if (closed) {
            watcher.stop();
        }
        try {
            readLoop();
        } catch (RuntimeException e) {
            close("internal error: " + e);
        }
        watcher.stop();
        try {
            watcher.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        writeLock.lock();
        try {
            synchronized (this) {
                segClosed = true;
                seg.close(); // the reader and writer too, and unmaps it; clients keep their own mapping until they close
            }
        } finally {
            writeLock.unlock();
        }
        server.ended(this);
        FrameServer.ConnectionListener l = server.opts.onClosed;
        if (l != null) {
            l.closed(generation, reason == null ? "closed" : reason);
        }
    }

    private void teardownRefused() {
        synchronized (this) {
            segClosed = true;
            if (seg != null) {
                seg.close();
            }
        }
        sock.close();
        server.ended(this);
    }

    // ---- handshake (§2) ------------------------------------------------------------------------------------

    private boolean refuse(int status, String message) {
        byte[] wel = Handshake.welcome(status, 0, 0, 0, 0, Liveness.SELF_PID, message);
        try {
            Native.sendPacket(sock.fd(), wel, wel.length, -1);
        } catch (RuntimeException e) {
            // the client is gone; nothing to tell
        }
        reason = "refused: " + Handshake.statusName(status) + ": " + message;
        return false;
    }

    private boolean allowed(int uid, int gid) {
        FrameServer.Options o = server.opts;
        if (o.allowUids.length == 0 && o.allowGids.length == 0) {
            return uid == server.uid;
        }
        for (int u : o.allowUids) {
            if (u == uid) {
                return true;
            }
        }
        for (int g : o.allowGids) {
            if (g == gid) {
                return true;
            }
        }
        return false;
    }

    private boolean handshake() {
        int[] cred = Native.peerCred(sock.fd());
        peerPid = cred[0];
        peerUid = cred[1];
        byte[] buf = new byte[Native.MAX_PACKET];
        int[] fds = new int[2];
        long deadline = System.nanoTime() + server.opts.handshakeTimeout.toNanos();
        int n = Sock.recv(sock.fd(), buf, fds, deadline, "channel handshake from pid " + peerPid);
        Sock.closeQuietly(fds[0]); // a Hello carries no descriptor
        if (n == 0) {
            reason = "handshake: the client closed before its Hello";
            return false;
        }
        ByteBuffer b = Handshake.le(buf);
        if (n != Handshake.HELLO_LENGTH || b.getInt(Handshake.HELLO_MAGIC_OFFSET) != Handshake.HELLO_MAGIC) {
            // Not a framebridge client: close without a Welcome (§2).
            reason = "handshake: bad Hello (" + n + " bytes, magic 0x" + Integer.toHexString(b.getInt(0)) + ")";
            return false;
        }
        // Credentials are checked after the Hello is read: closing with an unread packet queued would reset
        // the connection, and the client would never see the PermissionDenied Welcome.
        if (!allowed(cred[1], cred[2])) {
            return refuse(Handshake.STATUS_PERMISSION_DENIED, "uid " + Integer.toUnsignedString(cred[1]) + " gid "
                    + Integer.toUnsignedString(cred[2]) + " is not allowed on this channel");
        }
        helloPid = Integer.toUnsignedLong(b.getInt(Handshake.HELLO_CLIENT_PID_OFFSET));
        int proto = Short.toUnsignedInt(b.getShort(Handshake.HELLO_PROTOCOL_VERSION_OFFSET));
        int layout = Short.toUnsignedInt(b.getShort(Handshake.HELLO_LAYOUT_VERSION_OFFSET));
        if (proto != Handshake.PROTOCOL_VERSION) {
            return refuse(Handshake.STATUS_VERSION_MISMATCH, "server speaks channel protocol " + Handshake.PROTOCOL_VERSION
                    + ", client sent " + proto);
        }
        if (layout != Handshake.LAYOUT_VERSION) {
            return refuse(Handshake.STATUS_VERSION_MISMATCH, "server speaks segment layout " + Handshake.LAYOUT_VERSION
                    + ", client sent " + layout);
        }
        int flags = b.getInt(Handshake.HELLO_FLAGS_OFFSET);
        if (flags != 0) {
            return refuse(Handshake.STATUS_BAD_REQUEST, "unknown Hello flags 0x" + Integer.toHexString(flags));
        }
        long req = grant(Integer.toUnsignedLong(b.getInt(Handshake.HELLO_REQUEST_RING_OFFSET)), server.opts.defaultRequestRing);
        long resp = grant(Integer.toUnsignedLong(b.getInt(Handshake.HELLO_RESPONSE_RING_OFFSET)), server.opts.defaultResponseRing);
        if (req < 0 || resp < 0) {
            return refuse(Handshake.STATUS_BAD_REQUEST, "ring sizes " + Integer.toUnsignedString(b.getInt(Handshake.HELLO_REQUEST_RING_OFFSET))
                    + "/" + Integer.toUnsignedString(b.getInt(Handshake.HELLO_RESPONSE_RING_OFFSET))
                    + ": want 0 or powers of two in [4096, 2^30]");
        }
        if (server.conns.size() > server.opts.maxConnections) {
            return refuse(Handshake.STATUS_BUSY, "server is at its limit of " + server.opts.maxConnections + " connections");
        }
        try {
            // §3: the memfd is named framebridge-channel (maps show "memfd:framebridge:framebridge-channel").
            Segment sg = Segment.createMemfd(Handshake.SEGMENT_NAME, new Spec().ring(Handshake.REQUESTS, RegionKind.SPSC, req)
                    .ring(Handshake.RESPONSES, RegionKind.SPSC, resp));
            synchronized (this) {
                seg = sg;
                r = seg.reader(Handshake.REQUESTS).spinNanos(server.opts.spinNanos).stopWhen(stop);
                w = seg.writer(Handshake.RESPONSES).spinNanos(server.opts.spinNanos).stopWhen(stop);
                tw = new TypedWriter(w);
            }
        } catch (RuntimeException e) {
            return refuse(Handshake.STATUS_INTERNAL, "cannot create the connection segment: " + e.getMessage());
        }
        generation = server.nextGeneration();
        long maxFrame = Math.min(Layout.maxPayload(req), Layout.maxPayload(resp));
        byte[] wel = Handshake.welcome(Handshake.STATUS_OK, req, resp, maxFrame, generation, Liveness.SELF_PID, null);
        Native.sendPacket(sock.fd(), wel, wel.length, seg.fd());
        server.accepted.incrementAndGet();
        inlineReq.generation = generation;
        inlineReq.peerPid = peerPid;
        inlineReq.peerUid = peerUid;
        if (server.opts.executor != null) {
            pool = new ArrayBlockingQueue<>(server.opts.executorBuffers);
            for (int i = 0; i < server.opts.executorBuffers; i++) {
                pool.add(new Task());
            }
        }
        return true;
    }

    /** The granted ring size for a requested one: 0 = default, too big = the maximum, invalid = -1. */
    private long grant(long want, long dflt) {
        if (want == 0) {
            return dflt;
        }
        if (want < Handshake.MIN_RING || want > Handshake.MAX_RING || Long.bitCount(want) != 1) {
            return -1;
        }
        return Math.min(want, server.opts.maxRing);
    }

    // ---- requests (§5-§7) ------------------------------------------------------------------------------

    private void protocolError(String why) {
        server.protocolErrors.incrementAndGet();
        close("protocol error: " + why);
    }

    private void readLoop() {
        while (!closed) {
            Frame f;
            try {
                f = r.next(SLICE_NANOS, TimeUnit.NANOSECONDS);
            } catch (CorruptSegmentException e) {
                protocolError("corrupt requests ring: " + e.getMessage());
                return;
            } catch (PeerDeadException e) {
                close("peer-dead: " + e.getMessage());
                return;
            }
            if (f == null) {
                continue;
            }
            if (f.type() != Envelopes.TYPE) {
                protocolError("frame of type " + f.type() + " on the requests ring (want " + Envelopes.TYPE + ")");
                return;
            }
            if (pool != null) {
                if (!dispatch(f)) {
                    return;
                }
                continue;
            }
            Envelope env;
            try {
                env = inlineReq.reader.read(f);
            } catch (CorruptFrameException e) {
                protocolError("request envelope failed verification: " + e.getMessage());
                return;
            }
            if (!checkRequest(inlineReq, env)) {
                return;
            }
            inlineReq.env = env;
            serveOne(inlineReq, inlineReply, inlineResponder);
            r.release();
        }
    }

    /**
     * §7: kind Request (non-zero correlation id) or OneWay; anything else ends the connection. Keeps the kind,
     * correlation id and deadline in {@code q}: each is a vtable lookup in the envelope, needed again later.
     */
    private boolean checkRequest(Request q, Envelope env) {
        int k = env.kind();
        if (k != Kind.Request && k != Kind.OneWay) {
            protocolError("request of kind " + k + " (want Request or OneWay)");
            return false;
        }
        long c = env.correlationId();
        if (k == Kind.Request && c == 0) {
            protocolError("Request with correlation_id 0");
            return false;
        }
        q.kind = k;
        q.correlationId = c;
        q.deadline = env.deadlineUnixNano();
        return true;
    }

    /** Executor mode: copy the request into a pooled buffer, release it, hand it to the executor. */
    private boolean dispatch(Frame f) {
        Task t = null;
        while (t == null) {
            if (closed) {
                return false;
            }
            try {
                t = pool.poll(SLICE_NANOS, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                close("interrupted");
                return false;
            }
        }
        int n = f.length();
        t.ensure(n);
        f.getBytes(0, t.buf, 0, n);
        t.len = n;
        r.release();
        Envelope env;
        try {
            t.bb.limit(n).position(0);
            env = t.req.reader.read(t.bb, 0, n);
        } catch (CorruptFrameException e) {
            pool.add(t);
            protocolError("request envelope failed verification: " + e.getMessage());
            return false;
        }
        if (!checkRequest(t.req, env)) {
            pool.add(t);
            return false;
        }
        t.req.env = env;
        try {
            server.opts.executor.execute(t);
        } catch (RuntimeException e) { // rejected: answer it as the handler would have failed
            t.run0("executor rejected the request: " + e);
        }
        return true;
    }

    /** Runs the handler for one verified request and sends its response. */
    private void serveOne(Request req, Reply reply, Responder resp) {
        long deadline = req.deadline;
        if (deadline != 0 && Clock.realtimeNanos() - deadline > 0) {
            server.expiredRequests.incrementAndGet();
            return;
        }
        if (pool == null) {
            // Inline: only this thread counts, so a plain ordered store (no locked add on every call).
            inlineCalls.lazySet(inlineCalls.get() + 1);
        } else {
            server.calls.incrementAndGet();
        }
        reply.reset();
        try {
            handler.handle(req, reply);
        } catch (CallStatusException e) {
            reply.reset().status(e.code(), e.statusMessage());
        } catch (Throwable e) {
            server.handlerFailures.incrementAndGet();
            reply.reset().status(13, "handler threw " + e);
        }
        respond(req, reply, resp);
    }

    private void respond(Request req, Reply reply, Responder resp) {
        if (req.kind != Kind.Request) {
            return; // OneWay: nothing is sent
        }
        long deadline = req.deadline;
        long deadlineMono = deadline == 0 ? Long.MAX_VALUE : Clock.monotonicAt(deadline);
        resp.set(req, reply);
        boolean locked = pool != null; // inline: this thread is the only writer
        if (locked) {
            writeLock.lock();
        }
        try {
            for (;;) {
                if (closed) {
                    return;
                }
                long left = deadline == 0 ? SLICE_NANOS : deadlineMono - System.nanoTime();
                if (left <= 0) {
                    server.expiredResponses.incrementAndGet();
                    return;
                }
                try {
                    long slice = Math.min(left, SLICE_NANOS);
                    int n = reply.body == null
                            ? tw.writeEnvelope(resp.layout(), slice, TimeUnit.NANOSECONDS) // Raw or no payload: by hand
                            : tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, resp, slice, TimeUnit.NANOSECONDS);
                    if (n >= 0) {
                        return;
                    }
                } catch (RuntimeException e) {
                    if (e instanceof PeerDeadException) {
                        close("peer-dead: " + e.getMessage());
                        return;
                    }
                    // The reply body failed (or outgrew the ring): answer INTERNAL instead, once.
                    if (reply.status == 13 && reply.body == null) {
                        throw e;
                    }
                    server.handlerFailures.incrementAndGet();
                    reply.reset().status(13, "building the response failed: " + e);
                }
            }
        } finally {
            resp.clear();
            if (locked) {
                writeLock.unlock();
            }
        }
    }

    /** Builds a response envelope from a request and a reply (reused; guarded by writeLock). */
    private static final class Responder implements TypedWriter.BuildFunction {
        private final Fields fields = new Fields();
        private final EnvelopeLayout layout = new EnvelopeLayout();
        private final TraceContext trace = new TraceContext();
        private Request req;
        private Reply reply;

        void set(Request q, Reply p) {
            req = q;
            reply = p;
        }

        void clear() {
            req = null;
            reply = null;
        }

        /** The response of a reply without a body (Raw payload or none), laid out by hand; the request's trace copied. */
        EnvelopeLayout layout() {
            EnvelopeLayout l = layout.reset().kind(Kind.Response).correlationId(req.correlationId).sequence(reply.sequence)
                    .status(reply.status);
            if (reply.message != null && !reply.message.isEmpty()) {
                l.statusMessage(reply.message);
            }
            if (reply.raw && reply.status == 0) {
                if (reply.rawArray != null) {
                    l.raw(reply.rawArray, reply.rawPos, reply.rawLen);
                } else {
                    l.raw(reply.rawBuffer, reply.rawPos, reply.rawLen);
                }
            }
            req.reader().copyTraceTo(l);
            return l;
        }

        @Override
        public int build(FlatBufferBuilder b) {
            Fields f = fields.reset();
            if (reply.body != null && reply.status == 0) {
                reply.body.build(b, f);
            }
            int msg = reply.message == null || reply.message.isEmpty() ? 0 : b.createString(reply.message);
            int tr = f.trace;
            if (tr == 0) {
                TraceContext t = req.env.trace(trace); // defaults to the request's (allocates its strings)
                if (t != null) {
                    String p = t.traceparent();
                    String s = t.tracestate();
                    int po = p == null ? 0 : b.createString(p);
                    int so = s == null ? 0 : b.createString(s);
                    tr = TraceContext.createTraceContext(b, po, so);
                }
            }
            Envelope.startEnvelope(b);
            Envelope.addCorrelationId(b, req.correlationId);
            Envelope.addSequence(b, f.sequence);
            if (f.payloadType != 0) {
                Envelope.addPayload(b, f.payload);
            }
            if (tr != 0) {
                Envelope.addTrace(b, tr);
            }
            if (msg != 0) {
                Envelope.addStatusMessage(b, msg);
            }
            Envelope.addStatus(b, reply.status);
            Envelope.addKind(b, Kind.Response);
            Envelope.addPayloadType(b, f.payloadType);
            return Envelope.endEnvelope(b);
        }
    }

    /** A pooled private copy of a request and what its handler needs (executor mode). */
    private final class Task implements Runnable {
        byte[] buf = new byte[1024];
        ByteBuffer bb = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
        int len;
        final Request req = new Request();
        final Reply reply = new Reply();
        final Responder responder = new Responder();

        Task() {
            req.generation = generation;
            req.peerPid = peerPid;
            req.peerUid = peerUid;
        }

        void ensure(int n) {
            if (buf.length < n) {
                buf = new byte[Math.max(n, buf.length * 2)];
                bb = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
            }
        }

        @Override
        public void run() {
            try {
                serveOne(req, reply, responder);
            } catch (RuntimeException e) {
                close("internal error: " + e);
            } finally {
                pool.add(this);
            }
        }

        /** Answers INTERNAL without running the handler (the executor refused the task). */
        void run0(String why) {
            try {
                server.handlerFailures.incrementAndGet();
                reply.reset().status(13, why);
                respond(req, reply, responder);
            } finally {
                pool.add(this);
            }
        }
    }
}
