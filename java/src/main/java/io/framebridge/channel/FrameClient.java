package io.framebridge.channel;

import com.google.flatbuffers.FlatBufferBuilder;
import io.framebridge.CorruptFrameException;
import io.framebridge.CorruptSegmentException;
import io.framebridge.Frame;
import io.framebridge.Layout;
import io.framebridge.PeerDeadException;
import io.framebridge.Region;
import io.framebridge.RegionKind;
import io.framebridge.RingFullException;
import io.framebridge.RingReader;
import io.framebridge.RingWriter;
import io.framebridge.Segment;
import io.framebridge.TypedWriter;
import io.framebridge.frames.EnvelopeLayout;
import io.framebridge.frames.EnvelopeReader;
import io.framebridge.frames.Envelopes;
import io.framebridge.frames.fb.Envelope;
import io.framebridge.frames.fb.Kind;
import io.framebridge.internal.Native;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The client end of a channel (docs/channels.md; Go {@code channel.Dial}): {@link #dial} connects to a
 * {@link FrameServer}'s socket, receives and checks the connection's sealed segment, and then
 * {@link #call} sends requests built in place and returns what a {@link ResponseHandler} reads from the
 * response, verified and read in place.
 *
 * <pre>{@code
 * try (FrameClient c = FrameClient.dial("/run/risk.sock", Duration.ofSeconds(5))) {
 *     float score = c.call((b, f) -> f.payload(Payload.Raw, Raw.createRaw(b, Raw.createDataVector(b, bytes))),
 *             (env, er) -> er.raw().data(0) / 255f, 100, TimeUnit.MILLISECONDS);
 * }
 * }</pre>
 *
 * <p>Many threads may call at once; responses are matched by correlation id. The request ring has one
 * writer per process, so claims are serialised by a lock held only while a frame is built. Responses are
 * read by whichever waiting caller holds the reader role (leader/follower, taken with one CAS): it polls the
 * responses ring in a spin loop (reading the clock only every 64 polls), then sleeps on the ring; a
 * response for its own call is handed to its handler in place, one for another caller is copied into that
 * caller's reused slot buffer and that caller is unparked if it sleeps. A single caller therefore reads its
 * own response by spinning on the ring: no lock, no park, no system call per call while the server keeps
 * up. No garbage per call in steady state (what your {@link Body} and {@link ResponseHandler} allocate is
 * yours).
 *
 * <p>Liveness (§4): a watcher thread sits in poll on the socket; when the server dies or closes, every
 * pending call fails with {@link PeerDeadException}, callers sleeping on either ring are woken at once
 * (the rings' stop word is set and their futex words poked), later calls fail at once, and the segment is
 * released. A stalled server is not dead: calls end at their deadlines. Dial again to reconnect.
 *
 * <p>Caveats: a fail-fast call waits for the request lock like any other, so it may wait behind a
 * blocking caller that is waiting for ring space (at most until that caller's deadline).
 */
public final class FrameClient implements AutoCloseable {
    /**
     * Longest single sleep of a waiter before it re-checks its state (ns): a backstop only, since the
     * connection's end sets the rings' stop word and wakes every sleeper at once.
     */
    static final long SLICE_NANOS = 10_000_000L;
    private static final Object NOT_YET = new Object();

    /** Dial options: requested ring sizes (0 = server default), spin budget, calls in flight. */
    public static final class Options {
        long requestRingBytes;
        long responseRingBytes;
        long spinNanos = RingReader.DEFAULT_SPIN_NANOS;
        int maxInFlight = 4096;

        /** Requested request/response ring capacities (powers of two in [4096, 2^30]; 0 = server default). */
        public Options rings(long requestBytes, long responseBytes) {
            this.requestRingBytes = requestBytes;
            this.responseRingBytes = responseBytes;
            return this;
        }

        /** How long a waiting caller spins before it sleeps (ns; 0 = sleep at once). */
        public Options spinNanos(long ns) {
            this.spinNanos = Math.max(0, ns);
            return this;
        }

        /** Most calls in flight at once (rounded up to a power of two); more callers wait for a free slot. */
        public Options maxInFlight(int n) {
            if (n < 1 || n > (1 << 20)) {
                throw new IllegalArgumentException("maxInFlight " + n + ": want 1..2^20");
            }
            this.maxInFlight = n;
            return this;
        }
    }

    private final String path;
    private final long generation;
    private final long serverPid;
    private final int maxFrame;
    private final Segment seg;
    private final RingWriter w;
    private final TypedWriter tw;
    private final RingReader r;
    private final ReentrantLock writeLock = new ReentrantLock();
    /** The reader role (leader/follower): 0 free, 1 held. ended() takes it for good before the rings close. */
    private final AtomicInteger lead = new AtomicInteger();
    /** Callers parked waiting for a response (a leader that steps down hands the role to one of them). */
    private final AtomicInteger parkedCallers = new AtomicInteger();
    /** The rings' stop word: set when the connection ends, so waits on either ring end at once. */
    private final AtomicBoolean stop = new AtomicBoolean();
    private final EnvelopeReader leaderEr = new EnvelopeReader();
    private final Slot[] slots;
    private final int mask;
    private final long spinNanos;
    private final AtomicLong nextCorr = new AtomicLong();
    private final AtomicReference<String> deadReason = new AtomicReference<>();
    private volatile String localReason;
    private final SocketWatcher watcher;
    private boolean released; // written under writeLock and the reader role
    /** A response frame read in place by the last leader and not yet released (reader role only). */
    private boolean held;

    private final AtomicLong calls = new AtomicLong();
    private final AtomicLong sends = new AtomicLong();
    private final AtomicLong late = new AtomicLong();
    private final AtomicLong unknown = new AtomicLong();
    private final AtomicLong protocolErrors = new AtomicLong();
    private int promoteFrom;

    // The request being built (guarded by writeLock): a reused build function, so a call allocates nothing.
    private Body body;
    private final Fields fields = new Fields();
    // A Raw request laid out by hand (guarded by writeLock; holds a payload only during callRaw).
    private final EnvelopeLayout layout = new EnvelopeLayout();
    private int kind;
    private long corr;
    private long deadlineUnix;
    private final TypedWriter.BuildFunction buildFn = this::buildEnvelope;

    private FrameClient(String path, int sock, int pidfd, int serverPid, Segment seg, Handshake.Welcome wel, Options o) {
        this.path = path;
        this.seg = seg;
        this.generation = wel.generation();
        this.serverPid = wel.serverPid();
        this.maxFrame = (int) Math.min(Integer.MAX_VALUE, wel.maxFrame());
        this.spinNanos = o.spinNanos;
        RingWriter wr = null;
        RingReader rd = null;
        try {
            wr = seg.writer(Handshake.REQUESTS).spinNanos(o.spinNanos).stopWhen(stop);
            // The leader spins itself (lead()); the ring's own wait only sleeps.
            rd = seg.reader(Handshake.RESPONSES).spinNanos(0).stopWhen(stop);
        } catch (RuntimeException e) {
            seg.close();
            throw e;
        }
        this.w = wr;
        this.r = rd;
        this.tw = new TypedWriter(w);
        int n = Integer.highestOneBit(Math.max(1, o.maxInFlight) * 2 - 1);
        this.slots = new Slot[n];
        for (int i = 0; i < n; i++) {
            slots[i] = new Slot();
        }
        this.mask = n - 1;
        this.watcher = new SocketWatcher(new SocketFd(sock), pidfd, "server process " + serverPid,
                "framebridge-client-watch gen=" + generation, this::ended);
    }

    /** Dials with default options. */
    public static FrameClient dial(String path, Duration timeout) {
        return dial(path, timeout, new Options());
    }

    /**
     * Connects to the server at {@code path}, says Hello, and attaches the segment the Welcome carries after
     * checking it (two SPSC rings {@code requests}/{@code responses} of the granted sizes, sealed). The
     * timeout bounds the handshake.
     *
     * @throws HandshakeException if the server refused (status, message) or answered nonsense
     * @throws DeadlineExceededException if it did not answer in time
     */
    public static FrameClient dial(String path, Duration timeout, Options o) {
        long deadline = System.nanoTime() + Math.max(1, timeout.toNanos());
        checkRing("request", o.requestRingBytes);
        checkRing("response", o.responseRingBytes);
        int sock = Sock.connect(path);
        int fd = -1;
        int pidfd = -1;
        Segment seg = null;
        try {
            byte[] hello = Handshake.hello(Handshake.PROTOCOL_VERSION, Handshake.LAYOUT_VERSION, o.requestRingBytes,
                    o.responseRingBytes, ProcessHandle.current().pid(), 0);
            Native.sendPacket(sock, hello, hello.length, -1);
            byte[] buf = new byte[Native.MAX_PACKET];
            int[] fds = new int[2];
            int n = Sock.recv(sock, buf, fds, deadline, "channel handshake with " + path);
            fd = fds[0];
            if (n == 0) {
                throw new HandshakeException(-1, "channel " + path + ": the server closed the connection during the handshake");
            }
            if (n != Handshake.WELCOME_LENGTH) {
                throw new HandshakeException(-1, "channel " + path + ": Welcome of " + n + " bytes, want "
                        + Handshake.WELCOME_LENGTH + " (not a framebridge channel server?)");
            }
            Handshake.Welcome wel = Handshake.decodeWelcome(java.util.Arrays.copyOf(buf, n));
            if (wel.magic() != Handshake.WELCOME_MAGIC) {
                throw new HandshakeException(-1, "channel " + path + ": Welcome magic 0x" + Integer.toHexString(wel.magic())
                        + ", want 0x" + Integer.toHexString(Handshake.WELCOME_MAGIC) + " (\"FWCL\")");
            }
            if (wel.status() != Handshake.STATUS_OK) {
                if (fd >= 0) {
                    throw new HandshakeException(-1, "channel " + path + ": Welcome with status "
                            + Handshake.statusName(wel.status()) + " carried a descriptor");
                }
                throw new HandshakeException(wel.status(), "channel " + path + ": server refused the connection: "
                        + Handshake.statusName(wel.status()) + (wel.message().isEmpty() ? "" : ": " + wel.message()));
            }
            if (wel.protocol() != Handshake.PROTOCOL_VERSION || wel.layout() != Handshake.LAYOUT_VERSION) {
                throw new HandshakeException(Handshake.STATUS_VERSION_MISMATCH, "channel " + path + ": server speaks channel protocol "
                        + wel.protocol() + " / layout " + wel.layout() + ", this client speaks " + Handshake.PROTOCOL_VERSION
                        + " / " + Handshake.LAYOUT_VERSION);
            }
            if (fds[1] != 1) {
                throw new HandshakeException(-1, "channel " + path + ": Welcome OK carried " + fds[1]
                        + " descriptors, want exactly 1");
            }
            checkGranted("request", wel.requestRing());
            checkGranted("response", wel.responseRing());
            int seals = Native.getSeals(fd);
            int want = Native.SEAL_SHRINK | Native.SEAL_GROW | Native.SEAL_SEAL;
            if ((seals & want) != want) {
                throw new ChannelException("channel " + path + ": the segment is not sealed against shrink/grow/seal (seals 0x"
                        + Integer.toHexString(seals) + "); refusing it");
            }
            seg = Segment.attachFd(fd);
            checkRegions(path, seg.regions(), wel);
            Sock.closeQuietly(fd);
            fd = -1;
            // §4: the server's pidfd too, so a server whose socket outlives it (a forked child holds it) is noticed.
            int credPid = Native.peerCred(sock)[0];
            pidfd = PeerPidfd.open(sock, credPid, wel.serverPid());
            if (pidfd == PeerPidfd.EXITED) {
                throw new PeerDeadException("channel " + path + ": the server process " + credPid + " exited during the handshake");
            }
            FrameClient c = new FrameClient(path, sock, pidfd, credPid, seg, wel, o);
            pidfd = -1; // the watcher's now
            c.watcher.start();
            return c;
        } catch (RuntimeException e) {
            Sock.closeQuietly(pidfd);
            Sock.closeQuietly(fd);
            if (seg != null) {
                seg.close();
            }
            Sock.closeQuietly(sock);
            throw e;
        }
    }

    private static void checkRing(String which, long n) {
        if (n != 0 && (n < Handshake.MIN_RING || n > Handshake.MAX_RING || Long.bitCount(n) != 1)) {
            throw new IllegalArgumentException(which + " ring of " + n + " bytes: want 0 (server default) or a power of two in [4096, 2^30]");
        }
    }

    private static void checkGranted(String which, long n) {
        if (n < Handshake.MIN_RING || n > Handshake.MAX_RING || Long.bitCount(n) != 1) {
            throw new HandshakeException(-1, "Welcome grants a " + which + " ring of " + n + " bytes: not a power of two in [4096, 2^30]");
        }
    }

    private static void checkRegions(String path, List<Region> regions, Handshake.Welcome wel) {
        String got = regions.toString();
        if (regions.size() != 2
                || !regions.get(0).name().equals(Handshake.REQUESTS) || regions.get(0).kind() != RegionKind.SPSC
                || regions.get(0).capacity() != wel.requestRing()
                || !regions.get(1).name().equals(Handshake.RESPONSES) || regions.get(1).kind() != RegionKind.SPSC
                || regions.get(1).capacity() != wel.responseRing()) {
            throw new ChannelException("channel " + path + ": segment regions " + got + ", want SPSC rings requests ("
                    + wel.requestRing() + " bytes) and responses (" + wel.responseRing() + " bytes), in that order");
        }
        long maxFrame = Math.min(Layout.maxPayload(wel.requestRing()), Layout.maxPayload(wel.responseRing()));
        if (wel.maxFrame() != maxFrame) {
            throw new ChannelException("channel " + path + ": Welcome MaxFrameBytes " + wel.maxFrame() + ", the rings take "
                    + maxFrame);
        }
    }

    // ---- calls -----------------------------------------------------------------------------------------

    /** A call that waits for ring space until its deadline; see {@link #call(Body, ResponseHandler, long, TimeUnit, boolean)}. */
    public <T> T call(Body request, ResponseHandler<T> response, long timeout, TimeUnit unit) {
        return call(request, response, timeout, unit, false);
    }

    /** A call's or send's timeout in nanoseconds, refused unless positive. */
    private static long positiveNanos(String what, long timeout, TimeUnit unit) {
        long t = unit.toNanos(timeout);
        if (t <= 0) {
            throw new IllegalArgumentException(what + " timeout " + timeout + " " + unit + ": want > 0");
        }
        return t;
    }

    /**
     * Sends a {@code Request} built by {@code request} with a deadline {@code timeout} from now and returns
     * what {@code response} reads from its answer.
     *
     * @param failFast if the request ring is full: true = throw {@link RingFullException} at once, false =
     *                 wait for space until the deadline
     * @throws CallStatusException for a non-zero status
     * @throws DeadlineExceededException when the deadline passes first
     * @throws PeerDeadException when the connection ends (server died or closed, or a protocol error)
     */
    public <T> T call(Body request, ResponseHandler<T> response, long timeout, TimeUnit unit, boolean failFast) {
        long t = positiveNanos("call", timeout, unit);
        checkAlive();
        long deadline = System.nanoTime() + t;
        Slot s = reserve(deadline);
        try {
            write(request, Kind.Request, s.corr, Clock.realtimeAt(deadline), deadline, t, failFast);
        } catch (RuntimeException | Error e) {
            s.free();
            throw e;
        }
        return await(s, response, deadline);
    }

    /**
     * A call whose request payload is {@code Raw{data: data[off, off + n)}} with envelope sequence
     * {@code sequence}: the request is laid out by hand in the request ring, no FlatBuffers builder
     * ({@link io.framebridge.frames.EnvelopeLayout}); otherwise as
     * {@link #call(Body, ResponseHandler, long, TimeUnit, boolean)}. Allocates nothing.
     */
    public <T> T callRaw(long sequence, byte[] data, int off, int n, ResponseHandler<T> response, long timeout, TimeUnit unit,
            boolean failFast) {
        if (off < 0 || n < 0 || off > data.length - n) {
            throw new IndexOutOfBoundsException("raw request " + off + "+" + n + " of " + data.length + " bytes");
        }
        long t = positiveNanos("call", timeout, unit);
        return callRaw0(sequence, data, off, n, response, System.nanoTime() + t, t, failFast);
    }

    /**
     * {@link #callRaw(long, byte[], int, int, ResponseHandler, long, TimeUnit, boolean)} with an absolute
     * deadline on the {@link System#nanoTime} clock, for a caller that has just read it (or runs many calls
     * to one deadline): the call reads no clock before its request is sent. A deadline already past is found
     * while waiting (DeadlineExceededException), and the server drops such a request unanswered.
     */
    public <T> T callRawBefore(long sequence, byte[] data, int off, int n, ResponseHandler<T> response, long deadlineNanoTime,
            boolean failFast) {
        if (off < 0 || n < 0 || off > data.length - n) {
            throw new IndexOutOfBoundsException("raw request " + off + "+" + n + " of " + data.length + " bytes");
        }
        // A full request ring is tried once without waiting; the wait then reads the clock (writeLocked).
        return callRaw0(sequence, data, off, n, response, deadlineNanoTime, 0, failFast);
    }

    /** {@code firstWait}: how long the first claim may wait for ring space (0: try, then wait to the deadline). */
    private <T> T callRaw0(long sequence, byte[] data, int off, int n, ResponseHandler<T> response, long deadline, long firstWait,
            boolean failFast) {
        checkAlive();
        Slot s = reserve(deadline);
        writeLock.lock();
        try {
            layout.reset().sequence(sequence).raw(data, off, n);
            writeLocked(null, Kind.Request, s.corr, Clock.realtimeAt(deadline), deadline, firstWait, failFast);
        } catch (RuntimeException | Error e) {
            s.free();
            throw e;
        } finally {
            layout.reset();
            writeLock.unlock();
        }
        return await(s, response, deadline);
    }

    /** {@link #callRaw(long, byte[], int, int, ResponseHandler, long, TimeUnit, boolean)} waiting for ring space. */
    public <T> T callRaw(long sequence, byte[] data, int off, int n, ResponseHandler<T> response, long timeout, TimeUnit unit) {
        return callRaw(sequence, data, off, n, response, timeout, unit, false);
    }

    /** Writes a {@code OneWay} request (no response) and returns once it is committed. */
    public void send(Body request, long timeout, TimeUnit unit, boolean failFast) {
        long t = positiveNanos("send", timeout, unit);
        checkAlive();
        long deadline = System.nanoTime() + t;
        write(request, Kind.OneWay, 0, Clock.realtimeAt(deadline), deadline, t, failFast);
    }

    private void checkAlive() {
        String d = deadReason.get();
        if (d != null) {
            throw dead(d);
        }
    }

    private PeerDeadException dead(String reason) {
        return new PeerDeadException("channel " + path + " (generation " + generation + "): " + reason);
    }

    /** Takes a free slot; the correlation id is chosen so that it indexes the slot (unique while in flight). */
    private Slot reserve(long deadline) {
        for (int tries = 0;; tries++) {
            long c = nextCorr.incrementAndGet();
            Slot s = slots[(int) (c & mask)];
            if (s.state.get() == Slot.FREE && s.state.compareAndSet(Slot.FREE, Slot.RESERVED)) {
                s.pend(c, Thread.currentThread());
                return s;
            }
            if (tries > mask) { // every slot busy: wait for one
                checkAlive();
                if (System.nanoTime() - deadline >= 0) {
                    throw new DeadlineExceededException("channel " + path + ": " + slots.length + " calls in flight; no slot freed before the deadline");
                }
                LockSupport.parkNanos(50_000);
                tries = 0;
            }
        }
    }

    /**
     * Builds and commits one request under the write lock. {@code firstWait}: how long the first claim may
     * wait for space (the caller's timeout, measured from just before), so the common case reads no clock here.
     */
    private void write(Body b, int k, long c, long deadlineUnixNano, long deadline, long firstWait, boolean failFast) {
        writeLock.lock();
        try {
            writeLocked(b, k, c, deadlineUnixNano, deadline, firstWait, failFast);
        } finally {
            writeLock.unlock();
        }
    }

    /**
     * {@link #write} with the write lock held (callRaw holds it already: taking a reentrant lock again is two
     * more fenced stores). Counts the request: a plain ordered store, as only the lock holder writes the counts.
     */
    private void writeLocked(Body b, int k, long c, long deadlineUnixNano, long deadline, long firstWait, boolean failFast) {
        try {
            this.body = b;
            this.kind = k;
            this.corr = c;
            this.deadlineUnix = deadlineUnixNano;
            long wait = failFast ? 0 : firstWait;
            for (;;) {
                String d = deadReason.get();
                if (d != null) {
                    throw dead(d);
                }
                int n = layout.hasRaw()
                        ? tw.writeEnvelope(layout.kind(k).correlationId(c).deadlineUnixNano(deadlineUnixNano), wait,
                                TimeUnit.NANOSECONDS)
                        : tw.build(Envelopes.TYPE, Envelopes.FILE_IDENTIFIER, buildFn, wait, TimeUnit.NANOSECONDS);
                if (n >= 0) {
                    AtomicLong count = k == Kind.Request ? calls : sends;
                    count.lazySet(count.get() + 1);
                    return;
                }
                d = deadReason.get(); // the stop word ended the wait
                if (d != null) {
                    throw dead(d);
                }
                if (failFast) {
                    throw new RingFullException("channel " + path + ": the request ring is full (fail-fast call)");
                }
                wait = deadline - System.nanoTime();
                if (wait <= 0) {
                    throw new DeadlineExceededException("channel " + path + ": the request ring stayed full until the deadline");
                }
            }
        } finally {
            this.body = null;
        }
    }

    private int buildEnvelope(FlatBufferBuilder b) {
        Fields f = fields.reset();
        if (body != null) {
            body.build(b, f);
        }
        Envelope.startEnvelope(b);
        Envelope.addCorrelationId(b, corr);
        Envelope.addDeadlineUnixNano(b, deadlineUnix);
        Envelope.addSequence(b, f.sequence);
        if (f.payloadType != 0) {
            Envelope.addPayload(b, f.payload);
        }
        if (f.trace != 0) {
            Envelope.addTrace(b, f.trace);
        }
        Envelope.addKind(b, kind);
        Envelope.addPayloadType(b, f.payloadType);
        return Envelope.endEnvelope(b);
    }

    @SuppressWarnings("unchecked")
    private <T> T await(Slot s, ResponseHandler<T> h, long deadline) {
        long spinStart = 0;
        for (int i = 1;; i++) {
            int st = s.state.get();
            if (st == Slot.DONE) {
                return finishCopy(s, h);
            }
            if (st == Slot.FAILED) {
                s.free();
                throw dead(deadReason.get());
            }
            if (st == Slot.PENDING && lead.get() == 0 && lead.compareAndSet(0, 1)) {
                Object res;
                try {
                    res = lead(s, h, deadline);
                } finally {
                    lead.set(0);
                    if (parkedCallers.get() != 0) {
                        promote();
                    }
                }
                if (res != NOT_YET) {
                    return (T) res;
                }
                expireIfPast(s, System.nanoTime(), deadline); // lead() returns when the deadline passed, too
                continue;
            }
            // A follower: spin, reading the clock every 64 tries, then park until a leader hands over.
            if ((i & 63) != 0 || st == Slot.DELIVERING) {
                Thread.onSpinWait();
                continue;
            }
            long now = System.nanoTime();
            expireIfPast(s, now, deadline);
            if (spinStart == 0) {
                spinStart = now;
            }
            if (now - spinStart >= spinNanos) {
                s.parked = true;
                parkedCallers.incrementAndGet();
                // Announced before re-checking: a leader that delivers to us or steps down after this sees it.
                if (s.state.get() == Slot.PENDING && lead.get() != 0) {
                    LockSupport.parkNanos(this, Math.max(1, Math.min(deadline - now, SLICE_NANOS)));
                }
                parkedCallers.decrementAndGet();
                s.parked = false;
            } else {
                Thread.onSpinWait();
            }
        }
    }

    /** Past the deadline and still pending: forget the call (a late response is dropped) and throw. */
    private void expireIfPast(Slot s, long now, long deadline) {
        if (now - deadline >= 0 && s.expire()) {
            throw new DeadlineExceededException("channel " + path + ": no response before the deadline");
        }
    }

    /** After leading: hand the reader role to one parked caller (it takes it when it wakes). */
    private void promote() {
        int n = slots.length;
        int start = promoteFrom;
        for (int k = 0; k < n; k++) {
            Slot o = slots[(start + k) & mask];
            if (o.parked && o.state.get() == Slot.PENDING) {
                Thread t = o.waiter;
                if (t != null) {
                    promoteFrom = (start + k + 1) & mask;
                    LockSupport.unpark(t);
                    return;
                }
            }
        }
    }

    /**
     * The reader role: read responses until our own arrives (returns the handler's result), our slot ends,
     * the deadline passes, or the connection ends. Spins polling the ring (the clock every 64 polls) for the
     * spin budget, then sleeps on the ring's futex (woken by the server's commit or by the connection's end).
     */
    private Object lead(Slot mine, ResponseHandler<?> h, long deadline) {
        if (released) {
            return NOT_YET; // torn down: the slot is FAILED
        }
        releaseHeld(); // while the server works on our request
        long spinUntil = 0;
        boolean sleeping = spinNanos == 0;
        boolean warmed = false;
        for (int i = 1;; i++) {
            if (mine.state.get() != Slot.PENDING) {
                return NOT_YET;
            }
            Frame f;
            try {
                if (!sleeping) {
                    f = r.tryNext();
                    if (f == null) {
                        if (!warmed) {
                            warmed = true;
                            warmNextRequest();
                        }
                        if ((i & 63) != 0) {
                            Thread.onSpinWait();
                            continue;
                        }
                        long now = System.nanoTime();
                        if (now - deadline >= 0 || stop.get()) {
                            return NOT_YET;
                        }
                        if (spinUntil == 0) {
                            spinUntil = now + spinNanos;
                        } else if (now - spinUntil >= 0) {
                            sleeping = true;
                        }
                        continue;
                    }
                } else {
                    long left = deadline - System.nanoTime();
                    if (left <= 0 || stop.get()) {
                        return NOT_YET;
                    }
                    f = r.next(Math.min(left, SLICE_NANOS), TimeUnit.NANOSECONDS);
                    if (f == null) {
                        continue;
                    }
                }
            } catch (CorruptSegmentException e) {
                protocolError("corrupt response ring: " + e.getMessage());
                return NOT_YET;
            } catch (PeerDeadException e) {
                return NOT_YET;
            }
            Object res = dispatch(f, mine, h);
            if (res != NOT_YET) {
                return res;
            }
        }
    }

    /** While the server works: take the lines of the next request ahead of time, unless a caller is writing. */
    private void warmNextRequest() {
        if (writeLock.tryLock()) {
            try {
                w.warmNext();
            } finally {
                writeLock.unlock();
            }
        }
    }

    private Object dispatch(Frame f, Slot mine, ResponseHandler<?> h) {
        if (f.type() != Envelopes.TYPE) {
            releaseAll();
            protocolError("frame of type " + f.type() + " on the responses ring (want " + Envelopes.TYPE + ")");
            return NOT_YET;
        }
        Envelope env;
        try {
            env = leaderEr.read(f);
        } catch (CorruptFrameException e) {
            releaseAll();
            protocolError("response envelope failed verification: " + e.getMessage());
            return NOT_YET;
        }
        if (env.kind() != Kind.Response) {
            int k = env.kind();
            releaseAll();
            protocolError("frame of kind " + k + " on the responses ring (want Response)");
            return NOT_YET;
        }
        long c = env.correlationId();
        Slot s = slots[(int) (c & mask)];
        if (c == 0 || s.state.get() != Slot.PENDING || s.corr != c || !s.state.compareAndSet(Slot.PENDING, Slot.DELIVERING)) {
            dropped(c);
            return NOT_YET;
        }
        if (s.corr != c) { // the slot was re-used between our check and the CAS
            s.state.set(Slot.PENDING);
            dropped(c);
            return NOT_YET;
        }
        if (s == mine) {
            try {
                return complete(env, leaderEr, h);
            } finally {
                // Held until the next leader's request is on its way (lead()): releasing zeroes the frame's
                // lines and fences, a wait for the server's core that would delay our next request. Released
                // now if another call may be writing (it must not wait for space our frame holds while no
                // caller leads): one reserved after ours, or one holding or queued on the write lock.
                if (nextCorr.get() != mine.corr || writeLock.isLocked()) {
                    releaseAll();
                } else {
                    held = true;
                }
                mine.free();
            }
        }
        int n = f.length();
        s.ensure(n);
        f.getBytes(0, s.buf, 0, n);
        s.len = n;
        releaseAll();
        Thread t = s.waiter;
        s.state.set(Slot.DONE);
        if (s.parked) { // it announced itself before it re-checked its state: unpark only then (no syscall otherwise)
            LockSupport.unpark(t);
        }
        return NOT_YET;
    }

    /** Releases every response frame read so far, a held one too (reader role only). */
    private void releaseAll() {
        r.release();
        held = false;
    }

    /** Releases the frame the last leader read in place and kept (reader role only). */
    private void releaseHeld() {
        if (held) {
            releaseAll();
        }
    }

    private void dropped(long c) {
        releaseAll();
        if (deadReason.get() != null) {
            return; // the server died: its callers failed with PeerDeadException; an answer it sent before is not late
        }
        if (c != 0 && Long.compareUnsigned(c, nextCorr.get()) <= 0) {
            late.incrementAndGet();
        } else {
            unknown.incrementAndGet();
        }
    }

    private static <T> T complete(Envelope env, EnvelopeReader er, ResponseHandler<T> h) {
        int status = env.status();
        if (status != 0) {
            String m = env.statusMessage();
            throw new CallStatusException(status, m == null ? "" : m);
        }
        return h.read(env, er);
    }

    /** A response another thread copied for us: verify the private copy (never trust it) and read it. */
    private <T> T finishCopy(Slot s, ResponseHandler<T> h) {
        try {
            s.bb.limit(s.len).position(0);
            Envelope env;
            try {
                env = s.er.read(s.bb, 0, s.len);
            } catch (CorruptFrameException e) {
                throw new ChannelException("channel " + path + ": response changed after it was verified (the server"
                        + " rewrote a committed frame): " + e.getMessage(), e);
            }
            return complete(env, s.er, h);
        } finally {
            s.free();
        }
    }

    // ---- the end of a connection -------------------------------------------------------------------------

    private void protocolError(String why) {
        protocolErrors.incrementAndGet();
        localReason = "protocol error: " + why;
        markDead(localReason);
        watcher.stop();
    }

    /** First reason wins; fails every pending call and wakes sleepers on both rings at once. */
    private void markDead(String reason) {
        if (!deadReason.compareAndSet(null, reason)) {
            return;
        }
        stop.set(true);
        markDeadSweep();
        // A leader sleeping on the responses ring or a writer waiting for space: the stop word is set, poke
        // the futex words so they re-check now. The rings stay mapped until ended() closes them, and that
        // happens only after this (ended() calls markDead first), under the reader role and the write lock.
        r.wakeup();
        w.wakeup();
    }

    /** The watcher's end of connection: fail everything, then release the rings and the segment. */
    private void ended(String reason) {
        String lr = localReason;
        markDead(lr != null ? lr : reason);
        // Late reservations (a caller between its alive check and PENDING) are failed by a second sweep.
        markDeadSweep();
        writeLock.lock();
        try {
            // Take the reader role for good: a leader, woken by the stop word, steps down soon.
            while (!lead.compareAndSet(0, 1)) {
                LockSupport.parkNanos(50_000);
            }
            released = true;
            seg.close(); // closes the writer and reader too, and unmaps the segment
        } finally {
            writeLock.unlock();
        }
        markDeadSweep();
    }

    private void markDeadSweep() {
        for (Slot s : slots) {
            if (s.state.get() == Slot.PENDING && s.state.compareAndSet(Slot.PENDING, Slot.FAILED)) {
                LockSupport.unpark(s.waiter);
            }
        }
    }

    /**
     * Closes the connection: the server sees end of file; calls still pending fail with
     * {@link PeerDeadException}; the segment is released. Waits for in-flight calls you want answered first.
     * Idempotent.
     */
    @Override
    public void close() {
        localReason = localReason == null ? "closed by this client" : localReason;
        markDead(localReason);
        watcher.stop();
        try {
            watcher.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- accessors -------------------------------------------------------------------------------------

    /** The connection generation the server assigned. */
    public long generation() {
        return generation;
    }

    /** The server's pid (from Welcome; informational). */
    public long serverPid() {
        return serverPid;
    }

    /** Largest frame payload either ring takes. */
    public int maxFrameBytes() {
        return maxFrame;
    }

    /** Null while the connection is up, else why it ended. */
    public String deadReason() {
        return deadReason.get();
    }

    /** Requests sent (calls), OneWay requests sent. */
    public long calls() {
        return calls.get();
    }

    public long sends() {
        return sends.get();
    }

    /** Responses dropped because their call had given up (LateResponses). */
    public long lateResponses() {
        return late.get();
    }

    /** Responses dropped whose correlation id was never issued (0 or in the future): a server bug. */
    public long unknownResponses() {
        return unknown.get();
    }

    /** Protocol errors seen (each ends the connection). */
    public long protocolErrors() {
        return protocolErrors.get();
    }

    /** The segment's descriptor, for tests of the seals; valid while the connection is up. */
    int segmentFd() {
        return seg.fd();
    }
}
