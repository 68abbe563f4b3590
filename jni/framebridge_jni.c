/*
 * framebridge JNI shim: the few system calls the Java library cannot make itself.
 *
 * Every native method is a thin wrapper around one system call. It returns the call's result
 * (an fd, a size, an address, 0) or -errno on failure; the Java side (io.framebridge.internal.Native)
 * turns a negative result into a NativeException naming the operation. Nothing here reads or writes
 * the segment's contents: the data path is pure Java. The only addresses this file touches come from
 * direct ByteBuffers (GetDirectBufferAddress) and are bounds-checked here against the buffer's capacity
 * (the Java side has checked them as well), or from mmap0 for munmap0/wrap0.
 *
 * Natives are registered from a table in JNI_OnLoad; the exception classes used are cached there.
 */
#include <jni.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FRB_CLASS "io/framebridge/internal/Native"

/* open0 modes (keep in sync with Native.OPEN_*). */
#define FRB_OPEN_READ_WRITE 0
#define FRB_OPEN_READ_ONLY 1
#define FRB_OPEN_CREATE_EXCLUSIVE 2

/* memfdCreate0 flags (keep in sync with Native.MEMFD_*). */
#define FRB_MEMFD_ALLOW_SEALING 1

/* addSeals0 bits (keep in sync with Native.SEAL_*). */
#define FRB_SEAL_SEAL 1
#define FRB_SEAL_SHRINK 2
#define FRB_SEAL_GROW 4

static jclass illegal_argument_class; /* global ref, cached in JNI_OnLoad */

static void throw_illegal_argument(JNIEnv *env, const char *msg) {
    (*env)->ThrowNew(env, illegal_argument_class, msg);
}

/* Returns a pointer to the 4-byte word at offset of a direct buffer, or NULL if out of bounds. */
static uint32_t *futex_word(JNIEnv *env, jobject buf, jlong offset) {
    if (buf == NULL) {
        return NULL;
    }
    char *base = (*env)->GetDirectBufferAddress(env, buf);
    jlong cap = (*env)->GetDirectBufferCapacity(env, buf);
    if (base == NULL || cap < 4 || offset < 0 || offset > cap - 4) {
        return NULL;
    }
    uintptr_t addr = (uintptr_t)base + (uintptr_t)offset;
    if (addr % 4 != 0) {
        return NULL;
    }
    return (uint32_t *)addr;
}

static jint JNICALL futexWait0(JNIEnv *env, jclass cls, jobject buf, jlong offset, jint expected,
                               jlong timeout_ns) {
    (void)cls;
    uint32_t *word = futex_word(env, buf, offset);
    if (word == NULL) {
        return -EINVAL;
    }
    struct timespec ts;
    struct timespec *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000LL);
        ts.tv_nsec = (long)(timeout_ns % 1000000000LL);
        tsp = &ts;
    }
    long r = syscall(SYS_futex, word, FUTEX_WAIT, (uint32_t)expected, tsp, NULL, 0);
    return r < 0 ? -errno : 0;
}

static jint JNICALL futexWake0(JNIEnv *env, jclass cls, jobject buf, jlong offset, jint count) {
    (void)cls;
    uint32_t *word = futex_word(env, buf, offset);
    if (word == NULL || count < 0) {
        return -EINVAL;
    }
    long r = syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
    return r < 0 ? -errno : (jint)r;
}

static jint JNICALL memfdCreate0(JNIEnv *env, jclass cls, jstring name, jint flags) {
    (void)cls;
    if (name == NULL) {
        throw_illegal_argument(env, "memfd_create: null name");
        return -EINVAL;
    }
    const char *cname = (*env)->GetStringUTFChars(env, name, NULL);
    if (cname == NULL) {
        return -ENOMEM; /* OutOfMemoryError pending */
    }
    unsigned int f = MFD_CLOEXEC;
    if (flags & FRB_MEMFD_ALLOW_SEALING) {
        f |= MFD_ALLOW_SEALING;
    }
    int fd = memfd_create(cname, f);
    int err = errno;
    (*env)->ReleaseStringUTFChars(env, name, cname);
    return fd < 0 ? -err : fd;
}

static jint JNICALL addSeals0(JNIEnv *env, jclass cls, jint fd, jint seals) {
    (void)env;
    (void)cls;
    int s = 0;
    if (seals & FRB_SEAL_SEAL) s |= F_SEAL_SEAL;
    if (seals & FRB_SEAL_SHRINK) s |= F_SEAL_SHRINK;
    if (seals & FRB_SEAL_GROW) s |= F_SEAL_GROW;
    return fcntl(fd, F_ADD_SEALS, s) < 0 ? -errno : 0;
}

static jint JNICALL open0(JNIEnv *env, jclass cls, jstring path, jint mode) {
    (void)cls;
    int flags;
    switch (mode) {
    /* O_NONBLOCK: a FIFO planted under the name (anyone may create files in /dev/shm) must not block the
       open; anything but a regular file is refused below. No effect on regular files. */
    case FRB_OPEN_READ_WRITE: flags = O_RDWR | O_NONBLOCK; break;
    case FRB_OPEN_READ_ONLY: flags = O_RDONLY | O_NONBLOCK; break;
    case FRB_OPEN_CREATE_EXCLUSIVE: flags = O_RDWR | O_CREAT | O_EXCL; break;
    default: return -EINVAL;
    }
    if (path == NULL) {
        throw_illegal_argument(env, "open: null path");
        return -EINVAL;
    }
    const char *cpath = (*env)->GetStringUTFChars(env, path, NULL);
    if (cpath == NULL) {
        return -ENOMEM;
    }
    int fd = open(cpath, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
    int err = errno;
    (*env)->ReleaseStringUTFChars(env, path, cpath);
    if (fd >= 0 && mode != FRB_OPEN_CREATE_EXCLUSIVE) {
        struct stat st;
        if (fstat(fd, &st) < 0) {
            err = errno;
            close(fd);
            return -err;
        }
        if (!S_ISREG(st.st_mode)) {
            close(fd);
            return -ENODEV; /* Java: "not a regular file" */
        }
    }
    return fd < 0 ? -err : fd;
}

static jint JNICALL unlink0(JNIEnv *env, jclass cls, jstring path) {
    (void)cls;
    if (path == NULL) {
        throw_illegal_argument(env, "unlink: null path");
        return -EINVAL;
    }
    const char *cpath = (*env)->GetStringUTFChars(env, path, NULL);
    if (cpath == NULL) {
        return -ENOMEM;
    }
    int r = unlink(cpath);
    int err = errno;
    (*env)->ReleaseStringUTFChars(env, path, cpath);
    return r < 0 ? -err : 0;
}

static jint JNICALL ftruncate0(JNIEnv *env, jclass cls, jint fd, jlong length) {
    (void)env;
    (void)cls;
    if (length < 0) {
        return -EINVAL;
    }
    return ftruncate(fd, (off_t)length) < 0 ? -errno : 0;
}

static jint JNICALL fallocate0(JNIEnv *env, jclass cls, jint fd, jlong offset, jlong length) {
    (void)env;
    (void)cls;
    if (offset < 0 || length <= 0) {
        return -EINVAL;
    }
    int r = posix_fallocate(fd, (off_t)offset, (off_t)length); /* returns the error number */
    return -r;
}

static jlong JNICALL fstatSize0(JNIEnv *env, jclass cls, jint fd) {
    (void)env;
    (void)cls;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    return (jlong)st.st_size;
}

static jint JNICALL close0(JNIEnv *env, jclass cls, jint fd) {
    (void)env;
    (void)cls;
    return close(fd) < 0 ? -errno : 0;
}

static jint JNICALL dup0(JNIEnv *env, jclass cls, jint fd) {
    (void)env;
    (void)cls;
    int r = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    return r < 0 ? -errno : r;
}

static jlong JNICALL mmap0(JNIEnv *env, jclass cls, jint fd, jlong length, jboolean read_only) {
    (void)env;
    (void)cls;
    if (length <= 0) {
        return -EINVAL;
    }
    int prot = read_only ? PROT_READ : (PROT_READ | PROT_WRITE);
    void *p = mmap(NULL, (size_t)length, prot, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        return -errno;
    }
    return (jlong)(uintptr_t)p;
}

static jint JNICALL munmap0(JNIEnv *env, jclass cls, jlong address, jlong length) {
    (void)env;
    (void)cls;
    if (address <= 0 || length <= 0) {
        return -EINVAL;
    }
    return munmap((void *)(uintptr_t)address, (size_t)length) < 0 ? -errno : 0;
}

/*
 * Replaces a direct buffer's whole mapping (FileChannel.map of a segment, page aligned) with fresh anonymous
 * zero pages at the same address: the segment's pages are released now (the process no longer maps the
 * memfd, /proc/PID/maps stops showing it), yet a stale Java reference still reads mapped memory (zeros)
 * and can never fault. The GC's cleaner later munmaps the same range, which is then this anonymous mapping.
 */
static jint JNICALL retireMapping0(JNIEnv *env, jclass cls, jobject buf) {
    (void)cls;
    if (buf == NULL) {
        return -EINVAL;
    }
    char *base = (*env)->GetDirectBufferAddress(env, buf);
    jlong cap = (*env)->GetDirectBufferCapacity(env, buf);
    long page = sysconf(_SC_PAGESIZE);
    if (base == NULL || cap <= 0 || page <= 0 || ((uintptr_t)base % (uintptr_t)page) != 0) {
        return -EINVAL;
    }
    size_t len = ((size_t)cap + (size_t)page - 1) / (size_t)page * (size_t)page;
    void *p = mmap(base, len, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? -errno : 0;
}

static jobject JNICALL wrap0(JNIEnv *env, jclass cls, jlong address, jlong length) {
    (void)cls;
    if (address <= 0 || length < 0 || length > INT_MAX) {
        throw_illegal_argument(env, "wrap: bad address or length");
        return NULL;
    }
    return (*env)->NewDirectByteBuffer(env, (void *)(uintptr_t)address, length);
}

static jint JNICALL socketpair0(JNIEnv *env, jclass cls, jintArray out) {
    (void)cls;
    if (out == NULL || (*env)->GetArrayLength(env, out) < 2) {
        throw_illegal_argument(env, "socketpair: need an int[2]");
        return -EINVAL;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        return -errno;
    }
    jint jsv[2] = {sv[0], sv[1]};
    (*env)->SetIntArrayRegion(env, out, 0, 2, jsv);
    return 0;
}

/*
 * sendmsg(2) of data[0, len) as one packet, with fd as SCM_RIGHTS ancillary data when fd >= 0, retrying
 * EINTR; never raises SIGPIPE. Returns the bytes sent or -errno.
 */
static ssize_t send_with_fd(int sock, const void *data, size_t len, int fd) {
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (fd >= 0) {
        msg.msg_control = u.buf;
        msg.msg_controllen = sizeof u.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n;
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static jint JNICALL sendFd0(JNIEnv *env, jclass cls, jint sock, jint fd) {
    (void)env;
    (void)cls;
    if (fd < 0) {
        return -EBADF;
    }
    char byte = 'F';
    ssize_t n = send_with_fd(sock, &byte, 1, fd);
    return n < 0 ? (jint)n : 0;
}

/*
 * recvmsg(2) of one packet into data[0, len), retrying EINTR. Of the SCM_RIGHTS descriptors that came
 * (close-on-exec), the first is kept in *first (-1: none) and every other is closed here, so a peer can
 * never make us leak descriptors; *count says how many came and *flags holds msg_flags (MSG_TRUNC,
 * MSG_CTRUNC). Returns the packet's length (0: end of file) or -errno.
 */
static ssize_t recv_first_fd(int sock, void *data, size_t len, int *first, int *count, int *flags) {
    struct iovec iov = {.iov_base = data, .iov_len = len};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 8)];
    } u;
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    ssize_t n;
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    *first = -1;
    *count = 0;
    *flags = 0;
    if (n < 0) {
        return -errno;
    }
    *flags = msg.msg_flags;
    if (msg.msg_controllen == 0) {
        return n;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0)) {
            continue;
        }
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            (*count)++;
            if (*first < 0) {
                *first = fd;
            } else {
                close(fd);
            }
        }
    }
    return n;
}

static jint JNICALL recvFd0(JNIEnv *env, jclass cls, jint sock) {
    (void)env;
    (void)cls;
    char byte;
    int fd, count, flags;
    ssize_t n = recv_first_fd(sock, &byte, 1, &fd, &count, &flags);
    if (n < 0) {
        return (jint)n;
    }
    if (n == 0) {
        return -ECONNRESET; /* peer closed the socket */
    }
    if (fd >= 0 && (flags & MSG_CTRUNC)) {
        close(fd);
        return -EMSGSIZE;
    }
    return fd >= 0 ? fd : -ENOMSG;
}

static jint JNICALL peerCred0(JNIEnv *env, jclass cls, jint sock, jintArray out) {
    (void)cls;
    if (out == NULL || (*env)->GetArrayLength(env, out) < 3) {
        throw_illegal_argument(env, "peercred: need an int[3]");
        return -EINVAL;
    }
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        return -errno;
    }
    jint v[3] = {(jint)cred.pid, (jint)cred.uid, (jint)cred.gid};
    (*env)->SetIntArrayRegion(env, out, 0, 3, v);
    return 0;
}

/* ---- channel sockets (docs/channels.md): SOCK_SEQPACKET Unix sockets, one packet per handshake message ---- */

/* poll0 event bits (keep in sync with Native.POLL_*). */
#define FRB_POLL_IN 1
#define FRB_POLL_HUP 2
#define FRB_POLL_RDHUP 4
#define FRB_POLL_ERR 8
#define FRB_POLL_NVAL 16
#define FRB_POLL_PEER_EXITED 32

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* Linux 5.3, every architecture */
#endif

/* Fills a sockaddr_un from a Java path; -ENAMETOOLONG if it does not fit (107 bytes + NUL). */
static int unix_addr(JNIEnv *env, jstring path, struct sockaddr_un *sa) {
    if (path == NULL) {
        throw_illegal_argument(env, "socket: null path");
        return -EINVAL;
    }
    const char *cpath = (*env)->GetStringUTFChars(env, path, NULL);
    if (cpath == NULL) {
        return -ENOMEM;
    }
    size_t n = strlen(cpath);
    int r = 0;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (n == 0 || n >= sizeof sa->sun_path) {
        r = -ENAMETOOLONG;
    } else {
        memcpy(sa->sun_path, cpath, n);
    }
    (*env)->ReleaseStringUTFChars(env, path, cpath);
    return r;
}

/* Is something accepting at sa? 0 = nothing (ECONNREFUSED: a stale socket file), 1 = yes, <0 = -errno. */
static int probe_listener(const struct sockaddr_un *sa) {
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int r = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
    int err = errno;
    close(fd);
    if (r == 0) {
        return 1;
    }
    return err == ECONNREFUSED ? 0 : (err == EPROTOTYPE ? 1 : -err);
}

/*
 * socket(SOCK_SEQPACKET) + bind + chmod(mode) + listen. The file is chmod-ed before listen, so nobody can
 * connect while it still has the umask's mode. An existing socket file nothing accepts on (stale) is
 * replaced; a live listener is -EADDRINUSE; any other existing file is -EEXIST and left alone.
 */
static jint JNICALL seqpacketListen0(JNIEnv *env, jclass cls, jstring path, jint mode, jint backlog) {
    (void)cls;
    struct sockaddr_un sa;
    int r = unix_addr(env, path, &sa);
    if (r < 0) {
        return r;
    }
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    for (int attempt = 0;; attempt++) {
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            break;
        }
        int err = errno;
        if (err != EADDRINUSE || attempt > 0) {
            close(fd);
            return -err;
        }
        struct stat st;
        if (lstat(sa.sun_path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
            close(fd);
            return -EEXIST;
        }
        int live = probe_listener(&sa);
        if (live != 0) {
            close(fd);
            return live > 0 ? -EADDRINUSE : live;
        }
        if (unlink(sa.sun_path) < 0 && errno != ENOENT) {
            err = errno;
            close(fd);
            return -err;
        }
    }
    if (chmod(sa.sun_path, (mode_t)mode) < 0 || listen(fd, backlog) < 0) {
        int err = errno;
        unlink(sa.sun_path);
        close(fd);
        return -err;
    }
    return fd;
}

static jint JNICALL seqpacketAccept0(JNIEnv *env, jclass cls, jint fd) {
    (void)env;
    (void)cls;
    int c;
    do {
        c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    } while (c < 0 && errno == EINTR);
    return c < 0 ? -errno : c;
}

static jint JNICALL seqpacketConnect0(JNIEnv *env, jclass cls, jstring path) {
    (void)cls;
    struct sockaddr_un sa;
    int r = unix_addr(env, path, &sa);
    if (r < 0) {
        return r;
    }
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    do {
        r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

/* Sends buf[0, len) as one packet, with fd as SCM_RIGHTS when fd >= 0. Returns the bytes sent. */
static jint JNICALL sendPacket0(JNIEnv *env, jclass cls, jint sock, jbyteArray buf, jint len, jint fd) {
    (void)cls;
    if (buf == NULL || len < 0 || len > (*env)->GetArrayLength(env, buf) || len > 4096) {
        throw_illegal_argument(env, "sendPacket: bad buffer or length");
        return -EINVAL;
    }
    char data[4096];
    (*env)->GetByteArrayRegion(env, buf, 0, len, (jbyte *)data);
    return (jint)send_with_fd(sock, data, (size_t)len, fd);
}

/*
 * Receives one packet into buf. Returns its length (0: end of file), -EMSGSIZE if it was longer than buf.
 * fdOut[0] = the first SCM_RIGHTS fd received (close-on-exec) or -1; fdOut[1] = how many fds came (every
 * fd but the first is closed here, so a peer can never make us leak descriptors).
 */
static jint JNICALL recvPacket0(JNIEnv *env, jclass cls, jint sock, jbyteArray buf, jintArray fdOut) {
    (void)cls;
    if (buf == NULL || fdOut == NULL || (*env)->GetArrayLength(env, fdOut) < 2) {
        throw_illegal_argument(env, "recvPacket: need a buffer and an int[2]");
        return -EINVAL;
    }
    jint cap = (*env)->GetArrayLength(env, buf);
    if (cap > 4096) {
        cap = 4096;
    }
    char data[4096];
    int first, count, flags;
    ssize_t n = recv_first_fd(sock, data, (size_t)cap, &first, &count, &flags);
    if (n < 0) {
        return (jint)n;
    }
    if (flags & (MSG_TRUNC | MSG_CTRUNC)) {
        if (first >= 0) {
            close(first);
        }
        return -EMSGSIZE;
    }
    jint out[2] = {first, count};
    (*env)->SetIntArrayRegion(env, fdOut, 0, 2, out);
    (*env)->SetByteArrayRegion(env, buf, 0, (jsize)n, (const jbyte *)data);
    return (jint)n;
}

/*
 * poll(2) on one fd for readability and hang-up, for at most timeoutMillis (negative: no limit). Returns
 * the FRB_POLL_* bits seen (0 on timeout) or -errno; EINTR is returned as 0 (the caller loops).
 */
static jint JNICALL pollSocket0(JNIEnv *env, jclass cls, jint fd, jint timeoutMillis) {
    (void)env;
    (void)cls;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP, .revents = 0};
    int r = poll(&p, 1, timeoutMillis < 0 ? -1 : timeoutMillis);
    if (r < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    if (r == 0) {
        return 0;
    }
    jint bits = 0;
    if (p.revents & POLLIN) bits |= FRB_POLL_IN;
    if (p.revents & POLLHUP) bits |= FRB_POLL_HUP;
    if (p.revents & POLLRDHUP) bits |= FRB_POLL_RDHUP;
    if (p.revents & POLLERR) bits |= FRB_POLL_ERR;
    if (p.revents & POLLNVAL) bits |= FRB_POLL_NVAL;
    return bits;
}

/*
 * pollSocket0 on a connection's socket and its peer's pidfd: the socket's FRB_POLL_* bits, plus
 * FRB_POLL_PEER_EXITED when the pidfd is readable (the process exited). 0 on timeout or EINTR, or -errno.
 */
static jint JNICALL pollSocketPidfd0(JNIEnv *env, jclass cls, jint fd, jint pidfd, jint timeoutMillis) {
    (void)env;
    (void)cls;
    struct pollfd p[2] = {
        {.fd = fd, .events = POLLIN | POLLRDHUP, .revents = 0},
        {.fd = pidfd, .events = POLLIN, .revents = 0},
    };
    int r = poll(p, 2, timeoutMillis < 0 ? -1 : timeoutMillis);
    if (r < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    jint bits = 0;
    if (p[0].revents & POLLIN) bits |= FRB_POLL_IN;
    if (p[0].revents & POLLHUP) bits |= FRB_POLL_HUP;
    if (p[0].revents & POLLRDHUP) bits |= FRB_POLL_RDHUP;
    if (p[0].revents & POLLERR) bits |= FRB_POLL_ERR;
    if (p[0].revents & POLLNVAL) bits |= FRB_POLL_NVAL;
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) bits |= FRB_POLL_PEER_EXITED;
    return bits;
}

/* Makes a descriptor close-on-exec (pidfds are created so; this keeps it true whatever the kernel). */
static jint cloexec_or_close(int fd) {
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* getsockopt(SO_PEERPIDFD) (Linux 6.5+): a pidfd of the socket's peer as it connected; fd or -errno. */
static jint JNICALL peerPidfd0(JNIEnv *env, jclass cls, jint sock) {
    (void)env;
    (void)cls;
    int pidfd = -1;
    socklen_t len = sizeof(pidfd);
    if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
        return -errno;
    }
    if (len != sizeof(pidfd) || pidfd < 0) {
        if (pidfd >= 0) {
            close(pidfd);
        }
        return -EINVAL;
    }
    return cloexec_or_close(pidfd);
}

/* pidfd_open(pid, 0) (Linux 5.3+); fd or -errno. */
static jint JNICALL pidfdOpen0(JNIEnv *env, jclass cls, jint pid) {
    (void)env;
    (void)cls;
    if (pid <= 0) {
        return -EINVAL;
    }
    long fd = syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (fd < 0) {
        return -errno;
    }
    return cloexec_or_close((int)fd);
}

static jint JNICALL shutdown0(JNIEnv *env, jclass cls, jint fd) {
    (void)env;
    (void)cls;
    return shutdown(fd, SHUT_RDWR) < 0 ? -errno : 0;
}

/* F_GET_SEALS, as FRB_SEAL_* bits (other seals are reported in bits 8 and up, shifted by their position). */
static jint JNICALL getSeals0(JNIEnv *env, jclass cls, jint fd) {
    (void)env;
    (void)cls;
    int s = fcntl(fd, F_GET_SEALS);
    if (s < 0) {
        return -errno;
    }
    jint bits = 0;
    if (s & F_SEAL_SEAL) bits |= FRB_SEAL_SEAL;
    if (s & F_SEAL_SHRINK) bits |= FRB_SEAL_SHRINK;
    if (s & F_SEAL_GROW) bits |= FRB_SEAL_GROW;
    if (s & F_SEAL_WRITE) bits |= 8;
    return bits;
}

/* The real uid and gid of this process: out = {uid, gid}. */
static jint JNICALL ids0(JNIEnv *env, jclass cls, jintArray out) {
    (void)cls;
    if (out == NULL || (*env)->GetArrayLength(env, out) < 2) {
        throw_illegal_argument(env, "ids: need an int[2]");
        return -EINVAL;
    }
    jint v[2] = {(jint)getuid(), (jint)getgid()};
    (*env)->SetIntArrayRegion(env, out, 0, 2, v);
    return 0;
}

static const JNINativeMethod methods[] = {
    {"futexWait0", "(Ljava/nio/ByteBuffer;JIJ)I", (void *)futexWait0},
    {"futexWake0", "(Ljava/nio/ByteBuffer;JI)I", (void *)futexWake0},
    {"memfdCreate0", "(Ljava/lang/String;I)I", (void *)memfdCreate0},
    {"addSeals0", "(II)I", (void *)addSeals0},
    {"open0", "(Ljava/lang/String;I)I", (void *)open0},
    {"unlink0", "(Ljava/lang/String;)I", (void *)unlink0},
    {"ftruncate0", "(IJ)I", (void *)ftruncate0},
    {"fallocate0", "(IJJ)I", (void *)fallocate0},
    {"fstatSize0", "(I)J", (void *)fstatSize0},
    {"close0", "(I)I", (void *)close0},
    {"dup0", "(I)I", (void *)dup0},
    {"mmap0", "(IJZ)J", (void *)mmap0},
    {"munmap0", "(JJ)I", (void *)munmap0},
    {"wrap0", "(JJ)Ljava/nio/ByteBuffer;", (void *)wrap0},
    {"retireMapping0", "(Ljava/nio/ByteBuffer;)I", (void *)retireMapping0},
    {"socketpair0", "([I)I", (void *)socketpair0},
    {"sendFd0", "(II)I", (void *)sendFd0},
    {"recvFd0", "(I)I", (void *)recvFd0},
    {"peerCred0", "(I[I)I", (void *)peerCred0},
    {"seqpacketListen0", "(Ljava/lang/String;II)I", (void *)seqpacketListen0},
    {"seqpacketAccept0", "(I)I", (void *)seqpacketAccept0},
    {"seqpacketConnect0", "(Ljava/lang/String;)I", (void *)seqpacketConnect0},
    {"sendPacket0", "(I[BII)I", (void *)sendPacket0},
    {"recvPacket0", "(I[B[I)I", (void *)recvPacket0},
    {"pollSocket0", "(II)I", (void *)pollSocket0},
    {"pollSocketPidfd0", "(III)I", (void *)pollSocketPidfd0},
    {"peerPidfd0", "(I)I", (void *)peerPidfd0},
    {"pidfdOpen0", "(I)I", (void *)pidfdOpen0},
    {"shutdown0", "(I)I", (void *)shutdown0},
    {"getSeals0", "(I)I", (void *)getSeals0},
    {"ids0", "([I)I", (void *)ids0},
};

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
    (void)reserved;
    JNIEnv *env;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK) {
        return JNI_ERR;
    }
    jclass iae = (*env)->FindClass(env, "java/lang/IllegalArgumentException");
    if (iae == NULL) {
        return JNI_ERR;
    }
    illegal_argument_class = (*env)->NewGlobalRef(env, iae);
    (*env)->DeleteLocalRef(env, iae);
    if (illegal_argument_class == NULL) {
        return JNI_ERR;
    }
    jclass cls = (*env)->FindClass(env, FRB_CLASS);
    if (cls == NULL) {
        return JNI_ERR;
    }
    jint r = (*env)->RegisterNatives(env, cls, methods, (jint)(sizeof methods / sizeof methods[0]));
    (*env)->DeleteLocalRef(env, cls);
    return r == 0 ? JNI_VERSION_1_8 : JNI_ERR;
}

JNIEXPORT void JNICALL JNI_OnUnload(JavaVM *vm, void *reserved) {
    (void)reserved;
    JNIEnv *env;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) == JNI_OK && illegal_argument_class != NULL) {
        (*env)->DeleteGlobalRef(env, illegal_argument_class);
        illegal_argument_class = NULL;
    }
}
