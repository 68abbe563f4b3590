// The peer's typed-frame commands (docs/peers.md, "Typed frames"): typed-write, typed-read, typed-echo,
// typed-ping for --format fbs (peer_typed.cpp, no exceptions) and capnp (peer_capnp.cpp, built with
// exceptions because Cap'n Proto throws). The loops are templates over a codec, shared by both.
#ifndef FRAMEBRIDGE_SRC_PEER_TYPED_HPP
#define FRAMEBRIDGE_SRC_PEER_TYPED_HPP

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "framebridge.hpp"

namespace frbpeer {

namespace fb = framebridge;

struct TypedArgs {
  std::string command, segment, ring, in, out;
  std::uint64_t count = 0, iters = 0, warmup = 0;
  bool has_count = false;
  std::uint32_t writer = 0, writers = 1;
  std::int64_t spin_ns = fb::kDefaultSpinNanos;
  bool capnp = false;        // --format capnp
  bool minimal = false;      // --payload minimal
};

int TypedFbs(const TypedArgs& a);    // peer_typed.cpp
int TypedCapnp(const TypedArgs& a);  // peer_capnp.cpp

constexpr std::uint32_t kStopType = 2;

[[noreturn]] inline void TUsage(const char* msg) {
  std::fprintf(stderr, "framebridge-peer: %s (see docs/peers.md, \"Typed frames\")\n", msg);
  std::exit(2);
}

[[noreturn]] inline void TFail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline void TFail(const char* fmt, ...) {
  char buf[768];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::printf("FAIL: %s\n", buf);
  std::fflush(stdout);
  std::exit(1);
}

inline void TReady() {
  std::printf("ready\n");
  std::fflush(stdout);
}

inline fb::Segment TAttach(const TypedArgs& a) {
  auto seg = fb::Segment::Attach(a.segment);
  if (!seg.ok()) TFail("attach: %s", seg.status().message());
  return std::move(seg.value());
}

inline fb::Writer TWriter(fb::Segment& seg, const std::string& ring, const TypedArgs& a) {
  if (ring.empty()) TUsage("a ring name is required");
  auto w = seg.Writer(ring);
  if (!w.ok()) TFail("open writer: %s", w.status().message());
  w->set_spin_nanos(a.spin_ns);
  return std::move(w.value());
}

inline fb::Reader TReader(fb::Segment& seg, const std::string& ring, const TypedArgs& a) {
  if (ring.empty()) TUsage("a ring name is required");
  auto r = seg.Reader(ring);
  if (!r.ok()) TFail("open reader: %s", r.status().message());
  r->set_spin_nanos(a.spin_ns);
  return std::move(r.value());
}

inline fb::Frame TNext(fb::Reader& r) {
  fb::Frame f;
  fb::Status st = r.Next(fb::Deadline::Never(), &f);
  if (!st) TFail("next: %s", st.message());
  return f;
}

inline void TStop(fb::Writer& w) {
  fb::Claimed c;
  fb::Status st = w.Claim(kStopType, 16, fb::Deadline::Never(), &c);
  if (!st) TFail("claim stop frame: %s", st.message());
  std::memset(c.data, 0, 16);
  st = w.Commit(16);
  if (!st) TFail("commit stop frame: %s", st.message());
}

// Codec: a class with
//   Codec(fb::Writer* w)                                       (w may be null for a reader)
//   static constexpr std::uint32_t kType
//   fb::Status BuildTest(std::uint32_t w, std::uint64_t i)     envelope i of writer w
//   fb::Status Open(const fb::Frame& f, std::uint64_t* correlation)  verify; the envelope stays open
//   bool CheckTest(std::uint32_t w, std::uint64_t i, char* why, std::size_t cap)  the open envelope
//   fb::Status BuildResponse()                                 typed-echo's response to the open envelope
//   fb::Status BuildRequest(std::uint64_t i, bool minimal, std::size_t* n)
//   bool CheckResponse(std::uint64_t i, bool minimal, char* why, std::size_t cap)  the open envelope
template <class Codec>
int TypedWrite(const TypedArgs& a) {
  if (!a.has_count) TUsage("typed-write needs --ring and --count");
  fb::Segment seg = TAttach(a);
  fb::Writer w = TWriter(seg, a.ring, a);
  Codec c(&w);
  TReady();
  for (std::uint64_t i = 0; i < a.count; ++i) {
    fb::Status st = c.BuildTest(a.writer, i);
    if (!st) TFail("build envelope %" PRIu64 ": %s", i, st.message());
  }
  std::printf("ok frames=%" PRIu64 "\n", a.count);
  return 0;
}

template <class Codec>
int TypedRead(const TypedArgs& a) {
  if (!a.has_count) TUsage("typed-read needs --ring and --count");
  if (a.writers == 0) TUsage("--writers must be >= 1");
  fb::Segment seg = TAttach(a);
  fb::Reader r = TReader(seg, a.ring, a);
  Codec c(nullptr);
  TReady();
  std::vector<std::uint64_t> next(a.writers, 0);
  std::uint64_t since_release = 0;
  char why[512];
  for (std::uint64_t n = 0; n < a.count; ++n) {
    fb::Frame f;
    fb::Status st = r.TryNext(&f);
    if (!st) {
      if (st.code() != fb::Errc::kEmpty) TFail("next: %s", st.message());
      r.Release();  // a writer may wait for exactly that space
      since_release = 0;
      f = TNext(r);
    }
    if (f.type != Codec::kType) TFail("frame %" PRIu64 ": type %u, want %u", n, f.type, Codec::kType);
    std::uint64_t corr = 0;
    st = c.Open(f, &corr);
    if (!st) TFail("frame %" PRIu64 ": %s", n, st.message());
    const std::uint32_t w = static_cast<std::uint32_t>(corr >> 32);
    if (w >= a.writers) TFail("frame %" PRIu64 ": correlation_id %#" PRIx64 " names writer %u, want < %u", n, corr, w, a.writers);
    if (!c.CheckTest(w, next[w], why, sizeof why)) TFail("%s", why);
    ++next[w];
    if (++since_release >= 16) {
      r.Release();
      since_release = 0;
    }
  }
  r.Release();
  std::printf("ok frames=%" PRIu64 "\n", a.count);
  return 0;
}

template <class Codec>
int TypedEcho(const TypedArgs& a) {
  fb::Segment seg = TAttach(a);
  fb::Reader in = TReader(seg, a.in, a);
  fb::Writer out = TWriter(seg, a.out, a);
  Codec c(&out);
  TReady();
  std::uint64_t frames = 0;
  for (;;) {
    fb::Frame f = TNext(in);
    ++frames;
    if (f.type == kStopType) {
      fb::Claimed cl;
      fb::Status st = out.Claim(f.type, f.size, fb::Deadline::Never(), &cl);
      if (!st) TFail("claim: %s", st.message());
      if (f.size > 0) std::memcpy(cl.data, f.data, f.size);
      st = out.Commit(f.size);
      if (!st) TFail("commit: %s", st.message());
      in.Release();
      break;
    }
    if (f.type != Codec::kType) TFail("frame %" PRIu64 ": type %u, want %u", frames - 1, f.type, Codec::kType);
    std::uint64_t corr = 0;
    fb::Status st = c.Open(f, &corr);
    if (!st) TFail("frame %" PRIu64 ": %s", frames - 1, st.message());
    st = c.BuildResponse();
    if (!st) TFail("build response: %s", st.message());
    in.Release();
  }
  std::printf("ok frames=%" PRIu64 "\n", frames);
  return 0;
}

template <class Codec>
int TypedPing(const TypedArgs& a) {
  if (a.iters == 0) TUsage("typed-ping needs --out, --in and --iters");
  fb::Segment seg = TAttach(a);
  fb::Writer out = TWriter(seg, a.out, a);
  fb::Reader in = TReader(seg, a.in, a);
  Codec c(&out);
  TReady();
  std::vector<std::int64_t> rtt;
  rtt.reserve(a.iters);
  const std::uint64_t total = a.warmup + a.iters;
  std::size_t bytes = 0;
  char why[512];
  for (std::uint64_t i = 0; i < total; ++i) {
    const std::int64_t t0 = fb::sys::MonotonicNanos();
    fb::Status st = c.BuildRequest(i, a.minimal, &bytes);
    if (!st) TFail("build request %" PRIu64 ": %s", i, st.message());
    fb::Frame f = TNext(in);
    if (f.type != Codec::kType) TFail("response %" PRIu64 ": type %u, want %u", i, f.type, Codec::kType);
    std::uint64_t corr = 0;
    st = c.Open(f, &corr);
    if (!st) TFail("response %" PRIu64 ": %s", i, st.message());
    const bool ok = c.CheckResponse(i, a.minimal, why, sizeof why);
    const std::int64_t t1 = fb::sys::MonotonicNanos();  // Release (zeroing) is off the timed path
    if (!ok) TFail("response %" PRIu64 ": %s", i, why);
    in.Release();
    if (i >= a.warmup) rtt.push_back(t1 - t0);
  }
  TStop(out);
  fb::Frame f = TNext(in);
  if (f.type != kStopType) TFail("stop echo: type %u", f.type);
  in.Release();
  std::sort(rtt.begin(), rtt.end());
  const std::int64_t p50 = rtt[rtt.size() / 2];
  const std::int64_t p99 = rtt[std::min(rtt.size() - 1, rtt.size() * 99 / 100)];
  std::printf("ok p50_ns=%" PRId64 " p99_ns=%" PRId64 " iters=%" PRIu64 " bytes=%zu\n", p50, p99, a.iters, bytes);
  return 0;
}

template <class Codec>
int TypedDispatch(const TypedArgs& a) {
  if (a.command == "typed-write") return TypedWrite<Codec>(a);
  if (a.command == "typed-read") return TypedRead<Codec>(a);
  if (a.command == "typed-echo") return TypedEcho<Codec>(a);
  if (a.command == "typed-ping") return TypedPing<Codec>(a);
  TUsage(("unknown command " + a.command).c_str());
}

}  // namespace frbpeer

#endif  // FRAMEBRIDGE_SRC_PEER_TYPED_HPP
