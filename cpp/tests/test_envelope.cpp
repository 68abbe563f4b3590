// Hand-laid envelopes (envelope.hpp): every subset of fields verifies with the standard Verifier and
// reads back through the generated accessors exactly as a builder-made envelope of the same content;
// every byte is written; through a ring; too large; random fields.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "framebridge/envelope.hpp"
#include "framebridge/typed.hpp"
#include "helpers.hpp"

namespace fb = framebridge;
namespace ty = framebridge::typed;
namespace fr = framebridge::frames;

namespace {

// What an envelope says, read through the generated accessors only.
struct Read {
  std::uint64_t sequence, correlation_id;
  std::int32_t status;
  fr::Kind kind;
  std::int64_t deadline;
  bool has_msg, has_trace, has_parent, has_state, raw;
  std::string msg, parent, state;
  fr::Payload ptype;
  std::vector<std::uint8_t> data;
  bool operator==(const Read& o) const {
    return sequence == o.sequence && correlation_id == o.correlation_id && status == o.status && kind == o.kind &&
           deadline == o.deadline && has_msg == o.has_msg && has_trace == o.has_trace && has_parent == o.has_parent &&
           has_state == o.has_state && raw == o.raw && msg == o.msg && parent == o.parent && state == o.state &&
           ptype == o.ptype && data == o.data;
  }
};

Read ReadBack(const fr::Envelope* e) {
  Read r{};
  r.sequence = e->sequence();
  r.correlation_id = e->correlation_id();
  r.status = e->status();
  r.kind = e->kind();
  r.deadline = e->deadline_unix_nano();
  r.has_msg = e->status_message() != nullptr;
  if (r.has_msg) r.msg = e->status_message()->str();
  r.has_trace = e->trace() != nullptr;
  if (r.has_trace) {
    r.has_parent = e->trace()->traceparent() != nullptr;
    r.has_state = e->trace()->tracestate() != nullptr;
    if (r.has_parent) r.parent = e->trace()->traceparent()->str();
    if (r.has_state) r.state = e->trace()->tracestate()->str();
  }
  r.ptype = e->payload_type();
  r.raw = e->payload_as_Raw() != nullptr;
  if (r.raw && e->payload_as_Raw()->data() != nullptr) {
    r.data.assign(e->payload_as_Raw()->data()->begin(), e->payload_as_Raw()->data()->end());
  }
  return r;
}

// The same content built by flatbuffers::FlatBufferBuilder.
std::vector<std::uint8_t> ByBuilder(const ty::EnvelopeFields& f, const std::uint8_t* raw) {
  flatbuffers::FlatBufferBuilder b;
  flatbuffers::Offset<flatbuffers::String> msg, tp, ts;
  if (f.status_message.present()) msg = b.CreateString(f.status_message.data, f.status_message.size);
  flatbuffers::Offset<fr::TraceContext> tr;
  if (f.trace) {
    if (f.traceparent.present()) tp = b.CreateString(f.traceparent.data, f.traceparent.size);
    if (f.tracestate.present()) ts = b.CreateString(f.tracestate.data, f.tracestate.size);
    tr = fr::CreateTraceContext(b, tp, ts);
  }
  flatbuffers::Offset<void> payload;
  if (f.raw) payload = fr::CreateRaw(b, b.CreateVector(raw, f.raw_size)).Union();
  auto env = fr::CreateEnvelope(b, f.sequence, f.status, msg, f.kind, f.correlation_id, f.deadline_unix_nano, tr,
                                f.raw ? fr::Payload::Raw : fr::Payload::NONE, payload);
  b.Finish(env, ty::kFileIdentifier);
  return std::vector<std::uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

// Check one envelope: verifies, reads as the builder's does, every byte written, size a multiple of 16.
void Check(const ty::EnvelopeFields& f, const std::vector<std::uint8_t>& raw, const std::string& what) {
  SCOPED_TRACE(what);
  const std::vector<std::uint8_t> v = ty::EncodeEnvelope(f, raw.data());
  ASSERT_FALSE(v.empty());
  ASSERT_EQ(v.size() % 16, 0u);
  ASSERT_EQ(v.size(), ty::EnvelopeLayout(f).size);
  {
    // Laid over two different fills: identical bytes, so every byte is written.
    const ty::EnvelopeLayout l(f);
    std::vector<std::uint64_t> x(l.size / 8, 0x1111111111111111ull), y(l.size / 8, ~0ull);
    auto* px = reinterpret_cast<std::uint8_t*>(x.data());
    auto* py = reinterpret_cast<std::uint8_t*>(y.data());
    std::uint8_t* dx = ty::LayEnvelope(px, l, f);
    std::uint8_t* dy = ty::LayEnvelope(py, l, f);
    if (f.raw_size != 0) std::memcpy(dx, raw.data(), f.raw_size), std::memcpy(dy, raw.data(), f.raw_size);
    for (std::size_t i = 0; i < l.size; ++i) ASSERT_EQ(px[i], py[i]) << "byte " << i << " not written";
    ASSERT_EQ(std::memcmp(px, v.data(), l.size), 0);
  }
  // Aligned copies: the verifier checks alignment relative to the buffer, and so do reads.
  std::vector<std::uint64_t> a((v.size() + 7) / 8);
  std::memcpy(a.data(), v.data(), v.size());
  const auto* p = reinterpret_cast<const std::uint8_t*>(a.data());
  ASSERT_TRUE(ty::VerifyEnvelope(p, v.size()).ok());
  EXPECT_TRUE(ty::QuickVerifyEnvelope(p, v.size()));
  const std::vector<std::uint8_t> w = ByBuilder(f, raw.data());
  std::vector<std::uint64_t> aw((w.size() + 7) / 8);
  std::memcpy(aw.data(), w.data(), w.size());
  const auto* q = reinterpret_cast<const std::uint8_t*>(aw.data());
  ASSERT_TRUE(ty::VerifyEnvelope(q, w.size()).ok());
  ASSERT_TRUE((ty::VerifyBuffer<fr::Envelope>(q, w.size(), ty::kFileIdentifier)).ok());
  EXPECT_TRUE(ty::QuickVerifyEnvelope(q, w.size()));
  const Read got = ReadBack(flatbuffers::GetRoot<fr::Envelope>(p));
  const Read want = ReadBack(flatbuffers::GetRoot<fr::Envelope>(q));
  EXPECT_TRUE(got == want);
  // And against the fields themselves (the builder path could be wrong the same way).
  EXPECT_EQ(got.sequence, f.sequence);
  EXPECT_EQ(got.correlation_id, f.correlation_id);
  EXPECT_EQ(got.status, f.status);
  EXPECT_EQ(got.kind, f.kind);
  EXPECT_EQ(got.deadline, f.deadline_unix_nano);
  EXPECT_EQ(got.has_msg, f.status_message.present());
  EXPECT_EQ(got.has_trace, f.trace);
  EXPECT_EQ(got.raw, f.raw);
  EXPECT_EQ(got.ptype, f.raw ? fr::Payload::Raw : fr::Payload::NONE);
  if (f.raw) {
    EXPECT_EQ(got.data, raw);
  }
  // The Verifier refuses every truncation that cuts into the content.
  const std::size_t end = ty::EnvelopeLayout(f).end;
  for (std::size_t n = 8; n < end; n += 4) EXPECT_FALSE(ty::VerifyEnvelope(p, n).ok()) << "truncated to " << n;
}

std::vector<std::uint8_t> Bytes(std::size_t n, unsigned seed) {
  std::vector<std::uint8_t> d(n);
  for (std::size_t i = 0; i < n; ++i) d[i] = static_cast<std::uint8_t>((i * 7 + seed) % 0xE0);
  return d;
}

}  // namespace

TEST(Envelope, FieldIdsMatchTheGeneratedCode) {
  namespace ef = ty::envelope_field;
  EXPECT_EQ(fr::Envelope::VT_SEQUENCE, 4 + 2 * ef::kSequence);
  EXPECT_EQ(fr::Envelope::VT_STATUS, 4 + 2 * ef::kStatus);
  EXPECT_EQ(fr::Envelope::VT_STATUS_MESSAGE, 4 + 2 * ef::kStatusMessage);
  EXPECT_EQ(fr::Envelope::VT_KIND, 4 + 2 * ef::kKind);
  EXPECT_EQ(fr::Envelope::VT_CORRELATION_ID, 4 + 2 * ef::kCorrelationId);
  EXPECT_EQ(fr::Envelope::VT_DEADLINE_UNIX_NANO, 4 + 2 * ef::kDeadline);
  EXPECT_EQ(fr::Envelope::VT_TRACE, 4 + 2 * ef::kTrace);
  EXPECT_EQ(fr::Envelope::VT_PAYLOAD_TYPE, 4 + 2 * ef::kPayloadType);
  EXPECT_EQ(fr::Envelope::VT_PAYLOAD, 4 + 2 * ef::kPayload);
  EXPECT_EQ(fr::TraceContext::VT_TRACEPARENT, 4);
  EXPECT_EQ(fr::TraceContext::VT_TRACESTATE, 6);
  EXPECT_EQ(fr::Raw::VT_DATA, 4);
}

// Every subset of the ten optional parts, with odd string and payload sizes (all paddings).
TEST(Envelope, EverySubsetOfFieldsReadsAsTheBuildersEnvelope) {
  const std::string msg = "failed as asked", parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                    state = "k=v";
  for (unsigned mask = 0; mask < (1u << 10); ++mask) {
    for (std::size_t rn : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{64}, std::size_t{201}}) {
      if ((mask & 512) == 0 && rn != 0) continue;
      ty::EnvelopeFields f;
      if (mask & 1) f.sequence = 0x0102030405060708ull;
      if (mask & 2) f.status = -13;
      if (mask & 4) f.kind = fr::Kind::Response;
      if (mask & 8) f.correlation_id = 42;
      if (mask & 16) f.deadline_unix_nano = -7;
      if (mask & 32) f.status_message = {msg.data(), (mask & 1) ? msg.size() : 2};
      f.trace = (mask & 64) != 0;
      if (mask & 128) f.traceparent = {parent.data(), (mask & 2) ? parent.size() : 1};
      if (mask & 256) f.tracestate = {state.data(), (mask & 4) ? 0 : state.size()};
      f.raw = (mask & 512) != 0;
      f.raw_size = rn;
      Check(f, Bytes(rn, mask), "mask " + std::to_string(mask) + " raw " + std::to_string(rn));
      if (HasFatalFailure()) return;
    }
  }
}

// Random fields (a cheap property fuzz, fixed seed): scalars anywhere in their range, strings and
// payloads of 0..300 bytes.
TEST(Envelope, RandomFieldsReadBack) {
  std::mt19937_64 rng(20261124);
  std::string s1, s2, s3;
  for (int it = 0; it < 20000; ++it) {
    auto pick = [&] { return (rng() & 1) != 0; };
    auto str = [&](std::string* s) {
      s->assign(rng() % 301, 'a');
      for (char& c : *s) c = static_cast<char>(' ' + rng() % 90);
      return ty::StrField{s->data(), s->size()};
    };
    ty::EnvelopeFields f;
    if (pick()) f.sequence = rng();
    if (pick()) f.status = static_cast<std::int32_t>(rng());
    if (pick()) f.kind = static_cast<fr::Kind>(rng() % 5);
    if (pick()) f.correlation_id = rng();
    if (pick()) f.deadline_unix_nano = static_cast<std::int64_t>(rng());
    if (pick()) f.status_message = str(&s1);
    f.trace = pick();
    if (pick()) f.traceparent = str(&s2);
    if (pick()) f.tracestate = str(&s3);
    f.raw = pick();
    f.raw_size = f.raw ? rng() % 301 : 0;
    Check(f, Bytes(f.raw_size, static_cast<unsigned>(it)), "iteration " + std::to_string(it));
    if (HasFatalFailure()) return;
  }
}

namespace {

// The Verifier alone.
bool SlowOk(const std::uint8_t* p, std::size_t n) { return ty::VerifyBuffer<fr::Envelope>(p, n, ty::kFileIdentifier).ok(); }

// For one buffer (copied to an 8-aligned place): QuickVerifyEnvelope accepts only what the Verifier
// accepts, and VerifyEnvelope (quick, then the Verifier) says what the Verifier says. Counts quick
// acceptances and Verifier acceptances.
struct Tally {
  std::size_t quick = 0, slow = 0, cases = 0, same = 0;
};
// With base (the shape an EnvelopeShape learned from the unmutated buffer): VerifyEnvelope through a copy
// of it says what the Verifier says too, and whatever it finds of the same shape the Verifier accepts.
void Agree(const std::vector<std::uint8_t>& v, std::size_t n, Tally* t, const std::string& what,
           const ty::EnvelopeShape* base = nullptr) {
  std::vector<std::uint64_t> a((v.size() + 7) / 8 + 1, 0);
  std::memcpy(a.data(), v.data(), v.size());
  const auto* p = reinterpret_cast<const std::uint8_t*>(a.data());
  const bool slow = SlowOk(p, n);
  ++t->cases;
  t->slow += slow ? 1 : 0;
  if (ty::QuickVerifyEnvelope(p, n)) {
    ++t->quick;
    ASSERT_TRUE(slow) << what << ": QuickVerifyEnvelope accepted what the Verifier refuses";
  }
  ASSERT_EQ(ty::VerifyEnvelope(p, n).ok(), slow) << what;
  if (base != nullptr) {
    if (base->Same(p, n)) {
      ++t->same;
      ASSERT_TRUE(slow) << what << ": EnvelopeShape took for its shape what the Verifier refuses";
    }
    ty::EnvelopeShape s = *base;
    ASSERT_EQ(ty::VerifyEnvelope(p, n, &s).ok(), slow) << what << " (through a shape)";
    ASSERT_EQ(ty::VerifyEnvelope(p, n, &s).ok(), slow) << what << " (through the shape it left)";
  }
}

// Mutations of one envelope: each byte xored with several patterns, each 2-aligned word overwritten with
// values that send offsets and lengths elsewhere, every truncation, and a longer buffer.
void AgreeMutated(const std::vector<std::uint8_t>& v, std::mt19937_64& rng, Tally* t, const std::string& what) {
  std::vector<std::uint64_t> a((v.size() + 7) / 8 + 1, 0);
  std::memcpy(a.data(), v.data(), v.size());
  static ty::EnvelopeShape base;  // large: not on the stack
  base.Reset();
  (void)base.Verify(reinterpret_cast<const std::uint8_t*>(a.data()), v.size());
  Agree(v, v.size(), t, what, &base);
  for (std::size_t i = 0; i < v.size(); ++i) {
    for (std::uint8_t x : {std::uint8_t{1}, std::uint8_t{2}, std::uint8_t{4}, std::uint8_t{8}, std::uint8_t{0x10},
                           std::uint8_t{0x80}, std::uint8_t{0xFF}, static_cast<std::uint8_t>(rng() | 1)}) {
      std::vector<std::uint8_t> m = v;
      m[i] ^= x;
      Agree(m, m.size(), t, what + " byte " + std::to_string(i) + " ^ " + std::to_string(x), &base);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  for (std::size_t i = 0; i + 4 <= v.size(); i += 2) {
    for (std::uint32_t w : {0u, 1u, 2u, 4u, 6u, 8u, 0xFFFCu, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFF8u, 0xFFFFFFFFu,
                            static_cast<std::uint32_t>(v.size()), static_cast<std::uint32_t>(v.size() - 4),
                            static_cast<std::uint32_t>(v.size() - i), static_cast<std::uint32_t>(i)}) {
      std::vector<std::uint8_t> m = v;
      std::memcpy(m.data() + i, &w, 4);
      Agree(m, m.size(), t, what + " word at " + std::to_string(i) + " = " + std::to_string(w), &base);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  for (std::size_t n = 0; n < v.size(); ++n) {
    Agree(v, n, t, what + " truncated to " + std::to_string(n), &base);
    if (::testing::Test::HasFatalFailure()) return;
  }
  std::vector<std::uint8_t> longer = v;
  longer.resize(v.size() + 40, 0xAB);
  Agree(longer, longer.size(), t, what + " with 40 bytes more", &base);
}

}  // namespace

// QuickVerifyEnvelope against hostile bytes: hand-laid and builder-made envelopes of every field subset
// (message and trace included), mutated. Whatever it accepts, the Verifier accepts, and VerifyEnvelope
// agrees with the Verifier everywhere.
TEST(Envelope, QuickVerifyAcceptsOnlyWhatTheVerifierAccepts) {
  std::mt19937_64 rng(7);
  Tally t;
  const std::string msg = "no", parent = "00-ab", state = "";
  for (unsigned mask = 0; mask < (1u << 9); ++mask) {
    for (std::size_t rn : {std::size_t{0}, std::size_t{5}, std::size_t{64}}) {
      ty::EnvelopeFields f;
      if (mask & 1) f.sequence = 0x0102030405060708ull;
      if (mask & 2) f.status = 3;
      if (mask & 4) f.kind = fr::Kind::Request;
      if (mask & 8) f.correlation_id = 42;
      if (mask & 16) f.deadline_unix_nano = 1;
      if (mask & 32) f.status_message = {msg.data(), msg.size()};
      f.trace = (mask & 64) != 0;
      if (mask & 128) f.traceparent = {parent.data(), parent.size()};
      if ((mask & 128) && (mask & 1)) f.tracestate = {state.data(), state.size()};
      f.raw = (mask & 256) != 0;
      if (!f.raw && rn != 0) continue;
      if ((mask & 128) && !(mask & 64)) continue;  // trace strings only with a trace
      f.raw_size = rn;
      const std::vector<std::uint8_t> raw = Bytes(rn, mask);
      const std::string what = "mask " + std::to_string(mask) + " raw " + std::to_string(rn);
      // Every mask is checked unmutated; mutations for a spread of them (the whole grid takes long).
      if (mask % 7 != 0 && rn == 5) {
        Agree(ty::EncodeEnvelope(f, raw.data()), ty::EnvelopeLayout(f).size, &t, what);
        Agree(ByBuilder(f, raw.data()), ByBuilder(f, raw.data()).size(), &t, what + " (builder)");
        if (HasFatalFailure()) return;
        continue;
      }
      AgreeMutated(ty::EncodeEnvelope(f, raw.data()), rng, &t, what);
      if (HasFatalFailure()) return;
      AgreeMutated(ByBuilder(f, raw.data()), rng, &t, what + " (builder)");
      if (HasFatalFailure()) return;
    }
  }
  // Both outcomes were exercised, and the quick path took nearly all valid buffers.
  EXPECT_GT(t.quick, t.cases / 10);
  EXPECT_LT(t.slow, t.cases);
  EXPECT_GT(t.quick * 10, t.slow * 9) << "quick " << t.quick << " of " << t.slow << " valid";
  // Mutations of values (payload bytes, scalars) kept the shape and were taken by comparison.
  EXPECT_GT(t.same, t.cases / 20) << "same shape " << t.same << " of " << t.cases;
}

// Other payload types are left to the Verifier (VerifyEnvelope still accepts them).
TEST(Envelope, QuickVerifyLeavesOtherPayloadsToTheVerifier) {
  flatbuffers::FlatBufferBuilder b;
  auto mc = fr::CreateMediaChunk(b, b.CreateString("opus")).Union();
  b.Finish(fr::CreateEnvelope(b, 1, 0, 0, fr::Kind::Request, 7, 0, 0, fr::Payload::MediaChunk, mc), ty::kFileIdentifier);
  std::vector<std::uint64_t> a((b.GetSize() + 7) / 8);
  std::memcpy(a.data(), b.GetBufferPointer(), b.GetSize());
  const auto* p = reinterpret_cast<const std::uint8_t*>(a.data());
  EXPECT_FALSE(ty::QuickVerifyEnvelope(p, b.GetSize()));
  EXPECT_TRUE(ty::VerifyEnvelope(p, b.GetSize()).ok());
  // Limits below what the quick path visits send it to the Verifier too, which applies them.
  ty::VerifyLimits one;
  one.max_depth = 1;
  const std::vector<std::uint8_t> raw = Bytes(8, 1);
  ty::EnvelopeFields f;
  f.raw = true;
  f.raw_size = raw.size();
  const std::vector<std::uint8_t> v = ty::EncodeEnvelope(f, raw.data());
  std::vector<std::uint64_t> c((v.size() + 7) / 8);
  std::memcpy(c.data(), v.data(), v.size());
  const auto* q = reinterpret_cast<const std::uint8_t*>(c.data());
  EXPECT_TRUE(ty::VerifyEnvelope(q, v.size()).ok());
  EXPECT_FALSE(ty::VerifyEnvelope(q, v.size(), one).ok());
}

// One SPSC ring with its writer and reader, and a FlatBuffersWriter on the writer: the BuildEnvelope
// tests' set-up.
struct EnvelopeRing {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(fb::RegionKind::kSPSC, 1 << 14));
  fb::Result<fb::Writer> w = seg.Writer("r");
  fb::Result<fb::Reader> r = seg.Reader("r");
  ty::FlatBuffersWriter fw{&*w};
};

// Leaves non-zero bytes in the stack below the caller, where a callee's locals will lie.
__attribute__((noinline)) void DirtyStack() {
  volatile std::uint8_t junk[4096];
  for (std::size_t k = 0; k < sizeof junk; ++k) junk[k] = 0xA5;
}

// A fill that writes nothing leaves the Raw bytes zero, as free ring space is: whether the envelope was
// staged on the stack (small) or laid in place (large), no stale bytes reach the peer.
TEST(Envelope, BuildEnvelopeFillThatWritesNothingCommitsZeros) {
  EnvelopeRing ring;
  ASSERT_TRUE(ring.w.ok() && ring.r.ok());
  auto& r = ring.r;
  ty::FlatBuffersWriter& fw = ring.fw;
  ty::FlatBuffersReader rd;
  int calls = 0;
  for (std::size_t size : {std::size_t{32}, std::size_t{120}, std::size_t{400}}) {
    DirtyStack();
    ty::EnvelopeFields f;
    f.kind = fr::Kind::Response;
    f.correlation_id = 7;
    f.raw = true;
    f.raw_size = size;
    ASSERT_TRUE(fw.BuildEnvelope(f, [&](std::uint8_t*) { ++calls; }, fb::Deadline::Try()).ok());
    fb::Frame fr_;
    ASSERT_TRUE(r->Next(fb::Deadline::Try(), &fr_).ok());
    const fr::Envelope* e = nullptr;
    ASSERT_TRUE(rd.Open(fr_, &e).ok());
    const auto* d = e->payload_as_Raw()->data();
    ASSERT_EQ(d->size(), size);
    for (std::size_t k = 0; k < size; ++k) ASSERT_EQ(d->Get(static_cast<flatbuffers::uoffset_t>(k)), 0) << "byte " << k << " of " << size;
    r->Release();
  }
  EXPECT_EQ(calls, 3);
}

// Through a ring: exactly the layout's size is committed, the payload is written by the fill function,
// a reader verifies it; a throwing-free too-large envelope leaves no claim open.
TEST(Envelope, BuildEnvelopeThroughARing) {
  EnvelopeRing ring;
  ASSERT_TRUE(ring.w.ok() && ring.r.ok());
  auto& w = ring.w;
  auto& r = ring.r;
  ty::FlatBuffersWriter& fw = ring.fw;
  ty::FlatBuffersReader rd;
  for (std::uint64_t i = 0; i < 2000; ++i) {
    ty::EnvelopeFields f;
    f.sequence = i;
    f.kind = fr::Kind::Request;
    f.correlation_id = i + 1;
    f.raw = true;
    f.raw_size = 8 + i % 300;  // staged on the stack up to 256 bytes of envelope, laid in place beyond
    std::size_t committed = 0;
    ASSERT_TRUE(fw.BuildEnvelope(
                      f,
                      [&](std::uint8_t* d) {
                        for (std::size_t k = 0; k < f.raw_size; ++k) d[k] = static_cast<std::uint8_t>(i + k);
                      },
                      fb::Deadline::Try(), &committed)
                    .ok());
    EXPECT_EQ(committed, ty::EnvelopeLayout(f).size);
    fb::Frame fr_;
    ASSERT_TRUE(r->Next(fb::Deadline::Try(), &fr_).ok());
    EXPECT_EQ(fr_.size, committed);
    const fr::Envelope* e = nullptr;
    ASSERT_TRUE(rd.Open(fr_, &e).ok());
    EXPECT_EQ(e->sequence(), i);
    EXPECT_EQ(e->correlation_id(), i + 1);
    ASSERT_NE(e->payload_as_Raw(), nullptr);
    const auto* d = e->payload_as_Raw()->data();
    ASSERT_EQ(d->size(), f.raw_size);
    for (std::size_t k = 0; k < f.raw_size; ++k) ASSERT_EQ(d->Get(static_cast<flatbuffers::uoffset_t>(k)), static_cast<std::uint8_t>(i + k));
    r->Release();
  }
  EXPECT_EQ(fw.stats().frames, 2000u);
  EXPECT_EQ(fw.stats().fallbacks, 0u);
  ty::EnvelopeFields big;
  big.raw = true;
  big.raw_size = w->max_payload();
  bool called = false;
  EXPECT_EQ(fw.BuildEnvelope(big, [&](std::uint8_t*) { called = true; }, fb::Deadline::Try()).code(), fb::Errc::kTooLarge);
  EXPECT_FALSE(called);
  big.raw_size = ty::kMaxEnvelopeField + 1;
  EXPECT_EQ(fw.BuildEnvelope(big, [&](std::uint8_t*) { called = true; }, fb::Deadline::Try()).code(), fb::Errc::kTooLarge);
  big.raw_size = 10;
  EXPECT_TRUE(fw.BuildEnvelope(big, [&](std::uint8_t* d) { std::memset(d, 1, 10); }, fb::Deadline::Try()).ok());
}

// BuildEnvelope's template (message- and trace-less envelopes of up to 256 bytes): whatever the order of
// shapes (scalars present or zero, Raw or none, payload sizes, a message or trace in between), each
// committed frame holds exactly the bytes LayEnvelope gives its fields, and a fill that writes nothing
// after one that wrote commits zeros, not the previous payload.
TEST(Envelope, BuildEnvelopeTemplateCommitsTheLayoutsBytes) {
  EnvelopeRing ring;
  ASSERT_TRUE(ring.w.ok() && ring.r.ok());
  auto& r = ring.r;
  ty::FlatBuffersWriter& fw = ring.fw;
  std::mt19937_64 rng(42);
  const char* parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  for (int i = 0; i < 20000; ++i) {
    const std::uint64_t x = rng();
    ty::EnvelopeFields f;
    // Few shapes, so most calls find the template laid; values change on every call.
    if (x & 1) f.sequence = rng() | 1;
    if (x & 2) f.status = static_cast<std::int32_t>(rng() | 1);
    if (x & 4) f.correlation_id = rng() | 1;
    if (x & 8) f.deadline_unix_nano = static_cast<std::int64_t>(rng() >> 1) | 1;
    if (x & 16) f.kind = (x & 32) ? fr::Kind::Response : fr::Kind::Request;
    if (x & 64) {
      f.raw = true;
      static const std::size_t sizes[] = {0, 1, 7, 64, 100, 200, 256};
      f.raw_size = sizes[(x >> 8) % 7];
    }
    if ((x >> 12) % 16 == 0) f.status_message = {"why", 3};
    if ((x >> 16) % 16 == 0) {
      f.trace = true;
      f.traceparent = {parent, std::strlen(parent)};
    }
    const bool writes = ((x >> 20) & 3) != 0;
    std::vector<std::uint8_t> payload(f.raw_size, 0);
    if (writes) {
      for (auto& b : payload) b = static_cast<std::uint8_t>(rng() | 1);
    }
    ASSERT_TRUE(fw.BuildEnvelope(
                      f, [&](std::uint8_t* d) { if (writes && !payload.empty()) std::memcpy(d, payload.data(), payload.size()); },
                      fb::Deadline::Try())
                    .ok());
    const std::vector<std::uint8_t> want = ty::EncodeEnvelope(f, payload.data());
    fb::Frame fr_;
    ASSERT_TRUE(r->Next(fb::Deadline::Try(), &fr_).ok());
    ASSERT_EQ(fr_.size, want.size()) << "call " << i;
    ASSERT_EQ(std::memcmp(fr_.data, want.data(), want.size()), 0) << "call " << i;
    r->Release();
  }
  EXPECT_EQ(fw.stats().frames, 20000u);
}
