package frames

import (
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/framebridge/framebridge/frames/fb"
)

// Ring frame types of typed frames (docs/schemas.md).
const (
	// TypeFlatBuffers: the payload is a FlatBuffers Envelope (identifier FRB1).
	TypeFlatBuffers = 16
	// TypeCapnp: the payload is a single-segment Cap'n Proto Envelope.
	TypeCapnp = 17
)

// FileIdentifier is frame.fbs's file_identifier, at offset 4 of every type-16 payload.
const FileIdentifier = "FRB1"

var fileIdentifier = []byte(FileIdentifier)

// The verifier's description of schemas/frame.fbs, field by field in id order.
// schema_test.go checks it against the generated code (ids, kinds, sizes).
var (
	TraceContextTable = &Table{Name: "TraceContext", Fields: []Field{
		{Name: "traceparent", Kind: String},
		{Name: "tracestate", Kind: String},
	}}
	MediaChunkTable = &Table{Name: "MediaChunk", Fields: []Field{
		{Name: "codec", Kind: String},
		{Name: "format", Kind: Scalar, Size: 2},
		{Name: "stream_id", Kind: Scalar, Size: 8},
		{Name: "pts_ns", Kind: Scalar, Size: 8},
		{Name: "dts_ns", Kind: Scalar, Size: 8},
		{Name: "duration_ns", Kind: Scalar, Size: 8},
		{Name: "sample_rate", Kind: Scalar, Size: 4},
		{Name: "channels", Kind: Scalar, Size: 2},
		{Name: "width", Kind: Scalar, Size: 2},
		{Name: "height", Kind: Scalar, Size: 2},
		{Name: "keyframe", Kind: Scalar, Size: 1},
		{Name: "data", Kind: Vector, Size: 1},
	}}
	TensorTable = &Table{Name: "Tensor", Fields: []Field{
		{Name: "dtype", Kind: Scalar, Size: 1},
		{Name: "shape", Kind: Vector, Size: 8},
		{Name: "data", Kind: Vector, Size: 1},
	}}
	ModelRequestTable = &Table{Name: "ModelRequest", Fields: []Field{
		{Name: "model_name", Kind: String},
		{Name: "model_version", Kind: String},
		{Name: "features", Kind: TableField, Table: TensorTable},
	}}
	ModelResponseTable = &Table{Name: "ModelResponse", Fields: []Field{
		{Name: "model_name", Kind: String},
		{Name: "model_version", Kind: String},
		{Name: "scores", Kind: Vector, Size: 4},
		{Name: "labels", Kind: StringVector},
		{Name: "queue_ns", Kind: Scalar, Size: 8},
		{Name: "inference_ns", Kind: Scalar, Size: 8},
		{Name: "total_ns", Kind: Scalar, Size: 8},
	}}
	RawTable = &Table{Name: "Raw", Fields: []Field{
		{Name: "data", Kind: Vector, Size: 1},
	}}
	EnvelopeTable = &Table{Name: "Envelope", Fields: []Field{
		{Name: "sequence", Kind: Scalar, Size: 8},
		{Name: "status", Kind: Scalar, Size: 4},
		{Name: "status_message", Kind: String},
		{Name: "kind", Kind: Scalar, Size: 1},
		{Name: "correlation_id", Kind: Scalar, Size: 8},
		{Name: "deadline_unix_nano", Kind: Scalar, Size: 8},
		{Name: "trace", Kind: TableField, Table: TraceContextTable},
		{Name: "payload_type", Kind: Scalar, Size: 1},
		{Name: "payload", Kind: Union, Union: []*Table{MediaChunkTable, ModelRequestTable, ModelResponseTable, RawTable}},
	}}
)

// Verify checks that data is a valid type-16 payload: a FlatBuffers Envelope
// with identifier FRB1 (any gap between the identifier and the body is
// allowed). It allocates nothing unless it fails.
func Verify(data []byte) error {
	return VerifyTable(data, EnvelopeTable, FileIdentifier, DefaultLimits)
}

// Open verifies data (a type-16 payload) and points env at its root. Only
// after Open returns nil may env's accessors be used; strings and byte vectors
// they return alias data (copy them, strings.Clone, to keep them past Release).
func Open(data []byte, env *fb.Envelope) error {
	touchLines(data)
	if err := Verify(data); err != nil {
		return err
	}
	env.Init(data, flatbuffers.GetUOffsetT(data))
	return nil
}

// OpenCopy is Open on a private copy: it copies data into buf (grown if too
// small, and returned for reuse) and verifies the copy, so a writer that keeps
// changing a committed frame cannot change what was verified. Use it when the
// writing peer is not trusted (docs/schemas.md, verification policy).
func OpenCopy(data, buf []byte, env *fb.Envelope) ([]byte, error) {
	if cap(buf) < len(data) {
		buf = make([]byte, len(data))
	}
	buf = buf[:len(data):len(data)]
	copy(buf, data) // the copy brings in every line: no touchLines on it
	if err := Verify(buf); err != nil {
		return buf, err
	}
	env.Init(buf, flatbuffers.GetUOffsetT(buf))
	return buf, nil
}

// touchLines loads a byte of every cache line of b, all at once. A frame just
// committed by another core is a cache miss per line; the verifier walks it
// along a chain of offsets, one dependent miss after another, while these
// independent loads let the misses overlap. Not inlined, so that its loads,
// whose result nobody uses, are not compiled away.
//
//go:noinline
func touchLines(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	x := b[len(b)-1]
	for i := 0; i < len(b); i += 64 {
		x ^= b[i]
	}
	return x
}

// RawData returns the bytes of env's Raw payload, or nil if its payload is
// not Raw. They alias the frame.
func RawData(env *fb.Envelope) []byte {
	if env.PayloadType() != fb.PayloadRaw {
		return nil
	}
	var t flatbuffers.Table
	if !env.Payload(&t) {
		return nil
	}
	var r fb.Raw
	r.Init(t.Bytes, t.Pos)
	return r.DataBytes()
}
