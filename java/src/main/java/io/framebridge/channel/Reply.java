package io.framebridge.channel;

/**
 * What a {@link Handler} answers: status (0 = OK, else a gRPC code) with a message, and a {@link Body}
 * building the response's payload, sequence and trace (the trace defaults to the request's). Reused per
 * connection (or per executor task).
 */
public final class Reply {
    int status;
    String message;
    Body body;

    Reply reset() {
        status = 0;
        message = null;
        body = null;
        return this;
    }

    /** Answers a non-zero gRPC status code and why (no payload is needed). */
    public Reply status(int code, String why) {
        if (code < 0) {
            throw new IllegalArgumentException("status " + code + ": want 0 or a gRPC code 1..16");
        }
        this.status = code;
        this.message = why;
        return this;
    }

    /** The response body, run after the handler returns, in place in the response ring. */
    public Reply body(Body b) {
        this.body = b;
        return this;
    }
}
