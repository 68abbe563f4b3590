// The hot path allocates nothing and makes no wake-up system call while the reader keeps up: every
// operator new in this binary is counted (all threads: a channel server's threads too).
#include <atomic>
#include <cstdlib>
#include <new>

#include "framebridge/channel.hpp"
#include "framebridge/typed.hpp"
#include "framebridge/typed_capnp.hpp"
#include "helpers.hpp"
#include "typed_content.hpp"
#include "typed_content_capnp.hpp"

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

// Typed frames: building in place (FlatBuffers and Cap'n Proto), verifying and reading (copy and in
// place) allocate nothing per frame once the writers' bounds and the readers' buffers have settled.
TEST_P(NoAlloc, TypedFramesAllocateNothing) {
  namespace ty = framebridge::typed;
  fb::Segment seg = fbtest::MakeSegment(fbtest::OneRing(GetParam(), 1 << 16));
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ASSERT_TRUE(w.ok() && r.ok());
  ty::FlatBuffersWriter fw(&*w);
  ty::CapnpWriter cw(&*w);
  ty::FlatBuffersReader copy(ty::ReadMode::kCopy), inplace(ty::ReadMode::kInPlace);
  ty::CapnpReader ccopy(ty::ReadMode::kCopy), cinplace(ty::ReadMode::kInPlace);
  char why[512];
  std::uint64_t bad = 0;
  auto round = [&](std::uint64_t i) {
    fb::Frame f;
    const framebridge::frames::Envelope* e = nullptr;
    if (!fw.Build([&](flatbuffers::FlatBufferBuilder& b) { return frbtest::BuildTestEnvelope(b, 1, i); },
                  fb::Deadline::Try())
             .ok() ||
        !r->Next(fb::Deadline::Try(), &f).ok() || !(i % 2 == 0 ? copy : inplace).Open(f, &e).ok() ||
        !frbtest::CheckTestEnvelope(e, 1, i, why, sizeof why)) {
      ++bad;
    }
    framebridge::frames::capnp::Envelope::Reader ce;
    if (!cw.Build([&](capnp::MessageBuilder& m) { frbtest::BuildTestEnvelopeCapnp(m, 1, i); }, fb::Deadline::Try())
             .ok() ||
        !r->Next(fb::Deadline::Try(), &f).ok() || !(i % 2 == 0 ? ccopy : cinplace).Open(f, &ce).ok() ||
        !frbtest::CheckTestEnvelopeCapnp(ce, 1, i, why, sizeof why)) {
      ++bad;
    }
    r->Release();
  };
  for (std::uint64_t i = 0; i < 300; ++i) round(i);  // warm-up: bounds adapt, buffers grow
  const long before = g_allocs.load();
  for (std::uint64_t i = 0; i < 20000; ++i) round(i);
  EXPECT_EQ(g_allocs.load() - before, 0) << "heap allocations per typed frame";
  EXPECT_EQ(bad, 0u) << why;
  EXPECT_EQ(fw.stats().frames, 20300u);
}

// Channel calls: a client and a server with inline handlers in this process. Once the buffers have grown
// (the caller's Response, and the slots' buffers a leader hands responses through when several calls are
// in flight), a call allocates nothing on either side: sequential calls, calls with deadlines, calls
// answered with a non-zero status, and batches in flight from one thread (leader/follower hand-off).
TEST(NoAllocChannel, SteadyStateCallsAllocateNothing) {
  namespace ch = framebridge::channel;
  namespace fr = framebridge::frames;
  char tmpl[] = "/tmp/frbnaXXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/s.sock";
  std::atomic<long> handled{0};
  auto handler = [&handled](const ch::Request& rq, ch::Responder& r) {
    handled.fetch_add(1, std::memory_order_relaxed);
    const fr::Envelope* e = rq.envelope;
    const fr::Raw* raw = e->payload_as_Raw();
    if (raw == nullptr || raw->data() == nullptr) {
      r.Fail(3, "want Raw");
      return;
    }
    if (raw->data()->size() == 4) {  // "fail"
      r.Fail(7, "failed as asked");
      return;
    }
    if (e->sequence() % 2 == 1) {  // odd: laid out by hand
      ch::RawMessage m;
      m.sequence = e->sequence();
      m.data = raw->data()->data();
      m.size = raw->data()->size();
      r.ReplyRaw(m);
      return;
    }
    r.Reply([&](flatbuffers::FlatBufferBuilder& b) {
      ch::Message m;
      m.sequence = e->sequence();
      m.payload_type = fr::Payload::Raw;
      m.payload = fr::CreateRaw(b, b.CreateVector(raw->data()->data(), raw->data()->size())).Union();
      return m;
    });
  };
  auto srv = ch::Server::Listen(path, handler);
  ASSERT_TRUE(srv.ok()) << srv.status().message();
  ch::DialOptions d;
  d.max_in_flight = 16;  // the slots' buffers settle within a few batches
  auto cli = ch::Client::Dial(path, fb::Deadline::After(5000000000), d);
  ASSERT_TRUE(cli.ok()) << cli.status().message();
  ch::Client& c = **cli;

  auto request = [](std::uint64_t i, std::size_t n) {
    return [i, n](flatbuffers::FlatBufferBuilder& b) {
      std::uint8_t* p = nullptr;
      auto v = b.CreateUninitializedVector(n, &p);
      for (std::size_t k = 0; k < n; ++k) p[k] = static_cast<std::uint8_t>(i + k);
      ch::Message m;
      m.sequence = i;
      m.payload_type = fr::Payload::Raw;
      m.payload = fr::CreateRaw(b, v).Union();
      return m;
    };
  };
  auto echoed = [](const ch::Response& r, std::uint64_t i) {
    const fr::Envelope* e = r.envelope();
    if (e == nullptr || e->sequence() != i || e->payload_as_Raw() == nullptr) return false;
    const auto* v = e->payload_as_Raw()->data();
    if (v == nullptr || v->size() != 64) return false;
    for (std::size_t k = 0; k < 64; ++k) {
      if (v->Get(static_cast<flatbuffers::uoffset_t>(k)) != static_cast<std::uint8_t>(i + k)) return false;
    }
    return true;
  };
  ch::Response resp[8];
  ch::PendingCall pend[8];
  std::uint64_t bad = 0, next = 0;
  auto round = [&] {
    for (int k = 0; k < 14; ++k) {  // sequential, no deadline and with one
      ch::CallOptions o;
      if (k % 2 == 1) o.deadline = fb::Deadline::After(10000000000);
      const std::uint64_t i = next++;
      if (!c.Call(request(i, 64), &resp[0], o).ok() || !echoed(resp[0], i)) ++bad;
    }
    for (int k = 0; k < 4; ++k) {  // Raw requests laid out by hand (the payload written in place)
      const std::uint64_t i = next++;
      ch::RawMessage m;
      m.sequence = i;
      m.size = 64;
      auto fill = [i](std::uint8_t* p) {
        for (std::size_t j = 0; j < 64; ++j) p[j] = static_cast<std::uint8_t>(i + j);
      };
      if (!c.CallRaw(m, fill, &resp[0]).ok() || !echoed(resp[0], i)) ++bad;
    }
    const fb::Status st = c.Call(request(0, 4), &resp[0]);  // status 7
    if (st.code() != fb::Errc::kRemoteStatus || resp[0].code() != 7) ++bad;
    const std::uint64_t first = next;  // 8 in flight, answered through the leader's hand-off
    for (int k = 0; k < 8; ++k) {
      if (!c.Start(request(next++, 64), &pend[k]).ok()) ++bad;
    }
    for (int k = 7; k >= 0; --k) {
      if (!c.Wait(&pend[k], &resp[k]).ok() || !echoed(resp[k], first + static_cast<std::uint64_t>(k))) ++bad;
    }
  };
  for (int i = 0; i < 100; ++i) round();  // warm-up: claim bounds adapt, buffers grow
  const long before = g_allocs.load();
  for (int i = 0; i < 500; ++i) round();
  const long allocs = g_allocs.load() - before;
  EXPECT_EQ(allocs, 0) << "heap allocations in " << 500 * 27 << " steady-state calls";
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(handled.load(), 600L * 27);
  cli->reset();
  (*srv)->Close();
  rmdir(tmpl);
}

}  // namespace
