// Hostile segments: every header field, region entry, position and record field a peer can spoil is
// an error (ErrCorrupt / ErrVersionMismatch), never undefined behaviour (run under ASan+UBSan).
#include "helpers.hpp"

namespace fb = framebridge;
namespace L = framebridge::layout;
using fbtest::MakeSegment;
using fbtest::OneRing;

namespace {

template <class T>
void Put(unsigned char* b, std::size_t off, T v) {
  std::memcpy(b + off, &v, sizeof v);
}

fb::Spec TwoRegions() {
  fb::Spec s = OneRing(fb::RegionKind::kSPSC, 4096, "ring");
  s.mailboxes.push_back({"mb", 100});
  return s;
}

struct HeaderCase {
  const char* what;
  std::size_t off;
  int width;  // 4 or 8
  std::uint64_t value;
  fb::Errc want;
};

class HeaderCorruption : public ::testing::TestWithParam<HeaderCase> {};

constexpr std::size_t E0 = L::kRegionTableOffset;
constexpr std::size_t E1 = L::kRegionTableOffset + L::kRegionEntryLength;

INSTANTIATE_TEST_SUITE_P(
    Fields, HeaderCorruption,
    ::testing::Values(
        HeaderCase{"magic", L::kMagicOffset, 8, 0x4547444952425247ULL, fb::Errc::kCorrupt},
        HeaderCase{"magic_missing", L::kMagicOffset, 8, 0, fb::Errc::kCorrupt},
        HeaderCase{"version", L::kVersionOffset, 4, 2, fb::Errc::kVersionMismatch},
        HeaderCase{"header_length", L::kHeaderLengthOffset, 4, 8192, fb::Errc::kCorrupt},
        HeaderCase{"segment_size_small", L::kSegmentSizeOffset, 8, 4096, fb::Errc::kCorrupt},
        HeaderCase{"segment_size_huge", L::kSegmentSizeOffset, 8, ~0ULL, fb::Errc::kCorrupt},
        HeaderCase{"generation_zero", L::kGenerationOffset, 8, 0, fb::Errc::kCorrupt},
        HeaderCase{"region_count_zero", L::kRegionCountOffset, 4, 0, fb::Errc::kCorrupt},
        HeaderCase{"region_count_33", L::kRegionCountOffset, 4, 33, fb::Errc::kCorrupt},
        HeaderCase{"region_count_past_table", L::kRegionCountOffset, 4, 3, fb::Errc::kCorrupt},
        HeaderCase{"kind_zero", E0 + L::kRegionKindOffset, 4, 0, fb::Errc::kCorrupt},
        HeaderCase{"kind_four", E0 + L::kRegionKindOffset, 4, 4, fb::Errc::kCorrupt},
        HeaderCase{"kind_mailbox_as_ring", E1 + L::kRegionKindOffset, 4, 1, fb::Errc::kCorrupt},
        HeaderCase{"flags", E0 + L::kRegionFlagsOffset, 4, 1, fb::Errc::kCorrupt},
        HeaderCase{"offset_unaligned", E0 + L::kRegionOffsetOffset, 8, 4100, fb::Errc::kCorrupt},
        HeaderCase{"offset_in_header", E0 + L::kRegionOffsetOffset, 8, 0, fb::Errc::kCorrupt},
        HeaderCase{"offset_overflow", E0 + L::kRegionOffsetOffset, 8, 0xFFFFFFFFFFFFF000ULL, fb::Errc::kCorrupt},
        HeaderCase{"offset_overlaps", E1 + L::kRegionOffsetOffset, 8, 8192, fb::Errc::kCorrupt},
        HeaderCase{"offset_past_end", E1 + L::kRegionOffsetOffset, 8, 16384, fb::Errc::kCorrupt},
        HeaderCase{"length_unaligned", E0 + L::kRegionLengthOffset, 8, 8000, fb::Errc::kCorrupt},
        HeaderCase{"length_wrong", E0 + L::kRegionLengthOffset, 8, 4096, fb::Errc::kCorrupt},
        HeaderCase{"length_overflow", E0 + L::kRegionLengthOffset, 8, 0xFFFFFFFFFFFFF000ULL, fb::Errc::kCorrupt},
        HeaderCase{"capacity_not_pow2", E0 + L::kRegionCapacityOffset, 8, 4097, fb::Errc::kCorrupt},
        HeaderCase{"capacity_small", E0 + L::kRegionCapacityOffset, 8, 2048, fb::Errc::kCorrupt},
        HeaderCase{"capacity_huge", E0 + L::kRegionCapacityOffset, 8, 1ULL << 31, fb::Errc::kCorrupt},
        HeaderCase{"capacity_other_length", E0 + L::kRegionCapacityOffset, 8, 8192, fb::Errc::kCorrupt},
        HeaderCase{"mailbox_capacity_zero", E1 + L::kRegionCapacityOffset, 8, 0, fb::Errc::kCorrupt},
        HeaderCase{"mailbox_capacity_huge", E1 + L::kRegionCapacityOffset, 8, (1 << 20) + 1, fb::Errc::kCorrupt},
        HeaderCase{"name_empty", E0 + L::kRegionNameOffset, 4, 0, fb::Errc::kCorrupt},
        HeaderCase{"name_bad_char", E0 + L::kRegionNameOffset, 4, 0x676e2f72, fb::Errc::kCorrupt},  // "r/ng"
        HeaderCase{"name_duplicate", E1 + L::kRegionNameOffset, 4, 0x676e6972, fb::Errc::kCorrupt},  // "ring"
        HeaderCase{"name_not_nul_padded", E0 + L::kRegionNameOffset + 8, 4, 0x41, fb::Errc::kCorrupt},
        HeaderCase{"name_no_terminator", E0 + L::kRegionNameOffset + 28, 4, 0x41414141, fb::Errc::kCorrupt}),
    [](const ::testing::TestParamInfo<HeaderCase>& i) { return std::string(i.param.what); });

TEST_P(HeaderCorruption, AttachRefusesTheSegment) {
  fb::Segment seg = MakeSegment(TwoRegions());
  ASSERT_TRUE(seg.valid());
  const HeaderCase& c = GetParam();
  if (c.width == 8) {
    Put<std::uint64_t>(seg.base(), c.off, c.value);
  } else {
    Put<std::uint32_t>(seg.base(), c.off, static_cast<std::uint32_t>(c.value));
  }
  auto att = fb::Segment::AttachFd(seg.fd());
  ASSERT_FALSE(att.ok()) << c.what;
  EXPECT_EQ(att.code(), c.want) << att.status().message();
  EXPECT_GT(std::strlen(att.status().message()), 10u);
}

TEST(Corrupt, TooSmallObjectIsCorrupt) {
  int fd = fb::sys::MemfdCreate("small", 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 100), 0);
  EXPECT_EQ(fb::Segment::AttachFd(fd).code(), fb::Errc::kCorrupt);
  ASSERT_EQ(ftruncate(fd, 0), 0);
  EXPECT_EQ(fb::Segment::AttachFd(fd).code(), fb::Errc::kCorrupt);
  close(fd);
}

class RecordCorruption : public ::testing::TestWithParam<fb::RegionKind> {
 protected:
  void SetUp() override {
    seg_ = MakeSegment(OneRing(GetParam()));
    auto w = seg_.Writer("r");
    auto r = seg_.Reader("r");
    ASSERT_TRUE(w.ok() && r.ok());
    w_ = std::move(w.value());
    r_ = std::move(r.value());
    ring_ = fbtest::RegionBase(seg_, "r");
    rec_ = ring_ + L::kRingDataOffset;
  }
  // Write one good frame at position 0 and one after it; spoil the first with f; expect ErrCorrupt, a
  // bad-record count, and that the reader skipped past both and keeps working.
  template <class F>
  void Expect(F spoil) {
    fbtest::Write(w_, 1, fbtest::Payload(40, 1));
    fbtest::Write(w_, 1, fbtest::Payload(40, 2));
    spoil();
    auto f = r_.TryNext();
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.code(), fb::Errc::kCorrupt) << f.status().message();
    EXPECT_EQ(r_.counters().bad_records, 1u);
    EXPECT_EQ(r_.TryNext().code(), fb::Errc::kEmpty);
    ASSERT_TRUE(r_.Release().ok());
    fbtest::Write(w_, 3, fbtest::Payload(5, 3));
    auto g = r_.TryNext();
    ASSERT_TRUE(g.ok()) << g.status().message();
    EXPECT_EQ(g->type, 3u);
  }
  fb::Segment seg_;
  fb::Writer w_;
  fb::Reader r_;
  unsigned char* ring_ = nullptr;
  unsigned char* rec_ = nullptr;
};

INSTANTIATE_TEST_SUITE_P(Kinds, RecordCorruption, ::testing::Values(fb::RegionKind::kSPSC, fb::RegionKind::kMPSC),
                         [](const ::testing::TestParamInfo<fb::RegionKind>& i) {
                           return std::string(fb::RegionKindName(i.param));
                         });

TEST_P(RecordCorruption, SizeNotAMultipleOf8) { Expect([&] { Put<std::int32_t>(rec_, 0, 65); }); }
TEST_P(RecordCorruption, SizePastTheDataArea) { Expect([&] { Put<std::int32_t>(rec_, 0, 8192); }); }
TEST_P(RecordCorruption, SizeMaxInt) { Expect([&] { Put<std::int32_t>(rec_, 0, INT32_MAX); }); }
TEST_P(RecordCorruption, SizeMinInt) { Expect([&] { Put<std::int32_t>(rec_, 0, INT32_MIN); }); }
TEST_P(RecordCorruption, FrameShorterThanItsHeader) { Expect([&] { Put<std::int32_t>(rec_, 0, 16); }); }
TEST_P(RecordCorruption, LengthLargerThanTheRecord) { Expect([&] { Put<std::uint32_t>(rec_, 8, 41); }); }
TEST_P(RecordCorruption, LengthHuge) { Expect([&] { Put<std::uint32_t>(rec_, 8, 0xFFFFFFFF); }); }
TEST_P(RecordCorruption, NegativeSizePastTheDataArea) { Expect([&] { Put<std::int32_t>(rec_, 0, -8192); }); }
TEST_P(RecordCorruption, NegativeSizeShorterThanAHeader) { Expect([&] { Put<std::int32_t>(rec_, 0, -16); }); }

TEST_P(RecordCorruption, ZeroSizeWordMeansNothingWrittenYet) {
  fbtest::Write(w_, 1, fbtest::Payload(40, 1));
  Put<std::int32_t>(rec_, 0, 0);
  EXPECT_EQ(r_.TryNext().code(), fb::Errc::kEmpty);
  EXPECT_EQ(r_.counters().bad_records, 0u);
}

TEST_P(RecordCorruption, PaddingBeyondTheReleasedWindowIsCorrupt) {
  // Four 1024-byte records fill the ring; release only the first, read the rest.
  for (int i = 0; i < 4; ++i) fbtest::Write(w_, 1, fbtest::Payload(1000, 1));
  ASSERT_TRUE(r_.TryNext().ok());
  ASSERT_TRUE(r_.Release().ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(r_.TryNext().ok());
  // A hostile peer writes a padding record at index 0 that runs past head + capacity.
  Put<std::int32_t>(rec_, 0, 2048);
  Put<std::uint32_t>(rec_, 4, 0);
  EXPECT_EQ(r_.TryNext().code(), fb::Errc::kCorrupt);
  EXPECT_EQ(r_.counters().bad_records, 1u);
}

TEST_P(RecordCorruption, AFullUnreleasedWindowIsEmptyNotCorrupt) {
  for (int i = 0; i < 4; ++i) fbtest::Write(w_, 1, fbtest::Payload(1000, 1));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(r_.TryNext().ok());
  EXPECT_EQ(r_.TryNext().code(), fb::Errc::kEmpty);  // the old first record is still there, unreleased
  // Blocking: waiting could never end (the writers wait for this very space): ErrFull, call Release.
  EXPECT_EQ(r_.Next(fb::Deadline::Never()).code(), fb::Errc::kFull);
  EXPECT_EQ(r_.counters().bad_records, 0u);
  ASSERT_TRUE(r_.Release().ok());
  EXPECT_EQ(r_.TryNext().code(), fb::Errc::kEmpty);
}

// A malformed record after a frame the caller still holds: the reader skips to the tail, zeroing only
// the skipped bytes; the held frame stays intact and head does not move before the caller's Release.
TEST_P(RecordCorruption, ACorruptRecordDoesNotDestroyFramesStillHeld) {
  const auto first = fbtest::Payload(40, 1);
  fbtest::Write(w_, 1, first);
  fbtest::Write(w_, 1, fbtest::Payload(40, 2));
  fbtest::Write(w_, 1, fbtest::Payload(40, 3));
  auto held = r_.TryNext();
  ASSERT_TRUE(held.ok()) << held.status().message();
  Put<std::int32_t>(rec_, 64, 65);  // the second record's size word
  EXPECT_EQ(r_.TryNext().code(), fb::Errc::kCorrupt);
  EXPECT_EQ(fbtest::Bytes(*held), first);  // not zeroed, not overwritten
  std::uint64_t head = 0;
  std::memcpy(&head, ring_ + L::kHeadPositionOffset, 8);
  EXPECT_EQ(head, 0u);  // nothing released behind the caller's back
  for (std::size_t i = 64; i < 192; ++i) ASSERT_EQ(rec_[i], 0) << "skipped byte " << i << " not zeroed";
  ASSERT_TRUE(r_.Release().ok());
  std::memcpy(&head, ring_ + L::kHeadPositionOffset, 8);
  EXPECT_EQ(head, 192u);
  fbtest::Write(w_, 4, fbtest::Payload(5, 4));
  auto g = r_.TryNext();
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->type, 4u);
}

TEST(Corrupt, ClaimOfAnImpossibleWriterSlotIsRecoveredAsAbandoned) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kMPSC));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  fbtest::Write(*w, 1, fbtest::Payload(40, 1));
  fbtest::Write(*w, 2, fbtest::Payload(40, 2));
  unsigned char* rec = fbtest::RegionBase(seg, "r") + L::kRingDataOffset;
  Put<std::int32_t>(rec, 0, -64);
  Put<std::uint32_t>(rec, 12, 0x100 | 200);  // slot 200 does not exist: a dead writer
  auto f = r->TryNext();
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->type, 2u);
  EXPECT_EQ(r->counters().abandoned_records, 1u);
}

TEST(Corrupt, NegativeSizeInAnSPSCRingIsCorrupt) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kSPSC));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  fbtest::Write(*w, 1, fbtest::Payload(8, 1));
  Put<std::int32_t>(fbtest::RegionBase(seg, "r") + L::kRingDataOffset, 0, -32);
  EXPECT_EQ(r->TryNext().code(), fb::Errc::kCorrupt);
}

TEST(Corrupt, TailPositionsOutOfRangeStopWritersNotTheReader) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kMPSC));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  unsigned char* ring = fbtest::RegionBase(seg, "r");
  fbtest::Write(*w, 1, fbtest::Payload(8, 1));
  for (std::uint64_t bad : {std::uint64_t{4104}, std::uint64_t{13}, ~std::uint64_t{0} - 7}) {
    Put<std::uint64_t>(ring, L::kTailPositionOffset, bad);
    EXPECT_EQ(w->TryClaim(1, 8).code(), fb::Errc::kCorrupt) << bad;
  }
  EXPECT_TRUE(r->TryNext().ok());  // the reader polls size words, not the tail
  EXPECT_EQ(r->TryNext().code(), fb::Errc::kEmpty);
  ASSERT_TRUE(r->Release().ok());
  Put<std::uint64_t>(ring, L::kTailPositionOffset, 32);
  fbtest::Write(*w, 1, fbtest::Payload(8, 1));
  EXPECT_TRUE(r->TryNext().ok());
}

TEST(Corrupt, HeadPositionsOutOfRangeStopWritersAndReaders) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kSPSC));
  unsigned char* ring = fbtest::RegionBase(seg, "r");
  {
    auto w = seg.Writer("r");
    ASSERT_TRUE(w.ok());
    for (int i = 0; i < 7; ++i) fbtest::Write(*w, 1, fbtest::Payload(500, 1));  // ring full
    Put<std::uint64_t>(ring, L::kHeadPositionOffset, 1 << 20);  // ahead of tail
    EXPECT_EQ(w->TryClaim(1, 500).code(), fb::Errc::kCorrupt);
  }
  EXPECT_EQ(seg.Writer("r").code(), fb::Errc::kCorrupt);
  Put<std::uint64_t>(ring, L::kHeadPositionOffset, 12);
  EXPECT_EQ(seg.Reader("r").code(), fb::Errc::kCorrupt);
}

}  // namespace

// As shm/zeroed_test.go. A peer zeroes the size word of a committed record at the reader's position. Zero
// means "not committed yet", so without a check the reader would wait behind it for ever while a full
// ring keeps the writer waiting for space. The SPSC writer's tail, stored after every commit, gives it
// away: after a sleep the reader reports ErrCorrupt, skips to the tail, and the ring works again.
TEST(Corrupt, SPSCSizeWordZeroedBehindTheTailIsSkippedAfterAWait) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kSPSC));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  const std::string committed = "committed";
  const std::vector<std::uint8_t> c(committed.begin(), committed.end());
  for (int i = 0; i < 3; ++i) fbtest::Write(*w, 1, c);
  Put<std::int32_t>(fbtest::RegionBase(seg, "r") + L::kRingDataOffset, L::kRecordSizeOffset, 0);

  // The first sighting only waits (a tail seen before its size word on a weakly ordered CPU looks the
  // same for a moment); one after a sleep is corruption.
  fb::Status st;
  fb::Frame f;
  for (int i = 0; i < 3 && st.code() != fb::Errc::kCorrupt; ++i) {
    st = r->Next(fb::Deadline::After(5 * 1000 * 1000), &f);
    ASSERT_TRUE(st.code() == fb::Errc::kCorrupt || st.code() == fb::Errc::kTimeout) << i << ": " << st.message();
  }
  ASSERT_EQ(st.code(), fb::Errc::kCorrupt) << st.message();
  EXPECT_GT(r->counters().reader_waits, 0u) << "reported corruption without having waited once";

  const std::vector<std::uint8_t> after{'a', 'f', 't', 'e', 'r'};
  fbtest::Write(*w, 1, after);
  auto g = r->Next(fb::Deadline::After(5LL * 1000 * 1000 * 1000));
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(fbtest::Bytes(*g), after);
  EXPECT_EQ(r->counters().bad_records, 1u);
}

// One Next with a long deadline finds it too: while a first sighting is pending its sleep lasts at most a
// liveness poll, so it need not be woken to look again (the writer of a full ring only waits for space).
TEST(Corrupt, SPSCSizeWordZeroedInAFullRingIsFoundByOneBlockingNext) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kSPSC));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  for (int i = 0; i < 4; ++i) fbtest::Write(*w, 1, fbtest::Payload(1000, 1));  // ring full
  EXPECT_EQ(w->TryClaim(1, 8).code(), fb::Errc::kFull);
  Put<std::int32_t>(fbtest::RegionBase(seg, "r") + L::kRingDataOffset, L::kRecordSizeOffset, 0);
  fb::Frame f;
  const std::int64_t t0 = fb::sys::MonotonicNanos();
  const fb::Status st = r->Next(fb::Deadline::After(10LL * 1000 * 1000 * 1000), &f);
  EXPECT_EQ(st.code(), fb::Errc::kCorrupt) << st.message();
  EXPECT_LT(fb::sys::MonotonicNanos() - t0, 5LL * 1000 * 1000 * 1000);
  EXPECT_EQ(r->counters().bad_records, 1u);
  fbtest::Write(*w, 2, fbtest::Payload(1000, 2));  // the skip released the whole ring
  auto g = r->TryNext();
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->type, 2u);
}

// An SPSC claim in progress also reads as zero, but its writer has not moved the tail: the reader keeps
// waiting and then gets the frame.
TEST(Corrupt, SPSCClaimInProgressIsNotMistakenForAZeroedRecord) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kSPSC));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  auto b = w->Claim(1, 8, fb::Deadline::Try());
  ASSERT_TRUE(b.ok()) << b.status().message();
  fb::Frame f;
  for (int i = 0; i < 3; ++i) {
    const fb::Status st = r->Next(fb::Deadline::After(2 * 1000 * 1000), &f);
    EXPECT_EQ(st.code(), fb::Errc::kTimeout) << i << " behind a claim in progress: " << st.message();
  }
  std::memcpy(b->data, "claimed!", 8);
  ASSERT_TRUE(w->Commit(8).ok());
  auto g = r->Next(fb::Deadline::After(5LL * 1000 * 1000 * 1000));
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(g->data), g->size), "claimed!");
  EXPECT_EQ(r->counters().bad_records, 0u);
}
