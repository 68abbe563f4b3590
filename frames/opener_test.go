package frames_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/framebridge/framebridge/frames"
	"github.com/framebridge/framebridge/frames/fb"
)

// openerFrames are envelopes an Opener remembers (hand-laid and builder-made,
// with and without a Raw payload) and one it does not (a status message).
func openerFrames(t testing.TB) [][]byte {
	var out [][]byte
	add := func(b []byte, err error) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for _, n := range []int{0, 3, 64, 300} {
		data := bytes.Repeat([]byte{0xA5}, n)
		add(frames.EncodeEnvelope(func(_ *flatbuffers.Builder, e *frames.EnvelopeFields) {
			e.Sequence, e.Kind, e.CorrelationID, e.DeadlineUnixNano, e.Raw = 7, fb.KindResponse, 9, 11, data
		}))
		out = append(out, frames.Encode(func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
			v := b.CreateByteVector(data)
			fb.RawStart(b)
			fb.RawAddData(b, v)
			raw := fb.RawEnd(b)
			fb.EnvelopeStart(b)
			fb.EnvelopeAddCorrelationId(b, 9)
			fb.EnvelopeAddKind(b, fb.KindResponse)
			fb.EnvelopeAddPayloadType(b, fb.PayloadRaw)
			fb.EnvelopeAddPayload(b, raw)
			return fb.EnvelopeEnd(b)
		}))
	}
	add(frames.EncodeEnvelope(func(_ *flatbuffers.Builder, e *frames.EnvelopeFields) { e.Kind, e.CorrelationID = fb.KindResponse, 3 }))
	add(frames.EncodeEnvelope(func(_ *flatbuffers.Builder, e *frames.EnvelopeFields) {
		e.Kind, e.CorrelationID, e.Status = fb.KindResponse, 3, 14
	}))
	add(frames.EncodeEnvelope(func(b *flatbuffers.Builder, e *frames.EnvelopeFields) {
		e.Kind, e.CorrelationID, e.Status, e.StatusMessage = fb.KindResponse, 3, 5, b.CreateString("failed")
	}))
	return out
}

// Same shape, new values: accepted, and read like the package's Open reads.
func TestOpenerReadsWhatOpenReads(t *testing.T) {
	for k, f := range openerFrames(t) {
		var o frames.Opener
		for round := 0; round < 3; round++ {
			g := bytes.Clone(f)
			if round > 0 {
				var env fb.Envelope
				frames.Open(g, &env)
				if p := frames.RawData(&env); len(p) > 0 {
					p[0] = byte(round) // new payload bytes, same structure
				}
			}
			var a, b fb.Envelope
			if err := o.Open(g, &a); err != nil {
				t.Fatalf("frame %d round %d: %v", k, round, err)
			}
			if err := frames.Open(g, &b); err != nil {
				t.Fatal(err)
			}
			if kind, id, st, err := o.Header(g); err != nil || kind != b.Kind() || id != b.CorrelationId() || st != b.Status() {
				t.Fatalf("frame %d round %d: Header reads kind %d, correlation id %d, status %d (%v); Open's envelope %d, %d, %d",
					k, round, kind, id, st, err, b.Kind(), b.CorrelationId(), b.Status())
			}
			if a.CorrelationId() != b.CorrelationId() || a.Kind() != b.Kind() || a.Status() != b.Status() ||
				!bytes.Equal(frames.RawData(&a), frames.RawData(&b)) || !bytes.Equal(a.StatusMessage(), b.StatusMessage()) {
				t.Fatalf("frame %d round %d: the Opener's envelope reads differently from Open's", k, round)
			}
		}
	}
}

// A frame that keeps the remembered structure but claims a Raw length past
// its end, or that is cut short, is refused like Open refuses it.
func TestOpenerRefusesWhatOpenRefuses(t *testing.T) {
	f := openerFrames(t)[2] // hand-laid, 64 bytes of Raw
	var o frames.Opener
	var env fb.Envelope
	if err := o.Open(f, &env); err != nil {
		t.Fatal(err)
	}
	raw := frames.RawData(&env)
	lenAt := cap(f) - cap(raw) - 4 // raw aliases f: its length word is just before it
	if binary.LittleEndian.Uint32(f[lenAt:]) != uint32(len(raw)) {
		t.Fatalf("test setup: no Raw length at %d", lenAt)
	}
	long := bytes.Clone(f)
	binary.LittleEndian.PutUint32(long[lenAt:], uint32(len(raw)+len(f)))
	for name, g := range map[string][]byte{"Raw length past the end": long, "cut short": f[:len(f)-8], "cut to the head": f[:40]} {
		if err := o.Open(g, &env); err == nil {
			t.Errorf("%s: accepted", name)
		} else if frames.Open(g, &env) == nil {
			t.Errorf("%s: Open accepts what the Opener refused (%v)", name, err)
		}
	}
	if err := o.Open(f, &env); err != nil {
		t.Fatalf("the original again: %v", err)
	}
}

// FuzzOpener: an Opener that has just accepted a valid frame gives, for any
// bytes, the same verdict as Open, and an envelope that reads inside them.
// The input mutates a remembered frame (so the comparisons are exercised
// byte by byte) or is taken as it is.
func FuzzOpener(f *testing.F) {
	for k := range openerFrames(f) {
		f.Add(uint8(k), []byte{}, uint16(0))
		f.Add(uint8(k), []byte{12, 0xFF, 40, 1}, uint16(0))
		f.Add(uint8(k), []byte{}, uint16(9))
	}
	fr := openerFrames(f)
	f.Fuzz(func(t *testing.T, which uint8, edits []byte, cut uint16) {
		base := fr[int(which)%len(fr)]
		var o frames.Opener
		var env fb.Envelope
		if err := o.Open(base, &env); err != nil {
			t.Fatal(err)
		}
		g := bytes.Clone(base)
		for i := 0; i+1 < len(edits); i += 2 {
			g[int(edits[i])%len(g)] = edits[i+1]
		}
		g = g[:len(g)-int(cut)%(len(g)+1)]
		g = g[:len(g):len(g)]
		var a, b fb.Envelope
		errA, errB := o.Open(g, &a), frames.Open(g, &b)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("Opener: %v, Open: %v", errA, errB)
		}
		if errA == nil {
			readAll(&a)
		}
	})
}

// A frame rewritten after Open verified it (read in place, from a hostile
// writer) makes Header fail, never panic, whatever its bytes: every
// mutation of every byte of a frame of another shape than the remembered
// one (so that Header walks the vtable), and of the remembered shape.
func TestOpenerHeaderNeverReadsOutOfRange(t *testing.T) {
	fs := openerFrames(t)
	for k, f := range fs {
		var o frames.Opener
		var env fb.Envelope
		if k > 0 {
			if err := o.Open(fs[k-1], &env); err != nil { // another shape remembered
				t.Fatal(err)
			}
		}
		for round := 0; round < 2; round++ { // round 1: f's shape remembered too
			g := bytes.Clone(f)
			if err := o.Open(g, &env); err != nil {
				t.Fatal(err)
			}
			for i := range g {
				for _, v := range []byte{0x00, 0x7F, 0x80, 0xFF} {
					old := g[i]
					g[i] = v
					o.Header(g) // must not panic
					g[i] = old
				}
			}
			if _, _, _, err := o.Header(g); err != nil {
				t.Fatalf("frame %d: the unchanged frame: %v", k, err)
			}
		}
	}
	// A root offset past the end, and a vtable before the start, are errors.
	var o frames.Opener
	var env fb.Envelope
	f := bytes.Clone(fs[0])
	if err := o.Open(f, &env); err != nil {
		t.Fatal(err)
	}
	if err := o.Open(bytes.Clone(fs[len(fs)-1]), &env); err != nil { // not remembered: Header walks the vtable
		t.Fatal(err)
	}
	g := bytes.Clone(f)
	binary.LittleEndian.PutUint32(g, uint32(len(g)))
	if _, _, _, err := o.Header(g); err == nil {
		t.Error("root offset past the end: no error")
	}
	root := binary.LittleEndian.Uint32(f)
	h := bytes.Clone(f)
	binary.LittleEndian.PutUint32(h[root:], 0x7FFFFFFF)
	if _, _, _, err := o.Header(h); err == nil {
		t.Error("vtable before the buffer: no error")
	}
}
