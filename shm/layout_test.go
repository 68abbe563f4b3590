package shm_test

import (
	"testing"

	"github.com/framebridge/framebridge/shm"
)

// The offsets of docs/layout.md, typed in once more from the spec's tables:
// a change to a constant must be a deliberate change to the spec (and to
// the golden images, which check the same bytes from the other side).
func TestLayoutConstantsMatchTheSpec(t *testing.T) {
	spec := []struct {
		name      string
		got, want int
	}{
		{"MagicOffset", shm.MagicOffset, 0}, {"VersionOffset", shm.VersionOffset, 8},
		{"HeaderLengthOffset", shm.HeaderLengthOffset, 12}, {"SegmentSizeOffset", shm.SegmentSizeOffset, 16},
		{"GenerationOffset", shm.GenerationOffset, 24}, {"CreatorPIDOffset", shm.CreatorPIDOffset, 32},
		{"RegionCountOffset", shm.RegionCountOffset, 36}, {"CreatorStartOffset", shm.CreatorStartOffset, 40},
		{"CreatedUnixNanoOffset", shm.CreatedUnixNanoOffset, 48}, {"RegionTableOffset", shm.RegionTableOffset, 128},
		{"HeaderLength", shm.HeaderLength, 4096}, {"MaxRegions", shm.MaxRegions, 32}, {"RegionEntryLength", shm.RegionEntryLength, 64},
		{"RegionKindOffset", shm.RegionKindOffset, 0}, {"RegionFlagsOffset", shm.RegionFlagsOffset, 4},
		{"RegionOffsetOffset", shm.RegionOffsetOffset, 8}, {"RegionLengthOffset", shm.RegionLengthOffset, 16},
		{"RegionCapacityOffset", shm.RegionCapacityOffset, 24}, {"RegionNameOffset", shm.RegionNameOffset, 32},
		{"TailPositionOffset", shm.TailPositionOffset, 0}, {"HeadPositionOffset", shm.HeadPositionOffset, 128},
		{"DataSignalOffset", shm.DataSignalOffset, 256}, {"DataWaitersOffset", shm.DataWaitersOffset, 260},
		{"SpaceSignalOffset", shm.SpaceSignalOffset, 384}, {"SpaceWaitersOffset", shm.SpaceWaitersOffset, 388},
		{"ClaimLockOffset", shm.ClaimLockOffset, 512}, {"NextSequenceOffset", shm.NextSequenceOffset, 520},
		{"FramesWrittenOffset", shm.FramesWrittenOffset, 640}, {"BytesWrittenOffset", shm.BytesWrittenOffset, 648},
		{"FullStallsOffset", shm.FullStallsOffset, 656}, {"WriterWaitsOffset", shm.WriterWaitsOffset, 664},
		{"WriterWakesOffset", shm.WriterWakesOffset, 672}, {"FramesReadOffset", shm.FramesReadOffset, 768},
		{"BytesReadOffset", shm.BytesReadOffset, 776}, {"ReaderWaitsOffset", shm.ReaderWaitsOffset, 784},
		{"ReaderWakesOffset", shm.ReaderWakesOffset, 792}, {"BadRecordsOffset", shm.BadRecordsOffset, 800},
		{"AbandonedRecordsOffset", shm.AbandonedRecordsOffset, 808}, {"ReaderOwnerOffset", shm.ReaderOwnerOffset, 896},
		{"ReaderStartOffset", shm.ReaderStartOffset, 904}, {"ReaderReleaseToOffset", shm.ReaderReleaseToOffset, 912},
		{"WriterSlotsOffset", shm.WriterSlotsOffset, 1024}, {"MaxWriters", shm.MaxWriters, 64},
		{"WriterSlotLength", shm.WriterSlotLength, 16}, {"RingDataOffset", shm.RingDataOffset, 4096},
		{"RecordSizeOffset", shm.RecordSizeOffset, 0}, {"RecordTypeOffset", shm.RecordTypeOffset, 4},
		{"RecordLengthOffset", shm.RecordLengthOffset, 8}, {"RecordWriterOffset", shm.RecordWriterOffset, 12},
		{"RecordSequenceOffset", shm.RecordSequenceOffset, 16}, {"RecordHeaderLength", shm.RecordHeaderLength, 24},
		{"MailboxWriterOwnerOffset", shm.MailboxWriterOwnerOffset, 0}, {"MailboxWriterStartOffset", shm.MailboxWriterStartOffset, 8},
		{"MailboxSignalOffset", shm.MailboxSignalOffset, 128}, {"MailboxWaitersOffset", shm.MailboxWaitersOffset, 132},
		{"MailboxSeqOffset", shm.MailboxSeqOffset, 256}, {"MailboxStatusOffset", shm.MailboxStatusOffset, 264},
		{"MailboxPayloadOffset", shm.MailboxPayloadOffset, 268},
	}
	for _, c := range spec {
		if c.got != c.want {
			t.Errorf("%s = %d, docs/layout.md says %d", c.name, c.got, c.want)
		}
	}
	if shm.Magic != 0x4547444952425246 || string([]byte{0x46, 0x52, 0x42, 0x52, 0x49, 0x44, 0x47, 0x45}) != "FRBRIDGE" {
		t.Error("magic must be the ASCII bytes FRBRIDGE")
	}
}
