package channel

import "time"

// wallClock gives CLOCK_REALTIME nanoseconds, to compare with the deadlines
// envelopes carry, for one monotonic clock read: time.Now reads the wall and
// the monotonic clock both, and a server checks a deadline before and after
// every handler. The wall clock is sampled at most once a second and
// advanced by the monotonic clock in between, so a step of the wall clock
// is seen within a second. Not safe for concurrent use: each goroutine that
// serves requests has its own.
type wallClock struct {
	at   time.Time // a time.Now reading (its monotonic part counts)
	unix int64     // at's wall clock, Unix ns
}

// wallResample bounds how long the wall clock goes unread.
const wallResample = time.Second

// unixNano returns the current CLOCK_REALTIME in ns.
func (c *wallClock) unixNano() int64 {
	if d := time.Since(c.at); d >= 0 && d < wallResample && !c.at.IsZero() {
		return c.unix + int64(d)
	}
	c.at = time.Now()
	c.unix = c.at.UnixNano()
	return c.unix
}
