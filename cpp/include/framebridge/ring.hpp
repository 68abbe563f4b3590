// Rings: Writer (Claim / Commit / Abort) and Reader (Next / TryNext / Release), docs/layout.md §3, §5.
//
// SPSC writer (§5.1): keeps tail, headCache and seq privately. Claim writes at most a padding header
// (not published). Commit: relaxed stores of type, length, writer 0, sequence, size; then store.sc(tail).
//
// MPSC writer (§5.2): under the claim lock (CAS 0 -> token; a dead holder's lock is stolen), reads
// tail (load.sc) and head (load.acq), writes padding and the record header, store.sc(size, -size),
// store.sc(tail), store.sc(lock, 0). Commit: relaxed type and length, then store.sc(size, +size).
// Abort: type 0 (padding), then store.sc(size, +size).
//
// Reader (§5.3-5.5): loads tail (load.sc) when it has caught up, then each record's size (load.acq)
// once into a local and validates it before touching anything else. A claimed record (size < 0) whose
// writer is dead is turned into padding (§5.4). A malformed record is ErrCorrupt; the reader skips to the
// tail it has seen (§5.5). Release stores head (store.sc) for every frame returned so far.
//
// Every value read from shared memory is loaded once into a local and checked before it is used as a
// length or index: whatever bytes a peer writes, the reader never touches memory outside its ring.
#ifndef FRAMEBRIDGE_RING_HPP
#define FRAMEBRIDGE_RING_HPP

#include <cstdint>
#include <cstring>

#include "framebridge/atomic.hpp"
#include "framebridge/layout.hpp"
#include "framebridge/owner.hpp"
#include "framebridge/segment.hpp"
#include "framebridge/status.hpp"
#include "framebridge/wait.hpp"

namespace framebridge {

// A frame delivered by Reader::Next: a read-only view into the ring, valid until Release.
struct Frame {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  std::uint32_t type = 0;
  std::uint64_t seq = 0;
};

// A claimed, writable view of exactly `size` bytes inside the ring.
struct Claimed {
  std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

// Snapshot of a ring's statistics (§3); relaxed loads, for display only.
struct RingCounters {
  std::uint64_t tail, head;
  std::uint64_t frames_written, bytes_written, full_stalls, writer_waits, writer_wakes;
  std::uint64_t frames_read, bytes_read, reader_waits, reader_wakes, bad_records, abandoned_records;
};

inline RingCounters LoadRingCounters(const unsigned char* r) {
  using atomics::LoadRelaxed;
  RingCounters c;
  c.tail = LoadRelaxed<std::uint64_t>(r, layout::kTailPositionOffset);
  c.head = LoadRelaxed<std::uint64_t>(r, layout::kHeadPositionOffset);
  c.frames_written = LoadRelaxed<std::uint64_t>(r, layout::kFramesWrittenOffset);
  c.bytes_written = LoadRelaxed<std::uint64_t>(r, layout::kBytesWrittenOffset);
  c.full_stalls = LoadRelaxed<std::uint64_t>(r, layout::kFullStallsOffset);
  c.writer_waits = LoadRelaxed<std::uint64_t>(r, layout::kWriterWaitsOffset);
  c.writer_wakes = LoadRelaxed<std::uint64_t>(r, layout::kWriterWakesOffset);
  c.frames_read = LoadRelaxed<std::uint64_t>(r, layout::kFramesReadOffset);
  c.bytes_read = LoadRelaxed<std::uint64_t>(r, layout::kBytesReadOffset);
  c.reader_waits = LoadRelaxed<std::uint64_t>(r, layout::kReaderWaitsOffset);
  c.reader_wakes = LoadRelaxed<std::uint64_t>(r, layout::kReaderWakesOffset);
  c.bad_records = LoadRelaxed<std::uint64_t>(r, layout::kBadRecordsOffset);
  c.abandoned_records = LoadRelaxed<std::uint64_t>(r, layout::kAbandonedRecordsOffset);
  return c;
}

namespace detail {

// Whether writer token `token` names a dead writer of the ring at r (§7): slot out of range, slot epoch
// differs, or the slot's process is not alive.
inline bool WriterTokenDead(const unsigned char* r, std::uint32_t token) {
  const std::uint32_t slot = owner::TokenSlot(token);
  if (slot >= layout::kMaxWriters) return true;
  const std::size_t so = layout::kWriterSlotsOffset + slot * layout::kWriterSlotLength;
  const std::uint64_t o = atomics::LoadSeqCst<std::uint64_t>(r, so + layout::kWriterSlotOwnerOffset);
  if ((owner::Epoch(o) & layout::kWriterEpochMask) != owner::TokenEpoch(token)) return true;
  return !owner::SlotAlive(r, so + layout::kWriterSlotOwnerOffset, so + layout::kWriterSlotStartOffset);
}

inline Status RingRegion(Segment& seg, const std::string& ring, const Region** out) {
  if (!seg.valid()) return Status::Error(Errc::kClosed, "ring \"%s\": segment is closed", ring.c_str());
  const Region* reg = seg.FindRegion(ring);
  if (reg == nullptr) return Status::Error(Errc::kNotFound, "ring \"%s\": no such region", ring.c_str());
  if (reg->kind == RegionKind::kMailbox) {
    return Status::Error(Errc::kWrongKind, "ring \"%s\": region is a mailbox", ring.c_str());
  }
  *out = reg;
  return Status::Ok();
}

}  // namespace detail

class Writer {
 public:
  Writer() = default;
  Writer(Writer&& o) noexcept { *this = static_cast<Writer&&>(o); }
  Writer& operator=(Writer&& o) noexcept {
    if (this != &o) {
      Close();
      std::memcpy(static_cast<void*>(this), static_cast<const void*>(&o), sizeof *this);
      o.r_ = nullptr;
    }
    return *this;
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer() { Close(); }

  // Take a writer slot of ring `ring` (SPSC: slot 0, ErrBusy if held by a live process; MPSC: a free one).
  static Result<Writer> Open(Segment& seg, const std::string& ring) {
    const Region* reg = nullptr;
    Status st = detail::RingRegion(seg, ring, &reg);
    if (!st) return st.Wrap("writer");
    Writer w;
    w.r_ = seg.base() + reg->offset;
    w.data_ = w.r_ + layout::kRingDataOffset;
    w.cap_ = reg->capacity;
    w.mask_ = reg->capacity - 1;
    w.max_payload_ = layout::MaxPayload(reg->capacity);
    w.mpsc_ = reg->kind == RegionKind::kMPSC;
    const std::size_t nslots = w.mpsc_ ? layout::kMaxWriters : 1;
    Status last;
    for (std::size_t s = 0; s < nslots; ++s) {
      const std::size_t so = layout::kWriterSlotsOffset + s * layout::kWriterSlotLength;
      last = owner::TakeSlot(w.r_, so + layout::kWriterSlotOwnerOffset, so + layout::kWriterSlotStartOffset, &w.owner_);
      if (last.ok()) {
        w.slot_ = static_cast<std::uint32_t>(s);
        break;
      }
    }
    if (!last.ok()) {
      w.r_ = nullptr;
      return last.Wrap("writer for ring \"%s\"%s", ring.c_str(), w.mpsc_ ? ": all 64 writer slots are held" : "");
    }
    w.token_ = owner::Token(w.slot_, owner::Epoch(w.owner_));
    if (!w.mpsc_) {
      const std::uint64_t t = atomics::LoadSeqCst<std::uint64_t>(w.r_, layout::kTailPositionOffset);
      const std::uint64_t h = atomics::LoadSeqCst<std::uint64_t>(w.r_, layout::kHeadPositionOffset);
      if (t % layout::kRecordAlignment != 0 || h > t || t - h > w.cap_) {
        Status e = Status::Error(Errc::kCorrupt, "writer for ring \"%s\": TailPosition = %llu, HeadPosition = %llu",
                                 ring.c_str(), static_cast<unsigned long long>(t), static_cast<unsigned long long>(h));
        w.Close();
        return e;
      }
      w.tail_ = t;
      w.head_cache_ = h;
      w.seq_ = atomics::LoadRelaxed<std::uint64_t>(w.r_, layout::kNextSequenceOffset);
      if (w.seq_ == 0) w.seq_ = 1;
    }
    return Result<Writer>(static_cast<Writer&&>(w));
  }

  // Claim room for an n-byte payload of type `type` (!= 0). Waits for space until dl (Deadline::Try():
  // ErrFull at once). *out receives a writable view of exactly n bytes, valid until Commit or Abort.
  Status Claim(std::uint32_t type, std::size_t n, Deadline dl, Claimed* out) {
    if (r_ == nullptr) return Status::Error(Errc::kClosed, "claim: writer is closed");
    if (claimed_) return Status::Error(Errc::kState, "claim: the previous claim is neither committed nor aborted");
    if (type == layout::kPaddingType) return Status::Error(Errc::kInvalidArgument, "claim: type 0 is reserved for padding");
    if (n > max_payload_) {
      return Status::Error(Errc::kTooLarge, "claim: %zu bytes exceed the ring's MaxPayload %llu", n,
                           static_cast<unsigned long long>(max_payload_));
    }
    return mpsc_ ? ClaimMPSC(type, n, dl, out) : ClaimSPSC(type, n, dl, out);
  }
  Result<Claimed> Claim(std::uint32_t type, std::size_t n, Deadline dl = Deadline::Never()) {
    Claimed c;
    Status st = Claim(type, n, dl, &c);
    if (!st) return st;
    return c;
  }
  Result<Claimed> TryClaim(std::uint32_t type, std::size_t n) { return Claim(type, n, Deadline::Try()); }

  // Publish the first m (<= n) bytes of the claim.
  Status Commit(std::size_t m) {
    if (!claimed_) return Status::Error(Errc::kState, "commit: nothing claimed");
    if (m > claim_n_) return Status::Error(Errc::kInvalidArgument, "commit: %zu bytes, but only %zu were claimed", m, claim_n_);
    unsigned char* rec = data_ + (claim_pos_ & mask_);
    using atomics::StoreRelaxed;
    StoreRelaxed<std::uint32_t>(rec, layout::kRecordTypeOffset, claim_type_);
    StoreRelaxed<std::uint32_t>(rec, layout::kRecordLengthOffset, static_cast<std::uint32_t>(m));
    if (mpsc_) {
      atomics::StoreSeqCst<std::int32_t>(rec, layout::kRecordSizeOffset, static_cast<std::int32_t>(claim_size_));
      atomics::FetchAddRelaxed<std::uint64_t>(r_, layout::kFramesWrittenOffset, 1);
      atomics::FetchAddRelaxed<std::uint64_t>(r_, layout::kBytesWrittenOffset, m);
    } else {
      const std::uint64_t size = layout::RecordSize(m);  // a partial commit shrinks the record
      StoreRelaxed<std::uint32_t>(rec, layout::kRecordWriterOffset, 0);
      StoreRelaxed<std::uint64_t>(rec, layout::kRecordSequenceOffset, seq_);
      StoreRelaxed<std::int32_t>(rec, layout::kRecordSizeOffset, static_cast<std::int32_t>(size));
      ++seq_;
      StoreRelaxed<std::uint64_t>(r_, layout::kNextSequenceOffset, seq_);
      tail_ = claim_pos_ + size;
      atomics::StoreSeqCst<std::uint64_t>(r_, layout::kTailPositionOffset, tail_);
      atomics::BumpSingle(r_, layout::kFramesWrittenOffset, 1);
      atomics::BumpSingle(r_, layout::kBytesWrittenOffset, m);
    }
    claimed_ = false;
    SignalData();
    return Status::Ok();
  }

  // Give up the claim: SPSC publishes nothing; MPSC turns the record into padding.
  Status Abort() {
    if (!claimed_) return Status::Error(Errc::kState, "abort: nothing claimed");
    claimed_ = false;
    if (mpsc_) {
      unsigned char* rec = data_ + (claim_pos_ & mask_);
      atomics::StoreRelaxed<std::uint32_t>(rec, layout::kRecordTypeOffset, layout::kPaddingType);
      atomics::StoreSeqCst<std::int32_t>(rec, layout::kRecordSizeOffset, static_cast<std::int32_t>(claim_size_));
      SignalData();  // a reader may wait on this record
    }
    return Status::Ok();
  }

  // Abort any claim and give the slot back. Idempotent.
  void Close() {
    if (r_ == nullptr) return;
    if (claimed_) Abort();
    const std::size_t so = layout::kWriterSlotsOffset + slot_ * layout::kWriterSlotLength;
    owner::ReleaseSlot(r_, so + layout::kWriterSlotOwnerOffset, owner_);
    r_ = nullptr;
  }

  void set_spin_nanos(std::int64_t ns) { spin_ns_ = ns < 0 ? 0 : ns; }
  std::int64_t spin_nanos() const { return spin_ns_; }
  std::size_t max_payload() const { return static_cast<std::size_t>(max_payload_); }
  std::uint64_t capacity() const { return cap_; }
  bool mpsc() const { return mpsc_; }
  std::uint32_t slot() const { return slot_; }
  std::uint32_t token() const { return token_; }
  bool valid() const { return r_ != nullptr; }
  RingCounters counters() const { return LoadRingCounters(r_); }

 private:
  void SignalData() {
    if (Signal(r_, layout::kDataSignalOffset, layout::kDataWaitersOffset)) {
      atomics::FetchAddRelaxed<std::uint64_t>(r_, layout::kWriterWakesOffset, 1);
    }
  }

  // Free space if head is h, or 0 when h is not a valid head for tail t.
  bool SpaceOk(std::uint64_t t, std::uint64_t h, std::uint64_t need) const {
    return h <= t && t - h <= cap_ && cap_ - (t - h) >= need;
  }

  Status CorruptPositions(std::uint64_t t, std::uint64_t h) const {
    return Status::Error(Errc::kCorrupt, "claim: HeadPosition = %llu is not within [TailPosition - %llu, TailPosition = %llu]",
                         static_cast<unsigned long long>(h), static_cast<unsigned long long>(cap_),
                         static_cast<unsigned long long>(t));
  }

  // Sleep until head moves (or the deadline). Returns kTimeout on deadline.
  WaitOutcome WaitSpace(std::uint64_t t, std::uint64_t h_seen, std::uint64_t need, Deadline dl) {
    std::uint64_t sleeps = 0;
    WaitOutcome o = WaitFor(
        r_, layout::kSpaceSignalOffset, layout::kSpaceWaitersOffset,
        [&] {
          const std::uint64_t h = atomics::LoadSeqCst<std::uint64_t>(r_, layout::kHeadPositionOffset);
          return h != h_seen && (!SpaceOk(t, h, 0) || SpaceOk(t, h, need) || mpsc_);
        },
        spin_ns_, dl, layout::kLivenessPollNanos, &sleeps);
    if (sleeps != 0) atomics::FetchAddRelaxed<std::uint64_t>(r_, layout::kWriterWaitsOffset, sleeps);
    return o;
  }

  Status ClaimSPSC(std::uint32_t type, std::size_t n, Deadline dl, Claimed* out) {
    const std::uint64_t size = layout::RecordSize(n);
    const std::uint64_t idx = tail_ & mask_;
    const std::uint64_t pad = idx + size > cap_ ? cap_ - idx : 0;
    const std::uint64_t need = pad + size;
    bool stalled = false;
    while (cap_ - (tail_ - head_cache_) < need) {
      const std::uint64_t h = atomics::LoadAcquire<std::uint64_t>(r_, layout::kHeadPositionOffset);
      if (!SpaceOk(tail_, h, 0)) return CorruptPositions(tail_, h);
      head_cache_ = h;
      if (SpaceOk(tail_, h, need)) break;
      if (!stalled) {
        stalled = true;
        atomics::BumpSingle(r_, layout::kFullStallsOffset, 1);
      }
      if (dl.is_try()) return Status::Error(Errc::kFull, "claim: ring full");
      if (WaitSpace(tail_, h, need, dl) == WaitOutcome::kTimeout) {
        return Status::Error(Errc::kTimeout, "claim: no space before the deadline");
      }
    }
    if (pad > 0) {
      unsigned char* p = data_ + idx;
      atomics::StoreRelaxed<std::int32_t>(p, layout::kRecordSizeOffset, static_cast<std::int32_t>(pad));
      atomics::StoreRelaxed<std::uint32_t>(p, layout::kRecordTypeOffset, layout::kPaddingType);
    }
    claim_pos_ = tail_ + pad;
    claim_size_ = size;
    claim_n_ = n;
    claim_type_ = type;
    claimed_ = true;
    out->data = data_ + (claim_pos_ & mask_) + layout::kRecordHeaderLength;
    out->size = n;
    return Status::Ok();
  }

  // Take the claim lock, stealing it from a dead holder (§5.2 step 1).
  Status LockClaim(Deadline dl) {
    for (std::uint32_t spins = 1;; ++spins) {
      std::uint32_t expected = 0;
      if (atomics::CasSeqCst<std::uint32_t>(r_, layout::kClaimLockOffset, expected, token_)) return Status::Ok();
      if (expected == token_) {
        return Status::Error(Errc::kCorrupt, "claim: ClaimLock = 0x%x already names this writer", expected);
      }
      if (spins % 1024 == 0) {
        if (detail::WriterTokenDead(r_, expected) &&
            atomics::CasSeqCst<std::uint32_t>(r_, layout::kClaimLockOffset, expected, token_)) {
          return Status::Ok();
        }
        if (dl.is_try()) return Status::Error(Errc::kFull, "claim: claim lock held by live writer 0x%x", expected);
        if (!dl.is_never() && sys::MonotonicNanos() >= dl.at_ns) {
          return Status::Error(Errc::kTimeout, "claim: claim lock not acquired before the deadline");
        }
      }
      if (spins < 64) {
        atomics::CpuRelax();
      } else {
        sys::Yield();
      }
    }
  }

  void UnlockClaim() { atomics::StoreSeqCst<std::uint32_t>(r_, layout::kClaimLockOffset, 0); }

  Status ClaimMPSC(std::uint32_t type, std::size_t n, Deadline dl, Claimed* out) {
    const std::uint64_t size = layout::RecordSize(n);
    bool stalled = false;
    for (;;) {
      Status st = LockClaim(dl);
      if (!st) return st;
      const std::uint64_t t = atomics::LoadSeqCst<std::uint64_t>(r_, layout::kTailPositionOffset);
      const std::uint64_t h = atomics::LoadAcquire<std::uint64_t>(r_, layout::kHeadPositionOffset);
      if (t % layout::kRecordAlignment != 0 || !SpaceOk(t, h, 0)) {
        UnlockClaim();
        return CorruptPositions(t, h);
      }
      const std::uint64_t idx = t & mask_;
      const std::uint64_t pad = idx + size > cap_ ? cap_ - idx : 0;
      if (!SpaceOk(t, h, pad + size)) {
        UnlockClaim();
        if (!stalled) {
          stalled = true;
          atomics::FetchAddRelaxed<std::uint64_t>(r_, layout::kFullStallsOffset, 1);
        }
        if (dl.is_try()) return Status::Error(Errc::kFull, "claim: ring full");
        if (WaitSpace(t, h, pad + size, dl) == WaitOutcome::kTimeout) {
          return Status::Error(Errc::kTimeout, "claim: no space before the deadline");
        }
        continue;
      }
      using atomics::StoreRelaxed;
      if (pad > 0) {
        unsigned char* p = data_ + idx;
        StoreRelaxed<std::int32_t>(p, layout::kRecordSizeOffset, static_cast<std::int32_t>(pad));
        StoreRelaxed<std::uint32_t>(p, layout::kRecordTypeOffset, layout::kPaddingType);
        if (pad >= layout::kRecordHeaderLength) {
          StoreRelaxed<std::uint32_t>(p, layout::kRecordLengthOffset, 0);
          StoreRelaxed<std::uint32_t>(p, layout::kRecordWriterOffset, token_);
          StoreRelaxed<std::uint64_t>(p, layout::kRecordSequenceOffset, 0);
        }
      }
      const std::uint64_t pos = t + pad;
      unsigned char* rec = data_ + (pos & mask_);
      std::uint64_t s = atomics::LoadRelaxed<std::uint64_t>(r_, layout::kNextSequenceOffset);
      if (s == 0) s = 1;
      StoreRelaxed<std::uint32_t>(rec, layout::kRecordTypeOffset, type);
      StoreRelaxed<std::uint32_t>(rec, layout::kRecordLengthOffset, 0);
      StoreRelaxed<std::uint32_t>(rec, layout::kRecordWriterOffset, token_);
      StoreRelaxed<std::uint64_t>(rec, layout::kRecordSequenceOffset, s);
      StoreRelaxed<std::uint64_t>(r_, layout::kNextSequenceOffset, s + 1);
      atomics::StoreSeqCst<std::int32_t>(rec, layout::kRecordSizeOffset, -static_cast<std::int32_t>(size));
      atomics::StoreSeqCst<std::uint64_t>(r_, layout::kTailPositionOffset, pos + size);
      UnlockClaim();
      claim_pos_ = pos;
      claim_size_ = size;
      claim_n_ = n;
      claim_type_ = type;
      claimed_ = true;
      out->data = rec + layout::kRecordHeaderLength;
      out->size = n;
      return Status::Ok();
    }
  }

  unsigned char* r_ = nullptr;     // region base
  unsigned char* data_ = nullptr;  // data area
  std::uint64_t cap_ = 0, mask_ = 0, max_payload_ = 0;
  bool mpsc_ = false;
  std::uint32_t slot_ = 0;
  std::uint64_t owner_ = 0;
  std::uint32_t token_ = 0;
  std::int64_t spin_ns_ = kDefaultSpinNanos;
  // SPSC private state.
  std::uint64_t tail_ = 0, head_cache_ = 0, seq_ = 1;
  // The open claim.
  bool claimed_ = false;
  std::uint64_t claim_pos_ = 0, claim_size_ = 0;
  std::size_t claim_n_ = 0;
  std::uint32_t claim_type_ = 0;
};

class Reader {
 public:
  Reader() = default;
  Reader(Reader&& o) noexcept { *this = static_cast<Reader&&>(o); }
  Reader& operator=(Reader&& o) noexcept {
    if (this != &o) {
      Close();
      std::memcpy(static_cast<void*>(this), static_cast<const void*>(&o), sizeof *this);
      o.r_ = nullptr;
    }
    return *this;
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader() { Close(); }

  // Take the reader slot of ring `ring` (ErrBusy if a live process holds it) and continue from head.
  static Result<Reader> Open(Segment& seg, const std::string& ring) {
    const Region* reg = nullptr;
    Status st = detail::RingRegion(seg, ring, &reg);
    if (!st) return st.Wrap("reader");
    Reader rd;
    rd.r_ = seg.base() + reg->offset;
    rd.data_ = rd.r_ + layout::kRingDataOffset;
    rd.cap_ = reg->capacity;
    rd.mask_ = reg->capacity - 1;
    rd.mpsc_ = reg->kind == RegionKind::kMPSC;
    st = owner::TakeSlot(rd.r_, layout::kReaderOwnerOffset, layout::kReaderStartOffset, &rd.owner_);
    if (!st) {
      rd.r_ = nullptr;
      return st.Wrap("reader for ring \"%s\"", ring.c_str());
    }
    const std::uint64_t h = atomics::LoadSeqCst<std::uint64_t>(rd.r_, layout::kHeadPositionOffset);
    if (h % layout::kRecordAlignment != 0) {
      rd.Close();
      return Status::Error(Errc::kCorrupt, "reader for ring \"%s\": HeadPosition = %llu is not a multiple of 8",
                           ring.c_str(), static_cast<unsigned long long>(h));
    }
    rd.read_pos_ = rd.released_pos_ = rd.tail_cache_ = h;
    return Result<Reader>(static_cast<Reader&&>(rd));
  }

  // The next frame, waiting until dl (Deadline::Try(): ErrEmpty at once). The frame stays valid until
  // Release; several frames may be read before one Release.
  Status Next(Deadline dl, Frame* out) {
    if (r_ == nullptr) return Status::Error(Errc::kClosed, "next: reader is closed");
    for (;;) {
      if (read_pos_ == tail_cache_) {
        const std::uint64_t t = atomics::LoadSeqCst<std::uint64_t>(r_, layout::kTailPositionOffset);
        if (t < read_pos_ || t - read_pos_ > cap_ || t % layout::kRecordAlignment != 0) {
          return Status::Error(Errc::kCorrupt, "next: TailPosition = %llu, reader at %llu (capacity %llu)",
                               static_cast<unsigned long long>(t), static_cast<unsigned long long>(read_pos_),
                               static_cast<unsigned long long>(cap_));
        }
        tail_cache_ = t;
        if (t == read_pos_) {
          if (dl.is_try()) return Status::Error(Errc::kEmpty, "next: ring empty");
          const std::uint64_t at = read_pos_;
          WaitOutcome o = WaitData(
              [&] { return atomics::LoadSeqCst<std::uint64_t>(r_, layout::kTailPositionOffset) != at; }, dl, 0);
          if (o == WaitOutcome::kTimeout) return Status::Error(Errc::kTimeout, "next: no frame before the deadline");
          continue;
        }
      }
      const std::uint64_t idx = read_pos_ & mask_;
      unsigned char* rec = data_ + idx;
      const std::int32_t size = atomics::LoadAcquire<std::int32_t>(rec, layout::kRecordSizeOffset);
      if (size < 0) {
        const std::int64_t claimed = -static_cast<std::int64_t>(size);
        if (!mpsc_) return Bad(read_pos_, "RecordSize", size, "a committed size (claims are MPSC only)");
        Status st = CheckSize(idx, claimed, size);
        if (!st) return st;
        if (claimed < static_cast<std::int64_t>(layout::kRecordHeaderLength)) {
          return Bad(read_pos_, "RecordSize", size, "<= -24 for a claimed record");
        }
        const std::uint32_t token = atomics::LoadRelaxed<std::uint32_t>(rec, layout::kRecordWriterOffset);
        if (owner::TokenSlot(token) >= layout::kMaxWriters) {
          return Bad(read_pos_, "RecordWriter", token, "a slot index < 64");
        }
        if (detail::WriterTokenDead(r_, token)) {
          // §5.4: turn the abandoned claim into padding.
          atomics::StoreRelaxed<std::uint32_t>(rec, layout::kRecordTypeOffset, layout::kPaddingType);
          std::int32_t expected = size;
          if (atomics::CasSeqCst<std::int32_t>(rec, layout::kRecordSizeOffset, expected, static_cast<std::int32_t>(claimed))) {
            atomics::BumpSingle(r_, layout::kAbandonedRecordsOffset, 1);
          }
          continue;
        }
        if (dl.is_try()) return Status::Error(Errc::kEmpty, "next: the next record is still being written");
        WaitOutcome o = WaitData(
            [&] { return atomics::LoadSeqCst<std::int32_t>(rec, layout::kRecordSizeOffset) != size; }, dl,
            layout::kLivenessPollNanos);
        if (o == WaitOutcome::kTimeout) return Status::Error(Errc::kTimeout, "next: no commit before the deadline");
        continue;
      }
      Status st = CheckSize(idx, size, size);
      if (!st) return st;
      const std::uint32_t type = atomics::LoadRelaxed<std::uint32_t>(rec, layout::kRecordTypeOffset);
      if (type == layout::kPaddingType) {
        read_pos_ += static_cast<std::uint64_t>(size);
        continue;
      }
      if (size < static_cast<std::int32_t>(layout::kRecordHeaderLength)) {
        return Bad(read_pos_, "RecordSize", size, ">= 24 for a frame");
      }
      const std::uint32_t length = atomics::LoadRelaxed<std::uint32_t>(rec, layout::kRecordLengthOffset);
      if (length > static_cast<std::uint32_t>(size) - layout::kRecordHeaderLength) {
        return Bad(read_pos_, "RecordLength", length, "<= RecordSize - 24");
      }
      out->data = rec + layout::kRecordHeaderLength;
      out->size = length;
      out->type = type;
      out->seq = atomics::LoadRelaxed<std::uint64_t>(rec, layout::kRecordSequenceOffset);
      read_pos_ += static_cast<std::uint64_t>(size);
      atomics::BumpSingle(r_, layout::kFramesReadOffset, 1);
      atomics::BumpSingle(r_, layout::kBytesReadOffset, length);
      return Status::Ok();
    }
  }
  Result<Frame> Next(Deadline dl = Deadline::Never()) {
    Frame f;
    Status st = Next(dl, &f);
    if (!st) return st;
    return f;
  }
  Status TryNext(Frame* out) { return Next(Deadline::Try(), out); }
  Result<Frame> TryNext() { return Next(Deadline::Try()); }

  // Free every frame returned so far (store.sc(head)) and wake writers waiting for space.
  Status Release() {
    if (r_ == nullptr) return Status::Error(Errc::kClosed, "release: reader is closed");
    if (read_pos_ == released_pos_) return Status::Ok();
    atomics::StoreSeqCst<std::uint64_t>(r_, layout::kHeadPositionOffset, read_pos_);
    released_pos_ = read_pos_;
    if (Signal(r_, layout::kSpaceSignalOffset, layout::kSpaceWaitersOffset)) {
      atomics::BumpSingle(r_, layout::kReaderWakesOffset, 1);
    }
    return Status::Ok();
  }

  // Give the reader slot back (frames read but not released will be delivered again to the next reader).
  void Close() {
    if (r_ == nullptr) return;
    owner::ReleaseSlot(r_, layout::kReaderOwnerOffset, owner_);
    r_ = nullptr;
  }

  void set_spin_nanos(std::int64_t ns) { spin_ns_ = ns < 0 ? 0 : ns; }
  std::int64_t spin_nanos() const { return spin_ns_; }
  std::uint64_t capacity() const { return cap_; }
  std::uint64_t position() const { return read_pos_; }
  bool valid() const { return r_ != nullptr; }
  RingCounters counters() const { return LoadRingCounters(r_); }

 private:
  template <class Cond>
  WaitOutcome WaitData(Cond&& cond, Deadline dl, std::int64_t poll_ns) {
    std::uint64_t sleeps = 0;
    WaitOutcome o = WaitFor(r_, layout::kDataSignalOffset, layout::kDataWaitersOffset, cond, spin_ns_, dl, poll_ns, &sleeps);
    if (sleeps != 0) atomics::BumpSingle(r_, layout::kReaderWaitsOffset, sleeps);
    return o;
  }

  // §5.3 step 4 size checks, on the local `size` (shown as `raw`).
  Status CheckSize(std::uint64_t idx, std::int64_t size, std::int32_t raw) {
    if (size % static_cast<std::int64_t>(layout::kRecordAlignment) != 0) return Bad(read_pos_, "RecordSize", raw, "a multiple of 8");
    if (size < static_cast<std::int64_t>(layout::kRecordAlignment)) return Bad(read_pos_, "RecordSize", raw, ">= 8");
    const std::uint64_t u = static_cast<std::uint64_t>(size);
    if (u > cap_ - idx) return Bad(read_pos_, "RecordSize", raw, "to end inside the data area");
    if (u > tail_cache_ - read_pos_) return Bad(read_pos_, "RecordSize", raw, "to end at or before TailPosition");
    return Status::Ok();
  }

  // §5.5: count, skip to the tail we saw, report.
  Status Bad(std::uint64_t pos, const char* field, long long value, const char* want) {
    atomics::BumpSingle(r_, layout::kBadRecordsOffset, 1);
    read_pos_ = tail_cache_;
    return Status::Error(Errc::kCorrupt, "next: record at position %llu: %s = %lld, want %s",
                         static_cast<unsigned long long>(pos), field, value, want);
  }

  unsigned char* r_ = nullptr;
  unsigned char* data_ = nullptr;
  std::uint64_t cap_ = 0, mask_ = 0;
  bool mpsc_ = false;
  std::uint64_t owner_ = 0;
  std::int64_t spin_ns_ = kDefaultSpinNanos;
  std::uint64_t read_pos_ = 0, released_pos_ = 0, tail_cache_ = 0;
};

}  // namespace framebridge

#endif  // FRAMEBRIDGE_RING_HPP
