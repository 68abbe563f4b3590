package io.framebridge;

/** Base class of every exception this library throws for a failed operation. */
public class FramebridgeException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public FramebridgeException(String message) {
        super(message);
    }

    public FramebridgeException(String message, Throwable cause) {
        super(message, cause);
    }
}
