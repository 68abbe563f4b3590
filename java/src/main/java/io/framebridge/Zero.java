package io.framebridge;

import java.nio.ByteBuffer;

/** Zeroing of ring data (free space must read as zero: a size word of 0 means "nothing written yet"). */
final class Zero {
    private Zero() {}

    private static final byte[] ZEROS = new byte[Layout.PAGE_SIZE];

    /**
     * Zeroes the data bytes of positions [from, to) of a ring whose data area starts at {@code data}.
     * {@code from == to} zeroes nothing; {@code to - from >= capacity} zeroes the whole area.
     */
    static void positions(ByteBuffer b, int data, long capacity, long from, long to) {
        if (to - from <= 0) {
            return;
        }
        if (to - from >= capacity) {
            range(b, data, 0, (int) capacity);
            return;
        }
        long mask = capacity - 1;
        int a = (int) (from & mask);
        int z = (int) (to & mask);
        if (a < z) {
            range(b, data, a, z);
        } else {
            range(b, data, a, (int) capacity);
            range(b, data, 0, z);
        }
    }

    /** Zeroes {@code b[data+from, data+to)}. */
    static void range(ByteBuffer b, int data, int from, int to) {
        for (int i = from; i < to; ) {
            int n = Math.min(ZEROS.length, to - i);
            b.put(data + i, ZEROS, 0, n);
            i += n;
        }
    }
}
