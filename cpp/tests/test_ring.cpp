// Ring operations, single-threaded: SPSC and MPSC claim/commit/abort, wrap padding, partial commits,
// batch drain, deadlines, ownership.
#include <thread>

#include "helpers.hpp"

namespace fb = framebridge;
namespace L = framebridge::layout;
using fbtest::Bytes;
using fbtest::MakeSegment;
using fbtest::OneRing;
using fbtest::Payload;
using fbtest::Write;

namespace {

class RingTest : public ::testing::TestWithParam<fb::RegionKind> {
 protected:
  void SetUp() override {
    seg_ = MakeSegment(OneRing(GetParam()));
    auto w = seg_.Writer("r");
    auto r = seg_.Reader("r");
    ASSERT_TRUE(w.ok()) << w.status().message();
    ASSERT_TRUE(r.ok()) << r.status().message();
    w_ = std::move(w.value());
    r_ = std::move(r.value());
  }
  unsigned char* ring() { return fbtest::RegionBase(seg_, "r"); }
  fb::Segment seg_;
  fb::Writer w_;
  fb::Reader r_;
};

INSTANTIATE_TEST_SUITE_P(Kinds, RingTest, ::testing::Values(fb::RegionKind::kSPSC, fb::RegionKind::kMPSC),
                         [](const ::testing::TestParamInfo<fb::RegionKind>& i) {
                           return std::string(fb::RegionKindName(i.param));
                         });

TEST_P(RingTest, FramesArriveInOrderWithTypeAndSequence) {
  for (int i = 0; i < 10; ++i) Write(w_, 100 + i, Payload(i * 3, static_cast<std::uint8_t>(i)));
  for (int i = 0; i < 10; ++i) {
    auto f = r_.TryNext();
    ASSERT_TRUE(f.ok()) << f.status().message();
    EXPECT_EQ(f->type, 100u + i);
    EXPECT_EQ(f->seq, static_cast<std::uint64_t>(i + 1));
    EXPECT_EQ(Bytes(*f), Payload(i * 3, static_cast<std::uint8_t>(i)));
  }
  EXPECT_EQ(r_.TryNext().code(), fb::Errc::kEmpty);
  ASSERT_TRUE(r_.Release().ok());
  fb::RingCounters c = r_.counters();
  EXPECT_EQ(c.frames_written, 10u);
  EXPECT_EQ(c.frames_read, 10u);
  EXPECT_EQ(c.bytes_written, 135u);
  EXPECT_EQ(c.bytes_read, 135u);
  EXPECT_EQ(c.head, c.tail);
}

TEST_P(RingTest, ClaimReturnsExactlyTheRequestedBytesAlignedInTheRing) {
  auto c = w_.Claim(1, 13);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->size, 13u);
  const std::uintptr_t off = reinterpret_cast<std::uintptr_t>(c->data) - reinterpret_cast<std::uintptr_t>(ring());
  EXPECT_EQ(off, L::kRingDataOffset + L::kRecordHeaderLength);
  EXPECT_EQ(off % 8, 0u);
  ASSERT_TRUE(w_.Commit(13).ok());
}

TEST_P(RingTest, WrapInsertsPaddingOfEverySize) {
  // Payload sizes chosen so the gap at the end of the 4096-byte data area is 8, 16, 24 and more.
  for (std::size_t gap : {8u, 16u, 24u, 40u}) {
    // Fill up to capacity - gap, drain, then write a frame that does not fit in the gap.
    const std::uint64_t idx = r_.counters().tail & 4095;
    std::uint64_t to_fill = (4096 - idx - gap);
    while (to_fill > 0) {
      std::uint64_t rec = std::min<std::uint64_t>(to_fill, 1024);
      if (to_fill - rec != 0 && to_fill - rec < 24) rec -= 24;
      Write(w_, 1, Payload(rec - 24, 1));
      to_fill -= rec;
      auto f = r_.TryNext();
      ASSERT_TRUE(f.ok()) << f.status().message();
      ASSERT_TRUE(r_.Release().ok());
    }
    ASSERT_EQ(r_.counters().tail & 4095, 4096 - gap);
    Write(w_, 9, Payload(gap, 7));  // record of gap+24 bytes: needs a padding record of `gap`
    EXPECT_EQ(r_.counters().tail & 4095, gap + 24 <= 4096 ? L::RecordSize(gap) : 0);
    const unsigned char* pad = ring() + L::kRingDataOffset + 4096 - gap;
    std::int32_t psize;
    std::uint32_t ptype;
    std::memcpy(&psize, pad, 4);
    std::memcpy(&ptype, pad + 4, 4);
    EXPECT_EQ(psize, static_cast<std::int32_t>(gap));
    EXPECT_EQ(ptype, L::kPaddingType);
    auto f = r_.TryNext();
    ASSERT_TRUE(f.ok()) << f.status().message();
    EXPECT_EQ(f->type, 9u);
    EXPECT_EQ(Bytes(*f), Payload(gap, 7));
    EXPECT_EQ(reinterpret_cast<const unsigned char*>(f->data), ring() + L::kRingDataOffset + 24);
    ASSERT_TRUE(r_.Release().ok());
  }
}

TEST_P(RingTest, PartialCommitPublishesOnlyTheCommittedBytes) {
  auto c = w_.Claim(5, 1000);
  ASSERT_TRUE(c.ok());
  std::memset(c->data, 0xAB, 1000);
  ASSERT_TRUE(w_.Commit(10).ok());
  Write(w_, 6, Payload(4, 3));
  auto f = r_.TryNext();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->size, 10u);
  EXPECT_EQ(f->type, 5u);
  EXPECT_EQ(f->data[9], 0xAB);
  auto g = r_.TryNext();
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->type, 6u);
  EXPECT_EQ(g->seq, f->seq + 1);
  if (GetParam() == fb::RegionKind::kSPSC) {
    EXPECT_EQ(r_.counters().tail, L::RecordSize(10) + L::RecordSize(4));  // the SPSC record shrinks
  } else {
    EXPECT_EQ(r_.counters().tail, L::RecordSize(1000) + L::RecordSize(4));  // MPSC keeps its claimed size
  }
  EXPECT_EQ(w_.Commit(0).code(), fb::Errc::kState);
}

TEST_P(RingTest, AbortPublishesNothing) {
  auto c = w_.Claim(5, 100);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(w_.Abort().ok());
  EXPECT_EQ(w_.Abort().code(), fb::Errc::kState);
  EXPECT_EQ(r_.TryNext().code(), fb::Errc::kEmpty);
  Write(w_, 6, Payload(4, 3));
  auto f = r_.TryNext();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->type, 6u);
  // SPSC reuses the aborted space and its sequence number; MPSC lost both (padding with that sequence).
  EXPECT_EQ(f->seq, GetParam() == fb::RegionKind::kSPSC ? 1u : 2u);
}

TEST_P(RingTest, MisuseIsReported) {
  EXPECT_EQ(w_.Claim(0, 8).code(), fb::Errc::kInvalidArgument);
  EXPECT_EQ(w_.Claim(1, w_.max_payload() + 1).code(), fb::Errc::kTooLarge);
  EXPECT_EQ(w_.max_payload(), 2024u);
  EXPECT_EQ(w_.Commit(1).code(), fb::Errc::kState);
  auto c = w_.Claim(1, 8);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(w_.Claim(1, 8).code(), fb::Errc::kState);
  EXPECT_EQ(w_.Commit(9).code(), fb::Errc::kInvalidArgument);
  EXPECT_TRUE(w_.Commit(8).ok());
  auto big = w_.Claim(1, w_.max_payload());  // the largest frame fits in an empty ring
  ASSERT_TRUE(big.ok());
  ASSERT_TRUE(w_.Commit(w_.max_payload()).ok());
}

TEST_P(RingTest, FullRingAndDeadlines) {
  int written = 0;
  for (;;) {
    auto c = w_.TryClaim(1, 500);
    if (!c.ok()) {
      EXPECT_EQ(c.code(), fb::Errc::kFull) << c.status().message();
      break;
    }
    ASSERT_TRUE(w_.Commit(500).ok());
    ++written;
  }
  EXPECT_EQ(written, 4096 / 528);
  EXPECT_GE(r_.counters().full_stalls, 1u);
  auto t = w_.Claim(1, 500, fb::Deadline::After(2 * 1000 * 1000));
  EXPECT_EQ(t.code(), fb::Errc::kTimeout);
  // Read one frame without releasing: still full. Release: room again.
  ASSERT_TRUE(r_.TryNext().ok());
  EXPECT_EQ(w_.TryClaim(1, 500).code(), fb::Errc::kFull);
  ASSERT_TRUE(r_.Release().ok());
  auto c = w_.TryClaim(1, 500);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE(w_.Commit(500).ok());
  auto e = r_.Next(fb::Deadline::After(1000));
  EXPECT_TRUE(e.ok());
}

TEST_P(RingTest, EmptyRingTimesOut) {
  r_.set_spin_nanos(0);
  EXPECT_EQ(r_.Next(fb::Deadline::After(1000 * 1000)).code(), fb::Errc::kTimeout);
  EXPECT_EQ(r_.counters().reader_waits, 1u);
}

TEST_P(RingTest, BatchDrainThenOneRelease) {
  for (int i = 0; i < 50; ++i) Write(w_, 1, Payload(40, static_cast<std::uint8_t>(i)));
  std::vector<fb::Frame> frames;
  for (;;) {
    fb::Frame f;
    fb::Status st = r_.TryNext(&f);
    if (!st) {
      EXPECT_EQ(st.code(), fb::Errc::kEmpty);
      break;
    }
    frames.push_back(f);
  }
  ASSERT_EQ(frames.size(), 50u);
  // All views stay valid until Release.
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(Bytes(frames[i]), Payload(40, static_cast<std::uint8_t>(i)));
  }
  EXPECT_EQ(r_.counters().head, 0u);
  ASSERT_TRUE(r_.Release().ok());
  EXPECT_EQ(r_.counters().head, r_.counters().tail);
}

TEST_P(RingTest, SecondReaderIsBusyAndClosingReleases) {
  EXPECT_EQ(seg_.Reader("r").code(), fb::Errc::kBusy);
  for (int i = 0; i < 3; ++i) Write(w_, 1, Payload(8, static_cast<std::uint8_t>(i)));
  ASSERT_TRUE(r_.TryNext().ok());
  ASSERT_TRUE(r_.Release().ok());
  ASSERT_TRUE(r_.TryNext().ok());  // read, released by Close
  r_.Close();
  auto r2 = seg_.Reader("r");
  ASSERT_TRUE(r2.ok()) << r2.status().message();
  auto f = r2->TryNext();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->seq, 3u);
}

TEST_P(RingTest, WriterSlotsFollowTheRingKind) {
  auto w2 = seg_.Writer("r");
  if (GetParam() == fb::RegionKind::kSPSC) {
    EXPECT_EQ(w2.code(), fb::Errc::kBusy);
    w_.Close();
    auto w3 = seg_.Writer("r");
    ASSERT_TRUE(w3.ok()) << w3.status().message();
    Write(*w3, 1, Payload(8, 1));  // a new SPSC writer continues the sequence
    auto f = r_.TryNext();
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f->seq, 1u);
  } else {
    ASSERT_TRUE(w2.ok()) << w2.status().message();
    EXPECT_NE(w2->slot(), w_.slot());
    std::vector<fb::Writer> more;
    for (int i = 2; i < 64; ++i) {
      auto w = seg_.Writer("r");
      ASSERT_TRUE(w.ok());
      more.push_back(std::move(w.value()));
    }
    EXPECT_EQ(seg_.Writer("r").code(), fb::Errc::kBusy);
    more.pop_back();
    EXPECT_TRUE(seg_.Writer("r").ok());
  }
}

TEST_P(RingTest, SlotEpochsIncreaseOnEveryTakeOver) {
  const unsigned char* base = ring();
  std::uint64_t o1;
  std::memcpy(&o1, base + L::kReaderOwnerOffset, 8);
  EXPECT_EQ(fb::owner::Pid(o1), static_cast<std::uint32_t>(getpid()));
  EXPECT_EQ(fb::owner::Epoch(o1), 1u);
  r_.Close();
  std::uint64_t o2;
  std::memcpy(&o2, base + L::kReaderOwnerOffset, 8);
  EXPECT_EQ(o2, fb::owner::Word(1, 0));  // detached: pid 0, same epoch
  auto r2 = seg_.Reader("r");
  ASSERT_TRUE(r2.ok());
  std::memcpy(&o2, base + L::kReaderOwnerOffset, 8);
  EXPECT_EQ(fb::owner::Epoch(o2), 2u);
}

// A reader holding a whole ring of unreleased frames would wait forever in a blocking Next (the writers
// wait for that very space): it gets ErrFull at once instead.
TEST_P(RingTest, NextWithAWholeRingUnreleasedSaysToRelease) {
  for (int i = 0; i < 32; ++i) Write(w_, 1, Payload(104, 1));  // 32 x 128 bytes: exactly full
  for (int i = 0; i < 32; ++i) ASSERT_TRUE(r_.TryNext().ok()) << i;
  const std::int64_t t0 = fb::sys::MonotonicNanos();
  auto f = r_.Next(fb::Deadline::Never());
  EXPECT_EQ(f.code(), fb::Errc::kFull) << f.status().message();
  EXPECT_LT(fb::sys::MonotonicNanos() - t0, std::int64_t{1000} * 1000 * 1000);
  ASSERT_TRUE(r_.Release().ok());
  Write(w_, 1, Payload(4, 9));
  auto g = r_.Next(fb::Deadline::After(std::int64_t{10} * 1000 * 1000 * 1000));
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(Bytes(*g), Payload(4, 9));
}

// The padding record an SPSC writer puts at the wrap names writer 0 (§5.1), whatever the bytes held.
// PrefetchNext is a hint: in every state (fresh, after frames of several sizes, near full, about to wrap,
// claimed, MPSC) it changes no byte of the ring, and frames written after it read back as usual.
TEST_P(RingTest, PrefetchNextWritesNothing) {
  const std::size_t region = L::kRingDataOffset + 4096;
  std::vector<unsigned char> before(region);
  auto same = [&](const char* when) {
    std::memcpy(before.data(), ring(), region);
    w_.PrefetchNext();
    EXPECT_EQ(std::memcmp(before.data(), ring(), region), 0) << when;
  };
  same("fresh");
  for (std::size_t n : {8u, 100u, 1000u, 2000u, 40u}) {
    Write(w_, 1, Payload(n, static_cast<std::uint8_t>(n)));
    same("after a frame");
    auto f = r_.TryNext();
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f->size, n);
    r_.Release();
    same("after release");
  }
  Write(w_, 1, Payload(2000, 9));  // half full: 2024 of 4096 bytes unreleased
  same("half full");
  auto c = w_.TryClaim(1, 500);
  ASSERT_TRUE(c.ok());
  same("claimed");
  ASSERT_TRUE(w_.Commit(500).ok());
  ASSERT_TRUE(r_.TryNext().ok() && r_.TryNext().ok());
  r_.Release();
  same("drained");
}

// After a claim fails with kFull, full_head() is the head it found; waiting for head to move past it is
// waiting for space.
TEST_P(RingTest, FullHeadIsTheHeadTheFailedClaimSaw) {
  Write(w_, 1, Payload(1000, 1));
  ASSERT_TRUE(r_.TryNext().ok());
  r_.Release();  // head = 1024
  for (int i = 0; i < 3; ++i) Write(w_, 1, Payload(1000, 1));
  EXPECT_EQ(w_.TryClaim(1, 1100).status().code(), fb::Errc::kFull);
  std::uint64_t head = 0;
  std::memcpy(&head, ring() + L::kHeadPositionOffset, 8);
  EXPECT_EQ(head, 1024u);
  EXPECT_EQ(w_.full_head(), head);
}

TEST(Ring, SPSCWrapPaddingHasWriterZero) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kSPSC));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  for (int i = 0; i < 3; ++i) Write(*w, 1, Payload(1000, 1));  // 3 x 1024
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(r->TryNext().ok());
  ASSERT_TRUE(r->Release().ok());
  unsigned char* data = fbtest::RegionBase(seg, "r") + L::kRingDataOffset;
  const std::uint32_t junk = 0xdeadbeef;
  std::memcpy(data + 3072 + L::kRecordWriterOffset, &junk, 4);  // free space, size word still 0
  Write(*w, 2, Payload(1100, 2));  // does not fit before the end: 1024 bytes of padding at 3072
  std::int32_t size = 0;
  std::uint32_t type = 1, writer = 1;
  std::memcpy(&size, data + 3072 + L::kRecordSizeOffset, 4);
  std::memcpy(&type, data + 3072 + L::kRecordTypeOffset, 4);
  std::memcpy(&writer, data + 3072 + L::kRecordWriterOffset, 4);
  EXPECT_EQ(size, 1024);
  EXPECT_EQ(type, L::kPaddingType);
  EXPECT_EQ(writer, 0u);
}

TEST(RingThreads, BlockingSPSCWithSleepingReaderAndWriter) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kSPSC));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  w->set_spin_nanos(0);
  r->set_spin_nanos(0);
  constexpr std::uint64_t kFrames = 20000;
  std::thread t([&] {
    for (std::uint64_t i = 0; i < kFrames; ++i) {
      const std::size_t n = 8 + (i * 7919) % 700;
      auto c = w->Claim(1, n);
      ASSERT_TRUE(c.ok()) << c.status().message();
      std::memcpy(c->data, &i, 8);
      std::memset(c->data + 8, static_cast<int>(i & 0xff), n - 8);
      ASSERT_TRUE(w->Commit(n).ok());
    }
  });
  for (std::uint64_t i = 0; i < kFrames; ++i) {
    auto f = r->Next(fb::Deadline::Never());
    ASSERT_TRUE(f.ok()) << f.status().message();
    std::uint64_t got;
    std::memcpy(&got, f->data, 8);
    ASSERT_EQ(got, i);
    ASSERT_EQ(f->size, 8 + (i * 7919) % 700);
    ASSERT_EQ(f->seq, i + 1);
    for (std::size_t k = 8; k < f->size; ++k) {
    ASSERT_EQ(f->data[k], i & 0xff);
  }
    if (i % 3 == 0) {
      ASSERT_TRUE(r->Release().ok());
    }
  }
  ASSERT_TRUE(r->Release().ok());
  t.join();
  fb::RingCounters c = r->counters();
  EXPECT_EQ(c.frames_read, kFrames);
  EXPECT_EQ(c.bad_records, 0u);
}

}  // namespace

namespace {

TEST(RingThreads, InterruptWakesABlockedReaderAndWriter) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kMPSC));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  r->set_spin_nanos(0);
  w->set_spin_nanos(0);
  fb::Errc got = fb::Errc::kOk;
  std::thread t([&] { got = r->Next(fb::Deadline::Never()).code(); });
  // Interrupt until the thread has returned (the flag also covers an Interrupt before it waits).
  r->Interrupt();
  t.join();
  EXPECT_EQ(got, fb::Errc::kCanceled);
  Write(*w, 1, Payload(8, 1));
  EXPECT_TRUE(r->Next(fb::Deadline::Never()).ok());  // an interrupt is consumed once

  while (w->TryClaim(1, 1000).ok()) ASSERT_TRUE(w->Commit(1000).ok());
  std::thread u([&] { got = w->Claim(1, 1000, fb::Deadline::Never()).code(); });
  w->Interrupt();
  u.join();
  EXPECT_EQ(got, fb::Errc::kCanceled);
}

}  // namespace
