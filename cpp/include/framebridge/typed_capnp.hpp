// Typed frames, Cap'n Proto (ring frame type 17): built in place through a single-segment arena over the
// claimed view and read with traversal / nesting limits. Encoding: docs/schemas.md ("Type 17"); policy:
// its "C++" section.
//
// Unlike the rest of framebridge this header NEEDS EXCEPTIONS: the Cap'n Proto runtime (capnp/kj 0.9.2)
// reports a malformed message or an exhausted limit by throwing kj::Exception. Every entry point here
// catches them and returns a Status; accessors you call yourself on a reader may still throw (they are
// bounds-checked and counted against the traversal limit, never reading outside the message). Link
// `capnp kj` and compile cpp/include/framebridge/frames/frame.capnp.c++ into your target (CMake: the
// target framebridge::frames_capnp does both).
#ifndef FRAMEBRIDGE_TYPED_CAPNP_HPP
#define FRAMEBRIDGE_TYPED_CAPNP_HPP

#if !defined(__cpp_exceptions) && !defined(__EXCEPTIONS)
#error "framebridge/typed_capnp.hpp needs exceptions (Cap'n Proto throws kj::Exception); framebridge/typed.hpp does not"
#endif

#include <capnp/any.h>
#include <capnp/message.h>
#include <kj/exception.h>
#include <kj/vector.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>

#include "framebridge/frames/frame.capnp.h"
#include "framebridge/ring.hpp"
#include "framebridge/status.hpp"
#include "framebridge/typed.hpp"

namespace framebridge {
namespace typed {

// A capnp::MessageBuilder whose first (and normally only) segment is a caller's view, e.g. a claimed
// ring view (8-byte aligned, zeroed here). A message that needs a second segment gets it from the heap
// and spilled() turns true: the message is then not a single-segment frame in the view.
class SingleSegmentBuilder final : public capnp::MessageBuilder {
 public:
  SingleSegmentBuilder(std::uint8_t* view, std::size_t n)
      : view_(reinterpret_cast<capnp::word*>(view), n / sizeof(capnp::word)) {
    std::memset(view, 0, view_.size() * sizeof(capnp::word));
  }
  ~SingleSegmentBuilder() noexcept(false) override = default;

  kj::ArrayPtr<capnp::word> allocateSegment(unsigned int minimum) override {
    if (!first_ && minimum <= view_.size()) {
      first_ = true;
      return view_;
    }
    first_ = true;
    spilled_ = true;
    const std::size_t n = minimum < 1024 ? 1024 : minimum;
    kj::Array<capnp::word> a = kj::heapArray<capnp::word>(n);
    std::memset(a.begin(), 0, n * sizeof(capnp::word));
    kj::ArrayPtr<capnp::word> p = a;
    spills_.add(kj::mv(a));
    return p;
  }

  bool spilled() const { return spilled_; }
  // Bytes of the view the message uses, if it is a single segment in the view; 0 otherwise.
  std::size_t UsedInView() {
    if (spilled_) return 0;
    auto segs = getSegmentsForOutput();
    if (segs.size() != 1 || segs[0].begin() != view_.begin()) return 0;
    return segs[0].size() * sizeof(capnp::word);
  }

 private:
  kj::ArrayPtr<capnp::word> view_;
  bool first_ = false;
  bool spilled_ = false;
  kj::Vector<kj::Array<capnp::word>> spills_;
};

namespace detail {
inline Status FromException(Errc code, const char* what, const kj::Exception& e) {
  return Status::Error(code, "%s: %s", what, e.getDescription().cStr());
}
}  // namespace detail

// Builds Cap'n Proto frames (type 17) in place, adapting its claim to the sizes it builds. Not safe for
// concurrent use; one per Writer.
class CapnpWriter {
 public:
  explicit CapnpWriter(Writer* w, std::size_t bound = kDefaultBound, bool fixed = false)
      : w_(w), bound_(AlignUp(bound < 8 ? 8 : bound, 8)), fixed_(fixed) {}

  // Claim the current bound, call build(message) (a capnp::MessageBuilder&: build sets its root, e.g.
  // message.initRoot<frames::capnp::Envelope>()), commit the words used. build runs exactly once. If the
  // message outgrows the claim it continues on the heap and is then copied (one segment) into a claim
  // that fits (Stats::fallbacks). An exception from build aborts the claim and is returned as a Status
  // (kj::Exception, std::exception) or rethrown (anything else).
  template <class F>
  Status Build(F&& build, Deadline dl = Deadline::Never(), std::size_t* committed = nullptr,
               std::uint32_t type = kTypeCapnp) {
    const std::size_t maxp = w_->max_payload() & ~std::size_t{7};
    const std::size_t n = bound_ < maxp ? bound_ : maxp;
    Claimed c;
    Status st = w_->Claim(type, n, dl, &c);
    if (!st) return st.Wrap("claim typed frame");
    if ((reinterpret_cast<std::uintptr_t>(c.data) & 7) != 0) {
      w_->Abort();
      return Status::Error(Errc::kState, "claimed view is not 8-byte aligned");
    }
    std::optional<SingleSegmentBuilder> msg;
    msg.emplace(c.data, n);
    std::size_t used = 0;
    std::uint64_t words = 0;
    try {
      build(static_cast<capnp::MessageBuilder&>(*msg));
      used = msg->UsedInView();
      if (used == 0) words = msg->getRoot<capnp::AnyPointer>().asReader().targetSize().wordCount + 1;
    } catch (const kj::Exception& e) {
      w_->Abort();
      return detail::FromException(Errc::kInvalidArgument, "build Cap'n Proto frame", e);
    } catch (const std::exception& e) {
      w_->Abort();
      return Status::Error(Errc::kInvalidArgument, "build Cap'n Proto frame: %s", e.what());
    } catch (...) {
      w_->Abort();
      throw;
    }
    if (used != 0) {
      st = w_->Commit(used);
      if (!st) return st;
      Done(used);
      if (committed != nullptr) *committed = used;
      return Status::Ok();
    }
    // Outgrown: the message is partly in the claimed view, partly on the heap. Flatten it into one
    // segment of the spill buffer (the view is cleared by Abort), then copy that into a claim that fits.
    ++stats_.fallbacks;
    const std::size_t m = static_cast<std::size_t>(words) * sizeof(capnp::word);
    if (!fixed_) bound_ = AlignUp(m + m / 8 + 64, 8);
    try {
      SingleSegmentBuilder flat(spill_.Get(m), m);
      flat.getRoot<capnp::AnyPointer>().set(msg->getRoot<capnp::AnyPointer>().asReader());
      used = flat.UsedInView();
    } catch (const kj::Exception& e) {
      w_->Abort();
      return detail::FromException(Errc::kState, "copy Cap'n Proto frame", e);
    }
    msg.reset();
    w_->Abort();
    if (used == 0) return Status::Error(Errc::kState, "copy Cap'n Proto frame: %zu bytes did not hold it", m);
    if (used > w_->max_payload()) {
      return Status::Error(Errc::kTooLarge, "Cap'n Proto frame of %zu bytes exceeds the ring's MaxPayload %zu", used,
                           w_->max_payload());
    }
    st = w_->Claim(type, used, dl, &c);
    if (!st) return st.Wrap("claim typed frame (fallback)");
    std::memcpy(c.data, spill_.Get(m), used);
    st = w_->Commit(used);
    if (!st) return st;
    Done(used);
    if (committed != nullptr) *committed = used;
    return Status::Ok();
  }

  const Stats& stats() const { return stats_; }
  std::size_t bound() const { return bound_; }

 private:
  void Done(std::size_t n) {
    ++stats_.frames;
    stats_.bytes += n;
    stats_.built += n;
    if (fixed_) return;
    if (n > window_max_) window_max_ = n;
    if (++window_ == kBoundWindow) {
      const std::size_t t = AlignUp(window_max_ + window_max_ / 8, 8);
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
};

// One-shot helper: typed::BuildCapnpFrame(writer, [&](capnp::MessageBuilder& m) { auto e =
// m.initRoot<frames::capnp::Envelope>(); ... }).
template <class F>
Status BuildCapnpFrame(Writer& w, F&& build, std::size_t bound = kDefaultBound, Deadline dl = Deadline::Never(),
                       std::size_t* committed = nullptr) {
  CapnpWriter cw(&w, bound, true);
  return cw.Build(static_cast<F&&>(build), dl, committed);
}

// Limits of a Cap'n Proto read (the Go frames.CapnpLimits).
struct CapnpLimits {
  // Words of structs and lists a reader may fetch, counting repeats (the amplification guard).
  // 0: 8 x the frame (in words), at least 8192 words (64 KiB).
  std::uint64_t traversal_words = 0;
  int nesting = 64;  // pointer nesting
};

// Walk every pointer field of an Envelope (strings, lists, nested structs) so that a malformed frame
// throws here, within the message's traversal limit, instead of in the caller's accessors.
inline void WalkEnvelope(frames::capnp::Envelope::Reader e) {
  (void)e.getStatusMessage();
  auto tc = e.getTrace();
  (void)tc.getTraceparent();
  (void)tc.getTracestate();
  auto p = e.getPayload();
  switch (p.which()) {
    case frames::capnp::Envelope::Payload::MEDIA_CHUNK: {
      auto m = p.getMediaChunk();
      (void)m.getCodec();
      (void)m.getData();
      break;
    }
    case frames::capnp::Envelope::Payload::MODEL_REQUEST: {
      auto m = p.getModelRequest();
      (void)m.getModelName();
      (void)m.getModelVersion();
      auto t = m.getFeatures();
      (void)t.getShape();
      (void)t.getData();
      break;
    }
    case frames::capnp::Envelope::Payload::MODEL_RESPONSE: {
      auto m = p.getModelResponse();
      (void)m.getModelName();
      (void)m.getModelVersion();
      (void)m.getScores();
      for (auto l : m.getLabels()) (void)l;
      break;
    }
    case frames::capnp::Envelope::Payload::RAW:
      (void)p.getRaw();
      break;
    default:
      break;
  }
}

// Opens typed Cap'n Proto frames with limits. ReadMode::kCopy (default) reads a private copy (valid
// until the next Open); kInPlace reads the ring (valid until Release; only for trusted writers, see
// docs/schemas.md). Not safe for concurrent use.
class CapnpReader {
 public:
  explicit CapnpReader(ReadMode mode = ReadMode::kCopy, CapnpLimits lim = {}) : mode_(mode), lim_(lim) {}

  // Open data (n bytes, a type-17 payload) as a message with root Root, without walking it: accessors
  // are bounds-checked and counted against the traversal limit, and throw kj::Exception when bad.
  template <class Root>
  Status OpenRoot(const std::uint8_t* data, std::size_t n, typename Root::Reader* out) {
    if (n < 8 || n % 8 != 0) {
      return Status::Error(Errc::kCorrupt, "Cap'n Proto segment of %zu bytes is not a non-empty whole number of words", n);
    }
    const std::uint8_t* p = data;
    if (mode_ == ReadMode::kCopy) {
      std::uint8_t* q = buf_.Get(n);
      std::memcpy(q, data, n);
      p = q;
    } else if ((reinterpret_cast<std::uintptr_t>(data) & 7) != 0) {
      return Status::Error(Errc::kCorrupt, "Cap'n Proto frame at a misaligned address");
    }
    seg_ = kj::ArrayPtr<const capnp::word>(reinterpret_cast<const capnp::word*>(p), n / 8);
    capnp::ReaderOptions opts;
    const std::uint64_t words = n / 8;
    opts.traversalLimitInWords = lim_.traversal_words != 0 ? lim_.traversal_words : (8 * words < 8192 ? 8192 : 8 * words);
    opts.nestingLimit = lim_.nesting;
    msg_.reset();
    msg_.emplace(kj::arrayPtr(&seg_, 1), opts);
    try {
      *out = msg_->getRoot<Root>();
    } catch (const kj::Exception& e) {
      return detail::FromException(Errc::kCorrupt, "Cap'n Proto root", e);
    }
    return Status::Ok();
  }

  // Open a type-17 Envelope and walk all of it (WalkEnvelope): kCorrupt if any pointer is bad or a limit
  // is reached. Reading the returned envelope's fields again stays within the limits.
  Status Open(const std::uint8_t* data, std::size_t n, frames::capnp::Envelope::Reader* out) {
    Status st = OpenRoot<frames::capnp::Envelope>(data, n, out);
    if (!st) return st;
    try {
      WalkEnvelope(*out);
    } catch (const kj::Exception& e) {
      return detail::FromException(Errc::kCorrupt, "Cap'n Proto envelope", e);
    }
    return Status::Ok();
  }
  Status Open(const Frame& f, frames::capnp::Envelope::Reader* out) {
    if (f.type != kTypeCapnp) {
      return Status::Error(Errc::kInvalidArgument, "frame of type %u is not a typed Cap'n Proto frame (type %u)",
                           f.type, kTypeCapnp);
    }
    return Open(f.data, f.size, out);
  }

 private:
  ReadMode mode_;
  CapnpLimits lim_;
  detail::Buffer buf_;
  kj::ArrayPtr<const capnp::word> seg_;
  std::optional<capnp::SegmentArrayMessageReader> msg_;
};

}  // namespace typed
}  // namespace framebridge

#endif  // FRAMEBRIDGE_TYPED_CAPNP_HPP
