package io.framebridge.channel;

import io.framebridge.frames.EnvelopeReader;
import io.framebridge.frames.fb.Envelope;

/**
 * Reads a call's response: {@code env} is verified and read in place (or from a private copy when another
 * thread received it), valid only during this call; {@code er} gives typed access to its payload. Copy what
 * you keep. Called only for status 0 (a non-zero status is a {@link CallStatusException}).
 */
@FunctionalInterface
public interface ResponseHandler<T> {
    T read(Envelope env, EnvelopeReader er);
}
