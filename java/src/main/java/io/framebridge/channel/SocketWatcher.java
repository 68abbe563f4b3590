package io.framebridge.channel;

import io.framebridge.internal.Native;
import java.util.function.Consumer;

/**
 * docs/channels.md §4: a thread blocked in poll on the connection's socket and, where there is one, the
 * peer's pidfd ({@link PeerPidfd}). The socket carries nothing after the handshake, so anything it reports
 * (end of file, hang-up, an error, or stray data) ends the connection, and so does the pidfd turning
 * readable (the peer process exited, though a child of it may hold the socket open): {@code onEnd} gets the
 * reason (starting with {@code peer-dead} when the peer closed or died). {@link #stop()} shuts the socket
 * down, which both tells the peer and wakes our poll. The watcher owns both fds and closes them when it ends.
 */
final class SocketWatcher implements Runnable {
    private final SocketFd sock;
    private final int pidfd;
    private final String peer;
    private final Consumer<String> onEnd;
    private final Thread thread;
    private volatile boolean stopping;

    /**
     * {@code pidfd}: the peer's (owned from now on), or a negative number for none; {@code peer} names the
     * peer process in the reason, e.g. {@code "client process 1234"}.
     */
    SocketWatcher(SocketFd sock, int pidfd, String peer, String name, Consumer<String> onEnd) {
        this.sock = sock;
        this.pidfd = pidfd;
        this.peer = peer;
        this.onEnd = onEnd;
        this.thread = new Thread(this, name);
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    /** Shuts the socket down (the peer sees end of file; our poll returns). Idempotent. */
    void stop() {
        stopping = true;
        sock.shutdown(); // a no-op once the watcher has closed it: the number may belong to someone else now
    }

    /** Waits for the watcher thread to end (it ends soon after {@link #stop()} or the peer's death). */
    void join(long millis) throws InterruptedException {
        if (Thread.currentThread() != thread) {
            thread.join(millis);
        }
    }

    @Override
    public void run() {
        String reason;
        byte[] junk = new byte[Native.MAX_PACKET];
        int[] fds = new int[2];
        for (;;) {
            // Bounded wait: a backstop should a shutdown ever not wake the poll.
            int p = pidfd >= 0 ? Native.pollSocketPidfdRaw(sock.fd(), pidfd, 1000) : Native.pollSocketRaw(sock.fd(), 1000);
            if (stopping) {
                reason = "closed locally";
                break;
            }
            if (p < 0) {
                reason = "peer-dead: poll on the socket failed (errno " + (-p) + ")";
                break;
            }
            if (p == 0) {
                continue;
            }
            if ((p & Native.POLL_PEER_EXITED) != 0) {
                reason = "peer-dead: the " + peer + " exited";
                break;
            }
            if ((p & Native.POLL_IN) != 0) {
                int n = Native.recvPacketRaw(sock.fd(), junk, fds);
                if (n > 0 || fds[0] >= 0) {
                    Sock.closeQuietly(fds[0]);
                    reason = "protocol error: the peer sent a " + n + "-byte packet after the handshake";
                    break;
                }
                if (stopping) {
                    reason = "closed locally";
                    break;
                }
                reason = n == 0 ? "peer-dead: the peer closed the socket (exited or closed the connection)"
                        : "peer-dead: the socket failed (errno " + (-n) + ")";
                break;
            }
            reason = "peer-dead: the socket hung up";
            break;
        }
        try {
            onEnd.accept(reason);
        } finally {
            sock.close();
            Sock.closeQuietly(pidfd);
        }
    }
}
