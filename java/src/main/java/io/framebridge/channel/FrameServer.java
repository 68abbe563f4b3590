package io.framebridge.channel;

import io.framebridge.internal.Native;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The server end of channels (docs/channels.md; Go {@code channel.Listen}), the model-service adapter:
 * {@link #listen} binds a {@code SOCK_SEQPACKET} Unix socket; {@link #serve} accepts connections, checks each
 * client with SO_PEERCRED, hands it a sealed memfd segment with a {@code requests} and a {@code responses}
 * ring, and runs a {@link Handler} for every request.
 *
 * <pre>{@code
 * try (FrameServer s = FrameServer.listen("/run/risk.sock", new FrameServer.Options())) {
 *     s.serve((req, reply) -> {
 *         float score = model.score(req.reader().features());
 *         reply.body((b, f) -> f.payload(Payload.ModelResponse, ModelResponse.createModelResponse(b, ...)));
 *     });
 *     ...
 * }
 * }</pre>
 *
 * <p>Each connection has a reader thread, which reads requests in order and (by default) runs the handler
 * inline: the request is read in place and its ring space is released after the response is committed.
 * With {@link Options#executor} the reader copies each request into one of a fixed pool of private buffers
 * and the handler runs on the executor, so a slow handler does not hold up later requests. Each
 * connection also has a watcher thread in poll on its socket: when the client dies or closes, the
 * connection is torn down at once. Protocol errors close only that connection.
 */
public final class FrameServer implements AutoCloseable {
    /** Server options (docs/channels.md §8). */
    public static final class Options {
        int socketMode = 0600;
        int[] allowUids = new int[0];
        int[] allowGids = new int[0];
        long defaultRequestRing = 64 * 1024;
        long defaultResponseRing = 64 * 1024;
        long maxRing = 16L << 20;
        int maxConnections = 1024;
        Duration handshakeTimeout = Duration.ofSeconds(5);
        Executor executor;
        int executorBuffers = 64;
        long spinNanos = io.framebridge.RingReader.DEFAULT_SPIN_NANOS;
        ConnectionListener onClosed;

        /** The socket file's mode (default 0600; the umask does not widen it). */
        public Options socketMode(int mode) {
            this.socketMode = mode;
            return this;
        }

        /** Allow-lists (a client matching either is accepted); both empty = only this process's uid. */
        public Options allow(int[] uids, int[] gids) {
            this.allowUids = uids == null ? new int[0] : uids.clone();
            this.allowGids = gids == null ? new int[0] : gids.clone();
            return this;
        }

        /** Default ring capacities (for Hello sizes of 0) and the largest granted. */
        public Options rings(long defaultRequest, long defaultResponse, long max) {
            for (long n : new long[] {defaultRequest, defaultResponse, max}) {
                if (n < Handshake.MIN_RING || n > Handshake.MAX_RING || Long.bitCount(n) != 1) {
                    throw new IllegalArgumentException("ring size " + n + ": want a power of two in [4096, 2^30]");
                }
            }
            this.defaultRequestRing = Math.min(defaultRequest, max);
            this.defaultResponseRing = Math.min(defaultResponse, max);
            this.maxRing = max;
            return this;
        }

        public Options maxConnections(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("maxConnections " + n + ": want >= 1");
            }
            this.maxConnections = n;
            return this;
        }

        public Options handshakeTimeout(Duration d) {
            this.handshakeTimeout = d;
            return this;
        }

        /**
         * Runs handlers on this executor instead of inline; each connection keeps {@code buffers} private request
         * copies (its reader waits when all are in use).
         */
        public Options executor(Executor e, int buffers) {
            if (buffers < 1) {
                throw new IllegalArgumentException("executor buffers " + buffers + ": want >= 1");
            }
            this.executor = e;
            this.executorBuffers = buffers;
            return this;
        }

        /** How long an idle reader spins before it sleeps (ns). */
        public Options spinNanos(long ns) {
            this.spinNanos = Math.max(0, ns);
            return this;
        }

        /** Called once for every accepted connection that ends, with its generation and reason. */
        public Options onClosed(ConnectionListener l) {
            this.onClosed = l;
            return this;
        }
    }

    /** Told when a connection ends; {@code reason} starts with {@code peer-dead} when the client died or closed. */
    @FunctionalInterface
    public interface ConnectionListener {
        void closed(long generation, String reason);
    }

    final String path;
    final Options opts;
    final int uid;
    final int gid;
    private int listenFd;
    private volatile boolean closing;
    private Thread acceptor;
    private Handler handler;
    final Set<ServerConnection> conns = ConcurrentHashMap.newKeySet();
    private final AtomicLong generations = new AtomicLong();

    final AtomicLong accepted = new AtomicLong();
    final AtomicLong refused = new AtomicLong();
    /** Calls run on an executor, and the inline calls of connections that ended (open ones count their own). */
    final AtomicLong calls = new AtomicLong();
    final AtomicLong expiredRequests = new AtomicLong();
    final AtomicLong expiredResponses = new AtomicLong();
    final AtomicLong handlerFailures = new AtomicLong();
    final AtomicLong protocolErrors = new AtomicLong();

    private FrameServer(String path, Options o, int fd) {
        this.path = path;
        this.opts = o;
        this.listenFd = fd;
        int[] ids = Native.ids();
        this.uid = ids[0];
        this.gid = ids[1];
    }

    /**
     * Listens at {@code path} (mode {@link Options#socketMode}). A stale socket file there is replaced; a
     * live server there, or another kind of file, is an error.
     */
    public static FrameServer listen(String path, Options o) {
        int fd = Sock.listen(path, o.socketMode, 128);
        return new FrameServer(path, o, fd);
    }

    /** Starts accepting connections and serving them with {@code h}; returns at once. Call once. */
    public synchronized FrameServer serve(Handler h) {
        if (handler != null) {
            throw new IllegalStateException("serve was already called");
        }
        if (closing) {
            throw new IllegalStateException("server is closed");
        }
        this.handler = h;
        acceptor = new Thread(this::acceptLoop, "framebridge-accept " + path);
        acceptor.setDaemon(true);
        acceptor.start();
        return this;
    }

    private void acceptLoop() {
        while (!closing) {
            int p = Native.pollSocketRaw(listenFd, 200); // bounded: close() needs no wake-up trick
            if (closing) {
                return;
            }
            if (p <= 0) {
                continue;
            }
            int c = Native.seqpacketAcceptRaw(listenFd);
            if (c < 0) {
                continue; // the client gave up already (ECONNABORTED), or EMFILE: try again on the next poll
            }
            ServerConnection conn = new ServerConnection(this, c, handler);
            conns.add(conn);
            if (closing) {
                conn.close("server closed");
            }
            conn.start();
        }
    }

    long nextGeneration() {
        return generations.incrementAndGet();
    }

    void ended(ServerConnection c) {
        synchronized (conns) { // with calls(): a connection's inline calls are counted once, never twice or none
            calls.addAndGet(c.inlineCalls.get());
            conns.remove(c);
        }
    }

    /**
     * Stops accepting, closes every connection (clients see end of file; their pending calls fail), waits
     * for the connection threads, and removes the socket file. Idempotent.
     */
    @Override
    public void close() {
        Thread a;
        synchronized (this) {
            if (closing) {
                return;
            }
            closing = true;
            a = acceptor;
        }
        if (a != null) {
            try {
                a.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        List<ServerConnection> all = new ArrayList<>(conns);
        for (ServerConnection c : all) {
            c.close("server closed");
        }
        for (ServerConnection c : all) {
            c.join(5_000);
        }
        Sock.closeQuietly(listenFd);
        listenFd = -1;
        try {
            java.nio.file.Files.deleteIfExists(java.nio.file.Path.of(path));
        } catch (java.io.IOException e) {
            // the socket file is left behind; the next listen replaces it as stale
        }
    }

    /** The socket path. */
    public String path() {
        return path;
    }

    /** Connections open now. */
    public int connections() {
        return conns.size();
    }

    /** Connections accepted (handshake OK) so far. */
    public long accepted() {
        return accepted.get();
    }

    /** Connections refused in the handshake. */
    public long refused() {
        return refused.get();
    }

    /** Requests handed to the handler. */
    public long calls() {
        synchronized (conns) {
            long n = calls.get();
            for (ServerConnection c : conns) {
                n += c.inlineCalls.get();
            }
            return n;
        }
    }

    /** Requests dropped unhandled because their deadline had passed when read (ExpiredRequests). */
    public long expiredRequests() {
        return expiredRequests.get();
    }

    /** Responses dropped because they were finished after their deadline (ExpiredResponses). */
    public long expiredResponses() {
        return expiredResponses.get();
    }

    /** Handlers that threw. */
    public long handlerFailures() {
        return handlerFailures.get();
    }

    /** Connections closed for a protocol error. */
    public long protocolErrors() {
        return protocolErrors.get();
    }
}
