package shm

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Frame is one record delivered by a Reader. Data aliases the ring: it is
// valid until the Reader's next Release, must not be modified, and its
// capacity equals its length.
type Frame struct {
	Data []byte
	Type uint32
	Seq  uint64
}

// Reader consumes frames from a ring. A ring has one live reader; a Reader
// is not safe for concurrent use.
type Reader struct {
	*ring
	cfg   config
	epoch uint32

	readPos     uint64 // next record to read
	releasedPos uint64 // last position stored to head

	frames, bytes, waits, wakes, bad uint64 // published with relaxed stores
	cFrames, cBytes, cWaits, cWakes  counter
	cBad, cAbandoned                 counter

	blockedPolls uint32 // consecutive TryNext calls stuck behind a claim
	zeroAt       uint64 // readPos+1 where zeroPassed first saw an overwritten size word
	zeroWaits    uint64 // r.waits then: the second sighting must come after a wait
	holding      bool   // a frame was delivered since the last Release
	cur          Frame  // the frame poll found (kept here: no copy through return values)
	sleeper      waiter
	closed       bool
}

type pollState uint8

const (
	pollGot     pollState = iota
	pollEmpty             // nothing committed past readPos
	pollBlocked           // a live writer's claim is not committed yet
)

// Reader attaches to ring name as its reader. It fails with ErrBusy while a
// live reader holds the ring; a dead reader is replaced, and the new Reader
// continues from the last position the old one released.
func (s *Segment) Reader(name string, opts ...Option) (*Reader, error) {
	if err := s.writable(); err != nil {
		return nil, fmt.Errorf("open reader on ring %q: %w", name, err)
	}
	rg, err := s.openRing(name)
	if err != nil {
		return nil, fmt.Errorf("open reader on ring %q: %w", name, err)
	}
	epoch, holder, ok, err := rg.readerSlot.take()
	if err != nil {
		return nil, fmt.Errorf("open reader on ring %q: %w", name, err)
	}
	if !ok {
		return nil, fmt.Errorf("open reader on ring %q: %w: ring already has a reader (pid %d)", name, ErrBusy, holder)
	}
	r := &Reader{ring: rg, cfg: defaultConfig(opts), epoch: epoch}
	head := atomic.LoadUint64(rg.head)
	if head%RecordAlignment != 0 {
		rg.readerSlot.release(epoch)
		return nil, fmt.Errorf("open reader on ring %q: %w", name,
			corrupt(name, "head position", HeadPositionOffset, head, "must be a multiple of 8"))
	}
	// Finish a release our predecessor died in (layout.md §5.3, §7).
	if to := load64(rg.ctrl, ReaderReleaseToOffset); to > head && to-head <= rg.capacity && to%RecordAlignment == 0 {
		rg.zero(head, to)
		head = to
		atomic.StoreUint64(rg.head, head)
	}
	r.readPos, r.releasedPos = head, head
	r.cFrames = newCounter(rg.ctrl, FramesReadOffset)
	r.cBytes = newCounter(rg.ctrl, BytesReadOffset)
	r.cWaits = newCounter(rg.ctrl, ReaderWaitsOffset)
	r.cWakes = newCounter(rg.ctrl, ReaderWakesOffset)
	r.cBad = newCounter(rg.ctrl, BadRecordsOffset)
	r.cAbandoned = newCounter(rg.ctrl, AbandonedRecordsOffset)
	r.frames, r.bytes, r.waits, r.wakes, r.bad = r.cFrames.load(), r.cBytes.load(), r.cWaits.load(), r.cWakes.load(), r.cBad.load()
	r.sleeper.init(s, rg.dataEC)
	return r, nil
}

// skipCorrupt drops everything up to the published tail after a malformed
// record: the bytes between cannot be parsed (docs/layout.md §5.5). If the
// tail itself is invalid the reader stays put and reports again next time.
func (r *Reader) skipCorrupt(field string, pos, value uint64, reason string) error {
	r.bad++
	r.cBad.setRelaxed(r.bad)
	t := atomic.LoadUint64(r.tail)
	// Writers never write past head + capacity, and head == releasedPos.
	if t > r.readPos && t-r.releasedPos <= r.capacity && t%RecordAlignment == 0 {
		// Zero only what is skipped: frames delivered before stay valid
		// until the caller's Release.
		r.zero(r.readPos, t)
		r.readPos = t
		r.releasePadding()
		return corrupt(r.name, field, pos, value, reason+"; skipped to the writer's tail")
	}
	return corrupt(r.name, field, pos, value, reason)
}

// zeroPassed reports whether the zero size word at readPos (index idx) is
// one the SPSC writer has committed past: its tail, stored after each
// commit's size word, is beyond readPos. Only a peer overwriting the size
// word makes that so; left alone it would stall a full ring for good (the
// writer waits for space behind a record the reader never sees). Two
// sightings at the same position, at least one wait apart, are required, so
// a tail store seen before its size word (weakly ordered CPUs) is not taken
// for corruption.
func (r *Reader) zeroPassed(idx uint64) bool {
	t := atomic.LoadUint64(r.tail)
	if !(t > r.readPos && t-r.releasedPos <= r.capacity && t%RecordAlignment == 0) ||
		atomic.LoadInt32(i32At(r.data, idx+RecordSizeOffset)) != 0 {
		r.zeroAt = 0
		return false
	}
	if r.zeroAt == r.readPos+1 && r.waits != r.zeroWaits {
		r.zeroAt = 0
		return true
	}
	if r.zeroAt != r.readPos+1 {
		r.zeroAt, r.zeroWaits = r.readPos+1, r.waits
	}
	return false
}

// poll looks for the next frame once, from the size word at readPos alone
// (layout.md §5.3). checkLiveness allows the (slow) liveness check of a
// writer whose claim blocks the reader.
func (r *Reader) poll(checkLiveness bool) (pollState, error) {
	for {
		if r.readPos-r.releasedPos >= r.capacity {
			// A whole ring read and not released: the size word here is
			// our own oldest record's. Nothing new before a Release.
			r.releasePadding()
			return pollEmpty, nil
		}
		idx := r.readPos & r.mask
		raw := atomic.LoadInt32(i32At(r.data, idx+RecordSizeOffset))
		if raw == 0 {
			if checkLiveness && r.kind == SPSC && r.zeroPassed(idx) {
				return pollEmpty, r.skipCorrupt("record size", r.readPos, 0,
					"zero where the writer's tail says a record was committed (its size word was overwritten)")
			}
			r.releasePadding()
			return pollEmpty, nil
		}
		size := uint64(raw)
		claimed := raw < 0
		if claimed {
			size = uint64(-int64(raw))
		}
		switch {
		case size%RecordAlignment != 0:
			return pollEmpty, r.skipCorrupt("record size", r.readPos, size, "must be a multiple of 8")
		case size > r.capacity-idx:
			return pollEmpty, r.skipCorrupt("record size", r.readPos, size, "record runs past the end of the data area")
		case r.readPos+size-r.releasedPos > r.capacity:
			// Writers never write past head+capacity; without this bound a
			// ring full of padding records loops the reader forever (§5.3).
			return pollEmpty, r.skipCorrupt("record size", r.readPos, size, "record ends more than a ring's capacity past the last release")
		}
		if claimed {
			if r.kind == SPSC {
				return pollEmpty, r.skipCorrupt("record size", r.readPos, uint64(uint32(raw)), "negative (claimed) size in an spsc ring")
			}
			if size < RecordHeaderLength {
				return pollEmpty, r.skipCorrupt("record size", r.readPos, size, "claimed record shorter than its header")
			}
			if !checkLiveness {
				r.releasePadding()
				return pollBlocked, nil
			}
			token := load32(r.data, idx+RecordWriterOffset)
			if !r.writerDead(token) {
				r.releasePadding()
				return pollBlocked, nil
			}
			// The verdict came after the size load: the writer may have
			// committed, then left its slot (or exited), in between. A dead
			// writer stores nothing more, so look again.
			if atomic.LoadInt32(i32At(r.data, idx+RecordSizeOffset)) != raw {
				continue
			}
			// The writer can never commit: turn its claim into padding (§5.4).
			put32(r.data, idx+RecordTypeOffset, PaddingType)
			atomic.StoreInt32(i32At(r.data, idx+RecordSizeOffset), int32(size))
			r.cAbandoned.add(1)
			continue
		}
		typ := load32(r.data, idx+RecordTypeOffset)
		if typ == PaddingType {
			r.readPos += size
			continue
		}
		if size < RecordHeaderLength {
			return pollEmpty, r.skipCorrupt("record size", r.readPos, size, "data record shorter than its header")
		}
		length := uint64(load32(r.data, idx+RecordLengthOffset))
		if length > size-RecordHeaderLength {
			return pollEmpty, r.skipCorrupt("record length", r.readPos, length, fmt.Sprintf("exceeds the record's %d payload bytes", size-RecordHeaderLength))
		}
		start := idx + RecordHeaderLength
		r.cur = Frame{
			Data: r.data[start : start+length : start+length],
			Type: typ,
			Seq:  load64(r.data, idx+RecordSequenceOffset),
		}
		r.readPos += size
		r.frames++
		r.bytes += length
		r.holding = true
		return pollGot, nil
	}
}

// releasePadding frees padding read since the last Release when no frame
// was delivered since: nobody else will release it, and a writer waiting
// for that space would wait for this reader forever (layout.md §5.3).
func (r *Reader) releasePadding() {
	if !r.holding && r.readPos != r.releasedPos {
		r.Release()
	}
}

// TryNext returns the next frame if one is committed. ok is false when the
// ring is empty or the next record's writer has not committed it yet.
func (r *Reader) TryNext() (f Frame, ok bool, err error) {
	if r.closed {
		return Frame{}, false, ErrClosed
	}
	r.blockedPolls++
	st, err := r.poll(r.blockedPolls&1023 == 0)
	if st == pollGot {
		r.blockedPolls = 0
		return r.cur, true, nil
	}
	if st != pollBlocked {
		r.blockedPolls = 0
	}
	return Frame{}, false, err
}

// Next returns the next frame, waiting for one until ctx is done: it spins
// for the spin budget, then sleeps on the ring's futex word. A claim left by
// a dead MPSC writer is skipped as soon as its death is seen.
func (r *Reader) Next(ctx context.Context) (Frame, error) {
	if r.closed {
		return Frame{}, ErrClosed
	}
	if r.readPos-r.releasedPos >= r.capacity {
		// Waiting could never end: the writers wait for this very space.
		return Frame{}, fmt.Errorf("next frame on ring %q: %w: the reader holds a whole ring of unreleased frames; call Release", r.name, ErrFull)
	}
	st, err := r.poll(false)
	if st == pollGot {
		return r.cur, nil
	}
	if err != nil {
		return Frame{}, err
	}
	if r.cfg.spin > 0 {
		done := spinUntil(r.cfg.spin, func() bool {
			st, err = r.poll(false)
			return st == pollGot || err != nil
		})
		if done {
			if err != nil {
				return Frame{}, err
			}
			return r.cur, nil
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return Frame{}, fmt.Errorf("next frame on ring %q: %w", r.name, err)
		}
		seen := r.dataEC.prepare()
		st, err = r.poll(true)
		if st == pollGot || err != nil {
			r.dataEC.cancel()
			if err != nil {
				return Frame{}, err
			}
			return r.cur, nil
		}
		bound := LivenessPoll
		if st == pollEmpty && r.zeroAt == 0 {
			// Nothing to re-check without a signal. A pending zeroPassed
			// sighting must be looked at again even if nobody signals (a
			// full ring's writer never does).
			bound = -1
		}
		timeout, expired := sleepTimeout(ctx, bound)
		if expired {
			r.dataEC.cancel()
			return Frame{}, fmt.Errorf("next frame on ring %q: %w", r.name, context.DeadlineExceeded)
		}
		r.sleeper.arm(ctx)
		r.waits++
		r.cWaits.setRelaxed(r.waits)
		r.dataEC.sleep(seen, timeout)
	}
}

// Release returns every frame delivered so far to the writers. Views of
// those frames must not be used afterwards. Release once per batch to
// amortise the shared store.
func (r *Reader) Release() {
	if r.readPos == r.releasedPos {
		return
	}
	put64(r.ctrl, ReaderReleaseToOffset, r.readPos) // lets a successor finish a release we die in
	r.zero(r.releasedPos, r.readPos)
	r.releasedPos = r.readPos
	r.holding = false
	atomic.StoreUint64(r.head, r.readPos)
	r.cFrames.setRelaxed(r.frames)
	r.cBytes.setRelaxed(r.bytes)
	if r.spaceEC.notify() {
		r.wakes++
		r.cWakes.setRelaxed(r.wakes)
	}
}

// zero clears the data bytes of positions [from, to): free space must read
// as zero, since a size word of 0 means "nothing written here yet".
func (rg *ring) zero(from, to uint64) {
	if to == from {
		return // from&mask == to&mask would otherwise read as "the whole ring"
	}
	if to-from >= rg.capacity {
		clear(rg.data)
		return
	}
	a, b := from&rg.mask, to&rg.mask
	if a < b || b == 0 {
		end := b
		if b == 0 {
			end = rg.capacity
		}
		clear(rg.data[a:end])
		return
	}
	clear(rg.data[a:])
	clear(rg.data[:b])
}

// Drain delivers up to max committed frames to fn without waiting, then
// releases them all at once. It stops early at fn's first error and returns
// how many frames fn saw.
func (r *Reader) Drain(max int, fn func(Frame) error) (int, error) {
	n := 0
	defer r.Release()
	for n < max {
		f, ok, err := r.TryNext()
		if err != nil || !ok {
			return n, err
		}
		n++
		if err := fn(f); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Lag returns how many bytes of records are published but not yet released.
func (r *Reader) Lag() uint64 {
	t := atomic.LoadUint64(r.tail)
	if t < r.releasedPos { // an SPSC tail may lag the records (layout.md §5.1)
		return 0
	}
	return t - r.releasedPos
}

// Close releases what was read and gives up the reader slot. Idempotent.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.Release()
	r.closed = true
	r.sleeper.close()
	r.readerSlot.release(r.epoch)
	return nil
}
