package frames

import (
	"encoding/binary"
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/framebridge/framebridge/frames/fb"
)

// EnvelopeFields is an Envelope's content for Writer.BuildEnvelope: its
// scalars, and the offsets of the objects it refers to, built with the
// builder BuildEnvelope passes (0: absent). Zero scalars are left out of the
// frame, as the FlatBuffers builders leave out defaults.
type EnvelopeFields struct {
	Sequence         uint64
	Status           int32
	Kind             fb.Kind
	CorrelationID    uint64
	DeadlineUnixNano int64

	StatusMessage flatbuffers.UOffsetT // a string
	Trace         flatbuffers.UOffsetT // a TraceContext
	PayloadType   fb.Payload
	Payload       flatbuffers.UOffsetT // a table of PayloadType

	// Raw, when non-nil (empty included), makes the payload Raw{data: Raw},
	// laid out by BuildEnvelope itself like the Envelope table: no builder
	// work at all for a Raw payload. PayloadType and Payload must then be
	// left zero. The bytes are copied into the frame.
	Raw []byte
}

// Envelope field ids (vtable slot 4+2*id) of schemas/frame.fbs; TestSchemaTables
// checks them against the generated code.
const (
	envSequence = iota
	envStatus
	envStatusMessage
	envKind
	envCorrelationID
	envDeadline
	envTrace
	envPayloadType
	envPayload
	envFields
)

// envelopeLayout says where each present field sits in the hand-laid table
// (byte offset from the table's start, 0: absent) and the sizes.
//
//	vtable: vsize u16 | tsize u16 | slot u16 ... (up to the last present field)
//	table (8-aligned): soffset i32 = vsize | 4-byte fields | pad to 8 |
//	                   8-byte fields | 1-byte fields
//
// The vtable sits just before the table; the body the builder built (strings,
// trace, payload) follows the table after at most 7 bytes of padding.
type envelopeLayout struct {
	at    [envFields]uint16
	vsize int
	tsize int
	raw   int // Raw: bytes of Raw.data; -1: no hand-laid Raw
}

// A hand-laid Raw payload sits between the Envelope table and the body:
//
//	Raw vtable: 6, 8, 4 (u16 each) | Raw table (4-aligned): soffset i32 = 6,
//	uoffset u32 = 4 -> | vector: length u32 | data | pad to 4 (zero)
//
// rawVtable is the Raw vtable's size, rawTable the table's.
const (
	rawVtable = 6
	rawTable  = 8
)

func (e *EnvelopeFields) layout() (l envelopeLayout) {
	l.raw = -1
	ptype, payload := e.PayloadType, e.Payload != 0
	if e.Raw != nil {
		l.raw = len(e.Raw)
		ptype, payload = fb.PayloadRaw, true
	}
	o := 4 // the soffset
	put := func(id, size int) {
		l.at[id] = uint16(o)
		o += size
	}
	if e.Status != 0 {
		put(envStatus, 4)
	}
	if e.StatusMessage != 0 {
		put(envStatusMessage, 4)
	}
	if e.Trace != 0 {
		put(envTrace, 4)
	}
	if payload {
		put(envPayload, 4)
	}
	if o&7 != 0 && (e.Sequence != 0 || e.CorrelationID != 0 || e.DeadlineUnixNano != 0) {
		o += 4 // 8-byte fields are 8-aligned, as the table
	}
	if e.Sequence != 0 {
		put(envSequence, 8)
	}
	if e.CorrelationID != 0 {
		put(envCorrelationID, 8)
	}
	if e.DeadlineUnixNano != 0 {
		put(envDeadline, 8)
	}
	if e.Kind != 0 {
		put(envKind, 1)
	}
	if ptype != 0 {
		put(envPayloadType, 1)
	}
	l.tsize = o
	last := envFields - 1
	for last >= 0 && l.at[last] == 0 {
		last--
	}
	l.vsize = 4 + 2*(last+1)
	return l
}

// positions returns where the pieces go in front of a body that starts at
// te: the Raw vector vs and table rt (hand-laid Raw only), the Envelope table
// p and its vtable vt. Moving te by a multiple of 8 moves them all by as
// much, so a te of 0 gives the (negative) offsets relative to the body.
func (l *envelopeLayout) positions(te int) (vs, rt, p, vt int) {
	if l.raw >= 0 {
		vs = (te - l.raw - 4) &^ 3
		rt = vs - rawTable
		te = rt - rawVtable // the Envelope table ends here at the latest
	}
	p = (te - l.tsize) &^ 7
	vt = p - l.vsize
	return vs, rt, p, vt
}

// bodyless is the smallest claim (a multiple of Align) that holds the
// prefix and the envelope when nothing was built.
func (l *envelopeLayout) bodyless() int {
	_, _, _, vt := l.positions(0)
	return alignUp(prefixLen-vt, Align)
}

// size is the most bytes the envelope (and a hand-laid Raw) takes in front
// of the body.
func (l *envelopeLayout) size() int {
	n := l.vsize + l.tsize + 7
	if l.raw >= 0 {
		n += rawVtable + rawTable + 4 + l.raw + 3
	}
	return n
}

// check rejects offsets that cannot be objects of a body of body bytes: the
// builder's offsets count from the end and objects are 4-aligned.
func (e *EnvelopeFields) check(body int) error {
	if e.Raw != nil && (e.Payload != 0 || e.PayloadType != 0) {
		return fmt.Errorf("frames: EnvelopeFields.Raw is set with PayloadType %d and Payload %d: leave them zero", e.PayloadType, e.Payload)
	}
	if len(e.Raw) > maxBuffer/2 {
		return fmt.Errorf("frames: EnvelopeFields.Raw of %d bytes", len(e.Raw))
	}
	for _, f := range [...]struct {
		name string
		off  flatbuffers.UOffsetT
	}{{"StatusMessage", e.StatusMessage}, {"Trace", e.Trace}, {"Payload", e.Payload}} {
		if f.off != 0 && (int(f.off) > body || f.off&3 != 0) {
			return fmt.Errorf("frames: EnvelopeFields.%s = %d is not an object of the %d bytes built", f.name, f.off, body)
		}
	}
	return nil
}

// place writes the envelope in front of a body that occupies the last body
// bytes of view and returns the table's position, or false if the envelope
// does not fit between the prefix and the body. len(view) is a multiple of
// Align, so the body keeps the alignment the builder gave it.
func (e *EnvelopeFields) place(l *envelopeLayout, view []byte, body int) (int, bool) {
	n := len(view)
	vs, rt, p, vt := l.positions(n - body)
	if vt < prefixLen {
		return 0, false
	}
	te := n - body // the Envelope table and its padding end here
	if l.raw >= 0 {
		te = rt - rawVtable
	}
	le := binary.LittleEndian
	if l.raw >= 0 {
		rv := te
		le.PutUint16(view[rv:], rawVtable)
		le.PutUint16(view[rv+2:], rawTable)
		le.PutUint16(view[rv+4:], 4) // Raw.data's offset in its table
		le.PutUint32(view[rt:], uint32(rt-rv))
		le.PutUint32(view[rt+4:], uint32(vs-(rt+4)))
		le.PutUint32(view[vs:], uint32(l.raw))
		d := vs + 4 + copy(view[vs+4:], e.Raw)
		clear(view[d : n-body]) // padding
	}
	le.PutUint16(view[vt:], uint16(l.vsize))
	le.PutUint16(view[vt+2:], uint16(l.tsize))
	slots := view[vt+4 : p]
	for id := 0; id < len(slots)/2; id++ {
		le.PutUint16(slots[2*id:], l.at[id])
	}
	t := view[p:te]
	clear(t) // padding, so the same fields always give the same bytes
	le.PutUint32(t, uint32(l.vsize))
	if a := l.at[envSequence]; a != 0 {
		le.PutUint64(t[a:], e.Sequence)
	}
	if a := l.at[envStatus]; a != 0 {
		le.PutUint32(t[a:], uint32(e.Status))
	}
	if a := l.at[envKind]; a != 0 {
		t[a] = byte(e.Kind)
	}
	if a := l.at[envCorrelationID]; a != 0 {
		le.PutUint64(t[a:], e.CorrelationID)
	}
	if a := l.at[envDeadline]; a != 0 {
		le.PutUint64(t[a:], uint64(e.DeadlineUnixNano))
	}
	if a := l.at[envPayloadType]; a != 0 {
		t[a] = byte(e.PayloadType)
		if l.raw >= 0 {
			t[a] = byte(fb.PayloadRaw)
		}
	}
	// uoffsets are relative to where they are stored; the targets lie in
	// the body, after the table, so they are positive.
	ref := func(id int, off flatbuffers.UOffsetT) {
		if a := int(l.at[id]); a != 0 {
			le.PutUint32(t[a:], uint32(n-int(off)-(p+a)))
		}
	}
	ref(envStatusMessage, e.StatusMessage)
	ref(envTrace, e.Trace)
	if l.raw >= 0 {
		a := int(l.at[envPayload])
		le.PutUint32(t[a:], uint32(rt-(p+a)))
	} else {
		ref(envPayload, e.Payload)
	}
	return p, true
}

// EncodeEnvelope is Writer.BuildEnvelope off-ring (for tests, vectors and
// tools): the bytes a BuildEnvelope of a claim of the smallest size commits.
func EncodeEnvelope(build func(b *flatbuffers.Builder, e *EnvelopeFields)) ([]byte, error) {
	b := flatbuffers.NewBuilder(256)
	var e EnvelopeFields
	build(b, &e)
	body := int(b.Offset())
	if err := e.check(body); err != nil {
		return nil, err
	}
	l := e.layout()
	n := alignUp(prefixLen+l.size()+body, Align)
	if body == 0 {
		n = l.bodyless()
	}
	view := make([]byte, n)
	copy(view[len(view)-body:], b.Bytes[b.Head():])
	root, _ := e.place(&l, view, body)
	writePrefix(view, root)
	return view, nil
}
