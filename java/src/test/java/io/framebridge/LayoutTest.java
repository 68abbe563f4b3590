package io.framebridge;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The constants against the numbers written in docs/layout.md. */
class LayoutTest {
    @Test
    void segmentHeaderOffsetsMatchTheSpec() {
        assertEquals(0x4547444952425246L, Layout.MAGIC);
        byte[] magic = new byte[8];
        for (int i = 0; i < 8; i++) {
            magic[i] = (byte) (Layout.MAGIC >>> (8 * i));
        }
        assertEquals("FRBRIDGE", new String(magic, StandardCharsets.US_ASCII));
        int[][] want = {
            {Layout.MAGIC_OFFSET, 0}, {Layout.VERSION_OFFSET, 8}, {Layout.HEADER_LENGTH_OFFSET, 12},
            {Layout.SEGMENT_SIZE_OFFSET, 16}, {Layout.GENERATION_OFFSET, 24}, {Layout.CREATOR_PID_OFFSET, 32},
            {Layout.REGION_COUNT_OFFSET, 36}, {Layout.CREATOR_START_OFFSET, 40}, {Layout.CREATED_UNIX_NANO_OFFSET, 48},
            {Layout.HEADER_RESERVED_OFFSET, 56}, {Layout.REGION_TABLE_OFFSET, 128}, {Layout.REGION_TABLE_END, 2176},
            {Layout.HEADER_LENGTH, 4096}, {Layout.MAX_REGIONS, 32}, {Layout.REGION_ENTRY_LENGTH, 64},
            {Layout.REGION_KIND_OFFSET, 0}, {Layout.REGION_FLAGS_OFFSET, 4}, {Layout.REGION_OFFSET_OFFSET, 8},
            {Layout.REGION_LENGTH_OFFSET, 16}, {Layout.REGION_CAPACITY_OFFSET, 24}, {Layout.REGION_NAME_OFFSET, 32},
            {Layout.REGION_NAME_LENGTH, 32}, {Layout.KIND_SPSC, 1}, {Layout.KIND_MPSC, 2}, {Layout.KIND_MAILBOX, 3},
        };
        check(want);
    }

    @Test
    void ringOffsetsMatchTheSpec() {
        int[][] want = {
            {Layout.TAIL_POSITION_OFFSET, 0}, {Layout.HEAD_POSITION_OFFSET, 128}, {Layout.DATA_SIGNAL_OFFSET, 256},
            {Layout.DATA_WAITERS_OFFSET, 260}, {Layout.SPACE_SIGNAL_OFFSET, 384}, {Layout.SPACE_WAITERS_OFFSET, 388},
            {Layout.CLAIM_LOCK_OFFSET, 512}, {Layout.NEXT_SEQUENCE_OFFSET, 520}, {Layout.FRAMES_WRITTEN_OFFSET, 640},
            {Layout.BYTES_WRITTEN_OFFSET, 648}, {Layout.FULL_STALLS_OFFSET, 656}, {Layout.WRITER_WAITS_OFFSET, 664},
            {Layout.WRITER_WAKES_OFFSET, 672}, {Layout.FRAMES_READ_OFFSET, 768}, {Layout.BYTES_READ_OFFSET, 776},
            {Layout.READER_WAITS_OFFSET, 784}, {Layout.READER_WAKES_OFFSET, 792}, {Layout.BAD_RECORDS_OFFSET, 800},
            {Layout.ABANDONED_RECORDS_OFFSET, 808}, {Layout.READER_OWNER_OFFSET, 896}, {Layout.READER_START_OFFSET, 904},
            {Layout.READER_RELEASE_TO_OFFSET, 912}, {Layout.WRITER_SLOTS_OFFSET, 1024}, {Layout.MAX_WRITERS, 64},
            {Layout.WRITER_SLOT_LENGTH, 16}, {Layout.WRITER_SLOT_OWNER_OFFSET, 0}, {Layout.WRITER_SLOT_START_OFFSET, 8},
            {Layout.RING_RESERVED_OFFSET, 2048}, {Layout.RING_CONTROL_LENGTH, 4096}, {Layout.RING_DATA_OFFSET, 4096},
        };
        check(want);
    }

    @Test
    void recordAndMailboxOffsetsMatchTheSpec() {
        int[][] want = {
            {Layout.RECORD_SIZE_OFFSET, 0}, {Layout.RECORD_TYPE_OFFSET, 4}, {Layout.RECORD_LENGTH_OFFSET, 8},
            {Layout.RECORD_WRITER_OFFSET, 12}, {Layout.RECORD_SEQUENCE_OFFSET, 16}, {Layout.RECORD_HEADER_LENGTH, 24},
            {Layout.RECORD_ALIGNMENT, 8}, {Layout.PADDING_TYPE, 0},
            {Layout.MAILBOX_WRITER_OWNER_OFFSET, 0}, {Layout.MAILBOX_WRITER_START_OFFSET, 8},
            {Layout.MAILBOX_SIGNAL_OFFSET, 128}, {Layout.MAILBOX_WAITERS_OFFSET, 132}, {Layout.MAILBOX_FRAME_OFFSET, 256},
            {Layout.MAILBOX_SEQ_OFFSET, 256}, {Layout.MAILBOX_STATUS_OFFSET, 264}, {Layout.MAILBOX_PAYLOAD_OFFSET, 268},
            {Layout.SHARED_FRAME_HEADER_LENGTH, 12}, {Layout.DEFAULT_MAILBOX_CAPACITY, 1024},
        };
        check(want);
    }

    @Test
    void derivedLengths() {
        assertEquals(4096 + 65536, Layout.ringRegionLength(65536));
        assertEquals(4096, Layout.mailboxRegionLength(1024));
        assertEquals(4096, Layout.mailboxRegionLength(4096 - 268));
        assertEquals(8192, Layout.mailboxRegionLength(4096 - 267));
        assertEquals(2048 - 24, Layout.maxPayload(4096));
        assertEquals(10_000_000L, Layout.LIVENESS_POLL_NANOS);
        assertEquals(32, Layout.align8(25));
        assertEquals(24, Layout.align8(24));
    }

    private static void check(int[][] pairs) {
        for (int[] p : pairs) {
            assertEquals(p[1], p[0]);
        }
    }
}
