package io.framebridge;

/** The peer a wait depends on is dead (Go {@code ErrPeerDead}), e.g. a mailbox writer that died mid-store. */
public class PeerDeadException extends FramebridgeException {
    private static final long serialVersionUID = 1L;

    public PeerDeadException(String message) {
        super(message);
    }
}
