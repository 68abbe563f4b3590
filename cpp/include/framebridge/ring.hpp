// Rings: Writer (Claim / Commit / Abort) and Reader (Next / TryNext / Release), docs/layout.md §3, §5.
//
// The size word of a record is its commit flag: the reader polls the size word at its read position
// (never the tail), and free space always reads as zero because the reader zeroes what it releases
// before it stores head.
//
// SPSC writer (§5.1): keeps tail, headCache and seq privately; a claim writes nothing. Commit: relaxed
// stores of type, length, writer 0, sequence; the padding record (if any) with store.rel of its size;
// store.rel(size word); NextSequence; store.sc(tail); signal. Attach adopts records beyond the tail
// that a writer killed mid-commit left (§5.2.1) and zeroes the free space.
//
// MPSC writer (§5.2): under the claim lock (CAS 0 -> token; a dead holder's lock is stolen, and the
// thief adopts records beyond the tail), reads tail (load.sc) and head (load.acq), writes padding
// (store.rel size) and the header, store.rel(size, -size), store.sc(tail), store.sc(lock, 0).
// Commit: relaxed type and length, then store.sc(size, +size). Abort: type 0, store.sc(size, +size).
//
// Reader (§5.3-5.5): loads each record's size (load.acq) once into a local and validates it before
// touching anything else, bounding every record by releasedPos + capacity. A claimed record (size < 0)
// whose writer is dead is turned into padding (§5.4). A malformed record is ErrCorrupt; the reader
// skips to the published tail when that is valid (§5.5), zeroing only the skipped bytes (frames already
// delivered stay valid until Release). In an SPSC ring a zero size word the writer's tail is already
// past, seen twice at the same position with a sleep in between, is malformed too (ZeroPassed). Release
// stores ReleaseTo, zeroes the released bytes, then stores head (store.sc).
//
// Every value read from shared memory is loaded once into a local and checked before it is used as a
// length or index: whatever bytes a peer writes, neither side touches memory outside its ring.
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

// Whether writer token `token` certainly names a dead writer without asking /proc (§7): its slot does
// not exist, is detached (pid 0), or has another epoch (low 24 bits).
inline bool WriterTokenStale(const unsigned char* r, std::uint32_t token) {
  const std::uint32_t slot = owner::TokenSlot(token);
  if (slot >= layout::kMaxWriters) return true;
  const std::size_t so = layout::kWriterSlotsOffset + slot * layout::kWriterSlotLength;
  const std::uint64_t o = atomics::LoadSeqCst<std::uint64_t>(r, so + layout::kWriterSlotOwnerOffset);
  return owner::Pid(o) == 0 || (owner::Epoch(o) & layout::kWriterEpochMask) != owner::TokenEpoch(token);
}

// Whether writer token `token` names a dead writer (§7): stale, or the slot's process is not alive.
inline bool WriterTokenDead(const unsigned char* r, std::uint32_t token) {
  if (WriterTokenStale(r, token)) return true;
  const std::size_t so = layout::kWriterSlotsOffset + owner::TokenSlot(token) * layout::kWriterSlotLength;
  return !owner::SlotAlive(r, so + layout::kWriterSlotOwnerOffset, so + layout::kWriterSlotStartOffset);
}

// Zero the data bytes of positions [from, to) (to - from <= capacity), wrapping at the end.
inline void ZeroRange(unsigned char* data, std::uint64_t cap, std::uint64_t from, std::uint64_t to) {
  if (to <= from) return;
  if (to - from >= cap) {
    std::memset(data, 0, static_cast<std::size_t>(cap));
    return;
  }
  const std::uint64_t a = from & (cap - 1), b = to & (cap - 1);
  if (a < b) {
    std::memset(data + a, 0, static_cast<std::size_t>(b - a));
  } else {
    std::memset(data + a, 0, static_cast<std::size_t>(cap - a));
    std::memset(data, 0, static_cast<std::size_t>(b));
  }
}

// ZeroRange with relaxed 8-byte atomic stores, for free space a reader may be polling concurrently (a
// writer's attach). Positions are 8-aligned.
inline void ZeroRangeAtomic(unsigned char* data, std::uint64_t cap, std::uint64_t from, std::uint64_t to) {
  if (to <= from) return;
  if (to - from > cap) from = to - cap;
  for (std::uint64_t p = from; p < to; p += 8) atomics::StoreRelaxed<std::uint64_t>(data, p & (cap - 1), 0);
}

// Positions a writer may work from: head <= tail <= head + capacity, both 8-aligned.
inline bool PositionsOk(std::uint64_t head, std::uint64_t tail, std::uint64_t cap) {
  return head <= tail && tail - head <= cap && head % layout::kRecordAlignment == 0 &&
         tail % layout::kRecordAlignment == 0;
}

inline Status CorruptPositions(std::uint64_t head, std::uint64_t tail, std::uint64_t cap) {
  return Status::Error(Errc::kCorrupt,
                       "ring positions: HeadPosition = %llu, TailPosition = %llu, want head <= tail <= head + %llu, "
                       "both multiples of 8",
                       static_cast<unsigned long long>(head), static_cast<unsigned long long>(tail),
                       static_cast<unsigned long long>(cap));
}

// §5.1 attach / §5.2.1: take up records beyond the tail that a dead writer wrote without publishing the
// tail. Stores the tail if it moved. *tail and *head receive the positions to continue from.
// When the scan stops, head is loaded again: a reader that recovered and released what stood at the
// tail meanwhile (zero again, head past it) is followed. Every adopted frame's sequence number is
// carried into NextSequence, so a restarted writer never reuses one.
inline Status Adopt(unsigned char* r, std::uint64_t cap, std::uint64_t* tail_out, std::uint64_t* head_out) {
  std::uint64_t tail = atomics::LoadSeqCst<std::uint64_t>(r, layout::kTailPositionOffset);
  std::uint64_t head = atomics::LoadAcquire<std::uint64_t>(r, layout::kHeadPositionOffset);
  const std::uint64_t orig = tail;
  std::uint64_t next_seq = atomics::LoadRelaxed<std::uint64_t>(r, layout::kNextSequenceOffset);
  const unsigned char* data = r + layout::kRingDataOffset;
  for (;;) {
    if (head > tail && head - tail <= cap && head % layout::kRecordAlignment == 0) tail = head;
    if (!PositionsOk(head, tail, cap)) return CorruptPositions(head, tail, cap);
    for (;;) {
      const std::uint64_t idx = tail & (cap - 1);
      const std::int32_t v = atomics::LoadAcquire<std::int32_t>(data, idx + layout::kRecordSizeOffset);
      if (v == 0) break;
      const std::uint64_t size =
          v < 0 ? static_cast<std::uint64_t>(-static_cast<std::int64_t>(v)) : static_cast<std::uint64_t>(v);
      if (size % layout::kRecordAlignment != 0 || size > cap - idx || tail + size - head > cap) break;
      if (size >= layout::kRecordHeaderLength) {
        // An adopted record took a sequence number its writer may not have published in NextSequence.
        const std::uint64_t s = atomics::LoadRelaxed<std::uint64_t>(data, idx + layout::kRecordSequenceOffset);
        if (s != 0 && s >= next_seq) next_seq = s + 1;
      }
      tail += size;
    }
    const std::uint64_t h = atomics::LoadAcquire<std::uint64_t>(r, layout::kHeadPositionOffset);
    if (h <= tail || h - tail > cap || h % layout::kRecordAlignment != 0) break;
    head = h;
  }
  if (tail != orig) atomics::StoreSeqCst<std::uint64_t>(r, layout::kTailPositionOffset, tail);
  atomics::StoreRelaxed<std::uint64_t>(r, layout::kNextSequenceOffset, next_seq);
  *tail_out = tail;
  *head_out = head;
  return Status::Ok();
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
      // §5.1 attach: adopt what a writer killed mid-commit left, then make the free space read as zero.
      std::uint64_t t = 0, h = 0;
      Status a = detail::Adopt(w.r_, w.cap_, &t, &h);
      if (!a) {
        w.Close();
        return a.Wrap("writer for ring \"%s\"", ring.c_str());
      }
      detail::ZeroRangeAtomic(w.data_, w.cap_, t, h + w.cap_);
      w.tail_ = t;
      w.head_cache_ = h;
      w.seq_ = atomics::LoadRelaxed<std::uint64_t>(w.r_, layout::kNextSequenceOffset);
      if (w.seq_ == 0) w.seq_ = 1;
    }
    return Result<Writer>(static_cast<Writer&&>(w));
  }

  // Claim room for an n-byte payload of type `type` (1..2^31-1). Waits for space until dl
  // (Deadline::Try(): ErrFull at once). *out receives a writable view of exactly n bytes, valid until
  // Commit or Abort.
  Status Claim(std::uint32_t type, std::size_t n, Deadline dl, Claimed* out) {
    if (r_ == nullptr) return Status::Error(Errc::kClosed, "claim: writer is closed");
    if (claimed_) return Status::Error(Errc::kState, "claim: the previous claim is neither committed nor aborted");
    if (type == layout::kPaddingType || type > layout::kMaxUserType) {
      return Status::Error(Errc::kInvalidArgument, "claim: type %u, want 1..%u", type, layout::kMaxUserType);
    }
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
    const std::uint64_t idx = claim_pos_ & mask_;
    unsigned char* rec = data_ + idx;
    using atomics::StoreRelaxed;
    if (mpsc_) {
      StoreRelaxed<std::uint32_t>(rec, layout::kRecordTypeOffset, claim_type_);
      StoreRelaxed<std::uint32_t>(rec, layout::kRecordLengthOffset, static_cast<std::uint32_t>(m));
      atomics::StoreSeqCst<std::int32_t>(rec, layout::kRecordSizeOffset, static_cast<std::int32_t>(claim_size_));
      atomics::FetchAddRelaxed<std::uint64_t>(r_, layout::kFramesWrittenOffset, 1);
      atomics::FetchAddRelaxed<std::uint64_t>(r_, layout::kBytesWrittenOffset, m);
    } else {
      const std::uint64_t size = layout::RecordSize(m);  // a partial commit shrinks the record
      if (m < claim_n_) {
        // Bytes the caller wrote past m are free space again and must read as zero.
        std::memset(rec + layout::kRecordHeaderLength + m, 0, claim_n_ - m);
      }
      // 1. the record's header fields.
      StoreRelaxed<std::uint32_t>(rec, layout::kRecordTypeOffset, claim_type_);
      StoreRelaxed<std::uint32_t>(rec, layout::kRecordLengthOffset, static_cast<std::uint32_t>(m));
      StoreRelaxed<std::uint32_t>(rec, layout::kRecordWriterOffset, 0);
      StoreRelaxed<std::uint64_t>(rec, layout::kRecordSequenceOffset, seq_);
      ++seq_;
      // 2. the padding record before it.
      if (claim_pad_ > 0) PutPadding((claim_pos_ - claim_pad_) & mask_, claim_pad_, 0);
      // 3. the commit flag.
      atomics::StoreRelease<std::int32_t>(rec, layout::kRecordSizeOffset, static_cast<std::int32_t>(size));
      // 4. NextSequence, then the tail (seq-cst: also orders 2-3 before the waiters load).
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

  // Give up the claim: SPSC writes nothing (and clears what the caller wrote); MPSC turns the record
  // into padding.
  Status Abort() {
    if (!claimed_) return Status::Error(Errc::kState, "abort: nothing claimed");
    claimed_ = false;
    unsigned char* rec = data_ + (claim_pos_ & mask_);
    if (mpsc_) {
      atomics::StoreRelaxed<std::uint32_t>(rec, layout::kRecordTypeOffset, layout::kPaddingType);
      atomics::StoreSeqCst<std::int32_t>(rec, layout::kRecordSizeOffset, static_cast<std::int32_t>(claim_size_));
      SignalData();  // a reader may wait on this record
    } else {
      std::memset(rec + layout::kRecordHeaderLength, 0, claim_n_);
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

  // Make a Claim that waits (now, or the next one) return ErrCanceled. Safe from any thread while the
  // Writer exists; wakes every writer sleeping for space on this ring (they re-check).
  void Interrupt() {
    __atomic_store_n(&interrupt_, true, __ATOMIC_SEQ_CST);
    if (r_ != nullptr) {
      atomics::FetchAddSeqCst<std::uint32_t>(r_, layout::kSpaceSignalOffset, 1);
      sys::FutexWakeAll(r_ + layout::kSpaceSignalOffset);
    }
  }

  // SPSC hint, for a writer about to wait for something else (a server for its next request): pull the
  // cache lines a record as large as the last one will take at the tail into this core's cache for writing.
  // The reader zeroed them when it released them, so they sit in its cache, and each store of the next
  // frame would otherwise wait for one to come over (and Commit's seq-cst store for all of them). Only free
  // space is touched, nothing is written, and the line holding the size word at the tail is left alone:
  // the reader is polling it. At most kPrefetchBytes.
  void PrefetchNext() const {
    if (r_ == nullptr || mpsc_ || claimed_ || !atomics::HasPrefetchW()) return;
    const std::uint64_t idx = tail_ & mask_;
    std::uint64_t end = idx + (claim_size_ < kPrefetchBytes ? claim_size_ : kPrefetchBytes);
    if (end > cap_) end = cap_;                    // the next record would wrap: only up to the end
    const std::uint64_t free = head_cache_ + cap_ - tail_;  // head_cache_ <= head: never past the free space
    if (end - idx > free) end = idx + free;
    for (std::uint64_t at = (idx | (kCacheLine - 1)) + 1; at < end; at += kCacheLine) {
      atomics::PrefetchForWrite(data_ + at);
    }
  }
  // The head position the last claim that failed with ErrFull saw: space comes when head moves past it.
  // (A caller waiting for space itself waits for head != full_head(); loading head before the claim
  // instead would take a cache miss on every claim, head being the reader's line.)
  std::uint64_t full_head() const { return full_head_; }

  static constexpr std::uint64_t kCacheLine = 64;
  static constexpr std::uint64_t kPrefetchBytes = 2048;

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

  // A padding record of `pad` bytes at data index idx; its size word last (store.rel).
  void PutPadding(std::uint64_t idx, std::uint64_t pad, std::uint32_t writer) {
    unsigned char* p = data_ + idx;
    atomics::StoreRelaxed<std::uint32_t>(p, layout::kRecordTypeOffset, layout::kPaddingType);
    if (pad >= layout::kRecordHeaderLength) {
      atomics::StoreRelaxed<std::uint32_t>(p, layout::kRecordLengthOffset, 0);
      atomics::StoreRelaxed<std::uint32_t>(p, layout::kRecordWriterOffset, writer);
      atomics::StoreRelaxed<std::uint64_t>(p, layout::kRecordSequenceOffset, 0);
    }
    atomics::StoreRelease<std::int32_t>(p, layout::kRecordSizeOffset, static_cast<std::int32_t>(pad));
  }

  bool ReaderDead() const {
    const std::uint64_t o = atomics::LoadSeqCst<std::uint64_t>(r_, layout::kReaderOwnerOffset);
    return owner::Pid(o) != 0 && !owner::SlotAlive(r_, layout::kReaderOwnerOffset, layout::kReaderStartOffset);
  }

  // Sleep until head moves (or the deadline), checking the reader's liveness every LivenessPoll.
  // Returns ok to retry the claim, or the error to report.
  bool TakeInterrupt() {
    return __atomic_load_n(&interrupt_, __ATOMIC_ACQUIRE) && __atomic_exchange_n(&interrupt_, false, __ATOMIC_ACQ_REL);
  }

  Status WaitSpace(std::uint64_t h_seen, Deadline dl, std::size_t n) {
    std::uint64_t sleeps = 0;
    for (;;) {
      WaitOutcome o = WaitFor(
          r_, layout::kSpaceSignalOffset, layout::kSpaceWaitersOffset,
          [&] {
            return __atomic_load_n(&interrupt_, __ATOMIC_ACQUIRE) ||
                   atomics::LoadSeqCst<std::uint64_t>(r_, layout::kHeadPositionOffset) != h_seen;
          },
          spin_ns_, dl, layout::kLivenessPollNanos, &sleeps);
      if (sleeps != 0) atomics::FetchAddRelaxed<std::uint64_t>(r_, layout::kWriterWaitsOffset, sleeps);
      sleeps = 0;
      if (TakeInterrupt()) return Status::Error(Errc::kCanceled, "claim %zu bytes: interrupted", n);
      if (o == WaitOutcome::kReady) return Status::Ok();
      if (o == WaitOutcome::kTimeout) return Status::Error(Errc::kTimeout, "claim %zu bytes: no space before the deadline", n);
      if (ReaderDead()) {
        return Status::Error(Errc::kPeerDead,
                             "claim %zu bytes: the reader died with the ring full; a new reader continues from its "
                             "last release",
                             n);
      }
    }
  }

  Status ClaimSPSC(std::uint32_t type, std::size_t n, Deadline dl, Claimed* out) {
    const std::uint64_t size = layout::RecordSize(n);
    const std::uint64_t idx = tail_ & mask_;
    const std::uint64_t pad = idx + size > cap_ ? cap_ - idx : 0;
    const std::uint64_t need = pad + size;
    bool stalled = false;
    while (tail_ - head_cache_ + need > cap_) {
      const std::uint64_t h = atomics::LoadAcquire<std::uint64_t>(r_, layout::kHeadPositionOffset);
      if (!detail::PositionsOk(h, tail_, cap_)) return detail::CorruptPositions(h, tail_, cap_).Wrap("claim");
      head_cache_ = h;
      if (tail_ - h + need <= cap_) break;
      if (!stalled) {
        stalled = true;
        atomics::BumpSingle(r_, layout::kFullStallsOffset, 1);
      }
      if (dl.is_try()) {
        full_head_ = h;
        return Status::Error(Errc::kFull, "claim %zu bytes: ring full", n);
      }
      Status st = WaitSpace(h, dl, n);
      if (!st) return st;
    }
    claim_pos_ = tail_ + pad;
    claim_pad_ = pad;
    claim_size_ = size;
    claim_n_ = n;
    claim_type_ = type;
    claimed_ = true;
    out->data = data_ + (claim_pos_ & mask_) + layout::kRecordHeaderLength;
    out->size = n;
    return Status::Ok();
  }

  // Take the claim lock (§5.2 step 1). *stolen: taken from a dead holder (the caller must adopt).
  Status LockClaim(Deadline dl, bool* stolen) {
    *stolen = false;
    for (std::uint32_t spins = 1;; ++spins) {
      std::uint32_t expected = 0;
      if (atomics::CasSeqCst<std::uint32_t>(r_, layout::kClaimLockOffset, expected, token_)) return Status::Ok();
      if (expected == token_) {
        // We never leave the lock held: our own token there is stale (scribbled, or a predecessor in our
        // slot whose 24-bit epoch wrapped onto ours). It is ours now; adopt as after a steal.
        *stolen = true;
        return Status::Ok();
      }
      if (spins % 1024 == 0) {
        if (detail::WriterTokenDead(r_, expected) &&
            atomics::CasSeqCst<std::uint32_t>(r_, layout::kClaimLockOffset, expected, token_)) {
          *stolen = true;
          return Status::Ok();
        }
        if (dl.is_try()) return Status::Error(Errc::kFull, "claim: claim lock held by live writer 0x%x", expected);
        if (TakeInterrupt()) return Status::Error(Errc::kCanceled, "claim: interrupted waiting for the claim lock");
        if (!dl.is_never() && sys::MonotonicNanos() >= dl.at_ns) {
          return Status::Error(Errc::kTimeout, "claim: claim lock not acquired before the deadline");
        }
      }
      if (spins % 64 == 0) {
        sys::Yield();  // let a preempted holder run
      } else {
        atomics::CpuRelax();
      }
    }
  }

  void UnlockClaim() { atomics::StoreSeqCst<std::uint32_t>(r_, layout::kClaimLockOffset, 0); }

  Status ClaimMPSC(std::uint32_t type, std::size_t n, Deadline dl, Claimed* out) {
    const std::uint64_t size = layout::RecordSize(n);
    bool stalled = false;
    for (;;) {
      bool stolen = false;
      Status st = LockClaim(dl, &stolen);
      if (!st) return st;
      if (stolen) {
        std::uint64_t at = 0, ah = 0;
        Status a = detail::Adopt(r_, cap_, &at, &ah);
        if (!a) {
          UnlockClaim();
          return a.Wrap("claim");
        }
      }
      std::uint64_t t = atomics::LoadSeqCst<std::uint64_t>(r_, layout::kTailPositionOffset);
      const std::uint64_t h = atomics::LoadAcquire<std::uint64_t>(r_, layout::kHeadPositionOffset);
      if (h > t && h - t <= cap_ && h % layout::kRecordAlignment == 0) {
        // The reader recovered and released a dead lock holder's claim that never reached the tail
        // (§5.2): heal on every claim, not only after a steal.
        t = h;
        atomics::StoreSeqCst<std::uint64_t>(r_, layout::kTailPositionOffset, t);
      }
      if (!detail::PositionsOk(h, t, cap_)) {
        UnlockClaim();
        return detail::CorruptPositions(h, t, cap_).Wrap("claim");
      }
      const std::uint64_t idx = t & mask_;
      const std::uint64_t pad = idx + size > cap_ ? cap_ - idx : 0;
      if (t - h + pad + size > cap_) {
        UnlockClaim();
        if (!stalled) {
          stalled = true;
          atomics::FetchAddRelaxed<std::uint64_t>(r_, layout::kFullStallsOffset, 1);
        }
        if (dl.is_try()) {
          full_head_ = h;
          return Status::Error(Errc::kFull, "claim %zu bytes: ring full", n);
        }
        st = WaitSpace(h, dl, n);
        if (!st) return st;
        continue;
      }
      using atomics::StoreRelaxed;
      if (pad > 0) PutPadding(idx, pad, token_);
      const std::uint64_t pos = t + pad;
      unsigned char* rec = data_ + (pos & mask_);
      std::uint64_t s = atomics::LoadRelaxed<std::uint64_t>(r_, layout::kNextSequenceOffset);
      if (s == 0) s = 1;
      StoreRelaxed<std::uint32_t>(rec, layout::kRecordTypeOffset, type);
      StoreRelaxed<std::uint32_t>(rec, layout::kRecordLengthOffset, 0);
      StoreRelaxed<std::uint32_t>(rec, layout::kRecordWriterOffset, token_);
      StoreRelaxed<std::uint64_t>(rec, layout::kRecordSequenceOffset, s);
      StoreRelaxed<std::uint64_t>(r_, layout::kNextSequenceOffset, s + 1);
      atomics::StoreRelease<std::int32_t>(rec, layout::kRecordSizeOffset, -static_cast<std::int32_t>(size));
      atomics::StoreSeqCst<std::uint64_t>(r_, layout::kTailPositionOffset, pos + size);
      UnlockClaim();
      claim_pos_ = pos;
      claim_pad_ = pad;
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
  std::uint64_t full_head_ = 0;  // see full_head()
  // The open claim.
  bool claimed_ = false;
  std::uint64_t claim_pos_ = 0, claim_pad_ = 0, claim_size_ = 0;
  std::size_t claim_n_ = 0;
  std::uint32_t claim_type_ = 0;
  bool interrupt_ = false;  // set by Interrupt (any thread), accessed atomically
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

  // Take the reader slot of ring `ring` (ErrBusy if a live process holds it), finish a predecessor's
  // interrupted release (§7) and continue from head.
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
    std::uint64_t h = atomics::LoadSeqCst<std::uint64_t>(rd.r_, layout::kHeadPositionOffset);
    if (h % layout::kRecordAlignment != 0) {
      rd.Close();
      return Status::Error(Errc::kCorrupt, "reader for ring \"%s\": HeadPosition = %llu is not a multiple of 8",
                           ring.c_str(), static_cast<unsigned long long>(h));
    }
    const std::uint64_t to = atomics::LoadRelaxed<std::uint64_t>(rd.r_, layout::kReaderReleaseToOffset);
    if (to > h && to - h <= rd.cap_ && to % layout::kRecordAlignment == 0) {
      detail::ZeroRange(rd.data_, rd.cap_, h, to);
      h = to;
      atomics::StoreSeqCst<std::uint64_t>(rd.r_, layout::kHeadPositionOffset, h);
    }
    rd.read_pos_ = rd.released_pos_ = h;
    return Result<Reader>(static_cast<Reader&&>(rd));
  }

  // The next frame, waiting until dl (Deadline::Try(): ErrEmpty at once). The frame stays valid until
  // Release; several frames may be read before one Release.
  Status Next(Deadline dl, Frame* out) {
    if (r_ == nullptr) return Status::Error(Errc::kClosed, "next: reader is closed");
    bool waited = false;  // this call has waited once: ZeroPassed may look at the tail
    for (;;) {
      if (read_pos_ - released_pos_ >= cap_) {
        if (!delivered_) {  // only padding since the last Release: free it ourselves (§5.3)
          Release();
          continue;
        }
        // The frames read but not released fill the ring: nothing new can follow until Release.
        // Waiting could never end: the writers wait for this very space.
        if (dl.is_try()) return Status::Error(Errc::kEmpty, "next: the unreleased frames fill the ring");
        return Status::Error(Errc::kFull, "next: the reader holds a whole ring of unreleased frames; call Release");
      }
      const std::uint64_t idx = read_pos_ & mask_;
      unsigned char* rec = data_ + idx;
      const std::int32_t raw = atomics::LoadAcquire<std::int32_t>(rec, layout::kRecordSizeOffset);
      if (raw == 0) {
        // Nothing written here yet, unless (SPSC, after a first wait) the writer's tail is past it:
        // ZeroPassed. Not before the first wait of this call: the tail is a line the writer stores on
        // every commit, and loading it on every frame made each of the writer's commits a cache miss.
        if (!dl.is_try() && !mpsc_ && waited && ZeroPassed(idx)) {
          return Bad("RecordSize", 0, "non-zero: the writer's tail is past it (a peer overwrote the size word)");
        }
        ReleaseIfOnlyPadding();
        if (dl.is_try()) return Status::Error(Errc::kEmpty, "next: ring empty");
        // The first wait, and any while a first sighting is pending, sleeps at most a liveness poll, so
        // the tail is looked at even if nothing wakes us (a full ring's writer only waits for space).
        const std::int64_t poll_ns =
            (!mpsc_ && !waited) || zero_at_ == read_pos_ + 1 ? layout::kLivenessPollNanos : 0;
        waited = true;
        WaitOutcome o = WaitData(
            [&] { return atomics::LoadSeqCst<std::int32_t>(rec, layout::kRecordSizeOffset) != 0; }, dl, poll_ns);
        if (TakeInterrupt()) return Status::Error(Errc::kCanceled, "next: interrupted");
        if (o == WaitOutcome::kTimeout) return Status::Error(Errc::kTimeout, "next: no frame before the deadline");
        continue;
      }
      const bool claimed = raw < 0;
      const std::uint64_t size =
          claimed ? static_cast<std::uint64_t>(-static_cast<std::int64_t>(raw)) : static_cast<std::uint64_t>(raw);
      // §5.3 step 3, from the local.
      if (size % layout::kRecordAlignment != 0) return Bad("RecordSize", raw, "a multiple of 8");
      if (size > cap_ - idx) return Bad("RecordSize", raw, "to end inside the data area");
      if (read_pos_ + size - released_pos_ > cap_) {
        return Bad("RecordSize", raw, "to end within capacity bytes of the released position");
      }
      if (!claimed) {
        // The writer stored the rest of the record just before its size word: start bringing those lines
        // over now, so the caller's first read of the frame overlaps the transfers with this call's work.
        const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(rec);
        const std::uintptr_t end = first + (size < kPrefetchBytes ? size : kPrefetchBytes);
        for (std::uintptr_t at = (first | (Writer::kCacheLine - 1)) + 1; at < end; at += Writer::kCacheLine) {
          __builtin_prefetch(reinterpret_cast<const void*>(at));
        }
      }
      if (claimed) {
        if (!mpsc_) return Bad("RecordSize", raw, "a committed size (claims are MPSC only)");
        if (size < layout::kRecordHeaderLength) return Bad("RecordSize", raw, "<= -24 for a claimed record");
        const std::uint32_t token = atomics::LoadRelaxed<std::uint32_t>(rec, layout::kRecordWriterOffset);
        // Liveness: the token check is cheap and always done; /proc is asked only after waiting (a
        // blocking Next that spun or slept on this record) or every 1024th TryNext stuck on it, so a
        // reader that catches writers mid-claim makes no system call.
        if (blocked_pos_ != read_pos_) {
          blocked_pos_ = read_pos_;
          blocked_polls_ = 0;
        }
        const bool ask_proc = dl.is_try() ? (++blocked_polls_ % 1024 == 0) : blocked_polls_ != 0;
        if (detail::WriterTokenStale(r_, token) || (ask_proc && detail::WriterTokenDead(r_, token))) {
          // The verdict came after the size load: the writer may have committed, then left its slot (or
          // exited), in between. A dead writer stores nothing more, so look again.
          if (atomics::LoadAcquire<std::int32_t>(rec, layout::kRecordSizeOffset) != raw) continue;
          // §5.4: turn the abandoned claim into padding.
          atomics::StoreRelaxed<std::uint32_t>(rec, layout::kRecordTypeOffset, layout::kPaddingType);
          atomics::StoreRelease<std::int32_t>(rec, layout::kRecordSizeOffset, static_cast<std::int32_t>(size));
          atomics::BumpSingle(r_, layout::kAbandonedRecordsOffset, 1);
          continue;
        }
        ReleaseIfOnlyPadding();
        if (dl.is_try()) return Status::Error(Errc::kEmpty, "next: the next record is still being written");
        WaitOutcome o = WaitData(
            [&] { return atomics::LoadSeqCst<std::int32_t>(rec, layout::kRecordSizeOffset) != raw; }, dl,
            layout::kLivenessPollNanos);
        if (TakeInterrupt()) return Status::Error(Errc::kCanceled, "next: interrupted");
        if (o == WaitOutcome::kTimeout) return Status::Error(Errc::kTimeout, "next: no commit before the deadline");
        blocked_polls_ = 1;  // waited: the next pass asks /proc
        continue;
      }
      const std::uint32_t type = atomics::LoadRelaxed<std::uint32_t>(rec, layout::kRecordTypeOffset);
      if (type == layout::kPaddingType) {
        read_pos_ += size;
        continue;
      }
      if (size < layout::kRecordHeaderLength) return Bad("RecordSize", raw, ">= 24 for a frame");
      const std::uint32_t length = atomics::LoadRelaxed<std::uint32_t>(rec, layout::kRecordLengthOffset);
      if (length > size - layout::kRecordHeaderLength) return Bad("RecordLength", length, "<= RecordSize - 24");
      out->data = rec + layout::kRecordHeaderLength;
      out->size = length;
      out->type = type;
      out->seq = atomics::LoadRelaxed<std::uint64_t>(rec, layout::kRecordSequenceOffset);
      read_pos_ += size;
      ++frames_;
      bytes_ += length;
      delivered_ = true;
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

  static constexpr std::uint64_t kPrefetchBytes = 512;  // what Next brings over ahead of the caller's reads

  // Free every frame returned so far: ReleaseTo, zero the released bytes, store.sc(head), wake writers.
  Status Release() {
    if (r_ == nullptr) return Status::Error(Errc::kClosed, "release: reader is closed");
    PublishCounters();
    delivered_ = false;
    if (read_pos_ == released_pos_) return Status::Ok();
    atomics::StoreRelaxed<std::uint64_t>(r_, layout::kReaderReleaseToOffset, read_pos_);
    detail::ZeroRange(data_, cap_, released_pos_, read_pos_);
    atomics::StoreSeqCst<std::uint64_t>(r_, layout::kHeadPositionOffset, read_pos_);
    released_pos_ = read_pos_;
    if (Signal(r_, layout::kSpaceSignalOffset, layout::kSpaceWaitersOffset)) {
      atomics::BumpSingle(r_, layout::kReaderWakesOffset, 1);
    }
    return Status::Ok();
  }

  // Release what was read and give the reader slot back. Idempotent.
  void Close() {
    if (r_ == nullptr) return;
    Release();
    owner::ReleaseSlot(r_, layout::kReaderOwnerOffset, owner_);
    r_ = nullptr;
  }

  // Make a Next that waits (now, or the next one) return ErrCanceled. Safe from any thread while the
  // Reader exists.
  void Interrupt() {
    __atomic_store_n(&interrupt_, true, __ATOMIC_SEQ_CST);
    if (r_ != nullptr) {
      atomics::FetchAddSeqCst<std::uint32_t>(r_, layout::kDataSignalOffset, 1);
      sys::FutexWakeAll(r_ + layout::kDataSignalOffset);
    }
  }

  void set_spin_nanos(std::int64_t ns) { spin_ns_ = ns < 0 ? 0 : ns; }
  std::int64_t spin_nanos() const { return spin_ns_; }
  std::uint64_t capacity() const { return cap_; }
  std::uint64_t position() const { return read_pos_; }
  bool valid() const { return r_ != nullptr; }
  RingCounters counters() const {
    const_cast<Reader*>(this)->PublishCounters();
    return LoadRingCounters(r_);
  }

 private:
  // Wait on the data eventcount; kPoll also when interrupted (the caller checks TakeInterrupt).
  template <class Cond>
  WaitOutcome WaitData(Cond&& cond, Deadline dl, std::int64_t poll_ns) {
    std::uint64_t sleeps = 0;
    WaitOutcome o = WaitFor(
        r_, layout::kDataSignalOffset, layout::kDataWaitersOffset,
        [&] { return __atomic_load_n(&interrupt_, __ATOMIC_ACQUIRE) || cond(); }, spin_ns_, dl, poll_ns, &sleeps);
    if (sleeps != 0) atomics::BumpSingle(r_, layout::kReaderWaitsOffset, sleeps);
    waits_ += sleeps;
    return o;
  }

  // Whether the zero size word at read_pos_ (index idx) is one the SPSC writer has committed past. Zero
  // normally means "not committed yet", but the SPSC writer stores the tail after each commit's size
  // word, so a tail beyond read_pos_ (and within released_pos_ + capacity) with the size word still zero
  // when loaded again after the tail means a peer overwrote a committed record's size word; left alone it
  // stalls a full ring for good (the writer waits for space behind a record the reader never sees). Only
  // two sightings at the same position with at least one sleep in between count, so a tail store seen
  // before its size word (weakly ordered CPUs) is not taken for corruption. As shm/reader.go zeroPassed.
  bool ZeroPassed(std::uint64_t idx) {
    const std::uint64_t t = atomics::LoadSeqCst<std::uint64_t>(r_, layout::kTailPositionOffset);
    if (!(t > read_pos_ && t - released_pos_ <= cap_ && t % layout::kRecordAlignment == 0) ||
        atomics::LoadSeqCst<std::int32_t>(data_ + idx, layout::kRecordSizeOffset) != 0) {
      zero_at_ = 0;
      return false;
    }
    if (zero_at_ == read_pos_ + 1 && waits_ != zero_waits_) {
      zero_at_ = 0;
      return true;
    }
    if (zero_at_ != read_pos_ + 1) {
      zero_at_ = read_pos_ + 1;
      zero_waits_ = waits_;
    }
    return false;
  }

  bool TakeInterrupt() {
    return __atomic_load_n(&interrupt_, __ATOMIC_ACQUIRE) && __atomic_exchange_n(&interrupt_, false, __ATOMIC_ACQ_REL);
  }

  // §5.3: a reader that delivered no frame since its last Release (it skipped only padding: wrap, aborted
  // or recovered claims) releases before it reports empty or sleeps, or writers waiting for that space
  // and the reader would wait for each other. No frame view is invalidated: none was handed out.
  void ReleaseIfOnlyPadding() {
    if (!delivered_ && read_pos_ != released_pos_) Release();
  }

  // Frames and bytes read are published with relaxed stores at Release (one store each per batch).
  void PublishCounters() {
    if (frames_ != 0) atomics::BumpSingle(r_, layout::kFramesReadOffset, frames_);
    if (bytes_ != 0) atomics::BumpSingle(r_, layout::kBytesReadOffset, bytes_);
    frames_ = bytes_ = 0;
  }

  // §5.5: count, report, and skip to the published tail if it is usable (zeroing what is skipped).
  Status Bad(const char* field, long long value, const char* want) {
    const std::uint64_t pos = read_pos_;
    atomics::BumpSingle(r_, layout::kBadRecordsOffset, 1);
    const std::uint64_t t = atomics::LoadSeqCst<std::uint64_t>(r_, layout::kTailPositionOffset);
    // Writers never write past head + capacity, and head == released_pos_.
    const bool skip = t > read_pos_ && t - released_pos_ <= cap_ && t % layout::kRecordAlignment == 0;
    if (skip) {
      // Zero only what is skipped: frames delivered before stay valid until the caller's Release.
      detail::ZeroRange(data_, cap_, read_pos_, t);
      read_pos_ = t;
      ReleaseIfOnlyPadding();
    }
    return Status::Error(Errc::kCorrupt, "next: record at position %llu: %s = %lld, want %s%s",
                         static_cast<unsigned long long>(pos), field, value, want,
                         skip ? "; skipped to the writers' tail" : "");
  }

  unsigned char* r_ = nullptr;
  unsigned char* data_ = nullptr;
  std::uint64_t cap_ = 0, mask_ = 0;
  bool mpsc_ = false;
  std::uint64_t owner_ = 0;
  std::int64_t spin_ns_ = kDefaultSpinNanos;
  std::uint64_t read_pos_ = 0, released_pos_ = 0;
  std::uint64_t frames_ = 0, bytes_ = 0;  // not yet published to the counters
  std::uint64_t blocked_pos_ = ~std::uint64_t{0};  // a live-looking claim we are stuck behind
  std::uint64_t blocked_polls_ = 0;
  std::uint64_t waits_ = 0;       // futex sleeps of this reader (ReaderWaits is shared; this is ours)
  std::uint64_t zero_at_ = 0;     // read_pos_ + 1 where ZeroPassed first saw an overwritten size word
  std::uint64_t zero_waits_ = 0;  // waits_ then: the second sighting must come after a sleep
  bool interrupt_ = false;  // set by Interrupt (any thread), accessed atomically
  bool delivered_ = false;  // a frame was returned since the last Release
};

}  // namespace framebridge

#endif  // FRAMEBRIDGE_RING_HPP
