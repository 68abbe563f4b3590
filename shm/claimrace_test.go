package shm_test

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framebridge/framebridge/internal/shmtest"
	"github.com/framebridge/framebridge/shm"
)

// The reader judges a claim's writer dead after it loaded the claimed size
// word (layout.md §5.4). A writer that commits and then gives its slot up in
// between is dead by then, but its frame is committed and must be delivered,
// not turned into padding.
func TestAWriterThatCommitsAndLeavesWhileTheReaderJudgesItsClaimLosesNoFrame(t *testing.T) {
	const frames = 20000
	seg := shmtest.NewSegment(t, oneRing(shm.MPSC, 4096))
	// No spin: every poll of a pending claim is the slow one that asks about liveness.
	r, err := seg.Reader("r", shm.Spin(0))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var failed atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := uint64(0); i < frames; i++ {
			// A writer per frame: its Close frees the slot and the next takes it
			// with a new epoch, so a claim the reader sees pending names a dead
			// writer right after its commit.
			w, err := seg.Writer("r")
			if err != nil {
				failed.Store(err)
				return
			}
			b, err := w.Claim(ctx, 1, 8)
			if err != nil {
				w.Close()
				return // the reader gave up
			}
			binary.LittleEndian.PutUint64(b, i)
			if err := w.Commit(8); err != nil {
				failed.Store(err)
			}
			w.Close()
		}
	}()
	defer func() { cancel(); <-done }()
	for i := uint64(0); i < frames; i++ {
		nctx, ncancel := context.WithTimeout(ctx, 10*time.Second)
		f, err := r.Next(nctx)
		ncancel()
		if e := failed.Load(); e != nil {
			t.Fatalf("writer: %v", e)
		}
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got := binary.LittleEndian.Uint64(f.Data); got != i {
			t.Fatalf("got frame %d, want %d (lost or reordered; abandoned=%d)", got, i, ringStats(t, seg).AbandonedRecords)
		}
		r.Release()
	}
	if n := ringStats(t, seg).AbandonedRecords; n != 0 {
		t.Fatalf("abandoned = %d: no writer died holding a claim", n)
	}
}
