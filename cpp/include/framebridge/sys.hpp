// The system calls framebridge uses (futex, memfd, pidfd, /proc liveness, clocks), in one place.
#ifndef FRAMEBRIDGE_SYS_HPP
#define FRAMEBRIDGE_SYS_HPP

#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "framebridge/layout.hpp"

namespace framebridge {
namespace sys {

inline std::int64_t MonotonicNanos() noexcept {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

inline std::int64_t RealtimeNanos() noexcept {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// FUTEX_WAIT on a shared (not private) word, relative timeout in ns (< 0: none). Returns 0 or errno
// (EAGAIN when the word no longer equals expected, ETIMEDOUT, EINTR).
inline int FutexWait(void* word, std::uint32_t expected, std::int64_t timeout_ns) noexcept {
  struct timespec ts;
  struct timespec* tsp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000);
    tsp = &ts;
  }
  long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, tsp, nullptr, 0);
  return r == 0 ? 0 : errno;
}

inline void FutexWakeAll(void* word) noexcept { syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0); }

inline void Yield() noexcept { sched_yield(); }

inline void SleepNanos(std::int64_t ns) noexcept {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

inline int MemfdCreate(const char* name, unsigned flags) noexcept {
  return static_cast<int>(syscall(SYS_memfd_create, name, flags));
}

// State and start time (field 22, clock ticks since boot) of a process from /proc/PID/stat.
struct ProcStat {
  bool exists = false;
  char state = 0;
  std::uint64_t start = 0;
};

inline ProcStat ReadProcStat(std::uint32_t pid) noexcept {
  ProcStat ps;
  if (pid == 0 || pid > static_cast<std::uint32_t>(INT_MAX)) return ps;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%u/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ps;
  char buf[1024];
  ssize_t n;
  do {
    n = read(fd, buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return ps;
  buf[n] = 0;
  // Fields after the last ')': " S ppid ..." -- field 3 is state, field 22 is starttime.
  const char* p = nullptr;
  for (ssize_t i = n - 1; i >= 0; --i) {
    if (buf[i] == ')') {
      p = buf + i + 1;
      break;
    }
  }
  if (p == nullptr) return ps;
  int field = 2;  // we stand after field 2 (comm)
  while (*p != 0) {
    while (*p == ' ') ++p;
    if (*p == 0) break;
    ++field;
    if (field == 3) ps.state = *p;
    if (field == 22) {
      std::uint64_t v = 0;
      while (*p >= '0' && *p <= '9') {
        v = v * 10 + static_cast<std::uint64_t>(*p - '0');
        ++p;
      }
      ps.start = v;
      ps.exists = true;
      return ps;
    }
    while (*p != 0 && *p != ' ') ++p;
  }
  return ps;
}

// Alive per §7: /proc/PID/stat exists, state not Z or X, start time equals the recorded one.
inline bool ProcessAlive(std::uint32_t pid, std::uint64_t start) noexcept {
  ProcStat ps = ReadProcStat(pid);
  return ps.exists && ps.state != 'Z' && ps.state != 'X' && ps.start == start;
}

// pidfd_open(2) (Linux 5.3+): a close-on-exec descriptor of process pid that polls readable (POLLIN) once
// the process has exited. -1 with errno on failure (ENOSYS where the kernel or libc lacks it).
inline int PidfdOpen(std::uint32_t pid) noexcept {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0u));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

inline std::uint32_t SelfPid() noexcept { return static_cast<std::uint32_t>(getpid()); }

// Our own start time. Not cached across fork: the pid is part of the key.
inline std::uint64_t SelfStart() noexcept {
  static std::uint32_t cached_pid = 0;  // benign: each thread computes the same value
  static std::uint64_t cached = 0;
  std::uint32_t pid = SelfPid();
  if (__atomic_load_n(&cached_pid, __ATOMIC_ACQUIRE) == pid) return __atomic_load_n(&cached, __ATOMIC_RELAXED);
  std::uint64_t v = ReadProcStat(pid).start;
  __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
  __atomic_store_n(&cached_pid, pid, __ATOMIC_RELEASE);
  return v;
}

}  // namespace sys
}  // namespace framebridge

#endif  // FRAMEBRIDGE_SYS_HPP
