package io.framebridge.channel;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The two handshake packets of docs/channels.md §2, little-endian, every offset a named constant built by
 * accumulation.
 *
 * <pre>
 * Hello (client -> server), 64 bytes
 *  0       4       6       8          12          16         20      24                      64
 *  +-------+-------+-------+----------+-----------+----------+-------+-----------------------+
 *  | magic | proto | layout| req ring | resp ring | client   | flags | reserved (zero)       |
 *  | FHEL  |  u16  |  u16  |   u32    |    u32    | pid u32  |  u32  |                       |
 *  +-------+-------+-------+----------+-----------+----------+-------+-----------------------+
 *
 * Welcome (server -> client), 128 bytes; the segment's fd rides along as SCM_RIGHTS iff status == OK
 *  0       4       6       8        12         16          20        24           32      36      38   40          128
 *  +-------+-------+-------+--------+----------+-----------+---------+------------+-------+-------+----+-----------+
 *  | magic | proto | layout| status | req ring | resp ring | max     | connection | server| msg   | rsv| message   |
 *  | FWCL  |  u16  |  u16  |  u32   |   u32    |    u32    | frame   | generation | pid   | len   |    | 88 B UTF-8|
 *  +-------+-------+-------+--------+----------+-----------+---------+------------+-------+-------+----+-----------+
 * </pre>
 */
public final class Handshake {
    private Handshake() {}

    /** Channel protocol version this library speaks. */
    public static final int PROTOCOL_VERSION = 1;
    /** Segment layout version (docs/layout.md) this library reads. */
    public static final int LAYOUT_VERSION = 1;

    // ---- Hello ----
    public static final int HELLO_MAGIC = 0x4C454846; // "FHEL"
    public static final int HELLO_MAGIC_OFFSET = 0;
    public static final int HELLO_PROTOCOL_VERSION_OFFSET = HELLO_MAGIC_OFFSET + 4;
    public static final int HELLO_LAYOUT_VERSION_OFFSET = HELLO_PROTOCOL_VERSION_OFFSET + 2;
    public static final int HELLO_REQUEST_RING_OFFSET = HELLO_LAYOUT_VERSION_OFFSET + 2;
    public static final int HELLO_RESPONSE_RING_OFFSET = HELLO_REQUEST_RING_OFFSET + 4;
    public static final int HELLO_CLIENT_PID_OFFSET = HELLO_RESPONSE_RING_OFFSET + 4;
    public static final int HELLO_FLAGS_OFFSET = HELLO_CLIENT_PID_OFFSET + 4;
    public static final int HELLO_RESERVED_OFFSET = HELLO_FLAGS_OFFSET + 4;
    public static final int HELLO_LENGTH = 64;

    // ---- Welcome ----
    public static final int WELCOME_MAGIC = 0x4C435746; // "FWCL"
    public static final int WELCOME_MAGIC_OFFSET = 0;
    public static final int WELCOME_PROTOCOL_VERSION_OFFSET = WELCOME_MAGIC_OFFSET + 4;
    public static final int WELCOME_LAYOUT_VERSION_OFFSET = WELCOME_PROTOCOL_VERSION_OFFSET + 2;
    public static final int WELCOME_STATUS_OFFSET = WELCOME_LAYOUT_VERSION_OFFSET + 2;
    public static final int WELCOME_REQUEST_RING_OFFSET = WELCOME_STATUS_OFFSET + 4;
    public static final int WELCOME_RESPONSE_RING_OFFSET = WELCOME_REQUEST_RING_OFFSET + 4;
    public static final int WELCOME_MAX_FRAME_OFFSET = WELCOME_RESPONSE_RING_OFFSET + 4;
    public static final int WELCOME_GENERATION_OFFSET = WELCOME_MAX_FRAME_OFFSET + 4;
    public static final int WELCOME_SERVER_PID_OFFSET = WELCOME_GENERATION_OFFSET + 8;
    public static final int WELCOME_MESSAGE_LENGTH_OFFSET = WELCOME_SERVER_PID_OFFSET + 4;
    public static final int WELCOME_RESERVED_OFFSET = WELCOME_MESSAGE_LENGTH_OFFSET + 2;
    public static final int WELCOME_MESSAGE_OFFSET = WELCOME_RESERVED_OFFSET + 2;
    public static final int WELCOME_MESSAGE_CAPACITY = 88;
    public static final int WELCOME_LENGTH = WELCOME_MESSAGE_OFFSET + WELCOME_MESSAGE_CAPACITY;

    // ---- Welcome status ----
    public static final int STATUS_OK = 0;
    public static final int STATUS_VERSION_MISMATCH = 1;
    public static final int STATUS_PERMISSION_DENIED = 2;
    public static final int STATUS_BAD_REQUEST = 3;
    public static final int STATUS_BUSY = 4;
    public static final int STATUS_INTERNAL = 5;

    /** Smallest and largest ring a client may ask for (layout.md). */
    public static final long MIN_RING = 4096;
    public static final long MAX_RING = 1L << 30;

    /** The connection segment's memfd name, after the library's {@code framebridge:} prefix (§3). */
    public static final String SEGMENT_NAME = "framebridge-channel";

    /** Region names and order of the connection segment (§3). */
    public static final String REQUESTS = "requests";
    public static final String RESPONSES = "responses";

    /** A name for a Welcome status, for messages. */
    public static String statusName(int status) {
        switch (status) {
            case STATUS_OK: return "OK";
            case STATUS_VERSION_MISMATCH: return "VersionMismatch";
            case STATUS_PERMISSION_DENIED: return "PermissionDenied";
            case STATUS_BAD_REQUEST: return "BadRequest";
            case STATUS_BUSY: return "Busy";
            case STATUS_INTERNAL: return "Internal";
            default: return "status " + Integer.toUnsignedString(status);
        }
    }

    static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Encodes a Hello. */
    static byte[] hello(int protocol, int layout, long requestRing, long responseRing, long pid, int flags) {
        byte[] raw = new byte[HELLO_LENGTH];
        ByteBuffer b = le(raw);
        b.putInt(HELLO_MAGIC_OFFSET, HELLO_MAGIC);
        b.putShort(HELLO_PROTOCOL_VERSION_OFFSET, (short) protocol);
        b.putShort(HELLO_LAYOUT_VERSION_OFFSET, (short) layout);
        b.putInt(HELLO_REQUEST_RING_OFFSET, (int) requestRing);
        b.putInt(HELLO_RESPONSE_RING_OFFSET, (int) responseRing);
        b.putInt(HELLO_CLIENT_PID_OFFSET, (int) pid);
        b.putInt(HELLO_FLAGS_OFFSET, flags);
        return raw;
    }

    /** What a Welcome says (decoded, not yet judged). */
    record Welcome(int magic, int protocol, int layout, int status, long requestRing, long responseRing,
            long maxFrame, long generation, long serverPid, String message) {}

    /** Encodes a Welcome; the message is cut to 88 bytes of UTF-8 (at a character boundary). */
    static byte[] welcome(int status, long requestRing, long responseRing, long maxFrame, long generation, long pid,
            String message) {
        byte[] raw = new byte[WELCOME_LENGTH];
        ByteBuffer b = le(raw);
        b.putInt(WELCOME_MAGIC_OFFSET, WELCOME_MAGIC);
        b.putShort(WELCOME_PROTOCOL_VERSION_OFFSET, (short) PROTOCOL_VERSION);
        b.putShort(WELCOME_LAYOUT_VERSION_OFFSET, (short) LAYOUT_VERSION);
        b.putInt(WELCOME_STATUS_OFFSET, status);
        b.putInt(WELCOME_REQUEST_RING_OFFSET, (int) requestRing);
        b.putInt(WELCOME_RESPONSE_RING_OFFSET, (int) responseRing);
        b.putInt(WELCOME_MAX_FRAME_OFFSET, (int) maxFrame);
        b.putLong(WELCOME_GENERATION_OFFSET, generation);
        b.putInt(WELCOME_SERVER_PID_OFFSET, (int) pid);
        byte[] m = message == null ? new byte[0] : truncateUtf8(message, WELCOME_MESSAGE_CAPACITY);
        b.putShort(WELCOME_MESSAGE_LENGTH_OFFSET, (short) m.length);
        System.arraycopy(m, 0, raw, WELCOME_MESSAGE_OFFSET, m.length);
        return raw;
    }

    static byte[] truncateUtf8(String s, int max) {
        byte[] m = s.getBytes(StandardCharsets.UTF_8);
        if (m.length <= max) {
            return m;
        }
        int n = max;
        while (n > 0 && (m[n] & 0xC0) == 0x80) { // never cut inside a character
            n--;
        }
        byte[] out = new byte[n];
        System.arraycopy(m, 0, out, 0, n);
        return out;
    }

    /** Decodes a Welcome of exactly {@link #WELCOME_LENGTH} bytes (the caller checked the length). */
    static Welcome decodeWelcome(byte[] raw) {
        ByteBuffer b = le(raw);
        int len = Short.toUnsignedInt(b.getShort(WELCOME_MESSAGE_LENGTH_OFFSET));
        len = Math.min(len, WELCOME_MESSAGE_CAPACITY); // hostile input: never read past the field
        String msg = new String(raw, WELCOME_MESSAGE_OFFSET, len, StandardCharsets.UTF_8);
        return new Welcome(b.getInt(WELCOME_MAGIC_OFFSET), Short.toUnsignedInt(b.getShort(WELCOME_PROTOCOL_VERSION_OFFSET)),
                Short.toUnsignedInt(b.getShort(WELCOME_LAYOUT_VERSION_OFFSET)), b.getInt(WELCOME_STATUS_OFFSET),
                Integer.toUnsignedLong(b.getInt(WELCOME_REQUEST_RING_OFFSET)),
                Integer.toUnsignedLong(b.getInt(WELCOME_RESPONSE_RING_OFFSET)),
                Integer.toUnsignedLong(b.getInt(WELCOME_MAX_FRAME_OFFSET)), b.getLong(WELCOME_GENERATION_OFFSET),
                Integer.toUnsignedLong(b.getInt(WELCOME_SERVER_PID_OFFSET)), msg);
    }
}
