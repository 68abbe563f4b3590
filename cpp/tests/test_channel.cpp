// Channels (docs/channels.md): handshake and its rejections, seals, content-checked calls, many in flight,
// deadlines on both sides, kFull, exceptions -> 13, dead peers (fork + SIGKILL), hostile clients.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "framebridge.hpp"
#include "framebridge/channel.hpp"

namespace fb = framebridge;
namespace ch = framebridge::channel;
namespace hs = framebridge::channel::handshake;
namespace fr = framebridge::frames;

namespace {

std::string TempSocket(const char* name) {
  char tmpl[] = "/tmp/frbchXXXXXX";
  const char* d = mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return std::string(d) + "/" + name;
}

auto Echo(std::uint64_t i, const std::string& text) {
  return [i, text](flatbuffers::FlatBufferBuilder& b) {
    ch::Message m;
    m.sequence = i;
    m.payload_type = fr::Payload::Raw;
    m.payload = fr::CreateRaw(b, b.CreateVector(reinterpret_cast<const std::uint8_t*>(text.data()), text.size())).Union();
    return m;
  };
}

std::string RawText(const ch::Response& r) {
  const fr::Envelope* e = r.envelope();
  if (e == nullptr || e->payload_type() != fr::Payload::Raw || e->payload_as_Raw()->data() == nullptr) return "<none>";
  const auto* d = e->payload_as_Raw()->data();
  return std::string(reinterpret_cast<const char*>(d->data()), d->size());
}

// Echo; "sleep:<ms>" sleeps first; "throw" throws; "fail" answers 7.
void TestHandler(const ch::Request& rq, ch::Responder& r) {
  const fr::Envelope* e = rq.envelope;
  std::string s;
  if (e->payload_type() == fr::Payload::Raw && e->payload_as_Raw()->data() != nullptr) {
    s.assign(reinterpret_cast<const char*>(e->payload_as_Raw()->data()->data()), e->payload_as_Raw()->data()->size());
  }
  if (s.rfind("sleep:", 0) == 0) fb::sys::SleepNanos(std::atoll(s.c_str() + 6) * 1000000LL);
  if (s == "throw") throw std::runtime_error("boom from handler");
  if (s == "fail") {
    r.Fail(7, "failed as asked");
    return;
  }
  if (s.rfind("raw:", 0) == 0) {  // laid out by hand
    ch::RawMessage m;
    m.sequence = e->sequence();
    m.data = reinterpret_cast<const std::uint8_t*>(s.data());
    m.size = s.size();
    r.ReplyRaw(m);
    return;
  }
  r.Reply([&](flatbuffers::FlatBufferBuilder& b) {
    ch::Message m;
    m.sequence = e->sequence();
    m.payload_type = fr::Payload::Raw;
    m.payload = fr::CreateRaw(b, b.CreateVector(reinterpret_cast<const std::uint8_t*>(s.data()), s.size())).Union();
    return m;
  });
}

struct Fixture {
  std::string path;
  std::unique_ptr<ch::Server> srv;
  explicit Fixture(ch::ServerOptions o = ch::ServerOptions(), const char* name = "s.sock") : path(TempSocket(name)) {
    auto s = ch::Server::Listen(path, TestHandler, std::move(o));
    EXPECT_TRUE(s.ok()) << s.status().message();
    if (s.ok()) srv = std::move(s.value());
  }
  std::unique_ptr<ch::Client> Dial(ch::DialOptions d = ch::DialOptions()) {
    auto c = ch::Client::Dial(path, fb::Deadline::After(5000000000), d);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? std::move(c.value()) : nullptr;
  }
};

// A raw client: connect, send these 64 bytes, receive the Welcome (and its descriptor).
hs::Welcome RawHello(const std::string& path, const std::uint8_t* hello, std::size_t n, int* fd_out = nullptr) {
  int s = -1;
  EXPECT_TRUE(ch::sock::Connect(path, &s).ok());
  EXPECT_TRUE(ch::sock::SendPacket(s, hello, n, -1).ok());
  ch::sock::PollIn(s, fb::Deadline::After(5000000000));
  std::uint8_t wb[hs::kWelcomeLength];
  ch::sock::Packet p;
  EXPECT_TRUE(ch::sock::RecvPacket(s, wb, sizeof wb, &p).ok());
  EXPECT_EQ(p.size, hs::kWelcomeLength);
  if (fd_out != nullptr) {
    *fd_out = p.nfds == 1 ? p.fds[0] : -1;
    *fd_out = *fd_out >= 0 ? *fd_out : -1;
  } else {
    for (int f : p.fds) ch::sock::CloseFd(f);
  }
  close(s);
  return hs::DecodeWelcome(wb);
}

TEST(ChannelHandshake, ConstantsMatchTheSpecAndPacketsRoundTrip) {
  static_assert(hs::kHelloFlagsOffset == 20 && hs::kWelcomeGenerationOffset == 24 && hs::kWelcomeServerPidOffset == 32 &&
                    hs::kWelcomeMessageLengthOffset == 36,
                "docs/channels.md §2");
  hs::Hello h;
  h.request_ring_bytes = 8192;
  h.client_pid = 42;
  std::uint8_t b[hs::kHelloLength];
  hs::EncodeHello(h, b);
  EXPECT_EQ(std::memcmp(b, "FHEL", 4), 0);
  hs::Hello d = hs::DecodeHello(b);
  EXPECT_EQ(d.request_ring_bytes, 8192u);
  EXPECT_EQ(d.client_pid, 42u);
  hs::Welcome w;
  w.generation = 0x0102030405060708ull;
  std::snprintf(w.message, sizeof w.message, "hello");
  std::uint8_t wb[hs::kWelcomeLength];
  hs::EncodeWelcome(w, wb);
  EXPECT_EQ(std::memcmp(wb, "FWCL", 4), 0);
  wb[hs::kWelcomeMessageLengthOffset] = 200;  // hostile length is clamped
  hs::Welcome wd = hs::DecodeWelcome(wb);
  EXPECT_EQ(wd.generation, w.generation);
  EXPECT_EQ(std::strlen(wd.message), hs::kWelcomeMessageCapacity);
}

TEST(ChannelHandshake, EveryBadHelloIsRefusedWithItsStatus) {
  Fixture f;
  std::uint8_t b[hs::kHelloLength];
  hs::Hello h;
  hs::EncodeHello(h, b);
  b[0] ^= 1;
  EXPECT_EQ(RawHello(f.path, b, sizeof b).status, 3u) << "bad magic";
  h = hs::Hello();
  h.protocol_version = 2;
  hs::EncodeHello(h, b);
  hs::Welcome w = RawHello(f.path, b, sizeof b);
  EXPECT_EQ(w.status, 1u);
  EXPECT_NE(std::strstr(w.message, "client sent 2"), nullptr) << w.message;
  h = hs::Hello();
  h.request_ring_bytes = 5000;
  hs::EncodeHello(h, b);
  EXPECT_EQ(RawHello(f.path, b, sizeof b).status, 3u) << "ring not a power of two";
  h = hs::Hello();
  h.flags = 1;
  hs::EncodeHello(h, b);
  EXPECT_EQ(RawHello(f.path, b, sizeof b).status, 3u) << "unknown flags";
  hs::EncodeHello(hs::Hello(), b);
  EXPECT_EQ(RawHello(f.path, b, 10).status, 3u) << "short packet";
  EXPECT_EQ(f.srv->counters().connections, 0u);
}

TEST(ChannelHandshake, RingSizesAreGrantedDefaultedAndCapped) {
  ch::ServerOptions o;
  o.max_ring_bytes = 1 << 16;
  Fixture f(o);
  ch::DialOptions d;
  d.request_ring_bytes = 8192;
  d.response_ring_bytes = 1 << 20;
  auto c = f.Dial(d);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->request_ring_bytes(), 8192u);
  EXPECT_EQ(c->response_ring_bytes(), 1u << 16);
  EXPECT_EQ(c->generation(), 1u);
  EXPECT_EQ(f.Dial()->generation(), 2u);
}

TEST(ChannelHandshake, PermissionDeniedForUidsNotAllowed) {
  ch::ServerOptions o;
  o.allow_uids = {static_cast<std::uint32_t>(getuid()) + 12345};
  Fixture f(o);
  auto c = ch::Client::Dial(f.path, fb::Deadline::After(5000000000));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::strstr(c.status().message(), "PermissionDenied"), nullptr) << c.status().message();
}

TEST(ChannelHandshake, BadPathsAreClearErrors) {
  auto h = [](const ch::Request&, ch::Responder&) {};
  auto r = ch::Server::Listen(std::string(200, 'a'), h);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::strstr(r.status().message(), "at most"), nullptr) << r.status().message();
  r = ch::Server::Listen("/nonexistent-dir-frb/x.sock", h);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::strstr(r.status().message(), "directory does not exist"), nullptr) << r.status().message();
  Fixture f;
  r = ch::Server::Listen(f.path, h);
  ASSERT_FALSE(r.ok()) << "a live listener";
  const std::string plain = TempSocket("plain");
  FILE* fp = std::fopen(plain.c_str(), "w");
  std::fclose(fp);
  r = ch::Server::Listen(plain, h);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::strstr(r.status().message(), "not a socket"), nullptr);
  // A stale socket file (nobody listens) is replaced.
  const std::string stale = TempSocket("stale.sock");
  int s = -1;
  ASSERT_TRUE(ch::sock::Listen(stale, 0600, 1, &s).ok());
  close(s);
  r = ch::Server::Listen(stale, h);
  EXPECT_TRUE(r.ok()) << r.status().message();
  struct stat st;
  ASSERT_EQ(stat(stale.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(ChannelSegment, TheReceivedSegmentIsSealed) {
  Fixture f;
  std::uint8_t b[hs::kHelloLength];
  hs::EncodeHello(hs::Hello(), b);
  int fd = -1;
  hs::Welcome w = RawHello(f.path, b, sizeof b, &fd);
  ASSERT_EQ(w.status, 0u);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ftruncate(fd, 4096), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(ftruncate(fd, 1 << 24), -1);
  EXPECT_EQ(errno, EPERM);
  close(fd);
}

TEST(ChannelSegment, AnUnsealedSegmentFromAFakeServerIsRefused) {
  const std::string path = TempSocket("fake.sock");
  int l = -1;
  ASSERT_TRUE(ch::sock::Listen(path, 0600, 1, &l).ok());
  std::thread fake([&] {
    int c = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    std::uint8_t hb[64];
    ch::sock::PollIn(c, fb::Deadline::After(5000000000));
    ch::sock::Packet p;
    (void)ch::sock::RecvPacket(c, hb, sizeof hb, &p);
    fb::Spec spec;
    spec.rings.push_back({"requests", fb::RegionKind::kSPSC, 65536});
    spec.rings.push_back({"responses", fb::RegionKind::kSPSC, 65536});
    const std::string name = "frb-fake-" + std::to_string(getpid());
    auto seg = fb::Segment::Create(name, spec);  // a /dev/shm file: no seals
    ASSERT_TRUE(seg.ok());
    seg->Unlink();
    hs::Welcome w;
    w.request_ring_bytes = w.response_ring_bytes = 65536;
    std::uint8_t wb[hs::kWelcomeLength];
    hs::EncodeWelcome(w, wb);
    (void)ch::sock::SendPacket(c, wb, sizeof wb, seg->fd());
    ch::sock::PollIn(c, fb::Deadline::After(5000000000));
    close(c);
  });
  auto c = ch::Client::Dial(path, fb::Deadline::After(5000000000));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::strstr(c.status().message(), "not sealed"), nullptr) << c.status().message();
  fake.join();
  close(l);
}

TEST(ChannelCalls, ContentIsEchoedAndStatusesAreErrors) {
  Fixture f;
  auto c = f.Dial();
  ASSERT_TRUE(c);
  ch::Response r;
  for (std::uint64_t i = 1; i <= 200; ++i) {
    const std::string text = "message " + std::to_string(i) + std::string(i % 50, 'z');
    fb::Status st = c->Call(Echo(i, text), &r);
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(RawText(r), text);
    EXPECT_EQ(r.envelope()->sequence(), i);
    EXPECT_EQ(r.envelope()->kind(), fr::Kind::Response);
  }
  fb::Status st = c->Call(Echo(0, "fail"), &r);
  EXPECT_EQ(st.code(), fb::Errc::kRemoteStatus) << st.message();
  EXPECT_TRUE(ch::IsRemoteStatus(st));
  EXPECT_EQ(r.code(), 7);
  EXPECT_STREQ(r.message(), "failed as asked");
  st = c->Call(Echo(0, "throw"), &r);
  EXPECT_EQ(r.code(), 13);
  EXPECT_NE(std::strstr(r.message(), "boom from handler"), nullptr) << r.message();
  EXPECT_TRUE(c->Call(Echo(5, "after"), &r).ok());
  EXPECT_EQ(RawText(r), "after");
  EXPECT_EQ(f.srv->counters().handler_exceptions, 1u);
}

// Raw messages laid out by hand (CallRaw / StartRaw / SendRaw, ReplyRaw) meet builder-made ones in any
// combination; the request's trace comes back on both reply paths; a message's own trace is sent.
TEST(ChannelCalls, RawMessagesLaidOutByHandRoundTripWithTraces) {
  Fixture f;
  auto c = f.Dial();
  ASSERT_TRUE(c);
  ch::Response r;
  const std::string parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  for (std::uint64_t i = 1; i <= 300; ++i) {
    const std::string text = (i % 2 == 0 ? "raw:" : "bld:") + std::string(i % 70, 'q');
    ch::RawMessage m;
    m.sequence = i;
    m.data = reinterpret_cast<const std::uint8_t*>(text.data());
    m.size = text.size();
    if (i % 3 == 0) {
      m.trace = true;
      m.traceparent = {parent.data(), parent.size()};
      if (i % 9 == 0) m.tracestate = {"k=v", 3};
    }
    fb::Status st = i % 5 == 0 ? c->CallRaw(m, [&](std::uint8_t* d) { std::memcpy(d, text.data(), text.size()); }, &r)
                               : c->CallRaw(m, &r);
    ASSERT_TRUE(st.ok()) << st.message();
    const fr::Envelope* e = r.envelope();
    EXPECT_EQ(RawText(r), text);
    EXPECT_EQ(e->sequence(), i);
    EXPECT_EQ(e->kind(), fr::Kind::Response);
    EXPECT_EQ(e->status(), 0);
    EXPECT_EQ(e->status_message(), nullptr);
    if (i % 3 != 0) {
      EXPECT_EQ(e->trace(), nullptr);
      continue;
    }
    ASSERT_NE(e->trace(), nullptr);
    ASSERT_NE(e->trace()->traceparent(), nullptr);
    EXPECT_EQ(e->trace()->traceparent()->str(), parent);
    if (i % 9 == 0) {
      ASSERT_NE(e->trace()->tracestate(), nullptr);
      EXPECT_EQ(e->trace()->tracestate()->str(), "k=v");
    } else {
      EXPECT_EQ(e->trace()->tracestate(), nullptr);
    }
  }
  // Fail is laid out by hand too; OneWay Raw sends are not answered; the connection carries on.
  ch::RawMessage fail;
  fail.data = reinterpret_cast<const std::uint8_t*>("fail");
  fail.size = 4;
  EXPECT_EQ(c->CallRaw(fail, &r).code(), fb::Errc::kRemoteStatus);
  EXPECT_EQ(r.code(), 7);
  EXPECT_STREQ(r.message(), "failed as asked");
  for (int k = 0; k < 10; ++k) EXPECT_TRUE(c->SendRaw(fail).ok());
  ch::PendingCall pc;
  ch::RawMessage last;
  last.sequence = 99;
  last.data = reinterpret_cast<const std::uint8_t*>("raw:last");
  last.size = 8;
  ASSERT_TRUE(c->StartRaw(last, &pc).ok());
  ASSERT_TRUE(c->Wait(&pc, &r).ok());
  EXPECT_EQ(RawText(r), "raw:last");
  EXPECT_EQ(c->counters().late_responses, 0u);
  EXPECT_EQ(f.srv->counters().calls, 300u + 1 + 10 + 1);
}

TEST(ChannelCalls, AThousandInFlightFromOneThread) {
  Fixture f;
  auto c = f.Dial();
  ASSERT_TRUE(c);
  std::vector<ch::PendingCall> pend(1000);
  for (std::uint64_t i = 0; i < 1000; ++i) {
    ASSERT_TRUE(c->Start(Echo(i, "n" + std::to_string(i)), &pend[i]).ok());
  }
  ch::Response r;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    const std::uint64_t id = pend[i].id;
    ASSERT_TRUE(c->Wait(&pend[i], &r).ok());
    EXPECT_EQ(r.correlation_id(), id);
    EXPECT_EQ(RawText(r), "n" + std::to_string(i));
  }
}

TEST(ChannelThreads, ManyThreadsCallAtOnceInlineAndOnWorkers) {
  for (unsigned workers : {0u, 3u}) {
    ch::ServerOptions o;
    o.workers = workers;
    Fixture f(o);
    auto c = f.Dial();
    ASSERT_TRUE(c);
    std::atomic<int> bad{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; ++t) {
      ts.emplace_back([&, t] {
        ch::Response r;
        for (int i = 0; i < 300; ++i) {
          const std::string text = std::to_string(t) + ":" + std::to_string(i);
          ch::CallOptions co;
          co.deadline = fb::Deadline::After(30000000000);
          if (!c->Call(Echo(static_cast<std::uint64_t>(i), text), &r, co).ok() || RawText(r) != text) ++bad;
        }
      });
    }
    for (auto& t : ts) t.join();
    EXPECT_EQ(bad.load(), 0) << "workers=" << workers;
  }
}

TEST(ChannelCalls, DeadlinesOnBothSides) {
  Fixture f;
  auto c = f.Dial();
  ASSERT_TRUE(c);
  ch::Response r;
  ch::CallOptions co;
  co.deadline = fb::Deadline::After(50000000);
  ch::PendingCall slow;
  ASSERT_TRUE(c->Start(Echo(1, "sleep:300"), &slow, co).ok());
  ch::PendingCall expired;
  ASSERT_TRUE(c->Start(Echo(2, "never run"), &expired, co).ok());
  EXPECT_EQ(c->Wait(&slow, &r).code(), fb::Errc::kTimeout);
  EXPECT_EQ(c->Wait(&expired, &r).code(), fb::Errc::kTimeout);
  // The server dropped the response to the slow call (finished after its deadline) and did not run the
  // second (expired when read).
  ASSERT_TRUE(c->Call(Echo(3, "ok"), &r).ok());
  EXPECT_EQ(RawText(r), "ok");
  EXPECT_EQ(f.srv->counters().expired_requests, 1u);
  EXPECT_EQ(f.srv->counters().expired_responses, 1u);
}

TEST(ChannelCalls, AFullRequestRingFailsFastOrBlocksUntilTheDeadline) {
  Fixture f;
  ch::DialOptions d;
  d.request_ring_bytes = 4096;
  auto c = f.Dial(d);
  ASSERT_TRUE(c);
  ch::PendingCall slow;
  ASSERT_TRUE(c->Start(Echo(1, "sleep:300"), &slow).ok());
  fb::sys::SleepNanos(20000000);
  ch::CallOptions ff;
  ff.fail_fast = true;
  fb::Status st;
  int sent = 0;
  while ((st = c->Send(Echo(0, std::string(512, 'x')), ff)).ok()) ++sent;
  EXPECT_EQ(st.code(), fb::Errc::kFull) << st.message();
  EXPECT_GT(sent, 0);
  ch::CallOptions blocking;
  blocking.deadline = fb::Deadline::After(30000000);
  EXPECT_EQ(c->Send(Echo(0, std::string(512, 'x')), blocking).code(), fb::Errc::kTimeout);
  ch::Response r;
  EXPECT_TRUE(c->Wait(&slow, &r).ok());
}

TEST(ChannelLiveness, AServerKilledMidCallFailsEveryPendingCallWithPeerDead) {
  const std::string path = TempSocket("k.sock");
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto s = ch::Server::Listen(path, TestHandler);
    if (!s.ok()) _exit(3);
    for (;;) pause();
  }
  std::unique_ptr<ch::Client> c;
  for (int i = 0; i < 2000 && !c; ++i) {
    auto r = ch::Client::Dial(path, fb::Deadline::After(1000000000));
    if (r.ok()) c = std::move(r.value());
    else fb::sys::SleepNanos(1000000);
  }
  ASSERT_TRUE(c);
  std::vector<ch::PendingCall> pend(5);
  for (auto& p : pend) ASSERT_TRUE(c->Start(Echo(1, "sleep:10000"), &p).ok());
  fb::sys::SleepNanos(50000000);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ch::Response r;
  for (auto& p : pend) EXPECT_EQ(c->Wait(&p, &r).code(), fb::Errc::kPeerDead);
  EXPECT_EQ(c->Call(Echo(1, "x"), &r).code(), fb::Errc::kPeerDead);
  EXPECT_NE(std::strstr(c->dead_reason(), "peer-dead"), nullptr);
}

// CloseLog counts the connections a server closes and keeps the last one's reason (written before the
// count, so a reader that saw the count sees the reason).
struct CloseLog {
  std::atomic<int> closed{0};
  char reason[200] = {};
  ch::ServerOptions Options() {
    ch::ServerOptions o;
    o.on_close = [this](const ch::ConnectionEnd& e) {
      std::snprintf(reason, sizeof reason, "%s", e.reason);
      closed.fetch_add(1);
    };
    return o;
  }
};

TEST(ChannelLiveness, AKilledClientsConnectionIsFreed) {
  CloseLog closes;
  Fixture f(closes.Options());
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto c = ch::Client::Dial(f.path, fb::Deadline::After(5000000000));
    if (!c.ok()) _exit(3);
    for (;;) pause();
  }
  for (int i = 0; i < 5000 && f.srv->counters().connections == 0; ++i) fb::sys::SleepNanos(1000000);
  ASSERT_EQ(f.srv->counters().connections, 1u);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  for (int i = 0; i < 5000 && f.srv->open_connections() != 0; ++i) fb::sys::SleepNanos(1000000);
  EXPECT_EQ(f.srv->open_connections(), 0u);
  EXPECT_EQ(closes.closed.load(), 1);
  EXPECT_EQ(std::string(closes.reason).rfind("peer-dead", 0), 0u) << closes.reason;
}

// A process left running by a test (a grandchild that holds a connection's socket): killed at scope exit.
struct KillAtExit {
  pid_t pid = -1;
  ~KillAtExit() {
    if (pid > 0) kill(pid, SIGKILL);
  }
};

// The peer's pidfd (§4): opened only when SO_PEERCRED's pid is the one the peer named, close-on-exec,
// not readable while the peer lives.
TEST(ChannelLiveness, APeerPidfdIsOpenedOnlyForTheNamedPid) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  const ch::sock::PeerProcess pp = ch::sock::OpenPeerPidfd(sv[0], fb::sys::SelfPid());
  ASSERT_GE(pp.pidfd, 0) << "SO_PEERPIDFD or pidfd_open (Linux 5.3+) gave no pidfd";
  EXPECT_FALSE(pp.exited);
  EXPECT_EQ(pp.pid, fb::sys::SelfPid());
  EXPECT_NE(fcntl(pp.pidfd, F_GETFD) & FD_CLOEXEC, 0);
  pollfd p{pp.pidfd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0) << "a live process's pidfd is not readable";
  close(pp.pidfd);
  // Another pid than SO_PEERCRED's (a pre-fork server's listener and acceptor differ): socket alone.
  const ch::sock::PeerProcess other = ch::sock::OpenPeerPidfd(sv[0], fb::sys::SelfPid() + 1);
  EXPECT_EQ(other.pidfd, -1);
  EXPECT_FALSE(other.exited);
  close(sv[0]);
  close(sv[1]);
}

// The pidfd_open fallback (kernels without SO_PEERPIDFD): a pidfd while the socket is open; none once it
// reads end of file (the pid could be another process's); exited for a pid that names no process.
TEST(ChannelLiveness, ThePidfdOpenFallbackChecksTheSocketAgain) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  ch::sock::PeerProcess pp = ch::sock::OpenPidfdChecked(sv[0], fb::sys::SelfPid());
  ASSERT_GE(pp.pidfd, 0) << "pidfd_open (Linux 5.3+) gave no pidfd";
  EXPECT_NE(fcntl(pp.pidfd, F_GETFD) & FD_CLOEXEC, 0);
  close(pp.pidfd);
  close(sv[1]);  // the peer's end closes: end of file
  pp = ch::sock::OpenPidfdChecked(sv[0], fb::sys::SelfPid());
  EXPECT_EQ(pp.pidfd, -1);
  EXPECT_FALSE(pp.exited);
  close(sv[0]);
  // A reaped child's pid names no process (until reused; a fresh child's pid is not reused at once).
  const pid_t gone = fork();
  ASSERT_GE(gone, 0);
  if (gone == 0) _exit(0);
  ASSERT_EQ(waitpid(gone, nullptr, 0), gone);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  pp = ch::sock::OpenPidfdChecked(sv[0], static_cast<std::uint32_t>(gone));
  EXPECT_EQ(pp.pidfd, -1);
  EXPECT_TRUE(pp.exited);
  close(sv[0]);
  close(sv[1]);
}

// A client process that forks a child inheriting its connection's socket and then dies: the socket never
// reads end of file (the child sleeps with it open), the pidfd tells the server, which frees the connection.
TEST(ChannelLiveness, AClientWhoseSocketLivesOnInItsChildIsSeenDead) {
  CloseLog closes;
  Fixture f(closes.Options());
  int pfd[2];
  ASSERT_EQ(pipe(pfd), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pfd[0]);
    auto c = ch::Client::Dial(f.path, fb::Deadline::After(5000000000));
    if (!c.ok()) _exit(3);
    ch::Response r;
    if (!(*c)->Call(Echo(1, "hi"), &r).ok()) _exit(4);
    const pid_t g = fork();  // keeps the connection's socket (and segment) open
    if (g == 0) {
      for (;;) pause();
    }
    if (write(pfd[1], &g, sizeof g) != static_cast<ssize_t>(sizeof g)) _exit(5);
    _exit(0);  // no Close: the socket stays open in g
  }
  close(pfd[1]);
  KillAtExit grandchild;
  ASSERT_EQ(read(pfd[0], &grandchild.pid, sizeof grandchild.pid), static_cast<ssize_t>(sizeof grandchild.pid));
  close(pfd[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_GT(grandchild.pid, 0);
  EXPECT_EQ(kill(grandchild.pid, 0), 0) << "the child holding the socket is alive";
  for (int i = 0; i < 10000 && (f.srv->open_connections() != 0 || closes.closed.load() == 0); ++i) fb::sys::SleepNanos(1000000);
  EXPECT_EQ(f.srv->open_connections(), 0u);
  EXPECT_EQ(closes.closed.load(), 1);
  EXPECT_EQ(std::string(closes.reason), "peer-dead: the client process " + std::to_string(child) + " exited");
}

// A server process whose connection's socket lives on in a child it forked (from the handler) and then
// dies: the client's pending call fails with kPeerDead, through the server's pidfd.
TEST(ChannelLiveness, AServerWhoseSocketLivesOnInItsChildFailsPendingCalls) {
  const std::string path = TempSocket("p.sock");
  int pfd[2];
  ASSERT_EQ(pipe(pfd), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pfd[0]);
    const int out = pfd[1];
    auto s = ch::Server::Listen(path, [out](const ch::Request&, ch::Responder&) {
      const pid_t g = fork();  // inherits the accepted connection's socket
      if (g == 0) {
        for (;;) pause();
      }
      if (write(out, &g, sizeof g) != static_cast<ssize_t>(sizeof g)) _exit(5);
      _exit(0);  // the server process dies without answering
    });
    if (!s.ok()) _exit(3);
    for (;;) pause();
  }
  close(pfd[1]);
  KillAtExit server{child};
  std::unique_ptr<ch::Client> c;
  for (int i = 0; i < 5000 && !c; ++i) {
    auto r = ch::Client::Dial(path, fb::Deadline::After(1000000000));
    if (r.ok()) c = std::move(r.value());
    else fb::sys::SleepNanos(1000000);
  }
  ASSERT_TRUE(c);
  EXPECT_EQ(c->server_pid(), static_cast<std::uint32_t>(child));
  ch::CallOptions co;
  co.deadline = fb::Deadline::After(20000000000);  // generous: only a broken liveness check gets near it
  ch::Response r;
  const fb::Status st = c->Call(Echo(1, "fork"), &r, co);
  KillAtExit grandchild;
  ASSERT_EQ(read(pfd[0], &grandchild.pid, sizeof grandchild.pid), static_cast<ssize_t>(sizeof grandchild.pid));
  close(pfd[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  server.pid = -1;
  EXPECT_EQ(kill(grandchild.pid, 0), 0) << "the child holding the socket is alive";
  EXPECT_EQ(st.code(), fb::Errc::kPeerDead) << st.message();
  EXPECT_EQ(std::string(c->dead_reason()), "peer-dead: the server process " + std::to_string(child) + " exited");
  EXPECT_EQ(c->Call(Echo(2, "x"), &r).code(), fb::Errc::kPeerDead);
}

TEST(ChannelHostile, AGarbageWritingClientLosesOnlyItsConnection) {
  std::atomic<int> closed{0};
  ch::ServerOptions o;
  o.on_close = [&](const ch::ConnectionEnd& e) {
    if (std::strstr(e.reason, "protocol error") != nullptr) closed.fetch_add(1);
  };
  Fixture f(o);
  auto good = f.Dial();
  ASSERT_TRUE(good);
  int s = -1;
  ASSERT_TRUE(ch::sock::Connect(f.path, &s).ok());
  std::uint8_t hb[hs::kHelloLength];
  hs::EncodeHello(hs::Hello(), hb);
  ASSERT_TRUE(ch::sock::SendPacket(s, hb, sizeof hb, -1).ok());
  ch::sock::PollIn(s, fb::Deadline::After(5000000000));
  std::uint8_t wb[hs::kWelcomeLength];
  ch::sock::Packet p;
  ASSERT_TRUE(ch::sock::RecvPacket(s, wb, sizeof wb, &p).ok());
  ASSERT_EQ(p.nfds, 1);
  auto seg = fb::Segment::AttachFd(p.fds[0]);
  close(p.fds[0]);
  ASSERT_TRUE(seg.ok());
  auto w = seg->Writer("requests");
  ASSERT_TRUE(w.ok());
  auto cl = w->Claim(16, 64);
  ASSERT_TRUE(cl.ok());
  for (int i = 0; i < 64; ++i) cl->data[i] = static_cast<std::uint8_t>(i * 37 + 1);
  ASSERT_TRUE(w->Commit(64).ok());
  ch::sock::PollIn(s, fb::Deadline::After(5000000000));
  char b1[8];
  EXPECT_EQ(recv(s, b1, sizeof b1, MSG_DONTWAIT), 0) << "the server closed the garbage writer's socket";
  for (int i = 0; i < 5000 && closed.load() == 0; ++i) fb::sys::SleepNanos(1000000);
  EXPECT_EQ(closed.load(), 1);
  EXPECT_EQ(f.srv->counters().protocol_errors, 1u);
  ch::Response r;
  EXPECT_TRUE(good->Call(Echo(1, "still fine"), &r).ok());
  EXPECT_EQ(RawText(r), "still fine");
  close(s);
}

}  // namespace
