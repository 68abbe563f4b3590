// Atomic accesses to words inside a shared mapping, with the memory orders docs/layout.md names.
//
// C++17 has no std::atomic_ref, so these wrap the GCC/Clang __atomic builtins. Every access to a
// shared-memory word the protocol orders goes through here; "plain" stores and loads of the spec are
// relaxed atomics so that a concurrent (possibly hostile) peer never makes a C++ data race.
#ifndef FRAMEBRIDGE_ATOMIC_HPP
#define FRAMEBRIDGE_ATOMIC_HPP

#include <cstddef>
#include <cstdint>

namespace framebridge {
namespace atomics {

template <class T>
using Aliased __attribute__((may_alias)) = T;

template <class T>
inline Aliased<T>* At(void* base, std::size_t off) {
  return reinterpret_cast<Aliased<T>*>(static_cast<unsigned char*>(base) + off);
}
template <class T>
inline const Aliased<T>* At(const void* base, std::size_t off) {
  return reinterpret_cast<const Aliased<T>*>(static_cast<const unsigned char*>(base) + off);
}

// load.acq / load.sc / plain (relaxed) loads.
template <class T>
inline T LoadAcquire(const void* base, std::size_t off) { return __atomic_load_n(At<T>(base, off), __ATOMIC_ACQUIRE); }
template <class T>
inline T LoadSeqCst(const void* base, std::size_t off) { return __atomic_load_n(At<T>(base, off), __ATOMIC_SEQ_CST); }
template <class T>
inline T LoadRelaxed(const void* base, std::size_t off) { return __atomic_load_n(At<T>(base, off), __ATOMIC_RELAXED); }

// store.rel / store.sc / plain (relaxed) stores.
template <class T>
inline void StoreRelease(void* base, std::size_t off, T v) { __atomic_store_n(At<T>(base, off), v, __ATOMIC_RELEASE); }
template <class T>
inline void StoreSeqCst(void* base, std::size_t off, T v) { __atomic_store_n(At<T>(base, off), v, __ATOMIC_SEQ_CST); }
template <class T>
inline void StoreRelaxed(void* base, std::size_t off, T v) { __atomic_store_n(At<T>(base, off), v, __ATOMIC_RELAXED); }

// rmw.sc: compare-and-swap (expected is updated on failure) and fetch-add.
template <class T>
inline bool CasSeqCst(void* base, std::size_t off, T& expected, T desired) {
  return __atomic_compare_exchange_n(At<T>(base, off), &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
template <class T>
inline T FetchAddSeqCst(void* base, std::size_t off, T v) { return __atomic_fetch_add(At<T>(base, off), v, __ATOMIC_SEQ_CST); }
template <class T>
inline T FetchAddRelaxed(void* base, std::size_t off, T v) { return __atomic_fetch_add(At<T>(base, off), v, __ATOMIC_RELAXED); }

// A single-writer counter: a relaxed load and store (no lock prefix).
inline void BumpSingle(void* base, std::size_t off, std::uint64_t v) {
  StoreRelaxed<std::uint64_t>(base, off, LoadRelaxed<std::uint64_t>(base, off) + v);
}

inline void FenceAcquire() { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
inline void FenceRelease() { __atomic_thread_fence(__ATOMIC_RELEASE); }

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// Ask for the cache line holding p in a writable state (x86 PREFETCHW, where the CPU has it), ahead of a
// write, so the write does not wait for the line to come from another core. A hint: it writes nothing and
// never faults. CPUs without PREFETCHW (some pre-2014 Intel parts) get nothing, not a plain prefetch: a
// read-shared copy would still need an upgrade.
inline bool HasPrefetchW() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    __asm__ __volatile__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000000u), "c"(0u));
    if (a < 0x80000001u) return false;
    __asm__ __volatile__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000001u), "c"(0u));
    return (c & (1u << 8)) != 0;  // CPUID.80000001H:ECX.PRFCHW[bit 8]
  }();
  return has;
#elif defined(__aarch64__)
  return true;
#else
  return false;
#endif
}

inline void PrefetchForWrite(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  __asm__ __volatile__("prefetchw %0" : : "m"(*static_cast<const volatile char*>(p)));
#elif defined(__aarch64__)
  __asm__ __volatile__("prfm pstl1keep, %0" : : "Q"(*static_cast<const volatile char*>(p)));
#else
  (void)p;
#endif
}

}  // namespace atomics
}  // namespace framebridge

#endif  // FRAMEBRIDGE_ATOMIC_HPP
