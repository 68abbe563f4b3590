package io.framebridge.channel;

import io.framebridge.internal.Native;

/**
 * A connection's socket descriptor with one owner-side rule: once it is closed, nothing touches the number
 * again. Without it, a {@code shutdown} from another thread that lands after the close hits whatever the
 * process opened next under the same number (a newly accepted or dialled connection), and that peer sees end
 * of file during its handshake. {@link #shutdown()} and {@link #close()} are serialised and idempotent.
 */
final class SocketFd {
    private final int fd;
    private boolean closed; // guarded by this

    SocketFd(int fd) {
        this.fd = fd;
    }

    /** The descriptor, for calls made by the thread that owns the connection while it is open. */
    int fd() {
        return fd;
    }

    /** Shuts both directions down (the peer sees end of file; a poll or recv on it returns); no-op once closed. */
    synchronized void shutdown() {
        if (!closed) {
            Native.shutdownRaw(fd);
        }
    }

    /** Shuts down and closes the descriptor, once. */
    synchronized void close() {
        if (!closed) {
            closed = true;
            Native.shutdownRaw(fd);
            Sock.closeQuietly(fd);
        }
    }
}
