package shm_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/framebridge/framebridge/internal/peer"
	"github.com/framebridge/framebridge/internal/shmtest"
	"github.com/framebridge/framebridge/shm"
)

// A third process scribbles random bytes into a live ring — the data area
// and every part of the control block but the reader's own state (head,
// reader counters, reader slot) — while a writer process and a reader
// process run. The reader must neither panic nor hang: it gets ErrCorrupt
// errors, keeps going, and once the scribbling stops it reads clean frames
// again and exits normally.
func TestProcessesScribblerCannotCrashOrHangTheReader(t *testing.T) {
	seg := shmtest.NewSegment(t, shm.Spec{
		Rings:     []shm.RingSpec{{Name: "frames", Kind: shm.SPSC, Capacity: 1 << 16}},
		Mailboxes: []shm.MailboxSpec{{Name: "ctl", PayloadSize: 8}},
	}, shmtest.AllowBadRecords())
	ctx := watchdog(t)
	ctl, err := seg.MailboxWriter("ctl")
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	reader := shmtest.Start(t, "reader", "tolerant-read", seg.Name(), "frames")
	if _, err := reader.Expect(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	writer := shmtest.Start(t, "writer", "tolerant-write", seg.Name(), "frames")
	if _, err := writer.Expect(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	scribbler := shmtest.Start(t, "scribbler", "scribble", seg.Name(), "frames", "7", "1000")
	shmtest.WaitAll(t, ctx, seg, scribbler)
	ctl.Store(0, nil) // version 1: the scribbler is done
	shmtest.WaitAll(t, ctx, seg, reader)
	ctl.Store(0, nil) // version 2: the writer may stop
	shmtest.WaitAll(t, ctx, seg, writer)

	line, err := reader.Expect(ctx, "ok")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reader: %s; writer: %s", line, mustLine(t, ctx, writer))
	if okField(t, line, "corrupt") == 0 {
		t.Errorf("the reader saw no ErrCorrupt: the scribbler did not hit anything it reads (%s)\n%s", line, shmtest.Describe(seg))
	}
	if okField(t, line, "after_corrupt") == 0 {
		t.Errorf("the reader got no frame after its first ErrCorrupt (%s)", line)
	}
}

func mustLine(t *testing.T, ctx context.Context, p *shmtest.Proc) string {
	l, err := p.Expect(ctx, "ok")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// scribble NAME RING SEED MS: write random bytes into the ring for MS
// milliseconds, half of them just around the tail, where the reader is
// about to look.
func scribble(args []string) int {
	if len(args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: scribble NAME RING SEED MS")
		return 2
	}
	seed, _ := strconv.ParseInt(args[3], 10, 64)
	ms, _ := strconv.Atoi(args[4])
	seg, err := shm.Attach(args[1], shm.AttachOptions{ReadOnly: true})
	if err != nil {
		fmt.Printf("FAIL: %v\n", err)
		return 1
	}
	var region shm.Region
	for _, r := range seg.Header().Regions {
		if r.Name == args[2] {
			region = r
		}
	}
	seg.Close()
	f, err := os.OpenFile(shm.Path(args[1]), os.O_RDWR, 0)
	if err != nil {
		fmt.Printf("FAIL: %v\n", err)
		return 1
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, int(region.Offset+region.Length), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		fmt.Printf("FAIL: %v\n", err)
		return 1
	}
	ring := mem[region.Offset : region.Offset+region.Length]
	ctrl, data := ring[:shm.RingControlLength], ring[shm.RingDataOffset:]
	tail := (*uint64)(unsafe.Pointer(&ctrl[shm.TailPositionOffset]))
	readerOwn := func(off int) bool { // the reader's own state is off limits
		return off >= shm.HeadPositionOffset && off < shm.HeadPositionOffset+shm.CacheSlot ||
			off >= shm.ReaderCountersStart && off < shm.WriterSlotsOffset
	}
	rng := rand.New(rand.NewSource(seed))
	var buf [8]byte
	n := 0
	for end := time.Now().Add(time.Duration(ms) * time.Millisecond); time.Now().Before(end); n++ {
		rng.Read(buf[:])
		k := 1 + rng.Intn(8)
		switch p := rng.Intn(10); {
		case p < 5: // near the tail, where the next records go
			at := int(atomic.LoadUint64(tail)&uint64(len(data)-1)) + rng.Intn(512)
			if at+k <= len(data) {
				copy(data[at:at+k], buf[:k])
			}
		case p < 9:
			at := rng.Intn(len(data) - k)
			copy(data[at:at+k], buf[:k])
		default:
			at := rng.Intn(shm.RingControlLength - k)
			if !readerOwn(at) && !readerOwn(at+k-1) {
				copy(ctrl[at:at+k], buf[:k])
			}
		}
		time.Sleep(10 * time.Microsecond)
	}
	fmt.Printf("ok scribbles=%d\n", n)
	return 0
}

// tolerantWrite NAME RING: write peer frames until the "ctl" mailbox
// reaches version 2, re-attaching when the ring is found corrupt (as a
// user's writer would after ErrCorrupt).
func tolerantWrite(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: tolerant-write NAME RING")
		return 2
	}
	seg, err := shm.Attach(args[1])
	if err != nil {
		fmt.Printf("FAIL: %v\n", err)
		return 1
	}
	ctl, err := seg.Mailbox("ctl")
	if err != nil {
		fmt.Printf("FAIL: %v\n", err)
		return 1
	}
	open := func() *shm.Writer {
		for {
			w, err := seg.Writer(args[2])
			if err == nil {
				return w
			}
			if !errors.Is(err, shm.ErrCorrupt) && !errors.Is(err, shm.ErrBusy) {
				fmt.Printf("FAIL: open writer: %v\n", err)
				os.Exit(1)
			}
			time.Sleep(time.Millisecond)
		}
	}
	w := open()
	fmt.Println("ready")
	sizes := peer.Sizes{Min: 12, Max: 200}
	var frames, corrupt, timeouts, reattached int
	for i := uint64(0); ctl.Version() < 2; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		n := sizes.Size(i)
		b, err := w.Claim(ctx, peer.TypeData, n)
		cancel()
		switch {
		case err == nil:
			peer.Fill(b, 0, i)
			if err := w.Commit(n); err != nil {
				fmt.Printf("FAIL: commit: %v\n", err)
				return 1
			}
			frames++
		case errors.Is(err, context.DeadlineExceeded):
			timeouts++
		case errors.Is(err, shm.ErrPeerDead):
			// The reader is done (it exits once it has seen enough clean
			// frames) before the test tells this writer to stop.
			timeouts++
			time.Sleep(time.Millisecond)
		case errors.Is(err, shm.ErrCorrupt):
			corrupt++
			w.Close()
			w = open()
			reattached++
		default:
			fmt.Printf("FAIL: claim: %v\n", err)
			return 1
		}
	}
	w.Close()
	fmt.Printf("ok frames=%d corrupt=%d timeouts=%d reattached=%d\n", frames, corrupt, timeouts, reattached)
	return 0
}

// tolerantRead NAME RING: read with deadlines, counting ErrCorrupt, until
// the "ctl" mailbox says the scribbler is done and 1000 frames in a row
// have passed the peer content check.
func tolerantRead(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: tolerant-read NAME RING")
		return 2
	}
	seg, err := shm.Attach(args[1])
	if err != nil {
		fmt.Printf("FAIL: %v\n", err)
		return 1
	}
	ctl, err := seg.Mailbox("ctl")
	if err != nil {
		fmt.Printf("FAIL: %v\n", err)
		return 1
	}
	r, err := seg.Reader(args[2])
	if err != nil {
		fmt.Printf("FAIL: %v\n", err)
		return 1
	}
	fmt.Println("ready")
	var frames, corrupt, afterCorrupt, timeouts, clean int
	for clean < 1000 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		f, err := r.Next(ctx)
		cancel()
		switch {
		case err == nil:
			frames++
			if corrupt > 0 {
				afterCorrupt++
			}
			ok := f.Type == peer.TypeData && len(f.Data) >= peer.HeaderBytes
			if ok {
				w, i, _ := peer.Ident(f.Data)
				ok = w == 0 && peer.Check(f.Data, w, i) == nil && len(f.Data) == (peer.Sizes{Min: 12, Max: 200}).Size(i)
			}
			if ok && ctl.Version() >= 1 {
				clean++
			} else {
				clean = 0
			}
			if frames%16 == 0 {
				r.Release()
			}
		case errors.Is(err, shm.ErrCorrupt):
			corrupt++
			clean = 0
			// Hand back what we hold: if the tail is scribbled too, the
			// reader cannot skip, and the writer that will rewrite the tail
			// may be waiting for exactly this space.
			r.Release()
		case errors.Is(err, context.DeadlineExceeded):
			timeouts++
			r.Release()
		case errors.Is(err, shm.ErrFull):
			// Scribbled padding made the reader read a whole ring while it
			// held frames: Next says so instead of waiting forever.
			r.Release()
		default:
			fmt.Printf("FAIL: next: %v\n", err)
			return 1
		}
	}
	r.Close()
	fmt.Printf("ok frames=%d corrupt=%d after_corrupt=%d timeouts=%d\n", frames, corrupt, afterCorrupt, timeouts)
	return 0
}

// A writer may fill more of its claim than it commits, or abort it, or die
// holding it. Those bytes lie in free space, which the reader takes to read
// as zero ("nothing written here yet"): they must never be read as the size
// word of a later record.
func TestUncommittedClaimBytesAreNeverReadAsRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind shm.RingKind
		drop func(t *testing.T, seg *shm.Segment, w *shm.Writer, r *shm.Reader) *shm.Writer // leaves a dirty claim, returns the writer to go on with
	}{
		{"spsc: bytes of an aborted claim", shm.SPSC, abortClaim},
		{"spsc: bytes past a partial commit", shm.SPSC, partialCommit},
		{"spsc: bytes of a claim outstanding when its writer closed", shm.SPSC, closeWithClaim},
		{"mpsc: bytes of an aborted claim", shm.MPSC, abortClaim},
		{"mpsc: bytes past a partial commit", shm.MPSC, partialCommit},
		{"mpsc: bytes of a claim outstanding when its writer closed", shm.MPSC, closeWithClaim},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seg := shmtest.NewSegment(t, ringSpec(tc.kind, 4096))
			w, err := seg.Writer("frames")
			if err != nil {
				t.Fatal(err)
			}
			r, err := seg.Reader("frames")
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			w = tc.drop(t, seg, w, r)
			defer w.Close()
			// Small frames, whose size words land inside the dirty bytes.
			for i := 0; i < 3; i++ {
				if err := w.Write(context.Background(), 1, []byte{byte(i)}); err != nil {
					t.Fatal(err)
				}
				f, ok, err := r.TryNext()
				if err != nil || !ok || len(f.Data) != 1 || f.Data[0] != byte(i) {
					t.Fatalf("frame %d: ok=%t err=%v data=%x", i, ok, err, f.Data)
				}
				if f, ok, err := r.TryNext(); ok || err != nil {
					t.Fatalf("after frame %d the reader reads leftover claim bytes: ok=%t err=%v (%d bytes, type %d)", i, ok, err, len(f.Data), f.Type)
				}
			}
			r.Release()
		})
	}
}

func dirtyClaim(t *testing.T, w *shm.Writer) []byte {
	b, err := w.Claim(context.Background(), 1, 512)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xA8 // a plausible size word: a multiple of 8
	}
	return b
}

func abortClaim(t *testing.T, _ *shm.Segment, w *shm.Writer, _ *shm.Reader) *shm.Writer {
	dirtyClaim(t, w)
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	return w
}

func partialCommit(t *testing.T, _ *shm.Segment, w *shm.Writer, r *shm.Reader) *shm.Writer {
	b := dirtyClaim(t, w)
	b[0] = 0xEE
	if err := w.Commit(1); err != nil {
		t.Fatal(err)
	}
	if f, ok, err := r.TryNext(); !ok || err != nil || len(f.Data) != 1 || f.Data[0] != 0xEE {
		t.Fatalf("partially committed frame: ok=%t err=%v data=%x", ok, err, f.Data)
	}
	return w
}

func closeWithClaim(t *testing.T, seg *shm.Segment, w *shm.Writer, _ *shm.Reader) *shm.Writer {
	dirtyClaim(t, w)
	w.Close()
	w, err := seg.Writer("frames")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// A reader that has read a whole ring's worth without releasing finds its
// own oldest record at the next index: it must report "nothing new" (until
// it releases), neither deliver its frames again nor call them corrupt.
func TestReaderThatReadAWholeRingWithoutReleasingSeesNothingNew(t *testing.T) {
	seg := shmtest.NewSegment(t, ringSpec(shm.SPSC, 4096))
	w, err := seg.Writer("frames")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := seg.Reader("frames")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	payload := make([]byte, 64-shm.RecordHeaderLength) // 64-byte records: 64 of them fill the ring exactly
	for round := 0; round < 2; round++ {
		for i := 0; i < 4096/64; i++ {
			payload[0] = byte(i)
			if err := w.Write(context.Background(), 1, payload); err != nil {
				t.Fatalf("round %d frame %d: %v", round, i, err)
			}
		}
		for i := 0; i < 4096/64; i++ {
			f, ok, err := r.TryNext()
			if !ok || err != nil || f.Data[0] != byte(i) {
				t.Fatalf("round %d frame %d: ok=%t err=%v", round, i, ok, err)
			}
		}
		if f, ok, err := r.TryNext(); ok || err != nil {
			t.Fatalf("round %d: after a whole ring without Release: ok=%t err=%v (a frame of %d bytes)", round, ok, err, len(f.Data))
		}
		r.Release()
	}
}

// Cancelling a context that a sleeping Next registered with wakes the
// reader from another goroutine. Once Close has returned that wake-up must
// not touch the ring: the caller may unmap the segment right away.
func TestCancelRacingCloseNeverTouchesTheUnmappedSegment(t *testing.T) {
	for i := 0; i < 300; i++ {
		name := shmtest.Name(t)
		seg, err := shm.Create(name, ringSpec(shm.SPSC, 4096))
		if err != nil {
			t.Fatal(err)
		}
		shm.Remove(name)
		r, err := seg.Reader("frames", shm.Spin(0))
		if err != nil {
			t.Fatal(err)
		}
		w, err := seg.Writer("frames")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		wrote := make(chan error)
		go func() {
			time.Sleep(50 * time.Microsecond)
			wrote <- w.Write(context.Background(), 1, []byte("wake"))
		}()
		if _, err := r.Next(ctx); err != nil { // sleeps, registered with ctx, until the frame comes
			t.Fatal(err)
		}
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		cancel() // its wake-up runs on another goroutine, racing with Close and the unmap below
		w.Close()
		r.Close()
		if err := seg.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
