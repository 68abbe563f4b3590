package frames_test

import (
	"context"
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/framebridge/framebridge/frames"
	"github.com/framebridge/framebridge/frames/fb"
	"github.com/framebridge/framebridge/shm"
)

// Build an envelope in place in a ring and read it where it lies.
func Example() {
	seg, err := shm.CreateMemfd("example", shm.Spec{Rings: []shm.RingSpec{{Name: "req", Kind: shm.SPSC, Capacity: 1 << 16}}})
	if err != nil {
		panic(err)
	}
	defer seg.Close()
	w, _ := seg.Writer("req")
	defer w.Close()
	r, _ := seg.Reader("req")
	defer r.Close()
	ctx := context.Background()

	fw := frames.NewWriter(w) // keep it: it reuses its builder and adapts its claims
	_, err = fw.BuildFrame(ctx, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		msg := b.CreateString("hello") // children first: FlatBuffers builds back to front
		fb.EnvelopeStart(b)
		fb.EnvelopeAddSequence(b, 1)
		fb.EnvelopeAddKind(b, fb.KindRequest)
		fb.EnvelopeAddStatusMessage(b, msg)
		return fb.EnvelopeEnd(b)
	})
	if err != nil {
		panic(err)
	}

	f, _ := r.Next(ctx)
	var env fb.Envelope
	if err := frames.Open(f.Data, &env); err != nil { // verify, then read in place
		panic(err)
	}
	fmt.Println(f.Type, env.Sequence(), env.Kind(), string(env.StatusMessage()))
	r.Release()
	// Output: 16 1 Request hello
}
