// Sequence semaphores (docs/layout.md §6): spin, announce, re-check, FUTEX_WAIT; signal only if announced.
#ifndef FRAMEBRIDGE_WAIT_HPP
#define FRAMEBRIDGE_WAIT_HPP

#include <cstdint>

#include "framebridge/atomic.hpp"
#include "framebridge/sys.hpp"

namespace framebridge {

// A point in CLOCK_MONOTONIC time. Try() means "do not wait at all"; Never() means "no deadline".
struct Deadline {
  std::int64_t at_ns;

  static constexpr std::int64_t kNever = INT64_MAX;
  static Deadline Never() { return Deadline{kNever}; }
  static Deadline Try() { return Deadline{0}; }
  static Deadline At(std::int64_t monotonic_ns) { return Deadline{monotonic_ns < 1 ? 1 : monotonic_ns}; }
  // After(ns): ns from now; ns < 0 means Never, ns == 0 means Try.
  static Deadline After(std::int64_t ns) {
    if (ns < 0) return Never();
    if (ns == 0) return Try();
    std::int64_t now = sys::MonotonicNanos();
    return ns > kNever - now ? Never() : At(now + ns);
  }
  bool is_try() const { return at_ns == 0; }
  bool is_never() const { return at_ns == kNever; }
};

constexpr std::int64_t kDefaultSpinNanos = 50 * 1000;  // default spin budget before sleeping

enum class WaitOutcome { kReady, kTimeout, kPoll };

// Wait until cond() holds. signal_off/waiters_off locate the eventcount relative to base. With
// poll_ns > 0 a sleep lasts at most poll_ns and then returns kPoll, so the caller can check a peer's
// liveness and call again. *sleeps counts FUTEX_WAIT calls (callers add it to their wait counter).
template <class Cond>
inline WaitOutcome WaitFor(unsigned char* base, std::size_t signal_off, std::size_t waiters_off, Cond&& cond,
                           std::int64_t spin_ns, Deadline dl, std::int64_t poll_ns, std::uint64_t* sleeps) {
  if (cond()) return WaitOutcome::kReady;
  if (dl.is_try()) return WaitOutcome::kTimeout;
  // 1. Spin for the budget. The clock is first read after 64 turns, not before the first: most waits
  // end sooner (a peer answering a call), and the read would delay noticing a frame that comes meanwhile.
  if (spin_ns > 0) {
    std::int64_t t0 = 0;
    for (unsigned i = 1;; ++i) {
      atomics::CpuRelax();
      if (cond()) return WaitOutcome::kReady;
      if ((i & 63) == 0) {
        const std::int64_t now = sys::MonotonicNanos();
        if (t0 == 0) t0 = now;
        if (now - t0 >= spin_ns) break;
        if (now >= dl.at_ns) return WaitOutcome::kTimeout;
      }
    }
  }
  for (;;) {
    // 2. Announce. 3. Read the signal. 4. Re-check.
    atomics::FetchAddSeqCst<std::uint32_t>(base, waiters_off, 1);
    const std::uint32_t e = atomics::LoadSeqCst<std::uint32_t>(base, signal_off);
    if (cond()) {
      atomics::FetchAddSeqCst<std::uint32_t>(base, waiters_off, static_cast<std::uint32_t>(-1));
      return WaitOutcome::kReady;
    }
    std::int64_t timeout = -1;
    if (!dl.is_never()) {
      timeout = dl.at_ns - sys::MonotonicNanos();
      if (timeout <= 0) {
        atomics::FetchAddSeqCst<std::uint32_t>(base, waiters_off, static_cast<std::uint32_t>(-1));
        return WaitOutcome::kTimeout;
      }
    }
    if (poll_ns > 0 && (timeout < 0 || timeout > poll_ns)) timeout = poll_ns;
    // 5. Sleep while the signal still equals e.
    if (sleeps != nullptr) ++*sleeps;
    sys::FutexWait(base + signal_off, e, timeout);
    atomics::FetchAddSeqCst<std::uint32_t>(base, waiters_off, static_cast<std::uint32_t>(-1));
    if (cond()) return WaitOutcome::kReady;
    if (poll_ns > 0) return WaitOutcome::kPoll;
  }
}

// Signalling side, after the publishing seq-cst store: wake only if a waiter is announced.
// Returns whether it made the FUTEX_WAKE call.
inline bool Signal(unsigned char* base, std::size_t signal_off, std::size_t waiters_off) {
  if (atomics::LoadSeqCst<std::uint32_t>(base, waiters_off) == 0) return false;
  atomics::FetchAddSeqCst<std::uint32_t>(base, signal_off, 1);
  sys::FutexWakeAll(base + signal_off);
  return true;
}

}  // namespace framebridge

#endif  // FRAMEBRIDGE_WAIT_HPP
