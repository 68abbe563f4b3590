package channel_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/framebridge/framebridge/channel"
	"github.com/framebridge/framebridge/frames/fb"
	"github.com/framebridge/framebridge/internal/shmtest"
	"github.com/framebridge/framebridge/internal/sys"
)

// holdSockets starts `sleep` with every socket this process has open, so the
// sockets outlive the process (as a child forked without exec keeps them),
// and prints its pid.
func holdSockets() error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	var files []*os.File
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		if fd, err := strconv.Atoi(e.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			files = append(files, os.NewFile(uintptr(fd), target))
		}
	}
	if len(files) == 0 {
		return errors.New("no socket to hand on")
	}
	cmd := exec.Command("sleep", "60")
	cmd.ExtraFiles = files
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // not in the test's process group
	if err := cmd.Start(); err != nil {
		return err
	}
	fmt.Printf("holder=%d\n", cmd.Process.Pid)
	return nil
}

// pidfdChildren are the test binary's extra child commands (TestMain).
var pidfdChildren = map[string]func([]string) int{
	// holder-client SOCKET: dial, hand the socket on to a sleeping child, exit.
	"holder-client": func(args []string) int {
		c, err := channel.Dial(context.Background(), args[1], channel.DialOptions{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		_ = c // never closed: the process exits with the connection up
		if err := holdSockets(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("ready")
		return 0
	},
	// holder-server SOCKET: serve; a request "hold;" hands the sockets on to
	// a sleeping child and exits without answering.
	"holder-server": func(args []string) int {
		l, err := channel.Listen(args[1], channel.ListenOptions{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("ready")
		err = l.Serve(context.Background(), func(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
			if string(channel.RawData(req)) == "hold;" {
				if err := holdSockets(); err != nil {
					fmt.Fprintln(os.Stderr, err)
				}
				os.Exit(0)
			}
			return nil
		})
		fmt.Fprintln(os.Stderr, err)
		return 1
	},
}

// bothPidfdWays runs test with the pidfd from SO_PEERPIDFD and from
// pidfd_open (the way on kernels before 6.5).
func bothPidfdWays(t *testing.T, test func(*testing.T)) {
	t.Run("SO_PEERPIDFD", test)
	t.Run("pidfd_open", func(t *testing.T) {
		sys.PeerPidfdSockopt = false
		defer func() { sys.PeerPidfdSockopt = true }()
		test(t)
	})
}

func killHolder(t *testing.T, line string) {
	pid, err := strconv.Atoi(strings.TrimPrefix(line, "holder="))
	if err != nil {
		t.Fatalf("holder line %q", line)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
}

// A client that exits while a child of its keeps the connection's socket
// open is seen gone through its pidfd: the server frees the connection.
func TestServerSeesClientExitWhileItsSocketLivesOn(t *testing.T) {
	bothPidfdWays(t, serverSeesClientExit)
}

func serverSeesClientExit(t *testing.T) {
	s := startServer(t, echo, channel.ListenOptions{})
	cl := shmtest.Start(t, "client", "holder-client", s.path)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	line, err := cl.Expect(ctx, "holder=")
	if err != nil {
		t.Fatal(err)
	}
	killHolder(t, line)
	if err := cl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for s.l.Stats().Active != 0 {
		if ctx.Err() != nil {
			t.Fatal("the server never noticed the client's exit (its socket lives on in a child)")
		}
		time.Sleep(time.Millisecond)
	}
}

// A server that exits while a child of its keeps the connection's socket
// open is seen gone through its pidfd: the pending call fails with
// ErrPeerDead, saying the process exited.
func TestClientSeesServerExitWhileItsSocketLivesOn(t *testing.T) {
	bothPidfdWays(t, clientSeesServerExit)
}

func clientSeesServerExit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	srv := shmtest.Start(t, "server", "holder-server", path)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := srv.Expect(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	c := dial(t, path, channel.DialOptions{})
	done := make(chan error, 1)
	go func() { done <- c.Call(ctx, &channel.Request{Raw: []byte("hold;")}, nil) }()
	line, err := srv.Expect(ctx, "holder=")
	if err != nil {
		t.Fatal(err)
	}
	killHolder(t, line)
	err = <-done
	if !errors.Is(err, channel.ErrPeerDead) || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("pending call: %v, want ErrPeerDead because the server process exited", err)
	}
}
