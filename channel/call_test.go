package channel_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framebridge/framebridge/channel"
	"github.com/framebridge/framebridge/frames/fb"
	"github.com/framebridge/framebridge/shm"
)

func TestCallsEchoTheirContent(t *testing.T) {
	for _, workers := range []int{0, 3} {
		s := startServer(t, echo, channel.ListenOptions{Workers: workers})
		c := dial(t, s.path, channel.DialOptions{})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i := uint64(0); i < 200; i++ {
			if err := echoCall(ctx, c, i, payload(i, int(i%300)+1)); err != nil {
				t.Fatalf("workers=%d: %v", workers, err)
			}
		}
		if st := c.Stats(); st.Calls != 200 || st.LateResponses != 0 {
			t.Fatalf("client stats %+v", st)
		}
		if st := s.l.Stats(); st.Calls != 200 || st.Connections != 1 {
			t.Fatalf("server stats %+v", st)
		}
	}
}

func TestThousandCallsInFlightFromManyGoroutines(t *testing.T) {
	for _, workers := range []int{0, 4} {
		s := startServer(t, echo, channel.ListenOptions{Workers: workers})
		c := dial(t, s.path, channel.DialOptions{})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, 1000)
		for i := uint64(0); i < 1000; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := echoCall(ctx, c, i, payload(i, 64)); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("workers=%d: %v", workers, err)
		}
		if st := c.Stats(); st.Calls != 1000 {
			t.Fatalf("client stats %+v", st)
		}
	}
}

func TestHandlerErrorsBecomeStatuses(t *testing.T) {
	h := func(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
		switch string(channel.RawData(req)) {
		case "panic":
			panic("boom")
		case "status":
			return &channel.StatusError{Code: 7, Message: "denied"}
		case "error":
			return errors.New("plain")
		}
		return echo(ctx, req, reply)
	}
	s := startServer(t, h, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{})
	ctx := context.Background()
	for _, tc := range []struct {
		data string
		code int32
		msg  string
	}{{"panic", 13, "handler panic: boom"}, {"status", 7, "denied"}, {"error", 2, "plain"}} {
		err := c.Call(ctx, &channel.Request{Raw: []byte(tc.data)}, func(*fb.Envelope) error {
			t.Errorf("%s: read called for a failed call", tc.data)
			return nil
		})
		var se *channel.StatusError
		if !errors.As(err, &se) || se.Code != tc.code || !strings.Contains(se.Message, tc.msg) {
			t.Fatalf("%s: got %v, want status %d %q", tc.data, err, tc.code, tc.msg)
		}
		if err := echoCall(ctx, c, 1, []byte("after")); err != nil {
			t.Fatalf("call after %s: %v", tc.data, err)
		}
	}
}

func TestClientDeadlineExpiresAndLateResponseIsDropped(t *testing.T) {
	release := make(chan struct{})
	h := func(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
		if string(channel.RawData(req)) == "slow" {
			<-release
		}
		return echo(ctx, req, reply)
	}
	s := startServer(t, h, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Call(ctx, &channel.Request{Raw: []byte("slow")}, nil)
	if !isDeadline(err) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	close(release)
	// The handler finished after the deadline: the server drops the response.
	if err := echoCall(context.Background(), c, 2, []byte("next")); err != nil {
		t.Fatal(err)
	}
	if st := s.l.Stats(); st.ExpiredResponses != 1 {
		t.Fatalf("server stats %+v, want 1 expired response", st)
	}
}

func TestServerDropsExpiredRequests(t *testing.T) {
	release := make(chan struct{})
	h := func(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
		if string(channel.RawData(req)) == "block" {
			<-release
		}
		return echo(ctx, req, reply)
	}
	s := startServer(t, h, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{})
	// The inline handler is stuck, so this request waits in the ring past its deadline.
	if err := c.Send(context.Background(), &channel.Request{Raw: []byte("block")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := echoCall(ctx, c, 1, []byte("x")); !isDeadline(err) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	close(release)
	if err := echoCall(context.Background(), c, 2, []byte("y")); err != nil {
		t.Fatal(err)
	}
	if st := s.l.Stats(); st.ExpiredRequests != 1 || c.Stats().LateResponses != 0 {
		t.Fatalf("server stats %+v client %+v, want 1 expired request and no late response", st, c.Stats())
	}
}

func TestFailFastSendsFillTheRingWithErrFull(t *testing.T) {
	release := make(chan struct{})
	h := func(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
		if string(channel.RawData(req)) == "block" {
			<-release
		}
		return nil
	}
	s := startServer(t, h, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{RequestRingBytes: 8192})
	if err := c.Send(context.Background(), &channel.Request{Raw: []byte("block")}); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1024)
	var err error
	sent := 0
	for ; sent < 100; sent++ {
		if err = c.Send(context.Background(), &channel.Request{Raw: big, FailFast: true}); err != nil {
			break
		}
	}
	if !errors.Is(err, channel.ErrFull) || !errors.Is(err, shm.ErrFull) || sent == 0 {
		t.Fatalf("after %d sends: %v, want ErrFull", sent, err)
	}
	// Blocking mode waits until its deadline instead.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := c.Send(ctx, &channel.Request{Raw: big}); !isDeadline(err) {
		t.Fatalf("blocking send on a full ring: %v, want a deadline error", err)
	}
	close(release)
	if err := c.Call(context.Background(), &channel.Request{Raw: []byte("x")}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestALongCallKeepsItsIDWhileThousandsOfCallsPassIt(t *testing.T) {
	release := make(chan struct{})
	h := func(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
		if string(channel.RawData(req)) == "slow" {
			<-release
		}
		return echo(ctx, req, reply)
	}
	s := startServer(t, h, channel.ListenOptions{Workers: 2})
	c := dial(t, s.path, channel.DialOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slow := make(chan error, 1)
	go func() { slow <- echoCall(ctx, c, 7, []byte("slow")) }()
	// Thousands of ids go by while the slow call's stays taken: the pending
	// table must neither reuse it nor deliver another response to it.
	for i := uint64(0); i < 3000; i++ {
		if err := echoCall(ctx, c, 100+i, payload(i, 1+int(i%100))); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("the slow call: %v", err)
	}
	if st := c.Stats(); st.Calls != 3001 || st.LateResponses != 0 {
		t.Fatalf("client stats %+v, want 3001 calls and no late response", st)
	}
}

func TestCallsThatOverfillBothRingsAllComplete(t *testing.T) {
	// 1 KiB requests and responses through 4 KiB rings from 32 callers: the
	// request ring is often full while responses wait in a full response
	// ring. A caller that waits for request space must not hold the lead
	// (the server waits for the responses to be read before it reads on).
	s := startServer(t, echo, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{RequestRingBytes: 4096, ResponseRingBytes: 4096})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := uint64(0); g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(0); i < 50; i++ {
				if err := echoCall(ctx, c, g<<32|i, payload(g+i, 1024)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
