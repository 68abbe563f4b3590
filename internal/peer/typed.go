package peer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"capnproto.org/go/capnp/v3"
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/framebridge/framebridge/frames"
	"github.com/framebridge/framebridge/frames/fb"
	"github.com/framebridge/framebridge/frames/framescapnp"
)

// The typed-* commands of docs/peers.md ("Typed frames").

// PingFeatures is the number of float32 features in a typed-ping model request.
const PingFeatures = 256

func (p *peerRun) typedFormat() (uint32, error) {
	switch p.format {
	case "fbs", "":
		return frames.TypeFlatBuffers, nil
	case "capnp":
		return frames.TypeCapnp, nil
	}
	return 0, usageError{fmt.Errorf("--format %q: want fbs or capnp", p.format)}
}

func (p *peerRun) typedWrite() error {
	typ, err := p.typedFormat()
	if err != nil {
		return err
	}
	w, err := p.writerOn(p.ring)
	if err != nil {
		return err
	}
	defer w.Close()
	p.say("ready")
	ctx := context.Background()
	id := uint32(p.writer)
	fw := frames.NewWriter(w)
	cw := frames.NewCapnpWriter(w)
	for i := uint64(0); i < p.count; i++ {
		if typ == frames.TypeFlatBuffers {
			_, err = fw.BuildFrame(ctx, func(b *flatbuffers.Builder) flatbuffers.UOffsetT { return BuildTestEnvelope(b, id, i) })
		} else {
			_, err = cw.BuildFrame(ctx, func(seg *capnp.Segment) error { return BuildTestEnvelopeCapnp(seg, id, i) })
		}
		if err != nil {
			return fmt.Errorf("envelope %d: %w", i, err)
		}
		p.maybePause()
	}
	st := fw.Stats()
	if typ == frames.TypeCapnp {
		st = cw.Stats()
	}
	p.say("ok frames=%d fallbacks=%d", p.count, st.Fallbacks)
	return nil
}

func (p *peerRun) typedRead() error {
	typ, err := p.typedFormat()
	if err != nil {
		return err
	}
	r, err := p.readerOn(p.ring)
	if err != nil {
		return err
	}
	defer r.Close()
	p.say("ready")
	next := make([]uint64, p.writers)
	ctx := context.Background()
	var cr frames.CapnpReader
	for got := uint64(0); got < p.count; got++ {
		f, ok, err := r.TryNext()
		if err == nil && !ok {
			r.Release()
			f, err = r.Next(ctx)
		}
		if err != nil {
			return fmt.Errorf("after %d frames: %w", got, err)
		}
		if f.Type != typ {
			return fmt.Errorf("frame %d has type %d, want %d", got, f.Type, typ)
		}
		var w uint32
		var i uint64
		if typ == frames.TypeFlatBuffers {
			var env fb.Envelope
			if err := frames.Open(f.Data, &env); err != nil {
				return fmt.Errorf("frame %d: %w", got, err)
			}
			w, i = uint32(env.CorrelationId()>>32), env.Sequence()
			if err := p.expect(next, w, i); err != nil {
				return err
			}
			err = CheckTestEnvelope(&env, w, i)
		} else {
			env, err := cr.Open(f.Data)
			if err != nil {
				return fmt.Errorf("frame %d: %w", got, err)
			}
			w, i = uint32(env.CorrelationId()>>32), env.Sequence()
			if err := p.expect(next, w, i); err != nil {
				return err
			}
			err = CheckTestEnvelopeCapnp(env, w, i)
		}
		if err != nil {
			return err
		}
		next[w]++
		if int(got+1)%p.releaseEvery == 0 {
			r.Release()
		}
	}
	r.Release()
	p.say("ok frames=%d", p.count)
	return nil
}

func (p *peerRun) expect(next []uint64, w uint32, i uint64) error {
	if int(w) >= len(next) {
		return fmt.Errorf("envelope from writer %d, expected writers 0..%d", w, len(next)-1)
	}
	if i != next[w] {
		return fmt.Errorf("writer %d: envelope %d arrived, want %d", w, i, next[w])
	}
	return nil
}

// typedEcho answers each envelope with a response built in place.
func (p *peerRun) typedEcho() error {
	typ, err := p.typedFormat()
	if err != nil {
		return err
	}
	r, err := p.readerOn(p.in)
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := p.writerOn(p.outRing)
	if err != nil {
		return err
	}
	defer w.Close()
	p.say("ready")
	ctx := context.Background()
	fw := frames.NewWriter(w)
	cw := frames.NewCapnpWriter(w)
	var cr frames.CapnpReader
	var env fb.Envelope
	var opener frames.Opener // the requests have one shape: most skip a full verification
	var seq, corr uint64
	var model bool
	// BuildEnvelope lays out the envelope table itself: the builder only
	// builds the payload (docs/schemas.md, "Go: building an Envelope").
	buildFB := func(b *flatbuffers.Builder, e *frames.EnvelopeFields) {
		if model {
			e.PayloadType, e.Payload = fb.PayloadModelResponse, BuildModelResponse(b, "v3", 0.5, 0.5, 0, 0, 0)
		}
		e.Sequence, e.Kind, e.CorrelationID = seq, fb.KindResponse, corr
	}
	buildCapnp := func(seg *capnp.Segment) error {
		e, err := framescapnp.NewRootEnvelope(seg)
		if err != nil {
			return err
		}
		e.SetSequence(seq)
		e.SetKind(framescapnp.Kind_response)
		e.SetCorrelationId(corr)
		if !model {
			return nil
		}
		m, err := e.Payload().NewModelResponse()
		if err != nil {
			return err
		}
		return BuildModelResponseCapnp(m, "v3", 0.5, 0.5, 0, 0, 0)
	}
	var t flatbuffers.Table
	for n := 1; ; n++ {
		f, err := r.Next(ctx)
		if err != nil {
			return err
		}
		if f.Type == TypeStop {
			b, err := w.Claim(ctx, f.Type, len(f.Data))
			if err != nil {
				return err
			}
			copy(b, f.Data)
			if err := w.Commit(len(b)); err != nil {
				return err
			}
			r.Release()
			p.say("ok frames=%d", n)
			return nil
		}
		if f.Type != typ {
			return fmt.Errorf("request %d has type %d, want %d", n, f.Type, typ)
		}
		if typ == frames.TypeFlatBuffers {
			if err := opener.Open(f.Data, &env); err != nil {
				return fmt.Errorf("request %d: %w", n, err)
			}
			seq, corr = env.Sequence(), env.CorrelationId()
			model = env.PayloadType() == fb.PayloadModelRequest && env.Payload(&t)
			_, err = fw.BuildEnvelope(ctx, buildFB)
		} else {
			e, err := cr.Open(f.Data)
			if err != nil {
				return fmt.Errorf("request %d: %w", n, err)
			}
			seq, corr = e.Sequence(), e.CorrelationId()
			model = e.Payload().Which() == framescapnp.Envelope_payload_Which_modelRequest
			_, err = cw.BuildFrame(ctx, buildCapnp)
			if err != nil {
				return err
			}
		}
		if err != nil {
			return err
		}
		// Commit (above) before Release: zeroing the consumed record would
		// otherwise sit on the round trip's critical path.
		r.Release()
	}
}

// typedPing times typed round trips against typed-echo.
func (p *peerRun) typedPing() error {
	typ, err := p.typedFormat()
	if err != nil {
		return err
	}
	if p.payload != "model" && p.payload != "minimal" {
		return usageError{fmt.Errorf("--payload %q: want model or minimal", p.payload)}
	}
	w, err := p.writerOn(p.outRing)
	if err != nil {
		return err
	}
	defer w.Close()
	r, err := p.readerOn(p.in)
	if err != nil {
		return err
	}
	defer r.Close()
	p.say("ready")
	ctx := context.Background()
	model := p.payload == "model"
	features := make([]byte, 4*PingFeatures)
	for k := 0; k < PingFeatures; k++ {
		binary.LittleEndian.PutUint32(features[4*k:], math.Float32bits(float32(k)/PingFeatures))
	}
	fw := frames.NewWriter(w)
	cw := frames.NewCapnpWriter(w)
	var cr frames.CapnpReader
	var i uint64
	buildFB := func(b *flatbuffers.Builder, e *frames.EnvelopeFields) {
		if model {
			tn := BuildTensor(b, fb.DTypeFloat32, 1, PingFeatures, features)
			name := b.CreateString("risk")
			ver := b.CreateString("v3")
			fb.ModelRequestStart(b)
			fb.ModelRequestAddModelName(b, name)
			fb.ModelRequestAddModelVersion(b, ver)
			fb.ModelRequestAddFeatures(b, tn)
			e.PayloadType, e.Payload = fb.PayloadModelRequest, fb.ModelRequestEnd(b)
		}
		e.Sequence, e.Kind, e.CorrelationID = i, fb.KindRequest, i
	}
	buildCapnp := func(seg *capnp.Segment) error {
		e, err := framescapnp.NewRootEnvelope(seg)
		if err != nil {
			return err
		}
		e.SetSequence(i)
		e.SetKind(framescapnp.Kind_request)
		e.SetCorrelationId(i)
		if !model {
			return nil
		}
		m, err := e.Payload().NewModelRequest()
		if err != nil {
			return err
		}
		if err := m.SetModelName("risk"); err != nil {
			return err
		}
		if err := m.SetModelVersion("v3"); err != nil {
			return err
		}
		return BuildTensorCapnp(m, 1, PingFeatures, features)
	}
	var env fb.Envelope
	var opener frames.Opener // the responses have one shape: most skip a full verification
	var t flatbuffers.Table
	var resp fb.ModelResponse
	size := 0
	roundTrip := func() (time.Duration, error) {
		start := time.Now()
		var err error
		if typ == frames.TypeFlatBuffers {
			size, err = fw.BuildEnvelope(ctx, buildFB)
		} else {
			size, err = cw.BuildFrame(ctx, buildCapnp)
		}
		if err != nil {
			return 0, err
		}
		f, err := r.Next(ctx)
		if err != nil {
			return 0, err
		}
		if f.Type != typ {
			return 0, fmt.Errorf("response %d has type %d", i, f.Type)
		}
		var corr uint64
		var scores int
		if typ == frames.TypeFlatBuffers {
			if err := opener.Open(f.Data, &env); err != nil {
				return 0, fmt.Errorf("response %d: %w", i, err)
			}
			corr = env.CorrelationId()
			if env.PayloadType() == fb.PayloadModelResponse && env.Payload(&t) {
				resp.Init(t.Bytes, t.Pos)
				if resp.ScoresLength() == 2 && resp.Scores(0) == 0.5 {
					scores = 2
				}
			}
		} else {
			e, err := cr.Open(f.Data)
			if err != nil {
				return 0, fmt.Errorf("response %d: %w", i, err)
			}
			corr = e.CorrelationId()
			if e.Payload().Which() == framescapnp.Envelope_payload_Which_modelResponse {
				if m, err := e.Payload().ModelResponse(); err == nil {
					if sc, err := m.Scores(); err == nil && sc.Len() == 2 && sc.At(0) == 0.5 {
						scores = 2
					}
				}
			}
		}
		d := time.Since(start)
		r.Release()
		if corr != i {
			return 0, fmt.Errorf("response to %d carries correlation id %d", i, corr)
		}
		if model && scores != 2 {
			return 0, fmt.Errorf("response %d: scores missing or wrong", i)
		}
		return d, nil
	}
	samples := make([]int64, p.iters)
	for k := 0; k < p.warmup+p.iters; k++ {
		i = uint64(k)
		d, err := roundTrip()
		if err != nil {
			return err
		}
		if k >= p.warmup {
			samples[k-p.warmup] = int64(d)
		}
	}
	if err := w.Write(ctx, TypeStop, make([]byte, 8)); err != nil {
		return err
	}
	f, err := r.Next(ctx)
	if err != nil {
		return err
	}
	if f.Type != TypeStop {
		return errors.New("stop frame not echoed")
	}
	r.Release()
	slices.Sort(samples)
	p.say("ok p50_ns=%d p99_ns=%d iters=%d bytes=%d", Percentile(samples, 50), Percentile(samples, 99), p.iters, size)
	return nil
}
