package io.framebridge.channel;

import io.framebridge.internal.Native;
import java.util.function.Consumer;

/**
 * docs/channels.md §4: a thread blocked in poll on the connection's socket. The socket carries nothing
 * after the handshake, so anything it reports (end of file, hang-up, an error, or stray data) ends the
 * connection: {@code onEnd} gets the reason (starting with {@code peer-dead} when the peer closed or died).
 * {@link #stop()} shuts the socket down, which both tells the peer and wakes our poll. The watcher owns
 * the fd and closes it when it ends.
 */
final class SocketWatcher implements Runnable {
    private final SocketFd sock;
    private final Consumer<String> onEnd;
    private final Thread thread;
    private volatile boolean stopping;

    SocketWatcher(SocketFd sock, String name, Consumer<String> onEnd) {
        this.sock = sock;
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
            int p = Native.pollSocketRaw(sock.fd(), 1000);
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
        }
    }
}
