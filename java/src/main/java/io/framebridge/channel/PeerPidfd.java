package io.framebridge.channel;

import io.framebridge.Errno;
import io.framebridge.internal.Native;

/**
 * docs/channels.md §4: a pidfd of a connection's peer process, the second liveness signal beside the socket
 * (a child the peer forked may keep the socket open after the peer itself exited). Used only when the
 * socket's SO_PEERCRED pid is the pid the peer put in its Hello or Welcome (a pre-fork server's accepting
 * process reports another pid: then the socket alone is watched). The pidfd comes from SO_PEERPIDFD (free of
 * pid reuse), else from pidfd_open, after which the socket is checked once more for end of file (had the peer
 * died and its pid been reused, its socket would read end of file: then the socket alone is watched, and its
 * watcher sees that at once). Neither available ({@code ENOPROTOOPT}, {@code ENOSYS}, {@code EPERM} in a
 * sandbox): the socket alone, not an error. The descriptor is close-on-exec.
 */
final class PeerPidfd {
    private PeerPidfd() {}

    /** {@link #open}: watch the socket alone. */
    static final int NONE = -1;
    /** {@link #open}: the peer process has exited already. */
    static final int EXITED = -2;

    /**
     * A pidfd of the peer of {@code sock}, whose credentials say {@code credPid} and whose handshake said
     * {@code claimedPid}; or {@link #NONE} or {@link #EXITED}.
     */
    static int open(int sock, int credPid, long claimedPid) {
        if (credPid <= 0 || credPid != claimedPid) {
            return NONE;
        }
        int fd = Native.peerPidfdRaw(sock);
        if (fd >= 0) {
            return fd;
        }
        if (fd == -Errno.ESRCH) {
            return EXITED;
        }
        fd = Native.pidfdOpenRaw(credPid);
        if (fd == -Errno.ESRCH) {
            return EXITED;
        }
        if (fd < 0) {
            return NONE;
        }
        if (Native.pollSocketRaw(sock, 0) != 0) { // end of file already: the pid may be someone else's now
            Sock.closeQuietly(fd);
            return NONE;
        }
        return fd;
    }
}
