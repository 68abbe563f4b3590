package shm_test

// Adversarial review findings. Each test demonstrates one suspected bug and
// is skipped (t.Skip("REVIEW: ...")) so that the suite stays green until the
// bug is fixed; remove the Skip line to reproduce (each fails deterministically).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/framebridge/framebridge/internal/shmtest"
	"github.com/framebridge/framebridge/shm"
)

// ringBase returns the raw mapping and the offset of region 0.
func ringBase(t *testing.T, seg *shm.Segment) ([]byte, uint64) {
	t.Helper()
	return rawMap(t, seg), seg.Header().Regions[0].Offset
}

// A malformed record makes the reader skip to the tail (§5.5, "zeroing what
// it skips"). skipCorrupt calls Release, which also zeroes and hands back to
// the writers frames delivered earlier that the caller still holds: their
// Data turns to zeros (or to a writer's new frame) before the caller's
// Release, contradicting "Data is valid until the Reader's next Release".
func TestReviewCorruptRecordDoesNotDestroyFramesStillHeld(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.SPSC, 4096), shmtest.AllowBadRecords())
	w, r := pair(t, seg)
	ctx := context.Background()
	want := []byte("held frame, not yet released")
	if err := w.Write(ctx, 1, want); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, 1, []byte("second")); err != nil {
		t.Fatal(err)
	}
	held, err := r.Next(ctx)
	if err != nil || !bytes.Equal(held.Data, want) {
		t.Fatalf("%q %v", held.Data, err)
	}
	// A scribbler breaks the second record's size word (tail stays valid).
	raw, base := ringBase(t, seg)
	second := base + shm.RingDataOffset + uint64(shm.RecordHeaderLength+len(want)+7)&^7
	binary.LittleEndian.PutUint32(raw[second:], 12)
	if _, _, err := r.TryNext(); !errors.Is(err, shm.ErrCorrupt) {
		t.Fatalf("TryNext over a malformed record: %v", err)
	}
	if !bytes.Equal(held.Data, want) {
		t.Fatalf("a frame delivered before the malformed record changed under the caller before its Release: %q", held.Data)
	}
	if rs := ringStats(t, seg); rs.Head != 0 {
		t.Fatalf("head moved to %d: the held frame was handed back to the writers without a Release", rs.Head)
	}
}

// layout.md §5.1 step 2 (and the C++ writer, ring.hpp PutPadding(..., 0)):
// an SPSC wrap padding record of >= 24 bytes has writer 0. Go's putPadding
// writes the writer token (slot 0 | epoch<<8), so Go and C++ produce
// different bytes for the same ring (schemas/testdata/wrapped.seg holds 256
// at the padding's writer field).
func TestReviewSPSCWrapPaddingHasWriterZero(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.SPSC, 4096))
	w, r := pair(t, seg)
	ctx := context.Background()
	for i := 0; i < 3; i++ { // 3 x 1024-byte records, read and released
		if err := w.Write(ctx, 1, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r.Release()
	w.Write(ctx, 1, make([]byte, 900))  // record 3072..4000
	w.Write(ctx, 1, make([]byte, 1000)) // 96 bytes of padding at 4000, then index 0
	raw, base := ringBase(t, seg)
	pad := raw[base+shm.RingDataOffset+4000:]
	le := binary.LittleEndian
	if size, typ := le.Uint32(pad[shm.RecordSizeOffset:]), le.Uint32(pad[shm.RecordTypeOffset:]); size != 96 || typ != shm.PaddingType {
		t.Fatalf("expected a 96-byte padding record at 4000, got size %d type %d", size, typ)
	}
	if wr := le.Uint32(pad[shm.RecordWriterOffset:]); wr != 0 {
		t.Fatalf("SPSC padding record has writer field %#x, layout.md §5.1 says 0", wr)
	}
}

// A writer killed between steps 3 and 4 of Commit (size word stored,
// NextSequence and tail not) leaves a committed record the next writer
// adopts (§5.2.1) - but the adopter takes NextSequence as is, so the next
// frame repeats the adopted frame's sequence number ("1, 2, 3, ... per ring").
func TestReviewAdoptedRecordAdvancesTheSequence(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.SPSC, 4096))
	w1, err := seg.Writer("r")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := w1.Write(ctx, 1, []byte("committed, tail not yet stored")); err != nil {
		t.Fatal(err)
	}
	// Undo step 4 as if the writer died right after the size-word store.
	raw, base := ringBase(t, seg)
	le := binary.LittleEndian
	le.PutUint64(raw[base+shm.TailPositionOffset:], 0)
	le.PutUint64(raw[base+shm.NextSequenceOffset:], 1)
	w1.Close() // frees the slot as death would (no claim outstanding)
	w2, err := seg.Writer("r")
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if err := w2.Write(ctx, 1, []byte("next")); err != nil {
		t.Fatal(err)
	}
	r, err := seg.Reader("r")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var seqs []uint64
	for i := 0; i < 2; i++ {
		f, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, f.Seq)
	}
	if seqs[0] != 1 || seqs[1] != 2 {
		t.Fatalf("sequences %v, want [1 2]", seqs)
	}
}

// layout.md §7 / threat-model item 5: Stale reports that the name refers to
// another segment. It compares generations only, so a segment removed and
// re-created (Remove + Create, or ReplaceStale over an unreadable leftover,
// both generation 1) is not detected. The inode (sys.FileInfo.Ino/Dev,
// already read by Fstat) identifies the object.
func TestReviewStaleDetectsARecreatedSegmentOfTheSameGeneration(t *testing.T) {
	name := shmtest.Name(t)
	spec := oneRing(shm.SPSC, 4096)
	old, err := shm.Create(name, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	defer shm.Remove(name)
	if err := old.Unlink(); err != nil {
		t.Fatal(err)
	}
	cur, err := shm.Create(name, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	stale, err := old.Stale()
	if err != nil {
		t.Fatal(err)
	}
	if !stale {
		t.Fatalf("the name now refers to another segment (both generation %d), but Stale() = false", cur.Generation())
	}
}

// /dev/shm is world-writable (sticky): any local user can put a FIFO at the
// path of a name we are about to attach. OpenExisting opens it with
// O_RDONLY (read-only attach: Stale, Create's ReplaceStale path, `stat`)
// without O_NONBLOCK, which blocks until someone opens the FIFO for writing.
// Attach hangs instead of refusing a non-regular file.
func TestReviewAttachRefusesANonRegularFileInsteadOfHanging(t *testing.T) {
	name := shmtest.Name(t)
	path := shm.Path(name)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	done := make(chan error, 1)
	go func() {
		s, err := shm.Attach(name, shm.AttachOptions{ReadOnly: true})
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("attached a FIFO")
		}
	case <-time.After(2 * time.Second):
		// Unblock the goroutine: a writer opening the FIFO releases the open.
		if fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			defer syscall.Close(fd)
		}
		<-done
		t.Fatal("Attach of a FIFO blocked for 2s in open(2) (would block forever)")
	}
}

// The threat model says "Memfd segments are sealed
// (F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL)", but CreateMemfd does not seal:
// only an explicit Seal() does, and AttachFd never checks the seals. Any
// holder of the descriptor can ftruncate it and every mapper gets SIGBUS.
func TestReviewMemfdSegmentIsSealedOnCreation(t *testing.T) {
	seg, err := shm.CreateMemfd("review", oneRing(shm.SPSC, 4096))
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	size := int64(seg.Header().Size)
	err = syscall.Ftruncate(seg.Fd(), shm.PageSize)
	if err == nil {
		syscall.Ftruncate(seg.Fd(), size) // restore before anyone touches the pages
		t.Fatal("a peer holding the memfd shrank it: the segment is not sealed (SIGBUS for every mapper)")
	}
}

// Reader.Lag subtracts releasedPos from the tail without checking order. In
// an SPSC ring the tail lags the committed records (Go stores it plainly
// after the commit; a writer killed between steps 3 and 4 leaves it behind
// until a new writer attaches), so after the reader releases such a record
// Lag wraps to ~2^64. RingStats.Lag guards this; Reader.Lag does not.
func TestReviewReaderLagNeverWrapsWhenTheTailLags(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.SPSC, 4096))
	w, r := pair(t, seg)
	ctx := context.Background()
	if err := w.Write(ctx, 1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	raw, base := ringBase(t, seg)
	le := binary.LittleEndian
	tail := le.Uint64(raw[base+shm.TailPositionOffset:])
	le.PutUint64(raw[base+shm.TailPositionOffset:], 0) // the writer died before its tail store
	defer le.PutUint64(raw[base+shm.TailPositionOffset:], tail)
	if _, err := r.Next(ctx); err != nil {
		t.Fatal(err)
	}
	r.Release()
	if lag := r.Lag(); lag > 4096 {
		t.Fatalf("Lag() = %d with nothing unreleased", lag)
	}
}

// A live mailbox writer that takes over from one that died mid-store (seq
// odd) publishes an explicit empty value at once (layout.md §5.6), so Load
// does not spin behind a store that never ends. (A writer stopped by SIGSTOP
// mid-store still makes Load spin: see the threat model.)
func TestReviewMailboxLoadDoesNotSpinForeverAfterTakeOver(t *testing.T) {
	seg := mailboxSegment(t, 64)
	raw := rawMap(t, seg)
	base := seg.Header().Regions[0].Offset
	binary.LittleEndian.PutUint64(raw[base+shm.MailboxSeqOffset:], 7) // odd: a store in progress
	binary.LittleEndian.PutUint64(raw[base+shm.MailboxWriterOwnerOffset:], 1<<32|0x7FFFFFF0)
	w, err := seg.MailboxWriter("m") // takes over the dead writer's role, stores nothing yet
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, _ := seg.Mailbox("m")
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		snap, err := r.Load(buf)
		if err == nil && (snap.Version != 4 || snap.Status != 0 || buf[0] != 0) {
			err = fmt.Errorf("after the take-over: %+v, want the explicit empty value (version 4, status 0, zero payload)", snap)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		w.Store(1, nil) // release the spinning goroutine
		<-done
		t.Fatal("Load spun for 2s (forever) behind a torn store whose new writer is alive")
	}
}

// Reachable from honest peers (see report: the stealer's adopt() loads head
// before the reader recovers+releases the dead holder's claim, then finds the
// zeroed size word and stops), an MPSC ring can be left with head > tail and
// the lock free. Nothing ever repairs it: tail = max(tail, head) is applied
// only after a steal, so every later claim of every writer is ErrCorrupt.
func TestReviewMPSCHeadPastTailHeals(t *testing.T) {
	seg := shmtest.NewSegment(t, oneRing(shm.MPSC, 4096))
	w, r := pair(t, seg)
	raw, base := ringBase(t, seg)
	le := binary.LittleEndian
	// The state after: dead holder claimed 64 bytes at 0 without a tail
	// store; the reader turned it into padding and released it (head 64);
	// the stealer adopted nothing (size word already zero) and unlocked.
	le.PutUint64(raw[base+shm.HeadPositionOffset:], 64)
	le.PutUint64(raw[base+shm.ReaderReleaseToOffset:], 64)
	_ = r
	for i := 0; i < 3; i++ {
		if _, err := w.TryClaim(1, 8); err != nil {
			le.PutUint64(raw[base+shm.TailPositionOffset:], 64) // let cleanup's invariant check pass
			t.Fatalf("claim %d: %v", i, err)
		}
		w.Commit(8)
	}
}

// Create with ReplaceStale treats an unreadable segment (ErrCorrupt) as a
// dead leftover and unlinks it. A segment whose creator is alive but still
// between CreateExclusive and the magic store (ftruncate/fallocate of a big
// segment takes a while) is exactly that: the replacer unlinks it and
// creates its own, and the two creators' peers end up on different objects.
func TestReviewReplaceStaleDoesNotReplaceASegmentStillBeingCreated(t *testing.T) {
	t.Skip("REVIEW: ReplaceStale unlinks a segment whose live creator has not stored the magic yet")
	name := shmtest.Name(t)
	path := shm.Path(name)
	// A live creator's first step: the file exists, empty, magic not stored.
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	defer shm.Remove(name)
	seg, err := shm.Create(name, oneRing(shm.SPSC, 4096), shm.Options{ReplaceStale: true})
	if err == nil {
		seg.Close()
		t.Fatal("ReplaceStale replaced a segment that a live process is still creating")
	}
	if !errors.Is(err, shm.ErrExist) {
		t.Fatalf("want ErrExist, got %v", err)
	}
}
