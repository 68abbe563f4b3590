package io.framebridge.internal;

import io.framebridge.Errno;
import io.framebridge.NativeException;
import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * The JNI shim ({@code jni/framebridge_jni.c}). Each {@code ...0} method is one system call returning
 * its result or {@code -errno}; the wrappers without {@code 0} throw {@link NativeException} naming the
 * operation. Nothing here touches segment contents: the data path is pure Java.
 */
public final class Native {
    static {
        NativeLoader.load();
    }

    private Native() {}

    /** open0 modes (keep in sync with FRB_OPEN_* in the C file). */
    public static final int OPEN_READ_WRITE = 0;
    public static final int OPEN_READ_ONLY = 1;
    public static final int OPEN_CREATE_EXCLUSIVE = 2;
    /** memfdCreate0 flags. */
    public static final int MEMFD_ALLOW_SEALING = 1;
    /** addSeals0 bits. */
    public static final int SEAL_SEAL = 1;
    public static final int SEAL_SHRINK = 2;
    public static final int SEAL_GROW = 4;

    /** futexWait outcomes. */
    public static final int FUTEX_WOKEN = 0;
    public static final int FUTEX_VALUE_CHANGED = 1;
    public static final int FUTEX_TIMED_OUT = 2;
    public static final int FUTEX_INTERRUPTED = 3;

    static native int futexWait0(ByteBuffer buf, long offset, int expected, long timeoutNanos);

    static native int futexWake0(ByteBuffer buf, long offset, int count);

    static native int memfdCreate0(String name, int flags);

    static native int addSeals0(int fd, int seals);

    static native int open0(String path, int mode);

    static native int unlink0(String path);

    static native int ftruncate0(int fd, long length);

    static native int fallocate0(int fd, long offset, long length);

    static native long fstatSize0(int fd);

    static native int close0(int fd);

    static native int dup0(int fd);

    static native long mmap0(int fd, long length, boolean readOnly);

    static native int munmap0(long address, long length);

    static native ByteBuffer wrap0(long address, long length);

    static native int retireMapping0(ByteBuffer buf);

    static native int socketpair0(int[] fds);

    static native int sendFd0(int sock, int fd);

    static native int recvFd0(int sock);

    static native int peerCred0(int sock, int[] pidUidGid);

    // ---- channel sockets (docs/channels.md) ----

    static native int seqpacketListen0(String path, int mode, int backlog);

    static native int seqpacketAccept0(int fd);

    static native int seqpacketConnect0(String path);

    static native int sendPacket0(int sock, byte[] buf, int len, int fd);

    static native int recvPacket0(int sock, byte[] buf, int[] fdOut);

    static native int pollSocket0(int fd, int timeoutMillis);

    static native int shutdown0(int fd);

    static native int pollSocketPidfd0(int fd, int pidfd, int timeoutMillis);

    static native int peerPidfd0(int sock);

    static native int pidfdOpen0(int pid);

    static native int getSeals0(int fd);

    static native int ids0(int[] uidGid);

    private static int check(String op, int r) {
        if (r < 0) {
            throw new NativeException(op, -r);
        }
        return r;
    }

    private static long check(String op, long r) {
        if (r < 0) {
            throw new NativeException(op, (int) -r);
        }
        return r;
    }

    private static void checkWord(ByteBuffer buf, long offset) {
        Objects.requireNonNull(buf, "buf");
        if (!buf.isDirect()) {
            throw new IllegalArgumentException("futex word must be in a direct (mapped) buffer");
        }
        if (offset < 0 || offset > buf.capacity() - 4L || (offset & 3) != 0) {
            throw new IndexOutOfBoundsException("futex word at " + offset + " outside buffer of " + buf.capacity());
        }
    }

    /**
     * FUTEX_WAIT (shared) on the u32 at {@code offset} of a direct buffer while it equals {@code expected},
     * for at most {@code timeoutNanos} (negative: no limit).
     *
     * @return {@link #FUTEX_WOKEN}, {@link #FUTEX_VALUE_CHANGED}, {@link #FUTEX_TIMED_OUT} or {@link #FUTEX_INTERRUPTED}
     */
    public static int futexWait(ByteBuffer buf, long offset, int expected, long timeoutNanos) {
        checkWord(buf, offset);
        int r = futexWait0(buf, offset, expected, timeoutNanos);
        switch (r) {
            case 0: return FUTEX_WOKEN;
            case -Errno.EAGAIN: return FUTEX_VALUE_CHANGED;
            case -Errno.ETIMEDOUT: return FUTEX_TIMED_OUT;
            case -Errno.EINTR: return FUTEX_INTERRUPTED;
            default: throw new NativeException("futex_wait", -r);
        }
    }

    /** FUTEX_WAKE (shared) up to {@code count} waiters on the u32 at {@code offset}; returns how many woke. */
    public static int futexWake(ByteBuffer buf, long offset, int count) {
        checkWord(buf, offset);
        return check("futex_wake", futexWake0(buf, offset, count));
    }

    public static int memfdCreate(String name, boolean allowSealing) {
        return check("memfd_create", memfdCreate0(name, allowSealing ? MEMFD_ALLOW_SEALING : 0));
    }

    public static void addSeals(int fd, int seals) {
        check("fcntl(F_ADD_SEALS)", addSeals0(fd, seals));
    }

    /**
     * open(2) with O_CLOEXEC|O_NOFOLLOW; {@link #OPEN_CREATE_EXCLUSIVE} adds O_CREAT|O_EXCL, mode 0600. The
     * other modes add O_NONBLOCK (a FIFO never blocks the open) and refuse anything but a regular file
     * (errno ENODEV).
     */
    public static int open(String path, int mode) {
        int r = open0(path, mode);
        if (r == -Errno.ENODEV && mode != OPEN_CREATE_EXCLUSIVE) {
            throw new NativeException("open", -r, path + " is not a regular file");
        }
        if (r < 0) {
            throw new NativeException("open", -r, path);
        }
        return r;
    }

    public static void unlink(String path) {
        int r = unlink0(path);
        if (r < 0) {
            throw new NativeException("unlink", -r, path);
        }
    }

    public static void ftruncate(int fd, long length) {
        check("ftruncate", ftruncate0(fd, length));
    }

    public static void fallocate(int fd, long offset, long length) {
        check("posix_fallocate", fallocate0(fd, offset, length));
    }

    public static long fstatSize(int fd) {
        return check("fstat", fstatSize0(fd));
    }

    public static void close(int fd) {
        check("close", close0(fd));
    }

    public static int dup(int fd) {
        return check("dup", dup0(fd));
    }

    /** mmap(MAP_SHARED) of {@code length} bytes of fd from offset 0; returns the address. Pair with {@link #munmap}. */
    public static long mmap(int fd, long length, boolean readOnly) {
        return check("mmap", mmap0(fd, length, readOnly));
    }

    public static void munmap(long address, long length) {
        check("munmap", munmap0(address, length));
    }

    /**
     * A direct ByteBuffer over memory from {@link #mmap}. The caller must not touch it after {@link #munmap}
     * (the segment code maps through FileChannel instead, whose mappings the GC unmaps, so a stale buffer
     * can never fault).
     */
    public static ByteBuffer wrap(long address, long length) {
        if (address <= 0 || length < 0 || length > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("wrap: bad address or length " + length);
        }
        return wrap0(address, length);
    }

    /**
     * Replaces the mapping under a page-aligned direct buffer (a {@code FileChannel.map} of a whole object) with
     * anonymous zero pages at the same address: the mapped object is released now (it leaves
     * /proc/self/maps), while a stale reference to the buffer reads zeros instead of faulting. The GC's cleaner
     * unmaps the range later as usual.
     */
    public static void retireMapping(ByteBuffer buf) {
        check("mmap(MAP_FIXED|MAP_ANONYMOUS) over a segment", retireMapping0(buf));
    }

    /** A connected AF_UNIX stream socket pair (both ends close-on-exec). */
    public static int[] socketpair() {
        int[] fds = new int[2];
        check("socketpair", socketpair0(fds));
        return fds;
    }

    /** Sends {@code fd} over a Unix socket (SCM_RIGHTS, one data byte). */
    public static void sendFd(int sock, int fd) {
        check("sendmsg(SCM_RIGHTS)", sendFd0(sock, fd));
    }

    /** Receives one fd sent with SCM_RIGHTS (close-on-exec); extra fds are closed. */
    public static int recvFd(int sock) {
        return check("recvmsg(SCM_RIGHTS)", recvFd0(sock));
    }

    /** SO_PEERCRED of a connected Unix socket: {pid, uid, gid}. */
    public static int[] peerCred(int sock) {
        int[] v = new int[3];
        check("getsockopt(SO_PEERCRED)", peerCred0(sock, v));
        return v;
    }

    // ---- channel sockets (docs/channels.md) -----------------------------------------------------------

    /** pollSocket bits (keep in sync with FRB_POLL_* in the C file). */
    public static final int POLL_IN = 1;
    public static final int POLL_HUP = 2;
    public static final int POLL_RDHUP = 4;
    public static final int POLL_ERR = 8;
    public static final int POLL_NVAL = 16;
    /** pollSocketPidfd: the peer's pidfd is readable (its process exited). */
    public static final int POLL_PEER_EXITED = 32;
    /** getSeals bit for F_SEAL_WRITE (the others are {@link #SEAL_SEAL}, {@link #SEAL_SHRINK}, {@link #SEAL_GROW}). */
    public static final int SEAL_WRITE = 8;
    /** Largest packet sendPacket/recvPacket move. */
    public static final int MAX_PACKET = 4096;

    /**
     * Listens on a SOCK_SEQPACKET Unix socket at {@code path} (socket + bind + chmod(mode) + listen). A stale
     * socket file is replaced; a live listener is errno EADDRINUSE (98), another kind of file EEXIST, a
     * path over 107 bytes ENAMETOOLONG (36). Returns the listening fd; the raw result is from
     * {@link #seqpacketListenRaw}.
     */
    public static int seqpacketListenRaw(String path, int mode, int backlog) {
        Objects.requireNonNull(path, "path");
        return seqpacketListen0(path, mode, backlog);
    }

    /** accept4(SOCK_CLOEXEC); returns the connection fd or -errno. */
    public static int seqpacketAcceptRaw(int fd) {
        return seqpacketAccept0(fd);
    }

    /** Connects a SOCK_SEQPACKET Unix socket to {@code path}; returns the fd or -errno. */
    public static int seqpacketConnectRaw(String path) {
        Objects.requireNonNull(path, "path");
        return seqpacketConnect0(path);
    }

    /** Sends {@code buf[0, len)} as one packet, with {@code fd} as SCM_RIGHTS if {@code fd >= 0}. */
    public static void sendPacket(int sock, byte[] buf, int len, int fd) {
        int r = sendPacket0(sock, buf, len, fd);
        if (r < 0) {
            throw new NativeException("sendmsg", -r);
        }
        if (r != len) {
            throw new NativeException("sendmsg", Errno.EMSGSIZE, "sent " + r + " of " + len + " bytes");
        }
    }

    /**
     * Receives one packet into {@code buf}; returns its length (0 = end of file) or -errno (-EMSGSIZE: longer
     * than buf). {@code fdOut[0]}: the first fd passed with it or -1; {@code fdOut[1]}: how many fds came
     * (all but the first are closed).
     */
    public static int recvPacketRaw(int sock, byte[] buf, int[] fdOut) {
        return recvPacket0(sock, buf, fdOut);
    }

    /** poll(POLLIN|POLLRDHUP) on one fd: the {@code POLL_*} bits seen, 0 on timeout or EINTR, or -errno. */
    public static int pollSocketRaw(int fd, int timeoutMillis) {
        return pollSocket0(fd, timeoutMillis);
    }

    /**
     * poll on a connection's socket and its peer's pidfd: the socket's {@code POLL_*} bits, plus
     * {@link #POLL_PEER_EXITED} once the peer process exited; 0 on timeout or EINTR, or -errno.
     */
    public static int pollSocketPidfdRaw(int fd, int pidfd, int timeoutMillis) {
        return pollSocketPidfd0(fd, pidfd, timeoutMillis);
    }

    /** getsockopt(SO_PEERPIDFD): a close-on-exec pidfd of the socket's peer, or -errno (-ENOPROTOOPT before Linux 6.5). */
    public static int peerPidfdRaw(int sock) {
        return peerPidfd0(sock);
    }

    /** pidfd_open(pid, 0): a close-on-exec pidfd, or -errno (-ESRCH: no such process; -ENOSYS before Linux 5.3). */
    public static int pidfdOpenRaw(int pid) {
        return pidfdOpen0(pid);
    }

    /** shutdown(SHUT_RDWR): the peer sees end of file, and a poll of ours on the fd returns. */
    public static int shutdownRaw(int fd) {
        return shutdown0(fd);
    }

    /** F_GET_SEALS as {@code SEAL_*} bits. */
    public static int getSeals(int fd) {
        return check("fcntl(F_GET_SEALS)", getSeals0(fd));
    }

    /** This process's real {uid, gid}. */
    public static int[] ids() {
        int[] v = new int[2];
        check("getuid", ids0(v));
        return v;
    }
}
