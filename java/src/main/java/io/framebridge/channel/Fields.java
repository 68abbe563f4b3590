package io.framebridge.channel;

/**
 * The envelope fields a {@link Body} chooses: sequence, payload (union type + offset of a table it built)
 * and trace (offset of a {@code TraceContext} it built). The channel adds kind, correlation id, deadline
 * and, for a reply, status and message. Reused: one per client thread / server connection.
 */
public final class Fields {
    long sequence;
    byte payloadType;
    int payload;
    int trace;

    Fields reset() {
        sequence = 0;
        payloadType = 0;
        payload = 0;
        trace = 0;
        return this;
    }

    /** The envelope's sequence. */
    public Fields sequence(long s) {
        this.sequence = s;
        return this;
    }

    /** The payload: a {@code io.framebridge.frames.fb.Payload} type and the offset of the table built for it. */
    public Fields payload(byte type, int offset) {
        this.payloadType = type;
        this.payload = offset;
        return this;
    }

    /** The offset of a {@code TraceContext} table built with the same builder. */
    public Fields trace(int offset) {
        this.trace = offset;
        return this;
    }
}
