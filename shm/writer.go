package shm

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/framebridge/framebridge/internal/sys"
)

// ring is what a Writer and a Reader share: the validated mapping of one ring region.
type ring struct {
	seg      *Segment
	name     string
	kind     RingKind
	ctrl     []byte // control block
	data     []byte // data area, capacity bytes
	capacity uint64
	mask     uint64

	tail    *uint64
	head    *uint64
	lock    *uint32
	nextSeq *uint64

	dataEC  eventcount
	spaceEC eventcount

	readerSlot ownerSlot
}

func (s *Segment) openRing(name string) (*ring, error) {
	r, err := s.region(name, KindSPSC, KindMPSC)
	if err != nil {
		return nil, err
	}
	mem := s.regionMem(r)
	ctrl := mem[:RingControlLength:RingControlLength]
	rg := &ring{
		seg:        s,
		name:       name,
		kind:       RingKind(r.Kind),
		ctrl:       ctrl,
		data:       mem[RingDataOffset : RingDataOffset+r.Capacity : RingDataOffset+r.Capacity],
		capacity:   r.Capacity,
		mask:       r.Capacity - 1,
		tail:       u64At(ctrl, TailPositionOffset),
		head:       u64At(ctrl, HeadPositionOffset),
		lock:       u32At(ctrl, ClaimLockOffset),
		nextSeq:    u64At(ctrl, NextSequenceOffset),
		dataEC:     eventcountAt(ctrl, DataSignalOffset, DataWaitersOffset),
		spaceEC:    eventcountAt(ctrl, SpaceSignalOffset, SpaceWaitersOffset),
		readerSlot: slotAt(ctrl, ReaderOwnerOffset),
	}
	return rg, nil
}

func (rg *ring) writerSlot(i int) ownerSlot {
	return slotAt(rg.ctrl, WriterSlotsOffset+uint64(i)*WriterSlotLength)
}

// writerDead reports whether the writer named by token can never commit:
// its slot was taken over (other epoch) or its process is gone.
func (rg *ring) writerDead(token uint32) bool {
	slot := int(token & 0xFF)
	if slot >= MaxWriters {
		return true
	}
	ws := rg.writerSlot(slot)
	w := atomic.LoadUint64(ws.word)
	if ownerEpoch(w)&0xFFFFFF != token>>8 {
		return true
	}
	return !ws.holderAlive(w)
}

// adopt publishes records a dead writer wrote beyond the tail without
// publishing it (layout.md §5.2.1). Callers hold the writer role: the SPSC
// slot, or the MPSC claim lock.
func (rg *ring) adopt() (tail, head uint64, err error) {
	tail, head = atomic.LoadUint64(rg.tail), atomic.LoadUint64(rg.head)
	orig := tail
	nextSeq := atomic.LoadUint64(rg.nextSeq)
	for {
		if head > tail && head-tail <= rg.capacity && head%RecordAlignment == 0 {
			tail = head // the reader consumed records the tail never covered
		}
		if err := rg.checkPositions(head, tail); err != nil {
			return 0, 0, err
		}
		for {
			idx := tail & rg.mask
			v := atomic.LoadInt32(i32At(rg.data, idx+RecordSizeOffset))
			size := uint64(v)
			if v < 0 {
				size = uint64(-int64(v))
			}
			if v == 0 || size%RecordAlignment != 0 || size > rg.capacity-idx || tail+size-head > rg.capacity {
				break
			}
			if size >= RecordHeaderLength {
				// An adopted record took a sequence number its writer may not
				// have published in NextSequence.
				if s := load64(rg.data, idx+RecordSequenceOffset); s != 0 && s >= nextSeq {
					nextSeq = s + 1
				}
			}
			tail += size
		}
		// The reader may have recovered and released what stood at the tail
		// meanwhile (zero again, head past it): follow it.
		h := atomic.LoadUint64(rg.head)
		if h <= tail || h-tail > rg.capacity || h%RecordAlignment != 0 {
			break
		}
		head = h
	}
	if tail != orig {
		atomic.StoreUint64(rg.tail, tail)
	}
	*rg.nextSeq = nextSeq
	return tail, head, nil
}

// checkPositions validates a head/tail pair read from shared memory.
func (rg *ring) checkPositions(head, tail uint64) error {
	if head > tail || tail-head > rg.capacity || head%RecordAlignment != 0 || tail%RecordAlignment != 0 {
		return corrupt(rg.name, "ring positions", TailPositionOffset, tail,
			fmt.Sprintf("head %d and tail %d must satisfy head <= tail <= head+%d, both multiples of 8", head, tail, rg.capacity))
	}
	return nil
}

// Writer appends frames to a ring. A Writer is not safe for concurrent use;
// give each goroutine its own (an MPSC ring takes up to 64).
type Writer struct {
	*ring
	cfg   config
	slot  int
	epoch uint32
	token uint32

	// SPSC: the writer's own position, never re-read from shared memory.
	tailLocal uint64
	headCache uint64
	seq       uint64 // sequence number the next record takes

	claimed   bool
	claimPos  uint64 // position of the record (after any padding)
	claimPad  uint64 // padding bytes before it (SPSC: not yet published)
	claimSize uint64
	claimN    int
	claimType uint32
	lastSize  uint64 // size of the last SPSC record committed (WarmNext)

	frames, bytes uint64 // SPSC: totals, published with relaxed stores
	cFrames       counter
	cBytes        counter
	cFull         counter
	cWaits        counter
	cWakes        counter

	space  waiter
	closed bool
}

// Writer attaches to ring name as a writer. An SPSC ring admits one live
// writer (ErrBusy otherwise); an MPSC ring up to MaxWriters. A writer that
// died is replaced transparently.
func (s *Segment) Writer(name string, opts ...Option) (*Writer, error) {
	if err := s.writable(); err != nil {
		return nil, fmt.Errorf("open writer on ring %q: %w", name, err)
	}
	rg, err := s.openRing(name)
	if err != nil {
		return nil, fmt.Errorf("open writer on ring %q: %w", name, err)
	}
	w := &Writer{ring: rg, cfg: defaultConfig(opts), slot: -1}
	slots := 1
	if rg.kind == MPSC {
		slots = MaxWriters
	}
	var holder int
	for i := 0; i < slots; i++ {
		epoch, h, ok, err := rg.writerSlot(i).take()
		if err != nil {
			return nil, fmt.Errorf("open writer on ring %q: %w", name, err)
		}
		if ok {
			w.slot, w.epoch = i, epoch
			break
		}
		holder = h
	}
	if w.slot < 0 {
		if rg.kind == SPSC {
			return nil, fmt.Errorf("open writer on ring %q: %w: spsc ring already has a writer (pid %d)", name, ErrBusy, holder)
		}
		return nil, fmt.Errorf("open writer on ring %q: %w: all %d writer slots are held by live processes", name, ErrBusy, MaxWriters)
	}
	w.token = writerToken(w.slot, w.epoch)
	w.cFrames = newCounter(rg.ctrl, FramesWrittenOffset)
	w.cBytes = newCounter(rg.ctrl, BytesWrittenOffset)
	w.cFull = newCounter(rg.ctrl, FullStallsOffset)
	w.cWaits = newCounter(rg.ctrl, WriterWaitsOffset)
	w.cWakes = newCounter(rg.ctrl, WriterWakesOffset)
	w.space.init(s, rg.spaceEC)
	if rg.kind == SPSC {
		// Resume after a previous writer: its published tail is ours, plus
		// anything it committed without publishing the tail.
		tail, head, err := rg.adopt()
		if err != nil {
			rg.writerSlot(w.slot).release(w.epoch)
			return nil, fmt.Errorf("open writer on ring %q: %w", name, err)
		}
		w.tailLocal, w.headCache = tail, head
		// A predecessor killed between Claim and Commit may have filled its
		// claim: free space must read as zero again before we write records
		// whose size words land inside those bytes (layout.md §5.1).
		rg.zero(tail, head+rg.capacity)
		w.seq = atomic.LoadUint64(rg.nextSeq)
		w.frames, w.bytes = w.cFrames.load(), w.cBytes.load()
	}
	return w, nil
}

// MaxPayload is the largest frame this ring accepts.
func (w *Writer) MaxPayload() int { return int(maxPayload(w.capacity)) }

func (w *Writer) checkClaim(typ uint32, n int) error {
	if w.closed {
		return ErrClosed
	}
	if w.claimed {
		return ErrClaimPending
	}
	if typ == PaddingType || typ > MaxUserType {
		return fmt.Errorf("claim on ring %q: %w: %d (use 1..%d)", w.name, ErrBadType, typ, MaxUserType)
	}
	if n < 0 || uint64(n) > maxPayload(w.capacity) {
		return fmt.Errorf("claim on ring %q: %w: %d bytes, the ring takes at most %d (capacity %d)",
			w.name, ErrTooLarge, n, maxPayload(w.capacity), w.capacity)
	}
	return nil
}

// TryClaim reserves n payload bytes for a frame of type typ and returns them
// as a writable view into the ring. It fails with ErrFull instead of waiting.
func (w *Writer) TryClaim(typ uint32, n int) ([]byte, error) {
	if err := w.checkClaim(typ, n); err != nil {
		return nil, err
	}
	ok, err := w.tryClaim(typ, n)
	if err != nil {
		return nil, err
	}
	if !ok {
		w.cFull.add(1)
		return nil, fmt.Errorf("claim %d bytes on ring %q: %w", n, w.name, ErrFull)
	}
	return w.view(), nil
}

// Claim reserves n payload bytes for a frame of type typ, waiting for space
// (spin, then sleep) until ctx is done. The returned view aliases the ring:
// fill it, then Commit or Abort. Its capacity is its length, so append
// cannot write past the claim.
func (w *Writer) Claim(ctx context.Context, typ uint32, n int) ([]byte, error) {
	if err := w.checkClaim(typ, n); err != nil {
		return nil, err
	}
	ok, err := w.tryClaim(typ, n)
	if err != nil || ok {
		if err != nil {
			return nil, err
		}
		return w.view(), nil
	}
	w.cFull.add(1)
	if err := w.waitSpace(ctx, typ, n); err != nil {
		return nil, err
	}
	return w.view(), nil
}

func (w *Writer) waitSpace(ctx context.Context, typ uint32, n int) error {
	var claimErr error
	try := func() bool {
		ok, err := w.tryClaim(typ, n)
		if err != nil {
			claimErr = err
			return true
		}
		return ok
	}
	if spinUntil(w.cfg.spin, try) {
		return claimErr
	}
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("claim %d bytes on ring %q: %w", n, w.name, err)
		}
		seen := w.spaceEC.prepare()
		if try() {
			w.spaceEC.cancel()
			return claimErr
		}
		if rw := atomic.LoadUint64(w.readerSlot.word); ownerPID(rw) != 0 && !w.readerSlot.holderAlive(rw) {
			w.spaceEC.cancel()
			return fmt.Errorf("claim %d bytes on ring %q: %w: reader pid %d died with the ring full; a new reader continues from its last release",
				n, w.name, ErrPeerDead, ownerPID(rw))
		}
		timeout, expired := sleepTimeout(ctx, LivenessPoll)
		if expired {
			w.spaceEC.cancel()
			return fmt.Errorf("claim %d bytes on ring %q: %w", n, w.name, context.DeadlineExceeded)
		}
		w.space.arm(ctx)
		w.cWaits.add(1)
		w.spaceEC.sleep(seen, timeout)
	}
}

func (w *Writer) view() []byte {
	i := (w.claimPos & w.mask) + RecordHeaderLength
	end := i + uint64(w.claimN)
	return w.data[i:end:end]
}

// tryClaim makes one attempt; ok=false means the ring is full.
func (w *Writer) tryClaim(typ uint32, n int) (bool, error) {
	if w.kind == SPSC {
		return w.tryClaimSPSC(typ, n)
	}
	return w.tryClaimMPSC(typ, n)
}

// padFor returns the padding needed before a record of size bytes at tail.
func (w *Writer) padFor(tail, size uint64) uint64 {
	idx := tail & w.mask
	if idx+size > w.capacity {
		return w.capacity - idx
	}
	return 0
}

// putPadding writes a padding record of pad bytes at data index idx. Only
// size and type are needed when pad < RecordHeaderLength.
func (w *Writer) putPadding(idx, pad uint64, writer uint32) {
	put32(w.data, idx+RecordTypeOffset, PaddingType)
	if pad >= RecordHeaderLength {
		put32(w.data, idx+RecordLengthOffset, 0)
		put32(w.data, idx+RecordWriterOffset, writer)
		put64(w.data, idx+RecordSequenceOffset, 0)
	}
	atomic.StoreInt32(i32At(w.data, idx+RecordSizeOffset), int32(pad))
}

func (w *Writer) tryClaimSPSC(typ uint32, n int) (bool, error) {
	size := recordSize(n)
	pad := w.padFor(w.tailLocal, size)
	need := pad + size
	if w.tailLocal-w.headCache+need > w.capacity {
		head := atomic.LoadUint64(w.head)
		if err := w.checkPositions(head, w.tailLocal); err != nil {
			return false, err
		}
		w.headCache = head
		if w.tailLocal-head+need > w.capacity {
			return false, nil
		}
	}
	// A claim writes nothing shared: the padding, if any, is written by Commit.
	w.claimed, w.claimPos, w.claimPad, w.claimSize, w.claimN, w.claimType = true, w.tailLocal+pad, pad, size, n, typ
	return true, nil
}

// lockSpinLimit bounds how long lockClaim tries before giving up on a live
// holder (one stopped by SIGSTOP, say): the caller then reports the ring
// full (TryClaim) or waits with its context's deadline (Claim).
const lockSpinLimit = 1 << 16

// lockClaim takes the MPSC claim lock. stolen reports that it was taken
// from a dead holder, whose half-made claim must then be adopted; locked is
// false if a live holder kept it for lockSpinLimit attempts.
func (w *Writer) lockClaim() (locked, stolen bool) {
	for i := 1; !atomic.CompareAndSwapUint32(w.lock, 0, w.token); i++ {
		if i == lockSpinLimit {
			return false, false
		}
		if i&1023 == 0 {
			// Our own token cannot be there legitimately (we never leave the
			// lock held): a stale or scribbled word that would look alive forever.
			if h := atomic.LoadUint32(w.lock); h != 0 && (h == w.token || w.writerDead(h)) &&
				atomic.CompareAndSwapUint32(w.lock, h, w.token) {
				return true, true
			}
		}
		if i&63 == 0 {
			sys.Yield() // let a preempted holder run
		}
	}
	return true, false
}

func (w *Writer) tryClaimMPSC(typ uint32, n int) (bool, error) {
	size := recordSize(n)
	locked, stolen := w.lockClaim()
	if !locked {
		return false, nil
	}
	if stolen {
		if _, _, err := w.adopt(); err != nil {
			atomic.StoreUint32(w.lock, 0)
			return false, err
		}
	}
	tail, head := atomic.LoadUint64(w.tail), atomic.LoadUint64(w.head)
	if head > tail && head-tail <= w.capacity && head%RecordAlignment == 0 {
		// The reader recovered and released a dead lock holder's claim that
		// never reached the tail (layout.md §5.2).
		tail = head
		atomic.StoreUint64(w.tail, tail)
	}
	if err := w.checkPositions(head, tail); err != nil {
		atomic.StoreUint32(w.lock, 0)
		return false, err
	}
	pad := w.padFor(tail, size)
	if tail-head+pad+size > w.capacity {
		atomic.StoreUint32(w.lock, 0)
		return false, nil
	}
	if pad > 0 {
		w.putPadding(tail&w.mask, pad, w.token)
	}
	pos := tail + pad
	idx := pos & w.mask
	seq := *w.nextSeq
	*w.nextSeq = seq + 1
	put32(w.data, idx+RecordTypeOffset, typ)
	put32(w.data, idx+RecordLengthOffset, 0)
	put32(w.data, idx+RecordWriterOffset, w.token)
	put64(w.data, idx+RecordSequenceOffset, seq)
	atomic.StoreInt32(i32At(w.data, idx+RecordSizeOffset), -int32(size))
	atomic.StoreUint64(w.tail, pos+size)
	atomic.StoreUint32(w.lock, 0)
	w.claimed, w.claimPos, w.claimPad, w.claimSize, w.claimN, w.claimType = true, pos, pad, size, n, typ
	return true, nil
}

// Commit publishes the claimed frame with its first n bytes (n may be less
// than claimed) and wakes the reader if it sleeps.
func (w *Writer) Commit(n int) error {
	if !w.claimed {
		return fmt.Errorf("commit on ring %q: %w", w.name, ErrNoClaim)
	}
	if n < 0 || n > w.claimN {
		return fmt.Errorf("commit %d bytes on ring %q: claimed only %d", n, w.name, w.claimN)
	}
	idx := w.claimPos & w.mask
	w.claimed = false
	if w.kind == SPSC {
		size := recordSize(n)
		if n < w.claimN {
			// The record shrinks: bytes the caller wrote past n are free
			// space again and must read as zero (layout.md §5.1).
			clear(w.data[idx+RecordHeaderLength+uint64(n) : idx+RecordHeaderLength+uint64(w.claimN)])
		}
		put32(w.data, idx+RecordTypeOffset, w.claimType)
		put32(w.data, idx+RecordLengthOffset, uint32(n))
		put32(w.data, idx+RecordWriterOffset, 0)
		put64(w.data, idx+RecordSequenceOffset, w.seq)
		if w.claimPad > 0 {
			w.putPadding((w.claimPos-w.claimPad)&w.mask, w.claimPad, 0) // SPSC records name writer 0
		}
		// The size word is the commit flag the reader polls (layout.md §5.1).
		atomic.StoreInt32(i32At(w.data, idx+RecordSizeOffset), int32(size))
		w.seq++
		*w.nextSeq = w.seq
		w.tailLocal = w.claimPos + size
		w.lastSize = size
		// A plain store: the seq-cst size-word store above is the commit
		// and orders it before the waiters load of notify. Nobody takes a
		// decision from an SPSC tail that could lag: a restarted writer
		// adopts committed records beyond it (layout.md §5.1, §5.2.1).
		put64(w.ctrl, TailPositionOffset, w.tailLocal)
		w.frames++
		w.bytes += uint64(n)
		w.cFrames.setRelaxed(w.frames)
		w.cBytes.setRelaxed(w.bytes)
	} else {
		put32(w.data, idx+RecordLengthOffset, uint32(n))
		atomic.StoreInt32(i32At(w.data, idx+RecordSizeOffset), int32(w.claimSize))
		w.cFrames.add(1)
		w.cBytes.add(uint64(n))
	}
	if w.dataEC.notify() {
		w.cWakes.add(1)
	}
	return nil
}

// Abort drops the claimed frame. In an MPSC ring the reader skips it as
// padding (its sequence number is seen as skipped).
func (w *Writer) Abort() error {
	if !w.claimed {
		return fmt.Errorf("abort on ring %q: %w", w.name, ErrNoClaim)
	}
	w.claimed = false
	if w.kind == SPSC {
		// The caller may have filled the claim; it is free space again.
		clear(w.view())
	}
	if w.kind == MPSC {
		idx := w.claimPos & w.mask
		put32(w.data, idx+RecordTypeOffset, PaddingType)
		atomic.StoreInt32(i32At(w.data, idx+RecordSizeOffset), int32(w.claimSize))
		w.dataEC.notify()
	}
	return nil
}

// Write claims len(p) bytes, copies p and commits: the convenience path for
// frames that already exist in memory.
func (w *Writer) Write(ctx context.Context, typ uint32, p []byte) error {
	b, err := w.Claim(ctx, typ, len(p))
	if err != nil {
		return err
	}
	copy(b, p)
	return w.Commit(len(p))
}

// Close aborts any outstanding claim and gives up the writer slot. It is
// idempotent.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	if w.claimed {
		w.Abort()
	}
	w.closed = true
	w.space.close()
	w.writerSlot(w.slot).release(w.epoch)
	return nil
}
