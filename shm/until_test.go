package shm_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framebridge/framebridge/internal/shmtest"
	"github.com/framebridge/framebridge/shm"
)

func TestNextUntilReturnsAFrameThatArrivesWhileItSleeps(t *testing.T) {
	_, w, r := openPair(t, shm.SPSC, shm.Spin(0))
	wrote := make(chan struct{})
	defer func() { <-wrote }()
	go func() {
		defer close(wrote)
		time.Sleep(10 * time.Millisecond)
		w.Write(context.Background(), 1, []byte("late"))
	}()
	f, err := r.NextUntil(time.Time{}, nil)
	if err != nil || string(f.Data) != "late" {
		t.Fatalf("NextUntil = %q, %v; want the frame written later", f.Data, err)
	}
	r.Release()
}

func TestNextUntilEndsAtItsDeadlineWithTheBareSentinel(t *testing.T) {
	_, _, r := openPair(t, shm.SPSC, shm.Spin(0))
	_, err := r.NextUntil(time.Now().Add(5*time.Millisecond), nil)
	if err != context.DeadlineExceeded {
		t.Fatalf("NextUntil on an empty ring = %v, want context.DeadlineExceeded", err)
	}
	_, err = r.NextUntil(time.Now().Add(-time.Second), nil)
	if err != context.DeadlineExceeded {
		t.Fatalf("NextUntil with a past deadline = %v, want context.DeadlineExceeded", err)
	}
}

func TestStopAndWakeEndASleepingNextUntil(t *testing.T) {
	for _, spin := range []time.Duration{0, time.Millisecond} {
		_, _, r := openPair(t, shm.SPSC, shm.Spin(spin))
		var stop atomic.Bool
		done := make(chan error, 1)
		go func() {
			_, err := r.NextUntil(time.Time{}, &stop) // no deadline: only the stop word ends it
			done <- err
		}()
		time.Sleep(10 * time.Millisecond)
		stop.Store(true)
		r.Wake()
		if err := <-done; err != shm.ErrStopped {
			t.Fatalf("spin %v: NextUntil after stop = %v, want ErrStopped", spin, err)
		}
	}
}

func TestAwaitReleaseReturnsWhenTheReaderReleases(t *testing.T) {
	_, w, r := openPair(t, shm.SPSC, shm.Spin(0))
	big := make([]byte, w.MaxPayload())
	for i := 0; i < 2; i++ { // two half-ring frames fill the ring
		if err := w.Write(context.Background(), 1, big); err != nil {
			t.Fatal(err)
		}
	}
	since := w.Released()
	if _, err := w.TryClaim(1, len(big)); !errors.Is(err, shm.ErrFull) {
		t.Fatalf("third half-ring claim = %v, want ErrFull", err)
	}
	read := make(chan struct{})
	defer func() { <-read }()
	go func() {
		defer close(read)
		time.Sleep(10 * time.Millisecond)
		r.Next(context.Background())
		r.Release()
	}()
	if err := w.AwaitRelease(since, time.Time{}, nil); err != nil {
		t.Fatalf("AwaitRelease = %v", err)
	}
	if _, err := w.TryClaim(1, len(big)); err != nil {
		t.Fatalf("claim after the release = %v", err)
	}
	w.Abort()
}

func TestAwaitReleaseEndsAtItsDeadlineOrItsStopWord(t *testing.T) {
	_, w, _ := openPair(t, shm.SPSC, shm.Spin(0))
	since := w.Released()
	if err := w.AwaitRelease(since, time.Now().Add(5*time.Millisecond), nil); err != context.DeadlineExceeded {
		t.Fatalf("AwaitRelease with nothing released = %v, want context.DeadlineExceeded", err)
	}
	var stop atomic.Bool
	done := make(chan error, 1)
	go func() { done <- w.AwaitRelease(since, time.Time{}, &stop) }()
	time.Sleep(10 * time.Millisecond)
	stop.Store(true)
	w.Wake()
	if err := <-done; err != shm.ErrStopped {
		t.Fatalf("AwaitRelease after stop = %v, want ErrStopped", err)
	}
}

func TestWakeAfterCloseDoesNothing(t *testing.T) {
	seg, err := shm.CreateMemfd("wake", ringSpec(shm.SPSC, 1<<16))
	if err != nil {
		t.Fatal(err)
	}
	w, err := seg.Writer("frames")
	if err != nil {
		t.Fatal(err)
	}
	r, err := seg.Reader("frames")
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.Close()
	r.Wake()
	w.Wake()
	seg.Close()
	r.Wake() // the mapping is gone: Wake must not touch it
	w.Wake()
}

func TestContextFreeWaitsAllocateNothingWhenTheySleep(t *testing.T) {
	if shmtest.Race {
		t.Skip("the race detector allocates")
	}
	seg, w, r := openPair(t, shm.SPSC, shm.Spin(0))
	var stop atomic.Bool
	deadline := time.Now().Add(time.Hour)
	// Each run sleeps at least once: the reader finds the ring empty and
	// waits until a writer goroutine, started first, writes a frame.
	write, wrote := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(wrote)
		for range write {
			time.Sleep(50 * time.Microsecond)
			w.Write(context.Background(), 1, []byte("x"))
		}
	}()
	defer func() { close(write); <-wrote }()
	readerWaits := func() uint64 {
		rings, _, err := seg.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return rings[0].ReaderWaits
	}
	before := readerWaits()
	n := testing.AllocsPerRun(200, func() {
		write <- struct{}{}
		if _, err := r.NextUntil(deadline, &stop); err != nil {
			t.Fatal(err)
		}
		r.Release()
	})
	if n != 0 {
		t.Errorf("NextUntil allocates %v times per sleeping wait, want 0", n)
	}
	if readerWaits() == before {
		t.Errorf("NextUntil never slept: the test measured nothing")
	}
	n = testing.AllocsPerRun(200, func() {
		w.AwaitRelease(w.Released(), time.Now().Add(50*time.Microsecond), &stop) // nothing is released: sleeps to the deadline
	})
	if n != 0 {
		t.Errorf("AwaitRelease allocates %v times per sleeping wait, want 0", n)
	}
}
