package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/framebridge/framebridge/internal/sys"
	"github.com/framebridge/framebridge/shm"
)

// Config describes one bench run.
type Config struct {
	Quick bool     // fewer iterations: the whole run within a minute
	Langs []string // languages to pair (go, cpp, java)
	Exe   string   // the framebridge binary: the Go peer and the bench peers
	Root  string   // repository root: where the C++ and Java peers are found
	// Idle is how long the idle reader sleeps; 0 means 10 s (2 s with
	// Quick); < 0 skips the idle measurement.
	Idle time.Duration
	// Scale multiplies every iteration and frame count (1 when 0).
	Scale float64
	// Reps is how many times each row is measured (its figures are the
	// medians); 0 means 3, or 1 with Quick.
	Reps int
	// Sizes overrides the payload sizes of the framebridge, socket and
	// floor-stream rows (default: Sizes).
	Sizes []int
	// Only, when non-empty, keeps the rows whose Key contains any of these
	// substrings (and skips the idle measurement unless one names "idle").
	Only []string
	// GRPCBench is the gRPC baseline program (bench/grpc); empty means
	// GRPCBenchPath under Root.
	GRPCBench string
	Log       io.Writer // progress and notes
	// Emit is called with each row, in order, once every row is measured
	// (a group may be measured again at the end: placement.go).
	Emit func(Row)
}

// IdleResult is the CPU an idle reader used while blocked in Next.
type IdleResult struct {
	Lang    string
	Over    time.Duration // how long it was idle
	CPU     time.Duration
	Precise bool // ns-resolution clock (else /proc clock ticks, 10 ms)
}

// Result is everything one run measured.
type Result struct {
	Rows      []Row
	Idle      []IdleResult
	Notes     []string // languages skipped, pinning, ...
	Failures  []string // measurements that failed
	Langs     []string // languages actually paired
	CPUs      [2]int   // cores the two sides ran on (-1: not pinned)
	Start     time.Time
	End       time.Time
	LoadStart string // /proc/loadavg before and after
	LoadEnd   string
	// CrossCore summarizes the probes of the CPUs' placement (placement.go);
	// Remeasured counts the measurements taken again after a probe said the
	// host had moved the CPUs.
	// RemeasuredGroups counts the groups (language pairs) measured again
	// because the host had moved the CPUs for the whole of their first pass.
	CrossCore        CrossCore
	Remeasured       int
	RemeasuredGroups int
}

// Sizes are the payload sizes of every framebridge and socket row.
var Sizes = []int{64, 1 << 10, 64 << 10}

// FloorSize is the size reported for floor round-trip rows: one counter.
const FloorSize = 8

// run holds the state of one Run.
type run struct {
	cfg       Config
	res       *Result
	launchers map[string]Launcher
	seq       atomic.Int64
	// skips maps the reason a row was skipped to the rows it skipped (in
	// skipOrder), so that one note names every row a missing command cost.
	skips     map[string][]string
	skipOrder []string
	// probeFn measures the CPUs' placement (crossCoreRTT; tests replace
	// it); probes are its results, noProbe set once it failed.
	probeFn func(a, b, iters int) (int64, error)
	probes  []int64
	noProbe bool
}

// Run measures every row the configuration asks for. It returns an error
// only when nothing could be measured at all; individual failures are in
// Result.Failures (and logged).
func Run(cfg Config) (*Result, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Scale == 0 {
		cfg.Scale = 1
	}
	if cfg.Idle == 0 {
		cfg.Idle = 10 * time.Second
		if cfg.Quick {
			cfg.Idle = 2 * time.Second
		}
	}
	if len(cfg.Langs) == 0 {
		cfg.Langs = []string{"go"}
	}
	if len(cfg.Sizes) == 0 {
		cfg.Sizes = Sizes
	}
	if cfg.Reps <= 0 {
		cfg.Reps = 3
		if cfg.Quick {
			cfg.Reps = 1
		}
	}
	r := &run{cfg: cfg, res: &Result{Start: time.Now(), LoadStart: loadAvg()}, launchers: map[string]Launcher{}, probeFn: crossCoreRTT}
	found, notes := FindLaunchers(cfg.Langs, cfg.Exe, cfg.Root)
	for _, n := range notes {
		r.note(n)
	}
	for _, l := range found {
		r.launchers[l.Lang] = l
		r.res.Langs = append(r.res.Langs, l.Lang)
	}
	if _, ok := r.launchers["go"]; !ok {
		// The socket and floor peers are the Go binary itself.
		r.launchers["go"] = Launcher{Lang: "go", argv: []string{cfg.Exe, "peer"}}
	}
	cpus := AllowedCPUs()
	if len(cpus) >= 2 {
		r.res.CPUs = [2]int{cpus[0], cpus[1]}
	} else {
		r.res.CPUs = [2]int{-1, -1}
		r.note(fmt.Sprintf("only %d CPU allowed: peers run unpinned on the same core", len(cpus)))
	}

	if p := r.probe(); p > 0 {
		fmt.Fprintf(cfg.Log, "bench: a cache line's round trip between CPU %d and CPU %d: %s\n", r.cpu(0), r.cpu(1), fmtNs(p))
	}
	var groups []group
	for _, plan := range r.plan() {
		var jobs []job
		for _, j := range plan {
			if r.wanted(j.key) {
				jobs = append(jobs, j)
			}
		}
		if len(jobs) > 0 {
			groups = append(groups, r.runGroup(jobs, false))
		}
	}
	r.placeGroups(groups)
	for _, g := range groups {
		for _, n := range g.notes { // of the pass kept
			r.note(n)
		}
		for _, row := range g.rows {
			r.res.Rows = append(r.res.Rows, row)
			if cfg.Emit != nil {
				cfg.Emit(row)
			}
		}
	}
	for _, why := range r.skipOrder {
		r.note(fmt.Sprintf("%s; rows not measured: %s", why, strings.Join(r.skips[why], ", ")))
	}
	if cfg.Idle > 0 && r.wanted("idle") {
		for _, lang := range r.res.Langs {
			res, err := r.idle(lang)
			if err != nil {
				r.fail("idle reader "+lang, err)
				continue
			}
			r.res.Idle = append(r.res.Idle, res)
			fmt.Fprintf(cfg.Log, "bench: idle reader (%s) blocked in Next for %v used %s of CPU (target < %s)%s\n",
				lang, res.Over, fmtDuration(res.CPU), fmtDuration(IdleLimit(lang)*res.Over/(10*time.Second)), preciseNote(res.Precise))
		}
	}
	r.summarizeProbes()
	if cc := r.res.CrossCore; cc.N > 0 {
		fmt.Fprintf(cfg.Log, "bench: a cache line's round trip between the CPUs: median %s (%s to %s over %d probes); measured again in the run's placement: %d measurement(s), %d language pair(s)\n",
			fmtNs(cc.Median), fmtNs(cc.Min), fmtNs(cc.Max), cc.N, r.res.Remeasured, r.res.RemeasuredGroups)
	}
	r.res.End = time.Now()
	r.res.LoadEnd = loadAvg()
	if len(r.res.Rows) == 0 && len(r.res.Failures) > 0 {
		return r.res, errors.New("every measurement failed")
	}
	return r.res, nil
}

// group is one group's rows, measured together.
type group struct {
	jobs   []job // those that gave a row, in the order of rows
	rows   []Row
	ref    int64    // the median probe of its measurements (0: not probed)
	probes []int64  // the probes of the measurements kept
	ok     bool     // false: a job failed or was skipped
	notes  []string // rows left in another placement than ref (remeasure)
	// all and reps are every job of the group and its measurements (none
	// when it failed), kept for a last attempt at rows left off ref.
	all  []job
	reps [][]measured
}

// runGroup measures one group's rows round-robin Reps times, so that rows
// compared with each other (framebridge vs floor vs sockets) share the
// machine's moods, measures again those taken in another placement of the
// CPUs than the group's median (placement.go), and returns each row's
// median over its repetitions. again marks a second pass of a group
// (placeGroups): failures are logged, not recorded, and make it not ok.
func (r *run) runGroup(jobs []job, again bool) group {
	cfg := r.cfg
	reps := make([][]measured, len(jobs))
	failed := make([]bool, len(jobs))
	g := group{ok: true}
	for rep := 0; rep < cfg.Reps; rep++ {
		for i, j := range jobs {
			if failed[i] {
				continue
			}
			fmt.Fprintf(cfg.Log, "bench: %s", j.key)
			if cfg.Reps > 1 {
				fmt.Fprintf(cfg.Log, " [%d/%d]", rep+1, cfg.Reps)
			}
			t0 := time.Now()
			m, err := r.measure(j)
			if err != nil {
				failed[i], reps[i], g.ok = true, nil, false
			}
			switch {
			case err != nil && again:
				fmt.Fprintf(cfg.Log, " FAILED (%v)\n", err)
			case errors.Is(err, errSkipped): // not measurable here: a note, and no more repetitions
				fmt.Fprintf(cfg.Log, " %v\n", err)
				r.skip(j.key, err)
			case err != nil:
				fmt.Fprintf(cfg.Log, " FAILED (%.1fs)\n", time.Since(t0).Seconds())
				r.fail(j.key, err)
			default:
				fmt.Fprintf(cfg.Log, " %s (%.1fs)\n", m.row.brief(), time.Since(t0).Seconds())
				reps[i] = append(reps[i], m)
			}
		}
	}
	g.all, g.reps, g.ref = jobs, reps, medianProbe(reps)
	g.notes = r.remeasure(jobs, reps, g.ref)
	g.collect()
	return g
}

// collect sets the rows (each the median of its measurements) and probes
// from the measurements.
func (g *group) collect() {
	g.jobs, g.rows, g.probes = nil, nil, nil
	for i, ms := range g.reps {
		if len(ms) == 0 {
			continue
		}
		rs := make([]Row, len(ms))
		for k, m := range ms {
			rs[k] = m.row
			if m.before > 0 && m.after > 0 {
				g.probes = append(g.probes, m.before, m.after)
			}
		}
		g.jobs = append(g.jobs, g.all[i])
		g.rows = append(g.rows, medianRow(rs))
	}
}

func preciseNote(precise bool) string {
	if precise {
		return ""
	}
	return " [only 10 ms resolution available]"
}

func (r *run) note(s string) {
	r.res.Notes = append(r.res.Notes, s)
	fmt.Fprintln(r.cfg.Log, "bench: note:", s)
}

func (r *run) skip(key string, err error) {
	why := err.Error()
	if r.skips == nil {
		r.skips = map[string][]string{}
	}
	if _, seen := r.skips[why]; !seen {
		r.skipOrder = append(r.skipOrder, why)
	}
	r.skips[why] = append(r.skips[why], key)
}

func (r *run) fail(what string, err error) {
	msg := fmt.Sprintf("%s: %v", what, err)
	r.res.Failures = append(r.res.Failures, msg)
	fmt.Fprintln(r.cfg.Log, "bench: FAILED", msg)
}

func (r *run) wanted(key string) bool {
	if len(r.cfg.Only) == 0 {
		return true
	}
	for _, o := range r.cfg.Only {
		if strings.Contains(key, o) {
			return true
		}
	}
	return false
}

func (row Row) brief() string {
	if row.Metric == MetricThroughput {
		return fmt.Sprintf("%s msgs/s %s/s", fmtRate(row.MsgsPerS), fmtBytes(row.BytesPerS))
	}
	return fmt.Sprintf("p50 %s p99 %s", fmtNs(row.P50), fmtNs(row.P99))
}

// job is one row to measure.
type job struct {
	key string
	run func() (Row, error)
}

// plan lists the rows in the order they are reported, in groups measured
// together: one per language pair, the first with the baselines.
func (r *run) plan() [][]job {
	var groups [][]job
	var jobs []job
	add := func(row Row, f func(Row) (Row, error)) {
		jobs = append(jobs, job{key: row.Key(), run: func() (Row, error) { return f(row) }})
	}
	pairs := [][2]string{}
	for _, w := range r.res.Langs {
		for _, rd := range r.res.Langs {
			pairs = append(pairs, [2]string{w, rd})
		}
	}
	for i, p := range pairs {
		for _, wait := range []string{WaitAdaptive, WaitBlock} {
			for _, size := range r.cfg.Sizes {
				add(Row{Transport: TransportFramebridge, Writer: p[0], Reader: p[1], Size: size, Wait: wait, Metric: MetricRTT}, r.framebridgeRTT)
			}
		}
		for _, size := range r.cfg.Sizes {
			add(Row{Transport: TransportFramebridge, Writer: p[0], Reader: p[1], Size: size, Wait: WaitAdaptive, Metric: MetricThroughput}, r.framebridgeStream)
		}
		// Typed round trips beside the raw ones (typed.go): the key's size is
		// the payload's class; the row reports the request's encoded size.
		for _, tp := range typedPayloads {
			add(Row{Transport: TransportTyped, Writer: p[0], Reader: p[1], Size: tp.class, Wait: WaitAdaptive, Metric: MetricRTT}, r.typedRTT(tp.name))
		}
		// Calls over a channel (call.go): client = writer, server = reader.
		r.callJobs(p[0], p[1], add)
		if i == 0 { // the baselines right after the first pair (go>go when Go is selected)
			r.grpcJobs(add)
			for _, tr := range []string{TransportUDS, TransportTCP} {
				for _, size := range r.cfg.Sizes {
					add(Row{Transport: tr, Writer: "go", Reader: "go", Size: size, Wait: WaitBlock, Metric: MetricRTT}, r.socketRTT)
				}
			}
			add(Row{Transport: TransportFloor, Writer: "go", Reader: "go", Size: FloorSize, Wait: WaitSpin, Metric: MetricRTT}, r.floorRTT)
			add(Row{Transport: TransportFloor, Writer: "go", Reader: "go", Size: FloorSize, Wait: WaitBlock, Metric: MetricRTT}, r.floorRTT)
			for _, size := range r.cfg.Sizes {
				add(Row{Transport: TransportFloor, Writer: "go", Reader: "go", Size: size, Wait: WaitSpin, Metric: MetricThroughput}, r.floorStream)
			}
		}
		groups = append(groups, jobs)
		jobs = nil
	}
	return groups
}

// medianRow combines repetitions of one row: the median of each figure.
func medianRow(reps []Row) Row {
	row := reps[0]
	med := func(get func(Row) float64) float64 {
		v := make([]float64, len(reps))
		for i, r := range reps {
			v[i] = get(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	row.P50 = int64(med(func(r Row) float64 { return float64(r.P50) }))
	row.P99 = int64(med(func(r Row) float64 { return float64(r.P99) }))
	row.MsgsPerS = med(func(r Row) float64 { return r.MsgsPerS })
	row.BytesPerS = med(func(r Row) float64 { return r.BytesPerS })
	return row
}

// rttIters returns the timed and warm-up round trips of a row.
func (r *run) rttIters(row Row) (iters, warmup int) {
	switch {
	case row.Transport == TransportFloor && row.Wait == WaitSpin:
		iters = 500_000
	case row.Wait == WaitAdaptive:
		iters = map[int]int{64: 200_000, 1 << 10: 100_000, 64 << 10: 20_000}[row.Size]
	default: // block: every round trip is two futex (or socket) wake-ups
		iters = map[int]int{64: 20_000, 1 << 10: 10_000, 64 << 10: 5_000}[row.Size]
		if row.Transport == TransportFloor {
			iters = 20_000
		}
	}
	if iters == 0 {
		iters = 10_000
	}
	iters = r.scale(iters)
	if row.Wait == WaitBlock {
		warmup = max(iters/20, 200)
	} else {
		warmup = max(iters/10, 1000)
	}
	if row.Writer == "java" || row.Reader == "java" {
		// The JIT compiles the hot paths after some 10k iterations, in background threads
		// that compete with the two spinning peers for the cores: --quick must not cut the
		// warm-up below what that takes, or it times code still being compiled. On 2 cores
		// a Java server's 64 B call p50 read 371-411 ns after 100k warm-up calls and
		// 291-301 ns after 300k or more.
		switch {
		case row.Wait == WaitBlock:
			warmup = max(warmup, 2_000)
		case row.Size <= 1<<10:
			warmup = max(warmup, 500_000)
		default:
			warmup = max(warmup, 100_000)
		}
	}
	return iters, warmup
}

// streamFrames returns how many frames a throughput row streams.
func (r *run) streamFrames(size int) uint64 {
	n := map[int]int{64: 20_000_000, 1 << 10: 4_000_000, 64 << 10: 200_000}[size]
	if n == 0 {
		n = int(4e9 / float64(size+64))
	}
	return uint64(r.scale(n))
}

func (r *run) scale(n int) int {
	f := r.cfg.Scale
	if r.cfg.Quick {
		f /= 10
	}
	return max(int(float64(n)*f), 10)
}

// ringCapacity is the ring size for a payload size: 1 MiB (like the
// lab's copy ring), 4 MiB for frames above 16 KiB so that a ring holds 64
// of them.
func ringCapacity(size int) int {
	if size > 16<<10 {
		return 4 << 20
	}
	return 1 << 20
}

// cpu returns the core of side 0 (the writer/pinger/client) or side 1
// (the reader/echo/server).
func (r *run) cpu(side int) int { return r.res.CPUs[side] }

// newSegment creates a named segment with the given rings for one row.
func (r *run) newSegment(capacity int, rings ...string) (*shm.Segment, error) {
	name := fmt.Sprintf("fb-bench-%d-%d", os.Getpid(), r.seq.Add(1))
	spec := shm.Spec{}
	for _, n := range rings {
		spec.Rings = append(spec.Rings, shm.RingSpec{Name: n, Kind: shm.SPSC, Capacity: capacity})
	}
	return shm.Create(name, spec)
}

func dropSegment(s *shm.Segment) {
	s.Unlink()
	s.Close()
}

func spinArgs(wait string) []string {
	if wait == WaitBlock {
		return []string{"--spin-us", "0"}
	}
	return nil
}

// timeout allows for the slowest plausible peer: startup (a JVM) plus a
// generous per-iteration budget.
func (r *run) timeout(n int, per time.Duration) time.Duration {
	base := 30 * time.Second
	if r.cfg.Quick {
		base = 10 * time.Second
	}
	return base + time.Duration(n)*per
}

// pair runs one two-process measurement: the server side (started first,
// on core 1, until its `ready` line) and the client side (core 0), and
// returns the client's `ok` line. Both must exit cleanly.
func (r *run) pair(serverName string, server []string, clientName string, client func(ready string) []string, limit time.Duration) (string, error) {
	srv, err := startProc(serverName, server, r.cfg.Root, r.cpu(1))
	if err != nil {
		return "", err
	}
	defer srv.kill()
	ready, err := srv.expect("ready", 60*time.Second)
	if err != nil {
		return "", err
	}
	cl, err := startProc(clientName, client(ready), r.cfg.Root, r.cpu(0))
	if err != nil {
		return "", err
	}
	defer cl.kill()
	line, err := cl.expect("ok", limit)
	if err != nil {
		return "", err
	}
	if err := cl.wait(10 * time.Second); err != nil {
		return "", err
	}
	if _, err := srv.expect("ok", 10*time.Second); err != nil {
		return "", err
	}
	if err := srv.wait(10 * time.Second); err != nil {
		return "", err
	}
	return line, nil
}

func rttFromLine(row Row, line string) (Row, error) {
	kv := parseKV(line)
	p50, ok1 := kv["p50_ns"]
	p99, ok2 := kv["p99_ns"]
	if !ok1 || !ok2 || p50 <= 0 || p99 < p50 {
		return row, fmt.Errorf("malformed result line %q", line)
	}
	row.P50, row.P99 = p50, p99
	return row, nil
}

func streamFromLine(row Row, line string) (Row, error) {
	kv := parseKV(line)
	frames, bytes, ns := kv["frames"], kv["bytes"], kv["ns"]
	if frames <= 0 || ns <= 0 {
		return row, fmt.Errorf("malformed result line %q", line)
	}
	if bytes == 0 { // a peer that does not count bytes: every frame has the row's size
		bytes = frames * int64(row.Size)
	}
	row.MsgsPerS = float64(frames) / (float64(ns) / 1e9)
	row.BytesPerS = float64(bytes) / (float64(ns) / 1e9)
	return row, nil
}

func (r *run) framebridgeRTT(row Row) (Row, error) {
	seg, err := r.newSegment(ringCapacity(row.Size), "ping", "pong")
	if err != nil {
		return row, err
	}
	defer dropSegment(seg)
	iters, warmup := r.rttIters(row)
	per := 200 * time.Microsecond
	if row.Wait == WaitBlock || row.Size > 16<<10 {
		per = 2 * time.Millisecond
	}
	echo := r.launchers[row.Reader].Command(append([]string{"echo", "--segment", seg.Name(), "--in", "ping", "--out", "pong"}, spinArgs(row.Wait)...)...)
	ping := r.launchers[row.Writer].Command(append([]string{"ping", "--segment", seg.Name(), "--out", "ping", "--in", "pong",
		"--size", strconv.Itoa(row.Size), "--iters", strconv.Itoa(iters), "--warmup", strconv.Itoa(warmup)}, spinArgs(row.Wait)...)...)
	line, err := r.pair(row.Reader+" echo", echo, row.Writer+" ping", func(string) []string { return ping }, r.timeout(iters+warmup, per))
	if err != nil {
		return row, err
	}
	return rttFromLine(row, line)
}

func (r *run) framebridgeStream(row Row) (Row, error) {
	seg, err := r.newSegment(ringCapacity(row.Size), "stream")
	if err != nil {
		return row, err
	}
	defer dropSegment(seg)
	frames := r.streamFrames(row.Size)
	if (row.Writer == "java" || row.Reader == "java") && r.cfg.Quick {
		// A stream is timed from its first frame: keep it long enough that
		// the JIT's warm-up is a small part of it (about a second).
		frames *= 10
	}
	read := r.launchers[row.Reader].Command("stream-read", "--segment", seg.Name(), "--ring", "stream")
	write := r.launchers[row.Writer].Command("stream-write", "--segment", seg.Name(), "--ring", "stream",
		"--size", strconv.Itoa(row.Size), "--count", strconv.FormatUint(frames, 10))
	rd, err := startProc(row.Reader+" stream-read", read, r.cfg.Root, r.cpu(1))
	if err != nil {
		return row, err
	}
	defer rd.kill()
	if _, err := rd.expect("ready", 60*time.Second); err != nil {
		return row, err
	}
	wr, err := startProc(row.Writer+" stream-write", write, r.cfg.Root, r.cpu(0))
	if err != nil {
		return row, err
	}
	defer wr.kill()
	limit := r.timeout(int(frames), 20*time.Microsecond+time.Duration(row.Size)*time.Nanosecond)
	line, err := rd.expect("ok", limit)
	if err != nil {
		return row, err
	}
	if _, err := wr.expect("ok", 10*time.Second); err != nil {
		return row, err
	}
	if err := wr.wait(10 * time.Second); err != nil {
		return row, err
	}
	if err := rd.wait(10 * time.Second); err != nil {
		return row, err
	}
	return streamFromLine(row, line)
}

func (r *run) socketRTT(row Row) (Row, error) {
	iters, warmup := r.rttIters(row)
	network, addr := "tcp", "127.0.0.1:0"
	if row.Transport == TransportUDS {
		dir, err := os.MkdirTemp("", "framebridge-bench-")
		if err != nil {
			return row, err
		}
		defer os.RemoveAll(dir)
		network, addr = "unix", filepath.Join(dir, "echo.sock")
	}
	self := []string{r.cfg.Exe, "bench", "peer"}
	size := strconv.Itoa(row.Size)
	server := append(self[:3:3], "sock-server", "--net", network, "--addr", addr, "--size", size)
	line, err := r.pair(network+" echo server", server, network+" client", func(ready string) []string {
		a := strings.TrimSpace(strings.TrimPrefix(ready, "ready"))
		return append(self[:3:3], "sock-client", "--net", network, "--addr", a, "--size", size,
			"--iters", strconv.Itoa(iters), "--warmup", strconv.Itoa(warmup))
	}, r.timeout(iters+warmup, 2*time.Millisecond))
	if err != nil {
		return row, err
	}
	return rttFromLine(row, line)
}

func (r *run) floorRTT(row Row) (Row, error) {
	iters, warmup := r.rttIters(row)
	mode := "spin"
	if row.Wait == WaitBlock {
		mode = "futex"
	}
	path, err := createFloorFile(fmt.Sprint(r.seq.Add(1)), 0)
	if err != nil {
		return row, err
	}
	defer os.Remove(path)
	self := []string{r.cfg.Exe, "bench", "peer"}
	server := append(self[:3:3], "floor-server", "--path", path, "--mode", mode)
	client := append(self[:3:3], "floor-client", "--path", path, "--mode", mode,
		"--iters", strconv.Itoa(iters), "--warmup", strconv.Itoa(warmup))
	line, err := r.pair("floor "+mode+" server", server, "floor "+mode+" client", func(string) []string { return client },
		r.timeout(iters+warmup, 2*time.Millisecond))
	if err != nil {
		return row, err
	}
	return rttFromLine(row, line)
}

func (r *run) floorStream(row Row) (Row, error) {
	frames := r.streamFrames(row.Size)
	path, err := createFloorFile(fmt.Sprint(r.seq.Add(1)), 1<<20)
	if err != nil {
		return row, err
	}
	defer os.Remove(path)
	self := []string{r.cfg.Exe, "bench", "peer"}
	args := []string{"--path", path, "--size", strconv.Itoa(row.Size), "--count", strconv.FormatUint(frames, 10)}
	read := append(append(self[:3:3], "floor-stream-read"), args...)
	write := append(append(self[:3:3], "floor-stream-write"), args...)
	// Here the reader reports: the writer is the "client" that just runs.
	rd, err := startProc("floor stream-read", read, r.cfg.Root, r.cpu(1))
	if err != nil {
		return row, err
	}
	defer rd.kill()
	if _, err := rd.expect("ready", 60*time.Second); err != nil {
		return row, err
	}
	wr, err := startProc("floor stream-write", write, r.cfg.Root, r.cpu(0))
	if err != nil {
		return row, err
	}
	defer wr.kill()
	line, err := rd.expect("ok", r.timeout(int(frames), 20*time.Microsecond+time.Duration(row.Size)*time.Nanosecond))
	if err != nil {
		return row, err
	}
	if err := wr.wait(10 * time.Second); err != nil {
		return row, err
	}
	if err := rd.wait(10 * time.Second); err != nil {
		return row, err
	}
	return streamFromLine(row, line)
}

// idle starts lang's reader on an empty ring, lets it block in Next and
// measures the CPU time it uses meanwhile.
func (r *run) idle(lang string) (IdleResult, error) {
	res := IdleResult{Lang: lang, Over: r.cfg.Idle}
	seg, err := r.newSegment(1<<20, "idle")
	if err != nil {
		return res, err
	}
	defer dropSegment(seg)
	argv := r.launchers[lang].Command("read", "--segment", seg.Name(), "--ring", "idle", "--count", "1", "--writers", "1")
	p, err := startProc(lang+" idle reader", argv, r.cfg.Root, r.cpu(1))
	if err != nil {
		return res, err
	}
	defer p.kill()
	if _, err := p.expect("ready", 60*time.Second); err != nil {
		return res, err
	}
	// Let start-up work (JIT, GC of start-up garbage) settle before timing.
	time.Sleep(200 * time.Millisecond)
	pid := p.cmd.Process.Pid
	c0, precise, err := sys.ProcessCPUTime(pid)
	if err != nil {
		return res, err
	}
	time.Sleep(r.cfg.Idle)
	c1, _, err := sys.ProcessCPUTime(pid)
	if err != nil {
		return res, err
	}
	select {
	case <-p.waited:
		return res, fmt.Errorf("idle reader exited early (%v)%s", p.err, p.stderr.suffix())
	default:
	}
	res.CPU, res.Precise = c1-c0, precise
	return res, nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
