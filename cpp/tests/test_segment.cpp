// Segment create / attach / re-create / stale.
#include <sys/stat.h>
#include <sys/wait.h>

#include "helpers.hpp"

namespace fb = framebridge;
using fbtest::MakeSegment;
using fbtest::OneRing;

namespace {

std::string UniqueName(const char* tag) {
  static int n = 0;
  return std::string("frb-") + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(++n);
}

struct NamedCleanup {
  std::string name;
  ~NamedCleanup() { unlink(("/dev/shm/" + name).c_str()); }
};

TEST(Segment, CreateNamedIsPrivateAndAttachable) {
  NamedCleanup c{UniqueName("named")};
  auto seg = fb::Segment::Create(c.name, OneRing(fb::RegionKind::kMPSC, 8192));
  ASSERT_TRUE(seg.ok()) << seg.status().message();
  struct stat st;
  ASSERT_EQ(stat(("/dev/shm/" + c.name).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), 4096u + 4096 + 8192);
  auto att = fb::Segment::Attach(c.name);
  ASSERT_TRUE(att.ok()) << att.status().message();
  EXPECT_EQ(att->generation(), 1u);
  ASSERT_EQ(att->region_count(), 1u);
  EXPECT_EQ(att->region(0).kind, fb::RegionKind::kMPSC);
  EXPECT_EQ(att->region(0).capacity, 8192u);
  // Frames cross the two mappings.
  auto w = seg->Writer("r");
  auto r = att->Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  fbtest::Write(*w, 3, fbtest::Payload(100, 9));
  auto f = r->TryNext();
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(fbtest::Bytes(*f), fbtest::Payload(100, 9));
  EXPECT_FALSE(att->IsStale());
}

TEST(Segment, CreateFailsWhileTheCreatorIsAlive) {
  NamedCleanup c{UniqueName("exists")};
  auto seg = fb::Segment::Create(c.name, OneRing(fb::RegionKind::kSPSC));
  ASSERT_TRUE(seg.ok());
  auto again = fb::Segment::Create(c.name, OneRing(fb::RegionKind::kSPSC));
  EXPECT_EQ(again.code(), fb::Errc::kExists) << again.status().message();
  fb::CreateOptions opts;
  opts.replace_stale = true;
  auto replace = fb::Segment::Create(c.name, OneRing(fb::RegionKind::kSPSC), opts);
  EXPECT_EQ(replace.code(), fb::Errc::kExists) << replace.status().message();
}

TEST(Segment, RecreateAfterTheCreatorDiedBumpsTheGeneration) {
  NamedCleanup c{UniqueName("regen")};
  pid_t pid = fork();
  if (pid == 0) {
    auto seg = fb::Segment::Create(c.name, OneRing(fb::RegionKind::kSPSC));
    _exit(seg.ok() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto old = fb::Segment::Attach(c.name);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->generation(), 1u);
  EXPECT_FALSE(old->CreatorAlive());
  EXPECT_EQ(fb::Segment::Create(c.name, OneRing(fb::RegionKind::kSPSC, 8192)).code(), fb::Errc::kExists);
  fb::CreateOptions opts;
  opts.replace_stale = true;
  auto seg = fb::Segment::Create(c.name, OneRing(fb::RegionKind::kSPSC, 8192), opts);
  ASSERT_TRUE(seg.ok()) << seg.status().message();
  EXPECT_EQ(seg->generation(), 2u);
  EXPECT_TRUE(old->IsStale());
  EXPECT_FALSE(seg->IsStale());
}

TEST(Segment, AttachMissingIsNotFound) {
  auto r = fb::Segment::Attach(UniqueName("missing"));
  EXPECT_EQ(r.code(), fb::Errc::kNotFound);
  EXPECT_EQ(fb::Segment::Attach("../etc/passwd").code(), fb::Errc::kInvalidArgument);
  EXPECT_EQ(fb::Segment::Create("a/b", OneRing(fb::RegionKind::kSPSC)).code(), fb::Errc::kInvalidArgument);
}

// Anyone may create files in /dev/shm: a FIFO planted under the name must not block Attach (O_NONBLOCK)
// and is refused as not a regular file.
TEST(Segment, AttachRefusesAFifoWithoutBlocking) {
  NamedCleanup c{UniqueName("fifo")};
  ASSERT_EQ(mkfifo(("/dev/shm/" + c.name).c_str(), 0600), 0) << strerror(errno);
  const std::int64_t t0 = fb::sys::MonotonicNanos();
  auto r = fb::Segment::Attach(c.name);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.code(), fb::Errc::kCorrupt) << r.status().message();
  EXPECT_NE(std::strstr(r.status().message(), "not a regular file"), nullptr) << r.status().message();
  EXPECT_LT(fb::sys::MonotonicNanos() - t0, std::int64_t{1000} * 1000 * 1000);
}

// IsStale opens the name read-only: a FIFO planted there after the segment was unlinked would block that
// open without O_NONBLOCK. It is another object (inode and device differ): stale.
TEST(Segment, IsStaleWithAFifoUnderTheNameDoesNotBlock) {
  NamedCleanup c{UniqueName("stalefifo")};
  auto seg = fb::Segment::Create(c.name, OneRing(fb::RegionKind::kSPSC));
  ASSERT_TRUE(seg.ok()) << seg.status().message();
  EXPECT_FALSE(seg->IsStale());
  ASSERT_TRUE(seg->Unlink().ok());
  ASSERT_EQ(mkfifo(("/dev/shm/" + c.name).c_str(), 0600), 0) << strerror(errno);
  EXPECT_TRUE(seg->IsStale());
}

TEST(Segment, AttachFdDuplicatesTheDescriptor) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kSPSC));
  auto att = fb::Segment::AttachFd(seg.fd());
  ASSERT_TRUE(att.ok()) << att.status().message();
  EXPECT_NE(att->fd(), seg.fd());
  EXPECT_EQ(att->size(), seg.size());
  att->Close();
  att->Close();  // idempotent
  EXPECT_EQ(fcntl(seg.fd(), F_GETFD), FD_CLOEXEC);
}

TEST(Segment, MemfdIsSealedAgainstResizing) {
  fb::Segment seg = MakeSegment(OneRing(fb::RegionKind::kSPSC));
  EXPECT_NE(ftruncate(seg.fd(), 4096), 0);
  EXPECT_NE(ftruncate(seg.fd(), static_cast<off_t>(seg.size() * 2)), 0);
}

TEST(Segment, SpecLayoutIsRingsThenMailboxesPageAligned) {
  fb::Spec spec;
  spec.mailboxes.push_back({"m1", 5000});
  spec.rings.push_back({"r1", fb::RegionKind::kSPSC, 4096});
  spec.rings.push_back({"r2", fb::RegionKind::kMPSC, 65536});
  spec.mailboxes.push_back({"m2", 1});
  fb::Segment seg = MakeSegment(spec);
  ASSERT_EQ(seg.region_count(), 4u);
  EXPECT_STREQ(seg.region(0).name, "r1");
  EXPECT_EQ(seg.region(0).offset, 4096u);
  EXPECT_STREQ(seg.region(1).name, "r2");
  EXPECT_EQ(seg.region(1).offset, 4096u + 8192);
  EXPECT_STREQ(seg.region(2).name, "m1");
  EXPECT_EQ(seg.region(2).offset, 4096u + 8192 + 69632);
  EXPECT_EQ(seg.region(2).length, 8192u);
  EXPECT_STREQ(seg.region(3).name, "m2");
  EXPECT_EQ(seg.region(3).length, 4096u);
  EXPECT_EQ(seg.size(), seg.region(3).offset + 4096);
}

TEST(Segment, InvalidSpecsAreRejected) {
  auto bad = [](fb::Spec s) { return fb::Segment::CreateMemfd("x", s).code(); };
  EXPECT_EQ(bad(fb::Spec{}), fb::Errc::kInvalidArgument);
  EXPECT_EQ(bad(OneRing(fb::RegionKind::kSPSC, 4096 + 8)), fb::Errc::kInvalidArgument);
  EXPECT_EQ(bad(OneRing(fb::RegionKind::kSPSC, 2048)), fb::Errc::kInvalidArgument);
  EXPECT_EQ(bad(OneRing(fb::RegionKind::kSPSC, std::uint64_t{1} << 31)), fb::Errc::kInvalidArgument);
  EXPECT_EQ(bad(OneRing(fb::RegionKind::kSPSC, 4096, "")), fb::Errc::kInvalidArgument);
  EXPECT_EQ(bad(OneRing(fb::RegionKind::kSPSC, 4096, "bad name")), fb::Errc::kInvalidArgument);
  EXPECT_EQ(bad(OneRing(fb::RegionKind::kSPSC, 4096, "0123456789012345678901234567890123")), fb::Errc::kInvalidArgument);
  fb::Spec dup = OneRing(fb::RegionKind::kSPSC);
  dup.mailboxes.push_back({"r", 16});
  EXPECT_EQ(bad(dup), fb::Errc::kInvalidArgument);
  fb::Spec mb;
  mb.mailboxes.push_back({"m", 0});
  EXPECT_EQ(bad(mb), fb::Errc::kInvalidArgument);
  mb.mailboxes[0].payload_size = (1 << 20) + 1;
  EXPECT_EQ(bad(mb), fb::Errc::kInvalidArgument);
  fb::Spec many;
  for (int i = 0; i < 33; ++i) many.mailboxes.push_back({"m" + std::to_string(i), 8});
  EXPECT_EQ(bad(many), fb::Errc::kInvalidArgument);
  many.mailboxes.pop_back();
  EXPECT_TRUE(fb::Segment::CreateMemfd("x", many).ok());
}

TEST(Segment, HandlesForWrongRegionsFail) {
  fb::Spec spec = OneRing(fb::RegionKind::kSPSC);
  spec.mailboxes.push_back({"m", 8});
  fb::Segment seg = MakeSegment(spec);
  EXPECT_EQ(seg.Writer("nope").code(), fb::Errc::kNotFound);
  EXPECT_EQ(seg.Reader("m").code(), fb::Errc::kWrongKind);
  EXPECT_EQ(seg.Mailbox("r").code(), fb::Errc::kWrongKind);
  seg.Close();
  EXPECT_EQ(seg.Writer("r").code(), fb::Errc::kClosed);
}

}  // namespace
