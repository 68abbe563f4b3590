package channel

import (
	"errors"
	"fmt"

	"github.com/framebridge/framebridge/shm"
)

// ErrPeerDead: the other end of the connection died or closed it. Every call
// pending on the connection, and every later one, fails with it. It wraps
// shm.ErrPeerDead, so errors.Is(err, shm.ErrPeerDead) holds as well.
var ErrPeerDead = fmt.Errorf("channel: %w", shm.ErrPeerDead)

// ErrFull: a fail-fast call found the request ring full (shm.ErrFull holds too).
var ErrFull = fmt.Errorf("channel: request ring full: %w", shm.ErrFull)

// ErrClosed: the Client or Listener was closed by its owner.
var ErrClosed = errors.New("channel: closed")

// ErrProtocol: the peer broke the channel protocol (§7); the connection was closed.
var ErrProtocol = errors.New("channel: protocol error")

// Handshake errors (Dial). A *HandshakeError carries the server's status and
// message and matches one of these with errors.Is.
var (
	ErrVersionMismatch  = errors.New("channel: version mismatch")
	ErrPermissionDenied = errors.New("channel: permission denied")
	ErrBadRequest       = errors.New("channel: bad request")
	ErrBusy             = errors.New("channel: server busy")
	ErrServerInternal   = errors.New("channel: server internal error")
	// ErrBadSegment: the server's segment is not what the contract requires
	// (ring names, capacities, seals); the client refused it.
	ErrBadSegment = errors.New("channel: unacceptable segment")
)

// HandshakeError is a Welcome whose status is not OK, or a Welcome the
// client could not accept.
type HandshakeError struct {
	Status  WelcomeStatus
	Message string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("channel handshake refused: %s: %s", e.Status, e.Message)
}

// Is maps the status to its sentinel.
func (e *HandshakeError) Is(target error) bool {
	switch e.Status {
	case StatusVersionMismatch:
		return target == ErrVersionMismatch
	case StatusPermissionDenied:
		return target == ErrPermissionDenied
	case StatusBadRequest:
		return target == ErrBadRequest
	case StatusBusy:
		return target == ErrBusy
	case StatusInternal:
		return target == ErrServerInternal
	}
	return false
}

// gRPC status codes used by the channel itself (§6).
const (
	CodeOK               = 0
	CodeCancelled        = 1
	CodeUnknown          = 2
	CodeDeadlineExceeded = 4
	CodeInternal         = 13
)

// StatusError is a response with a non-zero status: Code is a gRPC status
// code, Message the server's reason. A handler may return one to choose the
// code its caller sees.
type StatusError struct {
	Code    int32
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("channel call failed: status %d: %s", e.Code, e.Message)
}
