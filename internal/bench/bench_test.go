package bench

import (
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framebridge/framebridge/internal/peer"
)

// The test binary doubles as the peer programs: with FRAMEBRIDGE_BENCH_PEER
// set it behaves as `framebridge peer` / `framebridge bench peer`.
func TestMain(m *testing.M) {
	if os.Getenv("FRAMEBRIDGE_BENCH_PEER") == "1" {
		os.Exit(runAsPeer(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func TestPercentileTakesTheNearestRank(t *testing.T) {
	s := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		q    float64
		want int64
	}{{50, 5}, {99, 10}, {100, 10}, {10, 1}, {1, 1}, {90, 9}} {
		if got := Percentile(s, c.q); got != c.want {
			t.Errorf("Percentile(1..10, %v) = %d, want %d", c.q, got, c.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("Percentile(nil) = %d, want 0", got)
	}
	p50, p99 := Summarize([]int64{300, 100, 200})
	if p50 != 200 || p99 != 300 {
		t.Errorf("Summarize = %d, %d; want 200, 300", p50, p99)
	}
}

func TestRowJSONHasExactlyTheContractKeysInOrder(t *testing.T) {
	r := Row{Transport: TransportFramebridge, Writer: "go", Reader: "cpp", Size: 65536, Wait: WaitAdaptive,
		Metric: MetricThroughput, MsgsPerS: 1234567.4, BytesPerS: 8.09e10}
	line := r.JSON()
	want := `{"transport":"framebridge","writer":"go","reader":"cpp","size":65536,"wait":"adaptive","metric":"throughput","p50_ns":0,"p99_ns":0,"msgs_per_s":1234567,"bytes_per_s":80900000000}`
	if line != want {
		t.Fatalf("JSON:\n got %s\nwant %s", line, want)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range m {
		if _, isNum := v.(float64); !isNum && k != "transport" && k != "writer" && k != "reader" && k != "wait" && k != "metric" {
			t.Errorf("%s is %T, want a JSON number", k, v)
		}
	}
}

func TestParseHelpers(t *testing.T) {
	kv := parseKV("ok p50_ns=250 p99_ns=900 iters=10 junk")
	if !reflect.DeepEqual(kv, map[string]int64{"p50_ns": 250, "p99_ns": 900, "iters": 10}) {
		t.Errorf("parseKV = %v", kv)
	}
	cpus, err := ParseCPUList("0-2,5,7-8")
	if err != nil || !reflect.DeepEqual(cpus, []int{0, 1, 2, 5, 7, 8}) {
		t.Errorf("ParseCPUList = %v, %v", cpus, err)
	}
	if _, err := ParseCPUList("3-1"); err == nil {
		t.Error("ParseCPUList(3-1) succeeded")
	}
	for n, want := range map[int]string{64: "64B", 1024: "1KiB", 65536: "64KiB", 8: "8B", 1 << 20: "1MiB", 1500: "1500B"} {
		if got := SizeLabel(n); got != want {
			t.Errorf("SizeLabel(%d) = %q, want %q", n, got, want)
		}
	}
	row, err := streamFromLine(Row{Size: 64}, "ok frames=1000 bytes=64000 ns=1000000")
	if err != nil || row.MsgsPerS != 1e6 || row.BytesPerS != 64e6 {
		t.Errorf("streamFromLine = %+v, %v", row, err)
	}
	if _, err := rttFromLine(Row{}, "ok p50_ns=0"); err == nil {
		t.Error("rttFromLine accepted a line without p99")
	}
}

// TestEndToEnd runs a few real rows between processes (go>go round trip,
// Unix socket, both floors) with tiny iteration counts and checks that
// each is well formed and that the peers were pinned.
func TestEndToEnd(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FRAMEBRIDGE_BENCH_PEER", "1")
	var emitted []Row
	var log strings.Builder
	res, err := Run(Config{
		Quick: true,
		Langs: []string{"go", "cobol"},
		Exe:   exe,
		Root:  t.TempDir(),
		Idle:  300 * time.Millisecond,
		Scale: 0.01,
		Only: []string{"framebridge go>go 64B adaptive rtt", "framebridge go>go 64B block rtt",
			"framebridge go>go 1KiB adaptive throughput", "uds go>go 64B", "tcp go>go 64B",
			"floor go>go 8B", "floor go>go 64B", "idle"},
		Log:  &log,
		Emit: func(r Row) { emitted = append(emitted, r) },
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(res.Failures) > 0 {
		t.Fatalf("failures: %v\n%s", res.Failures, log.String())
	}
	if len(res.Rows) != 8 || !reflect.DeepEqual(emitted, res.Rows) {
		t.Fatalf("got %d rows, emitted %d, want 8:\n%s", len(res.Rows), len(emitted), log.String())
	}
	if !strings.Contains(log.String(), "cobol: skipped") {
		t.Errorf("no note about the unknown language in:\n%s", log.String())
	}
	for _, r := range res.Rows {
		switch r.Metric {
		case MetricRTT:
			if r.P50 <= 0 || r.P99 < r.P50 || r.MsgsPerS != 0 || r.BytesPerS != 0 {
				t.Errorf("bad rtt row %+v", r)
			}
		case MetricThroughput:
			if r.MsgsPerS <= 0 || r.BytesPerS < r.MsgsPerS*float64(r.Size)*0.99 || r.P50 != 0 {
				t.Errorf("bad throughput row %+v", r)
			}
		default:
			t.Errorf("bad metric in %+v", r)
		}
	}
	if len(res.Idle) != 1 || res.Idle[0].Lang != "go" {
		t.Errorf("idle results %+v", res.Idle)
	}
	var md strings.Builder
	WriteMarkdown(&md, res, MarkdownInfo{Command: "bin/framebridge bench --quick"})
	wants := []string{"## Targets", "| framebridge | go | go | 64B | adaptive | rtt |", "busy-spin floor"}
	if len(AllowedCPUs()) >= 2 { // pinned: every measurement was probed
		if res.CrossCore.N < 2*len(res.Rows) {
			t.Errorf("%d probes for %d rows", res.CrossCore.N, len(res.Rows))
		}
		wants = append(wants, "| a cache line's round trip between the two CPUs |")
	}
	for _, want := range wants {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
}

func TestChildrenArePinned(t *testing.T) {
	cpus := AllowedCPUs()
	if len(cpus) < 2 {
		t.Skip("needs two CPUs")
	}
	p, err := startProc("sleep", []string{"sleep", "5"}, t.TempDir(), cpus[1])
	if err != nil {
		t.Fatal(err)
	}
	defer p.kill()
	b, err := os.ReadFile("/proc/" + itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "Cpus_allowed_list:\t"+itoa(cpus[1])+"\n") {
		t.Errorf("child not pinned to CPU %d:\n%s", cpus[1], b)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func runAsPeer(args []string) int {
	switch {
	case len(args) > 0 && args[0] == "peer":
		return peer.Run(args[1:], os.Stdout, os.Stderr)
	case len(args) > 1 && args[0] == "bench" && args[1] == "peer":
		return RunPeer(args[2:], os.Stdout, os.Stderr)
	}
	return 2
}
