package bench

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

func TestCrossCoreRTTTimesARoundTripBetweenTwoCPUs(t *testing.T) {
	cpus := AllowedCPUs()
	if len(cpus) < 2 {
		t.Skip("needs two CPUs")
	}
	p50, err := crossCoreRTT(cpus[0], cpus[1], 1000)
	if err != nil || p50 <= 0 {
		t.Fatalf("crossCoreRTT = %d, %v", p50, err)
	}
	if _, err := crossCoreRTT(cpus[0], 1<<20, 10); err == nil {
		t.Error("pinning to a CPU that does not exist succeeded")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	if _, err := crossCoreRTT(cpus[0], cpus[1], 10); err == nil || !strings.Contains(err.Error(), "GOMAXPROCS") {
		t.Errorf("with GOMAXPROCS 1: %v, want an error naming GOMAXPROCS", err)
	}
}

// probeScript is a fake crossCoreRTT answering with the given figures in turn.
type probeScript struct {
	t    *testing.T
	next []int64
}

func (s *probeScript) probe(a, b, iters int) (int64, error) {
	if len(s.next) == 0 {
		s.t.Fatal("more probes than scripted")
	}
	p := s.next[0]
	s.next = s.next[1:]
	if p < 0 {
		return 0, errors.New("scripted failure")
	}
	return p, nil
}

// countingJobs returns jobs whose nth measurement (over all of them) reports
// a p50 of n, so a test can tell which attempt a row kept.
func countingJobs(keys ...string) []job {
	n := int64(0)
	var jobs []job
	for _, k := range keys {
		jobs = append(jobs, job{key: k, run: func() (Row, error) {
			n++
			return Row{Transport: k, Metric: MetricRTT, P50: n, P99: n}, nil
		}})
	}
	return jobs
}

func testRun(t *testing.T, probes ...int64) (*run, *probeScript) {
	s := &probeScript{t: t, next: probes}
	r := &run{cfg: Config{Reps: 1, Log: io.Discard}, res: &Result{CPUs: [2]int{0, 1}}, probeFn: s.probe}
	return r, s
}

func TestAMeasurementTakenInAnotherPlacementIsMeasuredAgain(t *testing.T) {
	// a: far (500 ns) then near on its second attempt; b, c: near.
	r, s := testRun(t, 500, 510, 120, 130, 120, 120, 120, 120, 120)
	g := r.runGroup(countingJobs("a", "b", "c"), false)
	rows, ref := g.rows, g.ref
	if len(s.next) != 0 {
		t.Errorf("%d scripted probes left", len(s.next))
	}
	if ref != 120 {
		t.Errorf("group placement %d, want 120", ref)
	}
	if len(rows) != 3 || rows[0].P50 != 4 || rows[1].P50 != 2 || rows[2].P50 != 3 {
		t.Errorf("rows %+v: want a's second attempt (4), b's (2) and c's (3) first", rows)
	}
	if r.res.Remeasured != 1 || len(g.notes) != 0 {
		t.Errorf("remeasured %d, notes %q; want 1 and none", r.res.Remeasured, g.notes)
	}
}

func TestAPlacementChangeDuringAMeasurementCounts(t *testing.T) {
	// a's probe after it is far: the host moved the CPUs while it ran.
	r, _ := testRun(t, 120, 500, 120, 120, 120, 120, 120, 120, 120)
	rows := r.runGroup(countingJobs("a", "b", "c"), false).rows
	if rows[0].P50 != 4 || r.res.Remeasured != 1 {
		t.Errorf("a kept attempt %d, %d remeasured; want 4 and 1", rows[0].P50, r.res.Remeasured)
	}
}

func TestAMeasurementThatStaysOffItsGroupIsKeptWithANote(t *testing.T) {
	// a: far in all three attempts, the last one closest to the group.
	r, s := testRun(t, 500, 500, 120, 120, 120, 120, 120, 120, 120, 600, 600, 120, 300, 300)
	g := r.runGroup(countingJobs("a", "b", "c", "d"), false)
	rows := g.rows
	if len(s.next) != 0 {
		t.Errorf("%d scripted probes left", len(s.next))
	}
	if rows[0].P50 != 6 || r.res.Remeasured != 1 {
		t.Errorf("a kept attempt %d, %d remeasured; want 6 (probed 300 ns) and 1", rows[0].P50, r.res.Remeasured)
	}
	if len(g.notes) != 1 || !strings.HasPrefix(g.notes[0], "a: measured while") || !strings.Contains(g.notes[0], "120 ns for the rest of its group") {
		t.Errorf("notes %q", g.notes)
	}
}

func TestNothingIsMeasuredAgainWhileTheCPUsStayElsewhere(t *testing.T) {
	// a far, b and c near, and the probe before a's second attempt still far.
	r, s := testRun(t, 500, 500, 120, 120, 120, 120, 500)
	g := r.runGroup(countingJobs("a", "b", "c"), false)
	if len(s.next) != 0 || g.rows[0].P50 != 1 || r.res.Remeasured != 0 || len(g.notes) != 1 {
		t.Errorf("%d probes left, a kept %d, %d remeasured, notes %q", len(s.next), g.rows[0].P50, r.res.Remeasured, g.notes)
	}
}

func TestARowLeftOffItsGroupGetsALastAttemptAtTheEnd(t *testing.T) {
	// a far and still far at its group's attempt; near again at the end.
	r, s := testRun(t, 500, 500, 120, 120, 120, 120, 500, 120, 120, 120)
	groups := []group{r.runGroup(countingJobs("a", "b", "c"), false)}
	r.placeGroups(groups)
	if len(s.next) != 0 || groups[0].rows[0].P50 != 4 || len(groups[0].notes) != 0 || r.res.Remeasured != 1 {
		t.Errorf("%d probes left, a kept %d, notes %q, %d remeasured", len(s.next), groups[0].rows[0].P50, groups[0].notes, r.res.Remeasured)
	}
}

func TestWithoutProbesNothingIsMeasuredAgain(t *testing.T) {
	r, _ := testRun(t)
	r.res.CPUs = [2]int{-1, -1} // unpinned: no placement to probe
	g := r.runGroup(countingJobs("a", "b"), false)
	rows, ref := g.rows, g.ref
	if ref != 0 || len(rows) != 2 || rows[0].P50 != 1 || rows[1].P50 != 2 || r.res.Remeasured != 0 {
		t.Errorf("rows %+v, group placement %d, %d remeasured", rows, ref, r.res.Remeasured)
	}

	r, _ = testRun(t, -1) // the first probe fails: a note, no more probes
	g = r.runGroup(countingJobs("a", "b"), false)
	rows, ref = g.rows, g.ref
	if ref != 0 || len(rows) != 2 || len(r.res.Notes) != 1 || !strings.Contains(r.res.Notes[0], "cross-core probe unavailable") {
		t.Errorf("rows %+v, group placement %d, notes %q", rows, ref, r.res.Notes)
	}
}

func TestRepetitionsAreCheckedOneByOne(t *testing.T) {
	// Two reps of a and b; only a's second is far, and is taken again.
	r, _ := testRun(t, 120, 120, 120, 120, 500, 500, 120, 120, 120, 120, 120)
	r.cfg.Reps = 2
	rows := r.runGroup(countingJobs("a", "b"), false).rows
	// a's figures: 1 and 5 (the second attempt of rep 2): median 3.
	if rows[0].P50 != 3 || rows[1].P50 != 3 || r.res.Remeasured != 1 {
		t.Errorf("rows %+v, %d remeasured", rows, r.res.Remeasured)
	}
}

func TestAGroupMeasuredInAnotherPlacementThanTheRunIsMeasuredAgain(t *testing.T) {
	// Group x (2 rows) far; y and z (2 rows each) near; then a probe says
	// the CPUs are near again and x is measured again, near.
	r, s := testRun(t, 500, 500, 500, 500, 120, 120, 120, 120, 130, 130, 120, 120, 120, 120, 130, 120, 120)
	x := r.runGroup(countingJobs("x1", "x2"), false)
	y := r.runGroup(countingJobs("y1", "y2"), false)
	z := r.runGroup(countingJobs("z1", "z2"), false)
	groups := []group{x, y, z}
	r.placeGroups(groups)
	if len(s.next) != 0 {
		t.Errorf("%d scripted probes left", len(s.next))
	}
	if groups[0].ref != 120 || groups[0].rows[0].P50 != 3 || groups[0].rows[1].P50 != 4 {
		t.Errorf("x: placement %d, rows %+v; want its second pass (3, 4) at 120 ns", groups[0].ref, groups[0].rows)
	}
	if r.res.RemeasuredGroups != 1 || len(r.res.Notes) != 0 {
		t.Errorf("%d groups measured again, notes %q; want 1 and none", r.res.RemeasuredGroups, r.res.Notes)
	}
}

func TestAGroupIsNotMeasuredAgainWhileTheCPUsStayElsewhere(t *testing.T) {
	// x far, y and z near, and the probe after them still far: x is kept, with a note.
	r, s := testRun(t, 500, 500, 120, 120, 120, 120, 500)
	groups := []group{
		r.runGroup(countingJobs("framebridge x>x"), false),
		r.runGroup(countingJobs("framebridge y>y"), false),
		r.runGroup(countingJobs("framebridge z>z"), false),
	}
	r.placeGroups(groups)
	if len(s.next) != 0 || groups[0].rows[0].P50 != 1 || r.res.RemeasuredGroups != 0 {
		t.Errorf("%d probes left, x kept %d, %d groups again", len(s.next), groups[0].rows[0].P50, r.res.RemeasuredGroups)
	}
	if len(r.res.Notes) != 1 || !strings.Contains(r.res.Notes[0], "500 ns for x>x") {
		t.Errorf("notes %q", r.res.Notes)
	}
}

func TestSummarizeProbes(t *testing.T) {
	r, _ := testRun(t)
	r.probes = []int64{130, 120, 500, 110}
	r.summarizeProbes()
	if got, want := r.res.CrossCore, (CrossCore{N: 4, Min: 110, Median: 120, Max: 500}); got != want {
		t.Errorf("CrossCore = %+v, want %+v", got, want)
	}
}
