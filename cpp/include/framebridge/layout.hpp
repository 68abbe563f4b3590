// framebridge layout v1: every offset and length of docs/layout.md as a named constant.
//
// This header is the C++ copy of the contract in docs/layout.md. Nothing else in the C++ code may write a
// literal offset: use these names. The static_asserts at the end check them against the spec's table.
//
// Segment map (§1):
//
//   offset 0                   4096                        4096+L0            ...
//   +--------------------------+---------------------------+------------------+-----
//   | segment header (1 page)  | region 0 (ring or mailbox)| region 1         | ...
//   |  fixed fields  | table   |  page aligned, length L0  |                  |
//   +--------------------------+---------------------------+------------------+-----
//
// Ring region (§3):
//
//   0      tail position (u64)                                128 B slot  writers
//   128    head position (u64)                                128 B slot  reader
//   256    data signal (u32) | data waiters (u32)             128 B       reader sleeps here
//   384    space signal (u32) | space waiters (u32)           128 B       writers sleep here
//   512    claim lock (u32) | pad | next sequence (u64)       128 B       writers
//   640    writer counters (5 x u64)                          128 B       writers
//   768    reader counters (6 x u64)                          128 B       reader
//   896    reader slot: owner, start, release-to (3 x u64)    128 B       reader
//   1024   writer slots: 64 x { owner u64, start u64 }        1024 B      writers
//   2048   reserved (zero)                                    2048 B
//   4096   data area: `capacity` bytes of records (power of two)
//
// Record (§3.1), 8-byte aligned, never wraps:
//
//   bit 0                              31 32                                63
//   +0  | size (i32, x8; -size while claimed) | type (u32; 0 = padding)         |
//   +8  | length (u32, payload bytes)         | writer (u32): slot | epoch<<8    |
//   (the size word is the commit flag: 0 = nothing written here yet; free space reads as zero)
//   +16 | sequence (u64): 1, 2, 3, ...; 0 = none                                |
//   +24 | payload, then slack up to size                                         |
//
// Mailbox region (§4):
//
//   0    writer owner (u64) | writer start (u64)              128 B slot
//   128  signal (u32) | waiters (u32)                         128 B slot
//   256  SharedFrame (packed): seq u64 | status i32 | payload[capacity]
#ifndef FRAMEBRIDGE_LAYOUT_HPP
#define FRAMEBRIDGE_LAYOUT_HPP

#include <cstddef>
#include <cstdint>

namespace framebridge {
namespace layout {

constexpr std::uint32_t kLayoutVersion = 1;
constexpr std::uint64_t kPageSize = 4096;

// §2 Segment header.
constexpr std::uint64_t kMagic = 0x4547444952425246ULL;  // "FRBRIDGE" little-endian
constexpr std::size_t kMagicOffset = 0;
constexpr std::size_t kVersionOffset = kMagicOffset + 8;              // 8
constexpr std::size_t kHeaderLengthOffset = kVersionOffset + 4;       // 12
constexpr std::size_t kSegmentSizeOffset = kHeaderLengthOffset + 4;   // 16
constexpr std::size_t kGenerationOffset = kSegmentSizeOffset + 8;     // 24
constexpr std::size_t kCreatorPIDOffset = kGenerationOffset + 8;      // 32
constexpr std::size_t kRegionCountOffset = kCreatorPIDOffset + 4;     // 36
constexpr std::size_t kCreatorStartOffset = kRegionCountOffset + 4;   // 40
constexpr std::size_t kCreatedUnixNanoOffset = kCreatorStartOffset + 8;  // 48
constexpr std::size_t kHeaderReserved0Offset = kCreatedUnixNanoOffset + 8;  // 56, 72 bytes zero
constexpr std::size_t kRegionTableOffset = kHeaderReserved0Offset + 72;     // 128
constexpr std::size_t kMaxRegions = 32;
constexpr std::size_t kRegionEntryLength = 64;
constexpr std::size_t kHeaderReserved1Offset = kRegionTableOffset + kMaxRegions * kRegionEntryLength;  // 2176
constexpr std::uint32_t kHeaderLength = 4096;

// §2 Region table entry, relative to the entry.
constexpr std::size_t kRegionKindOffset = 0;
constexpr std::size_t kRegionFlagsOffset = kRegionKindOffset + 4;      // 4
constexpr std::size_t kRegionOffsetOffset = kRegionFlagsOffset + 4;    // 8
constexpr std::size_t kRegionLengthOffset = kRegionOffsetOffset + 8;   // 16
constexpr std::size_t kRegionCapacityOffset = kRegionLengthOffset + 8; // 24
constexpr std::size_t kRegionNameOffset = kRegionCapacityOffset + 8;   // 32
constexpr std::size_t kRegionNameLength = 32;
constexpr std::size_t kMaxRegionNameLength = kRegionNameLength - 1;    // 31

constexpr std::uint32_t kKindSPSC = 1;
constexpr std::uint32_t kKindMPSC = 2;
constexpr std::uint32_t kKindMailbox = 3;

// §3 Ring region, relative to the region.
constexpr std::size_t kSlotLength = 128;
constexpr std::size_t kTailPositionOffset = 0;
constexpr std::size_t kHeadPositionOffset = kTailPositionOffset + kSlotLength;  // 128
constexpr std::size_t kDataSignalOffset = kHeadPositionOffset + kSlotLength;    // 256
constexpr std::size_t kDataWaitersOffset = kDataSignalOffset + 4;               // 260
constexpr std::size_t kSpaceSignalOffset = kDataSignalOffset + kSlotLength;     // 384
constexpr std::size_t kSpaceWaitersOffset = kSpaceSignalOffset + 4;             // 388
constexpr std::size_t kClaimLockOffset = kSpaceSignalOffset + kSlotLength;      // 512
constexpr std::size_t kNextSequenceOffset = kClaimLockOffset + 8;               // 520
constexpr std::size_t kWriterCountersOffset = kClaimLockOffset + kSlotLength;   // 640
constexpr std::size_t kFramesWrittenOffset = kWriterCountersOffset;             // 640
constexpr std::size_t kBytesWrittenOffset = kFramesWrittenOffset + 8;           // 648
constexpr std::size_t kFullStallsOffset = kBytesWrittenOffset + 8;              // 656
constexpr std::size_t kWriterWaitsOffset = kFullStallsOffset + 8;               // 664
constexpr std::size_t kWriterWakesOffset = kWriterWaitsOffset + 8;              // 672
constexpr std::size_t kReaderCountersOffset = kWriterCountersOffset + kSlotLength;  // 768
constexpr std::size_t kFramesReadOffset = kReaderCountersOffset;                // 768
constexpr std::size_t kBytesReadOffset = kFramesReadOffset + 8;                 // 776
constexpr std::size_t kReaderWaitsOffset = kBytesReadOffset + 8;                // 784
constexpr std::size_t kReaderWakesOffset = kReaderWaitsOffset + 8;              // 792
constexpr std::size_t kBadRecordsOffset = kReaderWakesOffset + 8;               // 800
constexpr std::size_t kAbandonedRecordsOffset = kBadRecordsOffset + 8;          // 808
constexpr std::size_t kReaderSlotOffset = kReaderCountersOffset + kSlotLength;  // 896
constexpr std::size_t kReaderOwnerOffset = kReaderSlotOffset;                   // 896
constexpr std::size_t kReaderStartOffset = kReaderOwnerOffset + 8;              // 904
constexpr std::size_t kReaderReleaseToOffset = kReaderStartOffset + 8;          // 912
constexpr std::size_t kWriterSlotsOffset = kReaderSlotOffset + kSlotLength;     // 1024
constexpr std::size_t kMaxWriters = 64;
constexpr std::size_t kWriterSlotLength = 16;
constexpr std::size_t kWriterSlotOwnerOffset = 0;
constexpr std::size_t kWriterSlotStartOffset = 8;
constexpr std::size_t kRingReservedOffset = kWriterSlotsOffset + kMaxWriters * kWriterSlotLength;  // 2048
constexpr std::size_t kRingControlLength = 4096;
constexpr std::size_t kRingDataOffset = kRingControlLength;  // 4096
constexpr std::uint64_t kMinRingCapacity = 4096;
constexpr std::uint64_t kMaxRingCapacity = std::uint64_t{1} << 30;

// §3.1 Record, relative to the record.
constexpr std::size_t kRecordSizeOffset = 0;
constexpr std::size_t kRecordTypeOffset = kRecordSizeOffset + 4;        // 4
constexpr std::size_t kRecordLengthOffset = kRecordTypeOffset + 4;      // 8
constexpr std::size_t kRecordWriterOffset = kRecordLengthOffset + 4;    // 12
constexpr std::size_t kRecordSequenceOffset = kRecordWriterOffset + 4;  // 16
constexpr std::size_t kRecordHeaderLength = kRecordSequenceOffset + 8;  // 24
constexpr std::size_t kRecordAlignment = 8;
constexpr std::uint32_t kPaddingType = 0;
constexpr std::uint32_t kFirstReservedType = std::uint32_t{1} << 31;
constexpr std::uint32_t kMaxUserType = kFirstReservedType - 1;  // user frame types are 1..2^31-1
constexpr std::uint32_t kWriterSlotMask = 0xFF;        // writer token bits 0..7
constexpr std::uint32_t kWriterEpochShift = 8;         // writer token bits 8..31
constexpr std::uint32_t kWriterEpochMask = 0xFFFFFF;   // low 24 bits of the epoch

// §4 Mailbox region, relative to the region.
constexpr std::size_t kMailboxWriterOwnerOffset = 0;
constexpr std::size_t kMailboxWriterStartOffset = kMailboxWriterOwnerOffset + 8;  // 8
constexpr std::size_t kMailboxSignalOffset = kMailboxWriterOwnerOffset + kSlotLength;  // 128
constexpr std::size_t kMailboxWaitersOffset = kMailboxSignalOffset + 4;                 // 132
constexpr std::size_t kMailboxFrameOffset = kMailboxSignalOffset + kSlotLength;         // 256
constexpr std::size_t kMailboxSeqOffset = kMailboxFrameOffset;                          // 256
constexpr std::size_t kMailboxStatusOffset = kMailboxSeqOffset + 8;                     // 264
constexpr std::size_t kMailboxPayloadOffset = kMailboxStatusOffset + 4;                 // 268
constexpr std::size_t kMailboxFrameHeaderLength = kMailboxPayloadOffset - kMailboxFrameOffset;  // 12
constexpr std::uint64_t kMinMailboxCapacity = 1;
constexpr std::uint64_t kMaxMailboxCapacity = std::uint64_t{1} << 20;
constexpr std::uint64_t kDefaultMailboxCapacity = 1024;

// §6 waits.
constexpr std::int64_t kLivenessPollNanos = 10 * 1000 * 1000;  // LivenessPoll = 10 ms

// §7 owner word.
constexpr std::uint64_t kOwnerPidMask = 0xFFFFFFFFULL;
constexpr unsigned kOwnerEpochShift = 32;

constexpr std::uint64_t AlignUp(std::uint64_t v, std::uint64_t a) { return (v + a - 1) & ~(a - 1); }

// Exact region lengths required by §3 and §4 (the caller checks the capacity range first).
constexpr std::uint64_t RingRegionLength(std::uint64_t capacity) { return kRingControlLength + capacity; }
constexpr std::uint64_t MailboxRegionLength(std::uint64_t capacity) {
  return AlignUp(kMailboxFrameOffset + kMailboxFrameHeaderLength + capacity, kPageSize);
}
// MaxPayload = capacity/2 - 24 rounded down to 8 (§3.1).
constexpr std::uint64_t MaxPayload(std::uint64_t capacity) {
  return (capacity / 2 - kRecordHeaderLength) & ~std::uint64_t{kRecordAlignment - 1};
}
constexpr std::uint64_t RecordSize(std::uint64_t payload) { return AlignUp(kRecordHeaderLength + payload, kRecordAlignment); }

// The spec's tables, checked.
static_assert(kMagicOffset == 0 && kVersionOffset == 8 && kHeaderLengthOffset == 12, "layout §2");
static_assert(kSegmentSizeOffset == 16 && kGenerationOffset == 24 && kCreatorPIDOffset == 32, "layout §2");
static_assert(kRegionCountOffset == 36 && kCreatorStartOffset == 40 && kCreatedUnixNanoOffset == 48, "layout §2");
static_assert(kRegionTableOffset == 128 && kHeaderReserved1Offset == 2176, "layout §2");
static_assert(kHeaderReserved1Offset + 1920 == kHeaderLength, "layout §2: header is one page");
static_assert(kRegionKindOffset == 0 && kRegionFlagsOffset == 4 && kRegionOffsetOffset == 8, "layout §2 entry");
static_assert(kRegionLengthOffset == 16 && kRegionCapacityOffset == 24 && kRegionNameOffset == 32, "layout §2 entry");
static_assert(kRegionNameOffset + kRegionNameLength == kRegionEntryLength, "layout §2 entry");
static_assert(kMagic == (0x46ULL | 0x52ULL << 8 | 0x42ULL << 16 | 0x52ULL << 24 | 0x49ULL << 32 | 0x44ULL << 40 |
                         0x47ULL << 48 | 0x45ULL << 56),
              "magic is the ASCII bytes FRBRIDGE");
static_assert(kTailPositionOffset == 0 && kHeadPositionOffset == 128, "layout §3");
static_assert(kDataSignalOffset == 256 && kDataWaitersOffset == 260, "layout §3");
static_assert(kSpaceSignalOffset == 384 && kSpaceWaitersOffset == 388, "layout §3");
static_assert(kClaimLockOffset == 512 && kNextSequenceOffset == 520, "layout §3");
static_assert(kFramesWrittenOffset == 640 && kBytesWrittenOffset == 648 && kFullStallsOffset == 656, "layout §3");
static_assert(kWriterWaitsOffset == 664 && kWriterWakesOffset == 672, "layout §3");
static_assert(kFramesReadOffset == 768 && kBytesReadOffset == 776 && kReaderWaitsOffset == 784, "layout §3");
static_assert(kReaderWakesOffset == 792 && kBadRecordsOffset == 800 && kAbandonedRecordsOffset == 808, "layout §3");
static_assert(kReaderOwnerOffset == 896 && kReaderStartOffset == 904 && kReaderReleaseToOffset == 912, "layout §3");
static_assert(kWriterSlotsOffset == 1024 && kRingReservedOffset == 2048, "layout §3");
static_assert(kRingReservedOffset + 2048 == kRingControlLength, "layout §3: control block is one page");
static_assert(kRecordSizeOffset == 0 && kRecordTypeOffset == 4 && kRecordLengthOffset == 8, "layout §3.1");
static_assert(kRecordWriterOffset == 12 && kRecordSequenceOffset == 16 && kRecordHeaderLength == 24, "layout §3.1");
static_assert(kRecordHeaderLength % kRecordAlignment == 0, "payload is 8-byte aligned");
static_assert(kMailboxWriterOwnerOffset == 0 && kMailboxWriterStartOffset == 8, "layout §4");
static_assert(kMailboxSignalOffset == 128 && kMailboxWaitersOffset == 132, "layout §4");
static_assert(kMailboxSeqOffset == 256 && kMailboxStatusOffset == 264 && kMailboxPayloadOffset == 268, "layout §4");
static_assert(kMailboxFrameHeaderLength == 12, "layout §4: packed SharedFrame header");
static_assert(MailboxRegionLength(kDefaultMailboxCapacity) == 4096, "layout §4");
static_assert(MaxPayload(4096) == 2024, "layout §3.1: MaxPayload");

}  // namespace layout
}  // namespace framebridge

#endif  // FRAMEBRIDGE_LAYOUT_HPP
