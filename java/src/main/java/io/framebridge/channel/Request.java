package io.framebridge.channel;

import io.framebridge.frames.EnvelopeReader;
import io.framebridge.frames.fb.Envelope;
import io.framebridge.frames.fb.Kind;

/**
 * A request as a {@link Handler} sees it: the verified envelope and typed access to its payload, read in
 * place in the ring (inline handlers) or from the connection's private copy (handlers on an executor).
 * Reused: valid only until the handler (and its reply body) returns.
 */
public final class Request {
    final EnvelopeReader reader = new EnvelopeReader();
    Envelope env;
    // Read from env once by the server (checkRequest).
    int kind;
    long correlationId;
    long deadline;
    long generation;
    int peerPid;
    int peerUid;

    /** The request envelope (verified). */
    public Envelope envelope() {
        return env;
    }

    /** Typed access to the payload ({@code raw()}, {@code modelRequest()}, ...). */
    public EnvelopeReader reader() {
        return reader;
    }

    /** Absolute CLOCK_REALTIME deadline in ns (0 = none): stop early when it is past. */
    public long deadlineUnixNano() {
        return deadline;
    }

    /** True once the deadline has passed (the caller no longer waits). */
    public boolean expired() {
        long d = deadline;
        return d != 0 && Clock.realtimeNanos() - d > 0;
    }

    /** True for a {@code OneWay} request (no response will be sent). */
    public boolean oneWay() {
        return kind == Kind.OneWay;
    }

    /** The connection's generation. */
    public long generation() {
        return generation;
    }

    /** The client's pid and uid (SO_PEERCRED). */
    public int peerPid() {
        return peerPid;
    }

    public int peerUid() {
        return peerUid;
    }
}
