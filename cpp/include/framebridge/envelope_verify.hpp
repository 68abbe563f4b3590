// QuickVerifyEnvelope: the flatbuffers Verifier's checks of an Envelope (schemas/frame.fbs) written out
// for the envelopes the channels' fast paths send: payload NONE or Raw, with or without a status message
// and a trace. typed::VerifyEnvelope tries it first and runs the generic Verifier whenever it does not
// accept (another payload type, or a check failed: a bad frame pays for both, a good one for this only),
// so the outcome is the Verifier's either way, minus its per-field calls and the identifier's strncmp.
//
// Each check below is the one flatbuffers::Verifier (2.0.x, Options{check_alignment = true}) makes at
// that point, in its terms: Verify(elem, len) is `len < n && elem <= n - len`, offsets are loaded once
// and bounds-checked before anything is read through them, vtable offsets subtract a signed soffset in
// unsigned arithmetic as the Verifier does. Depth is at most 2 and at most 3 tables are visited.
// test_envelope checks that it agrees with the Verifier on laid, builder-made and mutated envelopes;
// fuzz_typed checks it on arbitrary bytes.
#ifndef FRAMEBRIDGE_ENVELOPE_VERIFY_HPP
#define FRAMEBRIDGE_ENVELOPE_VERIFY_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "flatbuffers/flatbuffers.h"
#include "framebridge/frames/frame_generated.h"

namespace framebridge {
namespace typed {

// The most a quick verification visits: the limits it needs from VerifyLimits.
constexpr unsigned kQuickVerifyDepth = 2, kQuickVerifyTables = 3;

namespace detail {

// No record of what a verification reads (QuickVerifyEnvelope).
struct NoReads {
  void operator()(std::size_t, std::size_t) const {}
};

// The Verifier's bounds and alignment checks over one buffer, and little-endian loads. Every byte it
// loads is reported to reads(at, len) first (EnvelopeShape records them; NoReads compiles to nothing).
template <class Reads = NoReads>
class QuickVerifier {
 public:
  QuickVerifier(const std::uint8_t* b, std::size_t n, Reads reads = Reads()) : b_(b), n_(n), reads_(reads) {}

  // Verify(elem, len).
  bool In(std::size_t at, std::size_t len) const { return len < n_ && at <= n_ - len; }
  // Verify<T>(elem): aligned to its size and inside.
  bool Scalar(std::size_t at, std::size_t size) const { return (at & (size - 1)) == 0 && In(at, size); }
  std::uint16_t U16(std::size_t at) const { return Load<std::uint16_t>(at); }
  std::uint32_t U32(std::size_t at) const { return Load<std::uint32_t>(at); }
  std::uint8_t U8(std::size_t at) const {
    reads_(at, 1);
    return b_[at];
  }

  // VerifyTableStart(t): *vt receives the vtable's position, *vsize its size.
  bool TableStart(std::size_t t, std::size_t* vt, std::size_t* vsize) const {
    if (!Scalar(t, 4)) return false;
    const std::int32_t so = static_cast<std::int32_t>(U32(t));
    const std::size_t v = t - static_cast<std::size_t>(static_cast<std::int64_t>(so));  // wraps as the Verifier's
    if (!Scalar(v, 2)) return false;
    const std::size_t vs = U16(v);
    if ((vs & 1) != 0 || !In(v, vs)) return false;
    *vt = v, *vsize = vs;
    return true;
  }
  // GetOptionalFieldOffset: the field's offset in its table, 0 when absent.
  std::size_t Slot(std::size_t vt, std::size_t vsize, std::size_t field) const { return field < vsize ? U16(vt + field) : 0; }
  // VerifyField<T>(table, slot, align) for a scalar of `size` bytes.
  bool Field(std::size_t t, std::size_t off, std::size_t size) const { return off == 0 || Scalar(t + off, size); }
  // VerifyOffset(at): *to receives the object's position (at + uoffset).
  bool Offset(std::size_t at, std::size_t* to) const {
    if (!Scalar(at, 4)) return false;
    const std::uint32_t o = U32(at);
    if (o == 0 || o > 0x7FFFFFFFu || !In(at + o, 1)) return false;
    *to = at + o;
    return true;
  }
  // VerifyVectorOrString(v, 1) (+ the terminator for a string).
  bool Bytes(std::size_t v, bool string) const {
    if (!Scalar(v, 4)) return false;
    const std::size_t len = U32(v);
    if (len >= FLATBUFFERS_MAX_BUFFER_SIZE) return false;
    if (!In(v, 4 + len)) return false;
    return !string || (In(v + 4 + len, 1) && U8(v + 4 + len) == 0);
  }
  // A table field holding a uoffset to a string: absent, or a valid string.
  bool StringField(std::size_t t, std::size_t off) const {
    std::size_t s = 0;
    return off == 0 || (Offset(t + off, &s) && Bytes(s, true));
  }

 private:
  template <class T>
  T Load(std::size_t at) const {
    reads_(at, sizeof(T));
    T x;
    std::memcpy(&x, b_ + at, sizeof x);
    return flatbuffers::EndianScalar(x);
  }
  const std::uint8_t* b_;
  std::size_t n_;
  Reads reads_;
};

}  // namespace detail

// Whether b[0, n) is an Envelope with identifier FRB1 that flatbuffers::Verifier accepts, checked
// directly for payload types NONE and Raw. False: another payload type, or invalid (the caller asks the
// Verifier). Needs VerifyLimits of at least kQuickVerifyDepth and kQuickVerifyTables (the caller checks).
// b must not change during the call (verify a private copy). reads(at, len) is told of every byte range
// the verification loads, before it loads it: its outcome depends on n and those bytes alone.
template <class Reads = detail::NoReads>
inline bool QuickVerifyEnvelope(const std::uint8_t* b, std::size_t n, Reads reads = Reads()) {
  using E = frames::Envelope;
  constexpr std::uint8_t kNone = static_cast<std::uint8_t>(frames::Payload::NONE);
  constexpr std::uint8_t kRaw = static_cast<std::uint8_t>(frames::Payload::Raw);
  // VerifyBufferFromStart: minimum size, identifier, root offset (n < 2^31 keeps every sum below in range).
  if (n < 12 || n >= FLATBUFFERS_MAX_BUFFER_SIZE) return false;
  reads(4, 4);
  if (std::memcmp(b + 4, frames::EnvelopeIdentifier(), 4) != 0) return false;
  const detail::QuickVerifier<Reads> v(b, n, reads);
  std::size_t t = 0, vt = 0, vs = 0;
  if (!v.Offset(0, &t) || !v.TableStart(t, &vt, &vs)) return false;
  // Envelope's fields, as its Verify checks them.
  if (!v.Field(t, v.Slot(vt, vs, E::VT_SEQUENCE), 8) || !v.Field(t, v.Slot(vt, vs, E::VT_STATUS), 4) ||
      !v.StringField(t, v.Slot(vt, vs, E::VT_STATUS_MESSAGE)) || !v.Field(t, v.Slot(vt, vs, E::VT_KIND), 1) ||
      !v.Field(t, v.Slot(vt, vs, E::VT_CORRELATION_ID), 8) || !v.Field(t, v.Slot(vt, vs, E::VT_DEADLINE_UNIX_NANO), 8)) {
    return false;
  }
  if (const std::size_t trace = v.Slot(vt, vs, E::VT_TRACE)) {
    // VerifyOffset, then VerifyTable(TraceContext): two optional strings.
    std::size_t tt = 0, tvt = 0, tvs = 0;
    if (!v.Offset(t + trace, &tt) || !v.TableStart(tt, &tvt, &tvs)) return false;
    if (!v.StringField(tt, v.Slot(tvt, tvs, frames::TraceContext::VT_TRACEPARENT)) ||
        !v.StringField(tt, v.Slot(tvt, tvs, frames::TraceContext::VT_TRACESTATE))) {
      return false;
    }
  }
  const std::size_t ptype_at = v.Slot(vt, vs, E::VT_PAYLOAD_TYPE), payload = v.Slot(vt, vs, E::VT_PAYLOAD);
  if (!v.Field(t, ptype_at, 1)) return false;
  std::size_t pt = 0;
  if (payload != 0 && !v.Offset(t + payload, &pt)) return false;
  const std::uint8_t ptype = ptype_at != 0 ? v.U8(t + ptype_at) : kNone;
  // VerifyPayload: NONE is valid whatever the payload field holds, a Raw without one too.
  if (ptype == kNone) return true;
  if (ptype != kRaw) return false;
  if (payload == 0) return true;
  // VerifyTable(Raw): its data vector, if present.
  std::size_t rvt = 0, rvs = 0, data = 0;
  if (!v.TableStart(pt, &rvt, &rvs)) return false;
  const std::size_t doff = v.Slot(rvt, rvs, frames::Raw::VT_DATA);
  return doff == 0 || (v.Offset(pt + doff, &data) && v.Bytes(data, false));
}

}  // namespace typed
}  // namespace framebridge

#endif  // FRAMEBRIDGE_ENVELOPE_VERIFY_HPP
