package bench

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/framebridge/framebridge/internal/sys"
)

// Languages the bench knows how to start a peer for, in display order.
var Languages = []string{"go", "cpp", "java"}

// Peer program locations, relative to the repository root (docs/peers.md).
const (
	cppPeerPath  = "cpp/build/framebridge-peer"
	javaJarGlob  = "java/target/framebridge-*.jar"
	javaJNIDir   = "java/target/jni"
	javaPeerMain = "io.framebridge.tools.Peer"
)

// Launcher turns peer arguments (docs/peers.md, e.g. "echo --segment ...")
// into the command line of one language's peer program.
type Launcher struct {
	Lang string
	argv []string // program and fixed arguments; the peer arguments follow
}

// Command returns the full command line for one peer invocation.
func (l Launcher) Command(args ...string) []string {
	return append(slices.Clip(l.argv), args...)
}

// FindLaunchers returns the launchers of the requested languages whose peer
// program exists, and one note per language skipped. exe is the framebridge
// binary (the Go peer), root the repository root (for the C++ and Java peers).
func FindLaunchers(langs []string, exe, root string) (found []Launcher, notes []string) {
	for _, lang := range langs {
		switch lang {
		case "go":
			found = append(found, Launcher{Lang: "go", argv: []string{exe, "peer"}})
		case "cpp":
			p := filepath.Join(root, cppPeerPath)
			if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
				notes = append(notes, fmt.Sprintf("cpp: skipped, no peer program at %s (build it with `make -C cpp peer`)", cppPeerPath))
				continue
			}
			found = append(found, Launcher{Lang: "cpp", argv: []string{p}})
		case "java":
			java, err := exec.LookPath("java")
			if err != nil {
				notes = append(notes, "java: skipped, no `java` on PATH")
				continue
			}
			jar := findJavaPeerJar(root)
			if jar == "" {
				notes = append(notes, fmt.Sprintf("java: skipped, no jar matching %s contains %s (build it with `cd java && mvn -DskipTests package`)", javaJarGlob, javaPeerMain))
				continue
			}
			argv := []string{java}
			if st, err := os.Stat(filepath.Join(root, javaJNIDir)); err == nil && st.IsDir() {
				argv = append(argv, "-Djava.library.path="+filepath.Join(root, javaJNIDir))
			}
			argv = append(argv, "-cp", jar, javaPeerMain)
			found = append(found, Launcher{Lang: "java", argv: argv})
		default:
			notes = append(notes, fmt.Sprintf("%s: skipped, unknown language (known: %s)", lang, strings.Join(Languages, ",")))
		}
	}
	return found, notes
}

// findJavaPeerJar prefers the self-contained *-peer.jar, then any framebridge
// jar, that holds the peer's main class.
func findJavaPeerJar(root string) string {
	jars, _ := filepath.Glob(filepath.Join(root, javaJarGlob))
	slices.SortFunc(jars, func(a, b string) int {
		pa, pb := strings.HasSuffix(a, "-peer.jar"), strings.HasSuffix(b, "-peer.jar")
		switch {
		case pa && !pb:
			return -1
		case pb && !pa:
			return 1
		}
		return strings.Compare(a, b)
	})
	class := strings.ReplaceAll(javaPeerMain, ".", "/") + ".class"
	for _, j := range jars {
		if strings.HasSuffix(j, "-sources.jar") || strings.HasSuffix(j, "-javadoc.jar") {
			continue
		}
		zr, err := zip.OpenReader(j)
		if err != nil {
			continue
		}
		ok := slices.ContainsFunc(zr.File, func(f *zip.File) bool { return f.Name == class })
		zr.Close()
		if ok {
			return j
		}
	}
	return ""
}

// FindRoot returns the repository root: the nearest directory at or above
// the working directory, then above the executable, holding framebridge's
// go.mod; else the working directory.
func FindRoot(exe string) string {
	wd, _ := os.Getwd()
	for _, start := range []string{wd, filepath.Dir(exe)} {
		for d := start; d != "" && d != "/" && d != "."; d = filepath.Dir(d) {
			b, err := os.ReadFile(filepath.Join(d, "go.mod"))
			if err == nil && bytes.Contains(b, []byte("module github.com/framebridge/framebridge\n")) {
				return d
			}
		}
	}
	return wd
}

// AllowedCPUs returns the CPUs this process may run on, in ascending order,
// as they were at the first call. (A thread that pinned a child keeps its
// narrowed affinity; if that was the main thread, the runtime parks it
// rather than ending it, and /proc/self/status would then report its mask,
// hence the calling thread's view, read once.)
var AllowedCPUs = sync.OnceValue(allowedCPUs)

func allowedCPUs() []int {
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		b, err = os.ReadFile("/proc/self/status")
	}
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				if cpus, err := ParseCPUList(strings.TrimSpace(v)); err == nil && len(cpus) > 0 {
					return cpus
				}
			}
		}
	}
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return cpus
}

// ParseCPUList parses a kernel CPU list such as "0-3,6,8-9".
func ParseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("cpu list %q: %w", s, err)
			}
		}
		if b < a || a < 0 {
			return nil, fmt.Errorf("cpu list %q: bad range %q", s, part)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// proc is a running peer program: its stdout lines arrive on lines, its
// stderr is kept for error messages.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser // nil unless started by startServer; closing it ends a channel server
	lines  chan string
	stderr *tailBuffer
	waited chan struct{}
	err    error // from Wait, valid after waited is closed
}

// startProc starts argv with its working directory at root, pinned to cpu
// (< 0: not pinned). The child inherits the CPU affinity of the OS thread
// that forks it, so the fork happens on a locked thread whose affinity is
// set first; that thread is discarded afterwards (the goroutine exits
// still locked), so no other goroutine ever runs on it.
func startProc(name string, argv []string, root string, cpu int) (*proc, error) {
	return start(name, argv, root, cpu, false)
}

// startServer is startProc with a pipe to the process's standard input:
// channel servers (docs/peers.md `serve`) run until it is closed.
func startServer(name string, argv []string, root string, cpu int) (*proc, error) {
	return start(name, argv, root, cpu, true)
}

func start(name string, argv []string, root string, cpu int, withStdin bool) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	p := &proc{name: name, cmd: cmd, lines: make(chan string, 16), stderr: &tailBuffer{max: 8 << 10}, waited: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if withStdin {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	started := make(chan error, 1)
	go func() {
		if cpu >= 0 {
			runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
			if err := sys.SetAffinity(cpu); err != nil {
				started <- fmt.Errorf("pin to cpu %d: %w", cpu, err)
				return
			}
		}
		started <- cmd.Start()
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, argv[0], err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = cmd.Wait()
		close(p.waited)
	}()
	return p, nil
}

// expect waits for a stdout line starting with prefix and returns it. A
// line starting with "FAIL", the end of the output or the timeout is an error.
func (p *proc) expect(prefix string, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				<-p.waited
				return "", fmt.Errorf("%s exited (%v) before printing %q%s", p.name, p.err, prefix, p.stderr.suffix())
			}
			if strings.HasPrefix(line, prefix) {
				return line, nil
			}
			if strings.HasPrefix(line, "FAIL") {
				return "", fmt.Errorf("%s: %s%s", p.name, line, p.stderr.suffix())
			}
		case <-t.C:
			return "", fmt.Errorf("%s printed no %q line within %v%s", p.name, prefix, timeout, p.stderr.suffix())
		}
	}
}

// wait waits up to timeout for the process to exit; then kills it.
func (p *proc) wait(timeout time.Duration) error {
	go func() { // drain output nobody reads any more
		for range p.lines {
		}
	}()
	select {
	case <-p.waited:
		if p.err != nil {
			return fmt.Errorf("%s: %w%s", p.name, p.err, p.stderr.suffix())
		}
		return nil
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s did not exit within %v; killed", p.name, timeout)
	}
}

// kill ends the process if it still runs and reaps it.
func (p *proc) kill() {
	select {
	case <-p.waited:
		return
	default:
	}
	p.cmd.Process.Kill()
	go func() {
		for range p.lines {
		}
	}()
	<-p.waited
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// suffix formats the captured stderr for an error message.
func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	return "; stderr: " + s
}

// firstLine is the first non-empty line of the captured stderr, for a short note.
func (t *tailBuffer) firstLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range strings.Split(string(t.b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return "no message"
}

// errSkipped marks a row that cannot be measured here (a peer lacks the
// command, a program is not built): a note, not a failure.
var errSkipped = errors.New("skipped")
