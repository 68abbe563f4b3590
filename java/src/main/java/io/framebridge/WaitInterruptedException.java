package io.framebridge;

/** A blocking wait ended because the waiting thread was interrupted (see {@code wakeup()} on readers and writers). */
public class WaitInterruptedException extends FramebridgeException {
    private static final long serialVersionUID = 1L;

    public WaitInterruptedException(String message) {
        super(message);
    }
}
