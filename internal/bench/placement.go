package bench

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/framebridge/framebridge/internal/sys"
)

// Where the host keeps the two CPUs, and why every measurement is bracketed
// by a probe of it.
//
// In a VM the two CPUs the peers are pinned to are host threads that the
// host places and moves at will. On the 2-vCPU KVM guest (AMD EPYC) the
// reports come from, a cache line's round trip between them read about 75,
// 120 or 500 ns (the vCPUs on SMT siblings, on one L3, on two), a state
// that held for seconds to minutes (60 s of spinning stayed in one) and
// changed at idle/busy transitions such as the end of a build. The 64 B
// go>go round trip followed it: 120, 170 or 580 ns. That was the "first row
// reads 580 ns" of `make bench-json`: a run starting in the far placement
// after its build, compared with the row measured alone in the near one.
// Start-up, page faults, idle or busy CPUs did not move the row by
// themselves (the first of many runs matched the rest; 5 s idle and CPU hogs
// changed nothing; after builds the spin floor moved with it), and no
// warm-up moves the host. So the driver probes the placement before and after
// every measurement and measures again one taken in another placement than
// its group's median (runGroup), then a group measured in another placement
// than the run's (placeGroups), so that the rows, hence the target ratios,
// come from one placement, and the report states which.

// probeIters is the number of timed round trips of one probe (about 1 ms
// near, 3 ms far); probeWarmup are untimed ones before them.
const (
	probeIters  = 5000
	probeWarmup = 500
)

// probeTolerance is how far (relative) a probe may sit from its group's
// median before its measurement counts as taken in another placement: the
// placements differ by 1.5x or more, a probe's noise is about 10%.
const probeTolerance = 0.25

// maxRemeasure bounds the extra attempts at a measurement taken in another
// placement.
const maxRemeasure = 2

const probeStop = math.MaxUint64

// crossCoreRTT returns the median round trip of one cache line between two
// threads of this process pinned to CPUs a and b: the same hardware path as
// the floor's spin row, without starting processes.
func crossCoreRTT(a, b, iters int) (int64, error) {
	if n := runtime.GOMAXPROCS(0); n < 2 {
		// Both sides spin: on one P they would take turns only at preemptions.
		return 0, fmt.Errorf("GOMAXPROCS is %d, the probe's two spinning threads need 2", n)
	}
	// The two words 256 bytes apart: lines of their own, and of their own
	// adjacent-line pair.
	buf := make([]uint64, 64)
	req, resp := &buf[0], &buf[32]
	pinned := make(chan error, 2)
	go func() {
		runtime.LockOSThread() // never unlocked: the pinned thread ends with this goroutine
		if err := sys.SetAffinity(b); err != nil {
			pinned <- fmt.Errorf("pin probe to cpu %d: %w", b, err)
			return
		}
		pinned <- nil
		for last := uint64(0); ; {
			v := atomic.LoadUint64(req)
			if v == last {
				continue
			}
			if v == probeStop {
				return
			}
			last = v
			atomic.StoreUint64(resp, v)
		}
	}()
	if err := <-pinned; err != nil {
		return 0, err
	}
	type result struct {
		p50 int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer atomic.StoreUint64(req, probeStop) // ends the echo side whatever happens here
		if err := sys.SetAffinity(a); err != nil {
			done <- result{err: fmt.Errorf("pin probe to cpu %d: %w", a, err)}
			return
		}
		samples := make([]int64, iters)
		for i := -probeWarmup; i < iters; i++ {
			seq := uint64(i + probeWarmup + 1)
			start := time.Now()
			atomic.StoreUint64(req, seq)
			for atomic.LoadUint64(resp) != seq {
			}
			if i >= 0 {
				samples[i] = int64(time.Since(start))
			}
		}
		p50, _ := Summarize(samples)
		done <- result{p50: p50}
	}()
	res := <-done
	return res.p50, res.err
}

// measured is one measurement of a row with the probes taken just before
// and just after it (0: not probed).
type measured struct {
	row           Row
	before, after int64
}

// off reports whether either probe is more than probeTolerance from ref.
func (m measured) off(ref int64) bool { return m.distance(ref) > probeTolerance }

// distance is the larger relative distance of the two probes from ref; 0
// when not probed.
func (m measured) distance(ref int64) float64 {
	if ref <= 0 || m.before <= 0 || m.after <= 0 {
		return 0
	}
	d := func(p int64) float64 { return math.Abs(float64(p-ref)) / float64(ref) }
	return max(d(m.before), d(m.after))
}

// medianProbe is the median of every probe of a group's measurements (0 if
// none was probed).
func medianProbe(reps [][]measured) int64 {
	var all []int64
	for _, ms := range reps {
		for _, m := range ms {
			if m.before > 0 && m.after > 0 {
				all = append(all, m.before, m.after)
			}
		}
	}
	if len(all) == 0 {
		return 0
	}
	slices.Sort(all)
	return all[(len(all)-1)/2]
}

// probe measures the placement of the two CPUs, or returns 0 when the
// sides are not pinned or probing failed (then it stops probing, with a note).
func (r *run) probe() int64 {
	if r.noProbe || r.cpu(0) < 0 || r.cpu(0) == r.cpu(1) {
		return 0
	}
	p50, err := r.probeFn(r.cpu(0), r.cpu(1), probeIters)
	if err != nil || p50 <= 0 {
		r.noProbe = true
		r.note(fmt.Sprintf("cross-core probe unavailable (%v): rows are not checked for a change of placement", err))
		return 0
	}
	r.probes = append(r.probes, p50)
	return p50
}

// measure runs one job between two probes.
func (r *run) measure(j job) (measured, error) {
	before := r.probe()
	row, err := j.run()
	if err != nil {
		return measured{}, err
	}
	return measured{row: row, before: before, after: r.probe()}, nil
}

// remeasure measures again, up to maxRemeasure times, every measurement of
// a group whose probes are off ref (the group's median), keeping the first
// attempt in ref's placement, else the closest one; an attempt is made only
// while a probe finds the CPUs in ref's placement (placements last seconds:
// measuring in another one again is wasted). It returns one note per row
// left off ref.
func (r *run) remeasure(jobs []job, reps [][]measured, ref int64) (notes []string) {
	for i, ms := range reps {
		for k, m := range ms {
			if !m.off(ref) {
				continue
			}
			best := m
			for attempt := 1; attempt <= maxRemeasure && best.off(ref); attempt++ {
				fmt.Fprintf(r.cfg.Log, "bench: %s again: probed %s/%s between the CPUs, the group %s",
					jobs[i].key, fmtNs(best.before), fmtNs(best.after), fmtNs(ref))
				if now := r.probe(); offPlacement(now, ref) {
					fmt.Fprintf(r.cfg.Log, ": not now, the CPUs are still %s apart\n", fmtNs(now))
					break
				}
				t0 := time.Now()
				again, err := r.measure(jobs[i])
				if err != nil {
					fmt.Fprintf(r.cfg.Log, " FAILED (%v); keeping the first figures\n", err)
					break
				}
				fmt.Fprintf(r.cfg.Log, ": %s, probed %s/%s (%.1fs)\n", again.row.brief(),
					fmtNs(again.before), fmtNs(again.after), time.Since(t0).Seconds())
				if attempt == 1 {
					r.res.Remeasured++
				}
				if again.distance(ref) < best.distance(ref) {
					best = again
				}
			}
			reps[i][k] = best
			if best.off(ref) {
				notes = append(notes, fmt.Sprintf("%s: measured while a cache line's round trip between the CPUs took %s/%s, against %s for the rest of its group (the host moved the CPUs); not comparable with its group",
					jobs[i].key, fmtNs(best.before), fmtNs(best.after), fmtNs(ref)))
			}
		}
	}
	return notes
}

// summarizeProbes fills Result.CrossCore from every probe taken.
func (r *run) summarizeProbes() {
	if len(r.probes) == 0 {
		return
	}
	s := slices.Clone(r.probes)
	slices.Sort(s)
	r.res.CrossCore = CrossCore{N: len(s), Min: s[0], Median: s[(len(s)-1)/2], Max: s[len(s)-1]}
}

// CrossCore summarizes the probes of one run: the round trip of one cache
// line between the two CPUs (see the top of placement.go).
type CrossCore struct {
	N                int // probes taken; 0: none
	Min, Median, Max int64
}

// offPlacement reports whether probe p is more than probeTolerance from ref.
func offPlacement(p, ref int64) bool {
	return p > 0 && ref > 0 && math.Abs(float64(p-ref)) > probeTolerance*float64(ref)
}

// placeGroups measures again, once, each group measured in another
// placement than the run's (the median probe of every group's
// measurements), if the CPUs are back in the run's placement (a group left
// in another placement gets a note), then makes a last attempt at the rows
// left off their group's placement.
func (r *run) placeGroups(groups []group) {
	var all []int64
	for _, g := range groups {
		all = append(all, g.probes...)
	}
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	ref := all[(len(all)-1)/2]
	var left []string
	for i, g := range groups {
		if !offPlacement(g.ref, ref) {
			continue
		}
		pair := g.jobs[0].key // "transport writer>reader ...": name the pair
		if f := strings.Fields(pair); len(f) > 1 {
			pair = f[1]
		}
		if now := r.probe(); offPlacement(now, ref) {
			left = append(left, fmt.Sprintf("%s for %s", fmtNs(g.ref), pair))
			continue
		}
		fmt.Fprintf(r.cfg.Log, "bench: the %s rows again: a cache line's round trip between the CPUs took %s while they ran, %s for the run\n",
			pair, fmtNs(g.ref), fmtNs(ref))
		again := r.runGroup(g.jobs, true)
		r.res.RemeasuredGroups++
		if !again.ok || len(again.rows) != len(g.rows) {
			left = append(left, fmt.Sprintf("%s for %s", fmtNs(g.ref), pair))
			continue
		}
		if math.Abs(float64(again.ref-ref)) < math.Abs(float64(g.ref-ref)) {
			groups[i] = again
		}
		if offPlacement(groups[i].ref, ref) {
			left = append(left, fmt.Sprintf("%s for %s", fmtNs(groups[i].ref), pair))
		}
	}
	// Rows left off their group's placement (a spell that outlasted the
	// group's own attempts) get a last one, if the CPUs are back.
	for i := range groups {
		if g := &groups[i]; len(g.notes) > 0 {
			g.notes = r.remeasure(g.all, g.reps, g.ref)
			g.collect()
		}
	}
	if len(left) > 0 {
		r.note(fmt.Sprintf("the host kept the CPUs in another placement for some language pairs (a cache line's round trip between them: %s for the run, %s): compare those rows with the others with care",
			fmtNs(ref), strings.Join(left, ", ")))
	}
}
