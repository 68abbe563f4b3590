package shm_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/framebridge/framebridge/internal/shmtest"
	"github.com/framebridge/framebridge/shm"
)

func oneRing(kind shm.RingKind, capacity int) shm.Spec {
	return shm.Spec{Rings: []shm.RingSpec{{Name: "r", Kind: kind, Capacity: capacity}}}
}

// rawMap maps the segment a second time, as another process would see it.
func rawMap(t *testing.T, seg *shm.Segment) []byte {
	t.Helper()
	b, err := syscall.Mmap(seg.Fd(), 0, int(seg.Header().Size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(b) })
	return b
}

func pair(t *testing.T, seg *shm.Segment, opts ...shm.Option) (*shm.Writer, *shm.Reader) {
	t.Helper()
	w, err := seg.Writer("r", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	r, err := seg.Reader("r", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return w, r
}

func fill(b []byte, seed int) {
	for i := range b {
		b[i] = byte(seed*31 + i)
	}
}

func TestRings(t *testing.T) {
	for _, kind := range []shm.RingKind{shm.SPSC, shm.MPSC} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Run("frames of every size come back with their type, sequence and bytes across many wraps", func(t *testing.T) {
				seg := shmtest.NewSegment(t, oneRing(kind, 4096))
				w, r := pair(t, seg)
				ctx := context.Background()
				for i := 0; i < 5000; i++ {
					n := (i * 37) % (w.MaxPayload() + 1)
					b, err := w.Claim(ctx, uint32(1+i%7), n)
					if err != nil {
						t.Fatalf("frame %d: %v", i, err)
					}
					if len(b) != n || cap(b) != n {
						t.Fatalf("claim view len %d cap %d, want %d", len(b), cap(b), n)
					}
					fill(b, i)
					if err := w.Commit(n); err != nil {
						t.Fatal(err)
					}
					f, err := r.Next(ctx)
					if err != nil {
						t.Fatal(err)
					}
					want := make([]byte, n)
					fill(want, i)
					if f.Type != uint32(1+i%7) || f.Seq != uint64(i+1) || !bytes.Equal(f.Data, want) || cap(f.Data) != n {
						t.Fatalf("frame %d: type %d seq %d len %d cap %d", i, f.Type, f.Seq, len(f.Data), cap(f.Data))
					}
					r.Release()
				}
			})
			t.Run("a partial commit delivers only the committed bytes and the next frame follows it", func(t *testing.T) {
				seg := shmtest.NewSegment(t, oneRing(kind, 4096))
				w, r := pair(t, seg)
				ctx := context.Background()
				for i := 0; i < 200; i++ {
					b, _ := w.Claim(ctx, 3, 500)
					fill(b, i) // bytes past the commit must not resurface as records
					if err := w.Commit(5); err != nil {
						t.Fatal(err)
					}
					if err := w.Write(ctx, 4, []byte("next")); err != nil {
						t.Fatal(err)
					}
					f, err := r.Next(ctx)
					if err != nil || len(f.Data) != 5 || f.Data[0] != byte(i*31) {
						t.Fatalf("round %d: %v %v", i, f, err)
					}
					f, err = r.Next(ctx)
					if err != nil || string(f.Data) != "next" || f.Type != 4 {
						t.Fatalf("round %d: %q %v", i, f.Data, err)
					}
					r.Release()
				}
			})
			t.Run("an aborted claim is never delivered", func(t *testing.T) {
				seg := shmtest.NewSegment(t, oneRing(kind, 4096))
				w, r := pair(t, seg)
				ctx := context.Background()
				for i := 0; i < 100; i++ {
					b, _ := w.Claim(ctx, 1, 300)
					fill(b, i)
					if err := w.Abort(); err != nil {
						t.Fatal(err)
					}
					w.Write(ctx, 2, []byte{byte(i)})
					f, err := r.Next(ctx)
					if err != nil || f.Type != 2 || f.Data[0] != byte(i) {
						t.Fatalf("round %d: %+v %v", i, f, err)
					}
					r.Release()
				}
				if _, ok, _ := r.TryNext(); ok {
					t.Fatal("an aborted frame was delivered")
				}
			})
			t.Run("a full ring refuses TryClaim until the reader releases", func(t *testing.T) {
				seg := shmtest.NewSegment(t, oneRing(kind, 4096))
				w, r := pair(t, seg)
				n := 0
				for ; ; n++ {
					if _, err := w.TryClaim(1, 100); err != nil {
						if !errors.Is(err, shm.ErrFull) {
							t.Fatal(err)
						}
						break
					}
					w.Commit(100)
				}
				if n != 4096/128 {
					t.Fatalf("%d frames of 128-byte records fit in 4096 bytes, want 32", n)
				}
				if _, ok, _ := r.TryNext(); !ok {
					t.Fatal("no frame")
				}
				if _, err := w.TryClaim(1, 100); !errors.Is(err, shm.ErrFull) {
					t.Fatal("read but unreleased frames must not be overwritten")
				}
				r.Release()
				if _, err := w.TryClaim(1, 100); err != nil {
					t.Fatal(err)
				}
				rings, _, _ := seg.Stats()
				if rings[0].FullStalls < 2 {
					t.Fatalf("full stalls %d, want >= 2", rings[0].FullStalls)
				}
			})
			t.Run("a blocked writer wakes when the reader releases", func(t *testing.T) {
				seg := shmtest.NewSegment(t, oneRing(kind, 4096))
				w, r := pair(t, seg, shm.Spin(0))
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				for {
					if _, err := w.TryClaim(1, 1000); err != nil {
						break
					}
					w.Commit(1000)
				}
				done := make(chan error, 1)
				go func() {
					_, err := w.Claim(ctx, 1, 1000)
					if err == nil {
						err = w.Commit(1000)
					}
					done <- err
				}()
				time.Sleep(20 * time.Millisecond)
				r.TryNext()
				r.Release()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			})
			t.Run("Next honours deadlines and cancellation while asleep", func(t *testing.T) {
				seg := shmtest.NewSegment(t, oneRing(kind, 4096))
				_, r := pair(t, seg, shm.Spin(0))
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
				defer cancel()
				if _, err := r.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("got %v, want DeadlineExceeded", err)
				}
				ctx, cancel = context.WithCancel(context.Background())
				go func() { time.Sleep(20 * time.Millisecond); cancel() }()
				if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
					t.Fatalf("got %v, want Canceled", err)
				}
			})
			t.Run("Drain delivers a batch and releases it once", func(t *testing.T) {
				seg := shmtest.NewSegment(t, oneRing(kind, 1<<16))
				w, r := pair(t, seg)
				for i := 0; i < 10; i++ {
					w.Write(context.Background(), 1, []byte{byte(i)})
				}
				var got []byte
				n, err := r.Drain(4, func(f shm.Frame) error { got = append(got, f.Data[0]); return nil })
				if err != nil || n != 4 || !bytes.Equal(got, []byte{0, 1, 2, 3}) {
					t.Fatalf("drain: %d %v %v", n, got, err)
				}
				stop := errors.New("stop")
				n, err = r.Drain(100, func(f shm.Frame) error {
					if f.Data[0] == 6 {
						return stop
					}
					return nil
				})
				if n != 3 || !errors.Is(err, stop) {
					t.Fatalf("drain stopping at 6: %d %v", n, err)
				}
				n, _ = r.Drain(100, func(shm.Frame) error { return nil })
				if n != 3 || r.Lag() != 0 {
					t.Fatalf("drain rest: %d lag %d", n, r.Lag())
				}
			})
		})
	}
}

func TestWriterErrorsSayWhatIsWrong(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.SPSC, 4096))
	w, r := pair(t, seg)
	ctx := context.Background()
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"type 0 is reserved for padding", func() error { _, err := w.Claim(ctx, 0, 1); return err }(), shm.ErrBadType},
		{"types above 2^31-1 are reserved", func() error { _, err := w.Claim(ctx, 1<<31, 1); return err }(), shm.ErrBadType},
		{"a frame larger than half the ring can never fit", func() error { _, err := w.Claim(ctx, 1, w.MaxPayload()+1); return err }(), shm.ErrTooLarge},
		{"a negative size is too large", func() error { _, err := w.TryClaim(1, -1); return err }(), shm.ErrTooLarge},
		{"commit without a claim", w.Commit(0), shm.ErrNoClaim},
		{"abort without a claim", w.Abort(), shm.ErrNoClaim},
		{"a second writer on an spsc ring", func() error { _, err := seg.Writer("r"); return err }(), shm.ErrBusy},
		{"a second reader", func() error { _, err := seg.Reader("r"); return err }(), shm.ErrBusy},
		{"a ring that does not exist", func() error { _, err := seg.Reader("nope"); return err }(), shm.ErrNoRegion},
		{"a ring opened as a mailbox", func() error { _, err := seg.Mailbox("r"); return err }(), shm.ErrNoRegion},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
		}
	}
	if _, err := w.Claim(ctx, 1, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Claim(ctx, 1, 10); !errors.Is(err, shm.ErrClaimPending) {
		t.Errorf("claim while claimed: %v", err)
	}
	if err := w.Commit(11); err == nil {
		t.Error("committing more than claimed must fail")
	}
	w.Close()
	if _, err := w.Claim(ctx, 1, 1); !errors.Is(err, shm.ErrClosed) {
		t.Errorf("claim after close: %v", err)
	}
	r.Close()
	if _, _, err := r.TryNext(); !errors.Is(err, shm.ErrClosed) {
		t.Errorf("next after close: %v", err)
	}
	// Closing freed the roles.
	if w2, err := seg.Writer("r"); err != nil {
		t.Errorf("writer after close: %v", err)
	} else {
		w2.Close()
	}
}

func TestMPSCWritersInGoroutinesKeepEachWritersOrder(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.MPSC, 1<<16))
	r, err := seg.Reader("r")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const writers, per = 8, 20000
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for id := 0; id < writers; id++ {
		w, err := seg.Writer("r")
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(id int, w *shm.Writer) {
			defer wg.Done()
			defer w.Close()
			var buf [12]byte
			for i := 0; i < per; i++ {
				binary.LittleEndian.PutUint32(buf[:], uint32(id))
				binary.LittleEndian.PutUint64(buf[4:], uint64(i))
				if err := w.Write(ctx, 1, buf[:4+(i%9)]); err != nil {
					t.Error(err)
					return
				}
			}
		}(id, w)
	}
	next := make([]uint64, writers)
	var lastSeq uint64
	for got := 0; got < writers*per; got++ {
		f, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id := binary.LittleEndian.Uint32(f.Data)
		if f.Seq <= lastSeq {
			t.Fatalf("sequence went from %d to %d", lastSeq, f.Seq)
		}
		lastSeq = f.Seq
		if len(f.Data) >= 12 {
			if i := binary.LittleEndian.Uint64(f.Data[4:]); i != next[id] {
				t.Fatalf("writer %d: frame %d, want %d", id, i, next[id])
			}
		}
		next[id]++
		if got%64 == 0 {
			r.Release()
		}
	}
	r.Release()
	wg.Wait()
	for id, n := range next {
		if n != per {
			t.Fatalf("writer %d: %d frames, want %d", id, n, per)
		}
	}
}

// An MPSC writer stopped (alive) while holding the claim lock must not make
// others spin past their deadlines.
func TestMPSCLiveLockHolderDoesNotStallClaimsPastTheirDeadline(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.MPSC, 4096))
	holder, err := seg.Writer("r")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	w, err := seg.Writer("r", shm.Spin(0))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	raw := rawMap(t, seg)
	lock := seg.Header().Regions[0].Offset + shm.ClaimLockOffset
	binary.LittleEndian.PutUint32(raw[lock:], 0|1<<8) // slot 0, epoch 1: the live holder's token
	if _, err := w.TryClaim(1, 8); !errors.Is(err, shm.ErrFull) {
		t.Fatalf("TryClaim under a held lock: %v, want ErrFull", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := w.Claim(ctx, 1, 8); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Claim under a held lock: %v, want DeadlineExceeded", err)
	}
	binary.LittleEndian.PutUint32(raw[lock:], 0) // the holder resumes and unlocks
	if _, err := w.TryClaim(1, 8); err != nil {
		t.Fatal(err)
	}
}

// A writer whose process died while holding the claim lock (its slot taken
// over: the token's epoch is stale) is robbed of it, and its half-made claim
// beyond the tail is adopted so that writers and the reader stay in step.
func TestMPSCLockOfADeadHolderIsStolenAndItsClaimAdopted(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.MPSC, 4096))
	w, r := pair(t, seg)
	ctx := context.Background()
	w.Write(ctx, 1, []byte("before"))
	raw := rawMap(t, seg)
	base := seg.Header().Regions[0].Offset
	le := binary.LittleEndian
	tail := le.Uint64(raw[base+shm.TailPositionOffset:])
	// Forge a claim by slot 5 (epoch 1, never registered: dead) that died
	// after writing its record but before publishing the tail.
	rec := base + shm.RingDataOffset + tail
	le.PutUint32(raw[rec+shm.RecordTypeOffset:], 1)
	le.PutUint32(raw[rec+shm.RecordWriterOffset:], 5|1<<8)
	le.PutUint64(raw[rec+shm.RecordSequenceOffset:], 99)
	le.PutUint32(raw[rec+shm.RecordSizeOffset:], uint32(0xFFFFFFFF-64+1)) // -64
	le.PutUint32(raw[base+shm.ClaimLockOffset:], 5|1<<8)
	if err := w.Write(ctx, 2, []byte("after")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		f, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(f.Data))
	}
	if got[0] != "before" || got[1] != "after" {
		t.Fatalf("got %q", got)
	}
	rings, _, _ := seg.Stats()
	if rings[0].AbandonedRecords != 1 {
		t.Fatalf("abandoned %d, want 1", rings[0].AbandonedRecords)
	}
}

// Aborted MPSC claims become padding that only the reader can free: a reader
// that has read nothing but padding must free it before it waits, or a
// writer waiting for that space and the reader wait for each other.
func TestReaderFreesPaddingBeforeWaiting(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.MPSC, 4096))
	w, r := pair(t, seg, shm.Spin(0))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 200; i++ { // six rings' worth of aborted claims
			if _, err := w.Claim(ctx, 1, 100); err != nil {
				done <- err
				return
			}
			w.Abort()
		}
		done <- w.Write(ctx, 1, []byte("after the aborts"))
	}()
	f, err := r.Next(ctx)
	if err != nil || string(f.Data) != "after the aborts" {
		t.Fatalf("%q %v", f.Data, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A writer re-attaching to an exactly full SPSC ring must not wipe it.
func TestWriterReattachingToAFullRingKeepsEveryFrame(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.SPSC, 4096))
	w, err := seg.Writer("r")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; ; n++ {
		if _, err := w.TryClaim(1, 104); err != nil { // 128-byte records fill 4096 exactly
			break
		}
		w.Commit(104)
	}
	w.Close()
	w, err = seg.Writer("r")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, _ := seg.Reader("r")
	defer r.Close()
	for i := 0; i < n; i++ {
		if _, ok, err := r.TryNext(); !ok || err != nil {
			t.Fatalf("frame %d of %d lost after the writer re-attached: %v", i, n, err)
		}
	}
}

// A reader left open (armed on a context) when its segment is closed must
// not touch the unmapped memory when that context is cancelled later.
func TestCancelAfterTheSegmentClosedIsHarmless(t *testing.T) {
	seg, err := shm.CreateMemfd("t", oneRing(shm.SPSC, 4096))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := seg.Writer("r")
	r, _ := seg.Reader("r", shm.Spin(0))
	ctx, cancel := context.WithCancel(context.Background())
	wrote := make(chan struct{})
	go func() {
		time.Sleep(20 * time.Millisecond)
		w.Write(context.Background(), 1, []byte("x"))
		close(wrote)
	}()
	if _, err := r.Next(ctx); err != nil { // sleeps armed on ctx, woken by the frame
		t.Fatal(err)
	}
	<-wrote
	seg.Close() // reader and writer still open, the wake-up still registered
	cancel()    // runs the wake-up now
	time.Sleep(20 * time.Millisecond)
}

// A reader holding a whole ring of unreleased frames would wait forever in
// Next (the writers wait for that very space): it gets an error instead.
func TestNextWithAWholeRingUnreleasedSaysToRelease(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.SPSC, 4096))
	w, r := pair(t, seg)
	for i := 0; i < 32; i++ {
		w.Write(context.Background(), 1, make([]byte, 104)) // 32 x 128 bytes: exactly full
	}
	for i := 0; i < 32; i++ {
		if _, ok, err := r.TryNext(); !ok || err != nil {
			t.Fatalf("frame %d: %v %v", i, ok, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.Next(ctx); !errors.Is(err, shm.ErrFull) {
		t.Fatalf("got %v, want ErrFull (call Release)", err)
	}
	r.Release()
	w.Write(ctx, 1, []byte("more"))
	if f, err := r.Next(ctx); err != nil || string(f.Data) != "more" {
		t.Fatalf("%q %v", f.Data, err)
	}
}
