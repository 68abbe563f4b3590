package io.framebridge;

/** A system call made through the JNI shim failed; names the operation and the errno. */
public class NativeException extends FramebridgeException {
    private static final long serialVersionUID = 1L;
    private final String operation;
    private final int errno;

    public NativeException(String operation, int errno) {
        this(operation, errno, null);
    }

    public NativeException(String operation, int errno, String detail) {
        super(operation + (detail == null ? "" : " " + detail) + ": " + Errno.name(errno) + " (errno " + errno + ")");
        this.operation = operation;
        this.errno = errno;
    }

    /** The failed operation, e.g. {@code "futex_wait"}. */
    public String operation() {
        return operation;
    }

    /** The positive errno value. */
    public int errno() {
        return errno;
    }
}
