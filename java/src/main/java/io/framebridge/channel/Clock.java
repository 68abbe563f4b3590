package io.framebridge.channel;

import java.time.Instant;

/**
 * CLOCK_REALTIME nanoseconds for envelope deadlines without allocating: the wall clock sampled once,
 * advanced by the monotonic clock (so a wall-clock step after start-up is not seen; deadlines are
 * seconds long at most, so the drift does not matter).
 */
final class Clock {
    private Clock() {}

    private static final long OFFSET;

    static {
        Instant now = Instant.now();
        long t = System.nanoTime();
        OFFSET = now.getEpochSecond() * 1_000_000_000L + now.getNano() - t;
    }

    /** Unix time in ns. */
    static long realtimeNanos() {
        return OFFSET + System.nanoTime();
    }

    /** The CLOCK_REALTIME ns at which a {@link System#nanoTime} instant falls (no clock read). */
    static long realtimeAt(long monotonicNanos) {
        return OFFSET + monotonicNanos;
    }

    /** The monotonic time at which an absolute realtime deadline falls. */
    static long monotonicAt(long deadlineUnixNano) {
        return deadlineUnixNano - OFFSET;
    }
}
