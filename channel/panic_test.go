package channel_test

import (
	"context"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/framebridge/framebridge/channel"
	"github.com/framebridge/framebridge/frames/fb"
)

// mustPanic runs f and returns what it panicked with (nil if it did not).
func mustPanic(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

// A read callback's own panic reaches the caller; the client stays usable
// and closes (a call left registered would hang Close).
func TestAReadCallbacksPanicLeavesTheClientUsable(t *testing.T) {
	s := startServer(t, echo, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{})
	ctx := context.Background()
	p := mustPanic(func() {
		c.Call(ctx, &channel.Request{Raw: []byte("x")}, func(*fb.Envelope) error { panic("the callback's own") })
	})
	if p != "the callback's own" {
		t.Fatalf("panic %v, want the callback's", p)
	}
	if err := echoCall(ctx, c, 1, []byte("after")); err != nil {
		t.Fatalf("call after the panic: %v", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs after a panicking callback")
	}
}

// A request's Build callback that panics: the panic reaches the caller, no
// half-built request is sent, and the client stays usable.
func TestABuildCallbacksPanicLeavesTheClientUsable(t *testing.T) {
	s := startServer(t, echo, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{})
	ctx := context.Background()
	req := channel.Request{Build: func(*flatbuffers.Builder) (fb.Payload, flatbuffers.UOffsetT) { panic("build") }}
	if p := mustPanic(func() { c.Call(ctx, &req, nil) }); p != "build" {
		t.Fatalf("panic %v, want the Build callback's", p)
	}
	if err := echoCall(ctx, c, 2, []byte("after")); err != nil {
		t.Fatalf("call after the panic: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// A runtime error while reading the response in place is what a server that
// rewrites a committed frame after it was verified causes: the call fails
// with a protocol error and the connection ends, instead of the process.
func TestARuntimePanicReadingInPlaceEndsTheConnection(t *testing.T) {
	s := startServer(t, echo, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{})
	var out []byte
	err := c.Call(context.Background(), &channel.Request{Raw: []byte("x")}, func(env *fb.Envelope) error {
		_ = out[len(channel.RawData(env))+5] // out of range, as a torn frame's accessor would be
		return nil
	})
	if !errors.Is(err, channel.ErrProtocol) || !errors.Is(err, channel.ErrPeerDead) {
		t.Fatalf("call: %v, want ErrProtocol (and ErrPeerDead)", err)
	}
	<-c.Done()
}

// A reply's Build callback that panics answers status 13, as a panicking
// handler does; the server goes on.
func TestAReplyBuildPanicAnswersInternal(t *testing.T) {
	s := startServer(t, func(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
		if string(channel.RawData(req)) == "panic-in-build" {
			reply.Build = func(*flatbuffers.Builder, *fb.Envelope) (fb.Payload, flatbuffers.UOffsetT) { panic("build") }
			return nil
		}
		return echo(ctx, req, reply)
	}, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{})
	ctx := context.Background()
	err := c.Call(ctx, &channel.Request{Raw: []byte("panic-in-build")}, nil)
	var se *channel.StatusError
	if !errors.As(err, &se) || se.Code != channel.CodeInternal {
		t.Fatalf("call: %v, want status %d", err, channel.CodeInternal)
	}
	if err := echoCall(ctx, c, 3, []byte("after")); err != nil {
		t.Fatalf("call after the panic: %v", err)
	}
}

// A client that rewrites a request after the server verified it (here: the
// table's soffset, so every accessor runs out of range) ends its own
// connection as a protocol error; the server goes on serving the others.
func TestAClientRewritingAVerifiedRequestEndsOnlyItsConnection(t *testing.T) {
	s := startServer(t, echo, channel.ListenOptions{})
	bad := dial(t, s.path, channel.DialOptions{})
	good := dial(t, s.path, channel.DialOptions{})
	var armed atomic.Bool
	armed.Store(true)
	channel.SetRequestOpenedHook(func(data []byte) {
		if armed.CompareAndSwap(true, false) {
			root := binary.LittleEndian.Uint32(data)
			binary.LittleEndian.PutUint32(data[root:], 0x7fffffff)
		}
	})
	t.Cleanup(func() { channel.SetRequestOpenedHook(nil) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := echoCall(ctx, bad, 1, payload(1, 64)); !errors.Is(err, channel.ErrPeerDead) {
		t.Fatalf("the rewritten call: %v, want ErrPeerDead (the server ended the connection)", err)
	}
	if armed.Load() {
		t.Fatal("test setup: the hook never saw the request")
	}
	if err := echoCall(ctx, good, 2, payload(2, 64)); err != nil {
		t.Fatalf("another client's call after the rewrite: %v", err)
	}
	for s.l.Stats().ProtocolErrors != 1 {
		if ctx.Err() != nil {
			t.Fatalf("protocol errors %d, want 1", s.l.Stats().ProtocolErrors)
		}
		time.Sleep(time.Millisecond)
	}
}
