package shm_test

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/framebridge/framebridge/internal/shmtest"
	"github.com/framebridge/framebridge/shm"
)

// A peer zeroes the size word of a committed record at the reader's
// position. Zero means "not committed yet", so without a check the reader
// would wait behind it for ever while a full ring keeps the writer waiting
// for space (seen once in the scribbler test). The SPSC writer's tail, stored
// after every commit, gives it away: after a wait the reader reports
// ErrCorrupt, skips to the tail, and the ring works again.
func TestSPSCSizeWordZeroedBehindTheTailIsSkippedAfterAWait(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.SPSC, 4096), shmtest.AllowBadRecords())
	w, r := pair(t, seg)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := w.Write(ctx, 1, []byte("committed")); err != nil {
			t.Fatal(err)
		}
	}
	raw, base := ringBase(t, seg)
	binary.LittleEndian.PutUint32(raw[base+shm.RingDataOffset+shm.RecordSizeOffset:], 0)

	short := func() error {
		c, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
		defer cancel()
		_, err := r.Next(c)
		return err
	}
	// The first sighting only waits (a tail seen before its size word on a
	// weakly ordered CPU looks the same for a moment); one after a wait is
	// corruption.
	var err error
	for i := 0; i < 3 && !errors.Is(err, shm.ErrCorrupt); i++ {
		if err = short(); err != nil && !errors.Is(err, shm.ErrCorrupt) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Next %d: %v", i, err)
		}
	}
	if !errors.Is(err, shm.ErrCorrupt) {
		t.Fatalf("Next over a zeroed committed record: %v, want ErrCorrupt", err)
	}
	if waits := ringStats(t, seg).ReaderWaits; waits == 0 {
		t.Fatal("reported corruption without having waited once")
	}
	if err := w.Write(ctx, 1, []byte("after")); err != nil {
		t.Fatal(err)
	}
	f, err := r.Next(ctx)
	if err != nil || string(f.Data) != "after" {
		t.Fatalf("after the skip: %q %v", f.Data, err)
	}
	if got := ringStats(t, seg).BadRecords; got != 1 {
		t.Fatalf("BadRecords = %d, want 1", got)
	}
}

// An SPSC claim in progress also reads as zero, but its writer has not moved
// the tail: the reader keeps waiting and then gets the frame.
func TestSPSCClaimInProgressIsNotMistakenForAZeroedRecord(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.SPSC, 4096))
	w, r := pair(t, seg)
	ctx := context.Background()
	b, err := w.Claim(ctx, 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		c, cancel := context.WithTimeout(ctx, 2*time.Millisecond)
		_, err := r.Next(c)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Next %d behind a claim in progress: %v, want a timeout", i, err)
		}
	}
	copy(b, "claimed!")
	if err := w.Commit(8); err != nil {
		t.Fatal(err)
	}
	f, err := r.Next(ctx)
	if err != nil || string(f.Data) != "claimed!" {
		t.Fatalf("%q %v", f.Data, err)
	}
}

// In a full ring the writer never signals: one blocking Next with a far
// deadline must still find the overwritten size word (its wait is bounded
// while a sighting is pending) and the ring then works again.
func TestSPSCSizeWordZeroedInAFullRingIsFoundByOneBlockingNext(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.SPSC, 4096), shmtest.AllowBadRecords())
	w, r := pair(t, seg)
	ctx := context.Background()
	for {
		b, err := w.TryClaim(1, 100)
		if errors.Is(err, shm.ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		copy(b, "full")
		if err := w.Commit(100); err != nil {
			t.Fatal(err)
		}
	}
	raw, base := ringBase(t, seg)
	binary.LittleEndian.PutUint32(raw[base+shm.RingDataOffset+shm.RecordSizeOffset:], 0)
	c, cancel := context.WithTimeout(ctx, time.Minute) // a watchdog, not a timing assertion
	defer cancel()
	if _, err := r.Next(c); !errors.Is(err, shm.ErrCorrupt) {
		t.Fatalf("blocking Next on a full ring behind a zeroed size word: %v, want ErrCorrupt", err)
	}
	if err := w.Write(ctx, 1, []byte("after")); err != nil {
		t.Fatal(err)
	}
	f, err := r.Next(ctx)
	if err != nil || string(f.Data) != "after" {
		t.Fatalf("after the skip: %q %v", f.Data, err)
	}
}
