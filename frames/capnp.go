package frames

import (
	"context"
	"errors"
	"fmt"

	"capnproto.org/go/capnp/v3"

	"github.com/framebridge/framebridge/frames/framescapnp"
	"github.com/framebridge/framebridge/shm"
)

// CapnpWriter builds Cap'n Proto frames (type 17) in place: a single-segment
// arena over the claimed view (capnp.SingleSegment(view[:0:n]): it allocates
// front to back inside the view and cannot grow past it), committing the words
// used. A CapnpWriter is not safe for concurrent use.
type CapnpWriter struct {
	w         *shm.Writer
	msg       capnp.Message
	bound     int
	window    int
	windowMax int
	stats     Stats
}

// NewCapnpWriter wraps a ring writer (not owned).
func NewCapnpWriter(w *shm.Writer) *CapnpWriter {
	return &CapnpWriter{w: w, bound: DefaultBound}
}

// Stats returns the writer's counters.
func (cw *CapnpWriter) Stats() Stats { return cw.stats }

// BuildFrame claims the current bound and calls build with the message's
// only segment (build calls framescapnp.NewRootEnvelope(seg) and sets
// fields). If build fails — which is how an arena over a claim that is too
// small shows itself — the claim is aborted and build runs again in a claim
// twice as large, up to the ring's largest frame (Stats.Fallbacks): build
// must have no effect besides building. It returns the payload size committed.
func (cw *CapnpWriter) BuildFrame(ctx context.Context, build func(seg *capnp.Segment) error) (int, error) {
	n := min(cw.bound, cw.w.MaxPayload()&^7)
	for {
		view, err := cw.w.Claim(ctx, TypeCapnp, n)
		if err != nil {
			return 0, fmt.Errorf("claim typed frame: %w", err)
		}
		view = view[:0:n]
		used, err := cw.build(view, build)
		if err == nil {
			if err := cw.w.Commit(used); err != nil {
				return 0, err
			}
			cw.done(used)
			return used, nil
		}
		cw.w.Abort()
		max := cw.w.MaxPayload() &^ 7
		if n >= max {
			return 0, fmt.Errorf("build Cap'n Proto frame in %d bytes: %w", n, err)
		}
		cw.stats.Fallbacks++
		n = min(2*n, max)
		cw.bound = n
	}
}

var errMoved = errors.New("segment left the claimed view")

func (cw *CapnpWriter) build(view []byte, build func(seg *capnp.Segment) error) (used int, err error) {
	defer func() {
		if err != nil {
			cw.msg.Reset(nil)
		}
	}()
	seg, err := cw.msg.Reset(capnp.SingleSegment(view))
	if err != nil {
		return 0, err
	}
	if err := build(seg); err != nil {
		return 0, err
	}
	seg, err = cw.msg.Segment(0)
	if err != nil {
		return 0, err
	}
	data := seg.Data()
	if len(data) == 0 || &data[:1][0] != &view[:1][0] {
		return 0, errMoved
	}
	used = len(data)
	cw.msg.Reset(nil)
	return used, nil
}

func (cw *CapnpWriter) done(n int) {
	cw.stats.Frames++
	cw.stats.Bytes += uint64(n)
	cw.stats.Built += uint64(n)
	cw.windowMax = max(cw.windowMax, n)
	if cw.window++; cw.window == boundWindow {
		if t := alignUp(cw.windowMax+cw.windowMax/8, 8); t < cw.bound {
			cw.bound = t
		}
		cw.window, cw.windowMax = 0, 0
	}
}

// CapnpLimits bound a Cap'n Proto read.
type CapnpLimits struct {
	// TraverseLimit: bytes of structs and lists a reader may fetch, counting
	// repeats (the amplification guard). 0: 8 x the frame, at least 64 KiB.
	TraverseLimit uint64
	// DepthLimit: pointer nesting (0: 64).
	DepthLimit uint
}

// CapnpReader opens type-17 payloads in place with traversal limits. It
// reuses its message, so one Open is valid until the next. Not safe for
// concurrent use.
type CapnpReader struct {
	Limits CapnpLimits
	msg    capnp.Message
	arena  capnp.ReadOnlySingleSegment
}

// Open checks the frame's framing (a non-empty whole number of words) and
// returns its root Envelope. Accessors of the result are bounds-checked by the
// Cap'n Proto runtime and fail with an error (never a read outside data) when
// a pointer is bad or a limit is reached; check every error they return.
func (cr *CapnpReader) Open(data []byte) (framescapnp.Envelope, error) {
	if len(data) < 8 || len(data)%8 != 0 {
		return framescapnp.Envelope{}, &VerifyError{Table: "Envelope", Reason: fmt.Sprintf("Cap'n Proto segment of %d bytes is not a non-empty whole number of words", len(data))}
	}
	cr.msg.Reset(nil)
	cr.arena.Release()
	cr.arena.ReplaceData(data[:len(data):len(data)])
	if _, err := cr.msg.Reset(&cr.arena); err != nil {
		return framescapnp.Envelope{}, &VerifyError{Table: "Envelope", Reason: "open Cap'n Proto message: " + err.Error()}
	}
	lim := cr.Limits.TraverseLimit
	if lim == 0 {
		lim = max(8*uint64(len(data)), 64<<10)
	}
	cr.msg.ResetReadLimit(lim)
	cr.msg.DepthLimit = cr.Limits.DepthLimit
	env, err := framescapnp.ReadRootEnvelope(&cr.msg)
	if err != nil {
		return env, fmt.Errorf("%w: Cap'n Proto root: %w", ErrInvalid, err)
	}
	return env, nil
}
