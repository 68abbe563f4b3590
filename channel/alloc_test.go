package channel_test

import (
	"context"
	"testing"
	"time"

	"github.com/framebridge/framebridge/channel"
	"github.com/framebridge/framebridge/frames/fb"
	"github.com/framebridge/framebridge/internal/shmtest"
)

// caller holds a call's state so that neither the request nor the response
// callback is a new closure per call.
type caller struct {
	req  channel.Request
	got  int
	read func(*fb.Envelope) error
}

func newCaller(size int) *caller {
	c := &caller{req: channel.Request{Raw: make([]byte, size)}}
	c.read = func(env *fb.Envelope) error {
		c.got = len(channel.RawData(env))
		return nil
	}
	return c
}

func TestCallsAllocateNothingInSteadyState(t *testing.T) {
	if shmtest.Race {
		t.Skip("the race detector allocates")
	}
	dctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	// slow makes every response outlast a spin-less caller, so it sleeps.
	slow := func(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
		time.Sleep(50 * time.Microsecond)
		return echo(ctx, req, reply)
	}
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		h      channel.Handler
		spin   time.Duration
		sleeps bool
	}{
		{"a call without a deadline that spins", context.Background(), echo, 0, false},
		{"a call with a deadline that spins", dctx, echo, 0, false},
		{"a call without a deadline that sleeps", context.Background(), slow, -1, true},
		{"a call with a deadline that sleeps", dctx, slow, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.h, channel.ListenOptions{})
			c := dial(t, s.path, channel.DialOptions{Spin: tc.spin})
			cl := newCaller(64)
			for i := 0; i < 1000; i++ { // warm up: slot pool, adaptive claim bound
				if err := c.Call(tc.ctx, &cl.req, cl.read); err != nil {
					t.Fatal(err)
				}
			}
			before := c.Stats().Sleeps
			allocs := testing.AllocsPerRun(500, func() {
				if err := c.Call(tc.ctx, &cl.req, cl.read); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 || cl.got != 64 {
				t.Fatalf("%v allocations per call (got %d bytes back)", allocs, cl.got)
			}
			if slept := c.Stats().Sleeps - before; tc.sleeps && slept < 500 {
				t.Fatalf("callers slept %d times in 501 calls: the sleeping path was not measured", slept)
			}
		})
	}
}

func TestARequestOnTheCallersStackDoesNotEscape(t *testing.T) {
	if shmtest.Race {
		t.Skip("the race detector allocates")
	}
	s := startServer(t, echo, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{})
	cl := newCaller(64)
	data := cl.req.Raw
	call := func() {
		if err := c.Call(context.Background(), &channel.Request{Sequence: 1, Raw: data}, cl.read); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 1000; i++ {
		call()
	}
	if allocs := testing.AllocsPerRun(500, call); allocs != 0 || cl.got != 64 {
		t.Fatalf("%v allocations per call (got %d bytes back)", allocs, cl.got)
	}
}

// BenchmarkCall64 is a 64-byte call round trip, client and server in one
// process (go test -bench Call64 -benchmem ./channel).
func BenchmarkCall64(b *testing.B) {
	s := startServer(b, echo, channel.ListenOptions{})
	c := dial(b, s.path, channel.DialOptions{})
	cl := newCaller(64)
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		c.Call(ctx, &cl.req, cl.read)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Call(ctx, &cl.req, cl.read); err != nil {
			b.Fatal(err)
		}
	}
}
