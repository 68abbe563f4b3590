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
// space left equals what it asks for, and some alignment requests ask for more
// than they write. Start with 1 byte; each fallback adds 8, up to maxSlack.
const (
	minSlack = 1
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
	windowMax int // the largest claim a frame of the window needed
	stats     Stats
	env       EnvelopeFields // BuildEnvelope's, reused
	tmpl      envelopeTemplate
	scratch   []byte // a body saved from an aborted claim (BuildEnvelope's fallback)
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
// current bound n, points the builder at bytes [8, n) of the claimed view
// (capped at n), calls build — which builds back to front and returns the root
// table (usually an Envelope) without finishing — then writes the root offset
// and the file identifier FRB1 into bytes [0, 8) and commits n bytes
// (docs/schemas.md). build runs exactly once. If the message outgrows the
// claim, the builder continues in heap memory and the message is copied into
// a new claim of the right size (Stats.Fallbacks). It returns the payload size
// committed.
//
// If build panics, the claim is aborted and the panic goes on.
func (fw *Writer) BuildFrame(ctx context.Context, build func(b *flatbuffers.Builder) flatbuffers.UOffsetT) (int, error) {
	n := min(fw.bound, fw.w.MaxPayload()&^(Align-1))
	view, err := fw.w.Claim(ctx, TypeFlatBuffers, n)
	if err != nil {
		return 0, fmt.Errorf("claim typed frame: %w", err)
	}
	// The DESIGN gotcha: Reset and growth re-slice Bytes up to its capacity,
	// so cap the view at the claim. The first 8 bytes are for the prefix.
	view = view[:n:n]
	b := fw.b
	b.Bytes = view[prefixLen:n:n]
	b.Reset()
	claimed := true
	defer func() {
		if claimed {
			fw.w.Abort()
		}
	}()
	root := build(b)
	body := len(b.Bytes) - int(b.Head()) // built bytes, at the end of b.Bytes
	s := body + prefixLen                // the equivalent standard buffer's size

	if len(b.Bytes) == n-prefixLen && &b.Bytes[0] == &view[prefixLen] {
		writePrefix(view, n-int(root))
		claimed = false
		if err := fw.w.Commit(n); err != nil {
			return 0, err
		}
		fw.done(n, s, s+fw.slack)
		return n, nil
	}

	// Outgrown: the builder moved to the heap. Copy into a claim that fits.
	claimed = false
	if err := fw.w.Abort(); err != nil {
		return 0, err
	}
	view, err = fw.fallbackClaim(ctx, s)
	if err != nil {
		return 0, err
	}
	n = len(view)
	// Offsets from the end are what the builder aligned; n is a multiple of
	// Align, so placing the body at the end keeps every alignment.
	copy(view[n-body:n], b.Bytes[b.Head():])
	writePrefix(view, n-int(root))
	if err := fw.w.Commit(n); err != nil {
		return 0, err
	}
	b.Bytes = nil // drop the heap buffer; the next frame uses the ring again
	fw.done(n, s, s+fw.slack)
	return n, nil
}

// BuildEnvelope builds one Envelope frame (type 16) in place, as BuildFrame
// does, but lays out the Envelope table itself instead of through the
// builder's StartObject/Add/EndObject, which cost most of a small frame's
// build; so is a Raw payload given as EnvelopeFields.Raw. When build builds
// nothing with b, only the bytes the envelope takes are committed. build sets e's scalars and builds whatever the envelope refers to —
// status message, trace, payload — with b, storing their offsets in e (b is
// BuildFrame's: it must not start a table it does not end, and build must not
// call Finish). The frame is an ordinary FlatBuffers Envelope that any reader
// verifies and reads as one built by a builder. build runs exactly once; a
// frame that outgrows its claim is copied into a new claim (Stats.Fallbacks).
// It returns the payload size committed.
//
// If build panics, the claim is aborted and the panic goes on.
func (fw *Writer) BuildEnvelope(ctx context.Context, build func(b *flatbuffers.Builder, e *EnvelopeFields)) (int, error) {
	n := min(fw.bound, fw.w.MaxPayload()&^(Align-1))
	view, err := fw.w.Claim(ctx, TypeFlatBuffers, n)
	if err != nil {
		return 0, fmt.Errorf("claim typed frame: %w", err)
	}
	view = view[:n:n] // the DESIGN gotcha, as in BuildFrame
	b := fw.b
	b.Bytes = view[prefixLen:n:n]
	b.Reset()
	e := &fw.env
	*e = EnvelopeFields{}
	claimed := true
	defer func() {
		e.Raw = nil // keep no reference to the caller's data
		if claimed {
			fw.w.Abort()
		}
	}()
	build(b, e)
	body := len(b.Bytes) - int(b.Head())
	key := envelopeShape(e, body)
	if t := &fw.tmpl; key != 0 && key == t.key && len(t.bytes) <= n &&
		len(b.Bytes) == n-prefixLen && &b.Bytes[0] == &view[prefixLen] {
		// The shape laid out last time: its bytes with e's values.
		m := len(t.bytes)
		view = view[:m:m]
		t.lay(view, e)
		claimed = false
		if err := fw.w.Commit(m); err != nil {
			return 0, err
		}
		fw.done(m, m-t.root+t.l.vsize+prefixLen, m)
		return m, nil
	}
	if err := e.check(body); err != nil {
		return 0, err // the deferred Abort drops the claim
	}
	l := e.layout()
	if len(b.Bytes) == n-prefixLen && &b.Bytes[0] == &view[prefixLen] {
		m := l.bodyless()
		if body == 0 && m < n {
			// Nothing built at the end of the claim: commit only what the
			// envelope (and a hand-laid Raw) takes, as EncodeEnvelope does.
			view, n = view[:m:m], m
		}
		if root, ok := e.place(&l, view, body); ok {
			writePrefix(view, root)
			if key != 0 && body == 0 {
				fw.tmpl.save(key, &l, view, root)
			}
			claimed = false
			if err := fw.w.Commit(n); err != nil {
				return 0, err
			}
			s := n - root + l.vsize + prefixLen
			need := s + fw.slack
			if body == 0 {
				// Such frames need exactly m bytes (the builder needs no
				// slack): a bound of m leaves Commit nothing to clear.
				need = m
			}
			fw.done(n, s, need)
			return n, nil
		}
	}

	// Outgrown (the builder moved to the heap, or no room is left in front
	// of the body): copy the body into a claim that fits and lay out there.
	// A body still in the claim is saved first: Abort gives its bytes back.
	src := b.Bytes[b.Head():]
	if len(b.Bytes) == n-prefixLen && &b.Bytes[0] == &view[prefixLen] {
		fw.scratch = append(fw.scratch[:0], src...)
		src = fw.scratch
	}
	claimed = false
	if err := fw.w.Abort(); err != nil {
		return 0, err
	}
	s := prefixLen + l.size() + body
	view, err = fw.fallbackClaim(ctx, s)
	if err != nil {
		return 0, err
	}
	n = len(view)
	copy(view[n-body:n], src)
	root, _ := e.place(&l, view, body) // fits: n >= s
	writePrefix(view, root)
	if err := fw.w.Commit(n); err != nil {
		return 0, err
	}
	b.Bytes = nil // drop a heap buffer; the next frame uses the ring again
	s = n - root + l.vsize + prefixLen
	fw.done(n, s, s+fw.slack)
	return n, nil
}

// LayEnvelope commits one Envelope frame (type 16) whose fields need no
// builder: scalars, and a Raw payload given as e.Raw (e's StatusMessage,
// Trace, PayloadType and Payload must be zero). It is BuildEnvelope with
// nothing built, without the builder's set-up and callback: it claims
// exactly the bytes the envelope takes (waiting for space until ctx is
// done) and commits the same bytes BuildEnvelope would. Envelopes of the
// shape laid out last (same fields present, same Raw length) are copied from
// that template with e's values patched in. It returns the payload size
// committed.
func (fw *Writer) LayEnvelope(ctx context.Context, e *EnvelopeFields) (int, error) {
	if e.StatusMessage != 0 || e.Trace != 0 || e.PayloadType != 0 || e.Payload != 0 {
		return 0, fmt.Errorf("frames: LayEnvelope with builder offsets (StatusMessage %d, Trace %d, Payload %d of type %d): build them with BuildEnvelope",
			e.StatusMessage, e.Trace, e.Payload, e.PayloadType)
	}
	t := &fw.tmpl
	if key := envelopeShape(e, 0); key == 0 || key != t.key {
		return fw.layNew(ctx, e, key)
	}
	m := len(t.bytes)
	view, err := fw.w.Claim(ctx, TypeFlatBuffers, m)
	if err != nil {
		return 0, fmt.Errorf("claim typed frame: %w", err)
	}
	t.lay(view[:m:m], e)
	if err := fw.w.Commit(m); err != nil {
		return 0, err
	}
	fw.done(m, m-t.root+t.l.vsize+prefixLen, m)
	return m, nil
}

// layNew is LayEnvelope for a shape other than the template's: it lays the
// envelope out field by field and makes it the template (key != 0).
func (fw *Writer) layNew(ctx context.Context, e *EnvelopeFields, key uint64) (int, error) {
	if err := e.check(0); err != nil {
		return 0, err
	}
	l := e.layout()
	m := l.bodyless()
	if m > fw.w.MaxPayload() {
		return 0, fmt.Errorf("typed frame of %d bytes: %w", m, shm.ErrTooLarge)
	}
	view, err := fw.w.Claim(ctx, TypeFlatBuffers, m)
	if err != nil {
		return 0, fmt.Errorf("claim typed frame: %w", err)
	}
	view = view[:m:m]
	root, _ := e.place(&l, view, 0) // fits: bodyless is the smallest claim that holds it
	writePrefix(view, root)
	if key != 0 {
		fw.tmpl.save(key, &l, view, root)
	}
	if err := fw.w.Commit(m); err != nil {
		return 0, err
	}
	fw.done(m, m-root+l.vsize+prefixLen, m)
	return m, nil
}

// fallbackClaim counts a frame that outgrew its claim, grows the bound and
// claims a view (capped) of s bytes rounded up to Align.
func (fw *Writer) fallbackClaim(ctx context.Context, s int) ([]byte, error) {
	fw.stats.Fallbacks++
	if !fw.fixed {
		fw.slack = min(fw.slack+8, maxSlack)
		fw.bound = alignUp(s+fw.slack+s/4, Align)
	}
	n := alignUp(s, Align)
	if n > fw.w.MaxPayload() {
		return nil, fmt.Errorf("typed frame of %d bytes: %w", s, shm.ErrTooLarge)
	}
	view, err := fw.w.Claim(ctx, TypeFlatBuffers, n)
	if err != nil {
		return nil, fmt.Errorf("claim typed frame (fallback): %w", err)
	}
	return view[:n:n], nil
}

// prefixLen: root offset and file identifier.
const prefixLen = 8

// writePrefix makes view a FlatBuffers buffer whose root table is at rootPos:
// the root offset at 0 and the identifier at 4 (docs/schemas.md, type 16).
func writePrefix(view []byte, rootPos int) {
	binary.LittleEndian.PutUint32(view[0:4], uint32(rootPos))
	copy(view[4:8], FileIdentifier)
}

// done counts a frame of n bytes committed, s of them built, whose build
// needed a claim of need bytes (what the adaptive bound follows).
func (fw *Writer) done(n, s, need int) {
	fw.stats.Frames++
	fw.stats.Bytes += uint64(n)
	fw.stats.Built += uint64(s)
	if fw.fixed {
		return
	}
	fw.windowMax = max(fw.windowMax, need)
	if fw.window++; fw.window == boundWindow {
		if t := alignUp(fw.windowMax, Align); t < fw.bound {
			fw.bound = t
		}
		fw.window, fw.windowMax = 0, 0
	}
}

// Encode builds a type-16 payload off-ring (for tests, vectors and tools):
// the standard FlatBuffers bytes, without a gap.
func Encode(build func(b *flatbuffers.Builder) flatbuffers.UOffsetT) []byte {
	b := flatbuffers.NewBuilder(256)
	b.FinishWithFileIdentifier(build(b), fileIdentifier)
	return b.FinishedBytes()
}

func alignUp(n, a int) int { return (n + a - 1) &^ (a - 1) }
