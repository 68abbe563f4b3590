// Mailbox: seqlock store/load, versions, zero fill, one writer, torn-read freedom under threads.
#include <atomic>
#include <thread>

#include "helpers.hpp"

namespace fb = framebridge;
namespace L = framebridge::layout;
using fbtest::MakeSegment;

namespace {

fb::Spec OneMailbox(std::uint64_t cap) {
  fb::Spec s;
  s.mailboxes.push_back({"m", cap});
  return s;
}

TEST(Mailbox, StoreThenLoad) {
  fb::Segment seg = MakeSegment(OneMailbox(1024));
  auto mb = seg.Mailbox("m");
  ASSERT_TRUE(mb.ok());
  EXPECT_EQ(mb->capacity(), 1024u);
  std::vector<std::uint8_t> buf(1024, 0xFF);
  fb::MailboxValue v;
  ASSERT_TRUE(mb->Load(buf.data(), buf.size(), &v).ok());
  EXPECT_EQ(v.version, 0u);  // never stored
  ASSERT_TRUE(mb->Store(-7, "hello", 5).ok());
  ASSERT_TRUE(mb->Load(buf.data(), buf.size(), &v).ok());
  EXPECT_EQ(v.version, 1u);
  EXPECT_EQ(v.status, -7);
  EXPECT_EQ(v.size, 1024u);
  EXPECT_EQ(std::memcmp(buf.data(), "hello", 5), 0);
  for (std::size_t i = 5; i < 1024; ++i) {
    ASSERT_EQ(buf[i], 0) << i;
  }
  // The packed SharedFrame bytes.
  const unsigned char* m = fbtest::RegionBase(seg, "m");
  std::uint64_t seq;
  std::int32_t status;
  std::memcpy(&seq, m + 256, 8);
  std::memcpy(&status, m + 264, 4);
  EXPECT_EQ(seq, 2u);
  EXPECT_EQ(status, -7);
  EXPECT_EQ(std::memcmp(m + 268, "hello", 5), 0);
  // A shorter second value zeroes what the first left.
  ASSERT_TRUE(mb->Store(1, "ab", 2).ok());
  char small[4];
  ASSERT_TRUE(mb->Load(small, sizeof small, &v).ok());
  EXPECT_EQ(v.version, 2u);
  EXPECT_EQ(v.size, 4u);
  EXPECT_EQ(std::memcmp(small, "ab\0\0", 4), 0);
  EXPECT_EQ(mb->Store(0, buf.data(), 1025).code(), fb::Errc::kTooLarge);
}

TEST(Mailbox, OddCapacities) {
  for (std::uint64_t cap : {1u, 3u, 5u, 4095u}) {
    fb::Segment seg = MakeSegment(OneMailbox(cap));
    auto mb = seg.Mailbox("m");
    ASSERT_TRUE(mb.ok());
    std::vector<std::uint8_t> in = fbtest::Payload(cap, 5), out(cap + 3, 0xEE);
    ASSERT_TRUE(mb->Store(9, in.data(), in.size()).ok());
    fb::MailboxValue v;
    ASSERT_TRUE(mb->Load(out.data(), out.size(), &v).ok());
    EXPECT_EQ(v.size, cap);
    EXPECT_TRUE(std::equal(in.begin(), in.end(), out.begin()));
    EXPECT_EQ(out[cap], 0xEE);  // nothing written past the capacity
  }
}

TEST(Mailbox, OneWriterAtATime) {
  fb::Segment seg = MakeSegment(OneMailbox(16));
  auto a = seg.Mailbox("m");
  auto b = seg.Mailbox("m");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->Store(1, "x", 1).ok());
  EXPECT_EQ(b->Store(2, "y", 1).code(), fb::Errc::kBusy);
  a->Close();
  ASSERT_TRUE(b->Store(3, "z", 1).ok());
  char c;
  fb::MailboxValue v;
  ASSERT_TRUE(b->Load(&c, 1, &v).ok());
  EXPECT_EQ(v.version, 2u);
  EXPECT_EQ(c, 'z');
}

TEST(MailboxThreads, ReadersNeverSeeATornValue) {
  fb::Segment seg = MakeSegment(OneMailbox(256));
  auto w = seg.Mailbox("m");
  ASSERT_TRUE(w.ok());
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      auto r = seg.Mailbox("m");
      std::uint8_t buf[256];
      std::uint64_t last = 0;
      while (!stop.load()) {
        fb::MailboxValue v;
        if (!r->Load(buf, sizeof buf, &v).ok()) {
          ++torn;
          return;
        }
        if (v.version < last) ++torn;
        last = v.version;
        for (std::size_t i = 0; i < sizeof buf; ++i) {
          if (buf[i] != static_cast<std::uint8_t>(v.status)) {
            ++torn;
            break;
          }
        }
      }
    });
  }
  std::thread waiter([&] {
    auto r = seg.Mailbox("m");
    if (!r->WaitNewer(500, fb::Deadline::Never()).ok()) ++torn;
  });
  std::uint8_t buf[256];
  for (int i = 1; i <= 20000; ++i) {
    std::memset(buf, i & 0xFF, sizeof buf);
    ASSERT_TRUE(w->Store(i & 0xFF, buf, sizeof buf).ok());
  }
  waiter.join();
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0);
}

TEST(Mailbox, WaitNewerTimesOut) {
  fb::Segment seg = MakeSegment(OneMailbox(16));
  auto mb = seg.Mailbox("m");
  EXPECT_EQ(mb->WaitNewer(0, fb::Deadline::After(1000 * 1000)).code(), fb::Errc::kTimeout);
  ASSERT_TRUE(mb->Store(0, nullptr, 0).ok());
  EXPECT_TRUE(mb->WaitNewer(0, fb::Deadline::Try()).ok());
}

// A live writer stalled mid-store (seq left odd while its process, this one, is alive: what a SIGSTOPped
// writer leaves) keeps Load retrying: its deadline ends the wait with kTimeout, and the value reads again
// once the store ends.
TEST(Mailbox, LoadGivesUpOnAStalledWriterAtItsDeadline) {
  fb::Segment seg = MakeSegment(OneMailbox(16));
  auto mb = seg.Mailbox("m");
  ASSERT_TRUE(mb.ok());
  ASSERT_TRUE(mb->Store(4, "before", 6).ok());  // this process now holds the writer slot
  unsigned char* m = fbtest::RegionBase(seg, "m");
  std::uint64_t seq;
  std::memcpy(&seq, m + L::kMailboxSeqOffset, 8);
  const std::uint64_t odd = seq + 1;
  std::memcpy(m + L::kMailboxSeqOffset, &odd, 8);
  char buf[16];
  fb::MailboxValue v;
  EXPECT_EQ(mb->Load(buf, sizeof buf, &v, fb::Deadline::After(20 * 1000 * 1000)).code(), fb::Errc::kTimeout);
  EXPECT_EQ(mb->Load(buf, sizeof buf, &v, fb::Deadline::Try()).code(), fb::Errc::kTimeout);
  std::memcpy(m + L::kMailboxSeqOffset, &seq, 8);
  ASSERT_TRUE(mb->Load(buf, sizeof buf, &v, fb::Deadline::Try()).ok());
  EXPECT_EQ(v.status, 4);
  EXPECT_EQ(std::memcmp(buf, "before", 6), 0);
}

}  // namespace
