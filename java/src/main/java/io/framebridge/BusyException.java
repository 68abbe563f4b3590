package io.framebridge;

/** A slot (reader, SPSC writer, mailbox writer, all 64 MPSC writer slots) is held by a live process (Go {@code ErrBusy}). */
public class BusyException extends FramebridgeException {
    private static final long serialVersionUID = 1L;

    public BusyException(String message) {
        super(message);
    }
}
