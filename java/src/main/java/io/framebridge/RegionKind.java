package io.framebridge;

/** What a region holds (region table {@code kind}). */
public enum RegionKind {
    SPSC(Layout.KIND_SPSC),
    MPSC(Layout.KIND_MPSC),
    MAILBOX(Layout.KIND_MAILBOX);

    private final int code;

    RegionKind(int code) {
        this.code = code;
    }

    /** The value stored in the region table. */
    public int code() {
        return code;
    }

    public boolean isRing() {
        return this != MAILBOX;
    }

    /** The kind for a table value, or null if unknown. */
    public static RegionKind of(long code) {
        if (code == Layout.KIND_SPSC) {
            return SPSC;
        }
        if (code == Layout.KIND_MPSC) {
            return MPSC;
        }
        if (code == Layout.KIND_MAILBOX) {
            return MAILBOX;
        }
        return null;
    }

    /** Lower-case name as the manifest and CLIs spell it. */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
