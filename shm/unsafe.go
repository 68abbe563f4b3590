package shm

// All pointer conversions of the package live in this file. Callers pass
// offsets that are constants or were validated against the slice length; the
// slice indexing below keeps Go's bounds check as a last line of defence, so
// a bug here panics in the library's own tests instead of reading outside
// the mapping.

import (
	"sync/atomic"
	"unsafe"
)

func u32At(b []byte, off uint64) *uint32 {
	_ = b[off+3]
	return (*uint32)(unsafe.Pointer(&b[off]))
}

func u64At(b []byte, off uint64) *uint64 {
	_ = b[off+7]
	return (*uint64)(unsafe.Pointer(&b[off]))
}

func i32At(b []byte, off uint64) *int32 {
	_ = b[off+3]
	return (*int32)(unsafe.Pointer(&b[off]))
}

// load32/load64 read a naturally aligned little-endian field with one
// atomic load, so a concurrent writer can never hand us a torn value.
func load32(b []byte, off uint64) uint32 { return atomic.LoadUint32(u32At(b, off)) }
func load64(b []byte, off uint64) uint64 { return atomic.LoadUint64(u64At(b, off)) }

// put32/put64 are plain stores: ordered before a later atomic store by the
// Go memory model (sync/atomic operations are sequentially consistent).
func put32(b []byte, off uint64, v uint32) { *u32At(b, off) = v }
func put64(b []byte, off uint64, v uint64) { *u64At(b, off) = v }

// counter is a statistics word in shared memory.
type counter struct{ p *uint64 }

func newCounter(b []byte, off uint64) counter { return counter{u64At(b, off)} }

func (c counter) add(n uint64) { atomic.AddUint64(c.p, n) }
func (c counter) load() uint64 { return atomic.LoadUint64(c.p) }

// setRelaxed stores a single-writer counter with a plain store: statistics
// need no ordering, and this keeps a locked instruction off the hot path.
func (c counter) setRelaxed(v uint64) { *c.p = v }
