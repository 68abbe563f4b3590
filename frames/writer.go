package frames

import (
	"context"
	"encoding/binary"
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/framebridge/framebridge/shm"
)

// Align is the multiple every type-16 claim is rounded up to: the largest
// alignment frame.fbs uses (Tensor.data, force_align 16), so that offsets
// aligned relative to the builder's end are aligned relative to the payload
// start (docs/schemas.md).
const Align = 16

// DefaultBound is the first claim a Writer makes before it has seen a frame.
const DefaultBound = 256

// boundWindow: a Writer shrinks its claim to the largest frame of the last
// boundWindow frames (it grows at once when a frame does not fit).
const boundWindow = 64

// A builder needs a little more room than it ends up using: it grows when the
// space left equals what it asks for, and its last alignment requests ask for
// up to minalign bytes more than they write. 9 bytes suffice when nothing is
// aligned beyond 8; each fallback adds 8, up to maxSlack.
const (
	minSlack = 9
	maxSlack = 64
)

// Stats count what a Writer did.
type Stats struct {
	Frames    uint64 // frames committed
	Bytes     uint64 // payload bytes committed (claims, gaps included)
	Built     uint64 // bytes of the built messages (without gaps)
	Fallbacks uint64 // frames that outgrew their claim (built off-ring and copied, or rebuilt in a bigger claim)
}

// Writer builds typed frames in place in a ring: each BuildFrame claims a
// bound, builds into the claimed view and commits. It keeps one FlatBuffers
// builder and adapts the bound to the sizes it builds, so the steady state
// allocates nothing. A Writer is not safe for concurrent use.
type Writer struct {
	w         *shm.Writer
	b         *flatbuffers.Builder
	bound     int
	fixed     bool
	slack     int // bytes a build needs beyond its size (learnt from fallbacks)
	window    int
	windowMax int
	stats     Stats
}

// WriterOption configures a Writer.
type WriterOption func(*Writer)

// Bound sets the first claim (rounded up to Align). With fixed, the Writer
// keeps that bound instead of adapting it (a frame that outgrows it still
// falls back, and is counted).
func Bound(n int, fixed bool) WriterOption {
	return func(fw *Writer) { fw.bound, fw.fixed = alignUp(n, Align), fixed }
}

// NewWriter wraps a ring writer. The Writer does not own w: close w yourself.
func NewWriter(w *shm.Writer, opts ...WriterOption) *Writer {
	fw := &Writer{w: w, b: flatbuffers.NewBuilder(0), bound: DefaultBound, slack: minSlack}
	for _, o := range opts {
		o(fw)
	}
	return fw
}

// Stats returns the Writer's counters.
func (fw *Writer) Stats() Stats { return fw.stats }

// BuildFrame builds one FlatBuffers frame (type 16) in place: it claims the
// current bound, points the builder at exactly the claimed view, calls build
// (which returns the root table, usually an Envelope), finishes with the file
// identifier FRB1, fixes the root offset at the payload start and commits.
// build runs exactly once. If the message outgrows the claim, the builder
// continues in heap memory and the finished message is copied into a new
// claim of the right size (Stats.Fallbacks). It returns the payload size
// committed.
//
// If build panics, the claim is aborted and the panic goes on.
func (fw *Writer) BuildFrame(ctx context.Context, build func(b *flatbuffers.Builder) flatbuffers.UOffsetT) (int, error) {
	n := min(fw.bound, fw.w.MaxPayload()&^(Align-1))
	view, err := fw.w.Claim(ctx, TypeFlatBuffers, n)
	if err != nil {
		return 0, fmt.Errorf("claim typed frame: %w", err)
	}
	view = view[:n:n] // the DESIGN gotcha: Reset and growth re-slice up to cap
	b := fw.b
	b.Bytes = view
	b.Reset()
	claimed := true
	defer func() {
		if claimed {
			fw.w.Abort()
		}
	}()
	root := build(b)
	b.FinishWithFileIdentifier(root, fileIdentifier)
	s := len(b.Bytes) - int(b.Head())

	if len(b.Bytes) == n && (n == 0 || &b.Bytes[0] == &view[0]) {
		fixRoot(view, n-s)
		claimed = false
		if err := fw.w.Commit(n); err != nil {
			return 0, err
		}
		fw.done(n, s)
		return n, nil
	}

	// Outgrown: the builder moved to the heap. Copy into a claim that fits.
	claimed = false
	if err := fw.w.Abort(); err != nil {
		return 0, err
	}
	fw.stats.Fallbacks++
	if !fw.fixed {
		fw.slack = min(fw.slack+8, maxSlack)
		fw.bound = alignUp(s+fw.slack+s/4, Align)
	}
	n = alignUp(s, Align)
	if n > fw.w.MaxPayload() {
		return 0, fmt.Errorf("typed frame of %d bytes: %w", s, shm.ErrTooLarge)
	}
	view, err = fw.w.Claim(ctx, TypeFlatBuffers, n)
	if err != nil {
		return 0, fmt.Errorf("claim typed frame (fallback): %w", err)
	}
	copy(view[n-s:n], b.Bytes[b.Head():])
	fixRoot(view, n-s)
	if err := fw.w.Commit(n); err != nil {
		return 0, err
	}
	b.Bytes = nil // drop the heap buffer's view; the next frame uses the ring again
	fw.done(n, s)
	return n, nil
}

func (fw *Writer) done(n, s int) {
	fw.stats.Frames++
	fw.stats.Bytes += uint64(n)
	fw.stats.Built += uint64(s)
	if fw.fixed {
		return
	}
	fw.windowMax = max(fw.windowMax, s)
	if fw.window++; fw.window == boundWindow {
		if t := alignUp(fw.windowMax+fw.slack, Align); t < fw.bound {
			fw.bound = t
		}
		fw.window, fw.windowMax = 0, 0
	}
}

// fixRoot makes view a FlatBuffers buffer whose body starts at head: the root
// offset at 0 skips the gap, the identifier follows (docs/schemas.md, type 16).
// The body's own root offset and identifier (at head) are never referenced.
func fixRoot(view []byte, head int) {
	if head == 0 {
		return
	}
	r := binary.LittleEndian.Uint32(view[head:])
	binary.LittleEndian.PutUint32(view[0:4], uint32(head)+r)
	copy(view[4:8], FileIdentifier)
}

// Encode builds a type-16 payload off-ring (for tests, vectors and tools):
// the standard FlatBuffers bytes, without a gap.
func Encode(build func(b *flatbuffers.Builder) flatbuffers.UOffsetT) []byte {
	b := flatbuffers.NewBuilder(256)
	b.FinishWithFileIdentifier(build(b), fileIdentifier)
	return b.FinishedBytes()
}

func alignUp(n, a int) int { return (n + a - 1) &^ (a - 1) }
