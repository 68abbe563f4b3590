package peer

import (
	"context"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"time"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/framebridge/framebridge/channel"
	"github.com/framebridge/framebridge/frames/fb"
)

// ServeTestService is the channel test service (docs/channels.md §9).
func ServeTestService(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
	reply.Sequence = req.Sequence()
	switch req.PayloadType() {
	case fb.PayloadModelRequest:
		reply.Build = buildModelAnswer
		return nil
	case fb.PayloadMediaChunk:
		reply.Build = buildMediaAnswer
		return nil
	}
	data := channel.RawData(req)
	switch {
	case hasPrefix(data, "sleep:"):
		if ms, ok := argUntilSemicolon(data[len("sleep:"):]); ok {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
	case hasPrefix(data, "fail:"):
		if code, ok := argUntilSemicolon(data[len("fail:"):]); ok {
			return &channel.StatusError{Code: int32(code), Message: "failed as asked"}
		}
	case hasPrefix(data, "panic;"):
		panic("panic as asked")
	}
	reply.Raw = data
	if reply.Raw == nil {
		reply.Raw = []byte{}
	}
	return nil
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

// argUntilSemicolon parses the decimal number before the first ';'.
func argUntilSemicolon(b []byte) (int, bool) {
	i := strings.IndexByte(string(b), ';')
	if i <= 0 || i > 9 {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[:i]))
	return n, err == nil
}

// buildModelAnswer: ModelResponse{name, version copied, scores [sum, count]
// of the float32 features, labels ["sum","count"]}.
func buildModelAnswer(b *flatbuffers.Builder, req *fb.Envelope) (fb.Payload, flatbuffers.UOffsetT) {
	var t flatbuffers.Table
	req.Payload(&t)
	var m fb.ModelRequest
	m.Init(t.Bytes, t.Pos)
	var sum float32
	var count int
	var tensor fb.Tensor
	if m.Features(&tensor) != nil {
		d := tensor.DataBytes()
		count = len(d) / 4
		for k := 0; k < count; k++ {
			sum += math.Float32frombits(binary.LittleEndian.Uint32(d[4*k:]))
		}
	}
	name := b.CreateByteString(m.ModelName())
	ver := b.CreateByteString(m.ModelVersion())
	ls := b.CreateString("sum")
	lc := b.CreateString("count")
	fb.ModelResponseStartLabelsVector(b, 2)
	b.PrependUOffsetT(lc)
	b.PrependUOffsetT(ls)
	labels := b.EndVector(2)
	fb.ModelResponseStartScoresVector(b, 2)
	b.PrependFloat32(float32(count))
	b.PrependFloat32(sum)
	scores := b.EndVector(2)
	fb.ModelResponseStart(b)
	fb.ModelResponseAddModelName(b, name)
	fb.ModelResponseAddModelVersion(b, ver)
	fb.ModelResponseAddScores(b, scores)
	fb.ModelResponseAddLabels(b, labels)
	return fb.PayloadModelResponse, fb.ModelResponseEnd(b)
}

// buildMediaAnswer: the same MediaChunk with every data byte XOR 0xFF.
func buildMediaAnswer(b *flatbuffers.Builder, req *fb.Envelope) (fb.Payload, flatbuffers.UOffsetT) {
	var t flatbuffers.Table
	req.Payload(&t)
	var m fb.MediaChunk
	m.Init(t.Bytes, t.Pos)
	codec := b.CreateByteString(m.Codec())
	d := m.DataBytes()
	b.StartVector(1, len(d), 1)
	for k := len(d) - 1; k >= 0; k-- {
		b.PrependByte(d[k] ^ 0xFF)
	}
	data := b.EndVector(len(d))
	fb.MediaChunkStart(b)
	fb.MediaChunkAddCodec(b, codec)
	fb.MediaChunkAddFormat(b, m.Format())
	fb.MediaChunkAddStreamId(b, m.StreamId())
	fb.MediaChunkAddPtsNs(b, m.PtsNs())
	fb.MediaChunkAddDtsNs(b, m.DtsNs())
	fb.MediaChunkAddDurationNs(b, m.DurationNs())
	fb.MediaChunkAddSampleRate(b, m.SampleRate())
	fb.MediaChunkAddChannels(b, m.Channels())
	fb.MediaChunkAddWidth(b, m.Width())
	fb.MediaChunkAddHeight(b, m.Height())
	fb.MediaChunkAddKeyframe(b, m.Keyframe())
	fb.MediaChunkAddData(b, data)
	return fb.PayloadMediaChunk, fb.MediaChunkEnd(b)
}

// FillCallPayload writes call i's request bytes (docs/peers.md, Channels):
// bytes 0..7 = i little-endian, byte k >= 8 = (i + k) & 0xFF.
func FillCallPayload(b []byte, i uint64) {
	binary.LittleEndian.PutUint64(b, i)
	for k := 8; k < len(b); k++ {
		b[k] = byte(i + uint64(k))
	}
}
