package io.framebridge.channel;

import io.framebridge.FramebridgeException;

/**
 * The server answered a call with a non-zero status (a gRPC code: 2 UNKNOWN, 13 INTERNAL, ...) and a
 * message (Go {@code *channel.StatusError}, C++ {@code Status}).
 */
public class CallStatusException extends FramebridgeException {
    private static final long serialVersionUID = 1L;
    private final int code;
    private final String statusMessage;

    public CallStatusException(int code, String statusMessage) {
        super("call failed with status " + code + ": " + statusMessage);
        this.code = code;
        this.statusMessage = statusMessage;
    }

    /** The status code (non-zero). */
    public int code() {
        return code;
    }

    /** The server's message (may be empty). */
    public String statusMessage() {
        return statusMessage;
    }
}
