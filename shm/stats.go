package shm

import (
	"sync/atomic"

	"github.com/framebridge/framebridge/internal/sys"
)

// Attachment names a process holding a role on a ring or mailbox.
type Attachment struct {
	Role  string // "reader", "writer", "mailbox-writer"
	Slot  int
	PID   int
	Epoch uint32
	Alive bool
}

// RingStats is a snapshot of a ring's positions, counters and attachments,
// read without taking any role (framebridge stat).
type RingStats struct {
	Name     string
	Kind     RingKind
	Capacity uint64
	Head     uint64
	Tail     uint64

	FramesWritten, BytesWritten, FullStalls, WriterWaits, WriterWakes uint64
	FramesRead, BytesRead, ReaderWaits, ReaderWakes                   uint64
	BadRecords, AbandonedRecords                                      uint64
	DataWaiters, SpaceWaiters                                         uint32

	Attached []Attachment
}

// Lag is the number of published bytes the reader has not released.
func (s RingStats) Lag() uint64 {
	if s.Tail < s.Head {
		return 0
	}
	return s.Tail - s.Head
}

// MailboxStats is a snapshot of a mailbox.
type MailboxStats struct {
	Name     string
	Capacity uint64
	Version  uint64
	Storing  bool // the seqlock is odd: a store is in progress (or its writer died)
	Waiters  uint32
	Attached []Attachment
}

// Stats reads every ring's and mailbox's counters and attachments.
func (s *Segment) Stats() ([]RingStats, []MailboxStats, error) {
	if s.closed.Load() {
		return nil, nil, ErrClosed
	}
	var rings []RingStats
	var boxes []MailboxStats
	for _, r := range s.header.Regions {
		mem := s.regionMem(r)
		if r.Kind == KindMailbox {
			seq := load64(mem, MailboxSeqOffset)
			st := MailboxStats{Name: r.Name, Capacity: r.Capacity, Version: seq / 2, Storing: seq%2 == 1,
				Waiters: load32(mem, MailboxWaitersOffset)}
			if a, ok := attachment("mailbox-writer", 0, slotAt(mem, MailboxWriterOwnerOffset)); ok {
				st.Attached = append(st.Attached, a)
			}
			boxes = append(boxes, st)
			continue
		}
		c := mem[:RingControlLength]
		st := RingStats{
			Name: r.Name, Kind: RingKind(r.Kind), Capacity: r.Capacity,
			Head: load64(c, HeadPositionOffset), Tail: load64(c, TailPositionOffset),
			FramesWritten: load64(c, FramesWrittenOffset), BytesWritten: load64(c, BytesWrittenOffset),
			FullStalls: load64(c, FullStallsOffset), WriterWaits: load64(c, WriterWaitsOffset),
			WriterWakes: load64(c, WriterWakesOffset), FramesRead: load64(c, FramesReadOffset),
			BytesRead: load64(c, BytesReadOffset), ReaderWaits: load64(c, ReaderWaitsOffset),
			ReaderWakes: load64(c, ReaderWakesOffset), BadRecords: load64(c, BadRecordsOffset),
			AbandonedRecords: load64(c, AbandonedRecordsOffset),
			DataWaiters:      load32(c, DataWaitersOffset), SpaceWaiters: load32(c, SpaceWaitersOffset),
		}
		if a, ok := attachment("reader", 0, slotAt(c, ReaderOwnerOffset)); ok {
			st.Attached = append(st.Attached, a)
		}
		for i := 0; i < MaxWriters; i++ {
			if a, ok := attachment("writer", i, slotAt(c, WriterSlotsOffset+uint64(i)*WriterSlotLength)); ok {
				st.Attached = append(st.Attached, a)
			}
		}
		rings = append(rings, st)
	}
	return rings, boxes, nil
}

func attachment(role string, slot int, s ownerSlot) (Attachment, bool) {
	w := atomic.LoadUint64(s.word)
	if ownerPID(w) == 0 {
		return Attachment{}, false
	}
	return Attachment{Role: role, Slot: slot, PID: ownerPID(w), Epoch: ownerEpoch(w),
		Alive: sys.Alive(ownerPID(w), atomic.LoadUint64(s.start))}, true
}
