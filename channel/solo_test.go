package channel_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framebridge/framebridge/channel"
	"github.com/framebridge/framebridge/frames/fb"
)

// A caller alone on a client takes the solo path (solo.go); these tests
// cover its hand-overs to the general path and to teardown.

// A caller that comes while a solo call waits for its response waits at the
// gate, and goes on when the solo call ends.
func TestACallerWaitsAtTheGateForASoloCall(t *testing.T) {
	release := make(chan struct{})
	h := func(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
		if string(channel.RawData(req)) == "hold" {
			<-release
		}
		return echo(ctx, req, reply)
	}
	s := startServer(t, h, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{Spin: time.Hour}) // the solo call spins, never demoted
	held := make(chan error, 1)
	go func() { held <- echoCall(context.Background(), c, 1, []byte("hold")) }()
	time.Sleep(50 * time.Millisecond) // the held call is spinning
	second := make(chan error, 1)
	go func() { second <- echoCall(context.Background(), c, 2, []byte("second")) }()
	select {
	case err := <-second:
		t.Fatalf("the second call ended (%v) while the solo call still held the client", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	for name, ch := range map[string]chan error{"held": held, "second": second} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatalf("%s call: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the %s call did not end within 10 s of the release", name)
		}
	}
	if got := c.Stats().Calls; got != 2 {
		t.Fatalf("Stats().Calls = %d, want 2", got)
	}
}

// One goroutine calling in a tight loop while another makes its calls: all
// succeed and are counted once, across solo and general calls.
func TestALoopingCallerAndAnotherBothGetThrough(t *testing.T) {
	s := startServer(t, echo, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{})
	stop := make(chan struct{})
	var looped atomic.Uint64
	var loopErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		data := payload(0, 64)
		for i := uint64(1); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := echoCall(context.Background(), c, i, data); err != nil {
				loopErr = err
				return
			}
			looped.Add(1)
		}
	}()
	const others = 200
	done := make(chan error, 1)
	go func() {
		for i := uint64(0); i < others; i++ {
			if err := echoCall(context.Background(), c, 1<<40+i, payload(i, 32)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the second caller did not get %d calls through in 30 s while another looped (%d calls)", others, looped.Load())
	}
	close(stop)
	wg.Wait()
	if loopErr != nil {
		t.Fatal(loopErr)
	}
	if got, want := c.Stats().Calls, looped.Load()+others; got != want {
		t.Fatalf("Stats().Calls = %d, want %d", got, want)
	}
}

// A read callback may Send on the same client: the solo caller holds the
// response frame, not the writer.
func TestAReadCallbackMaySend(t *testing.T) {
	notes := make(chan string, 1)
	h := func(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
		if req.Kind() == fb.KindOneWay {
			notes <- string(channel.RawData(req))
			return nil
		}
		return echo(ctx, req, reply)
	}
	s := startServer(t, h, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{})
	done := make(chan error, 1)
	go func() {
		done <- c.Call(context.Background(), &channel.Request{Raw: []byte("ask")}, func(env *fb.Envelope) error {
			return c.Send(context.Background(), &channel.Request{Raw: []byte("noted " + string(channel.RawData(env)))})
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send from a read callback did not return in 10 s")
	}
	if got := <-notes; got != "noted ask" {
		t.Fatalf("server got one-way %q, want %q", got, "noted ask")
	}
}

// A response that comes after the spin budget: the solo call goes on as a
// general leader that sleeps, and gets it.
func TestASoloCallOutlastingTheSpinSleepsAndGetsItsResponse(t *testing.T) {
	h := func(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
		time.Sleep(20 * time.Millisecond)
		return echo(ctx, req, reply)
	}
	s := startServer(t, h, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{Spin: time.Microsecond})
	for i := uint64(1); i <= 3; i++ {
		if err := echoCall(context.Background(), c, i, payload(i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if st := c.Stats(); st.Calls != 3 || st.Sleeps == 0 {
		t.Fatalf("stats %+v, want 3 calls and some sleeps", st)
	}
}

// Close while a solo caller spins (a spin budget far longer than the test):
// the call fails with ErrClosed and Close returns once the caller has left
// the rings (teardown unmapping them under a spinning caller would crash).
func TestCloseWhileASoloCallSpins(t *testing.T) {
	release := make(chan struct{})
	h := func(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
		<-release
		return echo(ctx, req, reply)
	}
	s := startServer(t, h, channel.ListenOptions{})
	defer close(release)
	c := dial(t, s.path, channel.DialOptions{Spin: time.Hour})
	done := make(chan error, 1)
	go func() { done <- c.Call(context.Background(), &channel.Request{Raw: []byte("hang")}, nil) }()
	time.Sleep(50 * time.Millisecond) // the call is spinning
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-done:
		if !errors.Is(err, channel.ErrClosed) {
			t.Fatalf("call: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the spinning call did not end within 10 s of Close")
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10 s")
	}
	if err := echoCall(context.Background(), c, 1, []byte("after")); !errors.Is(err, channel.ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
}
