package shm_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/framebridge/framebridge/internal/shmtest"
	"github.com/framebridge/framebridge/shm"
)

// WarmNext runs between every commit while a reader drains the ring at its
// own pace, with sizes that make records wrap (padding) and the ring fill
// up: every frame arrives whole and in order, and free space still reads as
// zero (a reader would otherwise see a torn or phantom record).
func TestWarmNextNeverDisturbsFrames(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.SPSC, 4096))
	w, r := pair(t, seg)
	w.WarmNext() // nothing committed yet: a no-op
	ctx := context.Background()
	const frames = 20000
	size := func(i int) int { return 8 + (i*37)%700 }
	done := make(chan error, 1)
	go func() {
		want := make([]byte, 1024)
		for i := 0; i < frames; i++ {
			f, err := r.Next(ctx)
			if err != nil {
				done <- err
				return
			}
			warmFill(want[:size(i)], i)
			if !bytes.Equal(f.Data, want[:size(i)]) {
				t.Errorf("frame %d: %d bytes, not what was written", i, len(f.Data))
			}
			r.Release()
		}
		done <- nil
	}()
	for i := 0; i < frames; i++ {
		b, err := w.Claim(ctx, 1, size(i))
		if err != nil {
			t.Fatal(err)
		}
		w.WarmNext() // while claimed: a no-op
		warmFill(b, i)
		if err := w.Commit(len(b)); err != nil {
			t.Fatal(err)
		}
		w.WarmNext()
		w.WarmNext()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := ringStats(t, seg); st.BadRecords != 0 {
		t.Fatalf("%d bad records", st.BadRecords)
	}
	raw, base := ringBase(t, seg)
	for i, c := range raw[base+shm.RingDataOffset : base+shm.RingDataOffset+4096] {
		if c != 0 {
			t.Fatalf("data byte %d reads %#x after everything was released; free space must read as zero", i, c)
		}
	}
}

func warmFill(b []byte, i int) {
	for k := range b {
		b[k] = byte(i + k)
	}
	if len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, uint64(i))
	}
}

// An MPSC ring has no single writer that owns the free space: no-op.
func TestWarmNextIsANoOpOnMPSC(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.MPSC, 4096))
	w, r := pair(t, seg)
	if err := w.Write(context.Background(), 1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	w.WarmNext()
	f, err := r.Next(context.Background())
	if err != nil || string(f.Data) != "x" {
		t.Fatalf("%q %v", f.Data, err)
	}
}
