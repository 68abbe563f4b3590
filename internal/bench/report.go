package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints the rows as an aligned human-readable table.
func WriteTable(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "transport\twriter\treader\tsize\twait\tmetric\tp50\tp99\tmsgs/s\tbytes/s\t")
	for _, r := range rows {
		p50, p99, mps, bps := "-", "-", "-", "-"
		if r.Metric == MetricRTT {
			p50, p99 = fmtNs(r.P50), fmtNs(r.P99)
		} else {
			mps, bps = fmtRate(r.MsgsPerS), fmtBytes(r.BytesPerS)+"/s"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Transport, r.Writer, r.Reader, SizeLabel(r.Size), r.Wait, r.Metric, p50, p99, mps, bps)
	}
	tw.Flush()
}

// Ratio is one of the targets, computed from rows of the same run.
type Ratio struct {
	What   string
	Value  float64 // NaN when a row is missing
	Target string  // e.g. "<= 1.5x"
	Met    bool
	Detail string
}

// find returns the row with this key, if measured.
func find(rows []Row, key string) (Row, bool) {
	for _, r := range rows {
		if r.Key() == key {
			return r, true
		}
	}
	return Row{}, false
}

// Ratios computes the issues' targets: the go>go rows', then the calls' (callRatios).
func Ratios(rows []Row) []Ratio {
	var out []Ratio
	rtt := func(tr, wait string, size int) (Row, bool) {
		return find(rows, Row{Transport: tr, Writer: "go", Reader: "go", Size: size, Wait: wait, Metric: MetricRTT}.Key())
	}
	ratio := func(what string, a Row, okA bool, b Row, okB bool, limit float64, target string) {
		out = append(out, p50Ratio(what, a, okA, b, okB, limit, target))
	}
	fb, okFb := rtt(TransportFramebridge, WaitAdaptive, 64)
	fbBlock, okFbBlock := rtt(TransportFramebridge, WaitBlock, 64)
	spin, okSpin := rtt(TransportFloor, WaitSpin, FloorSize)
	futex, okFutex := rtt(TransportFloor, WaitBlock, FloorSize)
	uds, okUDS := rtt(TransportUDS, WaitBlock, 64)
	ratio("64 B round trip, adaptive wait, p50 / busy-spin floor p50", fb, okFb, spin, okSpin, 1.5, "<= 1.5x")
	ratio("64 B round trip, adaptive wait, p50 / Unix-socket p50", fb, okFb, uds, okUDS, 0.02, "<= 0.02x")
	ratio("64 B round trip, reader always sleeping, p50 / futex floor p50", fbBlock, okFbBlock, futex, okFutex, 1.1, "<= 1.1x")
	for _, size := range []int{64, 64 << 10} {
		key := func(tr, wait string) string {
			return Row{Transport: tr, Writer: "go", Reader: "go", Size: size, Wait: wait, Metric: MetricThroughput}.Key()
		}
		a, okA := find(rows, key(TransportFramebridge, WaitAdaptive))
		b, okB := find(rows, key(TransportFloor, WaitSpin))
		r := Ratio{What: fmt.Sprintf("%s one-way throughput / copy-ring floor", SizeLabel(size)), Target: ">= 1.0x", Value: -1, Detail: "not measured"}
		if okA && okB && b.MsgsPerS > 0 {
			r.Value = a.MsgsPerS / b.MsgsPerS // same frame size: the bytes/s ratio is the same
			r.Met = r.Value >= 1.0
			r.Detail = fmt.Sprintf("%s vs %s frames/s, %s/s vs %s/s", fmtRate(a.MsgsPerS), fmtRate(b.MsgsPerS), fmtBytes(a.BytesPerS), fmtBytes(b.BytesPerS))
		}
		out = append(out, r)
	}
	return append(out, callRatios(rows)...)
}

// callRatios computes the call targets (issue 6) per client/server pair: a
// 64 B call's p50 against the raw frame round trip of the same pair and
// against gRPC over a Unix socket. The pairs the issue names (Go client,
// C++ and Java servers) are always listed; other pairs when measured.
func callRatios(rows []Row) []Ratio {
	pairs := [][2]string{{"go", "cpp"}, {"go", "java"}}
	for _, r := range rows {
		p := [2]string{r.Writer, r.Reader}
		if r.Transport == TransportCall && r.Size == 64 && r.Wait == WaitAdaptive && !slices.Contains(pairs, p) {
			pairs = append(pairs, p)
		}
	}
	grpc, okGRPC := find(rows, Row{Transport: TransportGRPC, Writer: "go", Reader: "go", Size: 64, Wait: WaitBlock, Metric: MetricRTT}.Key())
	var out []Ratio
	for _, p := range pairs {
		call, okCall := find(rows, Row{Transport: TransportCall, Writer: p[0], Reader: p[1], Size: 64, Wait: WaitAdaptive, Metric: MetricRTT}.Key())
		raw, okRaw := find(rows, Row{Transport: TransportFramebridge, Writer: p[0], Reader: p[1], Size: 64, Wait: WaitAdaptive, Metric: MetricRTT}.Key())
		what := fmt.Sprintf("64 B call, %s client -> %s server, p50 / ", p[0], p[1])
		out = append(out,
			p50Ratio(what+"raw frame round trip p50 (same pair)", call, okCall, raw, okRaw, 2, "<= 2x"),
			p50Ratio(what+"gRPC unary over a Unix socket p50", call, okCall, grpc, okGRPC, 0.01, "<= 0.01x"))
	}
	return out
}

// p50Ratio is a's p50 over b's, met when at most limit.
func p50Ratio(what string, a Row, okA bool, b Row, okB bool, limit float64, target string) Ratio {
	r := Ratio{What: what, Target: target, Value: -1, Detail: "not measured"}
	if okA && okB && b.P50 > 0 {
		r.Value = float64(a.P50) / float64(b.P50)
		r.Met = r.Value <= limit
		r.Detail = fmt.Sprintf("%s / %s", fmtNs(a.P50), fmtNs(b.P50))
	}
	return r
}

// MarkdownInfo is what the Markdown report says about how it was made.
type MarkdownInfo struct {
	Command string // the command that reproduces the run
	Note    string // free text, e.g. "produced while the machine was shared"
}

// WriteMarkdown renders a run as docs/benchmarks.md.
func WriteMarkdown(w io.Writer, res *Result, info MarkdownInfo) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("# framebridge benchmarks\n\n")
	p("<!-- Generated by `framebridge bench --markdown`; do not edit by hand: rerun `make bench`. -->\n\n")
	p("Every figure below comes from one run of `framebridge bench`, with both sides of each measurement in\n")
	p("their own process")
	if res.CPUs[0] >= 0 {
		p(", pinned to two different cores (writer/pinger/client on CPU %d, reader/echo/server on CPU %d)", res.CPUs[0], res.CPUs[1])
	} else {
		p(" (not pinned: only one CPU was available)")
	}
	p(".\n\n")
	p("| | |\n| --- | --- |\n")
	p("| date | %s |\n", res.Start.UTC().Format("2006-01-02 15:04 MST"))
	p("| machine | %d CPUs, %s |\n", runtime.NumCPU(), cpuModel())
	p("| kernel | %s |\n", kernel())
	if d := readTrim("/sys/devices/system/cpu/cpuidle/current_driver"); d != "" {
		p("| cpuidle driver | %s |\n", d)
	}
	p("| Go | %s |\n", runtime.Version())
	p("| languages paired | %s |\n", strings.Join(res.Langs, ", "))
	p("| load average (1/5/15 min) | %s at start, %s at end |\n", res.LoadStart, res.LoadEnd)
	if cc := res.CrossCore; cc.N > 0 {
		// The host's placement of the two CPUs sets every spin figure (placement.go).
		p("| a cache line's round trip between the two CPUs | %s (median of %d probes around the measurements; %s to %s); measured again after the host moved the CPUs: %d measurement(s), %d language pair(s) |\n",
			fmtNs(cc.Median), cc.N, fmtNs(cc.Min), fmtNs(cc.Max), res.Remeasured, res.RemeasuredGroups)
	}
	p("| duration | %s |\n", res.End.Sub(res.Start).Round(time.Second))
	p("| reproduce | `%s` |\n\n", info.Command)
	if info.Note != "" {
		p("> **Note:** %s\n\n", info.Note)
	}
	for _, n := range res.Notes {
		p("- %s\n", n)
	}
	if len(res.Notes) > 0 {
		p("\n")
	}

	p("## Targets, from this run\n\n")
	p("| target | ratio | goal | met | figures |\n| --- | ---: | --- | --- | --- |\n")
	for _, r := range Ratios(res.Rows) {
		v, met := "-", "-"
		if r.Value >= 0 {
			v = fmt.Sprintf("%.3gx", r.Value)
			met = map[bool]string{true: "yes", false: "**no**"}[r.Met]
		}
		p("| %s | %s | %s | %s | %s |\n", r.What, v, r.Target, met, r.Detail)
	}
	for _, id := range res.Idle {
		limit := IdleLimit(id.Lang) * id.Over / (10 * time.Second)
		p("| idle %s reader blocked in `Next` for %v: CPU used | %s | < %s | %s | %s |\n",
			id.Lang, id.Over, fmtDuration(id.CPU), fmtDuration(limit),
			map[bool]string{true: "yes", false: "**no**"}[id.CPU < limit],
			map[bool]string{true: "process CPU clock (ns)", false: "/proc stat (10 ms ticks)"}[id.Precise])
	}
	p("\n")

	p("## All rows\n\n")
	p("`rtt`: round trip of one frame (ping writes, echo writes it back) or one call (request, then its\n")
	p("response); each round trip timed on its own. For calls, writer = client and reader = server.\n")
	p("`throughput`: one-way stream, from the reader's first frame to its last.\n")
	p("`wait`: `adaptive` = spin %s, then sleep on the futex (the default); `block` = always sleep\n", fmtDuration(50*time.Microsecond))
	p("(`--spin-us 0` on both sides; sockets block in the kernel); `spin` = busy-spin only.\n\n")
	p("| transport | writer | reader | size | wait | metric | p50 | p99 | frames/s | bytes/s |\n")
	p("| --- | --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: |\n")
	for _, r := range res.Rows {
		p50, p99, mps, bps := "", "", "", ""
		if r.Metric == MetricRTT {
			p50, p99 = fmtNs(r.P50), fmtNs(r.P99)
		} else {
			mps, bps = fmtRate(r.MsgsPerS), fmtBytes(r.BytesPerS)+"/s"
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Transport, r.Writer, r.Reader, SizeLabel(r.Size), r.Wait, r.Metric, p50, p99, mps, bps)
	}
	if len(res.Failures) > 0 {
		p("\nFailed measurements:\n\n")
		for _, f := range res.Failures {
			p("- %s\n", f)
		}
	}
	p("\n## What the rows measure\n\n")
	p("- **framebridge**: two SPSC rings (ping, pong) in a named segment under `/dev/shm` that the bench creates\n")
	p("  (1 MiB rings, 4 MiB for 64 KiB frames); the pinger is the writer language's `ping` peer, the echo\n")
	p("  side the reader language's `echo` peer (docs/peers.md). Throughput rows use `stream-write` /\n")
	p("  `stream-read`: the writer fills only the first 16 bytes of each claimed frame and the reader reads\n")
	p("  only those (zero copy), so their bytes/s counts payload carried, not bytes copied. A real producer\n")
	p("  writes each byte of its frame once, in place; the copy ring below copies it twice. Compare frames/s\n")
	p("  for 64 B; for 64 KiB the gap is mostly the copies framebridge does not make.\n")
	p("- **framebridge-call**: request/response calls over a channel (docs/channels.md): the writer language's\n")
	p("  `call-ping` peer dials the reader language's `serve` peer (the test echo service, handlers inline) on a\n")
	p("  Unix socket; per call the client builds a FlatBuffers `Request` envelope with a `Raw` payload of the\n")
	p("  row's size in place in the request ring, the server verifies it and builds the echo in place in the\n")
	p("  response ring, the client verifies it. Sequential calls, each timed from before the request is\n")
	p("  built to the verified response in the caller's hands, as the raw ping stops its clock once the\n")
	p("  echo frame is read: the payload is made before the clock starts and every echo is checked after\n")
	p("  it stops where the API allows (docs/peers.md, `call-ping`). Writer = client, reader = server.\n")
	p("- **grpc**: the same echo as a gRPC unary call (google.golang.org/grpc, the `bench/grpc` module), Go\n")
	p("  client and server over a Unix socket, sequential calls timed the same way. The service is registered\n")
	p("  by hand (a `grpc.ServiceDesc` and a codec that passes bytes through: no protoc, no protobuf\n")
	p("  marshalling), the least a gRPC call can cost, so the call/gRPC ratio favours gRPC. gRPC blocks in\n")
	p("  the kernel (Go's netpoller), hence `block`.\n")
	p("- **uds**, **tcp**: a Go client and a Go echo server in two processes over a Unix stream socket or TCP\n")
	p("  loopback, `write` then `read` of the full message per round trip.\n")
	p("- **floor**, `rtt`, `spin`: two counters on separate 128-byte lines of a shared mapping under `/dev/shm`;\n")
	p("  the client stores, the server busy-spins and copies the value back (size 8: one counter).\n")
	p("- **floor**, `rtt`, `block`: the same with both sides always in `FUTEX_WAIT`/`FUTEX_WAKE` on shared words\n")
	p("  (the futex round trip the \"always sleeping\" target compares with).\n")
	p("- **floor**, `throughput`: a copy-in/copy-out SPSC byte ring (1 MiB, busy-spin both sides, the writer\n")
	p("  copies every message in and the reader copies it out), the classic ring framebridge is compared with.\n")
	p("- **idle reader**: a `read` peer blocked in `Next` on an empty ring; CPU time from its process CPU clock.\n")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func kernel() string {
	if s := readTrim("/proc/sys/kernel/osrelease"); s != "" {
		return "Linux " + s
	}
	return runtime.GOOS
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func fmtNs(ns int64) string {
	switch {
	case ns >= 10_000_000:
		return fmt.Sprintf("%.1f ms", float64(ns)/1e6)
	case ns >= 10_000:
		return fmt.Sprintf("%.1f µs", float64(ns)/1e3)
	case ns >= 1_000:
		return fmt.Sprintf("%.2f µs", float64(ns)/1e3)
	}
	return fmt.Sprintf("%d ns", ns)
}

func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d >= time.Microsecond:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	}
	return fmt.Sprintf("%d ns", d.Nanoseconds())
}

func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtBytes(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2f GB", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.1f MB", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f kB", v/1e3)
	}
	return fmt.Sprintf("%.0f B", v)
}

// IdleLimit is the CPU a reader blocked for 10 s may use: 10 ms for Go and
// C++ (issue 2), 20 ms for Java, whose JVM runs threads of its own (issue 4).
func IdleLimit(lang string) time.Duration {
	if lang == "java" {
		return 20 * time.Millisecond
	}
	return 10 * time.Millisecond
}
