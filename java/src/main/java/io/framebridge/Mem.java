package io.framebridge;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Atomic accesses to the mapped segment: little-endian {@link VarHandle} views of the direct buffer.
 * {@code sc} = getVolatile/setVolatile/CAS/getAndAdd (sequentially consistent), {@code acq}/{@code rel}
 * = getAcquire/setRelease. Plain accesses use the buffer's own (little-endian) getters.
 * All offsets passed here are computed by the library from validated values and are naturally aligned.
 */
final class Mem {
    private Mem() {}

    private static final VarHandle INT = MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle LONG = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    static int getIntAcquire(ByteBuffer b, int i) {
        return (int) INT.getAcquire(b, i);
    }

    static int getIntVolatile(ByteBuffer b, int i) {
        return (int) INT.getVolatile(b, i);
    }

    static void setIntVolatile(ByteBuffer b, int i, int v) {
        INT.setVolatile(b, i, v);
    }

    static void setIntRelease(ByteBuffer b, int i, int v) {
        INT.setRelease(b, i, v);
    }

    static boolean casInt(ByteBuffer b, int i, int expect, int update) {
        return INT.compareAndSet(b, i, expect, update);
    }

    static int getAndAddInt(ByteBuffer b, int i, int delta) {
        return (int) INT.getAndAdd(b, i, delta);
    }

    static long getLongAcquire(ByteBuffer b, int i) {
        return (long) LONG.getAcquire(b, i);
    }

    static long getLongVolatile(ByteBuffer b, int i) {
        return (long) LONG.getVolatile(b, i);
    }

    static long getLongPlain(ByteBuffer b, int i) {
        return (long) LONG.get(b, i);
    }

    static void setLongVolatile(ByteBuffer b, int i, long v) {
        LONG.setVolatile(b, i, v);
    }

    static void setLongRelease(ByteBuffer b, int i, long v) {
        LONG.setRelease(b, i, v);
    }

    static boolean casLong(ByteBuffer b, int i, long expect, long update) {
        return LONG.compareAndSet(b, i, expect, update);
    }

    static long getAndAddLong(ByteBuffer b, int i, long delta) {
        return (long) LONG.getAndAdd(b, i, delta);
    }
}
