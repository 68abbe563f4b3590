package shm_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/framebridge/framebridge/internal/shmtest"
	"github.com/framebridge/framebridge/shm"
)

// A /dev/shm too small for a segment must fail at Create with ErrNoSpace and
// a message that says what to do, and leave nothing behind, instead of
// SIGBUS on first touch. The child runs in a mount namespace of its own with
// a 1 MiB tmpfs over /dev/shm (root only).
func TestCreateOnAFullShmFailsAtOnceWithNoSpace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs in a private mount namespace")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "full-shm")
	cmd.Env = append(os.Environ(), shmtest.ChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "SKIP:") {
		t.Skip(strings.TrimSpace(string(out)))
	}
	if err != nil || !strings.Contains(string(out), "ok:") {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(string(out)))
}

// createOnFullShm runs in the child: mount a 1 MiB tmpfs over /dev/shm (in
// this process's private mount namespace) and create a 4 MiB segment.
func createOnFullShm(args []string) int {
	if err := syscall.Mount("", "/", "", syscall.MS_PRIVATE|syscall.MS_REC, ""); err != nil {
		fmt.Println("SKIP: cannot make mounts private:", err)
		return 0
	}
	if err := syscall.Mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=1m"); err != nil {
		fmt.Println("SKIP: cannot mount a tmpfs:", err)
		return 0
	}
	_, err := shm.Create("too-big", shm.Spec{Rings: []shm.RingSpec{{Name: "r", Kind: shm.SPSC, Capacity: 4 << 20}}})
	switch {
	case !errors.Is(err, shm.ErrNoSpace):
		fmt.Println("FAIL: want ErrNoSpace, got", err)
		return 1
	case !strings.Contains(err.Error(), "free space"):
		fmt.Println("FAIL: the error does not say what to do:", err)
		return 1
	}
	if _, statErr := os.Stat(shm.Path("too-big")); !errors.Is(statErr, os.ErrNotExist) {
		fmt.Println("FAIL: a failed create left", shm.Path("too-big"), "behind")
		return 1
	}
	fmt.Println("ok:", err)
	return 0
}
