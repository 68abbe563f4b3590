// Ownership slots and liveness (docs/layout.md §7).
//
// An owner word is a u64: bits 0..31 the pid, bits 32..63 an epoch (>= 1, incremented on every take-over).
// Next to it sits the owner's start time (field 22 of /proc/PID/stat). A slot is held while its pid is
// alive with that start time. Taking a slot: CAS(owner, o, (epoch(o)+1) << 32 | mypid), then store the
// start time; detaching stores pid 0 with the same epoch.
#ifndef FRAMEBRIDGE_OWNER_HPP
#define FRAMEBRIDGE_OWNER_HPP

#include <cstdint>

#include "framebridge/atomic.hpp"
#include "framebridge/layout.hpp"
#include "framebridge/status.hpp"
#include "framebridge/sys.hpp"

namespace framebridge {
namespace owner {

inline std::uint32_t Pid(std::uint64_t o) { return static_cast<std::uint32_t>(o & layout::kOwnerPidMask); }
inline std::uint32_t Epoch(std::uint64_t o) { return static_cast<std::uint32_t>(o >> layout::kOwnerEpochShift); }
inline std::uint64_t Word(std::uint32_t epoch, std::uint32_t pid) {
  return static_cast<std::uint64_t>(epoch) << layout::kOwnerEpochShift | pid;
}

// The epoch after e. Skips 0 (as §7 says) and every epoch whose low 24 bits are 0, so that a writer
// token (slot | epoch24 << 8) of slot 0 is never 0, the claim lock's "free" value.
inline std::uint32_t NextEpoch(std::uint32_t e) {
  do {
    ++e;
  } while ((e & layout::kWriterEpochMask) == 0);
  return e;
}

// Writer token (§7): slot | (epoch & 0xFFFFFF) << 8.
inline std::uint32_t Token(std::uint32_t slot, std::uint32_t epoch) {
  return slot | (epoch & layout::kWriterEpochMask) << layout::kWriterEpochShift;
}
inline std::uint32_t TokenSlot(std::uint32_t token) { return token & layout::kWriterSlotMask; }
inline std::uint32_t TokenEpoch(std::uint32_t token) { return token >> layout::kWriterEpochShift; }

// Whether the owner word at base+owner_off (start time at base+start_off) names a live process.
// The start time is stored just after the owner word is taken, so a live pid whose start time does not
// match yet may be a taker between its two stores: re-read for a short while before calling it dead.
inline bool SlotAlive(const void* base, std::size_t owner_off, std::size_t start_off, std::uint64_t* seen = nullptr) {
  std::uint64_t o = atomics::LoadSeqCst<std::uint64_t>(base, owner_off);
  for (int attempt = 0;; ++attempt) {
    if (seen != nullptr) *seen = o;
    std::uint32_t pid = Pid(o);
    if (pid == 0) return false;
    std::uint64_t start = atomics::LoadSeqCst<std::uint64_t>(base, start_off);
    sys::ProcStat ps = sys::ReadProcStat(pid);
    if (!ps.exists || ps.state == 'Z' || ps.state == 'X') return false;
    if (ps.start == start) return true;
    if (attempt >= 20) return false;  // ~2 ms: a live pid with another start time is a reused pid
    sys::SleepNanos(100000);
    o = atomics::LoadSeqCst<std::uint64_t>(base, owner_off);
  }
}

// Whether the owner word o, which names a process that looks dead, may belong to a taker that has done
// its CAS but not yet stored its start time (§7). Waits, up to 100 ms in 1 ms steps, while the pid
// exists: a descheduled taker stores its start time when it runs again. True: look again.
inline bool MayBeTakingOver(const void* base, std::size_t owner_off, std::size_t start_off, std::uint64_t o) {
  const std::int64_t deadline = sys::MonotonicNanos() + 100 * 1000000LL;
  while (sys::MonotonicNanos() < deadline) {
    sys::SleepNanos(1000000);
    if (atomics::LoadSeqCst<std::uint64_t>(base, owner_off) != o) return true;
    const std::uint64_t start = atomics::LoadSeqCst<std::uint64_t>(base, start_off);
    sys::ProcStat ps = sys::ReadProcStat(Pid(o));
    if (!ps.exists || ps.state == 'Z' || ps.state == 'X') return false;  // gone: certainly dead
    if (ps.start == start) return true;  // the taker stored its start time: alive
  }
  return false;
}

// Take the slot if it is free or its owner is dead. On success *mine is our owner word.
inline Status TakeSlot(void* base, std::size_t owner_off, std::size_t start_off, std::uint64_t* mine) {
  const std::uint32_t me = sys::SelfPid();
  const std::uint64_t my_start = sys::SelfStart();
  for (int tries = 0; tries < 64; ++tries) {
    std::uint64_t o = 0;
    if (SlotAlive(base, owner_off, start_off, &o)) {
      return Status::Error(Errc::kBusy, "held by live pid %u (epoch %u)", Pid(o), Epoch(o));
    }
    if (Pid(o) != 0 && MayBeTakingOver(base, owner_off, start_off, o)) continue;
    std::uint64_t want = Word(NextEpoch(Epoch(o)), me);
    if (atomics::CasSeqCst<std::uint64_t>(base, owner_off, o, want)) {
      atomics::StoreSeqCst<std::uint64_t>(base, start_off, my_start);
      *mine = want;
      return Status::Ok();
    }
  }
  return Status::Error(Errc::kBusy, "slot keeps changing owner");
}

// Detach: pid 0, same epoch -- only if the slot is still ours.
inline void ReleaseSlot(void* base, std::size_t owner_off, std::uint64_t mine) {
  std::uint64_t expected = mine;
  atomics::CasSeqCst<std::uint64_t>(base, owner_off, expected, Word(Epoch(mine), 0));
}

}  // namespace owner
}  // namespace framebridge

#endif  // FRAMEBRIDGE_OWNER_HPP
