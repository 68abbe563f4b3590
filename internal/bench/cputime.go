package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// processCPUTime returns the CPU time (user + system, all threads, ns
// resolution) another process has used so far, from its process CPU-time
// clock (what glibc's clock_getcpuclockid returns: ((^pid) << 3) | 2,
// CPUCLOCK_SCHED). If that clock cannot be read it falls back to utime +
// stime from /proc/PID/stat, which only has clock-tick (10 ms) resolution;
// precise reports which one was used.
//
// TODO(lead): this is the one system call outside internal/sys (the package
// is not ours to change); it belongs there as sys.ProcessCPUTime(pid).
func processCPUTime(pid int) (d time.Duration, precise bool, err error) {
	clock := (^int32(pid))<<3 | 2
	var ts syscall.Timespec
	_, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(clock), uintptr(unsafe.Pointer(&ts)), 0)
	if e == 0 {
		return time.Duration(ts.Nano()), true, nil
	}
	d, err = procStatCPUTime(pid)
	return d, false, err
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

func procStatCPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed /proc/%d/stat times", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}
