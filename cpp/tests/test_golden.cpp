// Golden images (docs/layout.md §8): for each image in schemas/testdata/manifest.json, attach a
// private copy by fd and check that reading it yields exactly what the manifest says.
#include <fstream>
#include <sstream>

#include "helpers.hpp"
#include "json.hpp"

namespace fb = framebridge;

namespace {

std::string Dir() {
  const char* d = std::getenv("FRB_TESTDATA_DIR");
  return d == nullptr ? "../schemas/testdata" : d;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

std::string Hex(const std::uint8_t* p, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s.push_back(digits[p[i] >> 4]);
    s.push_back(digits[p[i] & 15]);
  }
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const char* KindName(fb::RegionKind k) { return fb::RegionKindName(k); }

// A private memfd holding the image bytes.
int PrivateCopy(const std::string& bytes) {
  int fd = fb::sys::MemfdCreate("golden", 0);
  if (fd < 0) return -1;
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + off, bytes.size() - off);
    if (n <= 0) {
      close(fd);
      return -1;
    }
    off += static_cast<std::size_t>(n);
  }
  return fd;
}

int g_frames_checked = 0;

void CheckImage(const fbjson::Value& img) {
  const std::string file = img["file"].s;
  SCOPED_TRACE("image " + file + ": " + img["description"].s);
  std::string bytes;
  ASSERT_TRUE(ReadFile(Dir() + "/" + file, &bytes)) << "cannot read " << file;
  int fd = PrivateCopy(bytes);
  ASSERT_GE(fd, 0);
  auto seg = fb::Segment::AttachFd(fd);
  close(fd);
  const fbjson::Value& want_err = img["attach_error"];
  if (!want_err.is_null()) {
    ASSERT_FALSE(seg.ok()) << "attach succeeded, want error " << want_err.s;
    if (want_err.s == "corrupt") {
      EXPECT_EQ(seg.code(), fb::Errc::kCorrupt) << seg.status().message();
    } else if (want_err.s == "version") {
      EXPECT_EQ(seg.code(), fb::Errc::kVersionMismatch) << seg.status().message();
    } else {
      ADD_FAILURE() << "unknown attach_error " << want_err.s;
    }
    return;
  }
  ASSERT_TRUE(seg.ok()) << seg.status().message();
  const auto& regions = img["regions"].a;
  ASSERT_EQ(seg->region_count(), regions.size());
  for (std::size_t i = 0; i < regions.size(); ++i) {
    const fb::Region& r = seg->region(i);
    EXPECT_EQ(std::string(r.name), regions[i]["name"].s) << "region " << i;
    EXPECT_EQ(KindName(r.kind), regions[i]["kind"].s) << "region " << i;
    EXPECT_EQ(r.offset, regions[i]["offset"].u) << "region " << i;
    EXPECT_EQ(r.length, regions[i]["length"].u) << "region " << i;
    EXPECT_EQ(r.capacity, regions[i]["capacity"].u) << "region " << i;
  }
  for (const fbjson::Value& ring : img["rings"].a) {
    const std::string name = ring["name"].s;
    SCOPED_TRACE("ring " + name);
    const fb::Region* reg = seg->FindRegion(name);
    ASSERT_NE(reg, nullptr);
    fb::RingCounters before = fb::LoadRingCounters(seg->base() + reg->offset);
    EXPECT_EQ(before.head, ring["head"].u);
    EXPECT_EQ(before.tail, ring["tail"].u);
    auto rd = seg->Reader(name);
    ASSERT_TRUE(rd.ok()) << rd.status().message();
    const auto& frames = ring["frames"].a;
    std::size_t got = 0;
    std::string end;
    for (int guard = 0; guard < 1000000; ++guard) {
      fb::Frame f;
      fb::Status st = rd->TryNext(&f);
      if (!st) {
        end = st.code() == fb::Errc::kEmpty ? "empty" : st.code() == fb::Errc::kCorrupt ? "corrupt" : st.message();
        break;
      }
      if (got < frames.size()) {
        ++g_frames_checked;
        EXPECT_EQ(f.type, frames[got]["type"].u) << "frame " << got;
        EXPECT_EQ(f.seq, frames[got]["seq"].u) << "frame " << got;
        EXPECT_EQ(Hex(f.data, f.size), Lower(frames[got]["payload_hex"].s)) << "frame " << got;
      }
      ++got;
    }
    EXPECT_EQ(got, frames.size()) << "frames delivered";
    EXPECT_EQ(end, ring["end"].s);
    fb::RingCounters after = rd->counters();
    EXPECT_EQ(after.abandoned_records - before.abandoned_records, ring["abandoned"].u);
  }
  for (const fbjson::Value& mbv : img["mailboxes"].a) {
    const std::string name = mbv["name"].s;
    SCOPED_TRACE("mailbox " + name);
    auto mb = seg->Mailbox(name);
    ASSERT_TRUE(mb.ok()) << mb.status().message();
    std::vector<std::uint8_t> buf(mb->capacity());
    fb::MailboxValue v;
    fb::Status st = mb->Load(buf.data(), buf.size(), &v, fb::Deadline::After(1000 * 1000 * 1000));
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(v.version, mbv["version"].u);
    const std::int64_t status = mbv["status"].negative ? -static_cast<std::int64_t>(mbv["status"].u)
                                                       : static_cast<std::int64_t>(mbv["status"].u);
    EXPECT_EQ(v.status, status);
    EXPECT_EQ(Hex(buf.data(), buf.size()), Lower(mbv["payload_hex"].s));
  }
}

TEST(Golden, ImagesReadAsTheManifestSays) {
  std::string text;
  if (!ReadFile(Dir() + "/manifest.json", &text)) {
    GTEST_SKIP() << "no golden manifest at " << Dir() << "/manifest.json (the Go side writes it)";
  }
  fbjson::Value m;
  std::string err;
  ASSERT_TRUE(fbjson::Parser(text).Parse(&m, &err)) << err;
  EXPECT_EQ(m["layout_version"].u, fb::layout::kLayoutVersion);
  ASSERT_FALSE(m["images"].a.empty()) << "manifest lists no images";
  for (const fbjson::Value& img : m["images"].a) CheckImage(img);
  std::printf("golden: %zu images, %d frames checked\n", m["images"].a.size(), g_frames_checked);
}

// A C++-created segment with an image's regions has the same header bytes as Go's, except the creator's
// pid, start time and creation time; and an untouched ring control block of Go's image matches ours.
TEST(Golden, CppCreatesTheHeaderBytesGoCreates) {
  std::string text;
  if (!ReadFile(Dir() + "/manifest.json", &text)) {
    GTEST_SKIP() << "no golden manifest at " << Dir() << "/manifest.json (the Go side writes it)";
  }
  fbjson::Value m;
  std::string err;
  ASSERT_TRUE(fbjson::Parser(text).Parse(&m, &err)) << err;
  int compared = 0;
  for (const fbjson::Value& img : m["images"].a) {
    if (!img["attach_error"].is_null()) continue;
    SCOPED_TRACE("image " + img["file"].s);
    fb::Spec spec;
    bool mailbox_seen = false, rings_first = true;
    for (const fbjson::Value& r : img["regions"].a) {
      if (r["kind"].s == "mailbox") {
        spec.mailboxes.push_back({r["name"].s, r["capacity"].u});
        mailbox_seen = true;
      } else {
        rings_first = rings_first && !mailbox_seen;
        spec.rings.push_back({r["name"].s, r["kind"].s == "mpsc" ? fb::RegionKind::kMPSC : fb::RegionKind::kSPSC,
                              r["capacity"].u});
      }
    }
    if (!rings_first) continue;  // not expressible as rings-then-mailboxes
    std::string go;
    ASSERT_TRUE(ReadFile(Dir() + "/" + img["file"].s, &go));
    auto seg = fb::Segment::CreateMemfd("golden", spec);
    ASSERT_TRUE(seg.ok()) << seg.status().message();
    ASSERT_EQ(seg->size(), go.size());
    const unsigned char* cpp = seg->base();
    const auto* gob = reinterpret_cast<const unsigned char*>(go.data());
    for (std::size_t i = 0; i < fb::layout::kHeaderLength; ++i) {
      const bool varies = (i >= fb::layout::kCreatorPIDOffset && i < fb::layout::kRegionCountOffset) ||
                          (i >= fb::layout::kCreatorStartOffset && i < fb::layout::kHeaderReserved0Offset);
      if (!varies) {
        ASSERT_EQ(cpp[i], gob[i]) << "header byte " << i;
      }
    }
    if (img["file"].s == "empty.seg") {
      const std::size_t r = static_cast<std::size_t>(seg->region(0).offset);
      for (std::size_t i = 0; i < fb::layout::kRingControlLength + seg->region(0).capacity; ++i) {
        if (i >= fb::layout::kReaderSlotOffset && i < fb::layout::kRingReservedOffset) continue;  // owner words
        ASSERT_EQ(cpp[r + i], gob[r + i]) << "ring byte " << i;
      }
    }
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

TEST(Golden, JsonParser) {
  fbjson::Value v;
  std::string err;
  ASSERT_TRUE(fbjson::Parser(R"({"a":[1,18446744073709551615,-3],"b":null,"c":"x\"y","d":{"e":true}})").Parse(&v, &err));
  EXPECT_EQ(v["a"].a[1].u, 18446744073709551615ULL);
  EXPECT_TRUE(v["a"].a[2].negative);
  EXPECT_TRUE(v["b"].is_null());
  EXPECT_EQ(v["c"].s, "x\"y");
  EXPECT_TRUE(v["d"]["e"].b);
  EXPECT_FALSE(fbjson::Parser("{\"a\":").Parse(&v, &err));
}

}  // namespace
