package io.framebridge;

/**
 * A typed frame (e.g. a FlatBuffers {@code Envelope}, ring frame type 16) that its verifier rejects: an
 * offset, vtable, vector, string or union outside the frame or misaligned, nesting or size limits
 * exceeded, a wrong file identifier or invalid UTF-8. The message names what was wrong and its offset
 * inside the payload. Only the frame is bad: the ring is intact and the next frame can be read.
 */
public class CorruptFrameException extends FramebridgeException {
    private static final long serialVersionUID = 1L;

    public CorruptFrameException(String message) {
        super(message);
    }
}
