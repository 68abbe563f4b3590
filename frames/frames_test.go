package frames_test

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"capnproto.org/go/capnp/v3"
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/framebridge/framebridge/frames"
	"github.com/framebridge/framebridge/frames/fb"
	"github.com/framebridge/framebridge/frames/framescapnp"
	"github.com/framebridge/framebridge/internal/peer"
	"github.com/framebridge/framebridge/internal/shmtest"
	"github.com/framebridge/framebridge/shm"
)

func ring(t *testing.T, capacity int) (*shm.Writer, *shm.Reader) {
	t.Helper()
	seg := shmtest.NewSegment(t, shm.Spec{Rings: []shm.RingSpec{{Name: "r", Kind: shm.SPSC, Capacity: capacity}}})
	w, err := seg.Writer("r")
	if err != nil {
		t.Fatal(err)
	}
	r, err := seg.Reader("r")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); r.Close() })
	return w, r
}

func TestEnvelopesBuiltInPlaceReadBackFieldByField(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []frames.WriterOption
	}{
		{"adaptive bound", nil},
		{"every frame outgrows a fixed 32-byte bound", []frames.WriterOption{frames.Bound(32, true)}},
		{"a generous fixed bound leaves a gap", []frames.WriterOption{frames.Bound(4096, true)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, r := ring(t, 1<<16)
			fw := frames.NewWriter(w, tc.opts...)
			ctx := context.Background()
			const n = 200
			for i := uint64(0); i < n; i++ {
				size, err := fw.BuildFrame(ctx, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
					return peer.BuildTestEnvelope(b, 7, i)
				})
				if err != nil {
					t.Fatal(err)
				}
				if size%frames.Align != 0 {
					t.Fatalf("frame %d: committed %d bytes, not a multiple of %d", i, size, frames.Align)
				}
				f, err := r.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if f.Type != frames.TypeFlatBuffers || len(f.Data) != size {
					t.Fatalf("frame %d: type %d, %d bytes; want %d, %d", i, f.Type, len(f.Data), frames.TypeFlatBuffers, size)
				}
				var env fb.Envelope
				if err := frames.Open(f.Data, &env); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if err := peer.CheckTestEnvelope(&env, 7, i); err != nil {
					t.Fatal(err)
				}
				r.Release()
			}
			st := fw.Stats()
			t.Logf("%+v", st)
			if st.Frames != n {
				t.Errorf("Frames = %d, want %d", st.Frames, n)
			}
			switch tc.name {
			case "every frame outgrows a fixed 32-byte bound":
				if st.Fallbacks != n {
					t.Errorf("Fallbacks = %d, want %d", st.Fallbacks, n)
				}
			case "a generous fixed bound leaves a gap":
				if st.Fallbacks != 0 || st.Bytes != n*4096 {
					t.Errorf("Fallbacks = %d, Bytes = %d; want 0, %d", st.Fallbacks, st.Bytes, n*4096)
				}
			default:
				if st.Fallbacks > n/20 {
					t.Errorf("Fallbacks = %d: the bound does not adapt", st.Fallbacks)
				}
			}
		})
	}
}

func TestBuilderNeverWritesPastItsClaim(t *testing.T) {
	w, r := ring(t, 1<<16)
	ctx := context.Background()
	// A frame committed after an outgrown claim must be intact: write a
	// sentinel frame, then build one that outgrows a tiny claim in front of it.
	fw := frames.NewWriter(w, frames.Bound(48, true))
	for i := uint64(0); i < 50; i++ {
		if _, err := fw.BuildFrame(ctx, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
			return peer.BuildTestEnvelope(b, 1, i)
		}); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(ctx, 1, []byte("sentinel-frame-after")); err != nil {
			t.Fatal(err)
		}
	}
	for i := uint64(0); i < 50; i++ {
		f, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var env fb.Envelope
		if err := frames.Open(f.Data, &env); err != nil {
			t.Fatal(err)
		}
		if err := peer.CheckTestEnvelope(&env, 1, i); err != nil {
			t.Fatal(err)
		}
		f, err = r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(f.Data) != "sentinel-frame-after" {
			t.Fatalf("frame after typed frame %d is %q", i, f.Data)
		}
		r.Release()
	}
}

func TestBuildPanicAbortsTheClaim(t *testing.T) {
	w, r := ring(t, 1<<14)
	fw := frames.NewWriter(w)
	func() {
		defer func() { _ = recover() }()
		fw.BuildFrame(context.Background(), func(b *flatbuffers.Builder) flatbuffers.UOffsetT { panic("boom") })
	}()
	if _, err := fw.BuildFrame(context.Background(), func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		return peer.BuildTestEnvelope(b, 0, 0)
	}); err != nil {
		t.Fatalf("after a panicking build: %v", err)
	}
	f, err := r.Next(context.Background())
	if err != nil || f.Type != frames.TypeFlatBuffers {
		t.Fatalf("got %v type %d", err, f.Type)
	}
}

// minimal is the "64 B class" request of the bench.
func minimal(i uint64) func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
	return func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		fb.EnvelopeStart(b)
		fb.EnvelopeAddSequence(b, i)
		fb.EnvelopeAddCorrelationId(b, i)
		fb.EnvelopeAddKind(b, fb.KindRequest)
		return fb.EnvelopeEnd(b)
	}
}

func TestSteadyStateAllocatesNothing(t *testing.T) {
	w, r := ring(t, 1<<16)
	fw := frames.NewWriter(w)
	ctx := context.Background()
	features := make([]byte, 256*4)
	var i uint64
	var env fb.Envelope
	var tab flatbuffers.Table
	var req fb.ModelRequest
	var tn fb.Tensor
	for _, tc := range []struct {
		name  string
		build func(b *flatbuffers.Builder) flatbuffers.UOffsetT
	}{
		{"minimal envelope", func(b *flatbuffers.Builder) flatbuffers.UOffsetT { return minimal(i)(b) }},
		{"model request of 256 float32", func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
			f := peer.BuildTensor(b, fb.DTypeFloat32, 1, 256, features)
			name := b.CreateString("risk")
			fb.ModelRequestStart(b)
			fb.ModelRequestAddModelName(b, name)
			fb.ModelRequestAddFeatures(b, f)
			m := fb.ModelRequestEnd(b)
			fb.EnvelopeStart(b)
			fb.EnvelopeAddSequence(b, i)
			fb.EnvelopeAddPayloadType(b, fb.PayloadModelRequest)
			fb.EnvelopeAddPayload(b, m)
			return fb.EnvelopeEnd(b)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step := func() {
				i++
				if _, err := fw.BuildFrame(ctx, tc.build); err != nil {
					t.Fatal(err)
				}
				f, err := r.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := frames.Open(f.Data, &env); err != nil {
					t.Fatal(err)
				}
				if env.Sequence() != i {
					t.Fatalf("sequence %d, want %d", env.Sequence(), i)
				}
				if env.Payload(&tab) {
					req.Init(tab.Bytes, tab.Pos)
					if req.Features(&tn) == nil || tn.DataLength() != len(features) {
						t.Fatal("features lost")
					}
				}
				r.Release()
			}
			for k := 0; k < 200; k++ { // warm up: builder slices, adaptive bound
				step()
			}
			if a := testing.AllocsPerRun(1000, step); a != 0 {
				t.Errorf("%v allocations per frame (build, commit, verify, read), want 0", a)
			}
			t.Logf("frame size %d bytes, %+v", fw.Stats().Bytes/fw.Stats().Frames, fw.Stats())
		})
	}
}

func TestVerifyRejectsBrokenFrames(t *testing.T) {
	good := frames.Encode(func(b *flatbuffers.Builder) flatbuffers.UOffsetT { return peer.BuildTestEnvelope(b, 1, 2) })
	if err := frames.Verify(good); err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	root := binary.LittleEndian.Uint32(good)
	for _, tc := range []struct {
		name string
		buf  []byte
	}{
		{"empty", nil},
		{"only a root offset", good[:4]},
		{"truncated by 16 bytes", good[:len(good)-16]},
		{"truncated to half", good[:len(good)/2]},
		{"wrong identifier", mut(func(b []byte) []byte { copy(b[4:], "XXXX"); return b })},
		{"root offset past the end", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b, uint32(len(b))); return b })},
		{"root offset zero", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b, 0); return b })},
		{"root offset negative", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b, 0x80000000); return b })},
		{"root offset misaligned", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b, root+1); return b })},
		{"vtable offset far away", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[root:], 0x7fff0000); return b })},
		{"vtable size huge", mut(func(b []byte) []byte {
			vt := int(root) - int(int32(binary.LittleEndian.Uint32(b[root:])))
			binary.LittleEndian.PutUint16(b[vt:], 0xfff0)
			return b
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := frames.Verify(tc.buf)
			var ve *frames.VerifyError
			if !errors.Is(err, frames.ErrInvalid) || !errors.As(err, &ve) {
				t.Fatalf("Verify = %v, want a *VerifyError", err)
			}
			t.Log(err)
		})
	}
}

// readAll calls every accessor of a verified envelope, as a careless reader would.
func readAll(e *fb.Envelope) (n int) {
	n += int(e.Sequence()) + int(e.Status()) + len(e.StatusMessage()) + int(e.Kind())
	n += int(e.CorrelationId()) + int(e.DeadlineUnixNano())
	var tc fb.TraceContext
	if e.Trace(&tc) != nil {
		n += len(tc.Traceparent()) + len(tc.Tracestate())
	}
	var t flatbuffers.Table
	if !e.Payload(&t) {
		return n
	}
	switch e.PayloadType() {
	case fb.PayloadMediaChunk:
		var m fb.MediaChunk
		m.Init(t.Bytes, t.Pos)
		n += len(m.Codec()) + int(m.Format()) + int(m.StreamId()) + int(m.PtsNs()) + int(m.DtsNs())
		n += int(m.DurationNs()) + int(m.SampleRate()) + int(m.Channels()) + int(m.Width()) + int(m.Height())
		if m.Keyframe() {
			n++
		}
		n += len(m.DataBytes())
		for j := 0; j < m.DataLength(); j++ {
			n += int(m.Data(j))
		}
	case fb.PayloadModelRequest:
		var m fb.ModelRequest
		m.Init(t.Bytes, t.Pos)
		n += len(m.ModelName()) + len(m.ModelVersion())
		var tn fb.Tensor
		if m.Features(&tn) != nil {
			n += int(tn.Dtype()) + len(tn.DataBytes())
			for j := 0; j < tn.ShapeLength(); j++ {
				n += int(tn.Shape(j))
			}
			for j := 0; j < tn.DataLength(); j++ {
				n += int(tn.Data(j))
			}
		}
	case fb.PayloadModelResponse:
		var m fb.ModelResponse
		m.Init(t.Bytes, t.Pos)
		n += len(m.ModelName()) + len(m.ModelVersion()) + int(m.QueueNs()) + int(m.InferenceNs()) + int(m.TotalNs())
		for j := 0; j < m.ScoresLength(); j++ {
			n += int(m.Scores(j))
		}
		for j := 0; j < m.LabelsLength(); j++ {
			n += len(m.Labels(j))
		}
	case fb.PayloadRaw:
		var m fb.Raw
		m.Init(t.Bytes, t.Pos)
		n += len(m.DataBytes())
		for j := 0; j < m.DataLength(); j++ {
			n += int(m.Data(j))
		}
	}
	return n
}

func seeds() [][]byte {
	var out [][]byte
	for i := uint64(0); i < 3; i++ {
		out = append(out, frames.Encode(func(b *flatbuffers.Builder) flatbuffers.UOffsetT { return peer.BuildTestEnvelope(b, 1, i) }))
	}
	out = append(out, frames.Encode(minimal(9)))
	out = append(out, frames.Encode(func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		d := b.CreateByteVector([]byte("opaque"))
		fb.RawStart(b)
		fb.RawAddData(b, d)
		r := fb.RawEnd(b)
		fb.EnvelopeStart(b)
		fb.EnvelopeAddPayloadType(b, fb.PayloadRaw)
		fb.EnvelopeAddPayload(b, r)
		return fb.EnvelopeEnd(b)
	}))
	// Laid out by BuildEnvelope rather than by the builder.
	for _, c := range []envContent{contents()[0x1ff], contents()[0x19], contents()[0x140]} {
		e, err := frames.EncodeEnvelope(withFields(c))
		if err != nil {
			panic(err)
		}
		out = append(out, e)
	}
	// With a gap, as built in place in a larger claim.
	g := make([]byte, 512)
	body := out[1]
	copy(g[len(g)-len(body):], body)
	binary.LittleEndian.PutUint32(g, uint32(len(g)-len(body))+binary.LittleEndian.Uint32(body))
	copy(g[4:], frames.FileIdentifier)
	out = append(out, g)
	return out
}

func TestSeedsVerifyAndRead(t *testing.T) {
	for k, s := range seeds() {
		var env fb.Envelope
		if err := frames.Open(s, &env); err != nil {
			t.Fatalf("seed %d: %v", k, err)
		}
		readAll(&env)
	}
}

// FuzzVerify: whatever the bytes, Verify returns (never panics), and when it
// accepts a frame every accessor stays inside it.
func FuzzVerify(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Cap the slice at its length: an accessor reading past the frame
		// must panic here rather than read a neighbour's bytes.
		data = data[:len(data):len(data)]
		var env fb.Envelope
		if frames.Open(data, &env) != nil {
			return
		}
		readAll(&env)
	})
}

func TestCapnpEnvelopesBuiltInPlace(t *testing.T) {
	w, r := ring(t, 1<<16)
	cw := frames.NewCapnpWriter(w)
	var cr frames.CapnpReader
	ctx := context.Background()
	for i := uint64(0); i < 200; i++ {
		size, err := cw.BuildFrame(ctx, func(seg *capnp.Segment) error { return peer.BuildTestEnvelopeCapnp(seg, 3, i) })
		if err != nil {
			t.Fatal(err)
		}
		f, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != frames.TypeCapnp || len(f.Data) != size {
			t.Fatalf("frame %d: type %d, %d bytes", i, f.Type, len(f.Data))
		}
		env, err := cr.Open(f.Data)
		if err != nil {
			t.Fatal(err)
		}
		if err := peer.CheckTestEnvelopeCapnp(env, 3, i); err != nil {
			t.Fatal(err)
		}
		r.Release()
	}
	t.Logf("%+v", cw.Stats())
}

func capnpReadAll(e framescapnp.Envelope) {
	e.Sequence()
	e.StatusMessage()
	e.Kind()
	if tc, err := e.Trace(); err == nil {
		tc.Traceparent()
		tc.Tracestate()
	}
	p := e.Payload()
	switch p.Which() {
	case framescapnp.Envelope_payload_Which_mediaChunk:
		if m, err := p.MediaChunk(); err == nil {
			m.Codec()
			m.Data()
			m.Keyframe()
			m.Height()
		}
	case framescapnp.Envelope_payload_Which_modelRequest:
		if m, err := p.ModelRequest(); err == nil {
			m.ModelName()
			if t, err := m.Features(); err == nil {
				if sh, err := t.Shape(); err == nil {
					for j := 0; j < sh.Len(); j++ {
						sh.At(j)
					}
				}
				t.Data()
			}
		}
	case framescapnp.Envelope_payload_Which_modelResponse:
		if m, err := p.ModelResponse(); err == nil {
			if sc, err := m.Scores(); err == nil {
				for j := 0; j < sc.Len(); j++ {
					sc.At(j)
				}
			}
			if lb, err := m.Labels(); err == nil {
				for j := 0; j < lb.Len(); j++ {
					lb.At(j)
				}
			}
		}
	case framescapnp.Envelope_payload_Which_raw:
		p.Raw()
	}
}

func FuzzCapnpOpen(f *testing.F) {
	for i := uint64(0); i < 3; i++ {
		msg, seg := capnp.NewSingleSegmentMessage(nil)
		if err := peer.BuildTestEnvelopeCapnp(seg, 1, i); err != nil {
			f.Fatal(err)
		}
		s, _ := msg.Segment(0)
		f.Add(append([]byte(nil), s.Data()...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var cr frames.CapnpReader
		env, err := cr.Open(data[:len(data):len(data)])
		if err != nil {
			return
		}
		capnpReadAll(env)
	})
}
