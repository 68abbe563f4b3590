package shm

import "sync/atomic"

// warmLines bounds how many cache lines WarmNext takes: a call's next
// request or response, not a whole burst.
const warmLines = 8

// WarmNext takes ownership, ahead of time, of the cache lines where the next
// SPSC record of the same size as the last one committed will be written,
// so that writing it later costs no cache misses. The ring's reader zeroes
// what it releases (layout.md §5.1), which leaves those lines in the reader's
// cache; without this, laying the next record waits for them one by one and
// the commit waits for them all. Call it while idle (waiting for a reply),
// from the goroutine that owns the writer. It only touches free space the
// writer owns, changes no byte (an atomic add of zero), and skips the line
// holding the size word the reader polls at the tail. MPSC rings: no-op.
func (w *Writer) WarmNext() {
	if w.kind != SPSC || w.claimed || w.lastSize == 0 {
		return
	}
	tail, size := w.tailLocal, w.lastSize
	start := tail + w.padFor(tail, size)
	end := min(start+size, w.headCache+w.capacity) // free space known without a shared read
	first := (tail | 63) + 1                       // the line after the tail's
	if start > tail {
		first = start &^ 63 // the record wraps to the data area's start
	}
	for p, n := first, 0; p < end && n < warmLines; p, n = p+64, n+1 {
		atomic.AddUint32(u32At(w.data, p&w.mask), 0)
	}
}
