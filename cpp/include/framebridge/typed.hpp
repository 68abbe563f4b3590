// Typed frames, FlatBuffers (ring frame type 16): built in place in the claimed ring space and verified
// before use. The encoding is docs/schemas.md ("Type 16"); the verification policy is its "C++" section.
//
// Build: FlatBuffersWriter hands a flatbuffers::FlatBufferBuilder an Allocator over exactly the claimed
// view (L bytes, L % 16 == 0). The builder writes back to front, so the finished buffer's s bytes sit at
// the end of the view; the writer rewrites the first 8 bytes of the view as the root offset
// ((L - s) + r) and the file identifier, and commits L bytes. Nothing is copied and nothing is allocated
// on the heap. A frame that outgrows its claim continues in a private heap buffer (reused from frame to
// frame); it is then copied to the end of a new claim of the right size (Stats::fallbacks) and the claim
// bound grows. The user's build function runs exactly once.
//
// Read: FlatBuffersReader runs flatbuffers::Verifier with explicit depth / table limits before it hands
// out the root. By default (ReadMode::kCopy) it first copies the payload into a private buffer it owns
// (reused, 16-byte aligned), because FlatBuffers accessors follow offsets without bounds checks: a writer
// that changed a committed frame after verification could otherwise make them read outside the frame.
// ReadMode::kInPlace verifies and reads where the frame lies: zero-copy, for writers you trust not to
// modify committed frames (docs/schemas.md).
//
// Needs only the FlatBuffers headers (Debian libflatbuffers-dev 2.0.8); builds with -fno-exceptions.
#ifndef FRAMEBRIDGE_TYPED_HPP
#define FRAMEBRIDGE_TYPED_HPP

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>

#include "flatbuffers/flatbuffers.h"
#include "framebridge/envelope.hpp"
#include "framebridge/envelope_shape.hpp"
#include "framebridge/envelope_verify.hpp"
#include "framebridge/frames/frame_generated.h"
#include "framebridge/ring.hpp"
#include "framebridge/status.hpp"

namespace framebridge {
namespace typed {

// Ring frame types of typed frames (docs/schemas.md).
constexpr std::uint32_t kTypeFlatBuffers = 16;
constexpr std::uint32_t kTypeCapnp = 17;
// frame.fbs's file_identifier, at payload offset 4 of every type-16 frame.
constexpr const char* kFileIdentifier = "FRB1";
// Every type-16 claim is a multiple of this (Tensor.data has force_align: 16).
constexpr std::size_t kAlign = 16;
// The first claim before a writer has seen a frame.
constexpr std::size_t kDefaultBound = 256;
// Writers shrink their bound to the largest frame of the last kBoundWindow frames.
constexpr int kBoundWindow = 64;

inline std::size_t AlignUp(std::size_t n, std::size_t a) { return (n + a - 1) & ~(a - 1); }

// What a typed writer did (the Go frames.Stats).
struct Stats {
  std::uint64_t frames = 0;     // frames committed
  std::uint64_t bytes = 0;      // payload bytes committed (claims, gaps included)
  std::uint64_t built = 0;      // bytes of the built messages (without gaps)
  std::uint64_t fallbacks = 0;  // frames that outgrew their claim (built off-ring and copied)
};

namespace detail {

// Rewrite the first 8 bytes of a claimed view of L bytes whose last s bytes are a finished FlatBuffer:
// root offset (L - s) + r and the file identifier (docs/schemas.md, type 16, rule 3).
inline void FixRoot(std::uint8_t* view, std::size_t head, const char* ident) {
  if (head == 0) return;
  std::uint32_t r;
  std::memcpy(&r, view + head, 4);
  r = flatbuffers::EndianScalar(r) + static_cast<std::uint32_t>(head);
  r = flatbuffers::EndianScalar(r);
  std::memcpy(view, &r, 4);
  if (ident != nullptr) std::memcpy(view + 4, ident, flatbuffers::kFileIdentifierLength);
}

// Heap memory owned by a writer or reader, kept from frame to frame (grows, never shrinks). 16-byte
// aligned (operator new's default alignment on the platforms we build for). Allocation failure ends the
// process (std::bad_alloc cannot be caught under -fno-exceptions).
static_assert(__STDCPP_DEFAULT_NEW_ALIGNMENT__ >= 16, "operator new must return 16-byte aligned memory");
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : p_(o.p_), cap_(o.cap_) { o.p_ = nullptr, o.cap_ = 0; }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      ::operator delete(p_);
      p_ = o.p_, cap_ = o.cap_;
      o.p_ = nullptr, o.cap_ = 0;
    }
    return *this;
  }
  ~Buffer() { ::operator delete(p_); }

  // At least n bytes (contents not kept when it grows).
  std::uint8_t* Get(std::size_t n) {
    if (n > cap_) {
      ::operator delete(p_);
      p_ = nullptr;
      cap_ = AlignUp(n < 256 ? 256 : n + n / 2, kAlign);
      p_ = static_cast<std::uint8_t*>(::operator new(cap_));
    }
    return p_;
  }
  std::size_t capacity() const { return cap_; }

 private:
  std::uint8_t* p_ = nullptr;
  std::size_t cap_ = 0;
};

}  // namespace detail

// A flatbuffers::Allocator that hands out one claimed ring view, once, placed so that the builder's
// buffer ends where the view ends. Any further request (the builder outgrew the view) is served from
// the spill buffer and recorded; the caller then copies the finished bytes into a bigger claim.
class RingAllocator final : public flatbuffers::Allocator {
 public:
  RingAllocator(std::uint8_t* view, std::size_t n, detail::Buffer* spill) : view_(view), n_(n), spill_(spill) {}

  std::uint8_t* allocate(std::size_t size) override {
    if (!view_used_ && size <= n_) {
      view_used_ = true;
      return view_ + (n_ - size);
    }
    spilled_ = true;
    // The builder grows by reallocate_downward (below); a plain allocate after the view is the first
    // allocation of a builder whose initial size exceeded the view.
    return spill_->Get(size);
  }
  void deallocate(std::uint8_t*, std::size_t) override {}  // the view belongs to the ring, the spill to us
  std::uint8_t* reallocate_downward(std::uint8_t* old_p, std::size_t old_size, std::size_t new_size,
                                    std::size_t in_use_back, std::size_t in_use_front) override {
    spilled_ = true;
    if (old_p >= view_ && old_p < view_ + n_) {
      std::uint8_t* p = spill_->Get(new_size);
      memcpy_downward(old_p, old_size, p, new_size, in_use_back, in_use_front);
      return p;
    }
    // Growing inside the spill buffer: move through a second spill-sized step (rare: only frames that
    // outgrow the spill buffer's own growth). Keep it simple and correct with a temporary copy.
    detail::Buffer tmp;
    std::uint8_t* t = tmp.Get(old_size);
    std::memcpy(t, old_p, old_size);
    std::uint8_t* p = spill_->Get(new_size);
    memcpy_downward(t, old_size, p, new_size, in_use_back, in_use_front);
    return p;
  }

  bool spilled() const { return spilled_; }

 private:
  std::uint8_t* view_;
  std::size_t n_;
  detail::Buffer* spill_;
  bool view_used_ = false;
  bool spilled_ = false;
};

// The builder a build function receives: a plain flatbuffers::FlatBufferBuilder (use it as one), which
// can also tell how much of its buffer the scratch area (vtable offsets) takes, to size claims.
class RingBuilder : public flatbuffers::FlatBufferBuilder {
 public:
  RingBuilder(std::size_t n, RingAllocator* a) : flatbuffers::FlatBufferBuilder(n, a, false, kAlign) {}
  std::size_t scratch_size() const { return buf_.scratch_size(); }
};

// Builds FlatBuffers frames (type 16) in place in a ring, adapting its claim to the sizes it builds
// (steady state: no fallback, no heap allocation). Not safe for concurrent use; one per Writer.
class FlatBuffersWriter {
 public:
  // w is not owned and must outlive this. bound: first claim (rounded up to 16); fixed: keep it.
  explicit FlatBuffersWriter(Writer* w, std::size_t bound = kDefaultBound, bool fixed = false)
      : w_(w), bound_(AlignUp(bound == 0 ? kAlign : bound, kAlign)), fixed_(fixed) {}

  // Claim the current bound, call build(builder) (it returns the root, any flatbuffers::Offset<T>), finish
  // with `ident` (default FRB1; nullptr: none), fix the root offset at the payload start and commit.
  // build runs exactly once. *committed (optional) receives the payload size committed. `type`: the
  // ring frame type (default 16). Waits for space until dl.
  template <class F>
  Status Build(F&& build, Deadline dl = Deadline::Never(), std::size_t* committed = nullptr,
               const char* ident = kFileIdentifier, std::uint32_t type = kTypeFlatBuffers) {
    const std::size_t maxp = w_->max_payload() & ~(kAlign - 1);
    std::size_t n = bound_ < maxp ? bound_ : maxp;
    Claimed c;
    Status st = w_->Claim(type, n, dl, &c);
    if (!st) return st.Wrap("claim typed frame");
    std::size_t s = 0, need = 0;
    bool spilled = false;
    {
      RingAllocator alloc(c.data, n, &spill_);
      RingBuilder b(n, &alloc);
      auto root = build(static_cast<flatbuffers::FlatBufferBuilder&>(b));
      b.Finish(root, ident);
      s = b.GetSize();
      spilled = alloc.spilled() || b.GetBufferPointer() != c.data + (n - s);
      if (!spilled) {
        // The builder's scratch (vtable offsets, the field list of the table being built) grew from the
        // front of the view, which was zero (a ring's free space always is): its high-water mark is the
        // last non-zero byte before the body. A claim of body + scratch (+ slack) would have sufficed.
        std::size_t hw = n - s;
        while (hw > 0 && c.data[hw - 1] == 0) --hw;
        need = s + hw + 16;
        detail::FixRoot(c.data, n - s, ident);
        st = w_->Commit(n);
        if (!st) return st;
        Done(n, s, need);
        if (committed != nullptr) *committed = n;
        return Status::Ok();
      }
      // Outgrown: the finished bytes are in the spill buffer. Copy them into a claim that fits.
      need = s + b.scratch_size() + 8 * 64;  // the scratch's peak is unknown here: room for 64 fields
      w_->Abort();
      ++stats_.fallbacks;
      if (!fixed_) bound_ = AlignUp(need + need / 8, kAlign);
      const std::size_t m = AlignUp(s, kAlign);
      if (m > w_->max_payload()) {
        return Status::Error(Errc::kTooLarge, "typed frame of %zu bytes exceeds the ring's MaxPayload %zu", s,
                             w_->max_payload());
      }
      // The builder's bytes live in spill_; keep them there while we claim (the builder is destroyed
      // at the end of this scope, which frees nothing).
      const std::uint8_t* body = b.GetBufferPointer();
      st = w_->Claim(type, m, dl, &c);
      if (!st) return st.Wrap("claim typed frame (fallback)");
      std::memcpy(c.data + (m - s), body, s);
      detail::FixRoot(c.data, m - s, ident);
      st = w_->Commit(m);
      if (!st) return st;
      Done(m, s, need);
      if (committed != nullptr) *committed = m;
      return Status::Ok();
    }
  }

  // Lay out the Envelope `f` by hand (envelope.hpp: no builder, no gap) in a claim of exactly its size
  // and commit it. With f.raw, fill(std::uint8_t* dst) writes the Raw payload's f.raw_size bytes into the
  // claim first (it is not called otherwise; if it throws, the claim is aborted). Waits for space until dl.
  //
  // Envelopes of up to kStagedEnvelope bytes are staged off-ring. One without status message or trace
  // (a channel's usual response) is staged in this writer's template: the bytes of the last such shape
  // (which scalars are present, Raw and its size) laid out once, so that the next envelope of the same
  // shape only stores its scalars and payload there (the layout depends on the shape alone, so the
  // bytes are those LayEnvelope would write).
  template <class Fill>
  Status BuildEnvelope(const EnvelopeFields& f, Fill&& fill, Deadline dl = Deadline::Never(),
                       std::size_t* committed = nullptr) {
    if (!f.status_message.present() && !f.trace && (!f.raw || f.raw_size <= kStagedEnvelope)) {
      const std::uint64_t key = ShapeKey(f);
      if (key != tmpl_.key) {
        const EnvelopeLayout l(f);
        // Too large to stage, or for the ring (LayAndCommit says so): no template.
        if (!l.ok || l.size > kStagedEnvelope || l.size > w_->max_payload()) {
          return LayAndCommit(f, fill, dl, committed, l);
        }
        tmpl_.key = ~std::uint64_t{0};  // invalid until laid
        (void)LayEnvelope(tmpl_.bytes, l, f);
        namespace ef = envelope_field;
        tmpl_.status = static_cast<std::uint16_t>(l.at[ef::kStatus] != 0 ? l.p + l.at[ef::kStatus] : 0);
        tmpl_.sequence = static_cast<std::uint16_t>(l.at[ef::kSequence] != 0 ? l.p + l.at[ef::kSequence] : 0);
        tmpl_.correlation_id =
            static_cast<std::uint16_t>(l.at[ef::kCorrelationId] != 0 ? l.p + l.at[ef::kCorrelationId] : 0);
        tmpl_.deadline = static_cast<std::uint16_t>(l.at[ef::kDeadline] != 0 ? l.p + l.at[ef::kDeadline] : 0);
        tmpl_.kind = static_cast<std::uint16_t>(l.at[ef::kKind] != 0 ? l.p + l.at[ef::kKind] : 0);
        tmpl_.raw = static_cast<std::uint16_t>(f.raw ? l.raw_vec + 4 : 0);
        tmpl_.size = static_cast<std::uint16_t>(l.size);
        tmpl_.end = static_cast<std::uint16_t>(l.end);
        tmpl_.key = key;
      }
      return BuildFromTemplate(f, fill, dl, committed);
    }
    const EnvelopeLayout l(f);
    return LayAndCommit(f, fill, dl, committed, l);
  }

  // Envelopes up to this size are laid out on the stack first (BuildEnvelope).
  static constexpr std::size_t kStagedEnvelope = 256;

  const Stats& stats() const { return stats_; }
  std::size_t bound() const { return bound_; }
  Writer* writer() const { return w_; }

 private:
  // The shape of a message-less, trace-less envelope: which scalars are present, Raw and its size.
  static std::uint64_t ShapeKey(const EnvelopeFields& f) {
    return (f.status != 0 ? 1u : 0u) | (f.sequence != 0 ? 2u : 0u) | (f.correlation_id != 0 ? 4u : 0u) |
           (f.deadline_unix_nano != 0 ? 8u : 0u) | (f.kind != frames::Kind::Unspecified ? 16u : 0u) |
           (f.raw ? 32u | (static_cast<std::uint64_t>(f.raw_size) << 6) : 0u);
  }

  // The template holds f's shape: store its scalars and payload there, then copy it into a claim.
  template <class Fill>
  Status BuildFromTemplate(const EnvelopeFields& f, Fill& fill, Deadline dl, std::size_t* committed) {
    std::uint8_t* const t = tmpl_.bytes;
    const std::size_t size = tmpl_.size;
    Claimed c;
    Status st = w_->Claim(kTypeFlatBuffers, size, dl, &c);
    if (!st) return st.Wrap("claim envelope");
    if (tmpl_.status != 0) detail::Put32(t, tmpl_.status, static_cast<std::uint32_t>(f.status));
    if (tmpl_.sequence != 0) detail::Put64(t, tmpl_.sequence, f.sequence);
    if (tmpl_.correlation_id != 0) detail::Put64(t, tmpl_.correlation_id, f.correlation_id);
    if (tmpl_.deadline != 0) detail::Put64(t, tmpl_.deadline, static_cast<std::uint64_t>(f.deadline_unix_nano));
    if (tmpl_.kind != 0) t[tmpl_.kind] = static_cast<std::uint8_t>(f.kind);
    if (f.raw) {
      std::uint8_t* raw = t + tmpl_.raw;
      std::memset(raw, 0, f.raw_size);  // a fill that writes less commits zeros, not the last payload
      CallFill(fill, raw);
    }
    return CommitStaged(c, t, size, tmpl_.end, committed);
  }

  // fill(raw), aborting the claim if it throws.
  template <class Fill>
  void CallFill(Fill& fill, std::uint8_t* raw) {
#if defined(__cpp_exceptions)
    try {
      fill(raw);
    } catch (...) {
      (void)w_->Abort();
      throw;
    }
#else
    fill(raw);
#endif
  }

  // Copy size staged bytes into the claim c, the bytes that share the size word's cache line last: the
  // reader polls that line, and each of its polls between two of our stores there takes the line away
  // again; stored together just before the commit, the line is taken from the reader once. Then commit.
  Status CommitStaged(const Claimed& c, const std::uint8_t* staged, std::size_t size, std::size_t end,
                      std::size_t* committed) {
    const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(c.data);
    const std::uintptr_t line_end = ((at - layout::kRecordHeaderLength) | 63) + 1;  // the size word's line
    const std::size_t k = line_end > at ? std::min<std::size_t>(size, line_end - at) : 0;
    std::memcpy(c.data + k, staged + k, size - k);
    std::memcpy(c.data, staged, k);
    Status st = w_->Commit(size);
    if (!st) return st;
    ++stats_.frames;
    stats_.bytes += size;
    stats_.built += end;
    if (committed != nullptr) *committed = size;
    return Status::Ok();
  }

  // BuildEnvelope by its layout l: envelopes up to kStagedEnvelope bytes are laid on the stack and
  // copied in (CommitStaged), larger ones in the claim.
  template <class Fill>
  Status LayAndCommit(const EnvelopeFields& f, Fill& fill, Deadline dl, std::size_t* committed, const EnvelopeLayout& l) {
    if (!l.ok || l.size > w_->max_payload()) {
      return Status::Error(Errc::kTooLarge, "envelope of %zu bytes exceeds the ring's MaxPayload %zu",
                           l.ok ? l.size : l.end, w_->max_payload());
    }
    Claimed c;
    Status st = w_->Claim(kTypeFlatBuffers, l.size, dl, &c);
    if (!st) return st.Wrap("claim envelope");
    alignas(16) std::uint8_t staged[kStagedEnvelope];
    const bool stage = l.size <= kStagedEnvelope;
    std::uint8_t* raw = LayEnvelope(stage ? staged : c.data, l, f);
    if (raw != nullptr && stage) std::memset(raw, 0, f.raw_size);  // no stack bytes reach the ring
    if (raw != nullptr) CallFill(fill, raw);
    if (stage) return CommitStaged(c, staged, l.size, l.end, committed);
    st = w_->Commit(l.size);
    if (!st) return st;
    ++stats_.frames;
    stats_.bytes += l.size;
    stats_.built += l.end;
    if (committed != nullptr) *committed = l.size;
    return Status::Ok();
  }

  void Done(std::size_t n, std::size_t s, std::size_t need) {
    ++stats_.frames;
    stats_.bytes += n;
    stats_.built += s;
    if (fixed_) return;
    if (need > window_max_) window_max_ = need;
    if (++window_ == kBoundWindow) {
      // need already counts the builder's scratch; leave 1/16 for frames a little larger than these.
      const std::size_t t = AlignUp(window_max_ + window_max_ / 16, kAlign);
      if (t < bound_) bound_ = t;
      window_ = 0, window_max_ = 0;
    }
  }

  Writer* w_;
  std::size_t bound_;
  bool fixed_;
  int window_ = 0;
  std::size_t window_max_ = 0;
  Stats stats_;
  detail::Buffer spill_;
  // BuildEnvelope's template: the laid bytes of shape `key` (~0: none yet) and where its scalars and Raw
  // bytes go (0: absent).
  struct Template {
    std::uint64_t key = ~std::uint64_t{0};
    std::uint16_t status = 0, sequence = 0, correlation_id = 0, deadline = 0, kind = 0, raw = 0, size = 0, end = 0;
    alignas(16) std::uint8_t bytes[kStagedEnvelope];
  } tmpl_;
};

// One-shot helper: build one type-16 frame in place with a claim of `bound` bytes (no adaptive bound,
// no stats). typed::BuildFrame(writer, [&](flatbuffers::FlatBufferBuilder& b) { ...; return root; }).
template <class F>
Status BuildFrame(Writer& w, F&& build, std::size_t bound = kDefaultBound, Deadline dl = Deadline::Never(),
                  std::size_t* committed = nullptr) {
  FlatBuffersWriter fw(&w, bound, true);
  return fw.Build(static_cast<F&&>(build), dl, committed);
}

// Work limits of a verification (the FlatBuffers Verifier's options; the defaults are its defaults and
// Go's frames.DefaultLimits).
struct VerifyLimits {
  std::uint32_t max_depth = 64;       // nesting of tables and vectors
  std::uint32_t max_tables = 1000000; // tables visited, counting repeats
};

// Verify `data` (n bytes) as a FlatBuffer with root table Root and identifier ident (nullptr: not
// checked). `data` must not change during the call. Alignment is checked relative to data.
template <class Root>
Status VerifyBuffer(const std::uint8_t* data, std::size_t n, const char* ident, const VerifyLimits& lim = {}) {
  if (n < 8 || n >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return Status::Error(Errc::kCorrupt, "typed frame of %zu bytes: not a FlatBuffer of 8 bytes or more", n);
  }
  flatbuffers::Verifier::Options opts;
  opts.max_depth = lim.max_depth;
  opts.max_tables = lim.max_tables;
  opts.check_alignment = true;
  flatbuffers::Verifier v(data, n, opts);
  if (!v.VerifyBuffer<Root>(ident)) {
    return Status::Error(Errc::kCorrupt, "typed frame of %zu bytes: FlatBuffers verification failed%s", n,
                         ident != nullptr && !flatbuffers::BufferHasIdentifier(data, ident) ? " (file identifier)" : "");
  }
  return Status::Ok();
}

// Verify a type-16 payload: an Envelope with identifier FRB1 (any gap allowed). Envelopes with a NONE or
// Raw payload are checked by QuickVerifyEnvelope (envelope_verify.hpp), the Verifier's checks written out;
// whatever it does not accept goes through the flatbuffers Verifier. The outcome is the Verifier's.
inline Status VerifyEnvelope(const std::uint8_t* data, std::size_t n, const VerifyLimits& lim = {}) {
  if (lim.max_depth >= kQuickVerifyDepth && lim.max_tables >= kQuickVerifyTables && QuickVerifyEnvelope(data, n)) {
    return Status::Ok();
  }
  return VerifyBuffer<frames::Envelope>(data, n, kFileIdentifier, lim);
}

// VerifyEnvelope(data, n) with the same outcome for every input, remembering shapes in *shape: a buffer
// of the remembered shape is accepted after a masked comparison (envelope_shape.hpp).
inline Status VerifyEnvelope(const std::uint8_t* data, std::size_t n, EnvelopeShape* shape) {
  if (shape->Same(data, n) || shape->Verify(data, n)) return Status::Ok();
  return VerifyBuffer<frames::Envelope>(data, n, kFileIdentifier);
}

enum class ReadMode {
  kCopy,     // copy the payload into a private buffer, verify and read the copy (default; any writer)
  kInPlace,  // verify and read in the ring (zero-copy; only for writers trusted not to modify committed frames)
};

// Opens typed FlatBuffers frames after verifying them. Not safe for concurrent use. With kCopy the
// returned root is valid until the next Open (independent of the ring's Release); with kInPlace until
// the frame is released.
class FlatBuffersReader {
 public:
  explicit FlatBuffersReader(ReadMode mode = ReadMode::kCopy, VerifyLimits lim = {}) : mode_(mode), lim_(lim) {}

  // Verify `data` (n bytes, a type-16 payload) and return its root. Errc::kCorrupt when invalid.
  template <class Root = frames::Envelope>
  Status Open(const std::uint8_t* data, std::size_t n, const Root** out, const char* ident = kFileIdentifier) {
    *out = nullptr;
    const std::uint8_t* p = data;
    if (mode_ == ReadMode::kCopy && n > 0) {
      std::uint8_t* q = buf_.Get(n);
      std::memcpy(q, data, n);
      p = q;
    }
    if (mode_ == ReadMode::kInPlace && (reinterpret_cast<std::uintptr_t>(data) & 7) != 0) {
      return Status::Error(Errc::kCorrupt, "typed frame at a misaligned address");
    }
    Status st = VerifyBuffer<Root>(p, n, ident, lim_);
    if (!st) return st;
    *out = flatbuffers::GetRoot<Root>(p);
    return Status::Ok();
  }
  // The same for a frame from Reader::Next; checks its ring type (16) too.
  template <class Root = frames::Envelope>
  Status Open(const Frame& f, const Root** out, const char* ident = kFileIdentifier,
              std::uint32_t type = kTypeFlatBuffers) {
    if (f.type != type) {
      *out = nullptr;
      return Status::Error(Errc::kInvalidArgument, "frame of type %u is not a typed FlatBuffers frame (type %u)",
                           f.type, type);
    }
    return Open<Root>(f.data, f.size, out, ident);
  }

  ReadMode mode() const { return mode_; }

 private:
  ReadMode mode_;
  VerifyLimits lim_;
  detail::Buffer buf_;
};

}  // namespace typed
}  // namespace framebridge

#endif  // FRAMEBRIDGE_TYPED_HPP
