// Envelopes laid out by hand (the C++ twin of Go's frames.Writer.BuildEnvelope; docs/schemas.md "Go:
// building an Envelope"): an Envelope whose payload is Raw (or none), with its status message and trace,
// written straight into the claimed ring space without a flatbuffers::FlatBufferBuilder. The result is
// an ordinary type-16 buffer (root offset and "FRB1" at 0) that flatbuffers::Verifier accepts and every
// language reads like one made by a builder; only its layout differs. Front to back:
//
//   0     4      8                       p (8-aligned)                         te
//   | root | FRB1 | Envelope vtable:      | soffset = p - 8 | 4-byte fields | pad | 8-byte fields |
//   |  = p |      | vsize, tsize, slots   | 1-byte fields |
//   te: [Raw vtable 6, 8, 4 | pad | Raw table: soffset, uoffset 4 | u32 n | n bytes | pad to 4]
//       [status_message: u32 n | n bytes | 0 | pad to 4]
//       [TraceContext vtable | pad | table: soffset, uoffsets | traceparent string | tracestate string]
//       zero padding to a multiple of 16 (the committed size)
//
// Only present fields get a vtable slot (zero scalars are left out, as builders leave out defaults) and
// the vtable ends at the last present field. Every byte of the frame is written (padding as zero), so
// the same fields always give the same bytes. The frame takes exactly EnvelopeLayout::size bytes: no
// gap, no claim bound to adapt, no scan, no copy but the payload's.
#ifndef FRAMEBRIDGE_ENVELOPE_HPP
#define FRAMEBRIDGE_ENVELOPE_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "framebridge/frames/frame_generated.h"

namespace framebridge {
namespace typed {

// A string field: size bytes at data (no NUL needed). data == nullptr: absent.
struct StrField {
  const char* data = nullptr;
  std::size_t size = 0;
  bool present() const { return data != nullptr; }
};

// An Envelope's content for LayEnvelope / FlatBuffersWriter::BuildEnvelope. Scalars that are zero are
// left out. raw: the payload is Raw{data: raw_size bytes} (the caller writes the bytes where LayEnvelope
// says); otherwise there is no payload.
struct EnvelopeFields {
  std::uint64_t sequence = 0;
  std::int32_t status = 0;
  frames::Kind kind = frames::Kind::Unspecified;
  std::uint64_t correlation_id = 0;
  std::int64_t deadline_unix_nano = 0;
  StrField status_message;
  bool trace = false;  // a TraceContext with these strings (either may be absent)
  StrField traceparent, tracestate;
  bool raw = false;
  std::size_t raw_size = 0;
};

// The largest string or Raw payload LayEnvelope takes (the sum stays far below 2^32).
constexpr std::size_t kMaxEnvelopeField = std::size_t{1} << 30;

// Envelope field ids (vtable slot 4 + 2 * id) of schemas/frame.fbs; test_typed checks them against the
// generated code's VT_ constants.
namespace envelope_field {
constexpr int kSequence = 0, kStatus = 1, kStatusMessage = 2, kKind = 3, kCorrelationId = 4, kDeadline = 5,
              kTrace = 6, kPayloadType = 7, kPayload = 8, kCount = 9;
}  // namespace envelope_field

// Where everything goes (offsets from the frame's start), computed from the fields alone.
struct EnvelopeLayout {
  std::uint16_t at[envelope_field::kCount] = {};  // field offsets in the Envelope table (0: absent)
  std::size_t vsize = 0, tsize = 0;               // Envelope vtable and table sizes
  std::size_t vt = 8, p = 0;                      // Envelope vtable and table
  std::size_t raw_vt = 0, raw_t = 0, raw_vec = 0;  // Raw vtable, table, vector (raw only)
  std::size_t msg = 0;                            // status_message string
  std::size_t tr_vt = 0, tr_vsize = 0, tr_t = 0, tr_parent = 0, tr_state = 0;  // TraceContext
  std::size_t end = 0;   // bytes used
  std::size_t size = 0;  // end rounded up to 16: the frame's size
  bool ok = false;       // false: a string or the payload exceeds kMaxEnvelopeField

  explicit EnvelopeLayout(const EnvelopeFields& f) {
    namespace ef = envelope_field;
    if ((f.raw && f.raw_size > kMaxEnvelopeField) || f.status_message.size > kMaxEnvelopeField ||
        f.traceparent.size > kMaxEnvelopeField || f.tracestate.size > kMaxEnvelopeField) {
      return;
    }
    std::size_t o = 4;  // after the soffset
    auto put = [&](int id, std::size_t n) {
      at[id] = static_cast<std::uint16_t>(o);
      o += n;
    };
    if (f.status != 0) put(ef::kStatus, 4);
    if (f.status_message.present()) put(ef::kStatusMessage, 4);
    if (f.trace) put(ef::kTrace, 4);
    if (f.raw) put(ef::kPayload, 4);
    const bool wide = f.sequence != 0 || f.correlation_id != 0 || f.deadline_unix_nano != 0;
    if (wide && (o & 7) != 0) o += 4;  // 8-byte fields 8-aligned, as the table
    if (f.sequence != 0) put(ef::kSequence, 8);
    if (f.correlation_id != 0) put(ef::kCorrelationId, 8);
    if (f.deadline_unix_nano != 0) put(ef::kDeadline, 8);
    if (f.kind != frames::Kind::Unspecified) put(ef::kKind, 1);
    if (f.raw) put(ef::kPayloadType, 1);
    tsize = o;
    int last = ef::kCount - 1;
    while (last >= 0 && at[last] == 0) --last;
    vsize = 4 + 2 * static_cast<std::size_t>(last + 1);
    p = Align(vt + vsize, 8);
    std::size_t e = p + tsize;
    if (f.raw) {
      raw_vt = Align(e, 2);
      raw_t = Align(raw_vt + 6, 4);
      raw_vec = raw_t + 8;
      e = raw_vec + 4 + f.raw_size;
    }
    if (f.status_message.present()) {
      msg = Align(e, 4);
      e = msg + 4 + f.status_message.size + 1;
    }
    if (f.trace) {
      tr_vt = Align(e, 2);
      tr_vsize = f.tracestate.present() ? 8 : f.traceparent.present() ? 6 : 4;
      tr_t = Align(tr_vt + tr_vsize, 4);
      e = tr_t + 4 + 4 * ((f.traceparent.present() ? 1 : 0) + (f.tracestate.present() ? 1 : 0));
      if (f.traceparent.present()) {
        tr_parent = Align(e, 4);
        e = tr_parent + 4 + f.traceparent.size + 1;
      }
      if (f.tracestate.present()) {
        tr_state = Align(e, 4);
        e = tr_state + 4 + f.tracestate.size + 1;
      }
    }
    end = e;
    size = Align(e, 16);
    ok = true;
  }

  static std::size_t Align(std::size_t n, std::size_t a) { return (n + a - 1) & ~(a - 1); }
};

namespace detail {

inline void Put16(std::uint8_t* b, std::size_t at, std::size_t v) {
  const std::uint16_t x = flatbuffers::EndianScalar(static_cast<std::uint16_t>(v));
  std::memcpy(b + at, &x, 2);
}
inline void Put32(std::uint8_t* b, std::size_t at, std::uint32_t v) {
  const std::uint32_t x = flatbuffers::EndianScalar(v);
  std::memcpy(b + at, &x, 4);
}
inline void Put64(std::uint8_t* b, std::size_t at, std::uint64_t v) {
  const std::uint64_t x = flatbuffers::EndianScalar(v);
  std::memcpy(b + at, &x, 8);
}
// A uoffset stored at `from` pointing at `to` (> from).
inline void PutRef(std::uint8_t* b, std::size_t from, std::size_t to) { Put32(b, from, static_cast<std::uint32_t>(to - from)); }
// A string at `at`: length, bytes, NUL; the padding up to `next` zeroed.
inline void PutString(std::uint8_t* b, std::size_t at, const StrField& s) {
  Put32(b, at, static_cast<std::uint32_t>(s.size));
  if (s.size != 0) std::memcpy(b + at + 4, s.data, s.size);
  b[at + 4 + s.size] = 0;
}

}  // namespace detail

// Write the envelope `f` laid out as `l` (EnvelopeLayout(f), l.ok) into view[0, l.size): root offset,
// identifier, tables, strings and zero padding (every byte but the Raw payload's). Returns where the Raw payload's l.raw_size bytes go
// (the caller writes them; nullptr without f.raw). view must be 8-aligned (a ring claim is).
inline std::uint8_t* LayEnvelope(std::uint8_t* view, const EnvelopeLayout& l, const EnvelopeFields& f) {
  namespace ef = envelope_field;
  using detail::Put16;
  using detail::Put32;
  using detail::Put64;
  using detail::PutRef;
  // Objects are written front to back; the bytes between them (alignment padding) are zeroed as the
  // cursor passes over them, so every byte is written once (the Raw bytes by the caller).
  std::size_t cur = 8;
  auto skip_to = [&](std::size_t at) {
    if (at > cur) std::memset(view + cur, 0, at - cur);
    cur = at;
  };
  Put32(view, 0, static_cast<std::uint32_t>(l.p));
  std::memcpy(view + 4, frames::EnvelopeIdentifier(), 4);
  // Envelope vtable and table (zeroed first: padding between its fields).
  std::memset(view + l.vt, 0, l.p + l.tsize - l.vt);
  cur = l.p + l.tsize;
  Put16(view, l.vt, l.vsize);
  Put16(view, l.vt + 2, l.tsize);
  for (std::size_t i = 0; 4 + 2 * i < l.vsize; ++i) Put16(view, l.vt + 4 + 2 * i, l.at[i]);
  const std::size_t p = l.p;
  Put32(view, p, static_cast<std::uint32_t>(p - l.vt));  // soffset: vtable = table - soffset
  if (l.at[ef::kStatus] != 0) Put32(view, p + l.at[ef::kStatus], static_cast<std::uint32_t>(f.status));
  if (l.at[ef::kSequence] != 0) Put64(view, p + l.at[ef::kSequence], f.sequence);
  if (l.at[ef::kCorrelationId] != 0) Put64(view, p + l.at[ef::kCorrelationId], f.correlation_id);
  if (l.at[ef::kDeadline] != 0) Put64(view, p + l.at[ef::kDeadline], static_cast<std::uint64_t>(f.deadline_unix_nano));
  if (l.at[ef::kKind] != 0) view[p + l.at[ef::kKind]] = static_cast<std::uint8_t>(f.kind);
  std::uint8_t* raw = nullptr;
  if (f.raw) {
    view[p + l.at[ef::kPayloadType]] = static_cast<std::uint8_t>(frames::Payload::Raw);
    PutRef(view, p + l.at[ef::kPayload], l.raw_t);
    skip_to(l.raw_vt);
    Put16(view, l.raw_vt, 6);      // Raw vtable: 6 bytes,
    Put16(view, l.raw_vt + 2, 8);  // a table of 8 bytes,
    Put16(view, l.raw_vt + 4, 4);  // data at 4
    cur = l.raw_vt + 6;
    skip_to(l.raw_t);
    Put32(view, l.raw_t, static_cast<std::uint32_t>(l.raw_t - l.raw_vt));
    PutRef(view, l.raw_t + 4, l.raw_vec);
    Put32(view, l.raw_vec, static_cast<std::uint32_t>(f.raw_size));
    raw = view + l.raw_vec + 4;
    cur = l.raw_vec + 4 + f.raw_size;
  }
  if (f.status_message.present()) {
    PutRef(view, p + l.at[ef::kStatusMessage], l.msg);
    skip_to(l.msg);
    detail::PutString(view, l.msg, f.status_message);
    cur = l.msg + 4 + f.status_message.size + 1;
  }
  if (f.trace) {
    PutRef(view, p + l.at[ef::kTrace], l.tr_t);
    skip_to(l.tr_vt);
    std::size_t o = 4;  // the TraceContext table: soffset, then a uoffset per present string
    const std::size_t parent_at = f.traceparent.present() ? (o += 4) - 4 : 0;
    const std::size_t state_at = f.tracestate.present() ? (o += 4) - 4 : 0;
    Put16(view, l.tr_vt, l.tr_vsize);
    Put16(view, l.tr_vt + 2, o);
    if (l.tr_vsize >= 6) Put16(view, l.tr_vt + 4, parent_at);
    if (l.tr_vsize >= 8) Put16(view, l.tr_vt + 6, state_at);
    cur = l.tr_vt + l.tr_vsize;
    skip_to(l.tr_t);
    Put32(view, l.tr_t, static_cast<std::uint32_t>(l.tr_t - l.tr_vt));
    cur = l.tr_t + o;
    if (f.traceparent.present()) {
      PutRef(view, l.tr_t + parent_at, l.tr_parent);
      skip_to(l.tr_parent);
      detail::PutString(view, l.tr_parent, f.traceparent);
      cur = l.tr_parent + 4 + f.traceparent.size + 1;
    }
    if (f.tracestate.present()) {
      PutRef(view, l.tr_t + state_at, l.tr_state);
      skip_to(l.tr_state);
      detail::PutString(view, l.tr_state, f.tracestate);
      cur = l.tr_state + 4 + f.tracestate.size + 1;
    }
  }
  skip_to(l.size);
  return raw;
}

// LayEnvelope off-ring (tests, vectors, tools): the frame's bytes, with the Raw payload copied from raw
// (raw_size bytes; may be null when raw_size is 0). Empty when a field is too large.
inline std::vector<std::uint8_t> EncodeEnvelope(const EnvelopeFields& f, const std::uint8_t* raw = nullptr) {
  const EnvelopeLayout l(f);
  if (!l.ok) return {};
  std::vector<std::uint8_t> v(l.size, 0xEE);  // not zero: the layout must write every byte
  std::uint8_t* d = LayEnvelope(v.data(), l, f);
  if (d != nullptr && f.raw_size != 0) std::memcpy(d, raw, f.raw_size);
  return v;
}

}  // namespace typed
}  // namespace framebridge

#endif  // FRAMEBRIDGE_ENVELOPE_HPP
