package channel

import (
	"context"
	"time"
)

// callCtx is the handler's context, reused from request to request so that
// a handler that never looks at Done costs no allocation: Deadline reports
// the request's deadline, Err compares it with the clock, and only a call to
// Done builds a real deadline context (closed at the deadline or when the
// connection ends). It is valid only until the handler returns.
type callCtx struct {
	parent   context.Context // the connection's life
	deadline time.Time       // zero: none
	lazy     context.Context
	stop     context.CancelFunc
}

func (c *callCtx) reset(deadline time.Time) {
	if c.stop != nil {
		c.stop()
		c.stop, c.lazy = nil, nil
	}
	c.deadline = deadline
}

func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

func (c *callCtx) Done() <-chan struct{} {
	if c.lazy == nil {
		if c.deadline.IsZero() {
			c.lazy = c.parent
		} else {
			c.lazy, c.stop = context.WithDeadline(c.parent, c.deadline)
		}
	}
	return c.lazy.Done()
}

func (c *callCtx) Err() error {
	if c.lazy != nil {
		return c.lazy.Err()
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *callCtx) Value(key any) any { return c.parent.Value(key) }
