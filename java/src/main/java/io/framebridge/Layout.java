package io.framebridge;

/**
 * Every offset and length of layout v1 ({@code docs/layout.md}) as a named constant. Nothing else in
 * this library writes a literal offset.
 *
 * <pre>
 *  Segment map
 *  offset 0                   4096                        4096+L0            ...
 *  +--------------------------+---------------------------+------------------+-----
 *  | segment header (1 page)  | region 0 (ring or mailbox)| region 1         | ...
 *  |  fixed fields  | table   |  page aligned, length L0  |                  |
 *  +--------------------------+---------------------------+------------------+-----
 *
 *  Ring region                                           Record (8-byte aligned, never wraps)
 *  0     tail position (u64)               writers       +0  size i32 (-size while claimed) | type u32
 *  128   head position (u64)               reader        +8  length u32 | writer u32 (slot | epoch24 &lt;&lt; 8)
 *  256   data signal u32 | data waiters u32              +16 sequence u64 (0 = wrap padding)
 *  384   space signal u32 | space waiters u32            +24 payload, then slack up to size
 *  512   claim lock u32 | pad | next sequence u64
 *  640   writer counters (5 x u64)
 *  768   reader counters (6 x u64)
 *  896   reader slot: owner u64, start u64, release-to u64
 *  1024  writer slots: 64 x {owner u64, start u64}
 *  4096  data area (capacity bytes, a power of two)
 *
 *  Mailbox region
 *  0     writer owner u64 | writer start u64
 *  128   signal u32 | waiters u32
 *  256   SharedFrame (packed): seq u64 | status i32 | payload[capacity]
 * </pre>
 */
public final class Layout {
    private Layout() {}

    // ---- general -------------------------------------------------------------------------------
    /** Layout version this library implements. */
    public static final int LAYOUT_VERSION = 1;
    /** Page size every region is aligned to. */
    public static final int PAGE_SIZE = 4096;
    /** The 8 ASCII bytes {@code FRBRIDGE} read as a little-endian u64. */
    public static final long MAGIC = 0x4547444952425246L;

    // ---- §2 segment header ---------------------------------------------------------------------
    public static final int MAGIC_OFFSET = 0;
    public static final int VERSION_OFFSET = MAGIC_OFFSET + 8;
    public static final int HEADER_LENGTH_OFFSET = VERSION_OFFSET + 4;
    public static final int SEGMENT_SIZE_OFFSET = HEADER_LENGTH_OFFSET + 4;
    public static final int GENERATION_OFFSET = SEGMENT_SIZE_OFFSET + 8;
    public static final int CREATOR_PID_OFFSET = GENERATION_OFFSET + 8;
    public static final int REGION_COUNT_OFFSET = CREATOR_PID_OFFSET + 4;
    public static final int CREATOR_START_OFFSET = REGION_COUNT_OFFSET + 4;
    public static final int CREATED_UNIX_NANO_OFFSET = CREATOR_START_OFFSET + 8;
    /** Start of the reserved (zero) bytes after the fixed fields. */
    public static final int HEADER_RESERVED_OFFSET = CREATED_UNIX_NANO_OFFSET + 8;
    public static final int REGION_TABLE_OFFSET = 128;
    public static final int MAX_REGIONS = 32;
    public static final int REGION_ENTRY_LENGTH = 64;
    /** Start of the reserved (zero) bytes after the region table. */
    public static final int REGION_TABLE_END = REGION_TABLE_OFFSET + MAX_REGIONS * REGION_ENTRY_LENGTH;
    /** Length of the segment header. */
    public static final int HEADER_LENGTH = PAGE_SIZE;

    // region table entry, relative to the entry
    public static final int REGION_KIND_OFFSET = 0;
    public static final int REGION_FLAGS_OFFSET = REGION_KIND_OFFSET + 4;
    public static final int REGION_OFFSET_OFFSET = REGION_FLAGS_OFFSET + 4;
    public static final int REGION_LENGTH_OFFSET = REGION_OFFSET_OFFSET + 8;
    public static final int REGION_CAPACITY_OFFSET = REGION_LENGTH_OFFSET + 8;
    public static final int REGION_NAME_OFFSET = REGION_CAPACITY_OFFSET + 8;
    /** Bytes of the name field (1..31 name bytes, NUL padded). */
    public static final int REGION_NAME_LENGTH = REGION_ENTRY_LENGTH - REGION_NAME_OFFSET;
    public static final int MAX_NAME_BYTES = REGION_NAME_LENGTH - 1;

    public static final int KIND_SPSC = 1;
    public static final int KIND_MPSC = 2;
    public static final int KIND_MAILBOX = 3;

    // ---- §3 ring region ------------------------------------------------------------------------
    /** Each shared word group sits on its own slot of this many bytes. */
    public static final int SLOT_LENGTH = 128;
    public static final int TAIL_POSITION_OFFSET = 0;
    public static final int HEAD_POSITION_OFFSET = TAIL_POSITION_OFFSET + SLOT_LENGTH;
    public static final int DATA_SIGNAL_OFFSET = HEAD_POSITION_OFFSET + SLOT_LENGTH;
    public static final int DATA_WAITERS_OFFSET = DATA_SIGNAL_OFFSET + 4;
    public static final int SPACE_SIGNAL_OFFSET = DATA_SIGNAL_OFFSET + SLOT_LENGTH;
    public static final int SPACE_WAITERS_OFFSET = SPACE_SIGNAL_OFFSET + 4;
    public static final int CLAIM_LOCK_OFFSET = SPACE_SIGNAL_OFFSET + SLOT_LENGTH;
    public static final int NEXT_SEQUENCE_OFFSET = CLAIM_LOCK_OFFSET + 8;
    public static final int WRITER_COUNTERS_OFFSET = CLAIM_LOCK_OFFSET + SLOT_LENGTH;
    public static final int FRAMES_WRITTEN_OFFSET = WRITER_COUNTERS_OFFSET;
    public static final int BYTES_WRITTEN_OFFSET = FRAMES_WRITTEN_OFFSET + 8;
    public static final int FULL_STALLS_OFFSET = BYTES_WRITTEN_OFFSET + 8;
    public static final int WRITER_WAITS_OFFSET = FULL_STALLS_OFFSET + 8;
    public static final int WRITER_WAKES_OFFSET = WRITER_WAITS_OFFSET + 8;
    public static final int READER_COUNTERS_OFFSET = WRITER_COUNTERS_OFFSET + SLOT_LENGTH;
    public static final int FRAMES_READ_OFFSET = READER_COUNTERS_OFFSET;
    public static final int BYTES_READ_OFFSET = FRAMES_READ_OFFSET + 8;
    public static final int READER_WAITS_OFFSET = BYTES_READ_OFFSET + 8;
    public static final int READER_WAKES_OFFSET = READER_WAITS_OFFSET + 8;
    public static final int BAD_RECORDS_OFFSET = READER_WAKES_OFFSET + 8;
    public static final int ABANDONED_RECORDS_OFFSET = BAD_RECORDS_OFFSET + 8;
    public static final int READER_SLOT_OFFSET = READER_COUNTERS_OFFSET + SLOT_LENGTH;
    public static final int READER_OWNER_OFFSET = READER_SLOT_OFFSET;
    public static final int READER_START_OFFSET = READER_OWNER_OFFSET + 8;
    /** Position the reader is releasing up to (a successor finishes a release its predecessor died in). */
    public static final int READER_RELEASE_TO_OFFSET = READER_START_OFFSET + 8;
    public static final int WRITER_SLOTS_OFFSET = READER_SLOT_OFFSET + SLOT_LENGTH;
    public static final int MAX_WRITERS = 64;
    public static final int WRITER_SLOT_LENGTH = 16;
    public static final int WRITER_SLOT_OWNER_OFFSET = 0;
    public static final int WRITER_SLOT_START_OFFSET = 8;
    public static final int RING_RESERVED_OFFSET = WRITER_SLOTS_OFFSET + MAX_WRITERS * WRITER_SLOT_LENGTH;
    public static final int RING_CONTROL_LENGTH = PAGE_SIZE;
    public static final int RING_DATA_OFFSET = RING_CONTROL_LENGTH;
    public static final long MIN_RING_CAPACITY = 4096;
    public static final long MAX_RING_CAPACITY = 1L << 30;

    // ---- §3.1 record ---------------------------------------------------------------------------
    public static final int RECORD_SIZE_OFFSET = 0;
    public static final int RECORD_TYPE_OFFSET = RECORD_SIZE_OFFSET + 4;
    public static final int RECORD_LENGTH_OFFSET = RECORD_TYPE_OFFSET + 4;
    public static final int RECORD_WRITER_OFFSET = RECORD_LENGTH_OFFSET + 4;
    public static final int RECORD_SEQUENCE_OFFSET = RECORD_WRITER_OFFSET + 4;
    public static final int RECORD_HEADER_LENGTH = RECORD_SEQUENCE_OFFSET + 8;
    public static final int RECORD_ALIGNMENT = 8;
    /** Smallest record: a padding record's size and type words. */
    public static final int MIN_RECORD_SIZE = RECORD_ALIGNMENT;
    public static final int PADDING_TYPE = 0;
    /** Types at or above this value (as u32) are reserved for framebridge. */
    public static final long RESERVED_TYPE_MIN = 1L << 31;
    /** Writer token: slot index in bits 0..7, epoch low 24 bits in bits 8..31. */
    public static final int TOKEN_SLOT_MASK = 0xFF;
    public static final int TOKEN_EPOCH_SHIFT = 8;
    public static final int TOKEN_EPOCH_MASK = 0xFFFFFF;

    // ---- §4 mailbox region ---------------------------------------------------------------------
    public static final int MAILBOX_WRITER_OWNER_OFFSET = 0;
    public static final int MAILBOX_WRITER_START_OFFSET = MAILBOX_WRITER_OWNER_OFFSET + 8;
    public static final int MAILBOX_SIGNAL_OFFSET = SLOT_LENGTH;
    public static final int MAILBOX_WAITERS_OFFSET = MAILBOX_SIGNAL_OFFSET + 4;
    public static final int MAILBOX_FRAME_OFFSET = 2 * SLOT_LENGTH;
    public static final int MAILBOX_SEQ_OFFSET = MAILBOX_FRAME_OFFSET;
    public static final int MAILBOX_STATUS_OFFSET = MAILBOX_SEQ_OFFSET + 8;
    public static final int MAILBOX_PAYLOAD_OFFSET = MAILBOX_STATUS_OFFSET + 4;
    /** Bytes of the packed SharedFrame before its payload (seq u64 + status i32). */
    public static final int SHARED_FRAME_HEADER_LENGTH = MAILBOX_PAYLOAD_OFFSET - MAILBOX_FRAME_OFFSET;
    public static final long MIN_MAILBOX_CAPACITY = 1;
    public static final long MAX_MAILBOX_CAPACITY = 1L << 20;
    public static final int DEFAULT_MAILBOX_CAPACITY = 1024;

    // ---- §6 waits ------------------------------------------------------------------------------
    /** Longest sleep of a waiter whose progress depends on a peer's liveness (ns). */
    public static final long LIVENESS_POLL_NANOS = 10_000_000L;

    // ---- §7 ownership --------------------------------------------------------------------------
    public static final int OWNER_EPOCH_SHIFT = 32;
    public static final long OWNER_PID_MASK = 0xFFFFFFFFL;

    // ---- derived lengths -----------------------------------------------------------------------
    /** {@code x} rounded up to a multiple of 8 (x >= 0, no overflow for x <= Long.MAX_VALUE - 7). */
    public static long align8(long x) {
        return (x + (RECORD_ALIGNMENT - 1)) & -RECORD_ALIGNMENT;
    }

    /** {@code x} rounded up to a multiple of 4096. */
    public static long alignPage(long x) {
        return (x + (PAGE_SIZE - 1)) & -(long) PAGE_SIZE;
    }

    /** Region length of a ring with the given data-area capacity. */
    public static long ringRegionLength(long capacity) {
        return RING_CONTROL_LENGTH + capacity;
    }

    /** Region length of a mailbox with the given payload capacity. */
    public static long mailboxRegionLength(long capacity) {
        return alignPage(MAILBOX_PAYLOAD_OFFSET + capacity);
    }

    /** Largest user frame type; larger values are reserved for framebridge. */
    public static final int MAX_USER_TYPE = Integer.MAX_VALUE;

    /** Largest payload a ring of this capacity accepts: capacity/2 - 24, rounded down to 8. */
    public static long maxPayload(long capacity) {
        return (capacity / 2 - RECORD_HEADER_LENGTH) & -RECORD_ALIGNMENT;
    }
}
