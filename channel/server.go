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

// Handler serves one request. req is read in place (valid until the handler
// returns); ctx carries the request's deadline and ends with the connection
// (it too is valid only until the handler returns). The handler fills reply;
// the server then claims, builds and commits the response in one step. A
// returned error becomes a non-zero status (a *StatusError's code, else 2
// UNKNOWN) with the error's text; a panic becomes status 13 INTERNAL. For a
// OneWay request the reply is ignored.
type Handler func(ctx context.Context, req *fb.Envelope, reply *Reply) error

// Reply is what a handler answers. It is reset before every request.
type Reply struct {
	// Sequence is the response envelope's sequence.
	Sequence uint64
	// Raw, if non-nil and Build is nil, is sent as a Raw{data} payload. It
	// may alias the request: the request is released after the response is
	// committed.
	Raw []byte
	// Build, if set, builds the payload in place in the response ring, with
	// the request still readable.
	Build func(b *flatbuffers.Builder, req *fb.Envelope) (fb.Payload, flatbuffers.UOffsetT)
}

// serverConn is one accepted connection.
type serverConn struct {
	l    *Listener
	conn *net.UnixConn
	cred sys.Cred
	gen  uint64
	h    Handler
	pid  int // the client's pid from its Hello

	seg *shm.Segment
	r   *shm.Reader
	w   *shm.Writer
	fw  *frames.Writer

	ctx     context.Context
	cancel  context.CancelFunc
	stopped atomic.Bool // set by end: a response writer waiting for space stops
	mu      sync.Mutex
	reason  error

	// Response building, under wmu when handlers run on a pool (pooled);
	// buildFn is bound once.
	pooled  bool
	wmu     sync.Mutex
	bReply  *Reply
	bReq    *fb.Envelope
	bID     uint64
	bStatus int32
	bMsg    string
	bTrace  fb.TraceContext
	buildFn func(*flatbuffers.Builder, *frames.EnvelopeFields)

	inline worker // the reader's own handler state (Workers == 0)
}

// worker is one goroutine's handler state, reused for every request.
type worker struct {
	env   fb.Envelope
	open  frames.Opener // remembers the request shape: most requests skip a full verification
	reply Reply
	cctx  callCtx
	buf   []byte
	clock wallClock // for the deadlines of this worker's requests
}

// end records why the connection ends (the first reason wins) and wakes its
// goroutines: the reader through the context, the watcher through the socket.
func (sc *serverConn) end(why error) {
	sc.mu.Lock()
	if sc.reason == nil {
		sc.reason = why
	}
	sc.mu.Unlock()
	sc.stopped.Store(true)
	sc.cancel()
	sc.w.Wake()
	sc.conn.CloseRead()
}

func (l *Listener) handle(ctx context.Context, conn *net.UnixConn, h Handler) {
	defer l.wg.Done()
	sc, err := l.accept(conn, h)
	if err != nil {
		var ref *refusal
		if !errors.As(err, &ref) {
			l.refused.Add(1) // a handshake that failed before an answer
		}
		conn.Close()
		return
	}
	l.mu.Lock()
	closed := l.closed
	l.conns[sc] = struct{}{}
	l.mu.Unlock()
	if closed {
		sc.end(ErrClosed)
	}
	go sc.watch()
	// The client's pidfd, where the kernel has one (§4): it tells of the
	// client's exit even when a child of the client keeps the socket open.
	// Without one the socket alone is watched.
	pfd, _ := sys.PeerPidfd(conn, sc.cred, sc.pid)
	if pfd != nil {
		go func() {
			if pfd.Wait() {
				sc.end(fmt.Errorf("%w: the client process %d exited", ErrPeerDead, pfd.Pid()))
			}
		}()
	}
	sc.run()
	if pfd != nil {
		pfd.Close()
	}

	l.mu.Lock()
	delete(l.conns, sc)
	l.mu.Unlock()
	sc.mu.Lock()
	why := sc.reason
	sc.mu.Unlock()
	if errors.Is(why, ErrProtocol) {
		l.protoErrs.Add(1)
	}
	sc.r.Close()
	sc.w.Close()
	sc.seg.Close()
	conn.Close()
	l.active.Add(-1)
	if l.opts.OnClose != nil {
		l.opts.OnClose(ConnInfo{Generation: sc.gen, Cred: sc.cred, Err: why})
	}
}

// refuse answers a Hello with a non-OK status. It counts the refusal before
// it answers, so a client that has read the answer sees it in Stats.
func (l *Listener) refuse(conn *net.UnixConn, st WelcomeStatus, format string, a ...any) error {
	l.refused.Add(1)
	msg := fmt.Sprintf(format, a...)
	var b [WelcomeLength]byte
	welcome{protocol: ProtocolVersion, layout: LayoutVersion, status: st, serverPid: uint32(os.Getpid()), message: msg}.encode(b[:])
	conn.Write(b[:])
	return &refusal{st: st, msg: msg}
}

// refusal is a handshake the server answered with a non-OK status.
type refusal struct {
	st  WelcomeStatus
	msg string
}

func (r *refusal) Error() string { return fmt.Sprintf("refused: %s: %s", r.st, r.msg) }

// accept runs the server side of the handshake (§2) and sets up the
// connection's segment.
func (l *Listener) accept(conn *net.UnixConn, h Handler) (*serverConn, error) {
	o := &l.opts
	conn.SetDeadline(time.Now().Add(o.HandshakeTimeout))
	cred, err := sys.PeerCred(conn)
	if err != nil {
		return nil, err
	}
	in := make([]byte, HelloLength+1)
	n, err := conn.Read(in)
	if err != nil {
		return nil, err
	}
	if !l.allowed(cred) {
		return nil, l.refuse(conn, StatusPermissionDenied, "uid %d gid %d may not connect (allow-list)", cred.UID, cred.GID)
	}
	hl, err := decodeHello(in[:n])
	if err != nil {
		return nil, l.refuse(conn, StatusBadRequest, "bad packet: %v", err)
	}
	if hl.protocol != ProtocolVersion || hl.layout != LayoutVersion {
		return nil, l.refuse(conn, StatusVersionMismatch, "server speaks channel protocol %d layout %d, client sent protocol %d layout %d",
			ProtocolVersion, LayoutVersion, hl.protocol, hl.layout)
	}
	if hl.flags != 0 {
		return nil, l.refuse(conn, StatusBadRequest, "unknown flags %#x", hl.flags)
	}
	if !validRingBytes(hl.requestBytes) || !validRingBytes(hl.respBytes) {
		return nil, l.refuse(conn, StatusBadRequest, "ring sizes %d/%d: each must be 0 or a power of two in [%d, %d]",
			hl.requestBytes, hl.respBytes, MinRingBytes, MaxRingBytes)
	}
	if l.active.Add(1) > int64(o.MaxConnections) {
		l.active.Add(-1)
		return nil, l.refuse(conn, StatusBusy, "server at its limit of %d connections", o.MaxConnections)
	}
	grant := func(want, def uint32) uint32 {
		if want == 0 {
			return def
		}
		return min(want, o.MaxRingBytes)
	}
	reqBytes, respBytes := grant(hl.requestBytes, o.RequestRingBytes), grant(hl.respBytes, o.ResponseRingBytes)
	sc, err := l.newConn(conn, cred, h, reqBytes, respBytes)
	if err != nil {
		l.active.Add(-1)
		return nil, l.refuse(conn, StatusInternal, "%v", err)
	}
	sc.pid = int(hl.clientPid)
	var b [WelcomeLength]byte
	welcome{protocol: ProtocolVersion, layout: LayoutVersion, status: StatusOK,
		requestBytes: reqBytes, respBytes: respBytes,
		maxFrameBytes: uint32(min(sc.w.MaxPayload(), maxPayloadOf(reqBytes))),
		generation:    sc.gen, serverPid: uint32(os.Getpid())}.encode(b[:])
	if _, _, err := conn.WriteMsgUnix(b[:], sys.RightsOOB(sc.seg.Fd()), nil); err != nil {
		sc.release()
		l.active.Add(-1)
		return nil, fmt.Errorf("send welcome: %w", err)
	}
	conn.SetDeadline(time.Time{})
	l.connections.Add(1)
	return sc, nil
}

// maxPayloadOf is the largest frame a ring of capacity n takes (layout.md §5).
func maxPayloadOf(n uint32) int { return (int(n)/2 - shm.RecordHeaderLength) &^ 7 }

func (l *Listener) newConn(conn *net.UnixConn, cred sys.Cred, h Handler, reqBytes, respBytes uint32) (*serverConn, error) {
	seg, err := shm.CreateMemfd("framebridge-channel", shm.Spec{Rings: []shm.RingSpec{
		{Name: RequestRing, Kind: shm.SPSC, Capacity: int(reqBytes)},
		{Name: ResponseRing, Kind: shm.SPSC, Capacity: int(respBytes)},
	}})
	if err != nil {
		return nil, err
	}
	spin := l.opts.Spin
	if spin == 0 {
		spin = shm.DefaultSpin
	}
	r, err := seg.Reader(RequestRing, shm.Spin(max(spin, 0)))
	if err != nil {
		seg.Close()
		return nil, err
	}
	w, err := seg.Writer(ResponseRing, shm.Spin(0))
	if err != nil {
		r.Close()
		seg.Close()
		return nil, err
	}
	sc := &serverConn{l: l, conn: conn, cred: cred, gen: generations.Add(1), h: h, seg: seg, r: r, w: w, fw: frames.NewWriter(w)}
	sc.ctx, sc.cancel = context.WithCancel(context.Background())
	sc.buildFn = sc.buildResponse
	sc.pooled = l.opts.Workers > 0
	sc.inline.cctx.parent = sc.ctx
	return sc, nil
}

func (sc *serverConn) release() {
	sc.cancel()
	sc.r.Close()
	sc.w.Close()
	sc.seg.Close()
}

// watch is the liveness goroutine: the socket carries nothing after the
// handshake, so any return from Read is the end of the connection.
func (sc *serverConn) watch() {
	var buf [64]byte
	n, err := sc.conn.Read(buf[:])
	switch {
	case n > 0:
		sc.end(fmt.Errorf("%w: the client sent a packet after the handshake", ErrProtocol))
	case err == nil || errors.Is(err, io.EOF):
		sc.end(fmt.Errorf("%w: the client (pid %d) closed the connection or died", ErrPeerDead, sc.cred.Pid))
	default:
		sc.end(fmt.Errorf("%w: connection socket: %w", ErrPeerDead, err))
	}
}

// run reads requests until the connection ends. Requests are read in place
// (inline handlers): a client that rewrites a committed request after the
// server verified it can make an accessor run out of range, and that
// runtime panic ends this connection as a protocol error, not the server.
// (Handlers' own panics are caught by invoke; workers read private copies.)
func (sc *serverConn) run() {
	defer func() {
		if p := recover(); p != nil {
			re, ok := p.(runtime.Error)
			if !ok {
				panic(p)
			}
			sc.end(fmt.Errorf("%w: reading a request in place panicked (%v): the client changed a committed frame", ErrProtocol, re))
		}
	}()
	if sc.l.opts.Workers > 0 {
		sc.runPool(sc.l.opts.Workers)
		return
	}
	for {
		f, err := sc.r.Next(sc.ctx)
		if err != nil {
			sc.readFailed(err)
			return
		}
		if err := sc.serve(&sc.inline, f.Type, f.Data); err != nil {
			sc.r.Release()
			sc.end(err)
			return
		}
		sc.r.Release()
	}
}

func (sc *serverConn) readFailed(err error) {
	if sc.ctx.Err() != nil {
		return // ended by end(), which recorded why
	}
	sc.end(fmt.Errorf("%w: request ring: %w", ErrProtocol, err))
}

// testHookRequestOpened, set by tests, sees every request frame the server
// has just verified, in place.
var testHookRequestOpened atomic.Pointer[func(data []byte)]

// job is a request copied out of the ring for a worker.
type job struct {
	typ  uint32
	data []byte
}

func (sc *serverConn) runPool(n int) {
	jobs := make(chan *job, 2*n)
	free := make(chan *job, 2*n)
	for i := 0; i < 2*n; i++ {
		free <- &job{}
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := &worker{cctx: callCtx{parent: sc.ctx}}
			for j := range jobs {
				if err := sc.serve(wk, j.typ, j.data); err != nil {
					sc.end(err)
				}
				free <- j
			}
		}()
	}
	defer func() {
		close(jobs)
		wg.Wait()
	}()
	for {
		f, err := sc.r.Next(sc.ctx)
		if err != nil {
			sc.readFailed(err)
			return
		}
		var j *job
		select {
		case j = <-free:
		case <-sc.ctx.Done():
			return
		}
		if cap(j.data) < len(f.Data) {
			j.data = make([]byte, len(f.Data))
		}
		j.typ, j.data = f.Type, j.data[:len(f.Data)]
		copy(j.data, f.Data)
		sc.r.Release()
		jobs <- j
	}
}

// serve handles one request frame; an error is a protocol error (§7).
func (sc *serverConn) serve(wk *worker, typ uint32, data []byte) error {
	if typ != frames.TypeFlatBuffers {
		return fmt.Errorf("%w: request frame of type %d, want %d", ErrProtocol, typ, frames.TypeFlatBuffers)
	}
	env := &wk.env
	if err := wk.open.Open(data, env); err != nil {
		return fmt.Errorf("%w: request envelope: %w", ErrProtocol, err)
	}
	if hook := testHookRequestOpened.Load(); hook != nil {
		(*hook)(data)
	}
	kind, id, _, err := wk.open.Header(data)
	if err != nil {
		return fmt.Errorf("%w: request envelope: %w", ErrProtocol, err)
	}
	switch {
	case kind == fb.KindRequest && id == 0:
		return fmt.Errorf("%w: Request with correlation id 0", ErrProtocol)
	case kind != fb.KindRequest && kind != fb.KindOneWay:
		return fmt.Errorf("%w: request frame of kind %s", ErrProtocol, kind)
	}
	var deadline time.Time
	dl := env.DeadlineUnixNano()
	if dl != 0 {
		deadline = time.Unix(0, dl)
		if wk.clock.unixNano() >= dl {
			sc.l.expiredReq.Add(1)
			return nil
		}
	}
	sc.l.calls.Add(1)
	wk.reply = Reply{}
	wk.cctx.reset(deadline)
	status, msg := sc.invoke(wk, env)
	wk.cctx.reset(time.Time{})
	if kind == fb.KindOneWay {
		return nil
	}
	if dl != 0 && wk.clock.unixNano() >= dl {
		sc.l.expiredResp.Add(1)
		return nil
	}
	return sc.respond(wk, env, id, status, msg, deadline)
}

// invoke runs the handler, turning an error or a panic into a status.
func (sc *serverConn) invoke(wk *worker, env *fb.Envelope) (status int32, msg string) {
	defer func() {
		if p := recover(); p != nil {
			status, msg = CodeInternal, fmt.Sprintf("handler panic: %v", p)
		}
	}()
	err := sc.h(&wk.cctx, env, &wk.reply)
	if err == nil {
		return 0, ""
	}
	var se *StatusError
	if errors.As(err, &se) && se.Code != 0 {
		return se.Code, se.Message
	}
	return CodeUnknown, err.Error()
}

// respond claims, builds and commits the response in one step. A full
// response ring is waited on until the response's deadline.
func (sc *serverConn) respond(wk *worker, req *fb.Envelope, id uint64, status int32, msg string, deadline time.Time) error {
	if sc.pooled { // inline handlers run one at a time on the reader: no lock
		sc.wmu.Lock()
		defer sc.wmu.Unlock()
	}
	sc.bReply, sc.bReq, sc.bID, sc.bStatus, sc.bMsg = &wk.reply, req, id, status, msg
	defer func() { sc.bReply, sc.bReq, sc.bMsg = nil, nil, "" }()
	var err error
	var since uint64
	haveSince := false
	for {
		if err = sc.build(); err == nil || !errors.Is(err, context.Canceled) {
			break
		}
		// Full. The client's release position is read only now (a line
		// it writes: a cache miss), then the claim is tried once more.
		if !haveSince {
			since, haveSince = sc.w.Released(), true
			continue
		}
		haveSince = false
		// Wait for the client to release space, until the deadline.
		if err = sc.w.AwaitRelease(since, deadline, &sc.stopped); err != nil {
			break
		}
	}
	switch {
	case err == nil:
		return nil
	case sc.ctx.Err() != nil || err == shm.ErrStopped:
		return nil // the connection is ending; end() has the reason
	case errors.Is(err, context.DeadlineExceeded):
		sc.l.expiredResp.Add(1)
		return nil
	case errors.Is(err, shm.ErrPeerDead):
		return fmt.Errorf("%w: %w", ErrPeerDead, err)
	}
	return fmt.Errorf("build response: %w", err)
}

// build builds and commits the response. A panic in the reply's Build
// callback (BuildEnvelope has aborted its claim) turns the response into
// status 13, as a panic in the handler does.
func (sc *serverConn) build() (err error) {
	rp := sc.bReply
	if sc.bStatus == 0 && rp.Build == nil && sc.bReq.Trace(&sc.bTrace) == nil {
		// Nothing to build: laid out directly (no callback to recover from).
		e := frames.EnvelopeFields{Sequence: rp.Sequence, Kind: fb.KindResponse, CorrelationID: sc.bID, Raw: rp.Raw}
		_, err = sc.fw.LayEnvelope(cancelled, &e)
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			sc.bStatus, sc.bMsg = CodeInternal, fmt.Sprintf("reply Build panic: %v", p)
			_, err = sc.fw.BuildEnvelope(cancelled, sc.buildFn)
		}
	}()
	_, err = sc.fw.BuildEnvelope(cancelled, sc.buildFn)
	return err
}

func (sc *serverConn) buildResponse(b *flatbuffers.Builder, e *frames.EnvelopeFields) {
	rp, req := sc.bReply, sc.bReq
	e.Sequence, e.Kind, e.CorrelationID, e.Status = rp.Sequence, fb.KindResponse, sc.bID, sc.bStatus
	if sc.bStatus != 0 {
		e.StatusMessage = b.CreateString(sc.bMsg)
	} else if rp.Build != nil {
		e.PayloadType, e.Payload = rp.Build(b, req)
	} else if rp.Raw != nil {
		e.Raw = rp.Raw // laid out by BuildEnvelope, without the builder
	}
	if req.Trace(&sc.bTrace) != nil {
		e.Trace = buildTrace(b, sc.bTrace.Traceparent(), sc.bTrace.Tracestate())
	}
}
