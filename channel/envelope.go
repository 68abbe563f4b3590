package channel

import (
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/framebridge/framebridge/frames"
	"github.com/framebridge/framebridge/frames/fb"
)

// PayloadFunc builds a payload table in place, back to front, and returns its
// union type and offset. It must not finish the builder.
type PayloadFunc func(b *flatbuffers.Builder) (fb.Payload, flatbuffers.UOffsetT)

// Request describes a request frame. The channel sets kind, correlation id
// and deadline itself; the rest comes from here. Build, when set, builds the
// payload in place in the request ring; otherwise Raw, when non-nil, is sent
// as a Raw{data} payload; otherwise the request has no payload.
//
// Build may run more than once for one call: a payload that outgrows the
// writer's claim is moved into a larger claim (frames.Writer's fallback),
// and when the ring has no room for that at once, the attempt is dropped
// and Build runs again once space frees. It must build the same payload
// every time and have no other effects; only the last build is sent.
type Request struct {
	Sequence    uint64
	Traceparent string // W3C traceparent, optional
	Raw         []byte
	Build       PayloadFunc
	// FailFast makes the call fail at once with ErrFull when the request ring
	// has no room, instead of waiting for room until the call's deadline.
	FailFast bool
}

// needsBuilder reports whether the request needs a FlatBuffers builder (a
// Build callback or a trace); one that does not is laid out directly
// (frames.Writer.LayEnvelope).
func (r *Request) needsBuilder() bool { return r.Build != nil || r.Traceparent != "" }

// payload builds the request's payload, if any.
func (r *Request) payload(b *flatbuffers.Builder) (fb.Payload, flatbuffers.UOffsetT) {
	switch {
	case r.Build != nil:
		return r.Build(b)
	case r.Raw != nil:
		return fb.PayloadRaw, BuildRaw(b, r.Raw)
	}
	return fb.PayloadNONE, 0
}

// BuildRaw builds a Raw{data} table and returns its offset.
func BuildRaw(b *flatbuffers.Builder, data []byte) flatbuffers.UOffsetT {
	v := b.CreateByteVector(data)
	fb.RawStart(b)
	fb.RawAddData(b, v)
	return fb.RawEnd(b)
}

// RawData returns the bytes of env's Raw payload, or nil if its payload is
// not Raw. They alias the frame.
func RawData(env *fb.Envelope) []byte { return frames.RawData(env) }

// buildTrace builds a TraceContext from raw traceparent/tracestate bytes.
func buildTrace(b *flatbuffers.Builder, parent, state []byte) flatbuffers.UOffsetT {
	if len(parent) == 0 && len(state) == 0 {
		return 0
	}
	var p, s flatbuffers.UOffsetT
	if len(parent) > 0 {
		p = b.CreateByteString(parent)
	}
	if len(state) > 0 {
		s = b.CreateByteString(state)
	}
	fb.TraceContextStart(b)
	if p != 0 {
		fb.TraceContextAddTraceparent(b, p)
	}
	if s != 0 {
		fb.TraceContextAddTracestate(b, s)
	}
	return fb.TraceContextEnd(b)
}
