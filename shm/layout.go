package shm

// Layout v1, as specified in docs/layout.md. Every offset used anywhere in
// this package is one of these constants; layout_test.go checks them against
// the spec and the golden images in schemas/testdata.
//
// Segment map:
//
//	0      4096              4096+L0
//	+------+-----------------+--------------+----
//	|header| region 0        | region 1     | ...
//	+------+-----------------+--------------+----
const (
	// LayoutVersion is the version this package reads and writes.
	LayoutVersion = 1
	// Magic is the 8 ASCII bytes "FRBRIDGE" read as a little-endian u64.
	Magic uint64 = 0x4547444952425246

	PageSize = 4096

	MagicOffset           = 0
	VersionOffset         = MagicOffset + 8
	HeaderLengthOffset    = VersionOffset + 4
	SegmentSizeOffset     = HeaderLengthOffset + 4
	GenerationOffset      = SegmentSizeOffset + 8
	CreatorPIDOffset      = GenerationOffset + 8
	RegionCountOffset     = CreatorPIDOffset + 4
	CreatorStartOffset    = RegionCountOffset + 4
	CreatedUnixNanoOffset = CreatorStartOffset + 8
	RegionTableOffset     = 128
	HeaderLength          = PageSize

	MaxRegions        = 32
	RegionEntryLength = 64

	RegionKindOffset     = 0
	RegionFlagsOffset    = RegionKindOffset + 4
	RegionOffsetOffset   = RegionFlagsOffset + 4
	RegionLengthOffset   = RegionOffsetOffset + 8
	RegionCapacityOffset = RegionLengthOffset + 8
	RegionNameOffset     = RegionCapacityOffset + 8
	RegionNameLength     = 32
	MaxNameLength        = RegionNameLength - 1

	KindSPSC    = 1
	KindMPSC    = 2
	KindMailbox = 3
)

// Ring region:
//
//	0     tail position            (writers)
//	128   head position            (reader)
//	256   data signal | waiters    (reader sleeps here)
//	384   space signal | waiters   (writers sleep here)
//	512   claim lock | next seq    (writers)
//	640   writer counters
//	768   reader counters
//	896   reader slot
//	1024  64 writer slots x 16 B
//	4096  data area (capacity bytes, power of two)
const (
	CacheSlot = 128

	TailPositionOffset  = 0
	HeadPositionOffset  = TailPositionOffset + CacheSlot
	DataSignalOffset    = HeadPositionOffset + CacheSlot
	DataWaitersOffset   = DataSignalOffset + 4
	SpaceSignalOffset   = DataSignalOffset + CacheSlot
	SpaceWaitersOffset  = SpaceSignalOffset + 4
	ClaimLockOffset     = SpaceSignalOffset + CacheSlot
	NextSequenceOffset  = ClaimLockOffset + 8
	WriterCountersStart = ClaimLockOffset + CacheSlot

	FramesWrittenOffset = WriterCountersStart
	BytesWrittenOffset  = FramesWrittenOffset + 8
	FullStallsOffset    = BytesWrittenOffset + 8
	WriterWaitsOffset   = FullStallsOffset + 8
	WriterWakesOffset   = WriterWaitsOffset + 8

	ReaderCountersStart    = WriterCountersStart + CacheSlot
	FramesReadOffset       = ReaderCountersStart
	BytesReadOffset        = FramesReadOffset + 8
	ReaderWaitsOffset      = BytesReadOffset + 8
	ReaderWakesOffset      = ReaderWaitsOffset + 8
	BadRecordsOffset       = ReaderWakesOffset + 8
	AbandonedRecordsOffset = BadRecordsOffset + 8

	ReaderOwnerOffset     = ReaderCountersStart + CacheSlot
	ReaderStartOffset     = ReaderOwnerOffset + 8
	ReaderReleaseToOffset = ReaderStartOffset + 8

	WriterSlotsOffset     = ReaderOwnerOffset + CacheSlot
	MaxWriters            = 64
	WriterSlotLength      = 16
	WriterSlotOwnerOffset = 0
	WriterSlotStartOffset = 8

	RingControlLength = PageSize
	RingDataOffset    = RingControlLength

	MinRingCapacity = PageSize
	MaxRingCapacity = 1 << 30
)

// Record:
//
//	bit 0                 31 32                  63
//	+0  size (i32, <0 while claimed) | type (u32, 0 = padding)
//	+8  length (u32)                 | writer (u32: slot | epoch<<8)
//	+16 sequence (u64)
//	+24 payload
const (
	RecordSizeOffset     = 0
	RecordTypeOffset     = RecordSizeOffset + 4
	RecordLengthOffset   = RecordTypeOffset + 4
	RecordWriterOffset   = RecordLengthOffset + 4
	RecordSequenceOffset = RecordWriterOffset + 4
	RecordHeaderLength   = RecordSequenceOffset + 8
	RecordAlignment      = 8

	// PaddingType marks a record the reader skips.
	PaddingType = 0
	// MaxUserType is the largest type a user may give a frame; larger types
	// are reserved for framebridge.
	MaxUserType = 1<<31 - 1
)

// Mailbox region:
//
//	0    writer owner | writer start
//	128  signal | waiters
//	256  SharedFrame (packed): seq u64 | status i32 | payload[capacity]
const (
	MailboxWriterOwnerOffset = 0
	MailboxWriterStartOffset = 8
	MailboxSignalOffset      = CacheSlot
	MailboxWaitersOffset     = MailboxSignalOffset + 4
	MailboxFrameOffset       = 2 * CacheSlot
	MailboxSeqOffset         = MailboxFrameOffset
	MailboxStatusOffset      = MailboxSeqOffset + 8
	MailboxPayloadOffset     = MailboxStatusOffset + 4

	MaxMailboxCapacity     = 1 << 20
	DefaultMailboxCapacity = 1024
)

// ringRegionLength is the exact length of a ring region of capacity bytes.
func ringRegionLength(capacity uint64) uint64 { return RingControlLength + capacity }

// mailboxRegionLength is the exact length of a mailbox region.
func mailboxRegionLength(capacity uint64) uint64 {
	return alignUp(MailboxPayloadOffset+capacity, PageSize)
}

// maxPayload is the largest payload a ring of this capacity accepts.
func maxPayload(capacity uint64) uint64 { return (capacity/2 - RecordHeaderLength) &^ 7 }

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

func recordSize(n int) uint64 { return alignUp(uint64(n)+RecordHeaderLength, RecordAlignment) }

// writerToken is the u32 that names a writer slot and its epoch in the
// claim lock and in records.
func writerToken(slot int, epoch uint32) uint32 { return uint32(slot) | (epoch&0xFFFFFF)<<8 }
