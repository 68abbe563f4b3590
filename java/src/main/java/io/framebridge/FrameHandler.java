package io.framebridge;

/** Receives frames from {@link RingReader#drain}; the frame is valid only during the call. */
@FunctionalInterface
public interface FrameHandler {
    void onFrame(Frame frame);
}
