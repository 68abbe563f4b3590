package io.framebridge;

/**
 * The reader holds a whole ring of frames it has not released (Go {@code ErrFull} from {@code Next}): no
 * writer can add a record until {@link RingReader#release()}, so waiting for one would never end.
 */
public class RingFullException extends FramebridgeException {
    private static final long serialVersionUID = 1L;

    public RingFullException(String message) {
        super(message);
    }
}
