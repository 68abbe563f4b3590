// What channel clients and servers share (docs/channels.md §3, §5): ring names and default sizes, gRPC
// status codes, the Message a build function returns, envelope construction, clock conversions and the
// wake-up of ring sleepers on a peer's death.
#ifndef FRAMEBRIDGE_CHANNEL_COMMON_HPP
#define FRAMEBRIDGE_CHANNEL_COMMON_HPP

#include <sched.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "flatbuffers/flatbuffers.h"
#include "framebridge/atomic.hpp"
#include "framebridge/frames/frame_generated.h"
#include "framebridge/layout.hpp"
#include "framebridge/status.hpp"
#include "framebridge/sys.hpp"
#include "framebridge/typed.hpp"
#include "framebridge/wait.hpp"

namespace framebridge {
namespace channel {

// The connection segment's rings, in this order (§3).
constexpr const char* kRequestsRing = "requests";
constexpr const char* kResponsesRing = "responses";
constexpr const char* kSegmentName = "framebridge-channel";
constexpr std::uint32_t kDefaultRingBytes = 64u << 10;
constexpr std::uint32_t kDefaultMaxRingBytes = 16u << 20;

// Whether a call's Status carries the server's non-zero gRPC status (Errc::kRemoteStatus):
// Response::code() and Response::message() hold it; the Status message reads
// "server status <code>: <message>".
inline bool IsRemoteStatus(const Status& s) { return s.code() == Errc::kRemoteStatus; }

// gRPC status codes carried in Envelope.status.
namespace code {
constexpr std::int32_t kOk = 0;
constexpr std::int32_t kCancelled = 1;
constexpr std::int32_t kUnknown = 2;
constexpr std::int32_t kInvalidArgument = 3;
constexpr std::int32_t kDeadlineExceeded = 4;
constexpr std::int32_t kResourceExhausted = 8;
constexpr std::int32_t kInternal = 13;
constexpr std::int32_t kUnavailable = 14;
}  // namespace code

// What a build function returns: the envelope's sequence, payload and trace, built with the builder it
// was given. kind, correlation id, deadline and status are filled in by the channel.
struct Message {
  std::uint64_t sequence = 0;
  frames::Payload payload_type = frames::Payload::NONE;
  flatbuffers::Offset<void> payload;
  flatbuffers::Offset<frames::TraceContext> trace;
};

// A message whose payload is Raw bytes, laid out without a builder (typed::LayEnvelope; docs/schemas.md
// "Go: building an Envelope" is the same idea): the fast path for byte payloads
// (Client::CallRaw/StartRaw/SendRaw, Responder::ReplyRaw). The frame is exactly as large as its content.
struct RawMessage {
  std::uint64_t sequence = 0;
  const std::uint8_t* data = nullptr;  // size bytes copied into the frame (the overloads with a fill
  std::size_t size = 0;                // function write them in place instead, and ignore data)
  bool trace = false;                  // a TraceContext with these strings (either may be absent)
  typed::StrField traceparent, tracestate;
};

namespace detail {

// Copies a RawMessage's bytes into the frame (the Raw overloads without a fill function).
struct CopyRaw {
  const RawMessage* m;
  void operator()(std::uint8_t* dst) const {
    if (m->size != 0) std::memcpy(dst, m->data, m->size);
  }
};

// The lock a ring's writing threads share, held only while one frame is claimed, built and committed
// (never while waiting for space or a response): test-and-test-and-set with a pause, yielding the CPU
// every 128 turns so a preempted holder can run. Uncontended: one exchange and one store, no system call.
class SpinLock {
 public:
  void lock() noexcept {
    for (unsigned i = 1;; ++i) {
      if (!held_.load(std::memory_order_relaxed) && !held_.exchange(true, std::memory_order_acquire)) return;
      if (i % 128 == 0) {
        sched_yield();
      } else {
        atomics::CpuRelax();
      }
    }
  }
  void unlock() noexcept { held_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> held_{false};
};

// CLOCK_MONOTONIC deadline -> Envelope.deadline_unix_nano (CLOCK_REALTIME; 0 = none).
inline std::int64_t ToUnixDeadline(Deadline dl) {
  if (dl.is_never()) return 0;
  const std::int64_t left = dl.at_ns - sys::MonotonicNanos();
  const std::int64_t now = sys::RealtimeNanos();
  return left > INT64_MAX - now ? 0 : now + (left < 1 ? 1 : left);
}

// Envelope.deadline_unix_nano -> CLOCK_MONOTONIC deadline (Never for 0 or negative).
inline Deadline FromUnixDeadline(std::int64_t unix_ns) {
  if (unix_ns <= 0) return Deadline::Never();
  const std::int64_t left = unix_ns - sys::RealtimeNanos();
  if (left <= 0) return Deadline::At(1);
  return Deadline::After(left);
}

// Build an Envelope around the user's Message: the fields the channel owns plus the message's.
inline flatbuffers::Offset<frames::Envelope> FinishEnvelope(flatbuffers::FlatBufferBuilder& b, const Message& m,
                                                            frames::Kind kind, std::uint64_t correlation_id,
                                                            std::int64_t deadline_unix_nano, std::int32_t status,
                                                            flatbuffers::Offset<flatbuffers::String> status_message) {
  frames::EnvelopeBuilder eb(b);
  eb.add_sequence(m.sequence);
  eb.add_correlation_id(correlation_id);
  eb.add_deadline_unix_nano(deadline_unix_nano);
  if (!m.trace.IsNull()) eb.add_trace(m.trace);
  if (!m.payload.IsNull()) eb.add_payload(m.payload);
  if (!status_message.IsNull()) eb.add_status_message(status_message);
  eb.add_status(status);
  eb.add_payload_type(m.payload_type);
  eb.add_kind(kind);
  return eb.Finish();
}

// Wake every thread sleeping on a ring's eventcount at signal_off (a peer died: they re-check).
inline void WakeRing(unsigned char* ring, std::size_t signal_off) {
  atomics::FetchAddSeqCst<std::uint32_t>(ring, signal_off, 1);
  sys::FutexWakeAll(ring + signal_off);
}

// Copy a frame's payload into buf (reused) and verify it as an Envelope; *env receives the root. With a
// shape, the copy is verified against the shape of the last envelope verified through it first.
inline Status CopyAndVerify(const std::uint8_t* data, std::size_t n, typed::detail::Buffer* buf,
                            const frames::Envelope** env, typed::EnvelopeShape* shape = nullptr) {
  *env = nullptr;
  if (n < 8) return Status::Error(Errc::kCorrupt, "envelope of %zu bytes: too short", n);
  std::uint8_t* p = buf->Get(n);
  std::memcpy(p, data, n);
  Status st = shape != nullptr ? typed::VerifyEnvelope(p, n, shape) : typed::VerifyEnvelope(p, n);
  if (!st) return st;
  *env = flatbuffers::GetRoot<frames::Envelope>(p);
  return Status::Ok();
}

}  // namespace detail
}  // namespace channel
}  // namespace framebridge

#endif  // FRAMEBRIDGE_CHANNEL_COMMON_HPP
