package shm

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framebridge/framebridge/internal/sys"
)

// DefaultSpin is the spin budget a waiter burns re-checking shared memory
// before it sleeps on the futex: long enough to catch a peer's reply in a
// request/response exchange (a few µs), short enough that an idle waiter
// costs nothing measurable.
const DefaultSpin = 50 * time.Microsecond

// LivenessPoll bounds a sleep that waits on a specific peer (a reader behind
// an uncommitted claim, a writer waiting for space), so that the peer's
// death is noticed without any help from it.
const LivenessPoll = 10 * time.Millisecond

// Option configures a Writer, Reader or Mailbox.
type Option func(*config)

type config struct {
	spin time.Duration
}

func defaultConfig(opts []Option) config {
	c := config{spin: DefaultSpin}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Spin sets the spin budget: how long a waiter re-checks shared memory
// before it sleeps. 0 sleeps at once (lowest CPU use, a futex wake-up per
// frame when the peer is slower than the waiter).
func Spin(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			d = 0
		}
		c.spin = d
	}
}

// eventcount is a sequence semaphore in shared memory: a futex word that
// counts signals and a count of announced waiters (docs/layout.md §6).
type eventcount struct {
	signal  *uint32
	waiters *uint32
}

func eventcountAt(b []byte, signalOff, waitersOff uint64) eventcount {
	return eventcount{signal: u32At(b, signalOff), waiters: u32At(b, waitersOff)}
}

// notify wakes sleepers if any are announced. It must follow the publishing
// seq-cst store. It makes no system call when nobody sleeps.
func (e eventcount) notify() bool {
	if atomic.LoadUint32(e.waiters) == 0 {
		return false
	}
	atomic.AddUint32(e.signal, 1)
	sys.FutexWake(e.signal, math.MaxInt32)
	return true
}

// prepare announces a waiter and returns the signal value to sleep on. The
// caller re-checks its condition after prepare and before sleep.
func (e eventcount) prepare() uint32 {
	atomic.AddUint32(e.waiters, 1)
	return atomic.LoadUint32(e.signal)
}

// cancel withdraws an announcement made by prepare.
func (e eventcount) cancel() { atomic.AddUint32(e.waiters, ^uint32(0)) }

// sleep waits until the signal moves past seen, the timeout (< 0: none)
// expires or a signal interrupts; then withdraws the announcement.
func (e eventcount) sleep(seen uint32, timeout time.Duration) {
	sys.FutexWait(e.signal, seen, timeout)
	e.cancel()
}

// poke wakes every sleeper unconditionally (context cancellation, Close).
func (e eventcount) poke() {
	atomic.AddUint32(e.signal, 1)
	sys.FutexWake(e.signal, math.MaxInt32)
}

// waiter holds what a sleeping Reader/Writer/Mailbox needs to honour a
// context: a registration that pokes the eventcount when ctx is done,
// kept while the same ctx is used so that blocking waits allocate nothing
// in steady state.
type waiter struct {
	seg   *Segment
	ec    eventcount
	armed context.Context
	stop  func() bool
	wake  func()

	// The wake-up runs on its own goroutine when ctx is done, possibly
	// after the owner was closed and the segment unmapped: close waits for
	// a running one and disables later ones.
	mu     sync.Mutex
	closed bool
}

func (w *waiter) init(seg *Segment, ec eventcount) {
	w.seg, w.ec = seg, ec
	w.wake = w.fire
}

// fire runs on its own goroutine. Holding the segment's read lock keeps the
// mapping alive while it pokes; Segment.Close takes the write lock to unmap,
// so a handle left open when its segment closes is never a use after unmap.
func (w *waiter) fire() {
	w.seg.mu.RLock()
	defer w.seg.mu.RUnlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed && !w.seg.closed.Load() {
		w.ec.poke()
	}
}

// close disarms for good; no wake-up touches the eventcount afterwards.
func (w *waiter) close() {
	w.disarm()
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// arm makes sure ctx's cancellation wakes the sleeper.
func (w *waiter) arm(ctx context.Context) {
	if ctx.Done() == nil || ctx == w.armed {
		return
	}
	w.disarm()
	w.armed = ctx
	w.stop = context.AfterFunc(ctx, w.wake)
}

func (w *waiter) disarm() {
	if w.stop != nil {
		w.stop()
		w.stop = nil
	}
	w.armed = nil
}

// timeout returns how long a sleep may last: until ctx's deadline, and at
// most bound (< 0: unbounded). expired reports a deadline already passed.
func sleepTimeout(ctx context.Context, bound time.Duration) (d time.Duration, expired bool) {
	d = bound
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return 0, true
		}
		if d < 0 || left < d {
			d = left
		}
	}
	return d, false
}

// spinUntil calls try until it reports done or the budget is spent. The
// clock is read once every 64 tries to keep the spin cheap.
func spinUntil(budget time.Duration, try func() bool) bool {
	if budget <= 0 {
		return false
	}
	start := time.Now()
	for i := 1; ; i++ {
		if try() {
			return true
		}
		if i&63 == 0 && time.Since(start) >= budget {
			return false
		}
	}
}
