package bench

import (
	"os/exec"
	"testing"
	"time"
)

func TestProcessCPUTimeOfAnotherProcess(t *testing.T) {
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	c0, precise, err := processCPUTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	c1, _, err := processCPUTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// A busy loop gets most of a CPU even on a loaded machine.
	if d := c1 - c0; precise && (d < 20*time.Millisecond || d > 400*time.Millisecond) {
		t.Errorf("a busy child used %v over 200 ms", d)
	}
}
