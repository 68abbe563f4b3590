// Real processes through framebridge-peer (docs/peers.md): C++ writer(s) -> C++ reader, SPSC and MPSC
// with 4 writer processes, blocking mode with random pauses, SIGKILL of a writer mid-claim, echo/ping,
// stream. FRB_PEER is the peer binary; FRB_PEER_FRAMES the total frame budget of the big runs.
#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "helpers.hpp"

namespace fb = framebridge;

namespace {

struct Proc {
  pid_t pid = -1;
  int out = -1;
  std::string output;
};

Proc Spawn(const std::vector<std::string>& args) {
  const char* peer = std::getenv("FRB_PEER");
  Proc p;
  int fds[2];
  if (peer == nullptr || pipe(fds) != 0) return p;
  p.pid = fork();
  if (p.pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(peer));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(peer, argv.data());
    _exit(127);
  }
  close(fds[1]);
  p.out = fds[0];
  return p;
}

// Read output until a line starting with prefix has arrived (or EOF). Returns that line.
std::string WaitLine(Proc& p, const std::string& prefix) {
  for (;;) {
    std::size_t start = 0;
    while (true) {
      std::size_t nl = p.output.find('\n', start);
      if (nl == std::string::npos) break;
      std::string line = p.output.substr(start, nl - start);
      if (line.rfind(prefix, 0) == 0) return line;
      start = nl + 1;
    }
    char buf[4096];
    ssize_t n = read(p.out, buf, sizeof buf);
    if (n <= 0) return "";
    p.output.append(buf, static_cast<std::size_t>(n));
  }
}

int Wait(Proc& p) {
  char buf[4096];
  ssize_t n;
  while ((n = read(p.out, buf, sizeof buf)) > 0) p.output.append(buf, static_cast<std::size_t>(n));
  close(p.out);
  int status = 0;
  waitpid(p.pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::uint64_t Budget() {
  const char* s = std::getenv("FRB_PEER_FRAMES");
  return s == nullptr ? 200000 : std::strtoull(s, nullptr, 10);
}

class PeerProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("FRB_PEER") == nullptr) GTEST_SKIP() << "FRB_PEER (the framebridge-peer binary) is not set";
    static int n = 0;
    name_ = "frb-peer-" + std::to_string(getpid()) + "-" + std::to_string(++n);
  }
  void TearDown() override { unlink(("/dev/shm/" + name_).c_str()); }
  void Create(fb::RegionKind kind, std::uint64_t cap, const char* ring = "r") {
    fb::Spec spec;
    spec.rings.push_back({ring, kind, cap});
    auto s = fb::Segment::Create(name_, spec);
    ASSERT_TRUE(s.ok()) << s.status().message();
    seg_ = std::move(s.value());
  }
  void CreateSpec(const fb::Spec& spec) {
    auto s = fb::Segment::Create(name_, spec);
    ASSERT_TRUE(s.ok()) << s.status().message();
    seg_ = std::move(s.value());
  }
  std::string name_;
  fb::Segment seg_;
};

std::string Str(std::uint64_t v) { return std::to_string(v); }

TEST_F(PeerProcess, SPSCWriterToReader) {
  Create(fb::RegionKind::kSPSC, 1 << 20);
  const std::uint64_t n = Budget() / 2;
  Proc r = Spawn({"read", "--segment", name_, "--ring", "r", "--count", Str(n), "--writers", "1", "--size", "12:200"});
  Proc w = Spawn({"write", "--segment", name_, "--ring", "r", "--count", Str(n), "--size", "12:200"});
  EXPECT_EQ(Wait(w), 0) << w.output;
  EXPECT_EQ(Wait(r), 0) << r.output;
  EXPECT_NE(r.output.find("ready\n"), std::string::npos);
  EXPECT_NE(r.output.find("ok frames=" + Str(n) + " bytes="), std::string::npos) << r.output;
  EXPECT_NE(w.output.find("ok frames=" + Str(n) + "\n"), std::string::npos) << w.output;
}

TEST_F(PeerProcess, MPSCFourWriterProcessesToReader) {
  Create(fb::RegionKind::kMPSC, 1 << 20);
  const std::uint64_t per = Budget() / 2 / 4;
  Proc r = Spawn({"read", "--segment", name_, "--ring", "r", "--count", Str(per * 4), "--writers", "4"});
  std::vector<Proc> ws;
  for (int i = 0; i < 4; ++i) {
    ws.push_back(Spawn({"write", "--segment", name_, "--ring", "r", "--count", Str(per), "--size", "12:120",
                        "--writer", Str(static_cast<std::uint64_t>(i))}));
  }
  for (Proc& w : ws) {
    EXPECT_EQ(Wait(w), 0) << w.output;
  }
  EXPECT_EQ(Wait(r), 0) << r.output;
  EXPECT_NE(r.output.find("ok frames=" + Str(per * 4) + " "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("abandoned=0"), std::string::npos) << r.output;
}

TEST_F(PeerProcess, BlockingModeWithRandomPauses) {
  Create(fb::RegionKind::kMPSC, 8192);
  const std::uint64_t per = 5000;
  Proc r = Spawn({"read", "--segment", name_, "--ring", "r", "--count", Str(per * 2), "--writers", "2", "--spin-us",
                  "0", "--pause-us", "300", "--seed", "3", "--release-every", "5"});
  Proc w0 = Spawn({"write", "--segment", name_, "--ring", "r", "--count", Str(per), "--size", "12:900", "--writer", "0",
                   "--spin-us", "0", "--pause-us", "300", "--seed", "1"});
  Proc w1 = Spawn({"write", "--segment", name_, "--ring", "r", "--count", Str(per), "--size", "12:900", "--writer", "1",
                   "--spin-us", "0", "--pause-us", "300", "--seed", "2"});
  EXPECT_EQ(Wait(w0), 0) << w0.output;
  EXPECT_EQ(Wait(w1), 0) << w1.output;
  EXPECT_EQ(Wait(r), 0) << r.output;
  EXPECT_NE(r.output.find("ok frames=" + Str(per * 2)), std::string::npos) << r.output;
  fb::RingCounters c = fb::LoadRingCounters(seg_.base() + seg_.region(0).offset);
  EXPECT_GT(c.reader_waits + c.writer_waits, 0u);  // somebody slept on a futex
}

TEST_F(PeerProcess, SmallRingWithFramesLargerThanABatchSleepingSides) {
  // 16 frames of up to 2000 bytes exceed the 16 KiB ring: the reader must release before it sleeps.
  Create(fb::RegionKind::kSPSC, 16 << 10);
  const std::uint64_t n = 5000;
  Proc r = Spawn({"read", "--segment", name_, "--ring", "r", "--count", Str(n), "--writers", "1", "--spin-us", "0",
                  "--pause-us", "300", "--seed", "7"});
  Proc w = Spawn({"write", "--segment", name_, "--ring", "r", "--count", Str(n), "--size", "12:2000", "--spin-us", "0",
                  "--pause-us", "300", "--seed", "9"});
  EXPECT_EQ(Wait(w), 0) << w.output;
  EXPECT_EQ(Wait(r), 0) << r.output;
  EXPECT_NE(r.output.find("ok frames=" + Str(n)), std::string::npos) << r.output;
}

TEST_F(PeerProcess, SigkillOfAWriterMidClaimIsRecovered) {
  Create(fb::RegionKind::kMPSC, 65536);
  const std::uint64_t k = 1000, other = 3000;
  Proc r = Spawn({"read", "--segment", name_, "--ring", "r", "--count", Str(k + other), "--writers", "2"});
  Proc victim = Spawn({"write", "--segment", name_, "--ring", "r", "--count", "5000", "--size", "12:64", "--writer", "0",
                       "--hold-at", Str(k)});
  EXPECT_EQ(WaitLine(victim, "holding"), "holding " + Str(k));
  Proc w1 = Spawn({"write", "--segment", name_, "--ring", "r", "--count", Str(other), "--size", "12:64", "--writer", "1"});
  kill(victim.pid, SIGKILL);
  EXPECT_EQ(Wait(victim), 128 + SIGKILL);
  EXPECT_EQ(Wait(w1), 0) << w1.output;
  EXPECT_EQ(Wait(r), 0) << r.output;
  EXPECT_NE(r.output.find("ok frames=" + Str(k + other) + " "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("abandoned=1"), std::string::npos) << r.output;
}

TEST_F(PeerProcess, PingEcho) {
  fb::Spec spec;
  spec.rings.push_back({"req", fb::RegionKind::kSPSC, 65536});
  spec.rings.push_back({"resp", fb::RegionKind::kSPSC, 65536});
  CreateSpec(spec);
  Proc e = Spawn({"echo", "--segment", name_, "--in", "req", "--out", "resp"});
  Proc p = Spawn({"ping", "--segment", name_, "--out", "req", "--in", "resp", "--size", "64", "--iters", "2000",
                  "--warmup", "100"});
  EXPECT_EQ(Wait(p), 0) << p.output;
  EXPECT_EQ(Wait(e), 0) << e.output;
  EXPECT_NE(p.output.find("ok p50_ns="), std::string::npos) << p.output;
  EXPECT_NE(p.output.find(" iters=2000"), std::string::npos) << p.output;
  EXPECT_NE(e.output.find("ok frames=2101"), std::string::npos) << e.output;
}

TEST_F(PeerProcess, StreamOfLargeFrames) {
  Create(fb::RegionKind::kSPSC, 1 << 20);
  Proc r = Spawn({"stream-read", "--segment", name_, "--ring", "r"});
  Proc w = Spawn({"stream-write", "--segment", name_, "--ring", "r", "--size", "65536", "--count", "2000"});
  EXPECT_EQ(Wait(w), 0) << w.output;
  EXPECT_EQ(Wait(r), 0) << r.output;
  EXPECT_NE(r.output.find("ok frames=2000 bytes=131072000 ns="), std::string::npos) << r.output;
}

TEST_F(PeerProcess, Stream) {
  Create(fb::RegionKind::kSPSC, 1 << 20);
  Proc r = Spawn({"stream-read", "--segment", name_, "--ring", "r"});
  Proc w = Spawn({"stream-write", "--segment", name_, "--ring", "r", "--size", "1024", "--count", "20000"});
  EXPECT_EQ(Wait(w), 0) << w.output;
  EXPECT_EQ(Wait(r), 0) << r.output;
  EXPECT_NE(r.output.find("ok frames=20000 bytes=20480000 ns="), std::string::npos) << r.output;
}

TEST_F(PeerProcess, UsageErrorsExit2AndFailedChecksExit1) {
  Proc u = Spawn({"write", "--segment", "x"});
  EXPECT_EQ(Wait(u), 2);
  Proc v = Spawn({"bogus", "--segment", "x"});
  EXPECT_EQ(Wait(v), 2);
  Proc a = Spawn({"read", "--segment", "frb-missing-" + name_, "--ring", "r", "--count", "1", "--writers", "1"});
  EXPECT_EQ(Wait(a), 1);
  EXPECT_NE(a.output.find("FAIL: "), std::string::npos) << a.output;
}

// Typed frames (docs/peers.md, "Typed frames") between real processes, FlatBuffers and Cap'n Proto:
// typed-write -> typed-read with field-by-field checks (SPSC; MPSC with 3 writer processes), and
// typed-ping against typed-echo with both payloads.
class TypedPeerProcess : public PeerProcess, public ::testing::WithParamInterface<const char*> {};

INSTANTIATE_TEST_SUITE_P(Formats, TypedPeerProcess, ::testing::Values("fbs", "capnp"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

TEST_P(TypedPeerProcess, WriteToRead) {
  Create(fb::RegionKind::kSPSC, 1 << 16);
  const std::string n = "20000";
  Proc r = Spawn({"typed-read", "--segment", name_, "--ring", "r", "--count", n, "--format", GetParam()});
  Proc w = Spawn({"typed-write", "--segment", name_, "--ring", "r", "--count", n, "--format", GetParam()});
  EXPECT_EQ(Wait(w), 0) << w.output;
  EXPECT_EQ(Wait(r), 0) << r.output;
  EXPECT_NE(r.output.find("ok frames=" + n + "\n"), std::string::npos) << r.output;
  EXPECT_NE(w.output.find("ok frames=" + n + "\n"), std::string::npos) << w.output;
}

TEST_P(TypedPeerProcess, ThreeWritersMPSC) {
  Create(fb::RegionKind::kMPSC, 1 << 16);
  Proc r = Spawn({"typed-read", "--segment", name_, "--ring", "r", "--count", "15000", "--writers", "3", "--format",
                  GetParam()});
  std::vector<Proc> ws;
  for (int k = 0; k < 3; ++k) {
    ws.push_back(Spawn({"typed-write", "--segment", name_, "--ring", "r", "--count", "5000", "--writer", Str(k),
                        "--format", GetParam()}));
  }
  for (Proc& w : ws) EXPECT_EQ(Wait(w), 0) << w.output;
  EXPECT_EQ(Wait(r), 0) << r.output;
  EXPECT_NE(r.output.find("ok frames=15000\n"), std::string::npos) << r.output;
}

TEST_P(TypedPeerProcess, PingEcho) {
  fb::Spec spec;
  spec.rings.push_back({"req", fb::RegionKind::kSPSC, 1 << 16});
  spec.rings.push_back({"resp", fb::RegionKind::kSPSC, 1 << 16});
  CreateSpec(spec);
  for (const char* payload : {"model", "minimal"}) {
    Proc e = Spawn({"typed-echo", "--segment", name_, "--in", "req", "--out", "resp", "--format", GetParam()});
    Proc p = Spawn({"typed-ping", "--segment", name_, "--out", "req", "--in", "resp", "--iters", "2000", "--warmup",
                    "100", "--payload", payload, "--format", GetParam()});
    EXPECT_EQ(Wait(p), 0) << p.output;
    EXPECT_EQ(Wait(e), 0) << e.output;
    EXPECT_NE(p.output.find("ok p50_ns="), std::string::npos) << p.output;
    EXPECT_NE(p.output.find(" iters=2000 bytes="), std::string::npos) << p.output;
    EXPECT_NE(e.output.find("ok frames=2101\n"), std::string::npos) << e.output;
  }
}

}  // namespace
