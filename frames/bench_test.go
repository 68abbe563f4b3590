package frames_test

import (
	"context"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/framebridge/framebridge/frames"
	"github.com/framebridge/framebridge/frames/fb"
	"github.com/framebridge/framebridge/shm"
)

// BenchmarkMinimalEnvelope compares, in one process, a raw 64-byte frame
// with a minimal typed envelope built in place (and then also verified and
// read): the per-frame cost typed frames add to a round trip. "build" goes
// through the builder (BuildFrame), "BuildEnvelope" lays out the envelope
// table itself.
// go test -run '^$' -bench MinimalEnvelope ./frames
func BenchmarkMinimalEnvelope(b *testing.B) {
	seg, err := shm.CreateMemfd("b", shm.Spec{Rings: []shm.RingSpec{{Name: "r", Kind: shm.SPSC, Capacity: 1 << 20}}})
	if err != nil {
		b.Fatal(err)
	}
	defer seg.Close()
	w, _ := seg.Writer("r")
	defer w.Close()
	r, _ := seg.Reader("r")
	defer r.Close()
	fw := frames.NewWriter(w)
	ctx := context.Background()
	var env fb.Envelope
	i := uint64(0)
	build := func(bb *flatbuffers.Builder) flatbuffers.UOffsetT {
		fb.EnvelopeStart(bb)
		fb.EnvelopeAddSequence(bb, i)
		fb.EnvelopeAddKind(bb, fb.KindRequest)
		fb.EnvelopeAddCorrelationId(bb, i)
		return fb.EnvelopeEnd(bb)
	}
	b.Run("build", func(b *testing.B) {
		for n := 0; n < b.N; n++ {
			i++
			if _, err := fw.BuildFrame(ctx, build); err != nil {
				b.Fatal(err)
			}
			r.Next(ctx)
			r.Release()
		}
	})
	b.Run("build+verify+read", func(b *testing.B) {
		for n := 0; n < b.N; n++ {
			i++
			fw.BuildFrame(ctx, build)
			f, _ := r.Next(ctx)
			if err := frames.Open(f.Data, &env); err != nil || env.CorrelationId() != i {
				b.Fatal(err)
			}
			r.Release()
		}
	})
	fields := func(bb *flatbuffers.Builder, e *frames.EnvelopeFields) {
		e.Sequence, e.Kind, e.CorrelationID = i, fb.KindRequest, i
	}
	b.Run("BuildEnvelope", func(b *testing.B) {
		for n := 0; n < b.N; n++ {
			i++
			if _, err := fw.BuildEnvelope(ctx, fields); err != nil {
				b.Fatal(err)
			}
			r.Next(ctx)
			r.Release()
		}
	})
	b.Run("BuildEnvelope+verify+read", func(b *testing.B) {
		for n := 0; n < b.N; n++ {
			i++
			fw.BuildEnvelope(ctx, fields)
			f, _ := r.Next(ctx)
			if err := frames.Open(f.Data, &env); err != nil || env.CorrelationId() != i {
				b.Fatal(err)
			}
			r.Release()
		}
	})
	// A channel call's request: the minimal envelope plus a 64-byte Raw payload.
	payload := make([]byte, 64)
	rawFields := func(bb *flatbuffers.Builder, e *frames.EnvelopeFields) {
		e.Sequence, e.Kind, e.CorrelationID, e.Raw = i, fb.KindRequest, i, payload
	}
	b.Run("BuildEnvelope+Raw64", func(b *testing.B) {
		for n := 0; n < b.N; n++ {
			i++
			if _, err := fw.BuildEnvelope(ctx, rawFields); err != nil {
				b.Fatal(err)
			}
			r.Next(ctx)
			r.Release()
		}
	})
	b.Run("LayEnvelope+Raw64", func(b *testing.B) {
		var e frames.EnvelopeFields
		for n := 0; n < b.N; n++ {
			i++
			e.Sequence, e.Kind, e.CorrelationID, e.Raw = i, fb.KindRequest, i, payload
			if _, err := fw.LayEnvelope(ctx, &e); err != nil {
				b.Fatal(err)
			}
			r.Next(ctx)
			r.Release()
		}
	})
	b.Run("BuildEnvelope+Raw64+verify+read", func(b *testing.B) {
		for n := 0; n < b.N; n++ {
			i++
			fw.BuildEnvelope(ctx, rawFields)
			f, _ := r.Next(ctx)
			if err := frames.Open(f.Data, &env); err != nil || env.CorrelationId() != i {
				b.Fatal(err)
			}
			r.Release()
		}
	})
	b.Run("BuildEnvelope+Raw64+Opener+read", func(b *testing.B) {
		var o frames.Opener
		for n := 0; n < b.N; n++ {
			i++
			fw.BuildEnvelope(ctx, rawFields)
			f, _ := r.Next(ctx)
			if err := o.Open(f.Data, &env); err != nil || env.CorrelationId() != i {
				b.Fatal(err)
			}
			r.Release()
		}
	})
	b.Run("raw", func(b *testing.B) {
		var p [64]byte
		for n := 0; n < b.N; n++ {
			w.Write(ctx, 1, p[:])
			r.Next(ctx)
			r.Release()
		}
	})
}
