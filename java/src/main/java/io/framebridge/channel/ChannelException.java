package io.framebridge.channel;

import io.framebridge.FramebridgeException;

/** A channel could not be set up or broke its protocol (docs/channels.md); the message says what and why. */
public class ChannelException extends FramebridgeException {
    private static final long serialVersionUID = 1L;

    public ChannelException(String message) {
        super(message);
    }

    public ChannelException(String message, Throwable cause) {
        super(message, cause);
    }
}
