package peer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/framebridge/framebridge/channel"
	"github.com/framebridge/framebridge/frames/fb"
)

// callScript runs the scenario checks of docs/peers.md ("call-script").
func (p *chanRun) callScript() error {
	c, err := p.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	p.say("ready")
	checks := []struct {
		name string
		run  func(*channel.Client) error
	}{
		{"fail:7; gives status 7", scriptFail},
		{"panic; gives status 13 and the next call succeeds", scriptPanic},
		{"ModelRequest gives scores [120, 16]", scriptModel},
		{"MediaChunk comes back inverted", scriptMedia},
		{"sleep:300; with a 50 ms deadline times out", scriptDeadline},
		{"fail-fast OneWay sends fill the ring with ErrFull", scriptFull},
		{"1000 echo calls in flight", scriptThousand},
	}
	for _, ch := range checks {
		if err := ch.run(c); err != nil {
			return fmt.Errorf("%s: %w", ch.name, err)
		}
	}
	p.say("ok checks=%d", len(checks))
	return nil
}

func rawCall(ctx context.Context, c *channel.Client, data string) error {
	return c.Call(ctx, &channel.Request{Raw: []byte(data)}, nil)
}

func wantStatus(err error, code int32, msg string) error {
	var se *channel.StatusError
	if !errors.As(err, &se) || se.Code != code || (msg != "" && se.Message != msg) {
		return fmt.Errorf("got %v, want status %d %q", err, code, msg)
	}
	return nil
}

func scriptFail(c *channel.Client) error {
	return wantStatus(rawCall(context.Background(), c, "fail:7;"), 7, "failed as asked")
}

func scriptPanic(c *channel.Client) error {
	if err := wantStatus(rawCall(context.Background(), c, "panic;"), 13, ""); err != nil {
		return err
	}
	return newEchoCheck(64).call(context.Background(), c, 1)
}

func scriptModel(c *channel.Client) error {
	feats := make([]byte, 16*4)
	for k := 0; k < 16; k++ {
		binary.LittleEndian.PutUint32(feats[4*k:], math.Float32bits(float32(k)))
	}
	req := channel.Request{Build: func(b *flatbuffers.Builder) (fb.Payload, flatbuffers.UOffsetT) {
		name, ver := b.CreateString("risk"), b.CreateString("v7")
		t := BuildTensor(b, fb.DTypeFloat32, 1, 16, feats)
		fb.ModelRequestStart(b)
		fb.ModelRequestAddModelName(b, name)
		fb.ModelRequestAddModelVersion(b, ver)
		fb.ModelRequestAddFeatures(b, t)
		return fb.PayloadModelRequest, fb.ModelRequestEnd(b)
	}}
	return c.Call(context.Background(), &req, func(env *fb.Envelope) error {
		var t flatbuffers.Table
		if env.PayloadType() != fb.PayloadModelResponse || !env.Payload(&t) {
			return fmt.Errorf("response payload type %s, want ModelResponse", env.PayloadType())
		}
		var m fb.ModelResponse
		m.Init(t.Bytes, t.Pos)
		if string(m.ModelName()) != "risk" || string(m.ModelVersion()) != "v7" {
			return fmt.Errorf("model %q version %q, want risk v7", m.ModelName(), m.ModelVersion())
		}
		if m.ScoresLength() != 2 || m.Scores(0) != 120 || m.Scores(1) != 16 {
			return fmt.Errorf("scores (%d of them) wrong, want [120, 16]", m.ScoresLength())
		}
		if m.LabelsLength() != 2 || string(m.Labels(0)) != "sum" || string(m.Labels(1)) != "count" {
			return errors.New(`labels wrong, want ["sum","count"]`)
		}
		return nil
	})
}

func scriptMedia(c *channel.Client) error {
	data := make([]byte, 100)
	for k := range data {
		data[k] = byte(k * 3)
	}
	req := channel.Request{Build: func(b *flatbuffers.Builder) (fb.Payload, flatbuffers.UOffsetT) {
		codec := b.CreateString("opus")
		d := b.CreateByteVector(data)
		fb.MediaChunkStart(b)
		fb.MediaChunkAddCodec(b, codec)
		fb.MediaChunkAddFormat(b, fb.MediaFormat(1))
		fb.MediaChunkAddStreamId(b, 42)
		fb.MediaChunkAddPtsNs(b, 1000)
		fb.MediaChunkAddDtsNs(b, 900)
		fb.MediaChunkAddDurationNs(b, 20)
		fb.MediaChunkAddSampleRate(b, 48000)
		fb.MediaChunkAddChannels(b, 2)
		fb.MediaChunkAddWidth(b, 640)
		fb.MediaChunkAddHeight(b, 480)
		fb.MediaChunkAddKeyframe(b, true)
		fb.MediaChunkAddData(b, d)
		return fb.PayloadMediaChunk, fb.MediaChunkEnd(b)
	}}
	return c.Call(context.Background(), &req, func(env *fb.Envelope) error {
		var t flatbuffers.Table
		if env.PayloadType() != fb.PayloadMediaChunk || !env.Payload(&t) {
			return fmt.Errorf("response payload type %s, want MediaChunk", env.PayloadType())
		}
		var m fb.MediaChunk
		m.Init(t.Bytes, t.Pos)
		if string(m.Codec()) != "opus" || m.Format() != 1 || m.StreamId() != 42 || m.PtsNs() != 1000 || m.DtsNs() != 900 ||
			m.DurationNs() != 20 || m.SampleRate() != 48000 || m.Channels() != 2 || m.Width() != 640 || m.Height() != 480 || !m.Keyframe() {
			return errors.New("a MediaChunk field did not come back unchanged")
		}
		got := m.DataBytes()
		if len(got) != len(data) {
			return fmt.Errorf("%d data bytes, want %d", len(got), len(data))
		}
		for k := range got {
			if got[k] != data[k]^0xFF {
				return fmt.Errorf("data byte %d = %#x, want %#x", k, got[k], data[k]^0xFF)
			}
		}
		return nil
	})
}

func scriptDeadline(c *channel.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := rawCall(ctx, c, "sleep:300;")
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > 250*time.Millisecond {
		return fmt.Errorf("got %v after %v, want a deadline error within 250ms", err, took)
	}
	return newEchoCheck(64).call(context.Background(), c, 2)
}

func scriptFull(c *channel.Client) error {
	var wg sync.WaitGroup
	var sleepErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		sleepErr = rawCall(context.Background(), c, "sleep:300;")
	}()
	time.Sleep(20 * time.Millisecond) // let the sleeping request reach the handler
	big := make([]byte, 1024)
	var err error
	n := 0
	for ; n < 1<<20; n++ {
		if err = c.Send(context.Background(), &channel.Request{Raw: big, FailFast: true}); err != nil {
			break
		}
	}
	wg.Wait()
	if !errors.Is(err, channel.ErrFull) {
		return fmt.Errorf("after %d sends: %v, want ErrFull", n, err)
	}
	if sleepErr != nil {
		return fmt.Errorf("the sleep:300; call: %w", sleepErr)
	}
	return nil
}

func scriptThousand(c *channel.Client) error {
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := uint64(0); i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := newEchoCheck(64).call(ctx, c, i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
