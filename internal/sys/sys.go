// Package sys holds every system call framebridge makes: shared-memory objects,
// mappings, futexes and process liveness. Nothing else in the module imports
// golang.org/x/sys/unix.
package sys

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ShmDir is where named segments live.
const ShmDir = "/dev/shm"

// Errno re-exports the errno values callers test for.
var (
	EEXIST    = unix.EEXIST
	ENOENT    = unix.ENOENT
	ENOSPC    = unix.ENOSPC
	EACCES    = unix.EACCES
	EINTR     = unix.EINTR
	EAGAIN    = unix.EAGAIN
	ETIMEDOUT = unix.ETIMEDOUT
)

// MemfdCreate creates an anonymous shared-memory file that can be sealed.
func MemfdCreate(name string) (int, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("memfd_create %q: %w", name, err)
	}
	return fd, nil
}

// CreateExclusive creates path with mode 0600, failing if it exists.
func CreateExclusive(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return -1, err
	}
	// The umask may have narrowed the mode; it can never have widened it, but be explicit.
	if err := unix.Fchmod(fd, 0o600); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// ErrNotRegular: the path is a FIFO, device, directory or socket, not a
// shared-memory file.
var ErrNotRegular = errors.New("not a regular file")

// OpenExisting opens an existing regular file read-write (or read-only).
// O_NONBLOCK keeps a FIFO planted under the name (anyone may create files in
// /dev/shm) from blocking the open; anything but a regular file is refused.
func OpenExisting(path string, readOnly bool) (int, error) {
	flags := unix.O_RDWR | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK
	if readOnly {
		flags = unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK
	}
	fd, err := unix.Open(path, flags, 0)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: %w (mode %#o)", path, ErrNotRegular, st.Mode&unix.S_IFMT)
	}
	return fd, nil
}

// Reserve sets the file's size and allocates its blocks, so that a full
// tmpfs is an error now rather than SIGBUS on first touch.
func Reserve(fd int, size int64) error {
	if err := unix.Ftruncate(fd, size); err != nil {
		return fmt.Errorf("ftruncate to %d bytes: %w", size, err)
	}
	for {
		err := unix.Fallocate(fd, 0, 0, size)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("fallocate %d bytes: %w", size, err)
		}
		return nil
	}
}

// Seal applies F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL to a memfd; sealing a
// memfd that already has them is a no-op.
func Seal(fd int) error {
	const want = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL
	if have, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0); err == nil && have&want == want {
		return nil
	}
	_, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, want)
	if err != nil {
		return fmt.Errorf("seal memfd: %w", err)
	}
	return nil
}

// FileInfo is what Fstat reports that framebridge cares about.
type FileInfo struct {
	Size int64
	UID  uint32
	Mode uint32
	Ino  uint64
	Dev  uint64
}

// Fstat describes an open file.
func Fstat(fd int) (FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return FileInfo{}, err
	}
	return FileInfo{Size: st.Size, UID: st.Uid, Mode: st.Mode, Ino: st.Ino, Dev: uint64(st.Dev)}, nil
}

// Stat describes a path without opening it.
func Stat(path string) (FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return FileInfo{}, err
	}
	return FileInfo{Size: st.Size, UID: st.Uid, Mode: st.Mode, Ino: st.Ino, Dev: uint64(st.Dev)}, nil
}

// Mmap maps size bytes of fd shared.
func Mmap(fd int, size int, writable bool) ([]byte, error) {
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	b, err := unix.Mmap(fd, 0, size, prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", size, err)
	}
	return b, nil
}

// Munmap unmaps a mapping made by Mmap.
func Munmap(b []byte) error { return unix.Munmap(b) }

// Close closes a file descriptor.
func Close(fd int) error { return unix.Close(fd) }

// Dup duplicates fd with close-on-exec set.
func Dup(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0) }

// Unlink removes a path.
func Unlink(path string) error { return unix.Unlink(path) }

const (
	futexWait = 0 // FUTEX_WAIT, shared (no FUTEX_PRIVATE_FLAG): other processes wait on the same word
	futexWake = 1 // FUTEX_WAKE, shared
)

// FutexWait sleeps while *addr == val, at most timeout (< 0: no limit).
// It returns nil when woken (or spuriously), EAGAIN when *addr != val,
// ETIMEDOUT on timeout and EINTR on a signal; callers re-check their
// condition in every case.
func FutexWait(addr *uint32, val uint32, timeout time.Duration) error {
	var ts *unix.Timespec
	var t unix.Timespec
	if timeout >= 0 {
		t = unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait, uintptr(val),
		uintptr(unsafe.Pointer(ts)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// FutexWake wakes up to n waiters on addr.
func FutexWake(addr *uint32, n int) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake, uintptr(n), 0, 0, 0)
}

// Getpid returns the caller's pid.
func Getpid() int { return unix.Getpid() }

// ProcState is a process's state letter and start time from /proc/PID/stat.
type ProcState struct {
	State byte
	Start uint64 // field 22: start time in clock ticks since boot
}

// ReadProcStat parses /proc/PID/stat. os.ErrNotExist means no such process.
func ReadProcStat(pid int) (ProcState, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ProcState{}, err
	}
	return ParseProcStat(string(b))
}

// ParseProcStat parses the text of /proc/PID/stat. The command name (field
// 2) may hold spaces and parentheses, so fields are counted after the last ')'.
func ParseProcStat(s string) (ProcState, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ProcState{}, errors.New("malformed /proc stat: no command field")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return ProcState{}, errors.New("malformed /proc stat: too few fields")
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return ProcState{}, fmt.Errorf("malformed /proc stat start time: %w", err)
	}
	return ProcState{State: f[0][0], Start: start}, nil
}

// SelfStart returns the start time of the calling process.
func SelfStart() (uint64, error) {
	st, err := ReadProcStat(unix.Getpid())
	if err != nil {
		return 0, fmt.Errorf("read own start time: %w", err)
	}
	return st.Start, nil
}

// Alive reports whether pid is a live process (not a zombie) that started at start.
func Alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := ReadProcStat(pid)
	if err != nil {
		// No /proc entry: gone. Any other error (EACCES cannot happen for stat)
		// counts as alive: recovering a live writer's record would be worse
		// than waiting.
		return !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ESRCH)
	}
	if st.State == 'Z' || st.State == 'X' {
		return false
	}
	return st.Start == start
}

// SetAffinity pins the calling OS thread to one CPU.
func SetAffinity(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(0, &set)
}

// NumCPUAllowed returns how many CPUs the process may run on.
func NumCPUAllowed() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 1
	}
	return set.Count()
}

// CPUTime returns the process's user+system CPU time.
func CPUTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ThreadCPUTime returns the calling thread's CPU time.
func ThreadCPUTime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// Yield gives the CPU to another runnable thread (sched_yield), so a spinning
// waiter lets a preempted lock holder on the same core finish.
func Yield() { unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }

// ProcessCPUTime returns the CPU time (user + system, all threads) process
// pid has used, from its process CPU-time clock (clock_getcpuclockid's
// ((^pid) << 3) | 2, CPUCLOCK_SCHED: ns resolution). If that clock cannot be
// read it falls back to utime + stime from /proc/PID/stat, which has only
// clock-tick (10 ms) resolution; precise reports which one was used.
func ProcessCPUTime(pid int) (d time.Duration, precise bool, err error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(int32((^int32(pid))<<3|2), &ts); err == nil {
		return time.Duration(ts.Nano()), true, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if i < 0 || len(f) < 13 {
		return 0, false, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false, fmt.Errorf("malformed /proc/%d/stat times", pid)
	}
	const clockTicks = 100 // USER_HZ on every Linux architecture Go supports
	return time.Duration(ut+st) * time.Second / clockTicks, false, nil
}
