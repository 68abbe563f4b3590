// libFuzzer target: the typed-frame readers over mutated valid frames (run by `make -C cpp fuzz`,
// ASan+UBSan).
//
// Input byte 0: bit 0 picks the format (FlatBuffers type 16 / Cap'n Proto type 17), bit 1 the read mode
// (copy / in place), bit 2 the source:
//   0: a valid frame (test envelope i = byte 1, built in place in a ring claim, gap included) patched
//      with (u16 offset, u8 xor) edits from the rest of the input;
//   1: the rest of the input is the frame.
// Bit 3 (with source 0, FlatBuffers): the valid frame is a hand-laid envelope (typed::EncodeEnvelope; byte 1
// picks its fields) instead of a builder-made one.
// The frame is put in a real ring (type 16 or 17) and read back; if the reader accepts it, every field of
// the envelope is read (the test checker) — which must stay within the frame: a hostile frame gives an
// error value, never a crash, a sanitizer report or a hang. For FlatBuffers, QuickVerifyEnvelope must
// accept only what the flatbuffers Verifier accepts (it traps otherwise).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "framebridge.hpp"
#include "framebridge/typed.hpp"
#include "framebridge/typed_capnp.hpp"
#include "typed_content.hpp"
#include "typed_content_capnp.hpp"

namespace fb = framebridge;
namespace ty = framebridge::typed;

namespace {

struct Rig {
  fb::Segment seg;
  fb::Writer w;
  fb::Reader r;
  ty::FlatBuffersReader fcopy{ty::ReadMode::kCopy}, fplace{ty::ReadMode::kInPlace};
  ty::CapnpReader ccopy{ty::ReadMode::kCopy}, cplace{ty::ReadMode::kInPlace};
  Rig() {
    fb::Spec spec;
    spec.rings.push_back({"r", fb::RegionKind::kSPSC, 1 << 17});
    auto s = fb::Segment::CreateMemfd("fuzz-typed", spec);
    if (!s.ok()) __builtin_trap();
    seg = std::move(s.value());
    w = std::move(seg.Writer("r").value());
    r = std::move(seg.Reader("r").value());
  }
};

Rig& TheRig() {
  static Rig* rig = new Rig();
  return *rig;
}

// A valid frame: envelope i of writer 3, built in place in a ring (FlatBuffers with a gap).
std::vector<std::uint8_t> ValidFrame(Rig& g, bool capnp, std::uint64_t i) {
  fb::Status st = capnp ? ty::BuildCapnpFrame(g.w, [&](capnp::MessageBuilder& m) { frbtest::BuildTestEnvelopeCapnp(m, 3, i); },
                                              1024, fb::Deadline::Try())
                        : ty::BuildFrame(g.w, [&](flatbuffers::FlatBufferBuilder& b) { return frbtest::BuildTestEnvelope(b, 3, i); },
                                         512 + 16 * (i % 8), fb::Deadline::Try());
  std::vector<std::uint8_t> out;
  fb::Frame f;
  if (!st.ok() || !g.r.Next(fb::Deadline::Try(), &f).ok()) __builtin_trap();
  out.assign(f.data, f.data + f.size);
  g.r.Release();
  return out;
}

// A hand-laid envelope: the bits of k pick the fields (the channels' Raw fast path lays these out).
std::vector<std::uint8_t> LaidFrame(std::uint64_t k) {
  static const char msg[] = "failed as asked", parent[] = "00-0af7651916cd43dd-01", state[] = "k=v";
  ty::EnvelopeFields f;
  if (k & 1) f.sequence = 0x0102030405060708ull;
  if (k & 2) f.status = 13;
  f.kind = (k & 4) ? framebridge::frames::Kind::Response : framebridge::frames::Kind::Request;
  if (k & 8) f.correlation_id = k + 1;
  if (k & 16) f.status_message = {msg, sizeof msg - 1};
  f.trace = (k & 32) != 0;
  if (k & 32) f.traceparent = {parent, sizeof parent - 1};
  if (k & 64) f.tracestate = {state, sizeof state - 1};
  f.raw = (k & 128) == 0;
  f.raw_size = f.raw ? k % 70 : 0;
  std::vector<std::uint8_t> raw(f.raw_size, static_cast<std::uint8_t>(k));
  return ty::EncodeEnvelope(f, raw.data());
}

// The quick check accepts only what the Verifier accepts (on an 8-aligned copy, as readers verify).
void CheckQuick(const std::vector<std::uint8_t>& frame) {
  std::vector<std::uint64_t> a(frame.size() / 8 + 1);
  if (!frame.empty()) std::memcpy(a.data(), frame.data(), frame.size());
  const auto* p = reinterpret_cast<const std::uint8_t*>(a.data());
  const bool slow = frame.size() >= 8 && frame.size() < FLATBUFFERS_MAX_BUFFER_SIZE &&
                    ty::VerifyBuffer<framebridge::frames::Envelope>(p, frame.size(), ty::kFileIdentifier).ok();
  if (ty::QuickVerifyEnvelope(p, frame.size()) && !slow) __builtin_trap();
  // An EnvelopeShape remembers the last input's shape: what it takes for that shape, and what
  // VerifyEnvelope through it accepts, the Verifier accepts.
  static ty::EnvelopeShape shape;
  if (shape.Same(p, frame.size()) && !slow) __builtin_trap();
  if (frame.size() >= 8 && ty::VerifyEnvelope(p, frame.size(), &shape).ok() != slow) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  Rig& g = TheRig();
  const bool capnp = data[0] & 1, inplace = data[0] & 2, raw = data[0] & 4, laid = data[0] & 8;
  std::vector<std::uint8_t> frame;
  std::uint64_t i = data[1];
  if (raw) {
    frame.assign(data + 1, data + size);
  } else {
    frame = laid && !capnp ? LaidFrame(i) : ValidFrame(g, capnp, i);
    for (std::size_t k = 2; k + 3 <= size; k += 3) {
      std::uint16_t off;
      std::memcpy(&off, data + k, 2);
      if (!frame.empty()) frame[off % frame.size()] ^= data[k + 2];
    }
  }
  if (frame.size() > g.w.max_payload()) return 0;
  if (!capnp) CheckQuick(frame);
  fb::Claimed c;
  if (!g.w.Claim(capnp ? ty::kTypeCapnp : ty::kTypeFlatBuffers, frame.size(), fb::Deadline::Try(), &c).ok()) __builtin_trap();
  if (!frame.empty()) std::memcpy(c.data, frame.data(), frame.size());
  if (!g.w.Commit(frame.size()).ok()) __builtin_trap();
  fb::Frame f;
  if (!g.r.Next(fb::Deadline::Try(), &f).ok()) __builtin_trap();
  char why[512];
  if (capnp) {
    framebridge::frames::capnp::Envelope::Reader e;
    if ((inplace ? g.cplace : g.ccopy).Open(f, &e).ok()) {
      try {
        (void)frbtest::CheckTestEnvelopeCapnp(e, 3, e.getSequence(), why, sizeof why);
      } catch (const kj::Exception&) {
      }
    }
  } else {
    const framebridge::frames::Envelope* e = nullptr;
    if ((inplace ? g.fplace : g.fcopy).Open(f, &e).ok()) {
      (void)frbtest::CheckTestEnvelope(e, 3, e->sequence(), why, sizeof why);
    }
  }
  g.r.Release();
  return 0;
}
