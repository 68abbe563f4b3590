package io.framebridge.channel;

import io.framebridge.FramebridgeException;

/**
 * A call's deadline passed before its response came (or before its request found ring space). The
 * correlation id is forgotten: a response arriving later is dropped and counted as late.
 */
public class DeadlineExceededException extends FramebridgeException {
    private static final long serialVersionUID = 1L;

    public DeadlineExceededException(String message) {
        super(message);
    }
}
