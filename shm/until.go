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

// waitLimit is what ends a wait: a context (Next), or a deadline and a stop
// word (NextUntil). Passed by value: it allocates nothing.
type waitLimit struct {
	ctx      context.Context // nil: deadline and stop instead
	deadline time.Time
	stop     *atomic.Bool
}

// ended returns the sentinel for a wait that must end now, or nil.
func (l waitLimit) ended() error {
	if l.ctx != nil {
		return l.ctx.Err()
	}
	if stopped(l.stop) {
		return ErrStopped
	}
	return nil
}

// sleepFor is how long the next sleep may last, at most bound (< 0:
// unbounded); expired reports a deadline already passed.
func (l waitLimit) sleepFor(bound time.Duration) (time.Duration, bool) {
	if l.ctx != nil {
		return sleepTimeout(l.ctx, bound)
	}
	return untilTimeout(l.deadline, bound)
}

// NextUntil is Next without a context: it returns the next frame, waiting
// (spin, then sleep) until deadline (zero: none) or until *stop is set and
// Wake called. It returns context.DeadlineExceeded or ErrStopped, unwrapped,
// when the wait ends without a frame.
func (r *Reader) NextUntil(deadline time.Time, stop *atomic.Bool) (Frame, error) {
	return r.next(waitLimit{deadline: deadline, stop: stop})
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
