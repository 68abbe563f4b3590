// Mailbox: the latest value, as a seqlock over the packed SharedFrame {seq u64, status i32, payload[cap]}
// (docs/layout.md §4, §5.6). One writer (it holds the mailbox writer slot; taken at the first Store),
// any number of readers, which never see a torn value.
#ifndef FRAMEBRIDGE_MAILBOX_HPP
#define FRAMEBRIDGE_MAILBOX_HPP

#include <cstdint>
#include <cstring>

#include "framebridge/atomic.hpp"
#include "framebridge/layout.hpp"
#include "framebridge/owner.hpp"
#include "framebridge/segment.hpp"
#include "framebridge/status.hpp"
#include "framebridge/wait.hpp"

namespace framebridge {

// What Mailbox::Load read: version = seq / 2 (0 = nothing stored yet), the status, and how many payload
// bytes were copied (min(dst size, capacity)).
struct MailboxValue {
  std::uint64_t version = 0;
  std::int32_t status = 0;
  std::size_t size = 0;
};

class Mailbox {
 public:
  Mailbox() = default;
  Mailbox(Mailbox&& o) noexcept { *this = static_cast<Mailbox&&>(o); }
  Mailbox& operator=(Mailbox&& o) noexcept {
    if (this != &o) {
      Close();
      std::memcpy(static_cast<void*>(this), static_cast<const void*>(&o), sizeof *this);
      o.m_ = nullptr;
    }
    return *this;
  }
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;
  ~Mailbox() { Close(); }

  static Result<Mailbox> Open(Segment& seg, const std::string& name) {
    if (!seg.valid()) return Status::Error(Errc::kClosed, "mailbox \"%s\": segment is closed", name.c_str());
    const Region* reg = seg.FindRegion(name);
    if (reg == nullptr) return Status::Error(Errc::kNotFound, "mailbox \"%s\": no such region", name.c_str());
    if (reg->kind != RegionKind::kMailbox) {
      return Status::Error(Errc::kWrongKind, "mailbox \"%s\": region is a ring", name.c_str());
    }
    Mailbox mb;
    mb.m_ = seg.base() + reg->offset;
    mb.cap_ = static_cast<std::size_t>(reg->capacity);
    return Result<Mailbox>(static_cast<Mailbox&&>(mb));
  }

  // Store a new value: status and payload (n <= capacity bytes; the rest of the payload is zeroed).
  // The first Store takes the mailbox writer slot (ErrBusy if a live process holds it).
  Status Store(std::int32_t status, const void* payload, std::size_t n) {
    if (m_ == nullptr) return Status::Error(Errc::kClosed, "mailbox store: closed");
    if (n > cap_) return Status::Error(Errc::kTooLarge, "mailbox store: %zu bytes exceed the capacity %zu", n, cap_);
    if (!writer_) {
      Status st = TakeWriter();
      if (!st) return st.Wrap("mailbox store");
    }
    // seq = s + 1 (odd) by an atomic read-modify-write: a relaxed store + release fence would let the
    // payload stores below become visible before the odd seq on weakly ordered CPUs (§5.6).
    std::uint64_t expected = s_;
    atomics::CasSeqCst<std::uint64_t>(m_, layout::kMailboxSeqOffset, expected, s_ + 1);
    atomics::StoreRelaxed<std::int32_t>(m_, layout::kMailboxStatusOffset, status);
    const unsigned char* src = static_cast<const unsigned char*>(payload);
    unsigned char* dst = m_ + layout::kMailboxPayloadOffset;  // 4-byte aligned
    std::size_t i = 0;
    for (; i + 4 <= cap_; i += 4) {
      std::uint32_t w = 0;
      if (i + 4 <= n) {
        std::memcpy(&w, src + i, 4);
      } else if (i < n) {
        std::memcpy(&w, src + i, n - i);
      }
      atomics::StoreRelaxed<std::uint32_t>(dst, i, w);
    }
    for (; i < cap_; ++i) atomics::StoreRelaxed<unsigned char>(dst, i, i < n ? src[i] : 0);
    s_ += 2;
    atomics::StoreRelease<std::uint64_t>(m_, layout::kMailboxSeqOffset, s_);
    Signal(m_, layout::kMailboxSignalOffset, layout::kMailboxWaitersOffset);
    return Status::Ok();
  }

  // Take the mailbox writer slot now (Store takes it at the first call). ErrBusy if a live process
  // holds it. If the previous writer died mid-store (seq odd), publish an explicit empty value (status 0,
  // zero payload, seq + 1) at once, so readers stop waiting for a store that never ends (§5.6).
  Status TakeWriter() {
    if (m_ == nullptr) return Status::Error(Errc::kClosed, "mailbox writer: closed");
    if (writer_) return Status::Ok();
    Status st = owner::TakeSlot(m_, layout::kMailboxWriterOwnerOffset, layout::kMailboxWriterStartOffset, &owner_);
    if (!st) return st.Wrap("mailbox writer");
    writer_ = true;
    s_ = atomics::LoadSeqCst<std::uint64_t>(m_, layout::kMailboxSeqOffset);
    if (s_ & 1) {
      atomics::StoreRelaxed<std::int32_t>(m_, layout::kMailboxStatusOffset, 0);
      unsigned char* dst = m_ + layout::kMailboxPayloadOffset;
      for (std::size_t i = 0; i < cap_; ++i) atomics::StoreRelaxed<unsigned char>(dst, i, 0);
      ++s_;
      atomics::StoreSeqCst<std::uint64_t>(m_, layout::kMailboxSeqOffset, s_);
      Signal(m_, layout::kMailboxSignalOffset, layout::kMailboxWaitersOffset);
    }
    return Status::Ok();
  }

  // Copy the current value out: status and min(dst_len, capacity) payload bytes. Retries while a store
  // is in progress; a writer that died mid-store is ErrPeerDead (until the next store). dl bounds the
  // retries (a live writer that keeps seq odd forever is a hostile one).
  Status Load(void* dst, std::size_t dst_len, MailboxValue* out, Deadline dl = Deadline::Never()) {
    if (m_ == nullptr) return Status::Error(Errc::kClosed, "mailbox load: closed");
    unsigned char* d = static_cast<unsigned char*>(dst);
    const std::size_t n = dst_len < cap_ ? dst_len : cap_;
    const unsigned char* src = m_ + layout::kMailboxPayloadOffset;
    for (std::uint32_t attempt = 1;; ++attempt) {
      const std::uint64_t s1 = atomics::LoadAcquire<std::uint64_t>(m_, layout::kMailboxSeqOffset);
      if ((s1 & 1) == 0) {
        const std::int32_t status = atomics::LoadRelaxed<std::int32_t>(m_, layout::kMailboxStatusOffset);
        std::size_t i = 0;
        for (; i + 4 <= n; i += 4) {
          const std::uint32_t w = atomics::LoadRelaxed<std::uint32_t>(src, i);
          std::memcpy(d + i, &w, 4);
        }
        for (; i < n; ++i) d[i] = atomics::LoadRelaxed<unsigned char>(src, i);
        atomics::FenceAcquire();
        const std::uint64_t s2 = atomics::LoadRelaxed<std::uint64_t>(m_, layout::kMailboxSeqOffset);
        if (s1 == s2) {
          out->version = s1 / 2;
          out->status = status;
          out->size = n;
          return Status::Ok();
        }
      }
      if (attempt % 1024 == 0) {
        if ((s1 & 1) != 0 &&
            !owner::SlotAlive(m_, layout::kMailboxWriterOwnerOffset, layout::kMailboxWriterStartOffset)) {
          const std::uint64_t again = atomics::LoadAcquire<std::uint64_t>(m_, layout::kMailboxSeqOffset);
          if (again == s1) return Status::Error(Errc::kPeerDead, "mailbox load: the writer died while storing");
        }
        if (dl.is_try() || (!dl.is_never() && sys::MonotonicNanos() >= dl.at_ns)) {
          return Status::Error(Errc::kTimeout, "mailbox load: no stable value before the deadline");
        }
        sys::Yield();
      } else {
        atomics::CpuRelax();
      }
    }
  }

  // Wait until a value newer than `version` is stored (or the deadline).
  Status WaitNewer(std::uint64_t version, Deadline dl) {
    if (m_ == nullptr) return Status::Error(Errc::kClosed, "mailbox wait: closed");
    WaitOutcome o = WaitFor(
        m_, layout::kMailboxSignalOffset, layout::kMailboxWaitersOffset,
        [&] { return atomics::LoadSeqCst<std::uint64_t>(m_, layout::kMailboxSeqOffset) / 2 > version; }, 0, dl, 0,
        nullptr);
    if (o != WaitOutcome::kReady) return Status::Error(Errc::kTimeout, "mailbox wait: no newer value before the deadline");
    return Status::Ok();
  }

  // Give the writer slot back, if taken. Idempotent.
  void Close() {
    if (m_ != nullptr && writer_) owner::ReleaseSlot(m_, layout::kMailboxWriterOwnerOffset, owner_);
    m_ = nullptr;
    writer_ = false;
  }

  std::size_t capacity() const { return cap_; }
  bool valid() const { return m_ != nullptr; }

 private:
  unsigned char* m_ = nullptr;
  std::size_t cap_ = 0;
  bool writer_ = false;
  std::uint64_t owner_ = 0;
  std::uint64_t s_ = 0;
};

}  // namespace framebridge

#endif  // FRAMEBRIDGE_MAILBOX_HPP
