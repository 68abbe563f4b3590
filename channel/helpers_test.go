package channel_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/framebridge/framebridge/channel"
	"github.com/framebridge/framebridge/frames/fb"
)

// echo answers every request with its own Raw payload and sequence.
func echo(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
	reply.Sequence = req.Sequence()
	reply.Raw = channel.RawData(req)
	return nil
}

type server struct {
	l    *channel.Listener
	path string
	wg   sync.WaitGroup
	err  error
}

// startServer listens in a temporary directory and serves h until cleanup.
func startServer(t testing.TB, h channel.Handler, opts channel.ListenOptions) *server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := channel.Listen(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{l: l, path: path}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.err = l.Serve(context.Background(), h)
	}()
	t.Cleanup(func() {
		l.Close()
		s.wg.Wait()
		if s.err != nil {
			t.Errorf("Serve: %v", s.err)
		}
	})
	return s
}

func dial(t testing.TB, path string, opts channel.DialOptions) *channel.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := channel.Dial(ctx, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// payload returns the i-th test payload (content depends on i).
func payload(i uint64, n int) []byte {
	b := make([]byte, n)
	for k := range b {
		b[k] = byte(i + uint64(k)*7)
	}
	return b
}

// echoCall makes one call and checks the echo's content and sequence.
func echoCall(ctx context.Context, c *channel.Client, i uint64, data []byte) error {
	req := channel.Request{Sequence: i, Raw: data}
	return c.Call(ctx, &req, func(env *fb.Envelope) error {
		if env.Sequence() != i {
			return fmt.Errorf("call %d: response sequence %d", i, env.Sequence())
		}
		if got := channel.RawData(env); !bytes.Equal(got, data) {
			return fmt.Errorf("call %d: response payload %x, want %x", i, got, data)
		}
		return nil
	})
}

func isDeadline(err error) bool { return errors.Is(err, context.DeadlineExceeded) }
