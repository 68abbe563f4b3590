package peer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framebridge/framebridge/channel"
	"github.com/framebridge/framebridge/frames/fb"
)

// IsChannelCommand reports whether cmd is one of the channel commands
// (docs/peers.md, "Channels"), which take --socket instead of --segment.
func IsChannelCommand(cmd string) bool {
	switch cmd {
	case "serve", "call", "call-script", "call-ping", "call-torture":
		return true
	}
	return false
}

type chanRun struct {
	mu       sync.Mutex
	out      *bufio.Writer
	socket   string
	workers  int
	mode     string
	allow    string
	spinUS   int
	count    uint64
	inflight int
	size     int
	deadline time.Duration
	iters    int
	warmup   int
	redial   time.Duration
}

func (p *chanRun) say(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format+"\n", a...)
	p.out.Flush()
}

// RunChannel executes one channel command; exit codes as Run.
func RunChannel(args []string, out *bufio.Writer, stderr io.Writer) int {
	p := &chanRun{out: out}
	fs := flag.NewFlagSet("peer "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&p.socket, "socket", "", "socket path")
	fs.IntVar(&p.workers, "workers", 0, "serve: handler goroutines (0: inline)")
	fs.StringVar(&p.mode, "socket-mode", "", "serve: socket file mode, octal")
	fs.StringVar(&p.allow, "allow-uid", "", "serve: allowed uids, comma separated")
	fs.IntVar(&p.spinUS, "spin-us", -1, "spin budget in µs (0: always sleep; default: library default)")
	fs.Uint64Var(&p.count, "count", 0, "calls")
	fs.IntVar(&p.inflight, "inflight", 0, "calls in flight (call: 1, call-torture: 8)")
	fs.IntVar(&p.size, "size", 64, "request payload bytes (at least 8)")
	deadlineMS := fs.Int("deadline-ms", 10000, "deadline of each call in ms")
	fs.IntVar(&p.iters, "iters", 10000, "timed calls")
	fs.IntVar(&p.warmup, "warmup", 1000, "untimed calls")
	redialMS := fs.Int("redial-ms", 10000, "call-torture: how long to redial after a death")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the command to this file (Go peer only)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "peer:", err)
			return 2
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "peer:", err)
			return 2
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	p.deadline = time.Duration(*deadlineMS) * time.Millisecond
	p.redial = time.Duration(*redialMS) * time.Millisecond
	if p.socket == "" {
		fmt.Fprintln(stderr, "peer: --socket is required")
		return 2
	}
	if p.size < 8 {
		fmt.Fprintln(stderr, "peer: --size must be at least 8")
		return 2
	}
	if p.inflight == 0 {
		p.inflight = 1
		if args[0] == "call-torture" {
			p.inflight = 8
		}
	}
	cmds := map[string]func() error{
		"serve": p.serve, "call": p.call, "call-script": p.callScript, "call-ping": p.callPing, "call-torture": p.callTorture,
	}
	if err := cmds[args[0]](); err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintln(stderr, "peer:", err)
			return 2
		}
		p.say("FAIL: %v", err)
		return 1
	}
	return 0
}

func (p *chanRun) spin() time.Duration {
	switch {
	case p.spinUS < 0:
		return 0 // library default
	case p.spinUS == 0:
		return -1 // never spin
	}
	return time.Duration(p.spinUS) * time.Microsecond
}

func (p *chanRun) serve() error {
	opts := channel.ListenOptions{Workers: p.workers, Spin: p.spin()}
	if p.mode != "" {
		m, err := strconv.ParseUint(p.mode, 8, 32)
		if err != nil {
			return usageError{fmt.Errorf("--socket-mode %q: not an octal mode", p.mode)}
		}
		opts.SocketMode = os.FileMode(m)
	}
	if p.allow != "" {
		for _, s := range strings.Split(p.allow, ",") {
			u, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
			if err != nil {
				return usageError{fmt.Errorf("--allow-uid %q: %v", s, err)}
			}
			opts.AllowUIDs = append(opts.AllowUIDs, uint32(u))
		}
	}
	opts.OnClose = func(ci channel.ConnInfo) {
		reason := "closed"
		if ci.Err != nil {
			reason = ci.Err.Error()
		}
		if errors.Is(ci.Err, channel.ErrPeerDead) {
			reason = "peer-dead: " + reason
		}
		p.say("closed gen=%d reason=%s", ci.Generation, reason)
	}
	l, err := channel.Listen(p.socket, opts)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- l.Serve(context.Background(), ServeTestService) }()
	p.say("ready")
	io.Copy(io.Discard, os.Stdin)
	l.Close()
	if err := <-done; err != nil {
		return err
	}
	st := l.Stats()
	p.say("ok connections=%d calls=%d expired=%d", st.Connections, st.Calls, st.ExpiredRequests+st.ExpiredResponses)
	return nil
}

func (p *chanRun) dial() (*channel.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return channel.Dial(ctx, p.socket, channel.DialOptions{Spin: p.spin()})
}

// echoCheck makes checked echo calls; its check method is bound once so a
// call allocates nothing for the callback.
type echoCheck struct {
	i     uint64
	buf   []byte
	req   channel.Request // reused: a request on the stack would escape (the client keeps it while it builds)
	check func(*fb.Envelope) error
	// start, when set, times the call up to the response in the caller's
	// hands (took), before the check: as the raw ping stops its clock when
	// the frame is read, before it looks at the echo.
	start time.Time
	took  time.Duration
}

func newEchoCheck(size int) *echoCheck {
	e := &echoCheck{buf: make([]byte, size)}
	e.check = e.verify
	return e
}

func (e *echoCheck) verify(env *fb.Envelope) error {
	if !e.start.IsZero() {
		e.took = time.Since(e.start)
	}
	if env.Sequence() != e.i {
		return fmt.Errorf("call %d: response sequence %d", e.i, env.Sequence())
	}
	if got := channel.RawData(env); !bytes.Equal(got, e.buf) {
		return fmt.Errorf("call %d: response payload does not match the request (%d bytes, want %d)", e.i, len(got), len(e.buf))
	}
	return nil
}

func (e *echoCheck) call(ctx context.Context, c *channel.Client, i uint64) error {
	e.prepare(i)
	return c.Call(ctx, &e.req, e.check)
}

// prepare makes call i's request payload (the caller's data, made before
// the call).
func (e *echoCheck) prepare(i uint64) {
	e.i = i
	FillCallPayload(e.buf, i)
	e.req = channel.Request{Sequence: i, Raw: e.buf}
}

func (p *chanRun) call() error {
	c, err := p.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	p.say("ready")
	var next atomic.Uint64
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	for k := 0; k < p.inflight; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := newEchoCheck(p.size)
			for first.Load() == nil {
				i := next.Add(1) - 1
				if i >= p.count {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), p.deadline)
				err := e.call(ctx, c, i)
				cancel()
				if err != nil {
					first.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if e := first.Load(); e != nil {
		return *e
	}
	p.say("ok calls=%d", p.count)
	return nil
}

func (p *chanRun) callPing() error {
	c, err := p.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	p.say("ready")
	e := newEchoCheck(p.size)
	ctx := context.Background()
	samples := make([]int64, p.iters)
	for i := 0; i < p.warmup+p.iters; i++ {
		e.prepare(uint64(i))
		e.start = time.Now()
		if err := c.Call(ctx, &e.req, e.check); err != nil {
			return err
		}
		if i >= p.warmup {
			samples[i-p.warmup] = int64(e.took)
		}
	}
	var sum int64
	for _, d := range samples {
		sum += d
	}
	slices.Sort(samples)
	p.say("ok p50_ns=%d p99_ns=%d mean_ns=%d iters=%d", Percentile(samples, 50), Percentile(samples, 99), sum/int64(max(len(samples), 1)), p.iters)
	return nil
}

// callTorture keeps K calls in flight, across server deaths and redials,
// until N calls succeeded or standard input reaches end of file
// (docs/peers.md, call-torture).
func (p *chanRun) callTorture() error {
	c, err := p.dial()
	if err != nil {
		return err
	}
	p.say("ready")
	p.say("connected gen=%d", c.Generation())
	stdinDone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinDone)
	}()
	stopping := func() bool {
		select {
		case <-stdinDone:
			return true
		default:
			return false
		}
	}
	var next, succeeded atomic.Uint64
	deaths := 0
	for {
		var wg sync.WaitGroup
		var failed atomic.Uint64
		var learned atomic.Int64 // CLOCK_REALTIME ns of the first peer-dead failure
		var bad atomic.Pointer[error]
		for k := 0; k < p.inflight; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := newEchoCheck(p.size)
				for bad.Load() == nil && succeeded.Load() < p.count && !stopping() {
					ctx, cancel := context.WithTimeout(context.Background(), p.deadline)
					err := e.call(ctx, c, next.Add(1)-1)
					cancel()
					switch {
					case err == nil:
						succeeded.Add(1)
					case errors.Is(err, channel.ErrPeerDead):
						learned.CompareAndSwap(0, time.Now().UnixNano())
						failed.Add(1)
						return
					default:
						bad.CompareAndSwap(nil, &err)
						return
					}
				}
			}()
		}
		wg.Wait()
		// A second response to a call finds its id no longer pending: with
		// deadlines far away, any dropped response is a duplicate or a stray.
		if late := c.Stats().LateResponses; late != 0 && bad.Load() == nil {
			err := fmt.Errorf("connection %d: %d responses matched no pending call (duplicates or strays)", c.Generation(), late)
			bad.CompareAndSwap(nil, &err)
		}
		if e := bad.Load(); e != nil {
			c.Close()
			return *e
		}
		if learned.Load() == 0 { // every worker stopped: N calls done or stdin closed
			c.Close()
			p.say("ok calls=%d deaths=%d", succeeded.Load(), deaths)
			return nil
		}
		deaths++
		p.say("dead t_ns=%d pending=%d", learned.Load(), failed.Load())
		c.Close()
		stop := time.Now().Add(p.redial)
		for {
			if c, err = p.dial(); err == nil {
				p.say("connected gen=%d", c.Generation())
				break
			}
			if stopping() {
				p.say("ok calls=%d deaths=%d", succeeded.Load(), deaths)
				return nil
			}
			if time.Now().After(stop) {
				return fmt.Errorf("redial for %v after death %d: %w", p.redial, deaths, err)
			}
			time.Sleep(time.Millisecond)
		}
	}
}
