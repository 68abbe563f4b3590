// Typed FlatBuffers frames (type 16): built in place through real rings, verified and checked field by
// field; the ring encoding of docs/schemas.md; fallbacks; corrupt frames; the encoded test vectors the Go
// implementation commits under schemas/testdata/frames.
#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "framebridge/typed.hpp"
#include "helpers.hpp"
#include "typed_content.hpp"

namespace fb = framebridge;
namespace ty = framebridge::typed;
namespace fr = framebridge::frames;

namespace {

std::uint32_t U32(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

struct Param {
  fb::RegionKind kind;
  ty::ReadMode mode;
};

class TypedFbs : public ::testing::TestWithParam<Param> {};

INSTANTIATE_TEST_SUITE_P(All, TypedFbs,
                         ::testing::Values(Param{fb::RegionKind::kSPSC, ty::ReadMode::kCopy},
                                           Param{fb::RegionKind::kSPSC, ty::ReadMode::kInPlace},
                                           Param{fb::RegionKind::kMPSC, ty::ReadMode::kCopy},
                                           Param{fb::RegionKind::kMPSC, ty::ReadMode::kInPlace}),
                         [](const ::testing::TestParamInfo<Param>& i) {
                           return std::string(fb::RegionKindName(i.param.kind)) +
                                  (i.param.mode == ty::ReadMode::kCopy ? "Copy" : "InPlace");
                         });

// Every payload kind, through a real ring, many times around it; each frame checked field by field and
// laid out as docs/schemas.md says.
TEST_P(TypedFbs, RoundTripEveryPayloadKind) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(GetParam().kind, 1 << 14));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  ty::FlatBuffersWriter fw(&*w);
  ty::FlatBuffersReader fr_(GetParam().mode);
  char why[512];
  for (std::uint64_t i = 0; i < 3000; ++i) {
    std::size_t n = 0;
    auto st = fw.Build([&](flatbuffers::FlatBufferBuilder& b) { return frbtest::BuildTestEnvelope(b, 7, i); },
                       fb::Deadline::Try(), &n);
    ASSERT_TRUE(st.ok()) << i << ": " << st.message();
    fb::Frame f;
    ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
    ASSERT_EQ(f.type, ty::kTypeFlatBuffers);
    ASSERT_EQ(f.size, n);
    ASSERT_EQ(f.size % 16, 0u) << "L % 16";
    ASSERT_EQ(std::memcmp(f.data + 4, "FRB1", 4), 0);
    ASSERT_LT(U32(f.data), f.size) << "root offset";
    const fr::Envelope* e = nullptr;
    st = fr_.Open(f, &e);
    ASSERT_TRUE(st.ok()) << i << ": " << st.message();
    ASSERT_TRUE(frbtest::CheckTestEnvelope(e, 7, i, why, sizeof why)) << why;
    if (GetParam().mode == ty::ReadMode::kInPlace) {
      ASSERT_GE(reinterpret_cast<const std::uint8_t*>(e), f.data);
      ASSERT_LT(reinterpret_cast<const std::uint8_t*>(e), f.data + f.size) << "read in place";
    }
    r->Release();
  }
  const ty::Stats& s = fw.stats();
  EXPECT_EQ(s.frames, 3000u);
  EXPECT_LE(s.fallbacks, 2u) << "the bound adapts to the frames built";
  EXPECT_GT(s.built, 0u);
  EXPECT_LT(s.bytes, s.built * 2) << "gaps stay small in steady state";
  // Steady state: no fallback over the last frames.
  const std::uint64_t before = s.fallbacks;
  for (std::uint64_t i = 0; i < 300; ++i) {
    ASSERT_TRUE(fw.Build([&](flatbuffers::FlatBufferBuilder& b) { return frbtest::BuildTestEnvelope(b, 7, i); },
                         fb::Deadline::Try())
                    .ok());
    fb::Frame f;
    ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
    r->Release();
  }
  EXPECT_EQ(fw.stats().fallbacks, before);
}

// A claim too small for the frame: built off-ring, copied to the end of a new claim, counted; readers
// see the same envelope.
TEST_P(TypedFbs, FallbackCopiesIntoBiggerClaim) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(GetParam().kind, 1 << 14));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  ty::FlatBuffersWriter fw(&*w, /*bound=*/32, /*fixed=*/true);
  ty::FlatBuffersReader fr_(GetParam().mode);
  char why[512];
  for (std::uint64_t i = 0; i < 30; ++i) {
    std::size_t n = 0;
    auto st = fw.Build([&](flatbuffers::FlatBufferBuilder& b) { return frbtest::BuildTestEnvelope(b, 1, i); },
                       fb::Deadline::Try(), &n);
    ASSERT_TRUE(st.ok()) << st.message();
    fb::Frame f;
    ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
    ASSERT_EQ(f.size % 16, 0u);
    const fr::Envelope* e = nullptr;
    st = fr_.Open(f, &e);
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_TRUE(frbtest::CheckTestEnvelope(e, 1, i, why, sizeof why)) << why;
    r->Release();
  }
  EXPECT_EQ(fw.stats().fallbacks, 30u);
  EXPECT_EQ(fw.bound(), 32u) << "fixed bound";

  // An adaptive writer grows its bound after one fallback.
  ty::FlatBuffersWriter aw(&*w, 32);
  for (std::uint64_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(aw.Build([&](flatbuffers::FlatBufferBuilder& b) { return frbtest::BuildTestEnvelope(b, 1, 0); },
                         fb::Deadline::Try())
                    .ok());
    fb::Frame f;
    ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
    r->Release();
  }
  EXPECT_EQ(aw.stats().fallbacks, 1u);
}

// A frame many times larger than its claim: the builder grows several times (view -> heap -> heap), the
// frame arrives intact, and nothing was written outside the claims (the ring's free space stays zero).
TEST_P(TypedFbs, LargeFrameGrowsOffRingWithoutTouchingFreeSpace) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(GetParam().kind, 1 << 16));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  ty::FlatBuffersWriter fw(&*w, 64);
  std::vector<std::uint8_t> big = fbtest::Payload(20000, 3);
  for (int k = 0; k < 3; ++k) {
    std::size_t n = 0;
    auto st = fw.Build(
        [&](flatbuffers::FlatBufferBuilder& b) {
          auto d = b.CreateVector(big.data(), big.size());
          auto raw = fr::CreateRaw(b, d);
          return fr::CreateEnvelope(b, 9, 0, b.CreateString("big"), fr::Kind::OneWay, 0, 0, 0, fr::Payload::Raw,
                                    raw.Union());
        },
        fb::Deadline::Try(), &n);
    ASSERT_TRUE(st.ok()) << st.message();
    // Every byte of the ring after this frame's record is still zero.
    const unsigned char* data = fbtest::RegionBase(seg, "r") + fb::layout::kRingDataOffset;
    const std::uint64_t tail = w->counters().tail, cap = w->capacity();
    for (std::uint64_t p = tail; p < tail + (cap - (tail - r->counters().head)); ++p) {
      ASSERT_EQ(data[p & (cap - 1)], 0) << "free space byte at position " << p;
    }
    fb::Frame f;
    ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
    ty::FlatBuffersReader rd(GetParam().mode);
    const fr::Envelope* e = nullptr;
    ASSERT_TRUE(rd.Open(f, &e).ok());
    const fr::Raw* raw = e->payload_as_Raw();
    ASSERT_NE(raw, nullptr);
    ASSERT_EQ(raw->data()->size(), big.size());
    EXPECT_EQ(std::memcmp(raw->data()->data(), big.data(), big.size()), 0);
    EXPECT_EQ(e->status_message()->str(), "big");
    r->Release();
  }
  EXPECT_EQ(fw.stats().fallbacks, 1u) << "the bound grew after the first";
}

// Many small additions: the builder grows step by step, also inside its heap buffer.
TEST(TypedFbs, StepwiseGrowthOffRing) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(fb::RegionKind::kSPSC, 1 << 17));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  ty::FlatBuffersWriter fw(&*w, 64);
  char buf[32];
  ASSERT_TRUE(fw.Build([&](flatbuffers::FlatBufferBuilder& b) {
                  std::vector<flatbuffers::Offset<flatbuffers::String>> labels;
                  for (int k = 0; k < 3000; ++k) {
                    std::snprintf(buf, sizeof buf, "label-%d", k);
                    labels.push_back(b.CreateString(buf));
                  }
                  auto lv = b.CreateVector(labels);
                  auto resp = fr::CreateModelResponse(b, 0, 0, 0, lv);
                  return fr::CreateEnvelope(b, 1, 0, 0, fr::Kind::Response, 0, 0, 0, fr::Payload::ModelResponse,
                                            resp.Union());
                },
                fb::Deadline::Try())
                  .ok());
  fb::Frame f;
  ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
  ty::FlatBuffersReader rd;
  const fr::Envelope* e = nullptr;
  ASSERT_TRUE(rd.Open(f, &e).ok());
  const auto* lb = e->payload_as_ModelResponse()->labels();
  ASSERT_EQ(lb->size(), 3000u);
  for (int k = 0; k < 3000; ++k) {
    std::snprintf(buf, sizeof buf, "label-%d", k);
    ASSERT_EQ(lb->Get(static_cast<flatbuffers::uoffset_t>(k))->str(), buf);
  }
  EXPECT_EQ(fw.stats().fallbacks, 1u);
  r->Release();
}

TEST(TypedFbs, FrameLargerThanTheRingIsTooLarge) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(fb::RegionKind::kSPSC, 4096));
  auto w = seg.Writer("r");
  ASSERT_TRUE(w.ok());
  std::vector<std::uint8_t> big(8192, 1);
  auto st = ty::BuildFrame(*w, [&](flatbuffers::FlatBufferBuilder& b) {
    auto d = b.CreateVector(big.data(), big.size());
    auto raw = fr::CreateRaw(b, d);
    return fr::CreateEnvelope(b, 1, 0, 0, fr::Kind::OneWay, 0, 0, 0, fr::Payload::Raw, raw.Union());
  });
  EXPECT_EQ(st.code(), fb::Errc::kTooLarge) << st.message();
  // The ring is still usable.
  auto st2 = ty::BuildFrame(*w, [&](flatbuffers::FlatBufferBuilder& b) { return frbtest::BuildTestEnvelope(b, 0, 0); });
  EXPECT_TRUE(st2.ok()) << st2.message();
}

// The one-shot helper, and a frame built off-ring with a stock builder and copied (no gap): both valid.
TEST(TypedFbs, BuildFrameHelperAndOffRingFrames) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(fb::RegionKind::kSPSC, 1 << 14));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  std::size_t n = 0;
  auto st = ty::BuildFrame(
      *w, [&](flatbuffers::FlatBufferBuilder& b) { return frbtest::BuildTestEnvelope(b, 2, 4); }, 1024,
      fb::Deadline::Try(), &n);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(n, 1024u);

  flatbuffers::FlatBufferBuilder ob;
  ob.Finish(frbtest::BuildTestEnvelope(ob, 2, 5), "FRB1");
  auto c = w->Claim(ty::kTypeFlatBuffers, ob.GetSize(), fb::Deadline::Try());
  ASSERT_TRUE(c.ok());
  std::memcpy(c->data, ob.GetBufferPointer(), ob.GetSize());
  ASSERT_TRUE(w->Commit(ob.GetSize()).ok());

  ty::FlatBuffersReader rd;
  char why[512];
  for (std::uint64_t i = 4; i <= 5; ++i) {
    fb::Frame f;
    ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
    const fr::Envelope* e = nullptr;
    st = rd.Open(f, &e);
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_TRUE(frbtest::CheckTestEnvelope(e, 2, i, why, sizeof why)) << why;
  }
  r->Release();
}

// In a claim of L bytes the body sits at the end; the prefix is the root offset (L - s) + r and FRB1.
TEST(TypedFbs, RingEncodingMatchesDocs) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(fb::RegionKind::kSPSC, 1 << 14));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  flatbuffers::FlatBufferBuilder ob;
  ob.Finish(frbtest::BuildTestEnvelope(ob, 3, 1), "FRB1");
  const std::size_t s = ob.GetSize();
  ASSERT_TRUE(ty::BuildFrame(*w, [&](flatbuffers::FlatBufferBuilder& b) { return frbtest::BuildTestEnvelope(b, 3, 1); },
                             2048, fb::Deadline::Try())
                  .ok());
  fb::Frame f;
  ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
  ASSERT_EQ(f.size, 2048u);
  // The body is byte for byte what a stock builder makes (after its own 8-byte prefix).
  EXPECT_EQ(std::memcmp(f.data + (2048 - s) + 8, ob.GetBufferPointer() + 8, s - 8), 0);
  EXPECT_EQ(U32(f.data), (2048 - s) + U32(ob.GetBufferPointer()));
  EXPECT_EQ(std::memcmp(f.data + 4, "FRB1", 4), 0);
  r->Release();
}

// Corrupt frames are rejected (kCorrupt), never crash (ASan/UBSan): truncations, every single-byte
// change of a valid frame, a wrong identifier, tight limits.
TEST(TypedFbs, CorruptFramesRejected) {
  flatbuffers::FlatBufferBuilder ob;
  ob.Finish(frbtest::BuildTestEnvelope(ob, 3, 1), "FRB1");
  std::vector<std::uint8_t> good(ob.GetBufferPointer(), ob.GetBufferPointer() + ob.GetSize());
  ty::FlatBuffersReader rd;
  const fr::Envelope* e = nullptr;
  ASSERT_TRUE(rd.Open(good.data(), good.size(), &e).ok());

  for (std::size_t n = 0; n < good.size(); n += 4) {
    auto st = rd.Open(good.data(), n, &e);
    // A truncated buffer fails to verify: its root table lies at the end.
    EXPECT_EQ(st.code(), fb::Errc::kCorrupt) << n;
    if (st.ok()) {
      char why[512];
      (void)frbtest::CheckTestEnvelope(e, 3, 1, why, sizeof why);
    }
  }
  std::vector<std::uint8_t> bad = good;
  std::memcpy(bad.data() + 4, "XXXX", 4);
  EXPECT_EQ(rd.Open(bad.data(), bad.size(), &e).code(), fb::Errc::kCorrupt);
  bad = good;
  const std::uint32_t huge = 0x7ffffff0;
  std::memcpy(bad.data(), &huge, 4);
  EXPECT_EQ(rd.Open(bad.data(), bad.size(), &e).code(), fb::Errc::kCorrupt);

  int rejected = 0;
  char why[512];
  for (std::size_t k = 0; k < good.size(); ++k) {
    for (std::uint8_t x : {0x01, 0x80, 0xff}) {
      bad = good;
      bad[k] ^= x;
      auto st = rd.Open(bad.data(), bad.size(), &e);
      if (!st.ok()) {
        EXPECT_EQ(st.code(), fb::Errc::kCorrupt);
        ++rejected;
      } else {
        (void)frbtest::CheckTestEnvelope(e, 3, 1, why, sizeof why);  // bounded: must not crash
      }
    }
  }
  EXPECT_GT(rejected, 0);

  ty::VerifyLimits tight;
  tight.max_depth = 2;
  EXPECT_EQ(ty::FlatBuffersReader(ty::ReadMode::kCopy, tight).Open(good.data(), good.size(), &e).code(),
            fb::Errc::kCorrupt);
  tight = ty::VerifyLimits();
  tight.max_tables = 2;
  EXPECT_EQ(ty::FlatBuffersReader(ty::ReadMode::kCopy, tight).Open(good.data(), good.size(), &e).code(),
            fb::Errc::kCorrupt);

  // A frame of another type is refused before its bytes are looked at.
  fb::Frame f;
  f.data = good.data(), f.size = good.size(), f.type = 1;
  EXPECT_EQ(rd.Open(f, &e).code(), fb::Errc::kInvalidArgument);
}

// Corrupt frames in a real ring: the reader rejects them and goes on with the next frame.
TEST(TypedFbs, CorruptFrameInRingThenGoodFrame) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(fb::RegionKind::kSPSC, 1 << 14));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  for (ty::ReadMode m : {ty::ReadMode::kCopy, ty::ReadMode::kInPlace}) {
    fbtest::Write(*w, ty::kTypeFlatBuffers, fbtest::Payload(96, 9));  // garbage of type 16
    ASSERT_TRUE(ty::BuildFrame(
                    *w, [&](flatbuffers::FlatBufferBuilder& b) { return frbtest::BuildTestEnvelope(b, 0, 2); }, 256,
                    fb::Deadline::Try())
                    .ok());
    ty::FlatBuffersReader rd(m);
    fb::Frame f;
    const fr::Envelope* e = nullptr;
    ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
    EXPECT_EQ(rd.Open(f, &e).code(), fb::Errc::kCorrupt);
    EXPECT_EQ(e, nullptr);
    ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
    ASSERT_TRUE(rd.Open(f, &e).ok());
    char why[512];
    EXPECT_TRUE(frbtest::CheckTestEnvelope(e, 0, 2, why, sizeof why)) << why;
  }
  r->Release();
}

// Copy mode: the envelope stays readable after Release (it is the reader's copy).
TEST(TypedFbs, CopyOutlivesRelease) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(fb::RegionKind::kSPSC, 1 << 14));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  ASSERT_TRUE(ty::BuildFrame(*w, [&](flatbuffers::FlatBufferBuilder& b) { return frbtest::BuildTestEnvelope(b, 0, 1); },
                             512, fb::Deadline::Try())
                  .ok());
  ty::FlatBuffersReader rd;
  fb::Frame f;
  ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
  const fr::Envelope* e = nullptr;
  ASSERT_TRUE(rd.Open(f, &e).ok());
  r->Release();  // zeroes the frame in the ring
  char why[512];
  EXPECT_TRUE(frbtest::CheckTestEnvelope(e, 0, 1, why, sizeof why)) << why;
}

// A hostile writer keeps changing a committed frame while the reader opens it again and again (copy
// mode, the default): every Open either rejects the bytes it copied or hands out an envelope whose every
// field reads within the copy. Under ASan+UBSan this must stay clean.
TEST(TypedFbs, ScribblingWriterCannotCrashCopyReader) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(fb::RegionKind::kSPSC, 1 << 14));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  ASSERT_TRUE(ty::BuildFrame(*w, [&](flatbuffers::FlatBufferBuilder& b) { return frbtest::BuildTestEnvelope(b, 0, 1); },
                             512, fb::Deadline::Try())
                  .ok());
  fb::Frame f;
  ASSERT_TRUE(r->Next(fb::Deadline::Try(), &f).ok());
  std::uint8_t* frame = const_cast<std::uint8_t*>(f.data);  // the hostile writer's view of its frame
  std::atomic<bool> stop{false};
  std::thread scribbler([&] {
    std::uint64_t x = 88172645463325252ULL;
    while (!stop.load(std::memory_order_relaxed)) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      __atomic_store_n(&frame[x % f.size], static_cast<std::uint8_t>(x >> 32), __ATOMIC_RELAXED);
    }
  });
  ty::FlatBuffersReader rd;
  char why[512];
  int ok = 0;
  for (int k = 0; k < 20000; ++k) {
    const fr::Envelope* e = nullptr;
    if (rd.Open(f, &e).ok()) {
      ++ok;
      (void)frbtest::CheckTestEnvelope(e, 0, 1, why, sizeof why);
    }
  }
  stop = true;
  scribbler.join();
  r->Release();
  SUCCEED() << ok << " of 20000 opens accepted the bytes they copied";
}

// --- Test vectors: encoded frames the Go implementation commits under schemas/testdata/frames. ---

std::string FramesDir() {
  const char* d = std::getenv("FRB_TESTDATA_DIR");
  return std::string(d == nullptr ? "../../schemas/testdata" : d) + "/frames";
}

// Regular files under dir (recursively), as paths relative to dir.
void ListDir(const std::string& dir, const std::string& rel, std::vector<std::string>* out) {
  DIR* d = opendir((dir + "/" + rel).c_str());
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    const std::string r = rel.empty() ? n : rel + "/" + n;
    if (e->d_type == DT_DIR) {
      ListDir(dir, r, out);
    } else if (e->d_type == DT_REG) {
      out->push_back(r);
    }
  }
  closedir(d);
}

bool EndsWith(const std::string& s, const char* sfx) {
  const std::size_t n = std::strlen(sfx);
  return s.size() >= n && s.compare(s.size() - n, n, sfx) == 0;
}

std::vector<std::uint8_t> ReadFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

// Shared with test_typed_capnp.cpp. The vector files of one format, by name: Cap'n Proto when the name
// contains "capnp" (*.capnp, *.capnp.bin, ...), FlatBuffers otherwise (*.frb — frame.fbs's
// file_extension —, *.fb, *.fbs.bin, *.bin). The same classification as the Java vectors test.
std::vector<std::string> FrameVectorFiles(bool capnp) {
  std::vector<std::string> all, out;
  ListDir(FramesDir(), "", &all);
  std::sort(all.begin(), all.end());
  for (const std::string& n : all) {
    const bool is_capnp = n.find("capnp") != std::string::npos;
    const bool data = EndsWith(n, ".bin") || EndsWith(n, ".frb") || EndsWith(n, ".fb") || EndsWith(n, ".capnp");
    if (data && is_capnp == capnp) out.push_back(n);
  }
  return out;
}
// Whether a vector's name says it must be rejected.
bool BadFrameVector(const std::string& name) {
  std::string n = name;
  for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return n.find("bad") != std::string::npos || n.find("corrupt") != std::string::npos ||
         n.find("invalid") != std::string::npos;
}
std::string FrameVectorsDir() { return FramesDir(); }
std::vector<std::uint8_t> ReadFrameVector(const std::string& name) { return ReadFile(FramesDir() + "/" + name); }

namespace {

TEST(TypedFbs, GoTestVectors) {
  std::vector<std::string> files = FrameVectorFiles(false);
  if (files.empty()) {
    GTEST_SKIP() << "no FlatBuffers test vectors (*.frb, *.fb, *.fbs.bin, *.bin) in " << FramesDir()
                 << " yet: the Go implementation commits them (schemas/testdata/frames)";
  }
  ty::FlatBuffersReader rd;
  char why[512];
  for (const std::string& n : files) {
    std::vector<std::uint8_t> b = ReadFrameVector(n);
    const fr::Envelope* e = nullptr;
    auto st = rd.Open(b.data(), b.size(), &e);
    if (BadFrameVector(n)) {
      EXPECT_EQ(st.code(), fb::Errc::kCorrupt) << n;
      continue;
    }
    ASSERT_TRUE(st.ok()) << n << ": " << st.message();
    // Envelope i of writer w: w from the correlation id, i from the sequence.
    const auto w = static_cast<std::uint32_t>(e->correlation_id() >> 32);
    EXPECT_TRUE(frbtest::CheckTestEnvelope(e, w, e->sequence(), why, sizeof why)) << n << ": " << why;
  }
}

}  // namespace
