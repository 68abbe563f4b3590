package io.framebridge;

import java.nio.ByteBuffer;

/**
 * Owner words and writer tokens (layout.md §7). An owner word is {@code epoch << 32 | pid}; a slot is
 * taken with a CAS that bumps the epoch (skipping 0), then the start time is stored. Detaching stores
 * pid 0 with the same epoch.
 */
final class Ownership {
    private Ownership() {}

    static long pid(long owner) {
        return owner & Layout.OWNER_PID_MASK;
    }

    static long epoch(long owner) {
        return owner >>> Layout.OWNER_EPOCH_SHIFT;
    }

    static long nextEpoch(long owner) {
        long e = (epoch(owner) + 1) & 0xFFFFFFFFL;
        return e == 0 ? 1 : e;
    }

    /** True iff the owner word at ownerOff names a live process (with the start time at startOff). */
    static boolean ownerAlive(ByteBuffer b, int ownerOff, int startOff) {
        long o = Mem.getLongVolatile(b, ownerOff);
        long pid = pid(o);
        if (pid == 0) {
            return false;
        }
        return Liveness.isAlive(pid, Mem.getLongVolatile(b, startOff));
    }

    /**
     * Takes the slot if it is free or its owner is dead. Returns the new owner word, or 0 if a live
     * process holds it.
     */
    static long take(ByteBuffer b, int ownerOff, int startOff) {
        for (;;) {
            long o = Mem.getLongVolatile(b, ownerOff);
            if (o != 0 && pid(o) != 0 && Liveness.isAlive(pid(o), Mem.getLongVolatile(b, startOff))) {
                return 0;
            }
            if (pid(o) != 0 && mayBeTakingOver(b, ownerOff, startOff, o)) {
                continue;
            }
            long mine = nextEpoch(o) << Layout.OWNER_EPOCH_SHIFT | Liveness.SELF_PID;
            if (Mem.casLong(b, ownerOff, o, mine)) {
                Mem.setLongVolatile(b, startOff, Liveness.SELF_START);
                return mine;
            }
        }
    }

    /** How long {@link #mayBeTakingOver} waits for a racing taker's start time (Go: shm/owner.go). */
    static final long TAKE_OVER_GRACE_NANOS = 100_000_000L;

    /**
     * Whether the owner word {@code o}, which names a process that looks dead, may belong to a taker that has
     * done its CAS but not yet stored its start time (layout.md §7). Waits, up to 100 ms in 1 ms steps, while
     * the pid exists: a descheduled taker stores its start time when it runs again. True if the word changed
     * or its holder turned out alive (re-check), false if the holder is certainly or presumably dead.
     */
    static boolean mayBeTakingOver(ByteBuffer b, int ownerOff, int startOff, long o) {
        long deadline = System.nanoTime() + TAKE_OVER_GRACE_NANOS;
        while (System.nanoTime() - deadline < 0) {
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000L);
            if (Mem.getLongVolatile(b, ownerOff) != o || ownerAlive(b, ownerOff, startOff)) {
                return true;
            }
            long[] st = Liveness.stat(pid(o));
            if (st == null || st[0] == 'Z' || st[0] == 'X') {
                return false; // gone: certainly dead
            }
        }
        return false;
    }

    /** Detaches: pid 0, same epoch, only if the slot is still ours. */
    static void release(ByteBuffer b, int ownerOff, long mine) {
        Mem.casLong(b, ownerOff, mine, mine & ~Layout.OWNER_PID_MASK);
    }

    /** Writer token of a writer slot owner word: {@code slot | (epoch & 0xFFFFFF) << 8}. */
    static int token(int slot, long owner) {
        return slot | (int) ((epoch(owner) & Layout.TOKEN_EPOCH_MASK) << Layout.TOKEN_EPOCH_SHIFT);
    }

    static int tokenSlot(int token) {
        return token & Layout.TOKEN_SLOT_MASK;
    }

    static int tokenEpoch(int token) {
        return (token >>> Layout.TOKEN_EPOCH_SHIFT) & Layout.TOKEN_EPOCH_MASK;
    }

    /**
     * True iff the writer token names a dead writer of the ring at {@code ringBase}: a slot index outside
     * the table, a slot whose epoch differs, or whose process is not alive.
     */
    static boolean tokenDead(ByteBuffer b, int ringBase, int token) {
        int slot = tokenSlot(token);
        if (slot >= Layout.MAX_WRITERS) {
            return true;
        }
        int slotOff = ringBase + Layout.WRITER_SLOTS_OFFSET + slot * Layout.WRITER_SLOT_LENGTH;
        long o = Mem.getLongVolatile(b, slotOff + Layout.WRITER_SLOT_OWNER_OFFSET);
        if ((epoch(o) & Layout.TOKEN_EPOCH_MASK) != tokenEpoch(token)) {
            return true;
        }
        long pid = pid(o);
        if (pid == 0) {
            return true;
        }
        return !Liveness.isAlive(pid, Mem.getLongVolatile(b, slotOff + Layout.WRITER_SLOT_START_OFFSET));
    }

    /** Only the epoch part of {@link #tokenDead}: cheap, no /proc read. */
    static boolean tokenEpochStale(ByteBuffer b, int ringBase, int token) {
        int slot = tokenSlot(token);
        if (slot >= Layout.MAX_WRITERS) {
            return true;
        }
        int slotOff = ringBase + Layout.WRITER_SLOTS_OFFSET + slot * Layout.WRITER_SLOT_LENGTH;
        long o = Mem.getLongVolatile(b, slotOff + Layout.WRITER_SLOT_OWNER_OFFSET);
        return (epoch(o) & Layout.TOKEN_EPOCH_MASK) != tokenEpoch(token);
    }
}
