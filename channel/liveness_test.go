package channel_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framebridge/framebridge/channel"
	"github.com/framebridge/framebridge/internal/shmtest"
	"github.com/framebridge/framebridge/internal/sys"
	"github.com/framebridge/framebridge/shm"
)

func TestServerKilledMidCallFailsEveryPendingCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	srv := shmtest.Start(t, "server", "held", "serve", "--socket", path)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := srv.Expect(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	c := dial(t, path, channel.DialOptions{})
	const n = 20
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() { errs <- c.Call(ctx, &channel.Request{Raw: []byte("sleep:10000;")}, nil) }()
	}
	time.Sleep(100 * time.Millisecond) // the calls are in flight, the server's handler sleeps
	srv.Kill()
	for i := 0; i < n; i++ {
		if err := <-errs; !errors.Is(err, channel.ErrPeerDead) || !errors.Is(err, shm.ErrPeerDead) {
			t.Fatalf("pending call %d: %v, want ErrPeerDead", i, err)
		}
	}
	<-c.Done()
	if err := c.Call(ctx, &channel.Request{}, nil); !errors.Is(err, channel.ErrPeerDead) {
		t.Fatalf("call after death: %v", err)
	}
}

// channelMemfds counts our descriptors and mappings of channel segments.
func channelMemfds(t *testing.T) (fds, maps int) {
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if target, _ := os.Readlink("/proc/self/fd/" + e.Name()); strings.Contains(target, "framebridge-channel") {
			fds++
		}
	}
	m, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return fds, strings.Count(string(m), "framebridge-channel")
}

func TestClientKilledFreesItsConnection(t *testing.T) {
	s := startServer(t, echo, channel.ListenOptions{})
	cl := shmtest.Start(t, "client", "call", "--socket", s.path, "--count", "1000000000", "--inflight", "4")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cl.Expect(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if fds, maps := channelMemfds(t); fds == 0 || maps == 0 {
		t.Fatalf("while connected: %d fds, %d mappings of the channel memfd", fds, maps)
	}
	cl.Kill()
	for s.l.Stats().Active != 0 {
		if ctx.Err() != nil {
			t.Fatal("the server never noticed the client's death")
		}
		time.Sleep(time.Millisecond)
	}
	if fds, maps := channelMemfds(t); fds != 0 || maps != 0 {
		t.Fatalf("after the client died: %d fds, %d mappings of the channel memfd left", fds, maps)
	}
	if st := s.l.Stats(); st.Calls == 0 || st.ProtocolErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// hostileDial does the handshake by hand and maps the segment it receives.
func hostileDial(t *testing.T, path string) (*net.UnixConn, *shm.Segment) {
	nc, err := net.Dial("unixpacket", path)
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*net.UnixConn)
	if _, err := c.Write(goodHello()); err != nil {
		t.Fatal(err)
	}
	in, oob := make([]byte, 256), make([]byte, 256)
	_, oobn, _, _, err := c.ReadMsgUnix(in, oob)
	if err != nil {
		t.Fatal(err)
	}
	fds, err := sys.ParseRights(oob[:oobn])
	if err != nil || len(fds) != 1 {
		t.Fatalf("fds %v: %v", fds, err)
	}
	seg, err := shm.AttachFd(fds[0])
	sys.Close(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	return c, seg
}

func TestHostileClientGarbageClosesOnlyItsConnection(t *testing.T) {
	var mu sync.Mutex
	var reasons []error
	s := startServer(t, echo, channel.ListenOptions{OnClose: func(ci channel.ConnInfo) {
		mu.Lock()
		reasons = append(reasons, ci.Err)
		mu.Unlock()
	}})
	good := dial(t, s.path, channel.DialOptions{})
	for _, garbage := range []struct {
		typ  uint32
		data []byte
	}{{5, []byte("not a channel frame")}, {16, []byte("FRB1 but not flatbuffers at all......")}} {
		conn, seg := hostileDial(t, s.path)
		w, err := seg.Writer(channel.RequestRing)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(context.Background(), garbage.typ, garbage.data); err != nil {
			t.Fatal(err)
		}
		// The server closes the connection: we see end of file.
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := conn.Read(make([]byte, 8)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("garbage type %d: read %d, %v; want end of file", garbage.typ, n, err)
		}
		w.Close()
		seg.Close()
		conn.Close()
		if err := echoCall(context.Background(), good, 1, []byte("still fine")); err != nil {
			t.Fatalf("the good client after garbage type %d: %v", garbage.typ, err)
		}
	}
	if st := s.l.Stats(); st.ProtocolErrors != 2 {
		t.Fatalf("stats %+v, want 2 protocol errors", st)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range reasons {
		if !errors.Is(r, channel.ErrProtocol) {
			t.Fatalf("close reason %v, want a protocol error", r)
		}
	}
}
