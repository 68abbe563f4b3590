// Package xlang runs the cross-language matrix: every writer_reader pair of
// Go, C++ and Java peers (docs/peers.md) through real rings between real
// processes. A language takes part when its peer is built (make build);
// with FRAMEBRIDGE_XLANG=1 (make test-xlang) a language whose sources exist
// but whose peer is missing fails the run instead of being skipped.
package xlang

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/framebridge/framebridge/internal/peer"
	"github.com/framebridge/framebridge/shm"
)

const peerEnv = "FRAMEBRIDGE_XLANG_PEER"

func TestMain(m *testing.M) {
	if os.Getenv(peerEnv) == "1" {
		os.Exit(peer.Run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

const repoRoot = "../.."

// language describes how to start one language's peer.
type language struct {
	name    string
	command func(args ...string) *exec.Cmd
	missing string // why it cannot run, "" if it can
}

func languages(t *testing.T) []language {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	langs := []language{{name: "go", command: func(args ...string) *exec.Cmd {
		c := exec.Command(self, args...)
		c.Env = append(os.Environ(), peerEnv+"=1")
		return c
	}}}

	cppPeer := filepath.Join(repoRoot, "cpp", "build", "framebridge-peer")
	cpp := language{name: "cpp", command: func(args ...string) *exec.Cmd { return exec.Command(cppPeer, args...) }}
	if _, err := os.Stat(cppPeer); err != nil {
		cpp.missing = "C++ peer not built: run `make build` (" + cppPeer + ")"
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "cpp", "Makefile")); err == nil || cpp.missing == "" {
		langs = append(langs, cpp)
	}

	jars, _ := filepath.Glob(filepath.Join(repoRoot, "java", "target", "framebridge-*.jar"))
	var jar string
	for _, j := range jars {
		if !strings.Contains(j, "sources") && !strings.Contains(j, "javadoc") && !strings.Contains(j, "tests") {
			jar = j
		}
	}
	java := language{name: "java", command: func(args ...string) *exec.Cmd {
		return exec.Command("java", append([]string{"-cp", jar, "io.framebridge.tools.Peer"}, args...)...)
	}}
	if jar == "" {
		java.missing = "Java peer not built: run `make build` (java/target/framebridge-*.jar)"
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "java", "pom.xml")); err == nil || java.missing == "" {
		langs = append(langs, java)
	}
	return langs
}

func usable(t *testing.T, l language) bool {
	t.Helper()
	if l.missing == "" {
		return true
	}
	if os.Getenv("FRAMEBRIDGE_XLANG") == "1" {
		t.Fatalf("%s: %s", l.name, l.missing)
	}
	t.Skipf("%s: %s", l.name, l.missing)
	return false
}

// frames returns the frame count for the long runs: 10 million under
// make test-xlang, fewer in a plain go test.
func frames(full, quick uint64) uint64 {
	if v, err := strconv.ParseUint(os.Getenv("FRAMEBRIDGE_XLANG_FRAMES"), 10, 64); err == nil && v > 0 {
		return v
	}
	if os.Getenv("FRAMEBRIDGE_XLANG") == "1" && !testing.Short() {
		return full
	}
	return quick
}

type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser // closing it ends a serve or call-torture peer
	out   *bufio.Scanner
	lines <-chan string
	last  string
	done  chan error
}

// start launches a peer and waits for its first line (ready or holding K).
func start(t *testing.T, ctx context.Context, l language, args ...string) *proc {
	t.Helper()
	cmd := l.command(args...)
	cmd.Stderr = os.Stderr
	// A peer must not outlive a test binary that is killed (go test -timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s peer: %v", l.name, err)
	}
	p := &proc{name: l.name + " " + args[0], cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout), done: make(chan error, 1)}
	t.Cleanup(func() { cmd.Process.Kill(); <-p.done })
	lines := make(chan string, 16)
	go func() {
		for p.out.Scan() {
			lines <- p.out.Text()
		}
		close(lines)
		p.done <- cmd.Wait()
	}()
	p.lines = lines
	select {
	case l, ok := <-lines:
		if !ok || l != "ready" {
			t.Fatalf("%s: first line %q, want ready", p.name, l)
		}
	case <-ctx.Done():
		t.Fatalf("%s: not ready in time", p.name)
	}
	return p
}

// expect waits for a line starting with prefix.
func (p *proc) expect(t *testing.T, ctx context.Context, prefix string) string {
	t.Helper()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s exited without printing %q (last line %q)", p.name, prefix, p.last)
			}
			p.last = l
			if strings.HasPrefix(l, "FAIL") {
				t.Fatalf("%s: %s", p.name, l)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-ctx.Done():
			t.Fatalf("%s: watchdog: no %q line in time (last line %q): a lost wake-up or a hang", p.name, prefix, p.last)
		}
	}
}

func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
}

func newSegment(t *testing.T, kind shm.RingKind, capacity int) string {
	t.Helper()
	name := fmt.Sprintf("fbx-%d-%s", os.Getpid(), strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()))
	if len(name) > shm.MaxNameLength {
		name = name[:shm.MaxNameLength]
	}
	shm.Remove(name)
	seg, err := shm.Create(name, shm.Spec{Rings: []shm.RingSpec{{Name: "r", Kind: kind, Capacity: capacity}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close(); seg.Unlink() })
	return name
}

func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// TestMatrix runs every scenario for every writer_reader pair.
func TestMatrix(t *testing.T) {
	langs := languages(t)
	for _, w := range langs {
		for _, r := range langs {
			t.Run(w.name+"_"+r.name, func(t *testing.T) {
				if !usable(t, w) || !usable(t, r) {
					return
				}
				t.Run("spsc stream of varied sizes arrives complete and in order", func(t *testing.T) {
					n := frames(10_000_000, 200_000)
					seg := newSegment(t, shm.SPSC, 1<<20)
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
					defer cancel()
					rd := start(t, ctx, r, "read", "--segment", seg, "--ring", "r", "--count", fmt.Sprint(n), "--writers", "1")
					wr := start(t, ctx, w, "write", "--segment", seg, "--ring", "r", "--count", fmt.Sprint(n), "--size", "12:300")
					wr.expect(t, ctx, "ok")
					line := rd.expect(t, ctx, "ok")
					if field(line, "frames") != fmt.Sprint(n) {
						t.Fatalf("reader: %s", line)
					}
				})
				t.Run("sleeping sides with random pauses lose no wake-up", func(t *testing.T) {
					n := frames(50_000, 20_000)
					seg := newSegment(t, shm.SPSC, 16<<10)
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
					defer cancel()
					// --release-every 1: 2000-byte frames in a 16 KiB ring; a
					// reader holding 16 unreleased frames would starve the writer.
					rd := start(t, ctx, r, "read", "--segment", seg, "--ring", "r", "--count", fmt.Sprint(n), "--writers", "1",
						"--spin-us", "0", "--pause-us", "300", "--seed", "7", "--release-every", "1")
					wr := start(t, ctx, w, "write", "--segment", seg, "--ring", "r", "--count", fmt.Sprint(n), "--size", "12:2000",
						"--spin-us", "0", "--pause-us", "300", "--seed", "9")
					wr.expect(t, ctx, "ok")
					rd.expect(t, ctx, "ok")
				})
				t.Run("writer killed mid-claim is skipped and nothing committed is lost", func(t *testing.T) {
					seg := newSegment(t, shm.MPSC, 64<<10)
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					const hold = 500
					// writer 0 (language w) dies holding frame 500; writer 1
					// (language r) writes 2000 frames; the reader gets writer
					// 0's frames 0..499 and all of writer 1's.
					rd := start(t, ctx, r, "read", "--segment", seg, "--ring", "r", "--count", fmt.Sprint(hold+2000), "--writers", "2")
					dying := start(t, ctx, w, "write", "--segment", seg, "--ring", "r", "--count", "1000", "--size", "12:200", "--writer", "0", "--hold-at", fmt.Sprint(hold))
					dying.expect(t, ctx, "holding")
					dying.kill()
					other := start(t, ctx, r, "write", "--segment", seg, "--ring", "r", "--count", "2000", "--size", "12:200", "--writer", "1")
					other.expect(t, ctx, "ok")
					line := rd.expect(t, ctx, "ok")
					if field(line, "abandoned") != "1" {
						t.Fatalf("reader: %s, want abandoned=1", line)
					}
				})
			})
		}
	}
}

// TestMatrixMixedMPSC has a writer process per language (two each) feeding
// one MPSC ring read by each language in turn.
func TestMatrixMixedMPSC(t *testing.T) {
	langs := languages(t)
	for _, r := range langs {
		t.Run("reader_"+r.name, func(t *testing.T) {
			var writers []language
			for _, l := range langs {
				if l.missing == "" {
					writers = append(writers, l, l)
				}
			}
			if !usable(t, r) {
				return
			}
			per := frames(10_000_000, 400_000) / uint64(len(writers))
			seg := newSegment(t, shm.MPSC, 1<<20)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			rd := start(t, ctx, r, "read", "--segment", seg, "--ring", "r", "--count", fmt.Sprint(per*uint64(len(writers))), "--writers", fmt.Sprint(len(writers)))
			var ws []*proc
			for i, l := range writers {
				ws = append(ws, start(t, ctx, l, "write", "--segment", seg, "--ring", "r", "--count", fmt.Sprint(per), "--size", "12:256", "--writer", fmt.Sprint(i)))
			}
			for _, w := range ws {
				w.expect(t, ctx, "ok")
			}
			rd.expect(t, ctx, "ok")
		})
	}
}
