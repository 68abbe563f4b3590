// framebridge-peer: the C++ peer program of docs/peers.md (write, read, echo, ping, stream-write,
// stream-read; typed-write, typed-read, typed-echo, typed-ping in peer_typed.cpp / peer_capnp.cpp). The
// driver creates the segment under /dev/shm; the peer attaches by name, prints
// "ready", and on success one final line starting with "ok" (exit 0); a failed check prints
// "FAIL: ..." (exit 1); a usage error exits 2.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "framebridge.hpp"
#include "peer_channel.hpp"
#include "peer_typed.hpp"

namespace fb = framebridge;

namespace {

constexpr std::uint32_t kDataType = 1;
constexpr std::uint32_t kStopType = 2;

[[noreturn]] void Usage(const char* msg) {
  std::fprintf(stderr,
               "framebridge-peer: %s\n"
               "usage: framebridge-peer write|read|echo|ping|stream-write|stream-read|typed-write|typed-read|typed-echo|"
               "typed-ping --segment NAME ... "
               "(see docs/peers.md)\n",
               msg);
  std::exit(2);
}

[[noreturn]] void Fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void Fail(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::printf("FAIL: %s\n", buf);
  std::fflush(stdout);
  std::exit(1);
}

struct Options {
  std::string command, segment, ring, in, out;
  std::uint64_t count = 0, iters = 0, warmup = 0;
  bool has_count = false, has_size = false;
  std::uint64_t size_min = 0, size_max = 0;
  std::uint32_t writer = 0, writers = 1;
  std::int64_t spin_ns = fb::kDefaultSpinNanos;
  std::uint64_t pause_us = 0, seed = 1, release_every = 16;
  std::int64_t hold_at = -1;
  std::string format = "fbs", payload = "model";  // typed-*: --format fbs|capnp, --payload model|minimal
};

std::uint64_t ParseU64(const char* flag, const char* v) {
  if (v == nullptr || *v == 0) Usage((std::string(flag) + " needs a value").c_str());
  char* end = nullptr;
  errno = 0;
  unsigned long long x = std::strtoull(v, &end, 10);
  if (errno != 0 || *end != 0 || v[0] == '-') Usage((std::string("bad number for ") + flag + ": " + v).c_str());
  return x;
}

Options Parse(int argc, char** argv) {
  if (argc < 2) Usage("missing command");
  Options o;
  o.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string f = argv[i];
    std::string val;
    const std::size_t eq = f.find('=');
    const bool inline_val = f.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inline_val) {
      val = f.substr(eq + 1);
      f = f.substr(0, eq);
    } else {
      if (i + 1 >= argc) Usage((f + " needs a value").c_str());
      val = argv[++i];
    }
    const char* v = val.c_str();
    if (f == "--segment") o.segment = val;
    else if (f == "--ring") o.ring = val;
    else if (f == "--in") o.in = val;
    else if (f == "--out") o.out = val;
    else if (f == "--count") { o.count = ParseU64("--count", v); o.has_count = true; }
    else if (f == "--iters") o.iters = ParseU64("--iters", v);
    else if (f == "--warmup") o.warmup = ParseU64("--warmup", v);
    else if (f == "--writer") o.writer = static_cast<std::uint32_t>(ParseU64("--writer", v));
    else if (f == "--writers") o.writers = static_cast<std::uint32_t>(ParseU64("--writers", v));
    else if (f == "--spin-us") o.spin_ns = static_cast<std::int64_t>(ParseU64("--spin-us", v)) * 1000;
    else if (f == "--pause-us") o.pause_us = ParseU64("--pause-us", v);
    else if (f == "--seed") o.seed = ParseU64("--seed", v);
    else if (f == "--release-every") o.release_every = std::max<std::uint64_t>(1, ParseU64("--release-every", v));
    else if (f == "--format") {
      if (val != "fbs" && val != "capnp") Usage("--format must be fbs or capnp");
      o.format = val;
    } else if (f == "--payload") {
      if (val != "model" && val != "minimal") Usage("--payload must be model or minimal");
      o.payload = val;
    }
    else if (f == "--hold-at") o.hold_at = static_cast<std::int64_t>(ParseU64("--hold-at", v));
    else if (f == "--size") {
      const std::size_t c = val.find(':');
      if (c == std::string::npos) {
        o.size_min = o.size_max = ParseU64("--size", v);
      } else {
        o.size_min = ParseU64("--size", val.substr(0, c).c_str());
        o.size_max = ParseU64("--size", val.substr(c + 1).c_str());
      }
      if (o.size_max < o.size_min) Usage("--size MIN:MAX needs MIN <= MAX");
      o.has_size = true;
    } else {
      Usage(("unknown flag " + f).c_str());
    }
  }
  if (o.segment.empty()) Usage("--segment is required");
  return o;
}

// Frame i of writer w (docs/peers.md).
std::uint64_t FrameSize(const Options& o, std::uint64_t i) {
  return o.size_min + (i * 7919) % (o.size_max - o.size_min + 1);
}

void FillFrame(std::uint8_t* p, std::size_t n, std::uint32_t w, std::uint64_t i) {
  std::memcpy(p, &w, 4);
  std::memcpy(p + 4, &i, 8);
  std::uint8_t b = static_cast<std::uint8_t>(i + 7 * 12 + w);
  for (std::size_t k = 12; k < n; ++k) {
    p[k] = b;
    b = static_cast<std::uint8_t>(b + 7);
  }
}

// Returns the first mismatching byte index, or n.
std::size_t CheckBody(const std::uint8_t* p, std::size_t n, std::uint32_t w, std::uint64_t i) {
  std::uint8_t b = static_cast<std::uint8_t>(i + 7 * 12 + w);
  for (std::size_t k = 12; k < n; ++k) {
    if (p[k] != b) return k;
    b = static_cast<std::uint8_t>(b + 7);
  }
  return n;
}

struct Rng {
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL) {}
  std::uint64_t Next() {  // splitmix64
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
};

void MaybePause(const Options& o, Rng& rng) {
  if (o.pause_us == 0) return;
  if (rng.Next() % 64 != 0) return;
  fb::sys::SleepNanos(static_cast<std::int64_t>(rng.Next() % (o.pause_us + 1)) * 1000);
}

fb::Segment AttachSegment(const Options& o) {
  auto seg = fb::Segment::Attach(o.segment);
  if (!seg.ok()) Fail("attach: %s", seg.status().message());
  return std::move(seg.value());
}

fb::Writer OpenWriter(fb::Segment& seg, const std::string& ring, const Options& o) {
  if (ring.empty()) Usage("a ring name is required");
  auto w = seg.Writer(ring);
  if (!w.ok()) Fail("open writer: %s", w.status().message());
  w->set_spin_nanos(o.spin_ns);
  return std::move(w.value());
}

fb::Reader OpenReader(fb::Segment& seg, const std::string& ring, const Options& o) {
  if (ring.empty()) Usage("a ring name is required");
  auto r = seg.Reader(ring);
  if (!r.ok()) Fail("open reader: %s", r.status().message());
  r->set_spin_nanos(o.spin_ns);
  return std::move(r.value());
}

void Ready() {
  std::printf("ready\n");
  std::fflush(stdout);
}

fb::Claimed MustClaim(fb::Writer& w, std::uint32_t type, std::size_t n) {
  fb::Claimed c;
  fb::Status st = w.Claim(type, n, fb::Deadline::Never(), &c);
  if (!st) Fail("claim %zu bytes: %s", n, st.message());
  return c;
}

void MustCommit(fb::Writer& w, std::size_t n) {
  fb::Status st = w.Commit(n);
  if (!st) Fail("commit: %s", st.message());
}

fb::Frame MustNext(fb::Reader& r) {
  fb::Frame f;
  fb::Status st = r.Next(fb::Deadline::Never(), &f);
  if (!st) Fail("next: %s", st.message());
  return f;
}

// Next frame for a batching reader: if none is ready, release what was read before waiting (a writer
// may be waiting for exactly that space). *released tells the caller its batch was released.
fb::Frame NextReleasingWhenIdle(fb::Reader& r, bool* released) {
  fb::Frame f;
  fb::Status st = r.TryNext(&f);
  *released = false;
  if (st.ok()) return f;
  if (st.code() != fb::Errc::kEmpty) Fail("next: %s", st.message());
  r.Release();
  *released = true;
  return MustNext(r);
}

int CmdWrite(const Options& o) {
  if (!o.has_count || !o.has_size) Usage("write needs --ring, --count and --size");
  if (o.size_min < 12) Usage("--size must be >= 12");
  fb::Segment seg = AttachSegment(o);
  fb::Writer w = OpenWriter(seg, o.ring, o);
  if (o.size_max > w.max_payload()) Fail("--size %" PRIu64 " exceeds the ring's max payload %zu", o.size_max, w.max_payload());
  Ready();
  Rng rng(o.seed ^ (static_cast<std::uint64_t>(o.writer) << 32));
  for (std::uint64_t i = 0; i < o.count; ++i) {
    const std::size_t n = static_cast<std::size_t>(FrameSize(o, i));
    fb::Claimed c = MustClaim(w, kDataType, n);
    if (o.hold_at >= 0 && i == static_cast<std::uint64_t>(o.hold_at)) {
      FillFrame(c.data, n / 2 < 12 ? 12 : n / 2, o.writer, i);
      std::printf("holding %" PRIu64 "\n", i);
      std::fflush(stdout);
      for (;;) pause();
    }
    FillFrame(c.data, n, o.writer, i);
    MustCommit(w, n);
    MaybePause(o, rng);
  }
  std::printf("ok frames=%" PRIu64 "\n", o.count);
  return 0;
}

int CmdRead(const Options& o) {
  if (!o.has_count) Usage("read needs --ring, --count and --writers");
  if (o.writers == 0) Usage("--writers must be >= 1");
  fb::Segment seg = AttachSegment(o);
  fb::Reader r = OpenReader(seg, o.ring, o);
  Ready();
  Rng rng(o.seed);
  std::vector<std::uint64_t> next(o.writers, 0);
  std::uint64_t bytes = 0;
  std::uint64_t since_release = 0;
  const std::uint64_t release_bytes = r.capacity() / 4;
  std::uint64_t pending_bytes = 0;
  for (std::uint64_t n = 0; n < o.count; ++n) {
    bool released = false;
    fb::Frame f = NextReleasingWhenIdle(r, &released);
    if (released) since_release = pending_bytes = 0;
    if (f.type != kDataType) Fail("frame %" PRIu64 ": type %u, want %u", n, f.type, kDataType);
    if (f.size < 12) Fail("frame %" PRIu64 ": %zu bytes, want >= 12", n, f.size);
    std::uint32_t w;
    std::uint64_t i;
    std::memcpy(&w, f.data, 4);
    std::memcpy(&i, f.data + 4, 8);
    if (w >= o.writers) Fail("frame %" PRIu64 ": writer %u, want < %u", n, w, o.writers);
    if (i != next[w]) Fail("writer %u: frame index %" PRIu64 ", want %" PRIu64, w, i, next[w]);
    if (o.has_size && f.size != FrameSize(o, i)) {
      Fail("writer %u frame %" PRIu64 ": %zu bytes, want %" PRIu64, w, i, f.size, FrameSize(o, i));
    }
    const std::size_t bad = CheckBody(f.data, f.size, w, i);
    if (bad != f.size) Fail("writer %u frame %" PRIu64 ": byte %zu = %u is wrong", w, i, bad, f.data[bad]);
    ++next[w];
    bytes += f.size;
    pending_bytes += f.size + fb::layout::kRecordHeaderLength;
    // Release every B frames, and at least every quarter ring.
    if (++since_release >= o.release_every || pending_bytes >= release_bytes) {
      r.Release();
      since_release = pending_bytes = 0;
    }
    MaybePause(o, rng);
  }
  r.Release();
  std::printf("ok frames=%" PRIu64 " bytes=%" PRIu64 " abandoned=%" PRIu64 "\n", o.count, bytes,
              r.counters().abandoned_records);
  return 0;
}

int CmdEcho(const Options& o) {
  fb::Segment seg = AttachSegment(o);
  fb::Reader in = OpenReader(seg, o.in, o);
  fb::Writer out = OpenWriter(seg, o.out, o);
  Ready();
  std::uint64_t frames = 0;
  for (;;) {
    fb::Frame f = MustNext(in);
    fb::Claimed c = MustClaim(out, f.type, f.size);
    std::memcpy(c.data, f.data, f.size);
    MustCommit(out, f.size);
    in.Release();
    ++frames;
    if (f.type == kStopType) break;
  }
  std::printf("ok frames=%" PRIu64 "\n", frames);
  return 0;
}

int CmdPing(const Options& o) {
  if (!o.has_size || o.iters == 0) Usage("ping needs --out, --in, --size and --iters");
  if (o.size_min < 12) Usage("--size must be >= 12");
  fb::Segment seg = AttachSegment(o);
  fb::Writer out = OpenWriter(seg, o.out, o);
  fb::Reader in = OpenReader(seg, o.in, o);
  Ready();
  const std::size_t s = static_cast<std::size_t>(o.size_min);
  std::vector<std::int64_t> rtt;
  rtt.reserve(o.iters);
  const std::uint64_t total = o.warmup + o.iters;
  for (std::uint64_t i = 0; i < total; ++i) {
    const std::int64_t t0 = fb::sys::MonotonicNanos();
    fb::Claimed c = MustClaim(out, kDataType, s);
    const std::uint32_t w = 0;
    std::memcpy(c.data, &w, 4);
    std::memcpy(c.data + 4, &i, 8);
    MustCommit(out, s);
    fb::Frame f = MustNext(in);
    const std::int64_t t1 = fb::sys::MonotonicNanos();  // Release (zeroing) is off the timed path
    std::uint32_t fw;
    std::uint64_t fi;
    if (f.size != s || f.type != kDataType) Fail("echo %" PRIu64 ": %zu bytes of type %u", i, f.size, f.type);
    std::memcpy(&fw, f.data, 4);
    std::memcpy(&fi, f.data + 4, 8);
    if (fw != 0 || fi != i) Fail("echo %" PRIu64 ": got writer %u index %" PRIu64, i, fw, fi);
    in.Release();
    if (i >= o.warmup) rtt.push_back(t1 - t0);
  }
  fb::Claimed c = MustClaim(out, kStopType, s);
  std::memset(c.data, 0, s);
  MustCommit(out, s);
  fb::Frame f = MustNext(in);
  if (f.type != kStopType) Fail("stop echo: type %u", f.type);
  in.Release();
  std::sort(rtt.begin(), rtt.end());
  const std::int64_t p50 = rtt[rtt.size() / 2];
  const std::int64_t p99 = rtt[std::min(rtt.size() - 1, rtt.size() * 99 / 100)];
  std::printf("ok p50_ns=%" PRId64 " p99_ns=%" PRId64 " iters=%" PRIu64 "\n", p50, p99, o.iters);
  return 0;
}

int CmdStreamWrite(const Options& o) {
  if (!o.has_size || !o.has_count) Usage("stream-write needs --ring, --size and --count");
  if (o.size_min < 16) Usage("--size must be >= 16");
  fb::Segment seg = AttachSegment(o);
  fb::Writer w = OpenWriter(seg, o.ring, o);
  Ready();
  const std::uint64_t s = o.size_min;
  for (std::uint64_t i = 0; i < o.count; ++i) {
    fb::Claimed c = MustClaim(w, kDataType, static_cast<std::size_t>(s));
    std::memcpy(c.data, &i, 8);
    std::memcpy(c.data + 8, &s, 8);
    MustCommit(w, static_cast<std::size_t>(s));
  }
  fb::Claimed c = MustClaim(w, kStopType, 16);
  std::memcpy(c.data, &o.count, 8);
  std::memcpy(c.data + 8, &s, 8);
  MustCommit(w, 16);
  std::printf("ok frames=%" PRIu64 "\n", o.count);
  return 0;
}

int CmdStreamRead(const Options& o) {
  fb::Segment seg = AttachSegment(o);
  fb::Reader r = OpenReader(seg, o.ring, o);
  Ready();
  std::uint64_t frames = 0, bytes = 0, since = 0, pending_bytes = 0;
  const std::uint64_t release_bytes = r.capacity() / 4;
  std::int64_t t0 = 0;
  for (;;) {
    bool released = false;
    fb::Frame f = NextReleasingWhenIdle(r, &released);
    if (released) since = pending_bytes = 0;
    if (t0 == 0) t0 = fb::sys::MonotonicNanos();
    if (f.type == kStopType) break;
    if (f.size < 16) Fail("frame %" PRIu64 ": %zu bytes, want >= 16", frames, f.size);
    std::uint64_t idx;
    std::memcpy(&idx, f.data, 8);
    if (idx != frames) Fail("frame index %" PRIu64 ", want %" PRIu64, idx, frames);
    ++frames;
    bytes += f.size;
    pending_bytes += f.size + fb::layout::kRecordHeaderLength;
    if (++since >= 256 || pending_bytes >= release_bytes) {
      r.Release();
      since = pending_bytes = 0;
    }
  }
  r.Release();
  const std::int64_t ns = fb::sys::MonotonicNanos() - t0;
  std::printf("ok frames=%" PRIu64 " bytes=%" PRIu64 " ns=%" PRId64 "\n", frames, bytes, ns);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc >= 2 && frbpeer::IsChannelCommand(argv[1])) return frbpeer::Channel(argc, argv);
  Options o = Parse(argc, argv);
  if (o.command == "write") return CmdWrite(o);
  if (o.command == "read") return CmdRead(o);
  if (o.command == "echo") return CmdEcho(o);
  if (o.command == "ping") return CmdPing(o);
  if (o.command == "stream-write") return CmdStreamWrite(o);
  if (o.command == "stream-read") return CmdStreamRead(o);
  if (o.command.rfind("typed-", 0) == 0) {
    frbpeer::TypedArgs a;
    a.command = o.command, a.segment = o.segment, a.ring = o.ring, a.in = o.in, a.out = o.out;
    a.count = o.count, a.has_count = o.has_count, a.iters = o.iters, a.warmup = o.warmup;
    a.writer = o.writer, a.writers = o.writers, a.spin_ns = o.spin_ns;
    a.capnp = o.format == "capnp";
    a.minimal = o.payload == "minimal";
    return a.capnp ? frbpeer::TypedCapnp(a) : frbpeer::TypedFbs(a);
  }
  Usage(("unknown command " + o.command).c_str());
}
