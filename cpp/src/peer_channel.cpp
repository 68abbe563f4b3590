// framebridge-peer channel commands (docs/peers.md "Channels") and the test service of
// docs/channels.md §9. Built with exceptions: the service's "panic;" throws, and the server turns it
// into status 13.
#include "peer_channel.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "framebridge/channel.hpp"

namespace fb = framebridge;
namespace ch = framebridge::channel;
namespace fr = framebridge::frames;

namespace frbpeer {
namespace {

std::mutex g_out;

void Say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void Say(const char* fmt, ...) {
  std::lock_guard<std::mutex> g(g_out);
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::fflush(stdout);
}

[[noreturn]] void Usage(const std::string& msg) {
  std::fprintf(stderr,
               "framebridge-peer: %s\nusage: framebridge-peer serve|call|call-script|call-ping|call-torture --socket PATH "
               "... (see docs/peers.md, Channels)\n",
               msg.c_str());
  std::exit(2);
}

[[noreturn]] void Fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void Fail(const char* fmt, ...) {
  char buf[600];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  Say("FAIL: %s\n", buf);
  std::exit(1);
}

struct Opts {
  std::string command, socket;
  unsigned workers = 0, mode = 0600;
  std::vector<std::uint32_t> allow_uids;
  std::int64_t spin_ns = fb::kDefaultSpinNanos;
  std::uint64_t count = 0, inflight = 0, size = 64, deadline_ms = 10000, iters = 0, warmup = 0, redial_ms = 10000;
};

std::uint64_t Num(const std::string& f, const std::string& v, int base = 10) {
  char* end = nullptr;
  errno = 0;
  unsigned long long x = std::strtoull(v.c_str(), &end, base);
  if (v.empty() || errno != 0 || *end != 0 || v[0] == '-') Usage("bad number for " + f + ": " + v);
  return x;
}

Opts Parse(int argc, char** argv) {
  Opts o;
  o.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string f = argv[i], v;
    const std::size_t eq = f.find('=');
    if (f.rfind("--", 0) == 0 && eq != std::string::npos) {
      v = f.substr(eq + 1), f = f.substr(0, eq);
    } else {
      if (i + 1 >= argc) Usage(f + " needs a value");
      v = argv[++i];
    }
    if (f == "--socket") o.socket = v;
    else if (f == "--workers") o.workers = static_cast<unsigned>(Num(f, v));
    else if (f == "--socket-mode") o.mode = static_cast<unsigned>(Num(f, v, 8));
    else if (f == "--allow-uid") {
      std::size_t p = 0;
      while (p <= v.size()) {
        std::size_t q = v.find(',', p);
        if (q == std::string::npos) q = v.size();
        o.allow_uids.push_back(static_cast<std::uint32_t>(Num(f, v.substr(p, q - p))));
        p = q + 1;
      }
    } else if (f == "--spin-us") o.spin_ns = static_cast<std::int64_t>(Num(f, v)) * 1000;
    else if (f == "--count") o.count = Num(f, v);
    else if (f == "--inflight") o.inflight = Num(f, v);
    else if (f == "--size") o.size = Num(f, v);
    else if (f == "--deadline-ms") o.deadline_ms = Num(f, v);
    else if (f == "--iters") o.iters = Num(f, v);
    else if (f == "--warmup") o.warmup = Num(f, v);
    else if (f == "--redial-ms") o.redial_ms = Num(f, v);
    else Usage("unknown flag " + f);
  }
  if (o.socket.empty()) Usage("--socket is required");
  if (o.size < 8) Usage("--size must be at least 8");
  return o;
}

// ---- The test service (docs/channels.md §9). ----

bool StartsWith(const std::uint8_t* d, std::size_t n, const char* p) {
  const std::size_t k = std::strlen(p);
  return n >= k && std::memcmp(d, p, k) == 0;
}

// The number between `prefix` and ';', or -1.
long long Arg(const std::uint8_t* d, std::size_t n, std::size_t from) {
  long long v = 0;
  std::size_t i = from;
  for (; i < n && d[i] >= '0' && d[i] <= '9' && i < from + 12; ++i) v = v * 10 + (d[i] - '0');
  return i > from && i < n && d[i] == ';' ? v : -1;
}

void Service(const ch::Request& rq, ch::Responder& r) {
  const fr::Envelope* e = rq.envelope;
  switch (e->payload_type()) {
    case fr::Payload::ModelRequest: {
      const fr::ModelRequest* m = e->payload_as_ModelRequest();
      float sum = 0;
      float count = 0;
      if (m->features() != nullptr && m->features()->data() != nullptr) {
        const auto* d = m->features()->data();
        const std::size_t k = d->size() / 4;
        for (std::size_t i = 0; i < k; ++i) {
          float f;
          std::memcpy(&f, d->data() + 4 * i, 4);
          sum += f;
        }
        count = static_cast<float>(k);
      }
      r.Reply([&](flatbuffers::FlatBufferBuilder& b) {
        auto name = m->model_name() != nullptr ? b.CreateString(m->model_name()) : 0;
        auto ver = m->model_version() != nullptr ? b.CreateString(m->model_version()) : 0;
        const float sc[2] = {sum, count};
        auto scores = b.CreateVector(sc, 2);
        flatbuffers::Offset<flatbuffers::String> ls[2] = {b.CreateString("sum"), b.CreateString("count")};
        auto labels = b.CreateVector(ls, 2);
        ch::Message msg;
        msg.sequence = e->sequence();
        msg.payload_type = fr::Payload::ModelResponse;
        msg.payload = fr::CreateModelResponse(b, name, ver, scores, labels).Union();
        return msg;
      });
      return;
    }
    case fr::Payload::MediaChunk: {
      const fr::MediaChunk* m = e->payload_as_MediaChunk();
      r.Reply([&](flatbuffers::FlatBufferBuilder& b) {
        auto codec = m->codec() != nullptr ? b.CreateString(m->codec()) : 0;
        flatbuffers::Offset<flatbuffers::Vector<std::uint8_t>> data = 0;
        if (m->data() != nullptr) {
          std::uint8_t* p = nullptr;
          data = b.CreateUninitializedVector(m->data()->size(), &p);
          for (std::size_t i = 0; i < m->data()->size(); ++i) p[i] = static_cast<std::uint8_t>(m->data()->Get(static_cast<flatbuffers::uoffset_t>(i)) ^ 0xFF);
        }
        ch::Message msg;
        msg.sequence = e->sequence();
        msg.payload_type = fr::Payload::MediaChunk;
        msg.payload = fr::CreateMediaChunk(b, codec, m->format(), m->stream_id(), m->pts_ns(), m->dts_ns(), m->duration_ns(),
                                           m->sample_rate(), m->channels(), m->width(), m->height(), m->keyframe(), data)
                          .Union();
        return msg;
      });
      return;
    }
    default: break;
  }
  const std::uint8_t* d = nullptr;
  std::size_t n = 0;
  if (const fr::Raw* raw = e->payload_as_Raw()) {  // each accessor walks the vtable: once each
    if (const flatbuffers::Vector<std::uint8_t>* v = raw->data()) d = v->data(), n = v->size();
  }
  if (StartsWith(d, n, "sleep:")) {
    const long long ms = Arg(d, n, 6);
    if (ms > 0) fb::sys::SleepNanos(ms * 1000000);
  } else if (StartsWith(d, n, "fail:")) {
    const long long c = Arg(d, n, 5);
    r.Fail(static_cast<std::int32_t>(c < 0 ? 2 : c), "failed as asked");
    return;
  } else if (StartsWith(d, n, "panic;")) {
    throw std::runtime_error("panic as asked");
  }
  // Echo: a Raw payload laid out without a builder (one copy of the bytes, request copy -> ring).
  ch::RawMessage m;
  m.sequence = e->sequence();
  m.data = d;
  m.size = n;
  r.ReplyRaw(m);
}

int Serve(const Opts& o) {
  ch::ServerOptions so;
  so.workers = o.workers;
  so.socket_mode = o.mode;
  so.allow_uids = o.allow_uids;
  so.spin_ns = o.spin_ns;
  so.on_close = [](const ch::ConnectionEnd& e) {
    Say("closed gen=%" PRIu64 " reason=%s\n", e.generation, e.reason);
  };
  auto s = ch::Server::Listen(o.socket, Service, so);
  if (!s.ok()) Fail("serve: %s", s.status().message());
  Say("ready\n");
  char buf[256];
  while (read(0, buf, sizeof buf) > 0) {
  }
  (*s)->Close();
  const ch::ServerCounters c = (*s)->counters();
  Say("ok connections=%" PRIu64 " calls=%" PRIu64 " expired=%" PRIu64 "\n", c.connections, c.calls, c.expired_requests + c.expired_responses);
  return 0;
}

// ---- Clients. ----

std::unique_ptr<ch::Client> DialOrFail(const Opts& o) {
  ch::DialOptions d;
  d.spin_ns = o.spin_ns;
  auto c = ch::Client::Dial(o.socket, fb::Deadline::After(5000000000), d);
  if (!c.ok()) Fail("dial: %s", c.status().message());
  return std::move(c.value());
}

// Call i's request (docs/peers.md) as a Raw message, its payload written in place by EchoFill.
ch::RawMessage EchoMessage(std::uint64_t i, std::size_t size) {
  ch::RawMessage m;
  m.sequence = i;
  m.size = size;
  return m;
}

// Call i's request payload: u64 i, then byte k = (i + k) & 0xFF.
auto EchoFill(std::uint64_t i, std::size_t size) {
  return [i, size](std::uint8_t* p) {
    std::memcpy(p, &i, 8);
    for (std::size_t k = 8; k < size; ++k) p[k] = static_cast<std::uint8_t>((i + k) & 0xFF);
  };
}

// The same request built with a FlatBufferBuilder (the general path; call-script uses both).
auto EchoRequest(std::uint64_t i, std::size_t size) {
  return [i, size](flatbuffers::FlatBufferBuilder& b) {
    std::uint8_t* p = nullptr;
    auto v = b.CreateUninitializedVector(size, &p);
    std::memcpy(p, &i, 8);
    for (std::size_t k = 8; k < size; ++k) p[k] = static_cast<std::uint8_t>((i + k) & 0xFF);
    ch::Message m;
    m.sequence = i;
    m.payload_type = fr::Payload::Raw;
    m.payload = fr::CreateRaw(b, v).Union();
    return m;
  };
}

// Empty string when the echo response of call i is right, else what is wrong.
std::string CheckEcho(const ch::Response& r, std::uint64_t i, std::size_t size, std::uint64_t id) {
  const fr::Envelope* e = r.envelope();
  char b[200];
  if (e->status() != 0) return "status " + std::to_string(e->status());
  if (id != 0 && e->correlation_id() != id) {
    std::snprintf(b, sizeof b, "correlation id %" PRIu64 ", sent %" PRIu64, e->correlation_id(), id);
    return b;
  }
  if (e->sequence() != i) return "sequence " + std::to_string(e->sequence()) + ", want " + std::to_string(i);
  if (e->payload_type() != fr::Payload::Raw || e->payload_as_Raw()->data() == nullptr) return "payload is not Raw";
  const auto* d = e->payload_as_Raw()->data();
  if (d->size() != size) return "payload of " + std::to_string(d->size()) + " bytes";
  std::uint64_t got;
  std::memcpy(&got, d->data(), 8);
  if (got != i) return "payload index " + std::to_string(got);
  for (std::size_t k = 8; k < size; ++k) {
    if (d->data()[k] != static_cast<std::uint8_t>((i + k) & 0xFF)) return "payload byte " + std::to_string(k);
  }
  return "";
}

int Call(const Opts& o) {
  auto c = DialOrFail(o);
  Say("ready\n");
  const std::uint64_t k = std::max<std::uint64_t>(1, o.inflight);
  std::vector<ch::PendingCall> pend(k);
  std::vector<std::uint64_t> idx(k);
  ch::Response resp;
  std::uint64_t started = 0, done = 0;
  while (done < o.count) {
    while (started < o.count && started - done < k) {
      const std::size_t s = started % k;
      ch::CallOptions co;
      co.deadline = fb::Deadline::After(static_cast<std::int64_t>(o.deadline_ms) * 1000000);
      fb::Status st = c->StartRaw(EchoMessage(started, o.size), EchoFill(started, o.size), &pend[s], co);
      if (!st) Fail("call %" PRIu64 ": %s", started, st.message());
      idx[s] = started++;
    }
    const std::size_t s = done % k;
    const std::uint64_t id = pend[s].id;
    fb::Status st = c->Wait(&pend[s], &resp);
    if (!st) Fail("call %" PRIu64 ": %s", idx[s], st.message());
    const std::string bad = CheckEcho(resp, idx[s], o.size, id);
    if (!bad.empty()) Fail("call %" PRIu64 ": %s", idx[s], bad.c_str());
    ++done;
  }
  Say("ok calls=%" PRIu64 "\n", done);
  return 0;
}

int Ping(const Opts& o) {
  auto c = DialOrFail(o);
  Say("ready\n");
  ch::Response resp;
  std::vector<std::int64_t> ns;
  ns.reserve(o.iters);
  // The caller's data, made before the clock starts (docs/peers.md, call-ping): the call copies it in.
  std::vector<std::uint8_t> payload(std::max<std::size_t>(o.size, 8));
  for (std::uint64_t i = 0; i < o.warmup + o.iters; ++i) {
    EchoFill(i, o.size)(payload.data());
    ch::RawMessage m = EchoMessage(i, o.size);
    m.data = payload.data();
    const std::int64_t t0 = fb::sys::MonotonicNanos();
    fb::Status st = c->CallRaw(m, &resp);
    const std::int64_t t1 = fb::sys::MonotonicNanos();  // the verified response is in our hands
    if (!st) Fail("ping %" PRIu64 ": %s", i, st.message());
    const std::string bad = CheckEcho(resp, i, o.size, 0);
    if (!bad.empty()) Fail("ping %" PRIu64 ": bad echo: %s", i, bad.c_str());
    if (i >= o.warmup) ns.push_back(t1 - t0);
  }
  std::sort(ns.begin(), ns.end());
  const std::int64_t p50 = ns.empty() ? 0 : ns[ns.size() / 2];
  const std::int64_t p99 = ns.empty() ? 0 : ns[std::min(ns.size() - 1, ns.size() * 99 / 100)];
  Say("ok p50_ns=%" PRId64 " p99_ns=%" PRId64 " iters=%" PRIu64 "\n", p50, p99, o.iters);
  return 0;
}

auto RawRequest(const std::string& s, std::size_t pad_to = 0) {
  return [s, pad_to](flatbuffers::FlatBufferBuilder& b) {
    std::string d = s;
    if (d.size() < pad_to) d.resize(pad_to, 'x');
    ch::Message m;
    m.payload_type = fr::Payload::Raw;
    m.payload = fr::CreateRaw(b, b.CreateVector(reinterpret_cast<const std::uint8_t*>(d.data()), d.size())).Union();
    return m;
  };
}

int Script(const Opts& o) {
  auto c = DialOrFail(o);
  Say("ready\n");
  ch::Response r;
  int checks = 0;
  auto dl = [](std::int64_t ms) {
    ch::CallOptions co;
    co.deadline = fb::Deadline::After(ms * 1000000);
    return co;
  };
  // 1. fail:7;
  fb::Status st = c->Call(RawRequest("fail:7;"), &r, dl(10000));
  if (!ch::IsRemoteStatus(st) || r.code() != 7 || std::strcmp(r.message(), "failed as asked") != 0) {
    Fail("fail:7; gives status 7 'failed as asked' (got %s, code %d '%s')", st.message(), r.code(), r.message());
  }
  ++checks;
  // 2. panic; then a call succeeds.
  st = c->Call(RawRequest("panic;"), &r, dl(10000));
  if (!ch::IsRemoteStatus(st) || r.code() != 13) Fail("panic; gives status 13 (got %s)", st.message());
  st = c->Call(EchoRequest(1, 64), &r, dl(10000));
  if (!st || !CheckEcho(r, 1, 64, 0).empty()) Fail("the call after panic; succeeds (%s)", st.message());
  ++checks;
  // 3. ModelRequest.
  st = c->Call(
      [](flatbuffers::FlatBufferBuilder& b) {
        float f[16];
        for (int i = 0; i < 16; ++i) f[i] = static_cast<float>(i);
        auto data = b.CreateVector(reinterpret_cast<const std::uint8_t*>(f), sizeof f);
        const std::int64_t shape[1] = {16};
        auto t = fr::CreateTensor(b, fr::DType::Float32, b.CreateVector(shape, 1), data);
        ch::Message m;
        m.payload_type = fr::Payload::ModelRequest;
        m.payload = fr::CreateModelRequest(b, b.CreateString("risk"), b.CreateString("v3"), t).Union();
        return m;
      },
      &r, dl(10000));
  {
    const fr::ModelResponse* mr = st.ok() ? r.envelope()->payload_as_ModelResponse() : nullptr;
    if (mr == nullptr || mr->scores() == nullptr || mr->scores()->size() != 2 || mr->scores()->Get(0) != 120.0f ||
        mr->scores()->Get(1) != 16.0f || mr->labels() == nullptr || mr->labels()->size() != 2 ||
        mr->labels()->Get(0)->str() != "sum" || mr->labels()->Get(1)->str() != "count" || mr->model_name() == nullptr ||
        mr->model_name()->str() != "risk" || mr->model_version() == nullptr || mr->model_version()->str() != "v3") {
      Fail("ModelRequest gives scores [120, 16], labels [sum, count] (%s)", st.message());
    }
  }
  ++checks;
  // 4. MediaChunk.
  st = c->Call(
      [](flatbuffers::FlatBufferBuilder& b) {
        std::uint8_t d[100];
        for (int i = 0; i < 100; ++i) d[i] = static_cast<std::uint8_t>(i * 3);
        ch::Message m;
        m.payload_type = fr::Payload::MediaChunk;
        m.payload = fr::CreateMediaChunk(b, b.CreateString("opus"), fr::MediaFormat::Opus, 7, 1000, 900, 20, 48000, 2, 0,
                                         0, true, b.CreateVector(d, 100))
                        .Union();
        return m;
      },
      &r, dl(10000));
  {
    const fr::MediaChunk* mc = st.ok() ? r.envelope()->payload_as_MediaChunk() : nullptr;
    bool good = mc != nullptr && mc->codec() != nullptr && mc->codec()->str() == "opus" &&
                mc->format() == fr::MediaFormat::Opus && mc->stream_id() == 7 && mc->pts_ns() == 1000 &&
                mc->dts_ns() == 900 && mc->duration_ns() == 20 && mc->sample_rate() == 48000 && mc->channels() == 2 &&
                mc->keyframe() && mc->data() != nullptr && mc->data()->size() == 100;
    for (int i = 0; good && i < 100; ++i) {
      good = mc->data()->Get(static_cast<flatbuffers::uoffset_t>(i)) == static_cast<std::uint8_t>((i * 3) ^ 0xFF);
    }
    if (!good) Fail("MediaChunk comes back with its fields and inverted bytes (%s)", st.message());
  }
  ++checks;
  // 5. Deadline: sleep:300; with 50 ms fails within 250 ms, the next call succeeds.
  {
    const std::int64_t t0 = fb::sys::MonotonicNanos();
    st = c->Call(RawRequest("sleep:300;"), &r, dl(50));
    const std::int64_t el = fb::sys::MonotonicNanos() - t0;
    if (st.code() != fb::Errc::kTimeout || el > 250000000) {
      Fail("sleep:300; with a 50 ms deadline fails with kTimeout within 250 ms (got %s after %" PRId64 " ms)",
           st.message(), el / 1000000);
    }
    st = c->Call(EchoRequest(2, 64), &r, dl(10000));
    if (!st || !CheckEcho(r, 2, 64, 0).empty()) Fail("the call after a deadline succeeds (%s)", st.message());
  }
  ++checks;
  // 6. kFull: with sleep:300; in flight, fail-fast 1 KiB OneWay sends fill the ring.
  {
    ch::PendingCall pc;
    st = c->Start(RawRequest("sleep:300;"), &pc, dl(10000));
    if (!st) Fail("start sleep:300;: %s", st.message());
    fb::sys::SleepNanos(20000000);
    ch::CallOptions ff;
    ff.fail_fast = true;
    bool full = false;
    for (int i = 0; i < 100000 && !full; ++i) {
      st = c->Send(RawRequest("oneway;", 1024), ff);
      if (st.code() == fb::Errc::kFull) full = true;
      else if (!st) Fail("fail-fast OneWay send: %s", st.message());
    }
    if (!full) Fail("fail-fast OneWay sends of 1 KiB never got kFull");
    st = c->Wait(&pc, &r);
    if (!st) Fail("sleep:300; after the full ring: %s", st.message());
  }
  ++checks;
  // 7. 1,000 echo calls in flight at once.
  {
    std::vector<ch::PendingCall> pend(1000);
    for (std::uint64_t i = 0; i < 1000; ++i) {
      st = c->StartRaw(EchoMessage(100 + i, 64), EchoFill(100 + i, 64), &pend[i], dl(20000));
      if (!st) Fail("1000 in flight: start %" PRIu64 ": %s", i, st.message());
    }
    for (std::uint64_t i = 0; i < 1000; ++i) {
      const std::uint64_t id = pend[i].id;
      st = c->Wait(&pend[i], &r);
      if (!st) Fail("1000 in flight: call %" PRIu64 ": %s", i, st.message());
      const std::string bad = CheckEcho(r, 100 + i, 64, id);
      if (!bad.empty()) Fail("1000 in flight: call %" PRIu64 ": %s", i, bad.c_str());
    }
  }
  ++checks;
  Say("ok checks=%d\n", checks);
  return 0;
}

// With deadlines far away, a response that matched no pending call is a duplicate or a stray: FAIL.
void CheckNoStrays(const ch::Client& c) {
  const std::uint64_t late = c.counters().late_responses;
  if (late != 0) {
    Fail("connection gen %" PRIu64 ": %" PRIu64 " responses matched no pending call (duplicates or strays)", c.generation(),
         late);
  }
}

// Set once standard input reaches end of file (or fails): call-torture's signal to stop.
std::atomic<bool> g_stdin_eof{false};

// Read standard input to its end on a detached thread, then set g_stdin_eof.
void WatchStdin() {
  std::thread([] {
    char buf[256];
    for (;;) {
      const ssize_t n = read(0, buf, sizeof buf);
      if (n > 0 || (n < 0 && errno == EINTR)) continue;
      break;
    }
    g_stdin_eof.store(true, std::memory_order_release);
  }).detach();
}

bool Stopping() { return g_stdin_eof.load(std::memory_order_acquire); }

// call-torture (docs/peers.md): K calls in flight across server deaths and redials, until N calls
// succeeded or standard input reaches end of file; then the calls in flight finish (or fail with
// kPeerDead: a death, reported as such) and it prints `ok calls=N deaths=D`.
int Torture(const Opts& o) {
  auto c = DialOrFail(o);
  Say("ready\n");
  Say("connected gen=%" PRIu64 "\n", c->generation());
  WatchStdin();
  const std::uint64_t k = o.inflight == 0 ? 8 : o.inflight;
  std::vector<ch::PendingCall> pend(k);
  std::vector<std::uint64_t> idx(k);
  ch::Response resp;
  std::uint64_t next = 0, ok = 0, deaths = 0;
  std::uint64_t started = 0, done = 0;  // positions in the window
  while (ok < o.count) {
    bool dead = false;
    const bool stopping = Stopping();
    if (stopping && done == started) break;  // nothing in flight: finished
    while (!stopping && !dead && started - done < k && ok + (started - done) < o.count) {
      const std::size_t s = started % k;
      ch::CallOptions co;
      co.deadline = fb::Deadline::After(10000000000);
      fb::Status st = c->StartRaw(EchoMessage(next, 64), EchoFill(next, 64), &pend[s], co);
      if (st.code() == fb::Errc::kPeerDead) {
        dead = true;
        break;
      }
      if (!st) Fail("call %" PRIu64 ": %s", next, st.message());
      idx[s] = next++;
      ++started;
    }
    std::uint64_t failed = 0;
    if (!dead && done < started) {
      const std::size_t s = done % k;
      const std::uint64_t id = pend[s].id;
      fb::Status st = c->Wait(&pend[s], &resp);
      ++done;
      if (st.code() == fb::Errc::kPeerDead) {
        dead = true;
        ++failed;
      } else if (!st) {
        Fail("call %" PRIu64 ": %s", idx[s], st.message());
      } else {
        const std::string bad = CheckEcho(resp, idx[s], 64, id);
        if (!bad.empty()) Fail("call %" PRIu64 ": %s", idx[s], bad.c_str());
        ++ok;
      }
    }
    if (!dead) continue;
    const std::int64_t t = fb::sys::RealtimeNanos();
    while (done < started) {
      const std::size_t s = done % k;
      fb::Status st = c->Wait(&pend[s], &resp);
      ++done;
      if (st.code() != fb::Errc::kPeerDead) Fail("pending call %" PRIu64 " after death: %s", idx[s], st.message());
      ++failed;
    }
    CheckNoStrays(*c);
    ++deaths;
    Say("dead t_ns=%" PRId64 " pending=%" PRIu64 "\n", t, failed);
    c.reset();
    const fb::Deadline until = fb::Deadline::After(static_cast<std::int64_t>(o.redial_ms) * 1000000);
    for (;;) {
      if (Stopping()) {
        Say("ok calls=%" PRIu64 " deaths=%" PRIu64 "\n", ok, deaths);
        return 0;
      }
      ch::DialOptions d;
      d.spin_ns = o.spin_ns;
      auto r = ch::Client::Dial(o.socket, fb::Deadline::After(1000000000), d);
      if (r.ok()) {
        c = std::move(r.value());
        Say("connected gen=%" PRIu64 "\n", c->generation());
        break;
      }
      if (fb::sys::MonotonicNanos() >= until.at_ns) Fail("redial for %" PRIu64 " ms: %s", o.redial_ms, r.status().message());
      fb::sys::SleepNanos(1000000);
    }
  }
  CheckNoStrays(*c);
  Say("ok calls=%" PRIu64 " deaths=%" PRIu64 "\n", ok, deaths);
  return 0;
}

}  // namespace

bool IsChannelCommand(const char* cmd) {
  const std::string c = cmd;
  return c == "serve" || c == "call" || c == "call-script" || c == "call-ping" || c == "call-torture";
}

int Channel(int argc, char** argv) {
  const Opts o = Parse(argc, argv);
  if (o.command == "serve") return Serve(o);
  if (o.command == "call") return Call(o);
  if (o.command == "call-ping") return Ping(o);
  if (o.command == "call-script") return Script(o);
  if (o.command == "call-torture") return Torture(o);
  Usage("unknown command " + o.command);
}

}  // namespace frbpeer
