/**
 * Typed frames of {@code schemas/frame.fbs} ({@code docs/schemas.md}): {@link io.framebridge.frames.Envelopes}
 * (ring type 16, identifier {@code FRB1}, the verifier), {@link io.framebridge.frames.EnvelopeReader} (verify,
 * then read in place) and {@link io.framebridge.frames.FlatVerifier} (a FlatBuffers verifier for Java, for
 * your own schemas too). The generated accessors and builders are in {@code io.framebridge.frames.fb}
 * ({@code make generate}; do not edit); frames are built in place with {@link io.framebridge.TypedWriter}.
 */
package io.framebridge.frames;
