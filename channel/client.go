package channel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/framebridge/framebridge/frames"
	"github.com/framebridge/framebridge/frames/fb"
	"github.com/framebridge/framebridge/internal/sys"
	"github.com/framebridge/framebridge/shm"
)

// Ring names of a connection segment (§3).
const (
	RequestRing  = "requests"
	ResponseRing = "responses"
)

// DialOptions tune Dial. The zero value asks for the server's defaults.
type DialOptions struct {
	// RequestRingBytes and ResponseRingBytes ask for ring capacities (a
	// power of two in [4096, 1<<30]; 0 takes the server's default).
	RequestRingBytes, ResponseRingBytes uint32
	// Spin is how long a caller waiting for its response re-checks the ring
	// before it sleeps: 0 means shm.DefaultSpin, < 0 sleeps at once.
	Spin time.Duration
}

// ClientStats counts what a Client did.
type ClientStats struct {
	Calls         uint64 // calls that got a response (any status)
	Sent          uint64 // OneWay requests committed
	LateResponses uint64 // responses whose correlation id was not pending: dropped
	Full          uint64 // fail-fast requests refused with ErrFull
	Sleeps        uint64 // times a caller slept on the response ring (its response outlasted the spin)
}

// Client is one connection to a channel server. Its methods are safe for
// concurrent use; many calls may be in flight at once.
type Client struct {
	conn       *net.UnixConn
	seg        *shm.Segment
	w          *shm.Writer
	fw         *frames.Writer
	r          *shm.Reader
	spin       time.Duration
	generation uint64
	serverPid  int
	reqBytes   uint32
	respBytes  uint32

	pidfd  *sys.Pidfd      // the server's, or nil; set before watch starts, closed by it
	ctx    context.Context // cancelled when the connection ends
	cancel context.CancelFunc
	dead   atomic.Bool
	life   sync.RWMutex // Send holds it shared; teardown holds it to unmap
	done   chan struct{}

	// Request building, under wmu. buildFn is bound once so BuildEnvelope
	// gets no new closure per call.
	wmu      sync.Mutex
	bReq     Request // a copy, so that the caller's *Request does not escape
	bKind    fb.Kind
	bID      uint64
	bDL      int64
	buildFn  func(*flatbuffers.Builder, *frames.EnvelopeFields)
	leadEnv  fb.Envelope // the leader's view of the frame it reads
	leadOpen frames.Opener
	leadSt   int32 // leadEnv's status, read by dispatch
	closeErr error

	mu sync.Mutex
	// pending holds the calls awaiting a response at pending[id&(len-1)]:
	// ids count up, skipping any whose slot is taken, and the table grows
	// when half full, so a lookup is one index and one compare.
	pending  []*call
	npending int
	nextID   uint64
	leading  bool    // a caller is reading the response ring
	waitq    []*call // followers, newest last; stale entries are skipped
	gateq    []*call // callers waiting at the gate for a solo call (solo.go)
	free     []*call
	deadErr  error
	calls    uint64 // under mu
	// active counts the calls between register and freeLocked: they may
	// touch the rings, so teardown waits (idle) for none to be left. It
	// replaces a read lock per call (two atomic read-modify-writes).
	active int
	idle   *sync.Cond // on mu: active fell to 0 after the connection died, or a solo call left

	// held: the leader has read frames it has not released yet (its own
	// response, read in place). The next leader releases them before it
	// waits, off the round trip's critical path. Owned by the leader.
	// Only a leader with no other call pending keeps them (held across
	// calls); every other way out of the lead releases them.
	held bool

	// gate: who may use the client, solo.go.
	gate      atomic.Int64
	soloCalls atomic.Uint64

	sent, late, full, sleeps atomic.Uint64
}

// call is one pending call; slots are reused so a call allocates nothing.
type call struct {
	id        uint64
	wake      chan struct{} // capacity 1: "state changed, look again"; sent and drained under Client.mu
	delivered bool          // buf[:n] holds the response, copied by the leader
	waiting   bool          // in waitq
	buf       []byte
	n         int
	env       fb.Envelope
}

// cancelled is a context that is already done: a claim with it tries once.
var cancelled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// Dial connects to the channel server listening at path and completes the
// handshake (§2) before ctx is done. The returned Client owns the
// connection's segment until Close.
func Dial(ctx context.Context, path string, opts DialOptions) (*Client, error) {
	if !validRingBytes(opts.RequestRingBytes) || !validRingBytes(opts.ResponseRingBytes) {
		return nil, fmt.Errorf("dial channel %q: ring sizes %d/%d: each must be 0 or a power of two in [%d, %d]",
			path, opts.RequestRingBytes, opts.ResponseRingBytes, MinRingBytes, MaxRingBytes)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unixpacket", path)
	if err != nil {
		return nil, fmt.Errorf("dial channel %q: %w (is a server listening there?)", path, err)
	}
	conn := nc.(*net.UnixConn)
	c, err := handshake(ctx, conn, opts)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("dial channel %q: %w", path, err)
	}
	return c, nil
}

func handshake(ctx context.Context, conn *net.UnixConn, opts DialOptions) (*Client, error) {
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var out [HelloLength]byte
	hello{protocol: ProtocolVersion, layout: LayoutVersion, requestBytes: opts.RequestRingBytes,
		respBytes: opts.ResponseRingBytes, clientPid: uint32(os.Getpid())}.encode(out[:])
	if _, err := conn.Write(out[:]); err != nil {
		return nil, fmt.Errorf("send hello: %w", err)
	}
	// One byte more than a Welcome, so a longer packet shows as one.
	in := make([]byte, WelcomeLength+1)
	oob := make([]byte, sys.RightsOOBSpace(4))
	n, oobn, flags, _, err := conn.ReadMsgUnix(in, oob)
	fds, perr := sys.ParseRights(oob[:oobn])
	defer func() {
		for _, fd := range fds {
			sys.Close(fd)
		}
	}()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("read welcome: %w", ctx.Err())
		}
		return nil, fmt.Errorf("read welcome: %w", err)
	}
	if n == 0 {
		return nil, errors.New("read welcome: the server closed the connection without answering")
	}
	if perr != nil {
		return nil, fmt.Errorf("read welcome: %w", perr)
	}
	if flags&sys.MsgCtrunc != 0 {
		return nil, errors.New("read welcome: ancillary data truncated (more descriptors than a Welcome carries)")
	}
	wl, err := decodeWelcome(in[:n])
	if err != nil {
		return nil, fmt.Errorf("read welcome: %w", err)
	}
	if wl.protocol != ProtocolVersion || wl.layout != LayoutVersion {
		return nil, &HandshakeError{Status: StatusVersionMismatch, Message: fmt.Sprintf(
			"server speaks channel protocol %d layout %d, client speaks protocol %d layout %d",
			wl.protocol, wl.layout, ProtocolVersion, LayoutVersion)}
	}
	if wl.status != StatusOK {
		if len(fds) != 0 {
			return nil, fmt.Errorf("%w: welcome with status %s carries %d descriptors", ErrProtocol, wl.status, len(fds))
		}
		return nil, &HandshakeError{Status: wl.status, Message: wl.message}
	}
	if len(fds) != 1 {
		return nil, fmt.Errorf("%w: welcome with status OK carries %d descriptors, want exactly 1", ErrProtocol, len(fds))
	}
	seg, err := attachConnectionSegment(fds[0], wl)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	c, err := newClient(conn, seg, wl, opts)
	if err != nil {
		seg.Close()
		return nil, err
	}
	return c, nil
}

// watchPidfd watches the server's pidfd, where the kernel has one (§4): it
// tells of the server's exit even when a child of the server keeps the
// socket open. Without one the socket alone is watched.
func (c *Client) watchPidfd() {
	cred, err := sys.PeerCred(c.conn)
	if err != nil {
		return
	}
	pfd, _ := sys.PeerPidfd(c.conn, cred, c.serverPid)
	if pfd == nil {
		return
	}
	c.pidfd = pfd
	go func() {
		if pfd.Wait() {
			c.die(fmt.Errorf("%w: the server process %d exited (generation %d)", ErrPeerDead, pfd.Pid(), c.generation))
			c.conn.CloseRead() // ends watch, which releases the connection
		}
	}()
}

// attachConnectionSegment checks the seals, maps the segment and checks it
// holds exactly the two rings of §3 with the granted capacities.
func attachConnectionSegment(fd int, wl welcome) (*shm.Segment, error) {
	seals, err := sys.GetSeals(fd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v (not a sealable memfd?)", ErrBadSegment, err)
	}
	if seals&sys.RequiredSeals != sys.RequiredSeals {
		return nil, fmt.Errorf("%w: seals %#x lack F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL (%#x): the server could resize it under us",
			ErrBadSegment, seals, sys.RequiredSeals)
	}
	seg, err := shm.AttachFd(fd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSegment, err)
	}
	want := []struct {
		name string
		cap  uint32
	}{{RequestRing, wl.requestBytes}, {ResponseRing, wl.respBytes}}
	regions := seg.Header().Regions
	if len(regions) != len(want) {
		seg.Close()
		return nil, fmt.Errorf("%w: %d regions, want exactly the rings %q and %q", ErrBadSegment, len(regions), RequestRing, ResponseRing)
	}
	for i, w := range want {
		r := regions[i]
		if r.Name != w.name || r.Kind != shm.KindSPSC || r.Capacity != uint64(w.cap) {
			seg.Close()
			return nil, fmt.Errorf("%w: region %d is %q (kind %d, capacity %d), want SPSC ring %q of %d bytes",
				ErrBadSegment, i, r.Name, r.Kind, r.Capacity, w.name, w.cap)
		}
	}
	return seg, nil
}

func newClient(conn *net.UnixConn, seg *shm.Segment, wl welcome, opts DialOptions) (*Client, error) {
	spin := opts.Spin
	if spin == 0 {
		spin = shm.DefaultSpin
	}
	// Both ring handles sleep at once: the client spins itself (lead) and a
	// full request ring either fails fast or waits for the deadline.
	w, err := seg.Writer(RequestRing, shm.Spin(0))
	if err != nil {
		return nil, err
	}
	r, err := seg.Reader(ResponseRing, shm.Spin(0))
	if err != nil {
		w.Close()
		return nil, err
	}
	c := &Client{
		conn: conn, seg: seg, w: w, fw: frames.NewWriter(w), r: r, spin: max(spin, 0),
		generation: wl.generation, serverPid: int(wl.serverPid),
		reqBytes: wl.requestBytes, respBytes: wl.respBytes,
		done: make(chan struct{}), pending: make([]*call, 64),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.idle = sync.NewCond(&c.mu)
	c.buildFn = c.buildRequest
	c.watchPidfd()
	go c.watch()
	return c, nil
}

// Generation is the connection generation the server assigned (§2).
func (c *Client) Generation() uint64 { return c.generation }

// ServerPid is the pid the server reported (informational).
func (c *Client) ServerPid() int { return c.serverPid }

// RingBytes returns the granted request and response ring capacities.
func (c *Client) RingBytes() (request, response uint32) { return c.reqBytes, c.respBytes }

// Done is closed when the connection has ended (peer death, protocol error
// or Close) and the client has released its segment.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is up.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadErr
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats {
	c.mu.Lock()
	calls := c.calls
	c.mu.Unlock()
	return ClientStats{Calls: calls + c.soloCalls.Load(), Sent: c.sent.Load(), LateResponses: c.late.Load(), Full: c.full.Load(), Sleeps: c.sleeps.Load()}
}

// watch is the liveness goroutine: it sleeps in the netpoller on the socket,
// which carries nothing after the handshake, so any return is the end.
func (c *Client) watch() {
	var buf [64]byte
	n, err := c.conn.Read(buf[:])
	switch {
	case n > 0:
		c.die(fmt.Errorf("%w: %w: the server sent a packet after the handshake", ErrPeerDead, ErrProtocol))
	case errors.Is(err, io.EOF) || err == nil:
		c.die(fmt.Errorf("%w: the server closed the connection (generation %d)", ErrPeerDead, c.generation))
	default:
		c.die(fmt.Errorf("%w: connection socket: %w", ErrPeerDead, err))
	}
	// Every caller has been woken; wait for them to leave the rings.
	c.mu.Lock()
	for c.active > 0 || c.gate.Load()&gateSolo != 0 {
		c.idle.Wait()
	}
	c.mu.Unlock()
	c.life.Lock()
	c.closeErr = errors.Join(c.r.Close(), c.w.Close(), c.seg.Close())
	c.conn.Close()
	if c.pidfd != nil {
		c.pidfd.Close()
	}
	c.life.Unlock()
	close(c.done)
}

// die records why the connection ended (the first reason wins) and wakes
// every caller: followers by their wake channels, a leader or a writer
// sleeping on a ring through the connection context.
func (c *Client) die(err error) {
	c.mu.Lock()
	if c.deadErr == nil {
		c.deadErr = err
	}
	c.dead.Store(true)
	for _, cl := range c.pending {
		if cl != nil {
			signal(cl)
		}
	}
	c.wakeGateLocked()
	c.mu.Unlock()
	c.cancel()
	// A leader in NextUntil or a writer in AwaitRelease watches c.dead:
	// wake them (safe even after teardown unmapped the rings).
	c.r.Wake()
	c.w.Wake()
}

// Close ends the connection: calls in flight fail with ErrClosed, the server
// sees end of file, and the segment is released. Close is idempotent.
func (c *Client) Close() error {
	c.die(ErrClosed)
	c.conn.CloseRead() // wakes watch; the socket itself closes there
	<-c.done
	return c.closeErr
}

func signal(cl *call) {
	select {
	case cl.wake <- struct{}{}:
	default:
	}
}

func (c *Client) deadError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadErr
}

// Call sends req as a Request and waits for its response until ctx is done.
// On status 0 it calls read with the response envelope (read in place, or
// on a private copy when another caller read it; valid only during read) and
// returns read's error. A non-zero status is returned as *StatusError
// without calling read. The deadline sent to the server is ctx's.
func (c *Client) Call(ctx context.Context, req *Request, read func(*fb.Envelope) error) error {
	if c.gate.CompareAndSwap(0, gateSolo) {
		return c.callSolo(ctx, req, read)
	}
	if err := c.enterGeneral(ctx); err != nil {
		return err
	}
	defer c.leaveGeneral()
	return c.callGeneral(ctx, req, read)
}

// callGeneral is Call for a caller counted in the gate's general path.
func (c *Client) callGeneral(ctx context.Context, req *Request, read func(*fb.Envelope) error) error {
	cl, lead, err := c.register()
	if err != nil {
		return err
	}
	if err := c.sendRequest(ctx, req, cl, &lead); err != nil {
		c.unregister(cl, lead)
		return err
	}
	if lead {
		if done, err := c.lead(ctx, cl, read, false); done {
			return err
		}
	}
	return c.await(ctx, cl, read)
}

// Send writes req as a OneWay request and returns once it is committed.
func (c *Client) Send(ctx context.Context, req *Request) error {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.dead.Load() {
		return c.deadError()
	}
	if err := c.send(ctx, req, fb.KindOneWay, 0, nil); err != nil {
		return err
	}
	c.sent.Add(1)
	return nil
}

// sendRequest is send for Call: a panic in the request's Build callback
// undoes the call's registration before it goes on.
func (c *Client) sendRequest(ctx context.Context, req *Request, cl *call, lead *bool) error {
	sent := false
	defer func() {
		if !sent {
			if p := recover(); p != nil {
				c.unregister(cl, *lead)
				panic(p)
			}
		}
	}()
	err := c.send(ctx, req, fb.KindRequest, cl.id, lead)
	sent = true
	return err
}

// unregister ends a call whose request was not sent.
func (c *Client) unregister(cl *call, lead bool) {
	c.mu.Lock()
	if lead {
		c.leading = false
		c.handoffLocked()
	}
	c.removeLocked(cl)
	c.freeLocked(cl)
	c.mu.Unlock()
}

// register makes a call pending under a fresh correlation id and, when
// nobody reads the response ring, makes its caller the leader (lead): one
// lock for both, the single caller's usual case. It fails once the
// connection has ended.
func (c *Client) register() (cl *call, lead bool, err error) {
	c.mu.Lock()
	if c.deadErr != nil {
		err = c.deadErr
		c.mu.Unlock()
		return nil, false, err
	}
	c.active++
	cl = c.newCallLocked()
	if 2*(c.npending+1) > len(c.pending) {
		c.growLocked()
	}
	mask := uint64(len(c.pending) - 1)
	for {
		c.nextID++
		if c.nextID != 0 && c.pending[c.nextID&mask] == nil {
			break
		}
	}
	cl.id = c.nextID
	c.pending[cl.id&mask] = cl
	c.npending++
	if !c.leading {
		c.leading, lead = true, true
	}
	c.mu.Unlock()
	return cl, lead, nil
}

// newCallLocked takes a call slot from the pool.
func (c *Client) newCallLocked() *call {
	if n := len(c.free); n > 0 {
		cl := c.free[n-1]
		c.free = c.free[:n-1]
		return cl
	}
	return &call{wake: make(chan struct{}, 1)}
}

// growLocked doubles the pending table. Two pending ids that share a slot
// of the new table would share one of the old: none do.
func (c *Client) growLocked() {
	t := make([]*call, 2*len(c.pending))
	mask := uint64(len(t) - 1)
	for _, p := range c.pending {
		if p != nil {
			t[p.id&mask] = p
		}
	}
	c.pending = t
}

// lookupLocked returns the pending call with correlation id id, or nil.
func (c *Client) lookupLocked(id uint64) *call {
	if p := c.pending[id&uint64(len(c.pending)-1)]; p != nil && p.id == id {
		return p
	}
	return nil
}

// removeLocked makes cl no longer pending (if it is).
func (c *Client) removeLocked(cl *call) {
	if i := cl.id & uint64(len(c.pending)-1); c.pending[i] == cl {
		c.pending[i] = nil
		c.npending--
	}
}

// freeLocked returns a slot whose id is no longer pending to the pool: the
// end of a call, which touches the rings no more.
func (c *Client) freeLocked(cl *call) {
	if c.active--; c.active == 0 && c.deadErr != nil {
		c.idle.Broadcast()
	}
	select {
	case <-cl.wake:
	default:
	}
	cl.delivered, cl.waiting, cl.n = false, false, 0
	c.free = append(c.free, cl)
}

// buildRequest fills the request envelope; frames.Writer.BuildEnvelope lays
// out the Envelope table itself (about half the cost of a builder-made one).
func (c *Client) buildRequest(b *flatbuffers.Builder, e *frames.EnvelopeFields) {
	req := &c.bReq
	e.Sequence, e.Kind, e.CorrelationID, e.DeadlineUnixNano = req.Sequence, c.bKind, c.bID, c.bDL
	if req.Build == nil && req.Raw != nil {
		e.Raw = req.Raw // laid out by BuildEnvelope, without the builder
	} else {
		e.PayloadType, e.Payload = req.payload(b)
	}
	if req.Traceparent != "" {
		tp := b.CreateString(req.Traceparent)
		fb.TraceContextStart(b)
		fb.TraceContextAddTraceparent(b, tp)
		e.Trace = fb.TraceContextEnd(b)
	}
}

// writeRequest builds and commits one request frame without waiting for
// space (a full ring: context.Canceled), under wmu. A request that needs no
// builder (a Raw payload or none, no trace) is laid out directly; others go
// through BuildEnvelope and req.Build, which may panic: the claim is then
// aborted and the panic goes on.
func (c *Client) writeRequest(req *Request, kind fb.Kind, id uint64, dl int64) error {
	if !req.needsBuilder() {
		e := frames.EnvelopeFields{Sequence: req.Sequence, Kind: kind, CorrelationID: id, DeadlineUnixNano: dl, Raw: req.Raw}
		_, err := c.fw.LayEnvelope(cancelled, &e)
		return err
	}
	c.bReq, c.bKind, c.bID, c.bDL = *req, kind, id, dl
	defer func() { c.bReq = Request{} }() // also when req.Build panics
	_, err := c.fw.BuildEnvelope(cancelled, c.buildFn)
	return err
}

// send builds and commits one request frame. It claims without waiting;
// on a full ring it waits for the server to release space (until ctx's
// deadline, or fails at once for FailFast) and tries again. A leader (*lead)
// resigns before it waits: the server may be waiting for it to read
// responses before it reads more requests.
func (c *Client) send(ctx context.Context, req *Request, kind fb.Kind, id uint64, lead *bool) error {
	var dl int64
	if d, ok := ctx.Deadline(); ok {
		dl = d.UnixNano()
	}
	switch {
	case lead == nil || !*lead:
		c.wmu.Lock()
	case !c.wmu.TryLock():
		// Another caller builds, or waits for space with the lock held:
		// a leader does not wait for it (the server may be waiting for
		// responses to be read).
		c.resign()
		*lead = false
		c.wmu.Lock()
	}
	defer c.wmu.Unlock()
	// The reader's release position is read only once a claim has failed
	// (it is a line the server writes: a cache miss on every call), and
	// the claim is then tried once more before waiting for it to move.
	var since uint64
	haveSince := false
	for {
		err := c.writeRequest(req, kind, id, dl)
		if err == nil {
			if lead != nil && *lead {
				// The leader now waits for the response: take the next
				// request's lines meanwhile, with the lock already held.
				c.w.WarmNext()
			}
			return nil
		}
		if !errors.Is(err, context.Canceled) {
			return c.sendErr(ctx, err)
		}
		if req.FailFast {
			c.full.Add(1)
			return ErrFull
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("channel request: %w", err)
		}
		if !haveSince {
			since, haveSince = c.w.Released(), true
			continue
		}
		haveSince = false
		if lead != nil && *lead {
			c.resign()
			*lead = false
		}
		until, polling := waitUntil(ctx)
		switch err := c.w.AwaitRelease(since, until, &c.dead); {
		case err == nil:
		case err == context.DeadlineExceeded:
			if !polling {
				return fmt.Errorf("channel request: %w", context.DeadlineExceeded)
			}
		case err == shm.ErrStopped:
			return c.deadError()
		default:
			return c.sendErr(ctx, err)
		}
	}
}

func (c *Client) sendErr(ctx context.Context, err error) error {
	if c.dead.Load() || errors.Is(err, shm.ErrPeerDead) {
		if d := c.deadError(); d != nil {
			return d
		}
		return fmt.Errorf("%w: %w", ErrPeerDead, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("channel request: %w", ctx.Err())
	}
	return fmt.Errorf("channel request: %w", err)
}

// cancelPoll bounds each sleep of a caller whose context can be cancelled
// before its deadline: the ring waits take no context registration (which
// allocates per context), so such a cancel is seen within cancelPoll. The
// deadline itself and the connection's end end a sleep at once.
const cancelPoll = 5 * time.Millisecond

// waitUntil returns the absolute time a ring wait for ctx may last until:
// ctx's deadline, or sooner by cancelPoll when ctx can be cancelled (polling:
// a wait that ends then must look at ctx and go on).
func waitUntil(ctx context.Context) (until time.Time, polling bool) {
	dl, ok := ctx.Deadline()
	if ctx.Done() == nil {
		return dl, false
	}
	if p := time.Now().Add(cancelPoll); !ok || p.Before(dl) {
		return p, true
	}
	return dl, false
}

// await waits for cl's response. Leader/follower: the first caller that
// finds nobody reading the response ring reads it (lead), hands other
// callers' responses to them and returns with its own; the others sleep on
// their wake channels and one of them takes over when the leader leaves.
// One caller at a time thus never pays for a goroutine hand-off.
func (c *Client) await(ctx context.Context, cl *call, read func(*fb.Envelope) error) error {
	for {
		c.mu.Lock()
		switch {
		case cl.delivered:
			c.mu.Unlock()
			return c.finish(cl, read)
		case c.deadErr != nil:
			err := c.deadErr
			c.removeLocked(cl)
			c.freeLocked(cl)
			c.mu.Unlock()
			return err
		case !c.leading:
			c.leading = true
			c.mu.Unlock()
			if done, err := c.lead(ctx, cl, read, false); done {
				return err
			}
			continue
		}
		cl.waiting = true
		c.waitq = append(c.waitq, cl)
		c.mu.Unlock()
		select {
		case <-cl.wake:
		case <-ctx.Done():
			c.mu.Lock()
			if cl.delivered {
				c.mu.Unlock()
				return c.finish(cl, read)
			}
			c.removeLocked(cl)
			c.freeLocked(cl)
			c.handoffLocked() // a leadership offer may have been ours
			c.mu.Unlock()
			return fmt.Errorf("channel call %d: %w", cl.id, ctx.Err())
		}
	}
}

// handoffLocked wakes one waiting follower to take the lead when nobody
// reads the response ring.
func (c *Client) handoffLocked() {
	for !c.leading && len(c.waitq) > 0 {
		cl := c.waitq[len(c.waitq)-1]
		c.waitq = c.waitq[:len(c.waitq)-1]
		if cl.waiting {
			cl.waiting = false
			signal(cl)
			return
		}
	}
}

// resign gives up the lead (leader only), releasing the frames it holds:
// the next leader may be a while coming, and the server may need the space.
func (c *Client) resign() {
	c.releaseHeld()
	c.mu.Lock()
	c.leading = false
	c.handoffLocked()
	c.mu.Unlock()
}

// lead reads the response ring until cl's response arrives (done: the call
// is over, with err), ctx ends, or the connection dies. It returns done =
// false only if cl was answered by nobody and must wait again (never, in
// practice: a leader's own response is read by the leader). spun: the
// caller has just spun for the budget; the first wait sleeps at once.
func (c *Client) lead(ctx context.Context, cl *call, read func(*fb.Envelope) error, spun bool) (done bool, err error) {
	c.releaseHeld() // while the server works on our request
	for {
		f, ok, err := c.r.TryNext()
		if err == nil && !ok {
			c.releaseHeld()
			if !spun {
				f, ok, err = c.spinNext()
			}
			spun = false
		}
		for err == nil && !ok {
			until, polling := waitUntil(ctx)
			c.sleeps.Add(1)
			if f, err = c.r.NextUntil(until, &c.dead); err == nil {
				ok = true
			} else if err == context.DeadlineExceeded && polling && ctx.Err() == nil {
				err = nil // a cancel poll: ctx is still live, sleep again
			}
		}
		if err != nil {
			c.resign()
			return true, c.leadErr(ctx, cl, err)
		}
		c.held = true
		mine, perr := c.dispatch(f, cl.id)
		if perr != nil {
			c.releaseHeld()
			c.resign()
			c.protocolError(perr)
			c.mu.Lock()
			c.removeLocked(cl)
			c.freeLocked(cl)
			c.mu.Unlock()
			return true, c.deadError()
		}
		if mine {
			return true, c.readLed(cl, read)
		}
		if ctx.Err() != nil || c.dead.Load() {
			c.releaseHeld()
			c.resign()
			return true, c.leadErr(ctx, cl, ctx.Err())
		}
	}
}

// readLed reads the leader's own response in place; the frame stays held
// until the next leader releases it. Then it resigns, unregisters and frees
// the call under one lock (only this goroutine removes its own call: no
// lookup needed), also when read panics or calls runtime.Goexit.
func (c *Client) readLed(cl *call, read func(*fb.Envelope) error) error {
	var res error
	var userPanic any
	defer func() {
		c.mu.Lock()
		c.removeLocked(cl)
		c.calls++
		if c.npending > 0 {
			// Others wait: the server may need this space for their
			// responses while no caller leads (all of them sending).
			c.releaseHeld()
		}
		c.leading = false
		c.handoffLocked()
		c.freeLocked(cl)
		c.mu.Unlock()
		if userPanic != nil {
			panic(userPanic) // the callback's own, now that the client is in order
		}
	}()
	res, userPanic = c.readInPlace(read)
	return res
}

// releaseHeld releases the response frames leaders have read (leader only).
func (c *Client) releaseHeld() {
	if c.held {
		c.r.Release()
		c.held = false
	}
}

// leadErr ends a leader's call that got no response.
func (c *Client) leadErr(ctx context.Context, cl *call, cause error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(cl)
	c.freeLocked(cl)
	switch {
	case c.deadErr != nil:
		return c.deadErr
	case ctx.Err() != nil:
		return fmt.Errorf("channel call %d: %w", cl.id, ctx.Err())
	case errors.Is(cause, context.DeadlineExceeded) || errors.Is(cause, context.Canceled):
		// The ring wait saw ctx's deadline a moment before ctx did.
		return fmt.Errorf("channel call %d: %w", cl.id, context.DeadlineExceeded)
	}
	// The ring itself failed (corrupt records): the server broke the protocol.
	err := fmt.Errorf("%w: %w: response ring: %w", ErrPeerDead, ErrProtocol, cause)
	c.deadErr = err
	c.dead.Store(true)
	for _, p := range c.pending {
		if p != nil {
			signal(p)
		}
	}
	c.cancel()
	c.conn.CloseRead()
	return err
}

// spinEpoch makes spin budgets monotonic readings of one clock call each
// (time.Since(spinEpoch)); time.Now reads two clocks.
var spinEpoch = time.Now()

// spinNext re-polls the response ring for the spin budget. The clock is
// read only once the first 256 polls found nothing, and then every 256: a
// response that is already on its way costs no clock read, and one that
// comes during a read waits for it.
func (c *Client) spinNext() (shm.Frame, bool, error) {
	if c.spin <= 0 {
		return shm.Frame{}, false, nil
	}
	var start time.Duration
	for i := 1; ; i++ {
		f, ok, err := c.r.TryNext()
		if ok || err != nil {
			return f, ok, err
		}
		if i&255 == 0 {
			if now := time.Since(spinEpoch); start == 0 {
				start = now
			} else if c.dead.Load() || now-start >= c.spin {
				return shm.Frame{}, false, nil
			}
		}
	}
}

// dispatch handles one response frame (read, not yet released): the
// leader's own (mine) is left in c.leadEnv to be read in place; another
// caller's is copied to its slot; an unknown one is counted.
func (c *Client) dispatch(f shm.Frame, own uint64) (mine bool, perr error) {
	if f.Type != frames.TypeFlatBuffers {
		return false, fmt.Errorf("response frame of type %d, want %d", f.Type, frames.TypeFlatBuffers)
	}
	env := &c.leadEnv
	if err := c.leadOpen.Open(f.Data, env); err != nil {
		return false, fmt.Errorf("response envelope: %w", err)
	}
	k, id, st, err := c.leadOpen.Header(f.Data)
	if err != nil {
		return false, fmt.Errorf("response envelope: %w", err)
	}
	if k != fb.KindResponse {
		return false, fmt.Errorf("response frame of kind %s, want Response", k)
	}
	if id == own {
		c.leadSt = st
		return true, nil
	}
	c.mu.Lock()
	p := c.lookupLocked(id)
	if p == nil {
		// Once the server is dead its callers have failed with ErrPeerDead
		// and left; a response it committed before dying is not late.
		dead := c.dead.Load()
		c.mu.Unlock()
		if !dead {
			c.late.Add(1)
		}
		return false, nil
	}
	c.removeLocked(p)
	c.calls++
	if cap(p.buf) < len(f.Data) {
		p.buf = make([]byte, len(f.Data))
	}
	p.n = copy(p.buf[:cap(p.buf)], f.Data)
	p.delivered = true
	p.waiting = false // not a candidate for the lead any more
	signal(p)
	c.mu.Unlock()
	return false, nil
}

// finish completes a follower's call on the copy the leader made. The copy
// is private, so verifying it again makes it safe against a server that
// changed the frame after the leader looked.
func (c *Client) finish(cl *call, read func(*fb.Envelope) error) error {
	defer func() { // deferred: a panicking read callback still ends the call
		c.mu.Lock()
		c.freeLocked(cl)
		c.handoffLocked()
		c.mu.Unlock()
	}()
	if err := frames.Open(cl.buf[:cl.n:cl.n], &cl.env); err != nil {
		return fmt.Errorf("%w: response envelope: %w", ErrProtocol, err)
	}
	return result(cl.env.Status(), &cl.env, read)
}

// readInPlace is result on the leader's response, read in place in the
// ring. The frame was verified, but a server that goes on writing a
// committed frame can make an accessor run out of range afterwards
// (docs/schemas.md): that runtime panic ends the connection as a protocol
// error rather than the caller's process. Any other panic is the callback's
// own: it is returned, to be raised again once the call is cleaned up.
func (c *Client) readInPlace(read func(*fb.Envelope) error) (err error, userPanic any) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		err, userPanic = c.readPanic(p)
	}()
	return result(c.leadSt, &c.leadEnv, read), nil
}

// readPanic sorts a panic recovered while reading a response in place: a
// runtime error ends the connection as a protocol error (err); any other is
// the read callback's own (userPanic), to be raised again once the call is
// cleaned up.
func (c *Client) readPanic(p any) (err error, userPanic any) {
	if re, ok := p.(runtime.Error); ok {
		c.protocolError(fmt.Errorf("reading the response in place panicked (%v): the server changed a committed frame, or the read callback has a bug", re))
		return c.deadError(), nil
	}
	return nil, p
}

// result is a call's outcome from its response env of status st.
func result(st int32, env *fb.Envelope, read func(*fb.Envelope) error) error {
	if st != 0 {
		return &StatusError{Code: st, Message: string(env.StatusMessage())}
	}
	if read == nil {
		return nil
	}
	return read(env)
}

// protocolError ends the connection because the server broke the protocol.
func (c *Client) protocolError(cause error) {
	c.die(fmt.Errorf("%w: %w: %w", ErrPeerDead, ErrProtocol, cause))
	c.conn.CloseRead()
}
