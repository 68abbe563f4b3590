package channel_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/framebridge/framebridge/channel"
	"github.com/framebridge/framebridge/internal/sys"
	"github.com/framebridge/framebridge/shm"
)

// rawHello sends hand-made Hello bytes and returns the server's Welcome
// status and message.
func rawHello(t *testing.T, path string, pkt []byte) (channel.WelcomeStatus, string) {
	t.Helper()
	c, err := net.Dial("unixpacket", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	in := make([]byte, 256)
	n, err := c.Read(in)
	if err != nil || n != channel.WelcomeLength {
		t.Fatalf("welcome: %d bytes, %v", n, err)
	}
	ml := binary.LittleEndian.Uint16(in[channel.WelcomeMessageLengthOffset:])
	return channel.WelcomeStatus(binary.LittleEndian.Uint32(in[channel.WelcomeStatusOffset:])),
		string(in[channel.WelcomeMessageOffset : channel.WelcomeMessageOffset+int(ml)])
}

func goodHello() []byte {
	b := make([]byte, channel.HelloLength)
	binary.LittleEndian.PutUint32(b[channel.HelloMagicOffset:], channel.HelloMagic)
	binary.LittleEndian.PutUint16(b[channel.HelloProtocolVersionOffset:], channel.ProtocolVersion)
	binary.LittleEndian.PutUint16(b[channel.HelloLayoutVersionOffset:], channel.LayoutVersion)
	return b
}

func TestHandshakeLayoutMatchesTheContract(t *testing.T) {
	if channel.HelloLength != 64 || channel.WelcomeLength != 128 || channel.HelloFlagsOffset != 20 ||
		channel.WelcomeConnectionGenerationOffset != 24 || channel.WelcomeMessageOffset != 40 {
		t.Fatal("handshake offsets differ from docs/channels.md §2")
	}
}

func TestHandshakeRejectsBadHellos(t *testing.T) {
	s := startServer(t, echo, channel.ListenOptions{})
	set := func(off int, v uint32, size int) []byte {
		b := goodHello()
		if size == 2 {
			binary.LittleEndian.PutUint16(b[off:], uint16(v))
		} else {
			binary.LittleEndian.PutUint32(b[off:], v)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		want channel.WelcomeStatus
		msg  string
	}{
		{"a wrong protocol version is a version mismatch", set(channel.HelloProtocolVersionOffset, 2, 2), channel.StatusVersionMismatch, "client sent protocol 2"},
		{"a wrong layout version is a version mismatch", set(channel.HelloLayoutVersionOffset, 9, 2), channel.StatusVersionMismatch, "layout 9"},
		{"a wrong magic is a bad request", set(channel.HelloMagicOffset, 0x12345678, 4), channel.StatusBadRequest, "magic"},
		{"a short packet is a bad request", goodHello()[:32], channel.StatusBadRequest, "32 bytes"},
		{"a ring size that is not a power of two is a bad request", set(channel.HelloRequestRingBytesOffset, 5000, 4), channel.StatusBadRequest, "5000"},
		{"a ring size below 4096 is a bad request", set(channel.HelloResponseRingBytesOffset, 2048, 4), channel.StatusBadRequest, "2048"},
		{"unknown flags are a bad request", set(channel.HelloFlagsOffset, 1, 4), channel.StatusBadRequest, "flags"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, msg := rawHello(t, s.path, tc.pkt)
			if st != tc.want || !strings.Contains(msg, tc.msg) {
				t.Fatalf("status %s %q, want %s containing %q", st, msg, tc.want, tc.msg)
			}
		})
	}
	if st := s.l.Stats(); st.Connections != 0 || st.Refused != 7 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHandshakeRefusesAUIDNotAllowed(t *testing.T) {
	s := startServer(t, echo, channel.ListenOptions{AllowUIDs: []uint32{uint32(os.Getuid()) + 12345}})
	_, err := channel.Dial(context.Background(), s.path, channel.DialOptions{})
	if !errors.Is(err, channel.ErrPermissionDenied) {
		t.Fatalf("got %v, want ErrPermissionDenied", err)
	}
}

func TestHandshakeBusyAtTheConnectionLimit(t *testing.T) {
	s := startServer(t, echo, channel.ListenOptions{MaxConnections: 1})
	dial(t, s.path, channel.DialOptions{})
	_, err := channel.Dial(context.Background(), s.path, channel.DialOptions{})
	if !errors.Is(err, channel.ErrBusy) {
		t.Fatalf("got %v, want ErrBusy", err)
	}
}

func TestRingSizesAreGrantedAndGenerationsGrow(t *testing.T) {
	s := startServer(t, echo, channel.ListenOptions{MaxRingBytes: 1 << 16})
	a := dial(t, s.path, channel.DialOptions{RequestRingBytes: 8192, ResponseRingBytes: 1 << 20})
	b := dial(t, s.path, channel.DialOptions{})
	if req, resp := a.RingBytes(); req != 8192 || resp != 1<<16 {
		t.Fatalf("granted %d/%d, want 8192/65536 (capped)", req, resp)
	}
	if b.Generation() != a.Generation()+1 {
		t.Fatalf("generations %d then %d", a.Generation(), b.Generation())
	}
	if _, err := channel.Dial(context.Background(), s.path, channel.DialOptions{RequestRingBytes: 3}); err == nil {
		t.Fatal("a ring size of 3 was accepted")
	}
}

func TestListenRejectsBadPaths(t *testing.T) {
	dir := t.TempDir()
	if _, err := channel.Listen(dir+"/"+strings.Repeat("x", 120), channel.ListenOptions{}); err == nil || !strings.Contains(err.Error(), "107") {
		t.Fatalf("long path: %v", err)
	}
	if _, err := channel.Listen(dir+"/nope/s.sock", channel.ListenOptions{}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing dir: %v", err)
	}
	os.WriteFile(dir+"/file", nil, 0o600)
	if _, err := channel.Listen(dir+"/file", channel.ListenOptions{}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("regular file: %v", err)
	}
	s := startServer(t, echo, channel.ListenOptions{})
	if _, err := channel.Listen(s.path, channel.ListenOptions{}); err == nil || !strings.Contains(err.Error(), "live server") {
		t.Fatalf("live socket: %v", err)
	}
	// A stale socket file (nobody accepting) is replaced.
	stale := dir + "/stale.sock"
	ln, _ := net.ListenUnix("unixpacket", &net.UnixAddr{Name: stale, Net: "unixpacket"})
	ln.SetUnlinkOnClose(false)
	ln.Close()
	l, err := channel.Listen(stale, channel.ListenOptions{})
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	st, _ := os.Stat(stale)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %o, want 0600", st.Mode().Perm())
	}
	l.Close()
}

func TestClientSegmentIsSealed(t *testing.T) {
	s := startServer(t, echo, channel.ListenOptions{})
	dial(t, s.path, channel.DialOptions{})
	// Find the connection's memfd among our own descriptors.
	ents, _ := os.ReadDir("/proc/self/fd")
	found := 0
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		if !strings.Contains(target, "framebridge-channel") {
			continue
		}
		var fd int
		for _, ch := range e.Name() {
			fd = fd*10 + int(ch-'0')
		}
		for _, size := range []int64{1 << 30, 4096} {
			if err := sys.Ftruncate(fd, size); !errors.Is(err, sys.EPERM) {
				t.Fatalf("ftruncate %d on the channel memfd: %v, want EPERM", size, err)
			}
		}
		found++
	}
	if found == 0 {
		t.Fatal("no framebridge-channel memfd among /proc/self/fd")
	}
}

// fakeServer answers one Hello with an OK Welcome carrying fd.
func fakeServer(t *testing.T, path string, seg *shm.Segment, reqBytes, respBytes uint32) {
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		c.Read(make([]byte, 128))
		b := make([]byte, channel.WelcomeLength)
		le := binary.LittleEndian
		le.PutUint32(b[channel.WelcomeMagicOffset:], channel.WelcomeMagic)
		le.PutUint16(b[channel.WelcomeProtocolVersionOffset:], channel.ProtocolVersion)
		le.PutUint16(b[channel.WelcomeLayoutVersionOffset:], channel.LayoutVersion)
		le.PutUint32(b[channel.WelcomeRequestRingBytesOffset:], reqBytes)
		le.PutUint32(b[channel.WelcomeResponseRingBytesOffset:], respBytes)
		c.WriteMsgUnix(b, sys.RightsOOB(seg.Fd()), nil)
		c.Read(make([]byte, 1)) // until the client hangs up
	}()
}

func TestClientRefusesAnUnsealedOrWrongSegment(t *testing.T) {
	spec := shm.Spec{Rings: []shm.RingSpec{
		{Name: channel.RequestRing, Kind: shm.SPSC, Capacity: 4096},
		{Name: channel.ResponseRing, Kind: shm.SPSC, Capacity: 4096},
	}}
	// A named /dev/shm segment cannot be sealed at all.
	name := fmt.Sprintf("chtest-%d", os.Getpid())
	shm.Remove(name)
	unsealed, err := shm.Create(name, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { unsealed.Close(); shm.Remove(name) }()
	path := t.TempDir() + "/fake.sock"
	fakeServer(t, path, unsealed, 4096, 4096)
	if _, err := channel.Dial(context.Background(), path, channel.DialOptions{}); !errors.Is(err, channel.ErrBadSegment) || !strings.Contains(err.Error(), "seal") {
		t.Fatalf("unsealed segment: %v, want ErrBadSegment about seals", err)
	}
	// A sealed memfd whose capacities differ from the Welcome's.
	sealed, err := shm.CreateMemfd("framebridge-channel", spec)
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Close()
	path2 := t.TempDir() + "/fake2.sock"
	fakeServer(t, path2, sealed, 8192, 4096)
	if _, err := channel.Dial(context.Background(), path2, channel.DialOptions{}); !errors.Is(err, channel.ErrBadSegment) || !strings.Contains(err.Error(), "capacity") {
		t.Fatalf("wrong capacities: %v, want ErrBadSegment", err)
	}
}
