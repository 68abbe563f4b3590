package io.framebridge.channel;

/**
 * The server refused the connection with a Welcome status other than OK (docs/channels.md §2), or the
 * handshake itself was malformed ({@link #status()} is then -1).
 */
public class HandshakeException extends ChannelException {
    private static final long serialVersionUID = 1L;
    private final int status;

    public HandshakeException(int status, String message) {
        super(message);
        this.status = status;
    }

    /** The Welcome status ({@code Handshake.STATUS_*}), or -1 for a malformed handshake. */
    public int status() {
        return status;
    }
}
