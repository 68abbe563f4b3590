package io.framebridge.channel;

import io.framebridge.Errno;
import io.framebridge.NativeException;
import io.framebridge.internal.Native;

/** The channel's socket calls, with errors that say what was wrong and what to do. */
final class Sock {
    private Sock() {}

    /** sun_path holds 108 bytes with the NUL. */
    static final int MAX_PATH_BYTES = 107;

    static void checkPath(String path) {
        if (path == null || path.isEmpty()) {
            throw new IllegalArgumentException("channel socket path is empty");
        }
        int n = path.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (n > MAX_PATH_BYTES) {
            throw new IllegalArgumentException("channel socket path " + path + " is " + n + " bytes; a Unix socket path"
                    + " takes at most " + MAX_PATH_BYTES + " (use a shorter directory)");
        }
    }

    static int listen(String path, int mode, int backlog) {
        checkPath(path);
        if ((mode & ~0777) != 0) {
            throw new IllegalArgumentException("socket mode 0" + Integer.toOctalString(mode) + ": want permission bits only (e.g. 0600)");
        }
        int r = Native.seqpacketListenRaw(path, mode, backlog);
        if (r >= 0) {
            return r;
        }
        int e = -r;
        String why;
        switch (e) {
            case Errno.EADDRINUSE: why = "another server is listening there (stop it or choose another path)"; break;
            case Errno.EEXIST: why = "a file that is not a socket exists there (remove it or choose another path)"; break;
            case Errno.ENOENT: why = "its directory does not exist (create it first)"; break;
            case Errno.ENOTDIR: why = "a component of the path is not a directory"; break;
            case Errno.EACCES: why = "permission denied on the directory"; break;
            case Errno.ENAMETOOLONG: why = "the path is longer than " + MAX_PATH_BYTES + " bytes"; break;
            default: why = null;
        }
        throw new NativeException("listen", e, "on " + path + (why == null ? "" : ": " + why));
    }

    static int connect(String path) {
        checkPath(path);
        int r = Native.seqpacketConnectRaw(path);
        if (r >= 0) {
            return r;
        }
        int e = -r;
        String why;
        switch (e) {
            case Errno.ENOENT: why = "no server socket there (is the server running, is the path right?)"; break;
            case Errno.ECONNREFUSED: why = "nothing accepts there (the server is gone; restart it)"; break;
            case Errno.EACCES: why = "permission denied (the socket's mode or directory does not let this user in)"; break;
            default: why = null;
        }
        throw new NativeException("connect", e, "to " + path + (why == null ? "" : ": " + why));
    }

    /**
     * Waits until {@code deadlineNanos} (System.nanoTime) for one packet and receives it; returns its length
     * (0: end of file). Throws {@link DeadlineExceededException} naming {@code what} on timeout.
     */
    static int recv(int sock, byte[] buf, int[] fds, long deadlineNanos, String what) {
        for (;;) {
            long left = deadlineNanos - System.nanoTime();
            if (left <= 0) {
                throw new DeadlineExceededException(what + ": no answer before the handshake deadline");
            }
            int ms = (int) Math.min(Integer.MAX_VALUE, Math.max(1, left / 1_000_000));
            int p = Native.pollSocketRaw(sock, ms);
            if (p < 0) {
                throw new NativeException("poll", -p, what);
            }
            if (p == 0) {
                continue;
            }
            int n = Native.recvPacketRaw(sock, buf, fds);
            if (n == -Errno.EMSGSIZE) {
                throw new ChannelException(what + ": packet longer than " + buf.length + " bytes");
            }
            if (n < 0) {
                throw new NativeException("recvmsg", -n, what);
            }
            return n;
        }
    }

    static void closeQuietly(int fd) {
        if (fd >= 0) {
            try {
                Native.close(fd);
            } catch (NativeException ignored) {
                // closing is best effort on an error path; the original error is what matters
            }
        }
    }
}
