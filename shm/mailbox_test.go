package shm_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/framebridge/framebridge/internal/shmtest"
	"github.com/framebridge/framebridge/shm"
)

func mailboxSegment(t *testing.T, size int) *shm.Segment {
	return shmtest.NewSegment(t, shm.Spec{Mailboxes: []shm.MailboxSpec{{Name: "m", PayloadSize: size}}})
}

func TestMailboxKeepsTheLatestValue(t *testing.T) {
	seg := mailboxSegment(t, 0)
	w, err := seg.MailboxWriter("m")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, _ := seg.Mailbox("m")
	buf := make([]byte, r.Capacity())
	if snap, err := r.Load(buf); err != nil || snap.Version != 0 {
		t.Fatalf("before any store: %+v %v", snap, err)
	}
	w.Store(1, bytes.Repeat([]byte{0xAA}, 1024))
	w.Store(-3, []byte("short"))
	snap, err := r.Load(buf)
	if err != nil || snap.Version != 2 || snap.Status != -3 || string(buf[:5]) != "short" || buf[5] != 0 || buf[1023] != 0 {
		t.Fatalf("%+v %v %q", snap, err, buf[:8])
	}
	if r.Capacity() != shm.DefaultMailboxCapacity {
		t.Fatalf("default capacity %d", r.Capacity())
	}
	if err := w.Store(0, make([]byte, 1025)); !errors.Is(err, shm.ErrTooLarge) {
		t.Fatalf("oversized store: %v", err)
	}
	if err := r.Store(0, nil); err == nil {
		t.Fatal("a reader handle must not store")
	}
	if _, err := seg.MailboxWriter("m"); !errors.Is(err, shm.ErrBusy) {
		t.Fatalf("second writer: %v", err)
	}
}

// Readers racing a writer never see a value mixed from two stores.
func TestMailboxReadersNeverSeeATornValue(t *testing.T) {
	seg := mailboxSegment(t, 4096)
	w, _ := seg.MailboxWriter("m")
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		r, _ := seg.Mailbox("m")
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for ctx.Err() == nil {
				snap, err := r.Load(buf)
				if err != nil {
					t.Error(err)
					return
				}
				v := binary.LittleEndian.Uint32(buf)
				if snap.Version != 0 && (int32(v) != snap.Status || !bytes.Equal(buf[4:], bytes.Repeat(buf[4:5], 4092))) {
					t.Errorf("torn value at version %d", snap.Version)
					return
				}
			}
		}()
	}
	payload := make([]byte, 4096)
	for i := 1; ctx.Err() == nil; i++ {
		binary.LittleEndian.PutUint32(payload, uint32(i))
		for j := 4; j < len(payload); j++ {
			payload[j] = byte(i)
		}
		w.Store(int32(i), payload)
	}
	wg.Wait()
}

func TestMailboxWaitWakesOnStore(t *testing.T) {
	seg := mailboxSegment(t, 64)
	w, _ := seg.MailboxWriter("m")
	defer w.Close()
	r, _ := seg.Mailbox("m", shm.Spin(0))
	stored := make(chan struct{})
	// Joined before w.Close: the race detector cannot see the ordering
	// that the seqlock's atomics in shared memory provide.
	defer func() { <-stored }()
	go func() { time.Sleep(20 * time.Millisecond); w.Store(5, []byte("v1")); close(stored) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := r.Wait(ctx, 0)
	if err != nil || v != 1 {
		t.Fatalf("wait: %d %v", v, err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := r.Wait(short, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with no new store: %v", err)
	}
}

// A writer that died mid-store (seq left odd) is reported, and the next
// writer takes over and publishes consistent values again.
func TestMailboxWriterDeathMidStore(t *testing.T) {
	seg := mailboxSegment(t, 64)
	raw := rawMap(t, seg)
	base := seg.Header().Regions[0].Offset
	binary.LittleEndian.PutUint64(raw[base+shm.MailboxSeqOffset:], 7) // odd: a store in progress
	binary.LittleEndian.PutUint64(raw[base+shm.MailboxWriterOwnerOffset:], 1<<32|0x7FFFFFF0)
	r, _ := seg.Mailbox("m")
	buf := make([]byte, 64)
	if _, err := r.Load(buf); !errors.Is(err, shm.ErrPeerDead) {
		t.Fatalf("load during a dead writer's store: %v", err)
	}
	w, err := seg.MailboxWriter("m")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Store(9, []byte("recovered"))
	snap, err := r.Load(buf)
	if err != nil || snap.Status != 9 || snap.Version != 5 || string(buf[:9]) != "recovered" {
		t.Fatalf("%+v %v", snap, err)
	}
}

// A live writer stalled mid-store (here: seq left odd by this very process,
// which holds the writer slot, as a SIGSTOPped writer would leave it) keeps
// Load retrying; LoadContext gives up with the context's error and says why,
// and reads the value again once the writer finishes.
func TestMailboxLoadContextGivesUpOnAStalledWriter(t *testing.T) {
	seg := mailboxSegment(t, 64)
	w, err := seg.MailboxWriter("m")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Store(3, []byte("before")); err != nil {
		t.Fatal(err)
	}
	raw := rawMap(t, seg)
	seqAt := seg.Header().Regions[0].Offset + shm.MailboxSeqOffset
	seq := binary.LittleEndian.Uint64(raw[seqAt:])
	binary.LittleEndian.PutUint64(raw[seqAt:], seq+1) // mid-store, and the writer is alive
	r, _ := seg.Mailbox("m")
	buf := make([]byte, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.LoadContext(ctx, buf); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, shm.ErrPeerDead) {
		t.Fatalf("load from a stalled live writer: %v, want context.DeadlineExceeded", err)
	}
	binary.LittleEndian.PutUint64(raw[seqAt:], seq) // the store "ends" (the value is unchanged)
	snap, err := r.LoadContext(ctx, buf)            // ctx is done, but a consistent value is there at once
	if err != nil || snap.Status != 3 || string(buf[:6]) != "before" {
		t.Fatalf("after the stall: %+v %v", snap, err)
	}
}
