package io.framebridge;

import io.framebridge.internal.Native;
import java.nio.ByteBuffer;

/**
 * The signalling half of layout.md §6: after a publishing {@code store.sc}, wake sleepers only if one is
 * announced, so a peer that keeps up costs no system call.
 */
final class EventCount {
    private EventCount() {}

    /** Returns true if a FUTEX_WAKE was made. */
    static boolean signal(ByteBuffer b, int signalOff, int waitersOff) {
        if (Mem.getIntVolatile(b, waitersOff) != 0) {
            Mem.getAndAddInt(b, signalOff, 1);
            Native.futexWake(b, signalOff, Integer.MAX_VALUE);
            return true;
        }
        return false;
    }

    /** Unconditional bump + wake: makes every sleeper re-check (cancellation, {@code wakeup()}). */
    static void wakeAll(ByteBuffer b, int signalOff) {
        Mem.getAndAddInt(b, signalOff, 1);
        Native.futexWake(b, signalOff, Integer.MAX_VALUE);
    }
}
