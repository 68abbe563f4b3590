package channel

import (
	"context"
	"fmt"
	"slices"

	"github.com/framebridge/framebridge/frames/fb"
)

// The gate (Client.gate) lets a caller that is alone on the client skip the
// general path's bookkeeping: a lone caller (solo) owns the lead and its
// call without the client mutex, the pending table or the call pool (the
// writer it takes as every sender does, under wmu). Every other Call (while
// a solo call runs, or while others run) takes the general path, counted in
// the gate. The two never run at once. A Call goes solo only when the gate
// is 0: no solo call, nobody waiting for one to end, nobody on the general
// path; so a caller that waits is not overtaken by a looping solo caller.
//
//	bit 0       gateSolo: a solo call runs
//	bits 1-31   callers waiting for the solo call to end (gateWaiter each)
//	bits 32-62  callers on the general path (gateSlow each)
const (
	gateSolo   = 1
	gateWaiter = 1 << 1
	gateSlow   = 1 << 32
)

// enterGeneral counts the caller on the general path, after any solo call
// has left. A caller that has to wait for one waits until ctx is done or the
// connection ends (a solo call's read callback can take as long as it likes).
func (c *Client) enterGeneral(ctx context.Context) error {
	for {
		s := c.gate.Load()
		if s&gateSolo == 0 {
			if c.gate.CompareAndSwap(s, s+gateSlow) {
				return nil
			}
			continue
		}
		if !c.gate.CompareAndSwap(s, s+gateWaiter) {
			continue
		}
		// While a waiter is counted the gate is not 0: once the solo
		// call leaves, none starts before we are in.
		c.mu.Lock()
		if c.gate.Load()&gateSolo == 0 {
			c.mu.Unlock()
			c.gate.Add(gateSlow - gateWaiter)
			return nil
		}
		w := c.newCallLocked() // for its wake channel
		c.gateq = append(c.gateq, w)
		dead := c.deadErr != nil
		c.mu.Unlock()
		if !dead {
			select {
			case <-w.wake:
			case <-ctx.Done():
			}
		}
		c.mu.Lock()
		c.gateq = slices.DeleteFunc(c.gateq, func(q *call) bool { return q == w })
		select { // a wake that raced with ctx
		case <-w.wake:
		default:
		}
		c.free = append(c.free, w)
		solo, deadErr := c.gate.Load()&gateSolo != 0, c.deadErr
		c.mu.Unlock()
		if !solo {
			c.gate.Add(gateSlow - gateWaiter)
			return nil
		}
		c.gate.Add(-gateWaiter)
		switch {
		case deadErr != nil:
			return deadErr
		case ctx.Err() != nil:
			return fmt.Errorf("channel call: waiting for the client's single caller: %w", ctx.Err())
		}
	}
}

// wakeGateLocked wakes the callers waiting at the gate (under mu).
func (c *Client) wakeGateLocked() {
	for _, w := range c.gateq {
		signal(w)
	}
	c.gateq = c.gateq[:0]
}

// leaveGeneral undoes enterGeneral.
func (c *Client) leaveGeneral() { c.gate.Add(-gateSlow) }

// leaveSolo ends a solo call, waking the callers waiting at the gate and
// teardown, which waits for the solo call to leave the rings.
func (c *Client) leaveSolo() {
	if c.gate.CompareAndSwap(gateSolo, 0) {
		if c.dead.Load() {
			c.mu.Lock()
			c.idle.Broadcast()
			c.mu.Unlock()
		}
		return
	}
	// Waiters: they look at the gate under mu.
	c.mu.Lock()
	c.gate.Add(-gateSolo)
	c.wakeGateLocked()
	c.idle.Broadcast()
	c.mu.Unlock()
}

// callSolo is Call for a caller that found the gate at 0 and set gateSolo.
// It sends and, when the response comes within the spin budget, reads it,
// touching only what the gate gives it. Anything else (a full ring, no
// response yet, another call's late response) moves the call to the
// general path, which waits, sleeps and handles errors.
func (c *Client) callSolo(ctx context.Context, req *Request, read func(*fb.Envelope) error) error {
	if c.dead.Load() {
		c.leaveSolo()
		return c.deadError()
	}
	var dl int64
	if d, ok := ctx.Deadline(); ok {
		dl = d.UnixNano()
	}
	// No call is pending while the gate is solo (general callers remove
	// theirs before they leave), so the next id is free.
	if c.nextID++; c.nextID == 0 {
		c.nextID++
	}
	id := c.nextID
	if !c.sendSolo(req, id, dl) {
		// Not sent: the general path waits for space (or fails fast).
		c.leaveSolo()
		if err := c.enterGeneral(ctx); err != nil {
			return err
		}
		defer c.leaveGeneral()
		return c.callGeneral(ctx, req, read)
	}
	c.releaseHeld() // the previous response, while the server works on ours
	f, ok, err := c.r.TryNext()
	if err == nil && !ok {
		f, ok, err = c.spinNext()
	}
	if err == nil && ok {
		c.held = true
		mine, perr := c.dispatch(f, id)
		if perr != nil {
			c.releaseHeld()
			c.protocolError(perr)
			c.leaveSolo()
			return c.deadError()
		}
		if mine {
			return c.readSolo(read)
		}
	}
	// The call goes on as a general leader: lead sleeps, watches ctx and
	// the connection, and reads other calls' responses.
	cl := c.demoteSolo(id)
	defer c.leaveGeneral()
	if done, err := c.lead(ctx, cl, read, err == nil && !ok); done {
		return err
	}
	return c.await(ctx, cl, read)
}

// readSolo reads a solo call's response in place (the frame stays held
// until the next call) and ends the call, also when read panics or calls
// runtime.Goexit. Panics are told apart as readInPlace does (readPanic), in
// one defer.
func (c *Client) readSolo(read func(*fb.Envelope) error) (err error) {
	done := false
	defer func() {
		if done {
			return
		}
		var userPanic any
		err, userPanic = c.readPanic(recover()) // nil, nil: runtime.Goexit
		c.soloCalls.Add(1)
		c.leaveSolo()
		if userPanic != nil {
			panic(userPanic) // the callback's own, now that the client is in order
		}
	}()
	err = result(c.leadSt, &c.leadEnv, read)
	done = true
	c.soloCalls.Add(1)
	c.leaveSolo()
	return err
}

// sendSolo builds and commits a solo call's request if the writer is free
// (a Send may be writing: Send takes no part in the gate, so that a read
// callback may send) and the ring has room at once (false: nothing sent).
// The caller's build callback may panic: the call then ends and the panic
// goes on.
func (c *Client) sendSolo(req *Request, id uint64, dl int64) (sent bool) {
	if !c.wmu.TryLock() {
		return false
	}
	if !req.needsBuilder() { // no callback to recover from
		err := c.writeRequest(req, fb.KindRequest, id, dl)
		if err == nil {
			c.w.WarmNext() // while the server works
		}
		c.wmu.Unlock()
		return err == nil
	}
	done := false
	defer func() {
		c.wmu.Unlock()
		if !done { // the build callback panicked (or called Goexit)
			p := recover()
			c.leaveSolo()
			if p != nil {
				panic(p)
			}
		}
	}()
	err := c.writeRequest(req, fb.KindRequest, id, dl)
	done = true
	if err != nil {
		return false
	}
	c.w.WarmNext() // while the server works
	return true
}

// demoteSolo registers a sent solo call as pending, its caller as the
// leader, and turns the gate's solo call into one general caller.
func (c *Client) demoteSolo(id uint64) *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active++
	cl := c.newCallLocked()
	if 2*(c.npending+1) > len(c.pending) {
		c.growLocked()
	}
	cl.id = id
	c.pending[id&uint64(len(c.pending)-1)] = cl
	c.npending++
	c.leading = true
	// The solo call becomes one general caller; waiters (under mu) may come
	// in with it.
	c.gate.Add(gateSlow - gateSolo)
	c.wakeGateLocked()
	return cl
}
