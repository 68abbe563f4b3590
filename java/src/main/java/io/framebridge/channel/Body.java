package io.framebridge.channel;

import com.google.flatbuffers.FlatBufferBuilder;

/**
 * Builds what a request or reply carries, in place in the ring: add the payload table (and a trace) with
 * {@code b}, then name them on {@code f}. Do not start or finish the {@code Envelope}: the channel does,
 * adding kind, correlation id, deadline and status. Called exactly once per frame, while the ring's
 * claim is held: keep it short, and compute before the call.
 */
@FunctionalInterface
public interface Body {
    void build(FlatBufferBuilder b, Fields f);
}
