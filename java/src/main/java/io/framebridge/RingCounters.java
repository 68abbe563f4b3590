package io.framebridge;

import java.nio.ByteBuffer;

/** A snapshot of a ring's statistics counters (layout.md §3). No protocol decision reads these. */
public record RingCounters(long framesWritten, long bytesWritten, long fullStalls, long writerWaits, long writerWakes,
        long framesRead, long bytesRead, long readerWaits, long readerWakes, long badRecords, long abandonedRecords) {

    static RingCounters read(ByteBuffer b, int base) {
        return new RingCounters(
                Mem.getLongVolatile(b, base + Layout.FRAMES_WRITTEN_OFFSET),
                Mem.getLongVolatile(b, base + Layout.BYTES_WRITTEN_OFFSET),
                Mem.getLongVolatile(b, base + Layout.FULL_STALLS_OFFSET),
                Mem.getLongVolatile(b, base + Layout.WRITER_WAITS_OFFSET),
                Mem.getLongVolatile(b, base + Layout.WRITER_WAKES_OFFSET),
                Mem.getLongVolatile(b, base + Layout.FRAMES_READ_OFFSET),
                Mem.getLongVolatile(b, base + Layout.BYTES_READ_OFFSET),
                Mem.getLongVolatile(b, base + Layout.READER_WAITS_OFFSET),
                Mem.getLongVolatile(b, base + Layout.READER_WAKES_OFFSET),
                Mem.getLongVolatile(b, base + Layout.BAD_RECORDS_OFFSET),
                Mem.getLongVolatile(b, base + Layout.ABANDONED_RECORDS_OFFSET));
    }
}
