// Typed Cap'n Proto frames (type 17): built in place through a single-segment arena over the claim,
// read with limits, fallbacks, corrupt frames, test vectors.
#include <capnp/serialize.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "framebridge/typed_capnp.hpp"
#include "helpers.hpp"
#include "json.hpp"
#include "typed_content_capnp.hpp"
#include "framebridge/typed.hpp"

namespace fb = framebridge;
namespace ty = framebridge::typed;
namespace cp = framebridge::frames::capnp;

std::vector<std::string> FrameVectorFiles(bool capnp);  // test_typed.cpp
bool BadFrameVector(const std::string& name);
std::string FrameVectorsDir();
std::vector<std::uint8_t> ReadFrameVector(const std::string& name);

namespace {

struct Param {
  fb::RegionKind kind;
  ty::ReadMode mode;
};

class TypedCapnp : public ::testing::TestWithParam<Param> {};

INSTANTIATE_TEST_SUITE_P(All, TypedCapnp,
                         ::testing::Values(Param{fb::RegionKind::kSPSC, ty::ReadMode::kCopy},
                                           Param{fb::RegionKind::kSPSC, ty::ReadMode::kInPlace},
                                           Param{fb::RegionKind::kMPSC, ty::ReadMode::kCopy},
                                           Param{fb::RegionKind::kMPSC, ty::ReadMode::kInPlace}),
                         [](const ::testing::TestParamInfo<Param>& i) {
                           return std::string(fb::RegionKindName(i.param.kind)) +
                                  (i.param.mode == ty::ReadMode::kCopy ? "Copy" : "InPlace");
                         });

bool Check(cp::Envelope::Reader e, std::uint32_t w, std::uint64_t i, std::string* why) {
  char buf[512];
  try {
    if (frbtest::CheckTestEnvelopeCapnp(e, w, i, buf, sizeof buf)) return true;
    *why = buf;
  } catch (const kj::Exception& ex) {
    *why = ex.getDescription().cStr();
  }
  return false;
}

TEST_P(TypedCapnp, RoundTripEveryPayloadKind) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(GetParam().kind, 1 << 14));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  ty::CapnpWriter cw(&*w);
  ty::CapnpReader rd(GetParam().mode);
  std::string why;
  for (std::uint64_t i = 0; i < 3000; ++i) {
    std::size_t n = 0;
    auto st = cw.Build([&](capnp::MessageBuilder& m) { frbtest::BuildTestEnvelopeCapnp(m, 5, i); },
                       fb::Deadline::Try(), &n);
    ASSERT_TRUE(st.ok()) << i << ": " << st.message();
    fb::Frame f;
    ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
    ASSERT_EQ(f.type, ty::kTypeCapnp);
    ASSERT_EQ(f.size, n);
    ASSERT_EQ(f.size % 8, 0u);
    cp::Envelope::Reader e;
    st = rd.Open(f, &e);
    ASSERT_TRUE(st.ok()) << i << ": " << st.message();
    ASSERT_TRUE(Check(e, 5, i, &why)) << why;
    r->Release();
  }
  EXPECT_EQ(cw.stats().frames, 3000u);
  EXPECT_LE(cw.stats().fallbacks, 2u);
  const std::uint64_t before = cw.stats().fallbacks;
  for (std::uint64_t i = 0; i < 300; ++i) {
    ASSERT_TRUE(cw.Build([&](capnp::MessageBuilder& m) { frbtest::BuildTestEnvelopeCapnp(m, 5, i); },
                         fb::Deadline::Try())
                    .ok());
    fb::Frame f;
    ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
    r->Release();
  }
  EXPECT_EQ(cw.stats().fallbacks, before) << "steady state: no fallback";
}

// The frame is exactly the words of one segment: what a stock reader of a flat array sees too.
TEST(TypedCapnp, FrameIsOneSegmentWithoutTable) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(fb::RegionKind::kSPSC, 1 << 14));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  std::size_t n = 0;
  ASSERT_TRUE(ty::BuildCapnpFrame(*w, [&](capnp::MessageBuilder& m) { frbtest::BuildTestEnvelopeCapnp(m, 0, 4); },
                                  4096, fb::Deadline::Try(), &n)
                  .ok());
  capnp::MallocMessageBuilder ref;
  frbtest::BuildTestEnvelopeCapnp(ref, 0, 4);
  auto segs = ref.getSegmentsForOutput();
  ASSERT_EQ(segs.size(), 1u);
  fb::Frame f;
  ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
  ASSERT_EQ(f.size, segs[0].size() * 8);
  EXPECT_EQ(std::memcmp(f.data, segs[0].begin(), f.size), 0) << "same words as a stock builder's segment";
  r->Release();
}

TEST_P(TypedCapnp, FallbackCopiesIntoBiggerClaim) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(GetParam().kind, 1 << 14));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  ty::CapnpWriter cw(&*w, /*bound=*/16, /*fixed=*/true);
  ty::CapnpReader rd(GetParam().mode);
  std::string why;
  for (std::uint64_t i = 0; i < 30; ++i) {
    auto st = cw.Build([&](capnp::MessageBuilder& m) { frbtest::BuildTestEnvelopeCapnp(m, 2, i); },
                       fb::Deadline::Try());
    ASSERT_TRUE(st.ok()) << st.message();
    fb::Frame f;
    ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
    cp::Envelope::Reader e;
    st = rd.Open(f, &e);
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_TRUE(Check(e, 2, i, &why)) << why;
    r->Release();
  }
  EXPECT_EQ(cw.stats().fallbacks, 30u);
  ty::CapnpWriter aw(&*w, 16);
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE(aw.Build([&](capnp::MessageBuilder& m) { frbtest::BuildTestEnvelopeCapnp(m, 2, 0); },
                         fb::Deadline::Try())
                    .ok());
    fb::Frame f;
    ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
    r->Release();
  }
  EXPECT_EQ(aw.stats().fallbacks, 1u);
}

TEST(TypedCapnp, BuildExceptionAbortsTheClaim) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(fb::RegionKind::kSPSC, 1 << 14));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  auto st = ty::BuildCapnpFrame(*w, [&](capnp::MessageBuilder& m) {
    auto e = m.initRoot<cp::Envelope>();
    e.initTrace();
    KJ_FAIL_REQUIRE("user code failed");
  });
  EXPECT_EQ(st.code(), fb::Errc::kInvalidArgument) << st.message();
  fb::Frame f;
  EXPECT_EQ(r->TryNext(&f).code(), fb::Errc::kEmpty);
  ASSERT_TRUE(ty::BuildCapnpFrame(*w, [&](capnp::MessageBuilder& m) { frbtest::BuildTestEnvelopeCapnp(m, 0, 0); }).ok());
  ASSERT_TRUE(r->TryNext(&f).ok());
  r->Release();
}

TEST(TypedCapnp, CorruptFramesRejected) {
  capnp::MallocMessageBuilder ref;
  frbtest::BuildTestEnvelopeCapnp(ref, 3, 1);
  auto segs = ref.getSegmentsForOutput();
  ASSERT_EQ(segs.size(), 1u);
  std::vector<std::uint8_t> good(reinterpret_cast<const std::uint8_t*>(segs[0].begin()),
                                 reinterpret_cast<const std::uint8_t*>(segs[0].end()));
  ty::CapnpReader rd;
  cp::Envelope::Reader e;
  ASSERT_TRUE(rd.Open(good.data(), good.size(), &e).ok());
  EXPECT_EQ(rd.Open(good.data(), 0, &e).code(), fb::Errc::kCorrupt);
  EXPECT_EQ(rd.Open(good.data(), 12, &e).code(), fb::Errc::kCorrupt);
  // Truncated: some pointer points past the end.
  EXPECT_EQ(rd.Open(good.data(), good.size() / 2 & ~std::size_t{7}, &e).code(), fb::Errc::kCorrupt);
  int rejected = 0;
  std::string why;
  for (std::size_t k = 0; k < good.size(); ++k) {
    for (std::uint8_t x : {0x01, 0x80, 0xff}) {
      std::vector<std::uint8_t> bad = good;
      bad[k] ^= x;
      auto st = rd.Open(bad.data(), bad.size(), &e);
      if (!st.ok()) {
        EXPECT_EQ(st.code(), fb::Errc::kCorrupt);
        ++rejected;
      } else {
        (void)Check(e, 3, 1, &why);  // bounded: must not crash
      }
    }
  }
  EXPECT_GT(rejected, 0);
  // Tight limits.
  ty::CapnpLimits lim;
  lim.nesting = 1;
  EXPECT_EQ(ty::CapnpReader(ty::ReadMode::kCopy, lim).Open(good.data(), good.size(), &e).code(), fb::Errc::kCorrupt);
  lim = ty::CapnpLimits();
  lim.traversal_words = 4;
  EXPECT_EQ(ty::CapnpReader(ty::ReadMode::kCopy, lim).Open(good.data(), good.size(), &e).code(), fb::Errc::kCorrupt);
}

// A hostile writer keeps changing a committed frame while the reader opens and reads it (copy mode).
TEST(TypedCapnp, ScribblingWriterCannotCrashCopyReader) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(fb::RegionKind::kSPSC, 1 << 14));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  ASSERT_TRUE(ty::BuildCapnpFrame(*w, [&](capnp::MessageBuilder& m) { frbtest::BuildTestEnvelopeCapnp(m, 0, 1); },
                                  1024, fb::Deadline::Try())
                  .ok());
  fb::Frame f;
  ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
  std::uint8_t* frame = const_cast<std::uint8_t*>(f.data);
  std::atomic<bool> stop{false};
  std::thread scribbler([&] {
    std::uint64_t x = 88172645463325252ULL;
    while (!stop.load(std::memory_order_relaxed)) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      __atomic_store_n(&frame[x % f.size], static_cast<std::uint8_t>(x >> 32), __ATOMIC_RELAXED);
    }
  });
  ty::CapnpReader rd;
  std::string why;
  for (int k = 0; k < 20000; ++k) {
    cp::Envelope::Reader e;
    if (rd.Open(f, &e).ok()) (void)Check(e, 0, 1, &why);
  }
  stop = true;
  scribbler.join();
  r->Release();
}

TEST(TypedCapnp, GoTestVectors) {
  std::vector<std::string> files = FrameVectorFiles(true);
  if (files.empty()) {
    GTEST_SKIP() << "no Cap'n Proto test vectors (names containing \"capnp\": *.capnp, *.capnp.bin) in " << FrameVectorsDir()
                 << " yet: the Go implementation commits them (schemas/testdata/frames)";
  }
  ty::CapnpReader rd;
  std::string why;
  for (const std::string& n : files) {
    std::vector<std::uint8_t> b = ReadFrameVector(n);
    cp::Envelope::Reader e;
    auto st = rd.Open(b.data(), b.size(), &e);
    if (BadFrameVector(n)) {
      EXPECT_EQ(st.code(), fb::Errc::kCorrupt) << n;
      continue;
    }
    ASSERT_TRUE(st.ok()) << n << ": " << st.message();
    const auto w = static_cast<std::uint32_t>(e.getCorrelationId() >> 32);
    EXPECT_TRUE(Check(e, w, e.getSequence(), &why)) << n << ": " << why;
  }
}

// The vectors as manifest.json describes them (format, ring type, writer, index): each goes through a
// real ring as a frame of its type and is read in both modes exactly as the peers read, every field
// checked against envelope <index> of writer <writer>. Every data file in the directory is listed.
TEST(TypedVectors, ManifestThroughARing) {
  const std::vector<std::uint8_t> mtext = ReadFrameVector("manifest.json");
  if (mtext.empty()) {
    GTEST_SKIP() << "no " << FrameVectorsDir() << "/manifest.json yet: the Go implementation commits it";
  }
  fbjson::Value m;
  std::string err;
  ASSERT_TRUE(fbjson::Parser(std::string(mtext.begin(), mtext.end())).Parse(&m, &err)) << err;
  const auto& vecs = m["vectors"].a;
  ASSERT_FALSE(vecs.empty());
  std::vector<std::string> listed;
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(fb::RegionKind::kSPSC, 1 << 16));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  char why[512];
  std::string cwhy;
  for (const fbjson::Value& v : vecs) {
    const std::string file = v["file"].s, format = v["format"].s;
    SCOPED_TRACE(file + " (" + v["note"].s + ")");
    listed.push_back(file);
    const auto writer = static_cast<std::uint32_t>(v["writer"].u);
    const std::uint64_t index = v["index"].u;
    const auto type = static_cast<std::uint32_t>(v["type"].u);
    ASSERT_TRUE(format == "fbs" || format == "capnp") << format;
    ASSERT_EQ(type, format == "fbs" ? ty::kTypeFlatBuffers : ty::kTypeCapnp);
    const std::vector<std::uint8_t> b = ReadFrameVector(file);
    ASSERT_FALSE(b.empty());
    for (ty::ReadMode mode : {ty::ReadMode::kCopy, ty::ReadMode::kInPlace}) {
      fbtest::Write(*w, type, b);
      fb::Frame f;
      ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
      if (format == "fbs") {
        ty::FlatBuffersReader rd(mode);
        const framebridge::frames::Envelope* e = nullptr;
        auto st = rd.Open(f, &e);
        ASSERT_TRUE(st.ok()) << st.message();
        EXPECT_TRUE(frbtest::CheckTestEnvelope(e, writer, index, why, sizeof why)) << why;
      } else {
        ty::CapnpReader rd(mode);
        cp::Envelope::Reader e;
        auto st = rd.Open(f, &e);
        ASSERT_TRUE(st.ok()) << st.message();
        EXPECT_TRUE(Check(e, writer, index, &cwhy)) << cwhy;
      }
      r->Release();
    }
  }
  for (const std::string& n : FrameVectorFiles(false)) {
    EXPECT_NE(std::find(listed.begin(), listed.end(), n), listed.end()) << n << " is not in manifest.json";
  }
  for (const std::string& n : FrameVectorFiles(true)) {
    EXPECT_NE(std::find(listed.begin(), listed.end(), n), listed.end()) << n << " is not in manifest.json";
  }
}

}  // namespace
