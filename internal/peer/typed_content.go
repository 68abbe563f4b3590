package peer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	flatbuffers "github.com/google/flatbuffers/go"

	"capnproto.org/go/capnp/v3"

	"github.com/framebridge/framebridge/frames"
	"github.com/framebridge/framebridge/frames/fb"
	"github.com/framebridge/framebridge/frames/framescapnp"
)

// The content of typed test envelope i of writer w (docs/peers.md, "Typed frames").

// DeadlineBase is added to i for an envelope's deadline_unix_nano.
const DeadlineBase = 1790000000000000000

// TestTraceparent is envelope i's traceparent.
func TestTraceparent(w uint32, i uint64) string {
	return fmt.Sprintf("00-%032x-%016x-01", i, uint64(w)+1)
}

// TestCorrelation is envelope i's correlation id.
func TestCorrelation(w uint32, i uint64) uint64 { return uint64(w)<<32 | uint64(uint32(i)) }

func testMediaData(i uint64) []byte {
	d := make([]byte, 160)
	for k := range d {
		d[k] = byte(i + uint64(k))
	}
	return d
}

func testFeatures(i uint64) []byte {
	d := make([]byte, 16*4)
	for k := 0; k < 16; k++ {
		binary.LittleEndian.PutUint32(d[4*k:], math.Float32bits(float32(i%1000)+float32(k)/4))
	}
	return d
}

func testScores(i uint64) (float32, float32) {
	s := 0.25 * float32(i%4)
	return s, 1 - s
}

// testObjects builds what FlatBuffers envelope i of writer w refers to.
func testObjects(b *flatbuffers.Builder, w uint32, i uint64) (statusMsg, trace, payload flatbuffers.UOffsetT, ptype fb.Payload) {
	if i%3 == 2 {
		statusMsg = b.CreateString("not found #" + strconv.FormatUint(i, 10))
	}
	tp := b.CreateString(TestTraceparent(w, i))
	ts := b.CreateString("fb=" + strconv.FormatUint(i, 10))
	fb.TraceContextStart(b)
	fb.TraceContextAddTraceparent(b, tp)
	fb.TraceContextAddTracestate(b, ts)
	trace = fb.TraceContextEnd(b)

	switch i % 3 {
	case 0:
		codec := b.CreateString("opus")
		data := b.CreateByteVector(testMediaData(i))
		fb.MediaChunkStart(b)
		fb.MediaChunkAddCodec(b, codec)
		fb.MediaChunkAddFormat(b, fb.MediaFormatOpus)
		fb.MediaChunkAddStreamId(b, uint64(w))
		fb.MediaChunkAddPtsNs(b, int64(i*20000000))
		fb.MediaChunkAddDtsNs(b, int64(i*20000000))
		fb.MediaChunkAddDurationNs(b, 20000000)
		fb.MediaChunkAddSampleRate(b, 48000)
		fb.MediaChunkAddChannels(b, 2)
		fb.MediaChunkAddKeyframe(b, i%10 == 0)
		fb.MediaChunkAddData(b, data)
		payload, ptype = fb.MediaChunkEnd(b), fb.PayloadMediaChunk
	case 1:
		features := BuildTensor(b, fb.DTypeFloat32, 1, 16, testFeatures(i))
		name := b.CreateString("risk")
		version := b.CreateString("v" + strconv.FormatUint(i%5, 10))
		fb.ModelRequestStart(b)
		fb.ModelRequestAddModelName(b, name)
		fb.ModelRequestAddModelVersion(b, version)
		fb.ModelRequestAddFeatures(b, features)
		payload, ptype = fb.ModelRequestEnd(b), fb.PayloadModelRequest
	case 2:
		s0, s1 := testScores(i)
		payload = BuildModelResponse(b, "v3", s0, s1, int64(i), int64(2*i), int64(3*i))
		ptype = fb.PayloadModelResponse
	}
	return statusMsg, trace, payload, ptype
}

// BuildTestEnvelope builds FlatBuffers envelope i of writer w and returns its root.
func BuildTestEnvelope(b *flatbuffers.Builder, w uint32, i uint64) flatbuffers.UOffsetT {
	statusMsg, trace, payload, ptype := testObjects(b, w, i)
	fb.EnvelopeStart(b)
	fb.EnvelopeAddSequence(b, i)
	if i%3 == 2 {
		fb.EnvelopeAddStatus(b, 5)
		fb.EnvelopeAddStatusMessage(b, statusMsg)
	}
	if i%2 == 0 {
		fb.EnvelopeAddKind(b, fb.KindRequest)
	} else {
		fb.EnvelopeAddKind(b, fb.KindOneWay)
	}
	fb.EnvelopeAddCorrelationId(b, TestCorrelation(w, i))
	fb.EnvelopeAddDeadlineUnixNano(b, DeadlineBase+int64(i))
	fb.EnvelopeAddTrace(b, trace)
	fb.EnvelopeAddPayloadType(b, ptype)
	fb.EnvelopeAddPayload(b, payload)
	return fb.EnvelopeEnd(b)
}

// BuildTestEnvelopeFields is BuildTestEnvelope for frames.Writer.BuildEnvelope:
// the same objects built with b, the envelope's fields in e.
func BuildTestEnvelopeFields(b *flatbuffers.Builder, e *frames.EnvelopeFields, w uint32, i uint64) {
	e.StatusMessage, e.Trace, e.Payload, e.PayloadType = testObjects(b, w, i)
	e.Sequence = i
	if i%3 == 2 {
		e.Status = 5
	}
	e.Kind = fb.KindRequest
	if i%2 != 0 {
		e.Kind = fb.KindOneWay
	}
	e.CorrelationID = TestCorrelation(w, i)
	e.DeadlineUnixNano = DeadlineBase + int64(i)
}

// BuildTensor builds a 2-D Tensor whose data (already little-endian) is
// aligned to 16 bytes as frame.fbs's force_align asks. Allocates nothing.
func BuildTensor(b *flatbuffers.Builder, dtype fb.DType, rows, cols int64, data []byte) flatbuffers.UOffsetT {
	// CreateByteVector aligns to 4 only; Prep first for force_align: 16.
	b.Prep(16, len(data))
	dv := b.CreateByteVector(data)
	fb.TensorStartShapeVector(b, 2)
	b.PrependInt64(cols)
	b.PrependInt64(rows)
	shape := b.EndVector(2)
	fb.TensorStart(b)
	fb.TensorAddDtype(b, dtype)
	fb.TensorAddShape(b, shape)
	fb.TensorAddData(b, dv)
	return fb.TensorEnd(b)
}

// BuildModelResponse builds a ModelResponse of model "risk" with scores
// [s0, s1] and labels ["fraud", "ok"]. Allocates nothing.
func BuildModelResponse(b *flatbuffers.Builder, version string, s0, s1 float32, queue, inference, total int64) flatbuffers.UOffsetT {
	name := b.CreateString("risk")
	ver := b.CreateString(version)
	fraud := b.CreateString("fraud")
	ok := b.CreateString("ok")
	fb.ModelResponseStartLabelsVector(b, 2)
	b.PrependUOffsetT(ok)
	b.PrependUOffsetT(fraud)
	labels := b.EndVector(2)
	fb.ModelResponseStartScoresVector(b, 2)
	b.PrependFloat32(s1)
	b.PrependFloat32(s0)
	scores := b.EndVector(2)
	fb.ModelResponseStart(b)
	fb.ModelResponseAddModelName(b, name)
	fb.ModelResponseAddModelVersion(b, ver)
	fb.ModelResponseAddScores(b, scores)
	fb.ModelResponseAddLabels(b, labels)
	fb.ModelResponseAddQueueNs(b, queue)
	fb.ModelResponseAddInferenceNs(b, inference)
	fb.ModelResponseAddTotalNs(b, total)
	return fb.ModelResponseEnd(b)
}

type checker struct {
	w   uint32
	i   uint64
	err error
}

func (c *checker) eq(field string, got, want any) {
	if c.err == nil && got != want {
		c.err = fmt.Errorf("writer %d envelope %d: %s = %v, want %v", c.w, c.i, field, got, want)
	}
}

func (c *checker) bytes(field string, got, want []byte) {
	if c.err == nil && !bytes.Equal(got, want) {
		c.err = fmt.Errorf("writer %d envelope %d: %s = %x, want %x", c.w, c.i, field, got, want)
	}
}

// CheckTestEnvelope checks every field of a verified envelope against envelope i of writer w.
func CheckTestEnvelope(e *fb.Envelope, w uint32, i uint64) error {
	c := &checker{w: w, i: i}
	c.eq("sequence", e.Sequence(), i)
	if i%3 == 2 {
		c.eq("status", e.Status(), int32(5))
		c.eq("status_message", string(e.StatusMessage()), "not found #"+strconv.FormatUint(i, 10))
	} else {
		c.eq("status", e.Status(), int32(0))
		c.eq("status_message present", e.StatusMessage() != nil, false)
	}
	wantKind := fb.KindOneWay
	if i%2 == 0 {
		wantKind = fb.KindRequest
	}
	c.eq("kind", e.Kind(), wantKind)
	c.eq("correlation_id", e.CorrelationId(), TestCorrelation(w, i))
	c.eq("deadline_unix_nano", e.DeadlineUnixNano(), DeadlineBase+int64(i))
	var tc fb.TraceContext
	if e.Trace(&tc) == nil {
		c.eq("trace present", false, true)
	} else {
		c.eq("trace.traceparent", string(tc.Traceparent()), TestTraceparent(w, i))
		c.eq("trace.tracestate", string(tc.Tracestate()), "fb="+strconv.FormatUint(i, 10))
	}
	var t flatbuffers.Table
	if !e.Payload(&t) {
		c.eq("payload present", false, true)
		return c.err
	}
	switch i % 3 {
	case 0:
		c.eq("payload_type", e.PayloadType(), fb.PayloadMediaChunk)
		if c.err != nil {
			return c.err
		}
		var m fb.MediaChunk
		m.Init(t.Bytes, t.Pos)
		c.eq("codec", string(m.Codec()), "opus")
		c.eq("format", m.Format(), fb.MediaFormatOpus)
		c.eq("stream_id", m.StreamId(), uint64(w))
		c.eq("pts_ns", m.PtsNs(), int64(i*20000000))
		c.eq("dts_ns", m.DtsNs(), int64(i*20000000))
		c.eq("duration_ns", m.DurationNs(), int64(20000000))
		c.eq("sample_rate", m.SampleRate(), uint32(48000))
		c.eq("channels", m.Channels(), uint16(2))
		c.eq("width", m.Width(), uint16(0))
		c.eq("height", m.Height(), uint16(0))
		c.eq("keyframe", m.Keyframe(), i%10 == 0)
		c.bytes("data", m.DataBytes(), testMediaData(i))
	case 1:
		c.eq("payload_type", e.PayloadType(), fb.PayloadModelRequest)
		if c.err != nil {
			return c.err
		}
		var m fb.ModelRequest
		m.Init(t.Bytes, t.Pos)
		c.eq("model_name", string(m.ModelName()), "risk")
		c.eq("model_version", string(m.ModelVersion()), "v"+strconv.FormatUint(i%5, 10))
		var tn fb.Tensor
		if m.Features(&tn) == nil {
			c.eq("features present", false, true)
			return c.err
		}
		c.eq("features.dtype", tn.Dtype(), fb.DTypeFloat32)
		c.eq("features.shape length", tn.ShapeLength(), 2)
		if c.err == nil {
			c.eq("features.shape[0]", tn.Shape(0), int64(1))
			c.eq("features.shape[1]", tn.Shape(1), int64(16))
		}
		c.bytes("features.data", tn.DataBytes(), testFeatures(i))
	case 2:
		c.eq("payload_type", e.PayloadType(), fb.PayloadModelResponse)
		if c.err != nil {
			return c.err
		}
		var m fb.ModelResponse
		m.Init(t.Bytes, t.Pos)
		c.eq("model_name", string(m.ModelName()), "risk")
		c.eq("model_version", string(m.ModelVersion()), "v3")
		s0, s1 := testScores(i)
		c.eq("scores length", m.ScoresLength(), 2)
		c.eq("labels length", m.LabelsLength(), 2)
		if c.err == nil {
			c.eq("scores[0]", m.Scores(0), s0)
			c.eq("scores[1]", m.Scores(1), s1)
			c.eq("labels[0]", string(m.Labels(0)), "fraud")
			c.eq("labels[1]", string(m.Labels(1)), "ok")
		}
		c.eq("queue_ns", m.QueueNs(), int64(i))
		c.eq("inference_ns", m.InferenceNs(), int64(2*i))
		c.eq("total_ns", m.TotalNs(), int64(3*i))
	}
	return c.err
}

// BuildTestEnvelopeCapnp sets envelope i of writer w as the root of seg's message.
func BuildTestEnvelopeCapnp(seg *capnp.Segment, w uint32, i uint64) error {
	e, err := framescapnp.NewRootEnvelope(seg)
	if err != nil {
		return err
	}
	e.SetSequence(i)
	if i%3 == 2 {
		e.SetStatus(5)
		if err := e.SetStatusMessage("not found #" + strconv.FormatUint(i, 10)); err != nil {
			return err
		}
	}
	if i%2 == 0 {
		e.SetKind(framescapnp.Kind_request)
	} else {
		e.SetKind(framescapnp.Kind_oneWay)
	}
	e.SetCorrelationId(TestCorrelation(w, i))
	e.SetDeadlineUnixNano(DeadlineBase + int64(i))
	tc, err := e.NewTrace()
	if err != nil {
		return err
	}
	if err := tc.SetTraceparent(TestTraceparent(w, i)); err != nil {
		return err
	}
	if err := tc.SetTracestate("fb=" + strconv.FormatUint(i, 10)); err != nil {
		return err
	}
	switch i % 3 {
	case 0:
		m, err := e.Payload().NewMediaChunk()
		if err != nil {
			return err
		}
		if err := m.SetCodec("opus"); err != nil {
			return err
		}
		m.SetFormat(framescapnp.MediaFormat_opus)
		m.SetStreamId(uint64(w))
		m.SetPtsNs(int64(i * 20000000))
		m.SetDtsNs(int64(i * 20000000))
		m.SetDurationNs(20000000)
		m.SetSampleRate(48000)
		m.SetChannels(2)
		m.SetKeyframe(i%10 == 0)
		return m.SetData(testMediaData(i))
	case 1:
		m, err := e.Payload().NewModelRequest()
		if err != nil {
			return err
		}
		if err := m.SetModelName("risk"); err != nil {
			return err
		}
		if err := m.SetModelVersion("v" + strconv.FormatUint(i%5, 10)); err != nil {
			return err
		}
		return BuildTensorCapnp(m, 1, 16, testFeatures(i))
	default:
		m, err := e.Payload().NewModelResponse()
		if err != nil {
			return err
		}
		s0, s1 := testScores(i)
		return BuildModelResponseCapnp(m, "v3", s0, s1, int64(i), int64(2*i), int64(3*i))
	}
}

// BuildTensorCapnp sets m's features to a Float32 tensor [rows, cols] of data.
func BuildTensorCapnp(m framescapnp.ModelRequest, rows, cols int64, data []byte) error {
	t, err := m.NewFeatures()
	if err != nil {
		return err
	}
	t.SetDtype(framescapnp.DType_float32)
	shape, err := t.NewShape(2)
	if err != nil {
		return err
	}
	shape.Set(0, rows)
	shape.Set(1, cols)
	return t.SetData(data)
}

// BuildModelResponseCapnp fills m as BuildModelResponse does.
func BuildModelResponseCapnp(m framescapnp.ModelResponse, version string, s0, s1 float32, queue, inference, total int64) error {
	if err := m.SetModelName("risk"); err != nil {
		return err
	}
	if err := m.SetModelVersion(version); err != nil {
		return err
	}
	sc, err := m.NewScores(2)
	if err != nil {
		return err
	}
	sc.Set(0, s0)
	sc.Set(1, s1)
	lb, err := m.NewLabels(2)
	if err != nil {
		return err
	}
	if err := lb.Set(0, "fraud"); err != nil {
		return err
	}
	if err := lb.Set(1, "ok"); err != nil {
		return err
	}
	m.SetQueueNs(queue)
	m.SetInferenceNs(inference)
	m.SetTotalNs(total)
	return nil
}

// CheckTestEnvelopeCapnp checks every field of a Cap'n Proto envelope.
func CheckTestEnvelopeCapnp(e framescapnp.Envelope, w uint32, i uint64) error {
	c := &checker{w: w, i: i}
	text := func(field string, get func() (string, error), want string) {
		s, err := get()
		if err != nil && c.err == nil {
			c.err = fmt.Errorf("writer %d envelope %d: %s: %w", w, i, field, err)
		}
		c.eq(field, s, want)
	}
	c.eq("sequence", e.Sequence(), i)
	if i%3 == 2 {
		c.eq("status", e.Status(), int32(5))
		text("statusMessage", e.StatusMessage, "not found #"+strconv.FormatUint(i, 10))
	} else {
		c.eq("status", e.Status(), int32(0))
		text("statusMessage", e.StatusMessage, "")
	}
	wantKind := framescapnp.Kind_oneWay
	if i%2 == 0 {
		wantKind = framescapnp.Kind_request
	}
	c.eq("kind", e.Kind(), wantKind)
	c.eq("correlationId", e.CorrelationId(), TestCorrelation(w, i))
	c.eq("deadlineUnixNano", e.DeadlineUnixNano(), DeadlineBase+int64(i))
	tc, err := e.Trace()
	if err != nil {
		return fmt.Errorf("writer %d envelope %d: trace: %w", w, i, err)
	}
	text("trace.traceparent", tc.Traceparent, TestTraceparent(w, i))
	text("trace.tracestate", tc.Tracestate, "fb="+strconv.FormatUint(i, 10))
	if c.err != nil {
		return c.err
	}
	p := e.Payload()
	switch i % 3 {
	case 0:
		c.eq("payload", p.Which(), framescapnp.Envelope_payload_Which_mediaChunk)
		if c.err != nil {
			return c.err
		}
		m, err := p.MediaChunk()
		if err != nil {
			return fmt.Errorf("writer %d envelope %d: mediaChunk: %w", w, i, err)
		}
		text("codec", m.Codec, "opus")
		c.eq("format", m.Format(), framescapnp.MediaFormat_opus)
		c.eq("streamId", m.StreamId(), uint64(w))
		c.eq("ptsNs", m.PtsNs(), int64(i*20000000))
		c.eq("dtsNs", m.DtsNs(), int64(i*20000000))
		c.eq("durationNs", m.DurationNs(), int64(20000000))
		c.eq("sampleRate", m.SampleRate(), uint32(48000))
		c.eq("channels", m.Channels(), uint16(2))
		c.eq("width", m.Width(), uint16(0))
		c.eq("height", m.Height(), uint16(0))
		c.eq("keyframe", m.Keyframe(), i%10 == 0)
		d, err := m.Data()
		if err != nil {
			return fmt.Errorf("writer %d envelope %d: data: %w", w, i, err)
		}
		c.bytes("data", d, testMediaData(i))
	case 1:
		c.eq("payload", p.Which(), framescapnp.Envelope_payload_Which_modelRequest)
		if c.err != nil {
			return c.err
		}
		m, err := p.ModelRequest()
		if err != nil {
			return fmt.Errorf("writer %d envelope %d: modelRequest: %w", w, i, err)
		}
		text("modelName", m.ModelName, "risk")
		text("modelVersion", m.ModelVersion, "v"+strconv.FormatUint(i%5, 10))
		t, err := m.Features()
		if err != nil {
			return fmt.Errorf("writer %d envelope %d: features: %w", w, i, err)
		}
		c.eq("features.dtype", t.Dtype(), framescapnp.DType_float32)
		sh, err := t.Shape()
		if err != nil {
			return fmt.Errorf("writer %d envelope %d: features.shape: %w", w, i, err)
		}
		c.eq("features.shape length", sh.Len(), 2)
		if c.err == nil {
			c.eq("features.shape[0]", sh.At(0), int64(1))
			c.eq("features.shape[1]", sh.At(1), int64(16))
		}
		d, err := t.Data()
		if err != nil {
			return fmt.Errorf("writer %d envelope %d: features.data: %w", w, i, err)
		}
		c.bytes("features.data", d, testFeatures(i))
	case 2:
		c.eq("payload", p.Which(), framescapnp.Envelope_payload_Which_modelResponse)
		if c.err != nil {
			return c.err
		}
		m, err := p.ModelResponse()
		if err != nil {
			return fmt.Errorf("writer %d envelope %d: modelResponse: %w", w, i, err)
		}
		text("modelName", m.ModelName, "risk")
		text("modelVersion", m.ModelVersion, "v3")
		sc, err := m.Scores()
		if err != nil {
			return fmt.Errorf("writer %d envelope %d: scores: %w", w, i, err)
		}
		lb, err := m.Labels()
		if err != nil {
			return fmt.Errorf("writer %d envelope %d: labels: %w", w, i, err)
		}
		c.eq("scores length", sc.Len(), 2)
		c.eq("labels length", lb.Len(), 2)
		if c.err == nil {
			s0, s1 := testScores(i)
			c.eq("scores[0]", sc.At(0), s0)
			c.eq("scores[1]", sc.At(1), s1)
			text("labels[0]", func() (string, error) { return lb.At(0) }, "fraud")
			text("labels[1]", func() (string, error) { return lb.At(1) }, "ok")
		}
		c.eq("queueNs", m.QueueNs(), int64(i))
		c.eq("inferenceNs", m.InferenceNs(), int64(2*i))
		c.eq("totalNs", m.TotalNs(), int64(3*i))
	}
	return c.err
}
