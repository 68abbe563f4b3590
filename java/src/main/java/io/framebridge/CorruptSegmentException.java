package io.framebridge;

/**
 * Shared memory holds bytes the layout does not allow (Go {@code ErrCorrupt}): a header field on attach,
 * or a position or record while reading. The message names the field, its value and where it was found.
 */
public class CorruptSegmentException extends FramebridgeException {
    private static final long serialVersionUID = 1L;

    public CorruptSegmentException(String message) {
        super(message);
    }
}
