// Package shmtest holds test helpers for framebridge segments and for tests
// that run peers as real processes: a test binary re-executes itself (see
// RunChild) and drives the copies through Proc.
package shmtest

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/framebridge/framebridge/shm"
)

var serial atomic.Uint64

// Name returns a segment name unique to this process and call, derived from
// the test's name, that fits the 31-byte name limit.
func Name(t testing.TB) string {
	prefix := fmt.Sprintf("fbt-%d-%d-", os.Getpid(), serial.Add(1))
	var b strings.Builder
	for _, c := range t.Name() {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	name := prefix + b.String()
	if len(name) > shm.MaxNameLength {
		name = name[:shm.MaxNameLength]
	}
	return name
}

// Option tunes NewSegment.
type Option func(*config)

type config struct {
	allowBad bool
}

// AllowBadRecords accepts rings whose BadRecords counter is non-zero at
// cleanup (tests that corrupt rings on purpose).
func AllowBadRecords() Option { return func(c *config) { c.allowBad = true } }

// NewSegment creates a named segment for spec under a unique name. At
// cleanup it checks the rings' invariants, then closes and unlinks it.
func NewSegment(t testing.TB, spec shm.Spec, opts ...Option) *shm.Segment {
	t.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	name := Name(t)
	seg, err := shm.Create(name, spec)
	if err != nil {
		t.Fatalf("create segment %q: %v", name, err)
	}
	t.Cleanup(func() {
		CheckInvariants(t, seg, opts...)
		if err := seg.Close(); err != nil {
			t.Errorf("close segment %q: %v", name, err)
		}
		if err := shm.Remove(name); err != nil {
			t.Errorf("remove segment %q: %v", name, err)
		}
	})
	return seg
}

// CheckInvariants reports every ring whose positions are inconsistent
// (head > tail, more than a ring's capacity published, misaligned) or that
// counted malformed records.
func CheckInvariants(t testing.TB, seg *shm.Segment, opts ...Option) {
	t.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	rings, _, err := seg.Stats()
	if err != nil {
		t.Errorf("stats of segment %q: %v", seg.Name(), err)
		return
	}
	for _, r := range rings {
		if r.Head > r.Tail || r.Tail-r.Head > r.Capacity || r.Head%shm.RecordAlignment != 0 || r.Tail%shm.RecordAlignment != 0 {
			t.Errorf("ring %q: inconsistent positions head=%d tail=%d capacity=%d", r.Name, r.Head, r.Tail, r.Capacity)
		}
		if r.BadRecords != 0 && !c.allowBad {
			t.Errorf("ring %q: %d malformed records counted", r.Name, r.BadRecords)
		}
		if r.FramesRead > r.FramesWritten && !c.allowBad {
			t.Errorf("ring %q: read %d frames but only %d were written", r.Name, r.FramesRead, r.FramesWritten)
		}
	}
}

// Describe formats a segment's ring counters and attachments for failure
// messages (what `framebridge stat` would show).
func Describe(seg *shm.Segment) string {
	rings, boxes, err := seg.Stats()
	if err != nil {
		return fmt.Sprintf("stats: %v", err)
	}
	var b strings.Builder
	for _, r := range rings {
		fmt.Fprintf(&b, "ring %q (%s): head=%d tail=%d lag=%d written=%d read=%d full=%d wwaits=%d wwakes=%d rwaits=%d rwakes=%d bad=%d abandoned=%d datawaiters=%d spacewaiters=%d",
			r.Name, r.Kind, r.Head, r.Tail, r.Lag(), r.FramesWritten, r.FramesRead, r.FullStalls,
			r.WriterWaits, r.WriterWakes, r.ReaderWaits, r.ReaderWakes, r.BadRecords, r.AbandonedRecords,
			r.DataWaiters, r.SpaceWaiters)
		for _, a := range r.Attached {
			fmt.Fprintf(&b, " %s[%d]=pid %d epoch %d alive=%t", a.Role, a.Slot, a.PID, a.Epoch, a.Alive)
		}
		b.WriteByte('\n')
	}
	for _, m := range boxes {
		fmt.Fprintf(&b, "mailbox %q: version=%d storing=%t waiters=%d\n", m.Name, m.Version, m.Storing, m.Waiters)
	}
	return b.String()
}
