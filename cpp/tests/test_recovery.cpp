// Dead peers: forged owner words with a wrong epoch, forked children that claim and die (_exit and
// SIGKILL), a dead holder of the claim lock, dead readers, dead SPSC writers.
#include <signal.h>
#include <sys/wait.h>

#include <thread>

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
template <class T>
T Get(const unsigned char* b, std::size_t off) {
  T v;
  std::memcpy(&v, b + off, sizeof v);
  return v;
}

// Fork a child that attaches as an MPSC writer through the segment's fd, claims n bytes, then dies.
pid_t ForkClaimer(fb::Segment& seg, bool commit_first, int how) {
  int pfd[2];
  if (pipe(pfd) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(pfd[0]);
    auto s = fb::Segment::AttachFd(seg.fd());
    if (!s.ok()) _exit(2);
    auto w = s->Writer("r");
    if (!w.ok()) _exit(3);
    if (commit_first) fbtest::Write(*w, 1, fbtest::Payload(8, 1));
    auto c = w->Claim(1, 64);
    if (!c.ok()) _exit(4);
    std::memset(c->data, 0xEE, 32);
    char b = 'x';
    if (write(pfd[1], &b, 1) != 1) _exit(5);
    if (how == 0) _exit(0);  // dies without committing (no destructors run)
    for (;;) pause();        // waits for SIGKILL
  }
  close(pfd[1]);
  char b;
  if (read(pfd[0], &b, 1) != 1) {
    close(pfd[0]);
    return -1;
  }
  close(pfd[0]);
  if (how == 1) kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  return pid;
}

TEST(Recovery, ForgedEpochMarksTheClaimAbandoned) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kMPSC));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  auto c = w->Claim(1, 32);
  ASSERT_TRUE(c.ok());
  auto w2 = seg.Writer("r");
  ASSERT_TRUE(w2.ok());
  fbtest::Write(*w2, 2, fbtest::Payload(4, 4));  // a committed frame behind the claim
  EXPECT_EQ(r->TryNext().code(), fb::Errc::kEmpty);
  // Bump the epoch of the claimer's slot behind its back: its token no longer matches.
  unsigned char* ring = fbtest::RegionBase(seg, "r");
  const std::size_t so = L::kWriterSlotsOffset + w->slot() * L::kWriterSlotLength;
  const std::uint64_t o = Get<std::uint64_t>(ring, so);
  Put<std::uint64_t>(ring, so, fb::owner::Word(fb::owner::Epoch(o) + 1, fb::owner::Pid(o)));
  auto f = r->TryNext();
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->type, 2u);
  EXPECT_EQ(f->seq, 2u);
  EXPECT_EQ(r->counters().abandoned_records, 1u);
  const unsigned char* rec = ring + L::kRingDataOffset;
  EXPECT_EQ(Get<std::int32_t>(rec, 0), 56);
  EXPECT_EQ(Get<std::uint32_t>(rec, 4), 0u);
  EXPECT_EQ(Get<std::uint64_t>(rec, 16), 1u);  // the lost sequence number stays on the padding record
}

TEST(Recovery, ChildThatExitsMidClaimIsRecovered) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kMPSC));
  auto r = seg.Reader("r");
  ASSERT_TRUE(r.ok());
  ASSERT_GT(ForkClaimer(seg, true, 0), 0);
  auto w = seg.Writer("r");
  ASSERT_TRUE(w.ok());
  fbtest::Write(*w, 7, fbtest::Payload(10, 10));
  auto f = r->Next(fb::Deadline::After(std::int64_t{10} * 1000 * 1000 * 1000));
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->type, 1u);  // the child's committed frame
  auto g = r->Next(fb::Deadline::After(std::int64_t{10} * 1000 * 1000 * 1000));
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->type, 7u);
  EXPECT_EQ(fbtest::Bytes(*g), fbtest::Payload(10, 10));
  EXPECT_EQ(r->counters().abandoned_records, 1u);
}

TEST(Recovery, SigkilledClaimerIsRecoveredByABlockedReader) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kMPSC));
  auto r = seg.Reader("r");
  ASSERT_TRUE(r.ok());
  r->set_spin_nanos(0);
  ASSERT_GT(ForkClaimer(seg, false, 1), 0);
  auto w = seg.Writer("r");
  ASSERT_TRUE(w.ok());
  fbtest::Write(*w, 7, fbtest::Payload(3, 3));
  auto f = r->Next(fb::Deadline::After(std::int64_t{10} * 1000 * 1000 * 1000));
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->type, 7u);
  EXPECT_EQ(r->counters().abandoned_records, 1u);
}

TEST(Recovery, DeadHolderOfTheClaimLockIsStolenFrom) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kMPSC));
  unsigned char* ring = fbtest::RegionBase(seg, "r");
  // Slot 5 was held by a process that is gone (pid 0 after detach would be free; use a stale epoch).
  const std::size_t so = L::kWriterSlotsOffset + 5 * L::kWriterSlotLength;
  Put<std::uint64_t>(ring, so, fb::owner::Word(3, static_cast<std::uint32_t>(getpid())));
  Put<std::uint64_t>(ring, so + 8, fb::sys::SelfStart());
  Put<std::uint32_t>(ring, L::kClaimLockOffset, fb::owner::Token(5, 2));  // epoch 2 != 3: dead
  auto w = seg.Writer("r");
  ASSERT_TRUE(w.ok());
  auto c = w->Claim(1, 8);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE(w->Commit(8).ok());
  EXPECT_EQ(Get<std::uint32_t>(ring, L::kClaimLockOffset), 0u);
}

TEST(Recovery, DeadSPSCWriterAndDeadReaderSlotsAreTakenOver) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kSPSC));
  pid_t pid = fork();
  if (pid == 0) {
    auto s = fb::Segment::AttachFd(seg.fd());
    if (!s.ok()) _exit(2);
    auto w = s->Writer("r");
    auto r = s->Reader("r");
    if (!w.ok() || !r.ok()) _exit(3);
    for (int i = 0; i < 5; ++i) {
      auto c = w->Claim(1, 8);
      if (!c.ok()) _exit(4);
      std::memset(c->data, i, 8);
      if (!w->Commit(8).ok()) _exit(5);
    }
    fb::Frame f;
    if (!r->TryNext(&f).ok() || !r->Release().ok() || !r->TryNext(&f).ok()) _exit(6);  // 1 released, 1 read
    _exit(0);  // slots stay held by a dead pid
  }
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto w = seg.Writer("r");
  ASSERT_TRUE(w.ok()) << w.status().message();
  auto r = seg.Reader("r");
  ASSERT_TRUE(r.ok()) << r.status().message();
  fbtest::Write(*w, 2, fbtest::Payload(8, 1));
  std::vector<std::uint64_t> seqs;
  for (;;) {
    auto f = r->TryNext();
    if (!f.ok()) break;
    seqs.push_back(f->seq);
  }
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{2, 3, 4, 5, 6}));  // frame 2 redelivered, 6 continues
}

TEST(Recovery, MailboxWriterDeadMidStoreIsPeerDeadUntilTheNextStore) {
  fb::Spec spec;
  spec.mailboxes.push_back({"m", 64});
  fb::Segment seg = MakeSegment(spec);
  unsigned char* m = fbtest::RegionBase(seg, "m");
  Put<std::uint64_t>(m, L::kMailboxWriterOwnerOffset, fb::owner::Word(1, 0x7ffffff0));  // no such pid
  Put<std::uint64_t>(m, L::kMailboxSeqOffset, 5);  // odd: a store in progress
  auto mb = seg.Mailbox("m");
  ASSERT_TRUE(mb.ok());
  char buf[64];
  fb::MailboxValue v;
  EXPECT_EQ(mb->Load(buf, sizeof buf, &v).code(), fb::Errc::kPeerDead);
  ASSERT_TRUE(mb->Store(3, "hi", 2).ok());  // takes over: seq 5 -> 6 -> 8
  ASSERT_TRUE(mb->Load(buf, sizeof buf, &v).ok());
  EXPECT_EQ(v.version, 4u);
  EXPECT_EQ(v.status, 3);
  EXPECT_EQ(std::memcmp(buf, "hi", 2), 0);
  EXPECT_EQ(fb::owner::Epoch(Get<std::uint64_t>(m, L::kMailboxWriterOwnerOffset)), 2u);
}

}  // namespace

namespace {

TEST(Recovery, OurOwnTokenInTheClaimLockIsStale) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kMPSC));
  auto w = seg.Writer("r");
  ASSERT_TRUE(w.ok());
  unsigned char* ring = fbtest::RegionBase(seg, "r");
  Put<std::uint32_t>(ring, L::kClaimLockOffset, w->token());
  auto c = w->TryClaim(1, 8);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE(w->Commit(8).ok());
  EXPECT_EQ(Get<std::uint32_t>(ring, L::kClaimLockOffset), 0u);
}

TEST(Recovery, AThiefOfTheClaimLockAdoptsRecordsBeyondTheTail) {
  // A writer died holding the lock after writing a claimed record but before storing the tail.
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kMPSC));
  unsigned char* ring = fbtest::RegionBase(seg, "r");
  unsigned char* rec = ring + L::kRingDataOffset;
  const std::size_t so = L::kWriterSlotsOffset + 7 * L::kWriterSlotLength;
  Put<std::uint64_t>(ring, so, fb::owner::Word(2, 0x7ffffff0));  // slot 7: a pid that cannot exist
  Put<std::uint32_t>(rec, L::kRecordTypeOffset, 1);
  Put<std::uint32_t>(rec, L::kRecordWriterOffset, fb::owner::Token(7, 2));
  Put<std::uint64_t>(rec, L::kRecordSequenceOffset, 1);
  Put<std::int32_t>(rec, L::kRecordSizeOffset, -48);
  Put<std::uint64_t>(ring, L::kNextSequenceOffset, 2);
  Put<std::uint32_t>(ring, L::kClaimLockOffset, fb::owner::Token(7, 2));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  fbtest::Write(*w, 5, fbtest::Payload(8, 8));
  EXPECT_EQ(Get<std::uint64_t>(ring, L::kTailPositionOffset), 48u + 32u);  // adopted, then claimed after it
  EXPECT_EQ(r->TryNext().code(), fb::Errc::kEmpty);  // TryNext asks /proc only every 1024th time
  r->set_spin_nanos(0);
  auto f = r->Next(fb::Deadline::After(std::int64_t{10} * 1000 * 1000 * 1000));
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->type, 5u);
  EXPECT_EQ(f->seq, 2u);
  EXPECT_EQ(r->counters().abandoned_records, 1u);
}

TEST(Recovery, LiveHolderOfTheClaimLockIsNeverStolenFrom) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kMPSC));
  auto holder = seg.Writer("r");
  auto w = seg.Writer("r");
  ASSERT_TRUE(holder.ok() && w.ok());
  unsigned char* ring = fbtest::RegionBase(seg, "r");
  Put<std::uint32_t>(ring, L::kClaimLockOffset, holder->token());  // as if it stalled under the lock
  EXPECT_EQ(w->TryClaim(1, 8).code(), fb::Errc::kFull);
  EXPECT_EQ(w->Claim(1, 8, fb::Deadline::After(5 * 1000 * 1000)).code(), fb::Errc::kTimeout);
  EXPECT_EQ(Get<std::uint32_t>(ring, L::kClaimLockOffset), holder->token());
  Put<std::uint32_t>(ring, L::kClaimLockOffset, 0);
  EXPECT_TRUE(w->TryClaim(1, 8).ok());
}

}  // namespace

namespace {

TEST(Recovery, ARestartedSPSCWriterAdoptsACommitWhoseTailWasNeverStoredAndCarriesItsSequence) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kSPSC));
  unsigned char* ring = fbtest::RegionBase(seg, "r");
  {
    auto w = seg.Writer("r");
    ASSERT_TRUE(w.ok());
    fbtest::Write(*w, 1, fbtest::Payload(8, 1));
    fbtest::Write(*w, 1, fbtest::Payload(8, 2));
    auto c = w->Claim(1, 100);  // payload bytes written into free space, then "killed"
    ASSERT_TRUE(c.ok());
    std::memset(c->data, 0x77, 100);
    Put<std::uint64_t>(ring, L::kTailPositionOffset, 32);  // as if killed before the second tail store
    Put<std::uint64_t>(ring, L::kNextSequenceOffset, 2);
    Put<std::uint64_t>(ring, L::kWriterSlotsOffset, fb::owner::Word(1, 0x7ffffff0));  // the writer is dead
  }
  auto w = seg.Writer("r");
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(Get<std::uint64_t>(ring, L::kTailPositionOffset), 64u);  // adopted the second record
  fbtest::Write(*w, 3, fbtest::Payload(8, 3));
  auto r = seg.Reader("r");
  ASSERT_TRUE(r.ok());
  std::vector<std::uint64_t> seqs;
  for (;;) {
    auto f = r->TryNext();
    if (!f.ok()) {
      EXPECT_EQ(f.code(), fb::Errc::kEmpty) << f.status().message();
      break;
    }
    seqs.push_back(f->seq);
  }
  // The lost NextSequence store is made good by the adoption: a restarted writer never reuses a number.
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(Get<std::uint64_t>(ring, L::kNextSequenceOffset), 4u);
  EXPECT_EQ(r->counters().bad_records, 0u);
}

}  // namespace

namespace {

TEST(Recovery, TryNextAsksProcOnlyEvery1024thPollBehindAClaim) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kMPSC));
  auto r = seg.Reader("r");
  ASSERT_TRUE(r.ok());
  ASSERT_GT(ForkClaimer(seg, false, 0), 0);  // the child's slot keeps its epoch: only /proc tells it is dead
  int polls = 0;
  fb::Status st;
  do {
    fb::Frame f;
    st = r->TryNext(&f);
    ++polls;
  } while (st.code() == fb::Errc::kEmpty && r->counters().abandoned_records == 0 && polls < 5000);
  EXPECT_EQ(polls, 1024);
  EXPECT_EQ(r->counters().abandoned_records, 1u);
}

}  // namespace

namespace {

// MPSC head > tail (a dead lock holder's claim the reader recovered and released, the tail never stored
// past it): every claim heals it (tail = head), not only a claim after a steal.
TEST(Recovery, MPSCHeadPastTailHealsOnTheNextClaim) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kMPSC));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  unsigned char* ring = fbtest::RegionBase(seg, "r");
  fbtest::Write(*w, 1, fbtest::Payload(8, 1));
  fbtest::Write(*w, 1, fbtest::Payload(8, 2));
  ASSERT_TRUE(r->TryNext().ok());
  ASSERT_TRUE(r->TryNext().ok());
  ASSERT_TRUE(r->Release().ok());
  ASSERT_EQ(Get<std::uint64_t>(ring, L::kHeadPositionOffset), 64u);
  Put<std::uint64_t>(ring, L::kTailPositionOffset, 32);  // head > tail
  auto c = w->TryClaim(3, 8);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE(w->Commit(8).ok());
  EXPECT_EQ(Get<std::uint64_t>(ring, L::kTailPositionOffset), 96u);
  auto f = r->TryNext();
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->type, 3u);
}

// A writer that takes over a mailbox whose writer died mid-store (seq odd) publishes an explicit empty
// value at once (status 0, zero payload, seq + 1: §5.6), so readers do not wait for its first Store.
TEST(Recovery, MailboxTakeOverAfterATornStorePublishesAnEmptyValue) {
  fb::Spec spec;
  spec.mailboxes.push_back({"m", 64});
  fb::Segment seg = MakeSegment(spec);
  unsigned char* m = fbtest::RegionBase(seg, "m");
  Put<std::uint64_t>(m, L::kMailboxWriterOwnerOffset, fb::owner::Word(1, 0x7ffffff0));  // no such pid
  Put<std::int32_t>(m, L::kMailboxStatusOffset, 9);
  std::memset(m + L::kMailboxPayloadOffset, 0x55, 64);
  Put<std::uint64_t>(m, L::kMailboxSeqOffset, 7);  // odd: a store in progress
  auto w = seg.Mailbox("m");
  auto rd = seg.Mailbox("m");
  ASSERT_TRUE(w.ok() && rd.ok());
  ASSERT_TRUE(w->TakeWriter().ok());
  EXPECT_EQ(Get<std::uint64_t>(m, L::kMailboxSeqOffset), 8u);
  unsigned char buf[64];
  std::memset(buf, 0xff, sizeof buf);
  fb::MailboxValue v;
  ASSERT_TRUE(rd->Load(buf, sizeof buf, &v, fb::Deadline::After(std::int64_t{2} * 1000 * 1000 * 1000)).ok());
  EXPECT_EQ(v.version, 4u);
  EXPECT_EQ(v.status, 0);
  for (unsigned char b : buf) ASSERT_EQ(b, 0);
  ASSERT_TRUE(w->Store(1, "x", 1).ok());  // the next store continues from the even seq
  EXPECT_EQ(Get<std::uint64_t>(m, L::kMailboxSeqOffset), 10u);
}

// A slot whose holder looks dead (start time does not match) while its pid exists may be a taker between
// its CAS and its start-time store: wait up to 100 ms for the start time before taking over (§7).
TEST(Recovery, SlotTakeOverWaitsForARacingTakersStartTime) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kSPSC));
  unsigned char* ring = fbtest::RegionBase(seg, "r");
  const std::uint32_t me = fb::sys::SelfPid();
  Put<std::uint64_t>(ring, L::kReaderOwnerOffset, fb::owner::Word(3, me));
  Put<std::uint64_t>(ring, L::kReaderStartOffset, 0);  // not stored yet
  std::thread taker([&] {
    fb::sys::SleepNanos(30 * 1000 * 1000);
    fb::atomics::StoreSeqCst<std::uint64_t>(ring, L::kReaderStartOffset, fb::sys::SelfStart());
  });
  auto r = seg.Reader("r");
  taker.join();
  EXPECT_EQ(r.code(), fb::Errc::kBusy) << (r.ok() ? "taken over" : r.status().message());
}

TEST(Recovery, SlotOfALivePidWithAnotherStartTimeIsTakenOverAfterTheWait) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kSPSC));
  unsigned char* ring = fbtest::RegionBase(seg, "r");
  Put<std::uint64_t>(ring, L::kReaderOwnerOffset, fb::owner::Word(3, fb::sys::SelfPid()));
  Put<std::uint64_t>(ring, L::kReaderStartOffset, 12345);  // a reused pid
  const std::int64_t t0 = fb::sys::MonotonicNanos();
  auto r = seg.Reader("r");
  const std::int64_t took = fb::sys::MonotonicNanos() - t0;
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_GE(took, std::int64_t{90} * 1000 * 1000);
  EXPECT_LT(took, std::int64_t{5} * 1000 * 1000 * 1000);
  EXPECT_EQ(fb::owner::Epoch(Get<std::uint64_t>(ring, L::kReaderOwnerOffset)), 4u);
}

}  // namespace
