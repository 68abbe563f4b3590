package channel

import (
	"encoding/binary"
	"fmt"
)

// The handshake packets (docs/channels.md §2). Every offset is built by
// accumulation from the one before, so the table is written once.
//
// Hello, client -> server, 64 bytes:
//
//	0       4       6       8               12              16              20              24              64
//	+-------+---+---+-------+---------------+---------------+---------------+---------------+-- ... --+
//	| magic |pv |lv |  requestRingBytes     | responseRingBytes | clientPid   |    flags      | reserved|
//	+-------+---+---+-----------------------+-----------------+---------------+---------------+---------+
//
// Welcome, server -> client, 128 bytes:
//
//	0 magic | 4 pv | 6 lv | 8 status | 12 requestRingBytes | 16 responseRingBytes | 20 maxFrameBytes |
//	24 connectionGeneration (8) | 32 serverPid | 36 messageLength (2) | 38 reserved (2) | 40 message (88)
const (
	HelloMagic   uint32 = 0x4C454846 // "FHEL"
	WelcomeMagic uint32 = 0x4C435746 // "FWCL"

	// ProtocolVersion is the channel protocol this package speaks.
	ProtocolVersion uint16 = 1
	// LayoutVersion is the segment layout (docs/layout.md) the rings use.
	LayoutVersion uint16 = 1

	HelloMagicOffset             = 0
	HelloProtocolVersionOffset   = HelloMagicOffset + 4
	HelloLayoutVersionOffset     = HelloProtocolVersionOffset + 2
	HelloRequestRingBytesOffset  = HelloLayoutVersionOffset + 2
	HelloResponseRingBytesOffset = HelloRequestRingBytesOffset + 4
	HelloClientPidOffset         = HelloResponseRingBytesOffset + 4
	HelloFlagsOffset             = HelloClientPidOffset + 4
	HelloReservedOffset          = HelloFlagsOffset + 4
	HelloReservedLength          = 40
	HelloLength                  = HelloReservedOffset + HelloReservedLength

	WelcomeMagicOffset                = 0
	WelcomeProtocolVersionOffset      = WelcomeMagicOffset + 4
	WelcomeLayoutVersionOffset        = WelcomeProtocolVersionOffset + 2
	WelcomeStatusOffset               = WelcomeLayoutVersionOffset + 2
	WelcomeRequestRingBytesOffset     = WelcomeStatusOffset + 4
	WelcomeResponseRingBytesOffset    = WelcomeRequestRingBytesOffset + 4
	WelcomeMaxFrameBytesOffset        = WelcomeResponseRingBytesOffset + 4
	WelcomeConnectionGenerationOffset = WelcomeMaxFrameBytesOffset + 4
	WelcomeServerPidOffset            = WelcomeConnectionGenerationOffset + 8
	WelcomeMessageLengthOffset        = WelcomeServerPidOffset + 4
	WelcomeReservedOffset             = WelcomeMessageLengthOffset + 2
	WelcomeMessageOffset              = WelcomeReservedOffset + 2
	WelcomeMessageCapacity            = 88
	WelcomeLength                     = WelcomeMessageOffset + WelcomeMessageCapacity
)

// Ring size limits of the handshake (§2).
const (
	MinRingBytes = 4096
	MaxRingBytes = 1 << 30
)

// WelcomeStatus is the server's answer to a Hello.
type WelcomeStatus uint32

// Welcome status values (§2).
const (
	StatusOK               WelcomeStatus = 0
	StatusVersionMismatch  WelcomeStatus = 1
	StatusPermissionDenied WelcomeStatus = 2
	StatusBadRequest       WelcomeStatus = 3
	StatusBusy             WelcomeStatus = 4
	StatusInternal         WelcomeStatus = 5
)

func (s WelcomeStatus) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusVersionMismatch:
		return "VersionMismatch"
	case StatusPermissionDenied:
		return "PermissionDenied"
	case StatusBadRequest:
		return "BadRequest"
	case StatusBusy:
		return "Busy"
	case StatusInternal:
		return "Internal"
	}
	return fmt.Sprintf("WelcomeStatus(%d)", uint32(s))
}

// hello is a decoded Hello packet.
type hello struct {
	protocol, layout        uint16
	requestBytes, respBytes uint32
	clientPid               uint32
	flags                   uint32
}

func (h hello) encode(b []byte) {
	le := binary.LittleEndian
	clear(b[:HelloLength])
	le.PutUint32(b[HelloMagicOffset:], HelloMagic)
	le.PutUint16(b[HelloProtocolVersionOffset:], h.protocol)
	le.PutUint16(b[HelloLayoutVersionOffset:], h.layout)
	le.PutUint32(b[HelloRequestRingBytesOffset:], h.requestBytes)
	le.PutUint32(b[HelloResponseRingBytesOffset:], h.respBytes)
	le.PutUint32(b[HelloClientPidOffset:], h.clientPid)
	le.PutUint32(b[HelloFlagsOffset:], h.flags)
}

// decodeHello checks size and magic; version and value checks are the
// server's (they need a status and a message).
func decodeHello(b []byte) (hello, error) {
	if len(b) != HelloLength {
		return hello{}, fmt.Errorf("hello packet of %d bytes, want %d", len(b), HelloLength)
	}
	le := binary.LittleEndian
	if m := le.Uint32(b[HelloMagicOffset:]); m != HelloMagic {
		return hello{}, fmt.Errorf("hello magic %#x, want %#x", m, HelloMagic)
	}
	return hello{
		protocol:     le.Uint16(b[HelloProtocolVersionOffset:]),
		layout:       le.Uint16(b[HelloLayoutVersionOffset:]),
		requestBytes: le.Uint32(b[HelloRequestRingBytesOffset:]),
		respBytes:    le.Uint32(b[HelloResponseRingBytesOffset:]),
		clientPid:    le.Uint32(b[HelloClientPidOffset:]),
		flags:        le.Uint32(b[HelloFlagsOffset:]),
	}, nil
}

// welcome is a decoded Welcome packet.
type welcome struct {
	protocol, layout        uint16
	status                  WelcomeStatus
	requestBytes, respBytes uint32
	maxFrameBytes           uint32
	generation              uint64
	serverPid               uint32
	message                 string
}

func (w welcome) encode(b []byte) {
	le := binary.LittleEndian
	clear(b[:WelcomeLength])
	le.PutUint32(b[WelcomeMagicOffset:], WelcomeMagic)
	le.PutUint16(b[WelcomeProtocolVersionOffset:], w.protocol)
	le.PutUint16(b[WelcomeLayoutVersionOffset:], w.layout)
	le.PutUint32(b[WelcomeStatusOffset:], uint32(w.status))
	le.PutUint32(b[WelcomeRequestRingBytesOffset:], w.requestBytes)
	le.PutUint32(b[WelcomeResponseRingBytesOffset:], w.respBytes)
	le.PutUint32(b[WelcomeMaxFrameBytesOffset:], w.maxFrameBytes)
	le.PutUint64(b[WelcomeConnectionGenerationOffset:], w.generation)
	le.PutUint32(b[WelcomeServerPidOffset:], w.serverPid)
	msg := truncateUTF8(w.message, WelcomeMessageCapacity)
	le.PutUint16(b[WelcomeMessageLengthOffset:], uint16(len(msg)))
	copy(b[WelcomeMessageOffset:WelcomeMessageOffset+WelcomeMessageCapacity], msg)
}

func decodeWelcome(b []byte) (welcome, error) {
	if len(b) != WelcomeLength {
		return welcome{}, fmt.Errorf("welcome packet of %d bytes, want %d", len(b), WelcomeLength)
	}
	le := binary.LittleEndian
	if m := le.Uint32(b[WelcomeMagicOffset:]); m != WelcomeMagic {
		return welcome{}, fmt.Errorf("welcome magic %#x, want %#x", m, WelcomeMagic)
	}
	n := int(le.Uint16(b[WelcomeMessageLengthOffset:]))
	if n > WelcomeMessageCapacity {
		return welcome{}, fmt.Errorf("welcome message length %d exceeds %d", n, WelcomeMessageCapacity)
	}
	return welcome{
		protocol:      le.Uint16(b[WelcomeProtocolVersionOffset:]),
		layout:        le.Uint16(b[WelcomeLayoutVersionOffset:]),
		status:        WelcomeStatus(le.Uint32(b[WelcomeStatusOffset:])),
		requestBytes:  le.Uint32(b[WelcomeRequestRingBytesOffset:]),
		respBytes:     le.Uint32(b[WelcomeResponseRingBytesOffset:]),
		maxFrameBytes: le.Uint32(b[WelcomeMaxFrameBytesOffset:]),
		generation:    le.Uint64(b[WelcomeConnectionGenerationOffset:]),
		serverPid:     le.Uint32(b[WelcomeServerPidOffset:]),
		message:       string(b[WelcomeMessageOffset : WelcomeMessageOffset+n]),
	}, nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// validRingBytes reports whether n is 0 (server default) or a power of two
// in [MinRingBytes, MaxRingBytes].
func validRingBytes(n uint32) bool {
	return n == 0 || (n >= MinRingBytes && n <= MaxRingBytes && n&(n-1) == 0)
}
