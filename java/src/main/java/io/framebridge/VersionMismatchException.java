package io.framebridge;

/** The segment's layout version is not the one this library implements (Go {@code ErrVersionMismatch}). */
public class VersionMismatchException extends FramebridgeException {
    private static final long serialVersionUID = 1L;
    private final long version;

    public VersionMismatchException(long version) {
        super("segment layout version " + version + ", this library speaks version " + Layout.LAYOUT_VERSION);
        this.version = version;
    }

    /** The version found in the segment. */
    public long version() {
        return version;
    }
}
