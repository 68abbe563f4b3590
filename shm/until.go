package shm

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Context-free waits.
//
// Next and Claim honour a context.Context: a sleep arms a context.AfterFunc
// on it, which allocates for every distinct context and stays registered
// after the wait (a later cancel then pokes the futex for nobody). A caller
// that makes many waits with short-lived contexts — one per call, say —
// uses these instead: they take an absolute deadline and a stop word that
// the caller owns. To end such waits early, set the word, then call Wake on
// the Reader or Writer; a waiter checks the word after announcing itself
// and before it sleeps, so the wake cannot be lost. They allocate nothing,
// and report the end of a wait with the bare sentinels context.DeadlineExceeded
// and ErrStopped (unwrapped, so that reporting allocates nothing either).

// untilTimeout returns how long a sleep may last: until deadline (zero:
// none), and at most bound (< 0: unbounded). expired reports a deadline
// already passed.
func untilTimeout(deadline time.Time, bound time.Duration) (d time.Duration, expired bool) {
	d = bound
	if !deadline.IsZero() {
		left := time.Until(deadline)
		if left <= 0 {
			return 0, true
		}
		if d < 0 || left < d {
			d = left
		}
	}
	return d, false
}

func stopped(stop *atomic.Bool) bool { return stop != nil && stop.Load() }

// NextUntil is Next without a context: it returns the next frame, waiting
// (spin, then sleep) until deadline (zero: none) or until *stop is set and
// Wake called. It returns context.DeadlineExceeded or ErrStopped, unwrapped,
// when the wait ends without a frame.
func (r *Reader) NextUntil(deadline time.Time, stop *atomic.Bool) (Frame, error) {
	if r.closed {
		return Frame{}, ErrClosed
	}
	if r.readPos-r.releasedPos >= r.capacity {
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
			return st == pollGot || err != nil || stopped(stop)
		})
		if done {
			switch {
			case err != nil:
				return Frame{}, err
			case st == pollGot:
				return r.cur, nil
			}
			return Frame{}, ErrStopped
		}
	}
	for {
		seen := r.dataEC.prepare()
		st, err = r.poll(true)
		if st == pollGot || err != nil {
			r.dataEC.cancel()
			if err != nil {
				return Frame{}, err
			}
			return r.cur, nil
		}
		// After prepare: a stopper that set the word later pokes the
		// signal we read, so the sleep below returns at once.
		if stopped(stop) {
			r.dataEC.cancel()
			return Frame{}, ErrStopped
		}
		bound := LivenessPoll
		if st == pollEmpty && r.zeroAt == 0 {
			// Nothing to re-check without a signal. A pending zeroPassed
			// sighting must be looked at again even if nobody signals (a
			// full ring's writer never does).
			bound = -1
		}
		timeout, expired := untilTimeout(deadline, bound)
		if expired {
			r.dataEC.cancel()
			return Frame{}, context.DeadlineExceeded
		}
		r.waits++
		r.cWaits.setRelaxed(r.waits)
		r.dataEC.sleep(seen, timeout)
	}
}

// Wake wakes whoever sleeps on this reader's ring for data (NextUntil after
// its stop word was set). It is safe from any goroutine at any time, also
// after Close or the segment's Close (it then does nothing).
func (r *Reader) Wake() { r.sleeper.fire() }

// Released returns the position up to which the ring's reader has released
// frames. A writer that finds the ring full reads it before its claim and
// passes it to AwaitRelease.
func (w *Writer) Released() uint64 { return atomic.LoadUint64(w.head) }

// AwaitRelease waits (spin, then sleep) until the reader has released past
// since (a value of Released read before a claim that found the ring full),
// until deadline (zero: none), or until *stop is set and Wake called. A
// reader that died with the ring full is reported as ErrPeerDead. Nothing
// is claimed: the caller claims again, and waits again if the space freed
// is still too little. It returns context.DeadlineExceeded or ErrStopped,
// unwrapped, when the wait ends without a release.
func (w *Writer) AwaitRelease(since uint64, deadline time.Time, stop *atomic.Bool) error {
	if w.closed {
		return ErrClosed
	}
	moved := func() bool { return atomic.LoadUint64(w.head) != since }
	if moved() {
		return nil
	}
	if spinUntil(w.cfg.spin, func() bool { return moved() || stopped(stop) }) {
		if moved() {
			return nil
		}
		return ErrStopped
	}
	// The reader's liveness is read from /proc (allocating, three system
	// calls): only once a sleep has lasted, so that a wait the reader ends
	// in time never pays for it, yet a dead reader is seen within
	// LivenessPoll or so.
	for slept := false; ; slept = true {
		seen := w.spaceEC.prepare()
		if moved() {
			w.spaceEC.cancel()
			return nil
		}
		if stopped(stop) {
			w.spaceEC.cancel()
			return ErrStopped
		}
		timeout, expired := untilTimeout(deadline, LivenessPoll)
		if expired {
			w.spaceEC.cancel()
			return context.DeadlineExceeded
		}
		if rw := atomic.LoadUint64(w.readerSlot.word); slept && ownerPID(rw) != 0 && !w.readerSlot.holderAlive(rw) {
			w.spaceEC.cancel()
			return fmt.Errorf("wait for space on ring %q: %w: reader pid %d died with the ring full; a new reader continues from its last release",
				w.name, ErrPeerDead, ownerPID(rw))
		}
		w.cWaits.add(1)
		w.spaceEC.sleep(seen, timeout)
	}
}

// Wake wakes whoever sleeps on this writer's ring for space (AwaitRelease
// after its stop word was set). Safe from any goroutine at any time, also
// after Close or the segment's Close.
func (w *Writer) Wake() { w.space.fire() }
