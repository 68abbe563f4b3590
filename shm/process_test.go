package shm_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/framebridge/framebridge/internal/peer"
	"github.com/framebridge/framebridge/internal/shmtest"
	"github.com/framebridge/framebridge/shm"
)

// Tests in this file run writers and readers as real processes: the test
// binary re-executes itself as the peer program of docs/peers.md (see
// TestMain). Every test is bounded by a watchdog that kills the processes
// and fails with the ring's counters when something is stuck, so a lost
// wake-up or a missed death is a failure, never a hang.

// scaled picks a frame count: the full count in a normal run, fewer under
// the race detector (every access is instrumented) or with -short.
func scaled(full, race, short int) int {
	switch {
	case shmtest.Race:
		return race
	case testing.Short():
		return short
	}
	return full
}

// watchdog bounds a multi-process test.
func watchdog(t *testing.T) context.Context {
	limit := 45 * time.Second
	if shmtest.Race {
		limit = 100 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	return ctx
}

func ringSpec(kind shm.RingKind, capacity int) shm.Spec {
	return shm.Spec{Rings: []shm.RingSpec{{Name: "frames", Kind: kind, Capacity: capacity}}}
}

func ringStats(t *testing.T, seg *shm.Segment) shm.RingStats {
	t.Helper()
	rings, _, err := seg.Stats()
	if err != nil || len(rings) == 0 {
		t.Fatalf("stats: %v (%d rings)", err, len(rings))
	}
	return rings[0]
}

// payloadBytes is the total payload of frames 0..n-1 of the peer protocol.
func payloadBytes(z peer.Sizes, n int) uint64 {
	var b uint64
	for i := 0; i < n; i++ {
		b += uint64(z.Size(uint64(i)))
	}
	return b
}

// okField returns the value of key=value in a peer's "ok ..." line.
func okField(t *testing.T, line, key string) uint64 {
	t.Helper()
	for _, f := range strings.Fields(line) {
		if v, found := strings.CutPrefix(f, key+"="); found {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("%q: %s is not a number", line, key)
			}
			return n
		}
	}
	t.Fatalf("%q has no %s=", line, key)
	return 0
}

type streamCase struct {
	name    string
	kind    shm.RingKind
	writers int
	frames  int      // in total, split evenly among the writers
	extra   []string // flags for every peer
	wait    bool     // the test is about sleeping: both sides must have slept
}

func runStream(t *testing.T, tc streamCase) {
	seg := shmtest.NewSegment(t, ringSpec(tc.kind, 1<<16))
	ctx := watchdog(t)
	per := tc.frames / tc.writers
	total := per * tc.writers
	common := []string{"--segment", seg.Name(), "--ring", "frames"}
	reader := shmtest.Start(t, "reader", append(append([]string{"read", "--count", itoa(total), "--writers", itoa(tc.writers),
		"--seed", "99"}, common...), tc.extra...)...)
	if _, err := reader.Expect(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	procs := []*shmtest.Proc{reader}
	for w := 0; w < tc.writers; w++ {
		procs = append(procs, shmtest.Start(t, fmt.Sprintf("writer %d", w),
			append(append([]string{"write", "--count", itoa(per), "--size", "12:200", "--writer", itoa(w), "--seed", itoa(w + 1)},
				common...), tc.extra...)...))
	}
	shmtest.WaitAll(t, ctx, seg, procs...)

	line, err := reader.Expect(ctx, "ok")
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(tc.writers) * payloadBytes(peer.Sizes{Min: 12, Max: 200}, per)
	if got := okField(t, line, "frames"); got != uint64(total) {
		t.Errorf("reader got %d frames, want %d", got, total)
	}
	if got := okField(t, line, "bytes"); got != want {
		t.Errorf("reader got %d payload bytes, want %d", got, want)
	}
	st := ringStats(t, seg)
	if st.FramesWritten != uint64(total) || st.FramesRead != uint64(total) || st.BytesRead != want || st.Lag() != 0 {
		t.Errorf("counters after the run: %s", shmtest.Describe(seg))
	}
	if st.AbandonedRecords != 0 {
		t.Errorf("%d records abandoned, but no writer died", st.AbandonedRecords)
	}
	if tc.wait && (st.ReaderWaits == 0 || st.WriterWaits == 0) {
		t.Errorf("the test did not exercise sleeping (reader waits %d, writer waits %d): %s",
			st.ReaderWaits, st.WriterWaits, shmtest.Describe(seg))
	}
}

func TestProcessesStreamFramesWithSequenceAndContentChecks(t *testing.T) {
	frames := scaled(10_000_000, 200_000, 500_000)
	for _, tc := range []streamCase{
		{name: "one writer process streams to a reader process", kind: shm.SPSC, writers: 1, frames: frames},
		{name: "four writer processes share an mpsc ring with a reader process", kind: shm.MPSC, writers: 4, frames: frames},
	} {
		t.Run(tc.name, func(t *testing.T) { runStream(t, tc) })
	}
}

// With a zero spin budget every wait is a futex sleep, and random pauses on
// both sides make the ring alternate between empty (the reader sleeps) and
// full (the writers sleep). A lost wake-up leaves a side asleep forever:
// the watchdog then fails the test and prints the waiter counts.
func TestProcessesBlockingWaitsWithRandomPausesLoseNoWakeUp(t *testing.T) {
	frames := scaled(200_000, 20_000, 50_000)
	blocking := []string{"--spin-us", "0", "--pause-us", "200"}
	for _, tc := range []streamCase{
		{name: "one sleeping writer and a sleeping reader", kind: shm.SPSC, writers: 1, frames: frames, extra: blocking, wait: true},
		{name: "four sleeping writers and a sleeping reader", kind: shm.MPSC, writers: 4, frames: frames, extra: blocking, wait: true},
	} {
		t.Run(tc.name, func(t *testing.T) { runStream(t, tc) })
	}
}

// A writer killed between Claim and Commit leaves a claimed record that can
// never be committed. The reader (a process of its own) must recover it as
// soon as it sees the writer is dead, deliver every frame committed by every
// writer, and never the half-written one.
func TestProcessesMPSCWriterKilledBetweenClaimAndCommit(t *testing.T) {
	const hold = 1000
	per := scaled(200_000, 20_000, 50_000)
	seg := shmtest.NewSegment(t, ringSpec(shm.MPSC, 1<<16))
	ctx := watchdog(t)
	common := []string{"--segment", seg.Name(), "--ring", "frames", "--size", "12:200"}
	total := hold + 3*per
	reader := shmtest.Start(t, "reader", "read", "--segment", seg.Name(), "--ring", "frames",
		"--count", itoa(total), "--writers", "4")
	if _, err := reader.Expect(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	victim := shmtest.Start(t, "writer 0", append([]string{"write", "--writer", "0", "--count", itoa(hold + 10), "--hold-at", itoa(hold)}, common...)...)
	if _, err := victim.Expect(ctx, "holding "+itoa(hold)); err != nil {
		t.Fatal(err)
	}
	// The other writers claim after the held record, so the reader must get
	// past it to finish; the ring fills up behind it until the victim dies.
	procs := []*shmtest.Proc{reader}
	for w := 1; w <= 3; w++ {
		p := shmtest.Start(t, fmt.Sprintf("writer %d", w), append([]string{"write", "--writer", itoa(w), "--count", itoa(per)}, common...)...)
		if _, err := p.Expect(ctx, "ready"); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
	}
	victim.Kill()
	shmtest.WaitAll(t, ctx, seg, procs...)
	if !victim.Killed() {
		t.Fatalf("writer 0 was not killed by SIGKILL:\n%s", victim.Output())
	}
	line, err := reader.Expect(ctx, "ok")
	if err != nil {
		t.Fatal(err)
	}
	if got := okField(t, line, "abandoned"); got != 1 {
		t.Errorf("reader reports %d abandoned records, want 1 (%s)", got, line)
	}
	st := ringStats(t, seg)
	if st.FramesWritten != uint64(total) || st.FramesRead != uint64(total) || st.AbandonedRecords != 1 {
		t.Errorf("counters after the run: %s", shmtest.Describe(seg))
	}
	// Nothing is left: in particular not the half-written frame.
	r, err := seg.Reader("frames")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if f, ok, err := r.TryNext(); ok || err != nil {
		t.Errorf("ring not empty after every committed frame was read: frame %d bytes type %d seq %d, err %v", len(f.Data), f.Type, f.Seq, err)
	}
}

// inOrderReader reads frames in the test process and checks them as the
// peer reader does, plus the ring's sequence numbers: consecutive from the
// first frame it sees.
type inOrderReader struct {
	r       *shm.Reader
	next    map[uint32]uint64 // next frame index per writer
	lastSeq uint64
	frames  int
}

func (c *inOrderReader) read(ctx context.Context, n int) error {
	for i := 0; i < n; i++ {
		f, err := c.r.Next(ctx)
		if err != nil {
			return fmt.Errorf("after %d frames: %w", c.frames, err)
		}
		w, idx, err := peer.Ident(f.Data)
		if err != nil {
			return err
		}
		if want, seen := c.next[w]; seen && idx != want {
			return fmt.Errorf("writer %d: frame %d after %d (lost, duplicated or reordered)", w, idx, want-1)
		}
		if err := peer.Check(f.Data, w, idx); err != nil {
			return err
		}
		if c.lastSeq != 0 && f.Seq != c.lastSeq+1 {
			return fmt.Errorf("writer %d frame %d has sequence %d after %d", w, idx, f.Seq, c.lastSeq)
		}
		c.next[w], c.lastSeq = idx+1, f.Seq
		c.frames++
		if c.frames%16 == 0 {
			c.r.Release()
		}
	}
	c.r.Release()
	return nil
}

// An SPSC writer killed with a claim outstanding published nothing, but it
// had filled the claim's payload in free space. A restarted writer takes its
// slot over, its small records land on those bytes without being misread,
// the ring's sequence numbers continue, and the reader gets every committed
// frame of every writer.
func TestProcessesSPSCWriterKilledMidClaimThenRestarted(t *testing.T) {
	// Frame 5000 has 79 bytes: the dead claim's payload reaches past the
	// first 40-byte record of the restarted writer, onto the next size word.
	const hold = 5000
	more := scaled(100_000, 20_000, 50_000)
	seg := shmtest.NewSegment(t, ringSpec(shm.SPSC, 1<<20))
	ctx := watchdog(t)
	r, err := seg.Reader("frames")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := &inOrderReader{r: r, next: map[uint32]uint64{}}
	common := []string{"--segment", seg.Name(), "--ring", "frames"}

	victim := shmtest.Start(t, "writer 0", append([]string{"write", "--writer", "0", "--size", "12:200",
		"--count", itoa(hold + 10), "--hold-at", itoa(hold)}, common...)...)
	if _, err := victim.Expect(ctx, "holding "+itoa(hold)); err != nil {
		t.Fatal(err)
	}
	victim.Kill()
	if !victim.Killed() {
		t.Fatalf("writer 0 was not killed by SIGKILL:\n%s", victim.Output())
	}
	if err := c.read(ctx, hold); err != nil {
		t.Fatalf("frames of the killed writer: %v\n%s", err, shmtest.Describe(seg))
	}

	small := shmtest.Start(t, "writer 1 (restarted, small frames)", append([]string{"write", "--writer", "1", "--size", "12", "--count", "1"}, common...)...)
	shmtest.WaitAll(t, ctx, seg, small)
	if err := c.read(ctx, 1); err != nil {
		t.Fatalf("frames of the restarted writer: %v\n%s", err, shmtest.Describe(seg))
	}
	if f, ok, err := r.TryNext(); ok || err != nil {
		t.Fatalf("the reader reads the dead claim's bytes: ok=%t err=%v (%d bytes, type %d)", ok, err, len(f.Data), f.Type)
	}

	bulk := shmtest.Start(t, "writer 2 (restarted again)", append([]string{"write", "--writer", "2", "--size", "12:200", "--count", itoa(more)}, common...)...)
	if err := c.read(ctx, more); err != nil {
		t.Fatalf("frames of the second restarted writer: %v\n%s", err, shmtest.Describe(seg))
	}
	shmtest.WaitAll(t, ctx, seg, bulk)
	if c.next[0] != hold || c.next[1] != 1 || c.next[2] != uint64(more) {
		t.Errorf("got %d, %d and %d frames of writers 0, 1, 2; want %d, 1, %d", c.next[0], c.next[1], c.next[2], hold, more)
	}
	if c.lastSeq != uint64(hold+1+more) {
		t.Errorf("last sequence number %d, want %d: restarted writers must continue the sequence", c.lastSeq, hold+1+more)
	}
	if f, ok, err := r.TryNext(); ok || err != nil {
		t.Errorf("extra frame after all committed ones: %d bytes seq %d, err %v", len(f.Data), f.Seq, err)
	}
}

// A reader killed mid-stream is replaced by a new one, which continues from
// the last position the dead reader released. Frames the dead reader had
// read but not yet released are delivered again: delivery is at least once
// across a reader crash, and in order.
func TestProcessesReaderKilledMidStreamIsReplaced(t *testing.T) {
	frames := scaled(20_000, 20_000, 20_000) // all fit in the ring: the writer never waits for the dead reader
	seg := shmtest.NewSegment(t, ringSpec(shm.SPSC, 1<<22))
	ctx := watchdog(t)
	common := []string{"--segment", seg.Name(), "--ring", "frames"}
	writer := shmtest.Start(t, "writer", append([]string{"write", "--count", itoa(frames), "--size", "12:200"}, common...)...)
	victim := shmtest.Start(t, "reader", append([]string{"read", "--count", itoa(frames), "--writers", "1",
		"--pause-us", "2000", "--release-every", "100"}, common...)...)
	for ringStats(t, seg).FramesRead < uint64(frames/10) {
		if victim.Exited() || ctx.Err() != nil {
			t.Fatalf("reader did not get going: %v\n%s\n%s", ctx.Err(), victim.Output(), shmtest.Describe(seg))
		}
		time.Sleep(time.Millisecond)
	}
	victim.Kill()
	if !victim.Killed() {
		t.Fatalf("reader finished before it was killed; make it slower:\n%s", victim.Output())
	}
	head := ringStats(t, seg).Head

	r, err := seg.Reader("frames")
	if errors.Is(err, shm.ErrBusy) {
		t.Fatalf("the dead reader's slot is still held: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := r.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, first, err := peer.Ident(f.Data)
	if err != nil {
		t.Fatal(err)
	}
	if first == 0 || first >= uint64(frames) {
		t.Fatalf("new reader starts at frame %d; want it to continue mid-stream (head was %d)", first, head)
	}
	if first%100 != 0 {
		t.Errorf("new reader starts at frame %d, not at a release boundary (every 100 frames)", first)
	}
	if f.Seq != first+1 {
		t.Errorf("frame %d has sequence %d, want %d", first, f.Seq, first+1)
	}
	c := &inOrderReader{r: r, next: map[uint32]uint64{0: first + 1}, lastSeq: f.Seq, frames: 1}
	if err := c.read(ctx, frames-int(first)-1); err != nil {
		t.Fatalf("new reader: %v\n%s", err, shmtest.Describe(seg))
	}
	shmtest.WaitAll(t, ctx, seg, writer)
	if c.next[0] != uint64(frames) {
		t.Errorf("new reader ended at frame %d, want %d", c.next[0], frames)
	}
}

// holdSegment is a test-only peer command: create a named segment, print
// "ready" and wait to be killed (a creator process that dies).
func holdSegment(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: hold-segment NAME")
		return 2
	}
	seg, err := shm.Create(args[1], ringSpec(shm.SPSC, 4096), shm.Options{ReplaceStale: true})
	if err != nil {
		fmt.Printf("FAIL: %v\n", err)
		return 1
	}
	fmt.Printf("ready generation=%d\n", seg.Generation())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	return 0
}

// A creator that dies leaves its segment behind. A restarted creator
// replaces it with generation+1; processes still mapping the old one learn
// from Stale that they must re-attach.
func TestProcessesCreatorRestartBumpsGeneration(t *testing.T) {
	ctx := watchdog(t)
	name := shmtest.Name(t)
	t.Cleanup(func() { shm.Remove(name) })
	creator := shmtest.Start(t, "creator", "hold-segment", name)
	if _, err := creator.Expect(ctx, "ready generation=1"); err != nil {
		t.Fatal(err)
	}
	old, err := shm.Attach(name)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if stale, err := old.Stale(); stale || err != nil {
		t.Fatalf("fresh attachment: Stale() = %t, %v", stale, err)
	}
	if !old.Header().CreatorLive {
		t.Errorf("header says the creator (pid %d) is dead while it runs", old.Header().CreatorPID)
	}
	if _, err := shm.Create(name, ringSpec(shm.SPSC, 4096), shm.Options{ReplaceStale: true}); !errors.Is(err, shm.ErrExist) {
		t.Fatalf("ReplaceStale while the creator lives: err %v, want ErrExist", err)
	}

	creator.Kill()
	if _, err := shm.Create(name, ringSpec(shm.SPSC, 4096)); !errors.Is(err, shm.ErrExist) {
		t.Fatalf("Create without ReplaceStale over a dead creator's segment: err %v, want ErrExist", err)
	}
	seg, err := shm.Create(name, ringSpec(shm.SPSC, 4096), shm.Options{ReplaceStale: true})
	if err != nil {
		t.Fatalf("ReplaceStale after the creator died: %v", err)
	}
	defer seg.Close()
	if seg.Generation() != 2 {
		t.Errorf("re-created segment has generation %d, want 2", seg.Generation())
	}
	if stale, err := old.Stale(); !stale || err != nil {
		t.Errorf("old attachment after the re-creation: Stale() = %t, %v; want true", stale, err)
	}
	again, err := shm.Attach(name)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Generation() != 2 {
		t.Errorf("re-attached segment has generation %d, want 2", again.Generation())
	}
	if stale, err := again.Stale(); stale || err != nil {
		t.Errorf("new attachment: Stale() = %t, %v; want false", stale, err)
	}
	if _, err := shm.Create(name, ringSpec(shm.SPSC, 4096), shm.Options{ReplaceStale: true}); !errors.Is(err, shm.ErrExist) {
		t.Errorf("ReplaceStale while this process is the live creator: err %v, want ErrExist", err)
	}
}
