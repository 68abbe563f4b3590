package channel

import (
	"testing"
	"time"
)

// wallClock reads what time.Now reads (within the time between the two
// reads), before and after it resamples the wall clock.
func TestWallClockFollowsTheWallClock(t *testing.T) {
	var c wallClock
	check := func(when string) {
		before := time.Now().UnixNano()
		got := c.unixNano()
		after := time.Now().UnixNano()
		if got < before-int64(time.Millisecond) || got > after+int64(time.Millisecond) {
			t.Fatalf("%s: wallClock %d, time.Now between %d and %d", when, got, before, after)
		}
	}
	check("first read")
	time.Sleep(20 * time.Millisecond)
	check("advanced by the monotonic clock")
	sampled := c.at
	c.at = c.at.Add(-wallResample) // as if the last sample were a second old
	check("after a resample")
	if !c.at.After(sampled) {
		t.Fatal("a second after its last sample the wall clock was not read again")
	}
}
