package channel_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
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
	s, release := holdServer(t)                                // two workers: "second" could be answered at once
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
		if err := ended(t, ch, "the "+name+" call, after the release"); err != nil {
			t.Fatalf("%s call: %v", name, err)
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
	if err := ended(t, done, "a call whose read callback Sends"); err != nil {
		t.Fatal(err)
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
	s, release := holdServer(t)
	defer close(release)
	c := dial(t, s.path, channel.DialOptions{Spin: time.Hour})
	done := make(chan error, 1)
	go func() { done <- c.Call(context.Background(), &channel.Request{Raw: []byte("hold")}, nil) }()
	time.Sleep(50 * time.Millisecond) // the call is spinning
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	if err := ended(t, done, "the spinning call, after Close"); !errors.Is(err, channel.ErrClosed) {
		t.Fatalf("call: %v, want ErrClosed", err)
	}
	ended(t, closed, "Close")
	if err := echoCall(context.Background(), c, 1, []byte("after")); !errors.Is(err, channel.ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
}

// ended waits for what's result, failing the test if it takes over 10 s.
func ended(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not end within 10 s", what)
		return nil
	}
}

// holdServer serves echo on two workers, holding any request "hold" until
// release is closed.
func holdServer(t *testing.T) (s *server, release chan struct{}) {
	release = make(chan struct{})
	h := func(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
		if string(channel.RawData(req)) == "hold" {
			<-release
		}
		return echo(ctx, req, reply)
	}
	return startServer(t, h, channel.ListenOptions{Workers: 2}), release
}

// A caller waiting at the gate keeps its deadline.
func TestAGateWaitersDeadlineEndsItsWait(t *testing.T) {
	s, release := holdServer(t)
	c := dial(t, s.path, channel.DialOptions{Spin: time.Hour})
	held := make(chan error, 1)
	go func() { held <- echoCall(context.Background(), c, 1, []byte("hold")) }()
	time.Sleep(50 * time.Millisecond) // the held call is spinning
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := echoCall(ctx, c, 2, []byte("waits")); !isDeadline(err) {
		t.Fatalf("waiting call: %v, want a deadline error", err)
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := echoCall(context.Background(), c, 3, []byte("after")); err != nil {
		t.Fatal(err)
	}
}

// A read callback that calls its own client ends with its deadline (it
// cannot be answered while the callback runs) instead of hanging.
func TestACallFromAReadCallbackEndsWithItsDeadline(t *testing.T) {
	s := startServer(t, echo, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{Spin: time.Hour}) // the outer call stays solo
	done := make(chan error, 1)
	go func() {
		done <- c.Call(context.Background(), &channel.Request{Raw: []byte("outer")}, func(*fb.Envelope) error {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			return echoCall(ctx, c, 2, []byte("inner"))
		})
	}()
	if err := ended(t, done, "a call whose read callback calls with a 100 ms deadline"); !isDeadline(err) {
		t.Fatalf("outer call: %v, want the inner call's deadline error", err)
	}
	if err := echoCall(context.Background(), c, 3, []byte("after")); err != nil {
		t.Fatal(err)
	}
}

// Close ends a caller waiting at the gate, as it ends every pending call,
// even while the solo call it waits for is still in its read callback.
func TestCloseWakesACallerWaitingAtTheGate(t *testing.T) {
	s := startServer(t, echo, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{Spin: time.Hour})
	inRead, leaveRead := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- c.Call(context.Background(), &channel.Request{Raw: []byte("slow reader")}, func(*fb.Envelope) error {
			close(inRead)
			<-leaveRead
			return nil
		})
	}()
	<-inRead
	waiting := make(chan error, 1)
	go func() { waiting <- echoCall(context.Background(), c, 2, []byte("waits")) }()
	time.Sleep(50 * time.Millisecond) // the second call waits at the gate
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	if err := ended(t, waiting, "the call waiting at the gate, after Close"); !errors.Is(err, channel.ErrClosed) {
		t.Fatalf("waiting call: %v, want ErrClosed", err)
	}
	close(leaveRead)
	if err := <-held; err != nil {
		t.Fatalf("the solo call, answered before Close: %v", err)
	}
	ended(t, closed, "Close, after the read callback's end")
}

// A read callback that calls runtime.Goexit (t.FailNow does) ends its call
// without leaving the client held, whether the call stayed solo (a long
// spin) or went on as a general leader (no spin: it sleeps at once). The
// test's cleanup Closes the client, which waits for every call to leave.
func TestAReadCallbackCallingGoexitLeavesTheClientUsable(t *testing.T) {
	for _, spin := range []time.Duration{time.Hour, -1} {
		t.Run(fmt.Sprintf("spin %v", spin), func(t *testing.T) { goexitInReadCallback(t, spin) })
	}
}

func goexitInReadCallback(t *testing.T, spin time.Duration) {
	s := startServer(t, echo, channel.ListenOptions{})
	c := dial(t, s.path, channel.DialOptions{Spin: spin})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		c.Call(context.Background(), &channel.Request{Raw: []byte("x")}, func(*fb.Envelope) error {
			runtime.Goexit()
			return nil
		})
	}()
	<-exited
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := echoCall(ctx, c, 2, []byte("after")); err != nil {
		t.Fatalf("call after a Goexit in a read callback: %v", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	ended(t, closed, "Close, after a Goexit in a read callback")
}
