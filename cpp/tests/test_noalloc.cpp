// The hot path allocates nothing and makes no wake-up system call while the reader keeps up: every
// operator new in this binary is counted.
#include <atomic>
#include <cstdlib>
#include <new>

#include "helpers.hpp"

namespace {
std::atomic<long> g_allocs{0};
}

void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) std::abort();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace fb = framebridge;

namespace {

class NoAlloc : public ::testing::TestWithParam<fb::RegionKind> {};

INSTANTIATE_TEST_SUITE_P(Kinds, NoAlloc, ::testing::Values(fb::RegionKind::kSPSC, fb::RegionKind::kMPSC),
                         [](const ::testing::TestParamInfo<fb::RegionKind>& i) {
                           return std::string(fb::RegionKindName(i.param));
                         });

TEST_P(NoAlloc, ClaimCommitNextReleaseAllocateNothing) {
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(GetParam(), 1 << 16));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  fb::Spec spec;
  spec.mailboxes.push_back({"m", 64});
  fb::Segment mseg = fbtest::MakeSegment(spec);
  auto mb = mseg.Mailbox("m");
  ASSERT_TRUE(mb.ok());
  ASSERT_TRUE(mb->Store(0, "x", 1).ok());  // takes the writer slot (may allocate once)
  const long before = g_allocs.load();
  std::uint64_t sum = 0;
  for (int i = 0; i < 100000; ++i) {
    fb::Claimed c;
    if (!w->Claim(1, 16 + i % 1000, fb::Deadline::Try(), &c).ok()) {
      ADD_FAILURE() << "claim " << i;
      break;
    }
    std::memset(c.data, i & 0xff, c.size);
    if (i % 7 == 0) {
      w->Commit(c.size / 2);
    } else if (i % 11 == 0) {
      w->Abort();
      continue;
    } else {
      w->Commit(c.size);
    }
    fb::Frame f;
    if (!r->Next(fb::Deadline::Try(), &f).ok()) {
      ADD_FAILURE() << "next " << i;
      break;
    }
    sum += f.data[0];
    if (i % 4 == 3) r->Release();
    if (i % 100 == 0) {
      mb->Store(i, &i, sizeof i);
      char buf[64];
      fb::MailboxValue v;
      mb->Load(buf, sizeof buf, &v);
    }
  }
  r->Release();
  EXPECT_EQ(g_allocs.load() - before, 0) << "heap allocations on the frame path";
  fb::RingCounters c = r->counters();
  EXPECT_EQ(c.writer_wakes, 0u) << "FUTEX_WAKE calls while nobody slept";
  EXPECT_EQ(c.reader_wakes, 0u);
  EXPECT_EQ(c.reader_waits, 0u);
  EXPECT_GT(sum, 0u);
}

}  // namespace
