package shmtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/framebridge/framebridge/internal/peer"
	"github.com/framebridge/framebridge/shm"
)

// ChildEnv is set in the environment of a test binary re-executed as a peer.
const ChildEnv = "FRAMEBRIDGE_TEST_PEER"

// RunChild must be called first in TestMain. In a process started by Start
// it runs the command named by the first argument — one of extra, or else a
// peer command of docs/peers.md (peer.Run) — and exits with its status. In
// the test process itself it returns at once.
func RunChild(extra map[string]func(args []string) int) {
	if os.Getenv(ChildEnv) != "1" {
		return
	}
	args := os.Args[1:]
	if len(args) > 0 {
		if f, ok := extra[args[0]]; ok {
			os.Exit(f(args))
		}
	}
	os.Exit(peer.Run(args, os.Stdout, os.Stderr))
}

// Proc is a copy of the test binary running one peer command.
type Proc struct {
	Label string
	cmd   *exec.Cmd

	mu      sync.Mutex
	lines   []string // stdout, line by line
	stderr  bytes.Buffer
	changed chan struct{} // closed and replaced on every new line and on exit
	done    chan struct{}
	err     error // exit status, valid once exited
	exited  bool
}

// Start runs the test binary as a peer: args are a peer command line
// (`write --segment ...`) or a command registered with RunChild. The
// process is killed at cleanup if it is still running.
func Start(t testing.TB, label string, args ...string) *Proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	p := &Proc{Label: label, changed: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(exe, args...)
	p.cmd.Env = append(os.Environ(), ChildEnv+"=1")
	p.cmd.Stderr = &lockedWriter{p: p}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.notifyLocked()
			p.mu.Unlock()
		}
		err := p.cmd.Wait()
		p.mu.Lock()
		p.err, p.exited = err, true
		p.notifyLocked()
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		<-p.done
	})
	return p
}

type lockedWriter struct{ p *Proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.stderr.Write(b)
}

func (p *Proc) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Expect waits for a stdout line starting with prefix and returns it. It
// fails if the process exits first or ctx is done.
func (p *Proc) Expect(ctx context.Context, prefix string) (string, error) {
	for i := 0; ; {
		p.mu.Lock()
		for ; i < len(p.lines); i++ {
			if strings.HasPrefix(p.lines[i], prefix) {
				l := p.lines[i]
				p.mu.Unlock()
				return l, nil
			}
		}
		ch := p.changed
		exited := p.exitedLocked()
		p.mu.Unlock()
		if exited {
			return "", fmt.Errorf("%s exited (%v) without printing %q:\n%s", p.Label, p.exitErr(), prefix, p.Output())
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", fmt.Errorf("%s did not print %q: %w", p.Label, prefix, ctx.Err())
		}
	}
}

func (p *Proc) exitedLocked() bool { return p.exited }

func (p *Proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to exit and returns nil if it exited 0. It
// returns ctx's error if the process is still running when ctx is done.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
	case <-ctx.Done():
		return fmt.Errorf("%s still running: %w", p.Label, ctx.Err())
	}
	if p.err != nil {
		return fmt.Errorf("%s failed (%v):\n%s", p.Label, p.err, p.Output())
	}
	return nil
}

// Kill sends SIGKILL (no-op once the process has exited) and waits until
// the kernel has torn the process down: afterwards it is a zombie or
// reaped, and therefore dead to framebridge's liveness check.
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
		if err != nil || p.Exited() {
			return
		}
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X') {
			return
		}
		syscall.Nanosleep(&syscall.Timespec{Nsec: 100_000}, nil)
	}
}

// Killed reports whether the process ended by SIGKILL.
func (p *Proc) Killed() bool {
	<-p.done
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			return ws.Signaled() && ws.Signal() == syscall.SIGKILL
		}
	}
	return false
}

// Output returns everything the process printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.lines {
		b.WriteString("  | " + l + "\n")
	}
	if p.stderr.Len() > 0 {
		b.WriteString("  stderr:\n")
		for _, l := range strings.Split(strings.TrimRight(p.stderr.String(), "\n"), "\n") {
			b.WriteString("  ! " + l + "\n")
		}
	}
	return b.String()
}

// WaitAll waits for every process to exit 0 before ctx is done: the
// watchdog of multi-process tests. If ctx ends first it kills them all and
// fails the test naming the processes that were stuck, with seg's counters
// and waiter counts (what `framebridge stat` shows), so a lost wake-up
// shows up as a failure instead of a hang.
func WaitAll(t testing.TB, ctx context.Context, seg *shm.Segment, procs ...*Proc) {
	t.Helper()
	var failed []string
	for _, p := range procs {
		if err := p.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			failed = append(failed, err.Error())
		}
	}
	if ctx.Err() != nil {
		var stuck []string
		for _, p := range procs {
			if !p.Exited() {
				stuck = append(stuck, fmt.Sprintf("%s (pid %d)", p.Label, p.Pid()))
			}
		}
		state := ""
		if seg != nil {
			state = Describe(seg)
		}
		for _, p := range procs {
			p.Kill()
		}
		var outs strings.Builder
		for _, p := range procs {
			fmt.Fprintf(&outs, "%s:\n%s", p.Label, p.Output())
		}
		t.Fatalf("watchdog: %v; stuck: %s\nsegment state when stuck:\n%s%s", ctx.Err(), strings.Join(stuck, ", "), state, outs.String())
	}
	if len(failed) > 0 {
		t.Fatalf("%s", strings.Join(failed, "\n"))
	}
}
