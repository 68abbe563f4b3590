package shm_test

import (
	"context"
	"testing"
	"time"

	"github.com/framebridge/framebridge/internal/shmtest"
	"github.com/framebridge/framebridge/shm"
)

// The hot path allocates nothing per frame in steady state.

func openPair(t *testing.T, kind shm.RingKind, opts ...shm.Option) (*shm.Segment, *shm.Writer, *shm.Reader) {
	t.Helper()
	seg := shmtest.NewSegment(t, ringSpec(kind, 1<<16))
	w, err := seg.Writer("frames", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	r, err := seg.Reader("frames", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return seg, w, r
}

func assertNoAllocs(t *testing.T, what string, f func()) {
	t.Helper()
	for i := 0; i < 100; i++ { // warm up: first wrap, lazily built state
		f()
	}
	if n := testing.AllocsPerRun(1000, f); n != 0 {
		t.Errorf("%s allocates %v times per frame, want 0", what, n)
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	if shmtest.Race {
		t.Skip("the race detector allocates")
	}
	ctx, cancel := context.WithCancel(context.Background()) // a cancellable ctx: Next and Claim register with it once
	defer cancel()
	payload := make([]byte, 100)
	for _, kind := range []shm.RingKind{shm.SPSC, shm.MPSC} {
		t.Run(kind.String()+" claim, commit, next and release", func(t *testing.T) {
			_, w, r := openPair(t, kind)
			assertNoAllocs(t, "Claim+Commit+Next+Release", func() {
				b, err := w.Claim(ctx, 1, len(payload))
				if err != nil {
					t.Fatal(err)
				}
				copy(b, payload)
				if err := w.Commit(len(b) / 2); err != nil {
					t.Fatal(err)
				}
				if _, err := r.Next(ctx); err != nil {
					t.Fatal(err)
				}
				r.Release()
			})
		})
		t.Run(kind.String()+" try-claim, write, try-next and drain", func(t *testing.T) {
			_, w, r := openPair(t, kind)
			frames := 0
			count := func(f shm.Frame) error { frames++; return nil }
			assertNoAllocs(t, "TryClaim+Abort+Write+TryNext+Drain", func() {
				if _, err := w.TryClaim(1, 8); err != nil {
					t.Fatal(err)
				}
				w.Abort()
				for i := 0; i < 4; i++ {
					if err := w.Write(ctx, 1, payload); err != nil {
						t.Fatal(err)
					}
				}
				if _, ok, err := r.TryNext(); !ok || err != nil {
					t.Fatalf("TryNext: %t %v", ok, err)
				}
				if n, err := r.Drain(8, count); n != 3 || err != nil {
					t.Fatalf("Drain: %d frames, %v", n, err)
				}
			})
		})
	}
	t.Run("mailbox store and load", func(t *testing.T) {
		seg := shmtest.NewSegment(t, shm.Spec{Mailboxes: []shm.MailboxSpec{{Name: "box"}}})
		mw, err := seg.MailboxWriter("box")
		if err != nil {
			t.Fatal(err)
		}
		defer mw.Close()
		mr, err := seg.Mailbox("box")
		if err != nil {
			t.Fatal(err)
		}
		defer mr.Close()
		dst := make([]byte, mr.Capacity())
		assertNoAllocs(t, "Mailbox Store+Load+Wait", func() {
			if err := mw.Store(7, payload); err != nil {
				t.Fatal(err)
			}
			if _, err := mr.Load(dst); err != nil {
				t.Fatal(err)
			}
			if _, err := mr.Wait(ctx, 0); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// A reader that always sleeps (spin 0) against a writer goroutine: every
// Next may go through the futex, and still allocates nothing.
func TestBlockingNextDoesNotAllocate(t *testing.T) {
	if shmtest.Race {
		t.Skip("the race detector allocates")
	}
	const warm, runs = 2000, 5000
	seg, w, r := openPair(t, shm.SPSC, shm.Spin(0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	payload := make([]byte, 64)
	done := make(chan error, 1)
	go func() {
		for i := 0; i < warm+runs+1; i++ {
			if err := w.Write(ctx, 1, payload); err != nil {
				done <- err
				return
			}
			if i%32 == 0 {
				time.Sleep(20 * time.Microsecond) // let the reader run dry and sleep
			}
		}
		done <- nil
	}()
	next := func() {
		if _, err := r.Next(ctx); err != nil {
			t.Error(err)
		}
		r.Release()
	}
	for i := 0; i < warm; i++ {
		next()
	}
	if n := testing.AllocsPerRun(runs, next); n != 0 {
		t.Errorf("blocking Next+Release allocates %v times per frame, want 0", n)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := ringStats(t, seg); st.ReaderWaits == 0 {
		t.Errorf("the reader never slept, so the test did not exercise the futex path: %s", shmtest.Describe(seg))
	}
}

// A producer makes no system call unless a waiter is announced: with a
// reader that keeps up by spinning, the writer never calls FUTEX_WAKE.
func TestWriterMakesNoWakeCallsWhileTheReaderSpins(t *testing.T) {
	frames := scaled(100_000, 20_000, 100_000)
	seg, w, r := openPair(t, shm.SPSC, shm.Spin(time.Hour))
	ctx := watchdog(t)
	done := make(chan error, 1)
	go func() {
		for i := 0; i < frames; i++ {
			if _, err := r.Next(ctx); err != nil {
				done <- err
				return
			}
			if i%16 == 15 {
				r.Release()
			}
		}
		r.Release()
		done <- nil
	}()
	payload := make([]byte, 48)
	for i := 0; i < frames; i++ {
		if err := w.Write(ctx, 1, payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := ringStats(t, seg)
	if st.FramesRead != uint64(frames) {
		t.Fatalf("read %d frames, want %d", st.FramesRead, frames)
	}
	if st.ReaderWaits != 0 || st.WriterWakes != 0 {
		t.Errorf("a spinning reader slept %d times and the writer made %d FUTEX_WAKE calls, want 0 and 0", st.ReaderWaits, st.WriterWakes)
	}
}
