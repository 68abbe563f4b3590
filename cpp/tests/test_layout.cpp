// The layout constants against docs/layout.md, and the bytes a fresh segment holds.
#include <sys/stat.h>

#include "helpers.hpp"

namespace fb = framebridge;
namespace L = framebridge::layout;
using fbtest::MakeSegment;

namespace {

template <class T>
T Get(const unsigned char* b, std::size_t off) {
  T v;
  std::memcpy(&v, b + off, sizeof v);
  return v;
}

TEST(Layout, ConstantsMatchTheSpecTables) {
  EXPECT_EQ(L::kRegionTableOffset + L::kMaxRegions * L::kRegionEntryLength, 2176u);
  EXPECT_EQ(L::kWriterSlotsOffset + L::kMaxWriters * L::kWriterSlotLength, 2048u);
  EXPECT_EQ(L::RingRegionLength(4096), 8192u);
  EXPECT_EQ(L::MailboxRegionLength(1024), 4096u);
  EXPECT_EQ(L::MailboxRegionLength(3828), 4096u);
  EXPECT_EQ(L::MailboxRegionLength(3829), 8192u);
  EXPECT_EQ(L::MaxPayload(4096), 2024u);
  EXPECT_EQ(L::MaxPayload(1 << 20), (1u << 19) - 24);
  EXPECT_EQ(L::RecordSize(0), 24u);
  EXPECT_EQ(L::RecordSize(1), 32u);
  EXPECT_EQ(L::RecordSize(8), 32u);
  EXPECT_EQ(L::RecordSize(9), 40u);
  const char magic[] = "FRBRIDGE";
  std::uint64_t m;
  std::memcpy(&m, magic, 8);
  EXPECT_EQ(m, L::kMagic);
}

TEST(Layout, FreshSegmentHeaderHasTheSpecBytes) {
  fb::Spec spec;
  spec.rings.push_back({"a", fb::RegionKind::kSPSC, 8192});
  spec.rings.push_back({"b.mpsc-1", fb::RegionKind::kMPSC, 4096});
  spec.mailboxes.push_back({"state", 1024});
  fb::Segment seg = MakeSegment(spec);
  ASSERT_TRUE(seg.valid());
  const unsigned char* b = seg.base();
  EXPECT_EQ(std::memcmp(b, "FRBRIDGE", 8), 0);
  EXPECT_EQ(Get<std::uint32_t>(b, 8), 1u);
  EXPECT_EQ(Get<std::uint32_t>(b, 12), 4096u);
  EXPECT_EQ(Get<std::uint64_t>(b, 16), 4096u + 12288 + 8192 + 4096);
  EXPECT_EQ(Get<std::uint64_t>(b, 16), seg.size());
  struct stat st;
  ASSERT_EQ(fstat(seg.fd(), &st), 0);
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), seg.size());
  EXPECT_EQ(Get<std::uint64_t>(b, 24), 1u);
  EXPECT_EQ(Get<std::uint32_t>(b, 32), static_cast<std::uint32_t>(getpid()));
  EXPECT_EQ(Get<std::uint32_t>(b, 36), 3u);
  EXPECT_EQ(Get<std::uint64_t>(b, 40), fb::sys::SelfStart());
  EXPECT_GT(Get<std::uint64_t>(b, 48), 0u);
  for (std::size_t i = 56; i < 128; ++i) {
    EXPECT_EQ(b[i], 0) << "reserved byte " << i;
  }
  for (std::size_t i = 128 + 3 * 64; i < 4096; ++i) {
    ASSERT_EQ(b[i], 0) << "reserved byte " << i;
  }
  struct Want {
    std::uint32_t kind;
    std::uint64_t off, len, cap;
    const char* name;
  } want[] = {{1, 4096, 12288, 8192, "a"}, {2, 16384, 8192, 4096, "b.mpsc-1"}, {3, 24576, 4096, 1024, "state"}};
  for (int i = 0; i < 3; ++i) {
    const unsigned char* e = b + 128 + i * 64;
    EXPECT_EQ(Get<std::uint32_t>(e, 0), want[i].kind);
    EXPECT_EQ(Get<std::uint32_t>(e, 4), 0u);
    EXPECT_EQ(Get<std::uint64_t>(e, 8), want[i].off);
    EXPECT_EQ(Get<std::uint64_t>(e, 16), want[i].len);
    EXPECT_EQ(Get<std::uint64_t>(e, 24), want[i].cap);
    char name[33] = {};
    std::memcpy(name, e + 32, 32);
    EXPECT_STREQ(name, want[i].name);
    for (std::size_t k = std::strlen(want[i].name); k < 32; ++k) {
    EXPECT_EQ(e[32 + k], 0);
  }
  }
  // Ring control blocks start zeroed except NextSequence = 1.
  const unsigned char* r = b + 4096;
  EXPECT_EQ(Get<std::uint64_t>(r, 0), 0u);
  EXPECT_EQ(Get<std::uint64_t>(r, 128), 0u);
  EXPECT_EQ(Get<std::uint64_t>(r, 520), 1u);
}

TEST(Layout, RecordBytesOfACommittedFrame) {
  fb::Segment seg = MakeSegment(fbtest::OneRing(fb::RegionKind::kSPSC));
  auto w = seg.Writer("r");
  ASSERT_TRUE(w.ok());
  fbtest::Write(*w, 7, {1, 2, 3, 4, 5});
  const unsigned char* rec = seg.base() + 4096 + 4096;
  EXPECT_EQ(Get<std::int32_t>(rec, 0), 32);
  EXPECT_EQ(Get<std::uint32_t>(rec, 4), 7u);
  EXPECT_EQ(Get<std::uint32_t>(rec, 8), 5u);
  EXPECT_EQ(Get<std::uint32_t>(rec, 12), 0u);
  EXPECT_EQ(Get<std::uint64_t>(rec, 16), 1u);
  EXPECT_EQ(rec[24], 1);
  EXPECT_EQ(rec[28], 5);
  EXPECT_EQ(Get<std::uint64_t>(seg.base() + 4096, 0), 32u);  // tail
  EXPECT_EQ(Get<std::uint64_t>(seg.base() + 4096, 520), 2u);  // NextSequence
}

}  // namespace
