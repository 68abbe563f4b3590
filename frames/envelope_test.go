package frames_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/framebridge/framebridge/frames"
	"github.com/framebridge/framebridge/frames/fb"
	"github.com/framebridge/framebridge/shm"
)

// envContent is everything an Envelope's accessors return.
type envContent struct {
	Seq, Corr uint64
	Status    int32
	Msg       string
	Kind      fb.Kind
	Deadline  int64
	Trace     bool
	TP, TS    string
	PType     fb.Payload
	Payload   bool
	Data      string // Raw.data, when the payload is a Raw
}

func readContent(e *fb.Envelope) envContent {
	c := envContent{Seq: e.Sequence(), Corr: e.CorrelationId(), Status: e.Status(), Msg: string(e.StatusMessage()),
		Kind: e.Kind(), Deadline: e.DeadlineUnixNano(), PType: e.PayloadType()}
	var tc fb.TraceContext
	if e.Trace(&tc) != nil {
		c.Trace, c.TP, c.TS = true, string(tc.Traceparent()), string(tc.Tracestate())
	}
	var t flatbuffers.Table
	if e.Payload(&t) {
		c.Payload = true
		if c.PType == fb.PayloadRaw {
			var r fb.Raw
			r.Init(t.Bytes, t.Pos)
			c.Data = string(r.DataBytes())
		}
	}
	return c
}

// objects builds what c refers to (in the order a careful writer would) and
// returns the offsets.
func objects(b *flatbuffers.Builder, c envContent) (msg, trace, payload flatbuffers.UOffsetT) {
	if c.Msg != "" {
		msg = b.CreateString(c.Msg)
	}
	if c.Trace {
		tp, ts := b.CreateString(c.TP), b.CreateString(c.TS)
		fb.TraceContextStart(b)
		fb.TraceContextAddTraceparent(b, tp)
		fb.TraceContextAddTracestate(b, ts)
		trace = fb.TraceContextEnd(b)
	}
	if c.Payload {
		d := b.CreateByteVector([]byte(c.Data))
		fb.RawStart(b)
		fb.RawAddData(b, d)
		payload = fb.RawEnd(b)
	}
	return
}

// withBuilder builds c the general way: the generated code's Start/Add/End.
func withBuilder(c envContent) func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
	return func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		msg, trace, payload := objects(b, c)
		fb.EnvelopeStart(b)
		fb.EnvelopeAddSequence(b, c.Seq)
		fb.EnvelopeAddStatus(b, c.Status)
		if msg != 0 {
			fb.EnvelopeAddStatusMessage(b, msg)
		}
		fb.EnvelopeAddKind(b, c.Kind)
		fb.EnvelopeAddCorrelationId(b, c.Corr)
		fb.EnvelopeAddDeadlineUnixNano(b, c.Deadline)
		if trace != 0 {
			fb.EnvelopeAddTrace(b, trace)
		}
		fb.EnvelopeAddPayloadType(b, c.PType)
		if payload != 0 {
			fb.EnvelopeAddPayload(b, payload)
		}
		return fb.EnvelopeEnd(b)
	}
}

// withFields builds c through EnvelopeFields.
func withFields(c envContent) func(b *flatbuffers.Builder, e *frames.EnvelopeFields) {
	return func(b *flatbuffers.Builder, e *frames.EnvelopeFields) {
		e.StatusMessage, e.Trace, e.Payload = objects(b, c)
		e.Sequence, e.Status, e.Kind, e.CorrelationID, e.DeadlineUnixNano = c.Seq, c.Status, c.Kind, c.Corr, c.Deadline
		e.PayloadType = c.PType
	}
}

// withRaw builds c through EnvelopeFields with its Raw payload (c.PType
// Raw, c.Payload) given as EnvelopeFields.Raw, laid out by hand.
func withRaw(c envContent) func(b *flatbuffers.Builder, e *frames.EnvelopeFields) {
	d := []byte(c.Data)
	if d == nil {
		d = []byte{}
	}
	return func(b *flatbuffers.Builder, e *frames.EnvelopeFields) {
		c := c
		c.Payload = false
		e.StatusMessage, e.Trace, _ = objects(b, c)
		e.Sequence, e.Status, e.Kind, e.CorrelationID, e.DeadlineUnixNano = c.Seq, c.Status, c.Kind, c.Corr, c.Deadline
		e.Raw = d
	}
}

// builds returns the ways EnvelopeFields can build c: through the builder,
// and with a hand-laid Raw when c's payload is a Raw.
func builds(c envContent) []func(b *flatbuffers.Builder, e *frames.EnvelopeFields) {
	if c.PType == fb.PayloadRaw && c.Payload {
		return []func(b *flatbuffers.Builder, e *frames.EnvelopeFields){withFields(c), withRaw(c)}
	}
	return []func(b *flatbuffers.Builder, e *frames.EnvelopeFields){withFields(c)}
}

// contents: every subset of the fields present, with values that catch a
// truncated or misplaced field (high bits set, negative numbers).
func contents() []envContent {
	var out []envContent
	for m := 0; m < 1<<9; m++ {
		var c envContent
		bit := func(k int) bool { return m&(1<<k) != 0 }
		if bit(0) {
			c.Seq = 0x0102030405060708
		}
		if bit(1) {
			c.Status = -5
		}
		if bit(2) {
			c.Msg = fmt.Sprintf("status message %d", m)
		}
		if bit(3) {
			c.Kind = fb.KindControl
		}
		if bit(4) {
			c.Corr = 0xf1f2f3f4f5f6f7f8
		}
		if bit(5) {
			c.Deadline = -0x1122334455667788
		}
		if bit(6) {
			c.Trace, c.TP, c.TS = true, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", fmt.Sprint("k=", m)
		}
		if bit(7) {
			c.PType = fb.PayloadRaw
		}
		if bit(8) {
			c.Payload, c.Data = true, string(bytes.Repeat([]byte{byte(m)}, m%37))
		}
		if c.Payload && c.PType == 0 {
			c.PType = fb.PayloadModelRequest // a payload without a type is never read; give it one
			c.Payload, c.Data = false, ""
		}
		out = append(out, c)
	}
	return out
}

func TestBuildEnvelopeReadsAsTheBuilderEnvelope(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []frames.WriterOption
	}{
		{"adaptive bound", nil},
		{"a fixed 32-byte bound: all but the smallest frames outgrow it", []frames.WriterOption{frames.Bound(32, true)}},
		{"a fixed 112-byte bound: some bodies fit, their envelope not", []frames.WriterOption{frames.Bound(112, true)}},
		{"a generous fixed bound leaves a gap", []frames.WriterOption{frames.Bound(1024, true)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, r := ring(t, 1<<16)
			fw := frames.NewWriter(w, tc.opts...)
			ctx := context.Background()
			var env fb.Envelope
			built := uint64(0) // frames built, both ways
			for _, c := range contents() {
				want := frames.Encode(withBuilder(c))
				if err := frames.Open(want, &env); err != nil {
					t.Fatal(err)
				}
				if got := readContent(&env); got != c {
					t.Fatalf("the builder's envelope reads %+v, want %+v", got, c)
				}
				for _, build := range builds(c) {
					size, err := fw.BuildEnvelope(ctx, build)
					if err != nil {
						t.Fatal(err)
					}
					f, err := r.Next(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if f.Type != frames.TypeFlatBuffers || len(f.Data) != size || size%frames.Align != 0 {
						t.Fatalf("type %d, %d bytes, committed %d", f.Type, len(f.Data), size)
					}
					if err := frames.Open(f.Data[:len(f.Data):len(f.Data)], &env); err != nil {
						t.Fatalf("%+v: %v", c, err)
					}
					if got := readContent(&env); got != c {
						t.Fatalf("BuildEnvelope's envelope reads %+v, want %+v", got, c)
					}
					r.Release()
					enc, err := frames.EncodeEnvelope(build)
					if err != nil {
						t.Fatal(err)
					}
					if err := frames.Open(enc, &env); err != nil {
						t.Fatalf("EncodeEnvelope %+v: %v", c, err)
					}
					if got := readContent(&env); got != c {
						t.Fatalf("EncodeEnvelope's envelope reads %+v, want %+v", got, c)
					}
					built++
				}
			}
			st := fw.Stats()
			t.Logf("%+v", st)
			if st.Frames != built || built <= uint64(len(contents())) {
				t.Errorf("Frames = %d, want %d (%d contents)", st.Frames, built, len(contents()))
			}
			switch tc.name {
			case "a fixed 32-byte bound: all but the smallest frames outgrow it":
				if st.Fallbacks < st.Frames*3/4 || st.Fallbacks == st.Frames {
					t.Errorf("Fallbacks = %d of %d", st.Fallbacks, st.Frames)
				}
			case "a fixed 112-byte bound: some bodies fit, their envelope not":
				if st.Fallbacks == 0 || st.Fallbacks == st.Frames {
					t.Errorf("Fallbacks = %d of %d", st.Fallbacks, st.Frames)
				}
			case "a generous fixed bound leaves a gap":
				if st.Fallbacks != 0 {
					t.Errorf("Fallbacks = %d, want 0", st.Fallbacks)
				}
			}
		})
	}
}

func TestBuildEnvelopeRefusesOffsetsOutsideTheBody(t *testing.T) {
	w, r := ring(t, 1<<14)
	fw := frames.NewWriter(w)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		set  func(e *frames.EnvelopeFields, body flatbuffers.UOffsetT)
	}{
		{"payload past the body", func(e *frames.EnvelopeFields, body flatbuffers.UOffsetT) { e.Payload = body + 4 }},
		{"trace misaligned", func(e *frames.EnvelopeFields, body flatbuffers.UOffsetT) { e.Trace = body - 1 }},
		{"status message with nothing built", func(e *frames.EnvelopeFields, body flatbuffers.UOffsetT) { e.StatusMessage = 4 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fw.BuildEnvelope(ctx, func(b *flatbuffers.Builder, e *frames.EnvelopeFields) {
				body := flatbuffers.UOffsetT(0)
				if tc.name != "status message with nothing built" {
					body = b.CreateString("some body")
				}
				tc.set(e, body)
			})
			if err == nil {
				t.Fatal("accepted")
			}
			t.Log(err)
			if _, err := frames.EncodeEnvelope(func(b *flatbuffers.Builder, e *frames.EnvelopeFields) { e.Payload = 8 }); err == nil {
				t.Fatal("EncodeEnvelope accepted an offset with nothing built")
			}
		})
	}
	// The claims were aborted: the next frame is the next one read.
	if _, err := fw.BuildEnvelope(ctx, func(b *flatbuffers.Builder, e *frames.EnvelopeFields) { e.Sequence = 42 }); err != nil {
		t.Fatal(err)
	}
	f, err := r.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var env fb.Envelope
	if err := frames.Open(f.Data, &env); err != nil || env.Sequence() != 42 {
		t.Fatalf("after refused frames: %v, sequence %d", err, env.Sequence())
	}
}

func TestBuildEnvelopePanicAbortsTheClaim(t *testing.T) {
	w, r := ring(t, 1<<14)
	fw := frames.NewWriter(w)
	func() {
		defer func() { _ = recover() }()
		fw.BuildEnvelope(context.Background(), func(b *flatbuffers.Builder, e *frames.EnvelopeFields) { panic("boom") })
	}()
	if _, err := fw.BuildEnvelope(context.Background(), func(b *flatbuffers.Builder, e *frames.EnvelopeFields) { e.Kind = fb.KindOneWay }); err != nil {
		t.Fatalf("after a panicking build: %v", err)
	}
	f, err := r.Next(context.Background())
	var env fb.Envelope
	if err != nil || frames.Open(f.Data, &env) != nil || env.Kind() != fb.KindOneWay {
		t.Fatalf("got %v, kind %v", err, env.Kind())
	}
}

func TestBuildEnvelopeAllocatesNothing(t *testing.T) {
	w, r := ring(t, 1<<16)
	fw := frames.NewWriter(w)
	ctx := context.Background()
	var env fb.Envelope
	var i uint64
	build := func(b *flatbuffers.Builder, e *frames.EnvelopeFields) {
		e.Sequence, e.Kind, e.CorrelationID = i, fb.KindRequest, i
	}
	size := 0
	step := func() {
		i++
		var err error
		if size, err = fw.BuildEnvelope(ctx, build); err != nil {
			t.Fatal(err)
		}
		f, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := frames.Open(f.Data, &env); err != nil || env.CorrelationId() != i {
			t.Fatalf("%v, correlation id %d, want %d", err, env.CorrelationId(), i)
		}
		r.Release()
	}
	for k := 0; k < 200; k++ {
		step()
	}
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Errorf("%v allocations per frame, want 0", a)
	}
	if size > 64 {
		t.Errorf("a minimal envelope commits %d bytes in steady state, want at most 64 (the 64 B class)", size)
	}
}

func TestBuildEnvelopeLaysOutARawPayloadWithoutTheBuilder(t *testing.T) {
	w, r := ring(t, 1<<16)
	fw := frames.NewWriter(w)
	ctx := context.Background()
	var env fb.Envelope
	data := make([]byte, 64)
	var i uint64
	build := func(b *flatbuffers.Builder, e *frames.EnvelopeFields) {
		e.Sequence, e.Kind, e.CorrelationID, e.Raw = i, fb.KindRequest, i, data
	}
	size := 0
	step := func() {
		i++
		data[0], data[63] = byte(i), byte(i>>8)
		var err error
		if size, err = fw.BuildEnvelope(ctx, build); err != nil {
			t.Fatal(err)
		}
		f, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := frames.Open(f.Data, &env); err != nil {
			t.Fatal(err)
		}
		var tab flatbuffers.Table
		var raw fb.Raw
		if !env.Payload(&tab) || env.PayloadType() != fb.PayloadRaw {
			t.Fatal("no Raw payload")
		}
		raw.Init(tab.Bytes, tab.Pos)
		if env.Sequence() != i || env.CorrelationId() != i || env.Kind() != fb.KindRequest || env.Status() != 0 ||
			env.DeadlineUnixNano() != 0 || env.StatusMessage() != nil || env.Trace(nil) != nil || !bytes.Equal(raw.DataBytes(), data) {
			t.Fatalf("reads %+v, want sequence and correlation id %d, a Request, Raw %x", readContent(&env), i, data)
		}
		r.Release()
	}
	for k := 0; k < 200; k++ {
		step()
	}
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Errorf("%v allocations per frame, want 0", a)
	}
	// prefix 8, vtable 22, table 26 (+ 4 to align it to 8), Raw vtable 6,
	// table 8, vector 4 + 64 = 142: the claim's gap is not committed, and
	// the padding is what alignment needs, not its worst case.
	if size != 144 {
		t.Errorf("a 64-byte Raw request commits %d bytes, want 144", size)
	}
}

func TestBuildEnvelopeRefusesARawPayloadWithAnotherPayload(t *testing.T) {
	w, _ := ring(t, 1<<14)
	fw := frames.NewWriter(w)
	for _, set := range []func(b *flatbuffers.Builder, e *frames.EnvelopeFields){
		func(b *flatbuffers.Builder, e *frames.EnvelopeFields) {
			e.Raw, e.PayloadType = []byte{1}, fb.PayloadRaw
		},
		func(b *flatbuffers.Builder, e *frames.EnvelopeFields) {
			e.Raw, e.Payload = []byte{}, b.CreateString("a table, say")
		},
	} {
		if _, err := fw.BuildEnvelope(context.Background(), set); err == nil {
			t.Fatal("accepted")
		}
		if _, err := frames.EncodeEnvelope(set); err == nil {
			t.Fatal("EncodeEnvelope accepted")
		}
	}
}

// FuzzEnvelopeFields: whatever the fields, BuildEnvelope's encoding verifies
// and reads back as the builder's.
func FuzzEnvelopeFields(f *testing.F) {
	f.Add(uint64(1), int32(0), uint8(1), uint64(1), int64(0), uint8(0), "", false, []byte(nil), false)
	f.Add(^uint64(0), int32(-1), uint8(255), uint64(7), int64(-1), uint8(4), "not found", true, []byte("data"), false)
	f.Add(uint64(0), int32(5), uint8(0), uint64(0), int64(9), uint8(200), "x", true, []byte{}, false)
	f.Add(uint64(3), int32(0), uint8(1), uint64(3), int64(0), uint8(4), "", false, []byte("64 bytes of a call, more or less"), true)
	f.Add(uint64(0), int32(0), uint8(0), uint64(0), int64(0), uint8(4), "m", true, []byte{}, true)
	f.Fuzz(func(t *testing.T, seq uint64, status int32, kind uint8, corr uint64, deadline int64, ptype uint8, msg string, trace bool, data []byte, hand bool) {
		c := envContent{Seq: seq, Status: status, Msg: msg, Kind: fb.Kind(kind), Corr: corr, Deadline: deadline, PType: fb.Payload(ptype)}
		if trace {
			c.Trace, c.TP, c.TS = true, msg+"-tp", "ts"
		}
		if data != nil && ptype == uint8(fb.PayloadRaw) {
			c.Payload, c.Data = true, string(data)
		}
		build := withFields(c)
		if hand && c.Payload {
			build = withRaw(c) // Raw laid out by hand
		}
		enc, err := frames.EncodeEnvelope(build)
		if err != nil {
			t.Fatal(err)
		}
		var env fb.Envelope
		if err := frames.Open(enc[:len(enc):len(enc)], &env); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		got := readContent(&env)
		if err := frames.Open(frames.Encode(withBuilder(c)), &env); err != nil {
			t.Fatal(err)
		}
		if want := readContent(&env); got != want {
			t.Fatalf("reads %+v, the builder's %+v", got, want)
		}
	})
}

// A shape sent again (same fields present, same Raw length) is laid out from
// the last one's bytes with the new values patched in: every frame must be
// byte for byte what EncodeEnvelope lays out for its own values, whatever
// came before it (a value left over from the previous frame would show).
// BuildEnvelope and LayEnvelope in turn lay out every shape the same.
func TestBuildEnvelopeSameShapeAgainHasOnlyTheNewValues(t *testing.T) {
	w, r := ring(t, 1<<16)
	// A bound every shape fits in: no fallback claim (whose frames keep a
	// gap), so each frame is exactly EncodeEnvelope's bytes.
	fw := frames.NewWriter(w, frames.Bound(1024, true))
	ctx := context.Background()
	for shape := 0; shape < 1<<6; shape++ {
		for _, rawLen := range []int{0, 1, 5, 64} {
			if shape&(1<<5) == 0 && rawLen != 0 {
				continue
			}
			for round := 1; round <= 3; round++ {
				v := uint64(round) * 0x0101010101010101
				fields := func(_ *flatbuffers.Builder, e *frames.EnvelopeFields) {
					if shape&1 != 0 {
						e.Status = int32(round)
					}
					if shape&2 != 0 {
						e.Sequence = v
					}
					if shape&4 != 0 {
						e.CorrelationID = v + 1
					}
					if shape&8 != 0 {
						e.DeadlineUnixNano = -int64(v)
					}
					if shape&16 != 0 {
						e.Kind = fb.Kind(round)
					}
					if shape&32 != 0 {
						e.Raw = bytes.Repeat([]byte{byte(round)}, rawLen)
					}
				}
				want, err := frames.EncodeEnvelope(fields)
				if err != nil {
					t.Fatal(err)
				}
				// BuildEnvelope and LayEnvelope in turn: they share the
				// template, and lay out the same bytes.
				for _, lay := range []bool{(round+shape)%2 == 0, (round+shape)%2 != 0} {
					var err error
					if lay {
						var e frames.EnvelopeFields
						fields(nil, &e)
						_, err = fw.LayEnvelope(ctx, &e)
					} else {
						_, err = fw.BuildEnvelope(ctx, fields)
					}
					if err != nil {
						t.Fatal(err)
					}
					f, err := r.Next(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(f.Data, want) {
						t.Fatalf("shape %#x, Raw of %d, round %d, LayEnvelope %v:\n got %x\nwant %x", shape, rawLen, round, lay, f.Data, want)
					}
					r.Release()
				}
			}
		}
	}
}

// LayEnvelope takes no builder offsets and no envelope larger than the
// ring's frames, and says so; it allocates nothing per frame.
func TestLayEnvelopeRefusesWhatNeedsABuilderAndAllocatesNothing(t *testing.T) {
	w, r := ring(t, 1<<12)
	fw := frames.NewWriter(w)
	ctx := context.Background()
	for name, e := range map[string]frames.EnvelopeFields{
		"a status message": {StatusMessage: 8},
		"a trace":          {Trace: 8},
		"a built payload":  {PayloadType: fb.PayloadRaw, Payload: 8},
	} {
		if _, err := fw.LayEnvelope(ctx, &e); err == nil || !strings.Contains(err.Error(), "BuildEnvelope") {
			t.Errorf("%s: %v, want an error pointing at BuildEnvelope", name, err)
		}
	}
	big := frames.EnvelopeFields{Kind: fb.KindRequest, Raw: make([]byte, w.MaxPayload())}
	if _, err := fw.LayEnvelope(ctx, &big); !errors.Is(err, shm.ErrTooLarge) {
		t.Errorf("an envelope larger than the ring's frames: %v, want ErrTooLarge", err)
	}
	data := make([]byte, 64)
	e := frames.EnvelopeFields{Kind: fb.KindRequest, Raw: data}
	var env fb.Envelope
	step := func() {
		e.CorrelationID++
		if _, err := fw.LayEnvelope(ctx, &e); err != nil {
			t.Fatal(err)
		}
		f, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := frames.Open(f.Data, &env); err != nil || env.CorrelationId() != e.CorrelationID {
			t.Fatalf("frame %d: %v, correlation id %d", e.CorrelationID, err, env.CorrelationId())
		}
		r.Release()
	}
	step()
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Errorf("%v allocations per frame, want 0", a)
	}
}
