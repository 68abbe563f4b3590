package channel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framebridge/framebridge/internal/sys"
)

// Server defaults (§8).
const (
	DefaultRingBytes        = 64 << 10
	DefaultMaxRingBytes     = 16 << 20
	DefaultMaxConnections   = 1024
	DefaultHandshakeTimeout = 5 * time.Second
	maxSocketPath           = 107
)

// ListenOptions tune a Listener. The zero value is the contract's defaults.
type ListenOptions struct {
	// SocketMode is the socket file's permission bits (default 0600; the
	// umask does not apply). Connecting needs write permission on it.
	SocketMode os.FileMode
	// AllowUIDs and AllowGIDs list who may connect (SO_PEERCRED); a client
	// matching either list is accepted. Both empty: only the server's uid.
	AllowUIDs, AllowGIDs []uint32
	// RequestRingBytes and ResponseRingBytes are the defaults for clients
	// that ask for 0 (default 64 KiB each); MaxRingBytes caps what a client
	// may ask for (default 16 MiB).
	RequestRingBytes, ResponseRingBytes, MaxRingBytes uint32
	// MaxConnections is the connection limit (default 1024); more get Busy.
	MaxConnections int
	// HandshakeTimeout drops a client that does not say Hello in time (default 5 s).
	HandshakeTimeout time.Duration
	// Workers > 0 runs handlers on that many goroutines per connection; each
	// request is then copied out of the ring so later ones can be read while
	// a slow handler runs. 0 runs handlers inline on the connection's reader.
	Workers int
	// Spin is how long a connection's reader re-checks an empty request ring
	// before it sleeps: 0 means shm.DefaultSpin, < 0 sleeps at once.
	Spin time.Duration
	// OnClose, if set, is called once per ended connection (from its goroutine).
	OnClose func(ConnInfo)
}

// ConnInfo describes a connection that ended.
type ConnInfo struct {
	Generation uint64
	Cred       sys.Cred
	// Err says why it ended: it wraps ErrPeerDead when the client died or
	// closed, ErrProtocol when it broke the protocol, ErrClosed when the
	// server closed it.
	Err error
}

// ServerStats counts what a Listener did, over all its connections.
type ServerStats struct {
	Connections      uint64 // handshakes completed
	Active           int64  // connections open now
	Refused          uint64 // handshakes refused (any status but OK)
	Calls            uint64 // requests handed to the handler (Request and OneWay)
	ExpiredRequests  uint64 // requests past their deadline when read: dropped
	ExpiredResponses uint64 // responses finished past their deadline: dropped
	ProtocolErrors   uint64 // connections closed for breaking the protocol
}

// generations numbers connections across every Listener of the process (§2).
var generations atomic.Uint64

// Listener is a channel server socket.
type Listener struct {
	path string
	ln   *net.UnixListener
	opts ListenOptions

	mu     sync.Mutex
	conns  map[*serverConn]struct{}
	closed bool
	wg     sync.WaitGroup

	active                                                          atomic.Int64
	connections, refused, calls, expiredReq, expiredResp, protoErrs atomic.Uint64
}

// Listen binds a SOCK_SEQPACKET Unix socket at path (§1). A stale socket
// file (nobody accepting on it) is replaced; anything else at path is an
// error.
func Listen(path string, opts ListenOptions) (*Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("listen channel: socket path %q is %d bytes, the limit is %d: use a shorter path", path, len(path), maxSocketPath)
	}
	if path == "" {
		return nil, errors.New("listen channel: empty socket path")
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("listen channel %q: directory %q does not exist: create it first", path, filepath.Dir(path))
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	o := opts
	if o.SocketMode == 0 {
		o.SocketMode = 0o600
	}
	if o.RequestRingBytes == 0 {
		o.RequestRingBytes = DefaultRingBytes
	}
	if o.ResponseRingBytes == 0 {
		o.ResponseRingBytes = DefaultRingBytes
	}
	if o.MaxRingBytes == 0 {
		o.MaxRingBytes = DefaultMaxRingBytes
	}
	for _, n := range []uint32{o.RequestRingBytes, o.ResponseRingBytes, o.MaxRingBytes} {
		if !validRingBytes(n) {
			return nil, fmt.Errorf("listen channel %q: ring size %d: must be a power of two in [%d, %d]", path, n, MinRingBytes, MaxRingBytes)
		}
	}
	o.RequestRingBytes = min(o.RequestRingBytes, o.MaxRingBytes)
	o.ResponseRingBytes = min(o.ResponseRingBytes, o.MaxRingBytes)
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if len(o.AllowUIDs) == 0 && len(o.AllowGIDs) == 0 {
		o.AllowUIDs = []uint32{uint32(sys.Getuid())}
	}
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("listen channel %q: %w", path, err)
	}
	if err := sys.Chmod(path, uint32(o.SocketMode.Perm())); err != nil {
		ln.Close()
		return nil, fmt.Errorf("listen channel %q: chmod %o: %w", path, o.SocketMode.Perm(), err)
	}
	return &Listener{path: path, ln: ln, opts: o, conns: make(map[*serverConn]struct{})}, nil
}

// removeStale removes a socket file nobody accepts on.
func removeStale(path string) error {
	exists, isSock, err := sys.IsSocketFile(path)
	if err != nil {
		return fmt.Errorf("listen channel %q: %w", path, err)
	}
	if !exists {
		return nil
	}
	if !isSock {
		return fmt.Errorf("listen channel %q: a file that is not a socket is in the way: remove it or choose another path", path)
	}
	c, err := net.DialTimeout("unixpacket", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("listen channel %q: a live server is listening there: stop it or choose another path", path)
	}
	if !sys.IsConnRefused(err) {
		return fmt.Errorf("listen channel %q: probing the existing socket: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("listen channel %q: removing stale socket: %w", path, err)
	}
	return nil
}

// Path returns the socket path.
func (l *Listener) Path() string { return l.path }

// Stats returns the server's counters.
func (l *Listener) Stats() ServerStats {
	return ServerStats{
		Connections: l.connections.Load(), Active: l.active.Load(), Refused: l.refused.Load(),
		Calls: l.calls.Load(), ExpiredRequests: l.expiredReq.Load(), ExpiredResponses: l.expiredResp.Load(),
		ProtocolErrors: l.protoErrs.Load(),
	}
}

// Serve accepts connections and serves handler on each until ctx is done or
// the Listener is closed; then it closes every connection, waits for them
// and returns (nil after Close or ctx's end).
func (l *Listener) Serve(ctx context.Context, handler Handler) error {
	if handler == nil {
		return errors.New("serve channel: nil handler")
	}
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	for {
		c, err := l.ln.AcceptUnix()
		if err != nil {
			l.mu.Lock()
			closed := l.closed
			l.mu.Unlock()
			if closed || ctx.Err() != nil {
				l.Close()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.Close()
			return fmt.Errorf("serve channel %q: accept: %w", l.path, err)
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.handle(ctx, c, handler)
	}
}

// Close stops accepting, closes every connection (their clients see end of
// file) and waits for them. It is idempotent.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.wg.Wait()
		return nil
	}
	l.closed = true
	err := l.ln.Close()
	for sc := range l.conns {
		sc.end(ErrClosed)
	}
	l.mu.Unlock()
	l.wg.Wait()
	return err
}

func (l *Listener) allowed(c sys.Cred) bool {
	for _, u := range l.opts.AllowUIDs {
		if c.UID == u {
			return true
		}
	}
	for _, g := range l.opts.AllowGIDs {
		if c.GID == g {
			return true
		}
	}
	return false
}
