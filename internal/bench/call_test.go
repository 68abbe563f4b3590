package bench

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAPeerExitingWithAUsageErrorBeforeReadyIsSkippedNotFailed(t *testing.T) {
	for _, c := range []struct {
		name    string
		script  string
		skipped bool
	}{
		{"usage error", "echo 'unknown command serve' >&2; exit 2", true},
		{"failure", "echo 'FAIL: boom'; exit 1", false},
		{"crash", "exit 3", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := startProc("sh serve", []string{"sh", "-c", c.script}, t.TempDir(), -1)
			if err != nil {
				t.Fatal(err)
			}
			defer p.kill()
			_, err = expectReady(p)
			if err == nil {
				t.Fatal("expectReady succeeded without a ready line")
			}
			if errors.Is(err, errSkipped) != c.skipped {
				t.Errorf("error %q: skipped = %v, want %v", err, !c.skipped, c.skipped)
			}
			if c.skipped && !strings.Contains(err.Error(), "unknown command serve") {
				t.Errorf("skip note %q does not say why", err)
			}
		})
	}
}

func TestServerReadsStdinUntilClosed(t *testing.T) {
	p, err := startServer("cat", []string{"sh", "-c", "echo ready; cat >/dev/null; echo ok calls=3"}, t.TempDir(), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.kill()
	if _, err := expectReady(p); err != nil {
		t.Fatal(err)
	}
	p.stdin.Close()
	line, err := p.expect("ok", 10*time.Second)
	if err != nil || line != "ok calls=3" {
		t.Fatalf("after closing stdin: %q, %v", line, err)
	}
}

// runCallRows runs the given rows with the test binary as the Go peer.
func runCallRows(t *testing.T, grpcBench string, only ...string) (*Result, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FRAMEBRIDGE_BENCH_PEER", "1")
	var log strings.Builder
	res, err := Run(Config{Quick: true, Langs: []string{"go"}, Exe: exe, Root: t.TempDir(), Idle: -1, Scale: 0.01,
		Only: only, GRPCBench: grpcBench, Log: &log})
	if err != nil && len(res.Failures) == 0 {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(res.Failures) > 0 {
		t.Fatalf("failures: %v\n%s", res.Failures, log.String())
	}
	return res, log.String()
}

// noteWith returns the run's note containing s, or "".
func noteWith(res *Result, s string) string {
	for _, n := range res.Notes {
		if strings.Contains(n, s) {
			return n
		}
	}
	return ""
}

// The Go peer's channel commands (docs/peers.md) may not exist yet: then
// the row must be a note naming the command, else a sane round trip.
func TestGoCallRowIsMeasuredOrSkippedWithANote(t *testing.T) {
	res, log := runCallRows(t, "", "framebridge-call go>go 64B adaptive rtt")
	switch len(res.Rows) {
	case 0:
		if n := noteWith(res, "does not take this command"); !strings.HasSuffix(n, "rows not measured: framebridge-call go>go 64B adaptive rtt") {
			t.Errorf("no row and no skip note:\n%s", log)
		}
		t.Logf("the Go peer has no channel commands yet:\n%s", log)
	case 1:
		r := res.Rows[0]
		if r.Transport != TransportCall || r.Writer != "go" || r.Reader != "go" || r.Size != 64 || r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("bad call row %+v", r)
		}
	default:
		t.Errorf("rows %+v, want at most one", res.Rows)
	}
}

func TestGRPCRowWithoutTheProgramIsSkippedWithANote(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "framebridge-grpc-bench")
	res, log := runCallRows(t, missing, "grpc go>go 64B")
	n := noteWith(res, "no gRPC baseline program at "+missing)
	if len(res.Rows) != 0 || !strings.Contains(n, "make build") || !strings.HasSuffix(n, "rows not measured: grpc go>go 64B block rtt") {
		t.Errorf("rows %+v; log:\n%s", res.Rows, log)
	}
}

// TestGRPCRow needs the program `make build` builds (bench/grpc is a module
// of its own, so this package cannot build it as part of its test).
func TestGRPCRow(t *testing.T) {
	exe, _ := os.Executable()
	prog := filepath.Join(FindRoot(exe), GRPCBenchPath)
	if _, err := os.Stat(prog); err != nil {
		t.Skipf("no %s: run `make build` first", GRPCBenchPath)
	}
	res, log := runCallRows(t, prog, "grpc go>go 64B")
	if len(res.Rows) != 1 {
		t.Fatalf("rows %+v, want one; log:\n%s", res.Rows, log)
	}
	if r := res.Rows[0]; r.Transport != TransportGRPC || r.Wait != WaitBlock || r.Size != 64 || r.P50 <= 0 || r.P99 < r.P50 {
		t.Errorf("bad grpc row %+v", r)
	}
}

func TestCallRatiosComparePairsWithTheirRawRoundTripAndGRPC(t *testing.T) {
	rtt := func(tr, w, rd, wait string, p50 int64) Row {
		return Row{Transport: tr, Writer: w, Reader: rd, Size: 64, Wait: wait, Metric: MetricRTT, P50: p50, P99: p50}
	}
	rows := []Row{
		rtt(TransportFramebridge, "go", "cpp", WaitAdaptive, 200),
		rtt(TransportCall, "go", "cpp", WaitAdaptive, 300),
		rtt(TransportCall, "cpp", "go", WaitAdaptive, 900),
		rtt(TransportFramebridge, "cpp", "go", WaitAdaptive, 300),
		rtt(TransportCall, "go", "cpp", WaitBlock, 40_000), // not a target row
		rtt(TransportGRPC, "go", "go", WaitBlock, 50_000),
	}
	got := map[string]Ratio{}
	var order []string
	for _, r := range callRatios(rows) {
		got[r.What] = r
		order = append(order, r.What)
	}
	if len(order) != 6 {
		t.Fatalf("ratios %q, want 6 (go>cpp, go>java, cpp>go)", order)
	}
	const raw, grpc = "raw frame round trip p50 (same pair)", "gRPC unary over a Unix socket p50"
	for _, c := range []struct {
		pair, base string
		value      float64
		met        bool
	}{
		{"go client -> cpp server", raw, 1.5, true},
		{"go client -> cpp server", grpc, 0.006, true},
		{"go client -> java server", raw, -1, false},
		{"go client -> java server", grpc, -1, false},
		{"cpp client -> go server", raw, 3, false},
		{"cpp client -> go server", grpc, 0.018, false},
	} {
		what := "64 B call, " + c.pair + ", p50 / " + c.base
		r, ok := got[what]
		if !ok {
			t.Errorf("no ratio %q in %q", what, order)
			continue
		}
		if diff := r.Value - c.value; diff > 1e-9 || diff < -1e-9 || r.Met != c.met {
			t.Errorf("%s = %v (met %v), want %v (met %v)", what, r.Value, r.Met, c.value, c.met)
		}
	}
	if !strings.HasPrefix(order[0], "64 B call, go client -> cpp server") {
		t.Errorf("the issue's pairs come first: %q", order)
	}
}
