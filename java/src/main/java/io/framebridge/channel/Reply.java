package io.framebridge.channel;

import java.nio.ByteBuffer;

/**
 * What a {@link Handler} answers: status (0 = OK, else a gRPC code) with a message, and either a
 * {@link Body} building the response's payload, sequence and trace (the trace defaults to the request's),
 * or a {@code Raw} payload given as bytes ({@link #raw(byte[], int, int)}, {@link #raw(ByteBuffer, int, int)}):
 * such a response (like one with no payload) is laid out by hand in the response ring, without a
 * FlatBuffers builder ({@link io.framebridge.frames.EnvelopeLayout}), with the request's trace copied.
 * Reused per connection (or per executor task).
 */
public final class Reply {
    int status;
    String message;
    Body body;
    long sequence;
    boolean raw;
    byte[] rawArray;
    ByteBuffer rawBuffer;
    int rawPos;
    int rawLen;

    Reply reset() {
        status = 0;
        message = null;
        body = null;
        sequence = 0;
        raw = false;
        rawArray = null;
        rawBuffer = null;
        rawPos = 0;
        rawLen = 0;
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

    /** The response body, run after the handler returns, in place in the response ring. Replaces a raw payload. */
    public Reply body(Body b) {
        this.body = b;
        this.raw = false;
        this.rawArray = null;
        this.rawBuffer = null;
        return this;
    }

    /** The response's sequence when it has no {@link Body} (a body sets its own with {@link Fields#sequence}). */
    public Reply sequence(long s) {
        this.sequence = s;
        return this;
    }

    /**
     * The response's payload is {@code Raw{data: a[off, off + n)}}, copied into the response ring after the
     * handler returns: leave {@code a} unchanged until then. Replaces a body.
     */
    public Reply raw(byte[] a, int off, int n) {
        if (off < 0 || n < 0 || off > a.length - n) {
            throw new IndexOutOfBoundsException("raw reply " + off + "+" + n + " of " + a.length + " bytes");
        }
        this.body = null;
        this.raw = true;
        this.rawArray = a;
        this.rawBuffer = null;
        this.rawPos = off;
        this.rawLen = n;
        return this;
    }

    /**
     * The response's payload is {@code Raw{data: src[pos, pos + n)}} (absolute positions), copied into the
     * response ring after the handler returns. {@code src} may be the request's own buffer
     * ({@link io.framebridge.frames.EnvelopeReader#buffer()}, e.g. an echo): it stays valid until then.
     * Replaces a body.
     */
    public Reply raw(ByteBuffer src, int pos, int n) {
        if (pos < 0 || n < 0 || pos > src.limit() - n) {
            throw new IndexOutOfBoundsException("raw reply " + pos + "+" + n + " of a buffer limited to " + src.limit());
        }
        this.body = null;
        this.raw = true;
        this.rawArray = null;
        this.rawBuffer = src;
        this.rawPos = pos;
        this.rawLen = n;
        return this;
    }
}
