package sys

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

func TestParseProcStatCountsFieldsAfterTheLastParenthesis(t *testing.T) {
	st, err := ParseProcStat("42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 1 0 987654 1000 100")
	if err != nil || st.State != 'S' || st.Start != 987654 {
		t.Fatalf("%+v %v", st, err)
	}
	for _, bad := range []string{"", "42 (no close", "42 (x) S 1 2", "42 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 notanumber"} {
		if _, err := ParseProcStat(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestAliveKnowsLiveDeadZombieAndRecycledProcesses(t *testing.T) {
	start, err := SelfStart()
	if err != nil {
		t.Fatal(err)
	}
	if !Alive(os.Getpid(), start) {
		t.Fatal("this process is alive")
	}
	if Alive(os.Getpid(), start+1) {
		t.Fatal("same pid, other start time: a recycled pid is not the original process")
	}
	if Alive(0, 0) || Alive(-1, 0) {
		t.Fatal("pid 0 and negative pids are never alive")
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	st, err := ReadProcStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !Alive(cmd.Process.Pid, st.Start) {
		t.Fatal("child is alive")
	}
	cmd.Process.Kill()
	// Not yet reaped: a zombie, which is dead for our purposes.
	for i := 0; i < 1000; i++ {
		if s, err := ReadProcStat(cmd.Process.Pid); err == nil && s.State == 'Z' {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if Alive(cmd.Process.Pid, st.Start) {
		t.Fatal("a killed (zombie) child counts as alive")
	}
	cmd.Wait()
	if Alive(cmd.Process.Pid, st.Start) {
		t.Fatal("a reaped child counts as alive")
	}
}

// The process CPU clock covers the work of this thread: spin until the
// thread's own clock shows 20 ms, then the process clock must too.
func TestProcessCPUTimeCoversThisThreadsWork(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p0, precise, err := ProcessCPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	t0 := ThreadCPUTime()
	for ThreadCPUTime()-t0 < 20*time.Millisecond {
	}
	p1, _, err := ProcessCPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	slack := time.Duration(0)
	if !precise {
		slack = 10 * time.Millisecond // /proc ticks
	}
	if p1-p0 < 20*time.Millisecond-slack {
		t.Fatalf("20 ms of this thread's CPU time shows as %v of process CPU time", p1-p0)
	}
}
