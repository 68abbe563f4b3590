// channel::Server: serves a handler to channel clients (docs/channels.md §1-§8).
//
// Threads: one monitor thread accepts connections and polls every connection's socket for end of file
// (the client's death or close) and the client process's pidfd where the kernel gives one (docs/channels.md
// §4: the socket can outlive the client in a child it forked); one thread per connection does the handshake (SO_PEERCRED, Hello,
// sealed memfd segment, Welcome with SCM_RIGHTS) and then reads requests in order. Each request is
// copied into a private buffer and verified (docs/schemas.md, C++ policy). Handlers run inline on the
// connection's thread (default, lowest latency) or on ServerOptions::workers pool threads. An inline
// handler's request is released from the ring once the handler has replied (off the response's path; a
// slow handler holds that request's space, and nothing more is read meanwhile anyway); a request for the
// workers is released before it is queued, so a slow worker never holds ring space.
//
// Responses: the handler computes, then calls Responder::Reply(build), ReplyRaw (a Raw payload laid out
// without a builder: typed::LayEnvelope) or Fail: the response is claimed, built in place over the claimed
// ring space (typed::FlatBuffersWriter) and committed in one step (under the connection's spin lock
// when handlers run on workers; inline handlers need none: the connection's thread is the ring's only
// writer). A handler that returns without replying sends status 0
// with no payload; one that throws sends status 13 INTERNAL naming the exception (when exceptions are
// enabled). Expired requests are dropped unhandled; responses finished after their deadline are dropped.
// A protocol error closes only its connection.
//
// Closing with workers (ServerOptions::workers > 0): requests queued for the workers own a private copy of
// their envelope but point at their connection, so a connection that ends (client death, protocol error,
// Server::Close) is freed only when none of its requests is queued or running. Queued requests of a dead
// connection are dropped without running their handler; the wait is for handlers already running, so it
// is bounded by how long handlers run: handlers should honour Request::deadline (a response finished
// after it is dropped anyway). Meanwhile the connection's reader thread, segment and socket stay open.
#ifndef FRAMEBRIDGE_CHANNEL_SERVER_HPP
#define FRAMEBRIDGE_CHANNEL_SERVER_HPP

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__cpp_exceptions)
#include <exception>
#endif

#include "framebridge/channel_client.hpp"
#include "framebridge/channel_common.hpp"
#include "framebridge/channel_handshake.hpp"
#include "framebridge/channel_socket.hpp"
#include "framebridge/ring.hpp"
#include "framebridge/segment.hpp"
#include "framebridge/typed.hpp"

namespace framebridge {
namespace channel {

// A connection that ended: its generation and why ("peer-dead: ..." when the client died or closed).
struct ConnectionEnd {
  std::uint64_t generation = 0;
  std::uint32_t client_pid = 0;
  const char* reason = "";
};

// Server options (docs/channels.md §8).
struct ServerOptions {
  unsigned socket_mode = 0600;
  std::vector<std::uint32_t> allow_uids;  // with allow_gids: a client matching either is accepted;
  std::vector<std::uint32_t> allow_gids;  // both empty: only the server's own uid
  std::uint32_t request_ring_bytes = kDefaultRingBytes;
  std::uint32_t response_ring_bytes = kDefaultRingBytes;
  std::uint32_t max_ring_bytes = kDefaultMaxRingBytes;
  std::uint32_t max_connections = 1024;
  std::int64_t handshake_timeout_ns = 5000000000;
  unsigned workers = 0;  // 0: handlers inline on the connection's thread; N: a pool (see "Closing with workers")
  std::int64_t spin_ns = kDefaultSpinNanos;
  std::function<void(const ConnectionEnd&)> on_close;  // called on the connection's thread
};

// Server counters (relaxed).
struct ServerCounters {
  std::uint64_t connections = 0;        // handshakes completed
  std::uint64_t refused = 0;            // handshakes refused
  std::uint64_t calls = 0;              // requests handed to the handler
  std::uint64_t expired_requests = 0;   // dropped: deadline passed before they were read
  std::uint64_t expired_responses = 0;  // dropped: finished after their deadline
  std::uint64_t handler_exceptions = 0;
  std::uint64_t protocol_errors = 0;
};

class Server;
class Responder;

// A request handed to a handler: the verified envelope (valid until the handler returns).
struct Request {
  const frames::Envelope* envelope = nullptr;
  Deadline deadline = Deadline::Never();  // CLOCK_MONOTONIC, from deadline_unix_nano
  std::uint64_t generation = 0;            // the connection's
  bool expired() const { return !deadline.is_never() && sys::MonotonicNanos() >= deadline.at_ns; }
};

namespace detail {

// One connection: socket, segment, rings, and the response writer shared by handlers.
struct Conn {
  int sock = -1;
  std::atomic<int> pidfd{-1};  // the client process's (§4), -1: its socket alone is watched
  ucred cred{};
  std::uint64_t generation = 0;
  Segment seg;
  Reader reader;
  Writer writer;
  SpinLock wlock;              // serialises responses written by worker threads
  bool shared_writer = false;  // workers > 0: handlers on several threads write responses
  typed::FlatBuffersWriter fw{&writer};
  unsigned char* resp_ring = nullptr;
  std::atomic<bool> dead{false};
  std::mutex dead_mu;
  char reason[320] = {};
  std::atomic<bool> finished{false};
  std::atomic<bool> registered{false};  // the monitor polls its socket
  std::atomic<int> outstanding{0};      // requests queued to or running on workers
  // Requests this connection's thread handed to an inline handler: stored by that thread alone (no
  // locked add per call), folded into the server's count under conns_mu_ when the connection ends.
  std::atomic<std::uint64_t> calls{0};
  std::thread thread;

  // First reason wins. Runs entirely under dead_mu, as do the handshake's publication of the rings and
  // the connection's teardown (Release), so a MarkDead from another thread (the monitor, Server::Close)
  // never touches a socket that was closed (its number may be reused) or a segment that was unmapped.
  void MarkDead(const char* why) {
    std::lock_guard<std::mutex> g(dead_mu);
    if (dead.load(std::memory_order_relaxed)) return;
    std::snprintf(reason, sizeof reason, "%s", why);
    dead.store(true, std::memory_order_seq_cst);
    if (sock >= 0) shutdown(sock, SHUT_RDWR);
    if (reader.valid()) reader.Interrupt();
    if (resp_ring != nullptr) WakeRing(resp_ring, layout::kSpaceSignalOffset);
  }

  // Close the rings, unmap the segment, close the socket (the connection's thread, once it is dead).
  void Release() {
    std::lock_guard<std::mutex> g(dead_mu);
    writer.Close();
    reader.Close();
    resp_ring = nullptr;
    seg.Close();
    sock::CloseFd(sock);
    sock = -1;
    sock::CloseFd(pidfd.exchange(-1));
  }
};

}  // namespace detail

// Builds and commits the response to one request. Reply / Fail at most once.
class Responder {
 public:
  // Status 0 with the message build(flatbuffers::FlatBufferBuilder&) -> Message builds in place.
  template <class Build>
  Status Reply(Build&& build) {
    return Send(code::kOk, nullptr, build);
  }
  // A status, a message (may be null) and a payload.
  template <class Build>
  Status Reply(std::int32_t status, const char* message, Build&& build) {
    return Send(status, message, build);
  }
  // Status 0 with a Raw payload laid out without a builder (RawMessage): m.size bytes copied from m.data,
  // or written in place by fill(std::uint8_t* dst). The trace defaults to the request's, as for Reply.
  Status ReplyRaw(const RawMessage& m) { return ReplyRaw(m, detail::CopyRaw{&m}); }
  template <class Fill>
  Status ReplyRaw(const RawMessage& m, Fill&& fill) {
    return SendLaid(code::kOk, nullptr, &m, fill);
  }
  // A status and message (may be null), no payload (laid out without a builder).
  Status Fail(std::int32_t status, const char* message) {
    auto none = [](std::uint8_t*) {};
    return SendLaid(status, message, nullptr, none);
  }
  bool replied() const { return replied_; }

 private:
  friend class Server;
  // corr and udl: the request's correlation id and deadline_unix_nano, read from its envelope once.
  Responder(Server* s, detail::Conn* c, const Request* r, bool one_way, std::uint64_t corr, std::int64_t udl)
      : srv_(s), c_(c), req_(r), corr_(corr), udl_(udl), one_way_(one_way) {}

  // Build's Message through the builder.
  template <class Build>
  Status Send(std::int32_t status, const char* message, Build& build);
  // Laid out by hand: the Raw payload of *m (none when m is null).
  template <class Fill>
  Status SendLaid(std::int32_t status, const char* message, const RawMessage* m, Fill& fill);
  // The common part: checks, then emit() -> Status under the writer's lock, waiting for space.
  template <class Emit>
  Status SendWith(Emit& emit);

  Server* srv_;
  detail::Conn* c_;
  const Request* req_;
  std::uint64_t corr_;
  std::int64_t udl_;
  bool one_way_;
  bool replied_ = false;
};

// The handler: computes, then replies through the Responder (see Responder).
using Handler = std::function<void(const Request&, Responder&)>;

class Server {
 public:
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() { Close(); }

  // Listen at path and serve handler until Close.
  static Result<std::unique_ptr<Server>> Listen(const std::string& path, Handler handler,
                                                ServerOptions opts = ServerOptions()) {
    std::unique_ptr<Server> s(new Server(std::move(handler), std::move(opts)));
    if (!s->wake_.ok()) return Status::Error(Errc::kSystem, "listen %s: pipe: %s", path.c_str(), std::strerror(errno));
    Status st = s->CheckOptions();
    if (!st) return st.Wrap("listen %s", path.c_str());
    st = sock::Listen(path, s->opts_.socket_mode, 128, &s->lfd_);
    if (!st) return st;
    s->path_ = path;
    s->uid_ = static_cast<std::uint32_t>(getuid());
    s->running_.store(true);
    for (unsigned i = 0; i < s->opts_.workers; ++i) s->workers_.emplace_back([p = s.get()] { p->Work(); });
    s->monitor_ = std::thread([p = s.get()] { p->Monitor(); });
    return s;
  }

  // Stop accepting, close every connection (clients see end of file), join every thread, remove the
  // socket file. Idempotent.
  void Close() {
    if (!running_.exchange(false)) return;
    wake_.Notify();
    if (monitor_.joinable()) monitor_.join();
    {
      std::lock_guard<std::mutex> g(conns_mu_);
      for (auto& c : conns_) c->MarkDead("server closing");
    }
    for (auto& c : conns_) {
      if (c->thread.joinable()) c->thread.join();
    }
    conns_.clear();
    {
      std::lock_guard<std::mutex> g(q_mu_);
      q_stop_ = true;
    }
    q_cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
    sock::CloseFd(lfd_);
    lfd_ = -1;
    unlink(path_.c_str());
  }

  ServerCounters counters() const {
    ServerCounters c;
    c.connections = n_conn_.load(std::memory_order_relaxed);
    c.refused = n_refused_.load(std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> g(conns_mu_);
      c.calls = n_calls_.load(std::memory_order_relaxed);
      for (const auto& k : conns_) c.calls += k->calls.load(std::memory_order_relaxed);
    }
    c.expired_requests = n_expired_.load(std::memory_order_relaxed);
    c.expired_responses = n_expired_resp_.load(std::memory_order_relaxed);
    c.handler_exceptions = n_exc_.load(std::memory_order_relaxed);
    c.protocol_errors = n_proto_.load(std::memory_order_relaxed);
    return c;
  }
  // Connections currently open (handshake done or in progress).
  std::size_t open_connections() const { return live_.load(std::memory_order_relaxed); }
  const std::string& path() const { return path_; }

 private:
  friend class Responder;

  struct Job {
    detail::Conn* conn = nullptr;
    typed::detail::Buffer buf;
    Deadline deadline;
    bool one_way = false;
  };
  static constexpr std::size_t kQueueLength = 1024;

  Server(Handler h, ServerOptions o) : handler_(std::move(h)), opts_(std::move(o)) {
    if (opts_.workers > 0) queue_.reset(new Job[kQueueLength]);
  }

  static bool ValidRing(std::uint32_t v) {
    return v >= handshake::kMinRingBytes && v <= handshake::kMaxRingBytes && (v & (v - 1)) == 0;
  }

  Status CheckOptions() const {
    if (!ValidRing(opts_.request_ring_bytes) || !ValidRing(opts_.response_ring_bytes) || !ValidRing(opts_.max_ring_bytes)) {
      return Status::Error(Errc::kInvalidArgument, "ring sizes must be powers of two in [4096, 2^30]");
    }
    if (opts_.max_connections == 0) return Status::Error(Errc::kInvalidArgument, "max_connections must be >= 1");
    return Status::Ok();
  }

  bool Allowed(const ucred& c) const {
    if (opts_.allow_uids.empty() && opts_.allow_gids.empty()) return c.uid == uid_;
    for (std::uint32_t u : opts_.allow_uids) {
      if (c.uid == u) return true;
    }
    for (std::uint32_t g : opts_.allow_gids) {
      if (c.gid == g) return true;
    }
    return false;
  }

  static void SendWelcome(int fd, handshake::WelcomeStatus st, const char* msg, int pass_fd = -1,
                          const handshake::Welcome* ok = nullptr) {
    handshake::Welcome w;
    if (ok != nullptr) w = *ok;
    w.status = static_cast<std::uint32_t>(st);
    w.server_pid = sys::SelfPid();
    std::snprintf(w.message, sizeof w.message, "%s", msg);
    std::uint8_t b[handshake::kWelcomeLength];
    handshake::EncodeWelcome(w, b);
    (void)sock::SendPacket(fd, b, sizeof b, pass_fd);
  }

  // Accept connections and watch every registered connection's socket and client pidfd (§4).
  void Monitor() {
    std::vector<pollfd> pf;
    struct Watched {
      detail::Conn* c;
      bool pidfd;  // the entry is the client's pidfd, not the socket
    };
    std::vector<Watched> pc;
    // Sized once (up to the connection limit): the poll set does not grow, allocating, while calls run.
    const std::size_t expect = opts_.max_connections < 4096 ? opts_.max_connections : 4096;
    pf.reserve(2 * expect + 2);
    pc.reserve(2 * expect);
    while (running_.load()) {
      pf.clear(), pc.clear();
      pf.push_back(pollfd{wake_.read_fd(), POLLIN, 0});
      pf.push_back(pollfd{lfd_, POLLIN, 0});
      {
        std::lock_guard<std::mutex> g(conns_mu_);
        for (std::size_t i = 0; i < conns_.size();) {
          detail::Conn* c = conns_[i].get();
          if (c->finished.load()) {
            if (c->thread.joinable()) c->thread.join();
            conns_.erase(conns_.begin() + static_cast<std::ptrdiff_t>(i));
            continue;
          }
          if (c->registered.load() && !c->dead.load()) {
            pf.push_back(pollfd{c->sock, POLLIN | POLLRDHUP, 0});
            pc.push_back(Watched{c, false});
            const int pidfd = c->pidfd.load();
            if (pidfd >= 0) {
              pf.push_back(pollfd{pidfd, POLLIN, 0});
              pc.push_back(Watched{c, true});
            }
          }
          ++i;
        }
      }
      // A bounded timeout: finished connections are reaped and new registrations picked up.
      int r = poll(pf.data(), pf.size(), 100);
      if (r < 0 && errno != EINTR) sys::SleepNanos(1000000);
      if (r <= 0) continue;
      if (pf[0].revents != 0) wake_.Drain();
      if (pf[1].revents != 0) Accept();
      for (std::size_t i = 2; i < pf.size(); ++i) {
        if (pf[i].revents == 0) continue;
        detail::Conn* c = pc[i - 2].c;
        if (pc[i - 2].pidfd) {
          // The client process exited while its socket lives on (a child it forked holds it). A connection
          // already released may have left a number now reused: MarkDead of a dead connection is a no-op.
          char why[96];
          std::snprintf(why, sizeof why, "peer-dead: the client process %u exited", static_cast<unsigned>(c->cred.pid));
          c->MarkDead(why);
          continue;
        }
        char b[16];
        ssize_t n = recv(c->sock, b, sizeof b, MSG_DONTWAIT);
        if (n > 0) {
          n_proto_.fetch_add(1, std::memory_order_relaxed);
          c->MarkDead("protocol error: the client sent data on the socket after the handshake");
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          c->MarkDead("peer-dead: the client closed the socket (exited or crashed)");
        }
      }
    }
  }

  void Accept() {
    int fd = accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    if (live_.load() >= opts_.max_connections) {
      n_refused_.fetch_add(1, std::memory_order_relaxed);
      SendWelcome(fd, handshake::WelcomeStatus::kBusy, "server at its connection limit; try again later");
      close(fd);
      return;
    }
    std::unique_ptr<detail::Conn> c(new detail::Conn);
    c->sock = fd;
    c->shared_writer = opts_.workers > 0;
    c->reader.set_spin_nanos(opts_.spin_ns);
    detail::Conn* p = c.get();
    live_.fetch_add(1);
    c->thread = std::thread([this, p] { RunConn(p); });
    std::lock_guard<std::mutex> g(conns_mu_);
    conns_.push_back(std::move(c));
  }

  // The handshake (§1, §2); on success the connection's segment, reader and writer are ready.
  bool Handshake(detail::Conn* c, char* why, std::size_t why_len) {
    using WS = handshake::WelcomeStatus;
    auto refuse = [&](WS st, const char* fmt, auto... args) {
      char m[handshake::kWelcomeMessageCapacity + 1];
      std::snprintf(m, sizeof m, fmt, args...);
      SendWelcome(c->sock, st, m);
      std::snprintf(why, why_len, "handshake refused (%s): %s", handshake::WelcomeStatusName(static_cast<std::uint32_t>(st)), m);
      n_refused_.fetch_add(1, std::memory_order_relaxed);
      return false;
    };
    const Deadline dl = Deadline::After(opts_.handshake_timeout_ns);
    for (;;) {
      sock::PollResult pr = sock::PollIn(c->sock, dl);
      if (pr == sock::PollResult::kTimeout) {
        std::snprintf(why, why_len, "handshake timeout: no Hello");
        return false;
      }
      if (!running_.load()) return false;
      break;
    }
    std::uint8_t hb[handshake::kHelloLength + 1];
    sock::Packet p;
    Status st = sock::RecvPacket(c->sock, hb, sizeof hb, &p);
    for (int i = 0; i < 4; ++i) sock::CloseFd(p.fds[i]);
    if (!st) {
      std::snprintf(why, why_len, "handshake: %s", st.message());
      return false;
    }
    if (p.eof) {
      std::snprintf(why, why_len, "peer-dead: the client closed before its Hello");
      return false;
    }
    if (p.size != handshake::kHelloLength || p.truncated) {
      return refuse(WS::kBadRequest, "Hello of %zu%s bytes, want 64", p.size, p.truncated ? "+" : "");
    }
    if (p.nfds != 0) return refuse(WS::kBadRequest, "Hello carried %d descriptors, want none", p.nfds);
    // Credentials after the Hello is read: closing with an unread packet would reset the connection
    // and the client would lose the Welcome saying why.
    if (!sock::PeerCred(c->sock, &c->cred).ok()) return refuse(WS::kInternal, "%s", "SO_PEERCRED failed");
    if (!Allowed(c->cred)) {
      return refuse(WS::kPermissionDenied, "uid %u gid %u is not allowed", c->cred.uid, c->cred.gid);
    }
    const handshake::Hello h = handshake::DecodeHello(hb);
    if (h.magic != handshake::kHelloMagic) return refuse(WS::kBadRequest, "Hello magic 0x%08x, want 0x%08x", h.magic, handshake::kHelloMagic);
    if (h.protocol_version != handshake::kProtocolVersion) {
      return refuse(WS::kVersionMismatch, "server speaks channel protocol %u, client sent %u", handshake::kProtocolVersion,
                    h.protocol_version);
    }
    if (h.layout_version != handshake::kLayoutVersion) {
      return refuse(WS::kVersionMismatch, "server speaks layout %u, client sent %u", handshake::kLayoutVersion, h.layout_version);
    }
    if ((h.flags & ~handshake::kKnownHelloFlags) != 0) return refuse(WS::kBadRequest, "unknown Hello flags 0x%x", h.flags);
    if (!h.reserved_zero) return refuse(WS::kBadRequest, "%s", "Hello reserved bytes 24..63 are not zero");
    std::uint32_t req = h.request_ring_bytes == 0 ? opts_.request_ring_bytes : h.request_ring_bytes;
    std::uint32_t resp = h.response_ring_bytes == 0 ? opts_.response_ring_bytes : h.response_ring_bytes;
    if (!ValidRing(req) || !ValidRing(resp)) {
      return refuse(WS::kBadRequest, "ring sizes %u/%u: want powers of two in [4096, 2^30] (or 0)", h.request_ring_bytes,
                    h.response_ring_bytes);
    }
    if (req > opts_.max_ring_bytes) req = opts_.max_ring_bytes;
    if (resp > opts_.max_ring_bytes) resp = opts_.max_ring_bytes;
    Spec spec;
    spec.rings.push_back({kRequestsRing, RegionKind::kSPSC, req});
    spec.rings.push_back({kResponsesRing, RegionKind::kSPSC, resp});
    Result<Segment> seg = Segment::CreateMemfd(kSegmentName, spec);
    if (!seg.ok()) return refuse(WS::kInternal, "create segment: %s", seg.status().message());
    const int want = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
    const int seals = fcntl(seg->fd(), F_GET_SEALS);
    if (seals < 0 || (seals & want) != want) return refuse(WS::kInternal, "%s", "could not seal the segment");
    Result<Reader> rd = Reader::Open(*seg, kRequestsRing);
    if (!rd.ok()) return refuse(WS::kInternal, "open requests: %s", rd.status().message());
    Result<Writer> wr = Writer::Open(*seg, kResponsesRing);
    if (!wr.ok()) return refuse(WS::kInternal, "open responses: %s", wr.status().message());
    {
      // Published under dead_mu: MarkDead (any thread) reads them.
      std::lock_guard<std::mutex> g(c->dead_mu);
      if (c->dead.load(std::memory_order_relaxed)) {
        std::snprintf(why, why_len, "%s", c->reason);
        return false;  // Server::Close meanwhile; rd, wr and seg close here
      }
      c->reader = std::move(rd.value());
      c->reader.set_spin_nanos(opts_.spin_ns);
      c->writer = std::move(wr.value());
      c->writer.set_spin_nanos(opts_.spin_ns);
      c->resp_ring = seg->base() + seg->region(1).offset;
      c->seg = std::move(seg.value());
    }
    handshake::Welcome w;
    w.request_ring_bytes = req;
    w.response_ring_bytes = resp;
    const std::uint64_t mp0 = layout::MaxPayload(req), mp1 = layout::MaxPayload(resp);
    w.max_frame_bytes = static_cast<std::uint32_t>(mp0 < mp1 ? mp0 : mp1);
    w.generation = c->generation = generation_.fetch_add(1) + 1;
    SendWelcome(c->sock, WS::kOk, "", c->seg.fd(), &w);
    // §4: the client's pidfd, when SO_PEERCRED's pid is the one its Hello named. Published before the
    // connection registers with the monitor.
    const sock::PeerProcess pp = sock::OpenPeerPidfd(c->sock, h.client_pid);
    c->pidfd.store(pp.pidfd);
    if (pp.exited) {
      char m[96];
      std::snprintf(m, sizeof m, "peer-dead: the client process %u exited", static_cast<unsigned>(pp.pid));
      c->MarkDead(m);  // the read loop ends at once
    }
    return true;
  }

  void RunConn(detail::Conn* c) {
    char why[320] = {};
    if (Handshake(c, why, sizeof why)) {
      n_conn_.fetch_add(1, std::memory_order_relaxed);
      c->registered.store(true);
      wake_.Notify();
      ReadLoop(c);
      std::snprintf(why, sizeof why, "%s", c->reason);
    }
    c->MarkDead(why);
    while (c->outstanding.load() > 0) sys::SleepNanos(100000);  // workers finishing its requests
    if (opts_.on_close) {
      ConnectionEnd e;
      e.generation = c->generation;
      e.client_pid = static_cast<std::uint32_t>(c->cred.pid);
      e.reason = why;
      opts_.on_close(e);
    }
    c->Release();
    {
      std::lock_guard<std::mutex> g(conns_mu_);  // counters() sums under it: each call counted once
      n_calls_.fetch_add(c->calls.exchange(0, std::memory_order_relaxed), std::memory_order_relaxed);
    }
    live_.fetch_sub(1);
    c->finished.store(true);
  }

  void Protocol(detail::Conn* c, const char* fmt, const char* detail_msg) {
    char b[300];
    std::snprintf(b, sizeof b, fmt, detail_msg);
    n_proto_.fetch_add(1, std::memory_order_relaxed);
    c->MarkDead(b);
  }

  void ReadLoop(detail::Conn* c) {
    typed::detail::Buffer buf;
    typed::EnvelopeShape shape;  // requests of one shape are checked against it, not verified again
    while (!c->dead.load(std::memory_order_acquire)) {
      Frame f;
      Status st = c->reader.Next(Deadline::Never(), &f);
      if (!st) {
        if (st.code() == Errc::kCanceled) continue;
        Protocol(c, "protocol error: requests ring: %s", st.message());
        return;
      }
      if (f.type != typed::kTypeFlatBuffers) {
        c->reader.Release();
        char t[16];
        std::snprintf(t, sizeof t, "%u", f.type);
        Protocol(c, "protocol error: frame of type %s on the requests ring, want 16", t);
        return;
      }
      const frames::Envelope* env = nullptr;
      st = detail::CopyAndVerify(f.data, f.size, &buf, &env, &shape);
      const std::size_t n = f.size;
      if (!st) {
        c->reader.Release();
        Protocol(c, "protocol error: request: %s", st.message());
        return;
      }
      const frames::Kind k = env->kind();
      if (k != frames::Kind::Request && k != frames::Kind::OneWay) {
        Protocol(c, "protocol error: request envelope of kind %s", frames::EnumNameKind(k));
        return;
      }
      const std::uint64_t corr = env->correlation_id();
      if (k == frames::Kind::Request && corr == 0) {
        Protocol(c, "protocol error: %s with correlation id 0", "Request");
        return;
      }
      const std::int64_t udl = env->deadline_unix_nano();
      if (udl > 0 && sys::RealtimeNanos() > udl) {
        c->reader.Release();
        n_expired_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      const Deadline dl = detail::FromUnixDeadline(udl);
      if (opts_.workers == 0) {
        // The handler reads our copy, yet the request's ring space is released only once it has
        // replied: Release zeroes lines the client still holds, and its seq-cst store of head would wait
        // for them; after the response it costs the caller nothing. (A slow inline handler holds one
        // request's space meanwhile; the connection reads nothing more until it returns anyway.)
        c->calls.store(c->calls.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        Handle(c, env, dl, k == frames::Kind::OneWay, corr, udl);
        c->reader.Release();
        c->writer.PrefetchNext();  // while we wait for the next request
      } else {
        c->reader.Release();
        Enqueue(c, &buf, n, dl, k == frames::Kind::OneWay);
      }
    }
  }

  void Handle(detail::Conn* c, const frames::Envelope* env, Deadline dl, bool one_way, std::uint64_t corr,
              std::int64_t udl) {
    Request req;
    req.envelope = env;
    req.deadline = dl;
    req.generation = c->generation;
    Responder r(this, c, &req, one_way, corr, udl);
#if defined(__cpp_exceptions)
    try {
      handler_(req, r);
    } catch (const std::exception& e) {
      n_exc_.fetch_add(1, std::memory_order_relaxed);
      char m[200];
      std::snprintf(m, sizeof m, "handler threw: %s", e.what());
      if (!r.replied()) (void)r.Fail(code::kInternal, m);
    } catch (...) {
      n_exc_.fetch_add(1, std::memory_order_relaxed);
      if (!r.replied()) (void)r.Fail(code::kInternal, "handler threw a non-std::exception");
    }
#else
    handler_(req, r);
#endif
    if (!r.replied()) (void)r.Fail(code::kOk, nullptr);
  }

  // Queue a request for the workers, moving its buffer (no copy, no allocation once buffers have grown).
  void Enqueue(detail::Conn* c, typed::detail::Buffer* buf, std::size_t, Deadline dl, bool one_way) {
    std::unique_lock<std::mutex> g(q_mu_);
    q_cv_.wait(g, [&] { return q_len_ < kQueueLength || q_stop_ || c->dead.load(); });
    if (q_stop_ || c->dead.load()) return;
    Job& j = queue_[(q_head_ + q_len_) % kQueueLength];
    j.conn = c;
    std::swap(j.buf, *buf);
    j.deadline = dl;
    j.one_way = one_way;
    ++q_len_;
    c->outstanding.fetch_add(1);
    g.unlock();
    q_cv_.notify_all();
  }

  void Work() {
    typed::detail::Buffer mine;
    for (;;) {
      detail::Conn* c = nullptr;
      Deadline dl;
      bool one_way = false;
      {
        std::unique_lock<std::mutex> g(q_mu_);
        q_cv_.wait(g, [&] { return q_len_ > 0 || q_stop_; });
        if (q_len_ == 0) return;
        Job& j = queue_[q_head_];
        q_head_ = (q_head_ + 1) % kQueueLength;
        --q_len_;
        c = j.conn;
        std::swap(mine, j.buf);
        dl = j.deadline;
        one_way = j.one_way;
      }
      q_cv_.notify_all();
      if (!c->dead.load()) {
        n_calls_.fetch_add(1, std::memory_order_relaxed);
        const frames::Envelope* env = flatbuffers::GetRoot<frames::Envelope>(mine.Get(0));
        Handle(c, env, dl, one_way, env->correlation_id(), env->deadline_unix_nano());
      }
      c->outstanding.fetch_sub(1);
    }
  }

  Handler handler_;
  ServerOptions opts_;
  std::string path_;
  int lfd_ = -1;
  std::uint32_t uid_ = 0;
  std::atomic<bool> running_{false};
  sock::Wakeup wake_;
  std::thread monitor_;
  mutable std::mutex conns_mu_;
  std::vector<std::unique_ptr<detail::Conn>> conns_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::size_t> live_{0};
  // Worker queue.
  std::vector<std::thread> workers_;
  std::unique_ptr<Job[]> queue_;
  std::size_t q_head_ = 0, q_len_ = 0;
  bool q_stop_ = false;
  std::mutex q_mu_;
  std::condition_variable q_cv_;
  // Counters.
  std::atomic<std::uint64_t> n_conn_{0}, n_refused_{0}, n_calls_{0}, n_expired_{0}, n_expired_resp_{0}, n_exc_{0},
      n_proto_{0};
};

template <class Build>
Status Responder::Send(std::int32_t status, const char* message, Build& build) {
  const frames::Envelope* rq = req_->envelope;
  auto full = [&](flatbuffers::FlatBufferBuilder& b) {
    Message m = build(b);
    if (m.trace.IsNull() && rq->trace() != nullptr) {
      const frames::TraceContext* t = rq->trace();
      auto tp = t->traceparent() != nullptr ? b.CreateString(t->traceparent()) : 0;
      auto ts = t->tracestate() != nullptr ? b.CreateString(t->tracestate()) : 0;
      m.trace = frames::CreateTraceContext(b, tp, ts);
    }
    auto msg = message != nullptr && message[0] != 0 ? b.CreateString(message) : 0;
    return detail::FinishEnvelope(b, m, frames::Kind::Response, corr_, udl_, status, msg);
  };
  auto emit = [&] { return c_->fw.Build(full, Deadline::Try()); };
  return SendWith(emit);
}

template <class Fill>
Status Responder::SendLaid(std::int32_t status, const char* message, const RawMessage* m, Fill& fill) {
  const frames::Envelope* rq = req_->envelope;
  typed::EnvelopeFields f;
  f.status = status;
  f.kind = frames::Kind::Response;
  f.correlation_id = corr_;
  f.deadline_unix_nano = udl_;
  if (message != nullptr && message[0] != 0) f.status_message = {message, std::strlen(message)};
  if (m != nullptr) {
    f.sequence = m->sequence;
    f.raw = true;
    f.raw_size = m->size;
  }
  if (m != nullptr && m->trace) {
    f.trace = true;
    f.traceparent = m->traceparent;
    f.tracestate = m->tracestate;
  } else if (const frames::TraceContext* t = rq->trace()) {  // the request's (verified, in our copy)
    f.trace = true;
    if (t->traceparent() != nullptr) f.traceparent = {t->traceparent()->c_str(), t->traceparent()->size()};
    if (t->tracestate() != nullptr) f.tracestate = {t->tracestate()->c_str(), t->tracestate()->size()};
  }
  auto emit = [&] { return c_->fw.BuildEnvelope(f, fill, Deadline::Try()); };
  return SendWith(emit);
}

template <class Emit>
Status Responder::SendWith(Emit& emit) {
  if (replied_) return Status::Error(Errc::kState, "reply: this request was already answered");
  replied_ = true;
  if (one_way_) return Status::Ok();  // OneWay: no response is sent
  detail::Conn* c = c_;
  if (udl_ > 0 && sys::RealtimeNanos() > udl_) {
    srv_->n_expired_resp_.fetch_add(1, std::memory_order_relaxed);
    return Status::Error(Errc::kTimeout, "reply: the request's deadline passed; response dropped");
  }
  for (;;) {
    if (c->dead.load(std::memory_order_acquire)) {
      return Status::Error(Errc::kPeerDead, "reply: connection gen %llu is dead: %s",
                           static_cast<unsigned long long>(c->generation), c->reason);
    }
    std::uint64_t head_seen = 0;
    Status st;
    {
      struct Guard {
        detail::Conn* c;
        explicit Guard(detail::Conn* conn) : c(conn) {
          if (c->shared_writer) c->wlock.lock();
        }
        ~Guard() {
          if (c->shared_writer) c->wlock.unlock();
        }
      } g(c);
#if defined(__cpp_exceptions)
      try {
        st = emit();
      } catch (...) {
        (void)c->writer.Abort();  // the claim must not stay open
        throw;
      }
#else
      st = emit();
#endif
      head_seen = c->writer.full_head();  // under the lock: the head this claim found the ring full at
    }
    if (st.ok()) return st;
    if (st.code() != Errc::kFull) return st.Wrap("reply");
    // The client is alive but not reading: wait for space until this response's deadline.
    const WaitOutcome w = WaitFor(
        c->resp_ring, layout::kSpaceSignalOffset, layout::kSpaceWaitersOffset,
        [&] {
          return c->dead.load(std::memory_order_acquire) ||
                 atomics::LoadSeqCst<std::uint64_t>(c->resp_ring, layout::kHeadPositionOffset) != head_seen;
        },
        c->reader.spin_nanos(), req_->deadline, 0, nullptr);
    if (w == WaitOutcome::kTimeout) {
      srv_->n_expired_resp_.fetch_add(1, std::memory_order_relaxed);
      return Status::Error(Errc::kTimeout, "reply: the response ring stayed full until the deadline");
    }
  }
}

}  // namespace channel
}  // namespace framebridge

#endif  // FRAMEBRIDGE_CHANNEL_SERVER_HPP
