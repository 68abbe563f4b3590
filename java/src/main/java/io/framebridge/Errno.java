package io.framebridge;

/** Linux errno values the library tests for, and names for messages. */
public final class Errno {
    private Errno() {}

    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    /** No such process (pidfd_open of a pid that exited). */
    public static final int ESRCH = 3;
    public static final int EINTR = 4;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EEXIST = 17;
    /** From {@code Native.open}: the name is not a regular file (a FIFO, device, directory...). */
    public static final int ENODEV = 19;
    /** A path component is not a directory. */
    public static final int ENOTDIR = 20;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int EPIPE = 32;
    /** A path (e.g. a Unix socket's, over 107 bytes) is too long. */
    public static final int ENAMETOOLONG = 36;
    public static final int ENOMSG = 42;
    public static final int ENOTSOCK = 88;
    public static final int EMSGSIZE = 90;
    /** A live listener already holds the socket address. */
    public static final int EADDRINUSE = 98;
    public static final int ECONNRESET = 104;
    public static final int ETIMEDOUT = 110;
    /** Nothing accepts on the socket (a stale socket file). */
    public static final int ECONNREFUSED = 111;

    /** A symbolic name for errno, or {@code "errno N"}. */
    public static String name(int errno) {
        switch (errno) {
            case EPERM: return "EPERM";
            case ENOENT: return "ENOENT";
            case EINTR: return "EINTR";
            case EBADF: return "EBADF";
            case EAGAIN: return "EAGAIN";
            case ENOMEM: return "ENOMEM";
            case EACCES: return "EACCES";
            case EEXIST: return "EEXIST";
            case ENODEV: return "ENODEV";
            case ENOTDIR: return "ENOTDIR";
            case EINVAL: return "EINVAL";
            case ENOSPC: return "ENOSPC";
            case EPIPE: return "EPIPE";
            case ENAMETOOLONG: return "ENAMETOOLONG";
            case ENOMSG: return "ENOMSG";
            case ENOTSOCK: return "ENOTSOCK";
            case EMSGSIZE: return "EMSGSIZE";
            case EADDRINUSE: return "EADDRINUSE";
            case ECONNRESET: return "ECONNRESET";
            case ETIMEDOUT: return "ETIMEDOUT";
            case ECONNREFUSED: return "ECONNREFUSED";
            default: return "errno " + errno;
        }
    }
}
