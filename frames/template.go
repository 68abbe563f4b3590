package frames

import "encoding/binary"

// envelopeTemplate remembers the last envelope BuildEnvelope laid out
// without the builder (no status message, trace or built payload): its
// bytes, and where its scalars and Raw data go. A caller that sends the
// same shape again (same fields present, same Raw length: every call of a
// request/response loop) gets a copy of those bytes with the new values
// patched in, instead of the layout being worked out and written field by
// field again (about a third of a small envelope's build).
type envelopeTemplate struct {
	key   uint64 // envelopeShape of the fields; 0: no template
	l     envelopeLayout
	root  int // the Envelope table's position
	rawAt int // where Raw.data's bytes start (hand-laid Raw only)
	bytes []byte
}

// envelopeShape returns a key that is equal for two EnvelopeFields exactly
// when BuildEnvelope lays them out alike with nothing built (body 0), or 0
// when a template cannot be used (something was built or refers to the
// builder, or the fields are invalid: the full path reports why).
func envelopeShape(e *EnvelopeFields, body int) uint64 {
	if body != 0 || e.StatusMessage != 0 || e.Trace != 0 || e.Payload != 0 || e.PayloadType != 0 {
		return 0
	}
	k := uint64(1)
	if e.Status != 0 {
		k |= 1 << 1
	}
	if e.Sequence != 0 {
		k |= 1 << 2
	}
	if e.CorrelationID != 0 {
		k |= 1 << 3
	}
	if e.DeadlineUnixNano != 0 {
		k |= 1 << 4
	}
	if e.Kind != 0 {
		k |= 1 << 5
	}
	if e.Raw != nil {
		if len(e.Raw) > maxBuffer/2 {
			return 0
		}
		k |= 1<<6 | uint64(len(e.Raw))<<8
	}
	return k
}

// save makes view[:m], just laid out for fields of shape key with the
// Envelope table at root, the template.
func (t *envelopeTemplate) save(key uint64, l *envelopeLayout, view []byte, root int) {
	t.key, t.l, t.root = key, *l, root
	t.rawAt = 0
	if l.raw >= 0 {
		vs, _, _, _ := l.positions(len(view))
		t.rawAt = vs + 4
	}
	t.bytes = append(t.bytes[:0], view...)
}

// lay writes e, of the template's shape, into view (len(view) ==
// len(t.bytes)): the template's bytes, then e's Raw data and scalars.
func (t *envelopeTemplate) lay(view []byte, e *EnvelopeFields) {
	copy(view, t.bytes)
	if t.l.raw > 0 {
		copy(view[t.rawAt:t.rawAt+t.l.raw], e.Raw)
	}
	tb := view[t.root:]
	le := binary.LittleEndian
	if a := t.l.at[envSequence]; a != 0 {
		le.PutUint64(tb[a:], e.Sequence)
	}
	if a := t.l.at[envStatus]; a != 0 {
		le.PutUint32(tb[a:], uint32(e.Status))
	}
	if a := t.l.at[envCorrelationID]; a != 0 {
		le.PutUint64(tb[a:], e.CorrelationID)
	}
	if a := t.l.at[envDeadline]; a != 0 {
		le.PutUint64(tb[a:], uint64(e.DeadlineUnixNano))
	}
	if a := t.l.at[envKind]; a != 0 {
		tb[a] = byte(e.Kind)
	}
}
