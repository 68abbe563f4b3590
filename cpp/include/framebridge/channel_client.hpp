// channel::Client: calls to a channel server (docs/channels.md §2-§7).
//
// Dial connects, sends Hello, checks the Welcome and the segment it carries (exactly the rings
// `requests` and `responses` with the granted capacities, sealed F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL)
// and starts one monitor thread that polls the socket (its end of file is the server's death) and a
// pidfd of the server process where the kernel gives one (docs/channels.md §4: its socket can outlive it
// in a child it forked).
//
// Calls: a request is claimed, built in place and committed under a spin lock held only while the frame
// is built (no system call unless another thread holds it). Responses are read by whichever waiting
// caller is the leader (leader/follower): a caller whose response has not come tries to become the
// leader and reads the response ring itself (spin, then sleep on the ring's eventcount). The leader
// copies each response into its own Response's buffer and verifies it there (flatbuffers Verifier;
// docs/schemas.md: the server could still change the ring's bytes); its own response stays where it is,
// another caller's is handed to that caller's slot by swapping buffers (no copy, no allocation once the
// buffers have grown). With one caller there is no hand-off at all: one copy, one verification, no
// mutex, no system call while the server answers within the spin budget. Followers sleep on a futex
// word of their own slot; a leader that leaves wakes one follower to take over.
//
// Slot states (Slot::tag): 0 free; id pending; id|kBusy a leader is filling it; id|kDone delivered. A
// caller that gives up (deadline) CASes id -> 0, so a response arriving later finds no pending id and is
// dropped and counted (late_responses).
#ifndef FRAMEBRIDGE_CHANNEL_CLIENT_HPP
#define FRAMEBRIDGE_CHANNEL_CLIENT_HPP

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "framebridge/channel_common.hpp"
#include "framebridge/channel_handshake.hpp"
#include "framebridge/channel_socket.hpp"
#include "framebridge/ring.hpp"
#include "framebridge/segment.hpp"
#include "framebridge/typed.hpp"

namespace framebridge {
namespace channel {

// Dial options.
struct DialOptions {
  std::uint32_t request_ring_bytes = 0;   // 0: the server's default
  std::uint32_t response_ring_bytes = 0;  // 0: the server's default
  std::uint32_t max_in_flight = 4096;     // calls pending at once (rounded up to a power of two)
  std::int64_t spin_ns = kDefaultSpinNanos;  // spin before sleeping for a response or for space
};

// Per-call options.
struct CallOptions {
  Deadline deadline = Deadline::Never();  // CLOCK_MONOTONIC; sent as deadline_unix_nano
  bool fail_fast = false;  // a full request ring fails at once with Errc::kFull instead of waiting
};

// A response: the verified envelope, in a buffer the Response owns. Valid until the Response is used
// for another call. Reuse one Response per thread: no allocation once its buffer has grown.
class Response {
 public:
  const frames::Envelope* envelope() const { return env_; }
  std::int32_t code() const { return env_ == nullptr ? 0 : env_->status(); }
  const char* message() const {
    return env_ == nullptr || env_->status_message() == nullptr ? "" : env_->status_message()->c_str();
  }
  std::uint64_t correlation_id() const { return env_ == nullptr ? 0 : env_->correlation_id(); }

 private:
  friend class Client;
  typed::detail::Buffer buf_;
  const frames::Envelope* env_ = nullptr;
};

// A call started with Client::Start, finished with Client::Wait (or given up with Client::Cancel).
struct PendingCall {
  std::uint64_t id = 0;
  Deadline deadline = Deadline::Never();
};

// Counters of a client (relaxed; for display).
struct ClientCounters {
  std::uint64_t calls = 0;              // requests written (calls and sends)
  std::uint64_t late_responses = 0;     // responses for calls no longer pending (late or unknown id)
  std::uint64_t full = 0;               // request ring full when a call started to claim
};

class Client {
 public:
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() { Close(); }

  // Connect to the server at path and complete the handshake before dl.
  static Result<std::unique_ptr<Client>> Dial(const std::string& path, Deadline dl = Deadline::After(5000000000),
                                               DialOptions opts = DialOptions()) {
    std::unique_ptr<Client> c(new Client(opts));
    Status st = c->Handshake(path, dl);
    if (!st) return st.Wrap("dial %s", path.c_str());
    return c;
  }

  // Call: build(flatbuffers::FlatBufferBuilder&) -> Message builds the request in place; the response
  // (verified) is in *out. A non-zero server status returns Errc::kRemoteStatus (out holds code and
  // message); the deadline is Errc::kTimeout; the server's death Errc::kPeerDead.
  template <class Build>
  Status Call(Build&& build, Response* out, const CallOptions& o = CallOptions()) {
    PendingCall pc;
    Status st = Start(static_cast<Build&&>(build), &pc, o);
    if (!st) return st;
    return Wait(&pc, out);
  }

  // Call with a Raw payload laid out without a builder (RawMessage): m.size bytes copied from m.data,
  // or written in place by fill(std::uint8_t* dst). Otherwise as Call.
  Status CallRaw(const RawMessage& m, Response* out, const CallOptions& o = CallOptions()) {
    return CallRaw(m, detail::CopyRaw{&m}, out, o);
  }
  template <class Fill>
  Status CallRaw(const RawMessage& m, Fill&& fill, Response* out, const CallOptions& o = CallOptions()) {
    PendingCall pc;
    Status st = StartRaw(m, fill, &pc, o);
    if (!st) return st;
    return Wait(&pc, out);
  }

  // Start a call without waiting for its response (many may be started by one thread); finish it with
  // Wait or Cancel, exactly once.
  template <class Build>
  Status Start(Build&& build, PendingCall* pc, const CallOptions& o = CallOptions()) {
    return StartWith(
        [&](std::uint64_t id, std::int64_t unix_dl) {
          auto full = [&](flatbuffers::FlatBufferBuilder& b) {
            const Message msg = build(b);
            return detail::FinishEnvelope(b, msg, frames::Kind::Request, id, unix_dl, 0, 0);
          };
          return fw_.Build(full, Deadline::Try());
        },
        pc, o);
  }

  // Start with a Raw payload (RawMessage; see CallRaw).
  Status StartRaw(const RawMessage& m, PendingCall* pc, const CallOptions& o = CallOptions()) {
    return StartRaw(m, detail::CopyRaw{&m}, pc, o);
  }
  template <class Fill>
  Status StartRaw(const RawMessage& m, Fill&& fill, PendingCall* pc, const CallOptions& o = CallOptions()) {
    return StartWith(
        [&](std::uint64_t id, std::int64_t unix_dl) {
          return fw_.BuildEnvelope(RawFields(m, frames::Kind::Request, id, unix_dl), fill, Deadline::Try());
        },
        pc, o);
  }

 private:
  static typed::EnvelopeFields RawFields(const RawMessage& m, frames::Kind kind, std::uint64_t id, std::int64_t unix_dl) {
    typed::EnvelopeFields f;
    f.sequence = m.sequence;
    f.kind = kind;
    f.correlation_id = id;
    f.deadline_unix_nano = unix_dl;
    f.trace = m.trace;
    f.traceparent = m.traceparent;
    f.tracestate = m.tracestate;
    f.raw = true;
    f.raw_size = m.size;
    return f;
  }

  // Take a slot and a correlation id, then write the request with emit(id, unix_deadline) -> Status
  // (called under the write lock, once per attempt to claim; see WriteRequest).
  template <class Emit>
  Status StartWith(Emit&& emit, PendingCall* pc, const CallOptions& o) {
    pc->id = 0;
    pc->deadline = o.deadline;
    if (dead_.load(std::memory_order_acquire)) return PeerDead("call");
    Slot* s = nullptr;
    std::uint64_t id = 0;
    for (std::uint64_t attempt = 0;; ++attempt) {
      id = next_id_.fetch_add(1, std::memory_order_relaxed);
      s = &slots_[id & mask_];
      std::uint64_t z = 0;
      if (s->tag.compare_exchange_strong(z, id, std::memory_order_acq_rel)) break;
      if (attempt > mask_) {
        return Status::Error(Errc::kBusy, "call: %llu calls already in flight (DialOptions.max_in_flight)",
                             static_cast<unsigned long long>(mask_ + 1));
      }
    }
    auto write = [&](std::int64_t unix_dl) { return emit(id, unix_dl); };
    Status st = WriteRequest(write, o);
    if (!st) {
      s->tag.store(0, std::memory_order_release);
      return st;
    }
    pc->id = id;
    return Status::Ok();
  }

 public:

  // Wait for a started call's response until its deadline.
  Status Wait(PendingCall* pc, Response* out) {
    if (pc->id == 0) return Status::Error(Errc::kState, "wait: no call pending");
    const std::uint64_t id = pc->id;
    pc->id = 0;
    return Await(&slots_[id & mask_], id, out, pc->deadline);
  }

  // Give up a started call (its response, if it comes, is dropped and counted late).
  void Cancel(PendingCall* pc) {
    if (pc->id == 0) return;
    Slot* s = &slots_[pc->id & mask_];
    std::uint64_t e = pc->id;
    if (!s->tag.compare_exchange_strong(e, 0, std::memory_order_acq_rel)) {
      while ((s->tag.load(std::memory_order_acquire) & kBusy) != 0) atomics::CpuRelax();
      s->tag.store(0, std::memory_order_release);
    }
    pc->id = 0;
  }

  // Send a OneWay request; returns when it is committed.
  template <class Build>
  Status Send(Build&& build, const CallOptions& o = CallOptions()) {
    if (dead_.load(std::memory_order_acquire)) return PeerDead("send");
    const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    auto write = [&](std::int64_t unix_dl) {
      auto full = [&](flatbuffers::FlatBufferBuilder& b) {
        const Message msg = build(b);
        return detail::FinishEnvelope(b, msg, frames::Kind::OneWay, id, unix_dl, 0, 0);
      };
      return fw_.Build(full, Deadline::Try());
    };
    return WriteRequest(write, o);
  }

  // Send a OneWay request with a Raw payload (RawMessage; see CallRaw).
  Status SendRaw(const RawMessage& m, const CallOptions& o = CallOptions()) { return SendRaw(m, detail::CopyRaw{&m}, o); }
  template <class Fill>
  Status SendRaw(const RawMessage& m, Fill&& fill, const CallOptions& o = CallOptions()) {
    if (dead_.load(std::memory_order_acquire)) return PeerDead("send");
    const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    auto write = [&](std::int64_t unix_dl) {
      return fw_.BuildEnvelope(RawFields(m, frames::Kind::OneWay, id, unix_dl), fill, Deadline::Try());
    };
    return WriteRequest(write, o);
  }

  // Close the connection (the server sees end of file). Calls must not run concurrently with Close.
  // Idempotent; the segment is unmapped here (or in the destructor).
  void Close() {
    if (sock_ >= 0) {
      MarkDead("closed by the client");
      wake_.Notify();
      if (monitor_.joinable()) monitor_.join();
      sock::CloseFd(sock_);
      sock_ = -1;
    }
    sock::CloseFd(pidfd_);
    pidfd_ = -1;
    writer_.Close();
    reader_.Close();
    seg_.Close();
  }

  // Whether the server is known dead (or the connection closed), and why.
  bool dead() const { return dead_.load(std::memory_order_acquire); }
  const char* dead_reason() const { return dead() ? dead_reason_ : ""; }
  std::uint64_t generation() const { return generation_; }
  std::uint32_t server_pid() const { return server_pid_; }
  std::uint32_t request_ring_bytes() const { return req_bytes_; }
  std::uint32_t response_ring_bytes() const { return resp_bytes_; }
  std::uint32_t max_frame_bytes() const { return max_frame_; }
  ClientCounters counters() const {
    ClientCounters c;
    c.calls = calls_.load(std::memory_order_relaxed);
    c.late_responses = late_.load(std::memory_order_relaxed);
    c.full = full_.load(std::memory_order_relaxed);
    return c;
  }

 private:
  static constexpr std::uint64_t kBusy = std::uint64_t{1} << 62;
  static constexpr std::uint64_t kDone = std::uint64_t{1} << 63;

  struct Slot {
    std::atomic<std::uint64_t> tag{0};
    std::atomic<std::uint32_t> word{0};
    std::atomic<std::uint32_t> sleeping{0};
    std::uint32_t stack_pos = 0;
    typed::detail::Buffer buf;
  };

  explicit Client(const DialOptions& o)
      : req_want_(o.request_ring_bytes),
        resp_want_(o.response_ring_bytes),
        spin_ns_(o.spin_ns < 0 ? 0 : o.spin_ns),
        fw_(&writer_) {
    std::uint32_t n = 1;
    while (n < o.max_in_flight && n < (1u << 24)) n <<= 1;
    slots_.reset(new Slot[n]);
    mask_ = n - 1;
    sleep_stack_.reserve(n);
  }

  Status PeerDead(const char* what) const {
    return Status::Error(Errc::kPeerDead, "%s: connection gen %llu is dead: %s", what,
                         static_cast<unsigned long long>(generation_), dead_reason_);
  }

  Status Handshake(const std::string& path, Deadline dl) {
    if (!wake_.ok()) return Status::Error(Errc::kSystem, "pipe: %s", std::strerror(errno));
    Status st = sock::Connect(path, &sock_);
    if (!st) return st;
    handshake::Hello h;
    h.request_ring_bytes = req_want_;
    h.response_ring_bytes = resp_want_;
    h.client_pid = sys::SelfPid();
    std::uint8_t hb[handshake::kHelloLength];
    handshake::EncodeHello(h, hb);
    st = sock::SendPacket(sock_, hb, sizeof hb, -1);
    if (!st) return st.Wrap("send Hello");
    if (sock::PollIn(sock_, dl) == sock::PollResult::kTimeout) {
      return Status::Error(Errc::kTimeout, "no Welcome before the deadline");
    }
    std::uint8_t wb[handshake::kWelcomeLength + 1];
    sock::Packet p;
    st = sock::RecvPacket(sock_, wb, sizeof wb, &p);
    if (!st) return st.Wrap("receive Welcome");
    struct FdCloser {
      sock::Packet* p;
      ~FdCloser() {
        for (int i = 0; i < 4; ++i) sock::CloseFd(p->fds[i]);
      }
    } closer{&p};
    if (p.eof) return Status::Error(Errc::kPeerDead, "the server closed the connection during the handshake");
    if (p.size != handshake::kWelcomeLength || p.truncated) {
      return Status::Error(Errc::kCorrupt, "Welcome of %zu%s bytes, want %zu", p.size, p.truncated ? "+" : "",
                           handshake::kWelcomeLength);
    }
    const handshake::Welcome w = handshake::DecodeWelcome(wb);
    if (w.magic != handshake::kWelcomeMagic) {
      return Status::Error(Errc::kCorrupt, "Welcome magic 0x%08x, want 0x%08x (\"FWCL\")", w.magic, handshake::kWelcomeMagic);
    }
    if (w.status != 0) {
      Errc c = Errc::kSystem;
      if (w.status == 1) c = Errc::kVersionMismatch;
      if (w.status == 3) c = Errc::kInvalidArgument;
      if (w.status == 4) c = Errc::kBusy;
      return Status::Error(c, "server refused: %s: %s", handshake::WelcomeStatusName(w.status), w.message);
    }
    if (w.protocol_version != handshake::kProtocolVersion || w.layout_version != handshake::kLayoutVersion) {
      return Status::Error(Errc::kVersionMismatch,
                           "server speaks channel protocol %u with layout %u; this client speaks protocol %u, layout %u",
                           w.protocol_version, w.layout_version, handshake::kProtocolVersion, handshake::kLayoutVersion);
    }
    if (p.nfds != 1) return Status::Error(Errc::kCorrupt, "Welcome OK with %d descriptors, want exactly 1", p.nfds);
    const int fd = p.fds[0];
    const int seals = fcntl(fd, F_GET_SEALS);
    const int want = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
    if (seals < 0 || (seals & want) != want) {
      return Status::Error(Errc::kCorrupt, "the segment is not sealed (F_GET_SEALS = %d, want SHRINK|GROW|SEAL)", seals);
    }
    Result<Segment> seg = Segment::AttachFd(fd);
    if (!seg.ok()) {
      Status e = seg.status();
      return e.Wrap("attach the connection segment");
    }
    seg_ = std::move(seg.value());
    st = CheckSegment(w);
    if (!st) return st;
    Result<Writer> wr = Writer::Open(seg_, kRequestsRing);
    if (!wr.ok()) return Status(wr.status());
    writer_ = std::move(wr.value());
    Result<Reader> rd = Reader::Open(seg_, kResponsesRing);
    if (!rd.ok()) return Status(rd.status());
    reader_ = std::move(rd.value());
    writer_.set_spin_nanos(spin_ns_);
    reader_.set_spin_nanos(spin_ns_);
    req_ring_ = seg_.base() + seg_.region(0).offset;
    generation_ = w.generation;
    server_pid_ = w.server_pid;
    req_bytes_ = w.request_ring_bytes;
    resp_bytes_ = w.response_ring_bytes;
    max_frame_ = w.max_frame_bytes;
    // §4: the server's pidfd, when SO_PEERCRED's pid (the listener's) is the one its Welcome named.
    const sock::PeerProcess pp = sock::OpenPeerPidfd(sock_, w.server_pid);
    if (pp.exited) {
      return Status::Error(Errc::kPeerDead, "the server process %u exited during the handshake", static_cast<unsigned>(pp.pid));
    }
    pidfd_ = pp.pidfd;
    monitor_ = std::thread([this] { Monitor(); });
    return Status::Ok();
  }

  Status CheckSegment(const handshake::Welcome& w) {
    if (seg_.region_count() != 2) {
      return Status::Error(Errc::kCorrupt, "the connection segment has %zu regions, want 2 (requests, responses)",
                           seg_.region_count());
    }
    const char* names[2] = {kRequestsRing, kResponsesRing};
    const std::uint32_t caps[2] = {w.request_ring_bytes, w.response_ring_bytes};
    for (std::size_t i = 0; i < 2; ++i) {
      const Region& r = seg_.region(i);
      if (std::strcmp(r.name, names[i]) != 0 || r.kind != RegionKind::kSPSC || r.capacity != caps[i]) {
        return Status::Error(Errc::kCorrupt, "region %zu is \"%s\" (%s, %llu bytes), want \"%s\" (spsc, %u bytes)", i,
                             r.name, RegionKindName(r.kind), static_cast<unsigned long long>(r.capacity), names[i],
                             caps[i]);
      }
    }
    return Status::Ok();
  }

  // Poll the socket until end of file / hang-up (the server died or closed) and the server's pidfd until
  // it exits (its socket may live on in a child it forked), or Close.
  void Monitor() {
    for (;;) {
      pollfd p[3];
      p[0].fd = sock_, p[0].events = POLLIN | POLLRDHUP, p[0].revents = 0;
      p[1].fd = wake_.read_fd(), p[1].events = POLLIN, p[1].revents = 0;
      p[2].fd = pidfd_, p[2].events = POLLIN, p[2].revents = 0;  // -1 (none): poll ignores it
      int r = poll(p, 3, -1);
      if (r < 0 && errno == EINTR) continue;
      if (dead_.load(std::memory_order_acquire)) return;
      if (r < 0) {
        MarkDead("poll failed");
        return;
      }
      if (p[2].revents != 0) {
        char why[96];
        std::snprintf(why, sizeof why, "peer-dead: the server process %u exited", static_cast<unsigned>(server_pid_));
        MarkDead(why);
        return;
      }
      if (p[0].revents != 0) {
        char b[16];
        ssize_t n = recv(sock_, b, sizeof b, MSG_DONTWAIT);
        if (n > 0) {
          MarkDead("protocol error: the server sent data on the socket after the handshake");
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
          continue;
        } else {
          MarkDead("peer-dead: the server closed the socket (exited or crashed)");
        }
        return;
      }
    }
  }

  // The connection is over: fail pending calls, wake every sleeper. First reason wins.
  void MarkDead(const char* reason) {
    {
      std::lock_guard<std::mutex> g(dead_mu_);
      if (dead_.load(std::memory_order_relaxed)) return;
      std::snprintf(dead_reason_, sizeof dead_reason_, "%s", reason);
      dead_.store(true, std::memory_order_seq_cst);
    }
    if (sock_ >= 0) shutdown(sock_, SHUT_RDWR);
    if (reader_.valid()) reader_.Interrupt();
    if (req_ring_ != nullptr) detail::WakeRing(req_ring_, layout::kSpaceSignalOffset);
    std::lock_guard<std::mutex> g(sleep_mu_);
    for (std::uint32_t i : sleep_stack_) WakeSlot(&slots_[i]);
  }

  static void WakeSlot(Slot* s) {
    s->word.fetch_add(1, std::memory_order_seq_cst);
    sys::FutexWakeAll(&s->word);
  }

  // Claim, build and commit one request. Waits for space (reading responses meanwhile, so a caller
  // that started many calls cannot deadlock against a server blocked on a full response ring).
  // write(unix_deadline) -> Status claims, builds and commits one frame without waiting (Deadline::Try).
  template <class Write>
  Status WriteRequest(Write& write, const CallOptions& o) {
    const std::int64_t unix_dl = detail::ToUnixDeadline(o.deadline);
    bool counted_full = false;
    for (;;) {
      if (dead_.load(std::memory_order_acquire)) return PeerDead("call");
      std::uint64_t head_seen;
      Status st;
      {
        std::lock_guard<detail::SpinLock> g(wlock_);
#if defined(__cpp_exceptions)
        try {
          st = write(unix_dl);
        } catch (...) {
          (void)writer_.Abort();  // the claim must not stay open
          throw;
        }
#else
        st = write(unix_dl);
#endif
        head_seen = writer_.full_head();  // the head this claim found the ring full at (if it did)
        // Counted under the lock: a plain increment, no read-modify-write.
        if (st.ok()) {
          calls_.store(calls_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
          writer_.PrefetchNext();  // the next request's lines, while this one is answered
        }
      }
      if (st.ok()) return st;
      if (st.code() != Errc::kFull) return st.Wrap("call: write request");
      if (!counted_full) full_.fetch_add(1, std::memory_order_relaxed), counted_full = true;
      if (o.fail_fast) return Status::Error(Errc::kFull, "call: the request ring is full (fail-fast)");
      DrainResponses();
      const WaitOutcome w = WaitFor(
          req_ring_, layout::kSpaceSignalOffset, layout::kSpaceWaitersOffset,
          [&] {
            return dead_.load(std::memory_order_acquire) ||
                   atomics::LoadSeqCst<std::uint64_t>(req_ring_, layout::kHeadPositionOffset) != head_seen;
          },
          spin_ns_, o.deadline, 1000000, nullptr);
      if (w == WaitOutcome::kTimeout) {
        return Status::Error(Errc::kTimeout, "call: the request ring stayed full until the deadline");
      }
    }
  }

  // Dispatch every response available now, if no other thread leads.
  void DrainResponses() {
    std::uint32_t z = 0;
    if (!leader_.compare_exchange_strong(z, 1, std::memory_order_acq_rel)) return;
    for (;;) {
      Frame f;
      if (!reader_.TryNext(&f).ok()) break;
      Dispatch(f, 0, &scratch_);
    }
    reader_.Release();
    Resign();
  }

  Status Await(Slot* s, std::uint64_t id, Response* out, Deadline dl) {
    out->env_ = nullptr;
    for (;;) {
      const std::uint64_t t = s->tag.load(std::memory_order_acquire);
      if (t == (id | kDone)) return Finish(s, out);
      if (dead_.load(std::memory_order_acquire) || (dl.is_try() || (!dl.is_never() && sys::MonotonicNanos() >= dl.at_ns))) {
        std::uint64_t e = id;
        if (s->tag.compare_exchange_strong(e, 0, std::memory_order_acq_rel)) {
          HandOff();
          if (dead_.load(std::memory_order_acquire)) return PeerDead("call");
          return Status::Error(Errc::kTimeout, "call: no response before the deadline (correlation id %llu)",
                               static_cast<unsigned long long>(id));
        }
        atomics::CpuRelax();  // a leader is delivering it
        continue;
      }
      std::uint32_t z = 0;
      if (leader_.compare_exchange_strong(z, 1, std::memory_order_acq_rel)) {
        const bool mine = Lead(s, id, dl, out);
        Resign();
        if (mine) return Own(out);
      } else {
        Follow(s, id, dl);
      }
    }
  }

  // Read responses until ours is delivered (true: into out's buffer; false: to our slot, or not at all
  // when the deadline passed or the connection died).
  bool Lead(Slot* s, std::uint64_t id, Deadline dl, Response* out) {
    for (;;) {
      if (s->tag.load(std::memory_order_acquire) == (id | kDone) || dead_.load(std::memory_order_acquire)) return false;
      // Responses already dispatched (copied) are released here, before waiting, rather than as they are
      // read: Release zeroes lines the server wrote and its seq-cst store of head waits for them, which
      // would delay the caller's return with its response; here it overlaps the server's work on the next.
      reader_.Release();
      Frame f;
      Status st = reader_.Next(dl, &f);
      if (st.ok()) {
        if (Dispatch(f, id, &out->buf_)) return true;
        continue;
      }
      if (st.code() == Errc::kTimeout) return false;
      if (st.code() == Errc::kCanceled) continue;
      char reason[300];
      std::snprintf(reason, sizeof reason, "protocol error: responses ring: %s", st.message());
      MarkDead(reason);
      return false;
    }
  }

  // Copy one response frame into *buf (the leader's), verify it and release it from the ring. The
  // leader's own response (correlation id `self`) stays in *buf and frees its slot: returns true.
  // Another pending call's is handed to its slot by swapping buffers (*buf receives the slot's old one).
  bool Dispatch(const Frame& f, std::uint64_t self, typed::detail::Buffer* buf) {
    if (f.type != typed::kTypeFlatBuffers) {
      reader_.Release();
      char reason[128];
      std::snprintf(reason, sizeof reason, "protocol error: frame of type %u on the responses ring, want 16", f.type);
      MarkDead(reason);
      return false;
    }
    const frames::Envelope* env = nullptr;
    // Released by the next Lead or Drain. Responses of the last shape are checked against it (the leader's
    // alone: leader_ hands it from one leader to the next).
    Status st = detail::CopyAndVerify(f.data, f.size, buf, &env, &resp_shape_);
    if (!st) {
      char reason[300];
      std::snprintf(reason, sizeof reason, "protocol error: response: %s", st.message());
      MarkDead(reason);
      return false;
    }
    if (env->kind() != frames::Kind::Response) {
      char reason[128];
      std::snprintf(reason, sizeof reason, "protocol error: envelope of kind %d on the responses ring, want Response",
                    static_cast<int>(env->kind()));
      MarkDead(reason);
      return false;
    }
    const std::uint64_t id = env->correlation_id();
    if (id == 0 || id >= kBusy) {
      late_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    Slot* s = &slots_[id & mask_];
    if (id == self) {
      // Our own slot: only its caller (we) gives it up, so it is still pending. Free it.
      s->tag.store(0, std::memory_order_release);
      return true;
    }
    std::uint64_t e = id;
    if (!s->tag.compare_exchange_strong(e, id | kBusy, std::memory_order_acq_rel)) {
      // Not pending: late, a duplicate, or never sent. Once the server is dead its callers have failed
      // with kPeerDead and left: a response it committed before dying is not late.
      if (!dead_.load(std::memory_order_acquire)) late_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    std::swap(s->buf, *buf);
    s->tag.store(id | kDone, std::memory_order_seq_cst);
    s->word.fetch_add(1, std::memory_order_seq_cst);
    if (s->sleeping.load(std::memory_order_seq_cst) != 0) sys::FutexWakeAll(&s->word);
    return false;
  }

  // The leader read its own response into out's buffer (Dispatch verified it there).
  Status Own(Response* out) {
    out->env_ = flatbuffers::GetRoot<frames::Envelope>(out->buf_.Get(0));
    if (out->env_->status() != 0) {
      return Status::Error(Errc::kRemoteStatus, "server status %d: %s", out->env_->status(), out->message());
    }
    return Status::Ok();
  }

  // A leader delivered our response to our slot: take its buffer (the bytes moved with it, so the
  // verified root is where it was).
  Status Finish(Slot* s, Response* out) {
    std::swap(out->buf_, s->buf);
    s->tag.store(0, std::memory_order_release);
    HandOff();
    return Own(out);
  }

  void Resign() {
    leader_.store(0, std::memory_order_seq_cst);
    HandOff();
  }

  // If nobody leads and someone sleeps, wake one sleeper to take over.
  void HandOff() {
    if (sleepers_.load(std::memory_order_seq_cst) == 0 || leader_.load(std::memory_order_seq_cst) != 0) return;
    std::lock_guard<std::mutex> g(sleep_mu_);
    if (!sleep_stack_.empty()) WakeSlot(&slots_[sleep_stack_.back()]);
  }

  // Wait for our slot to be delivered or for the leader to leave.
  void Follow(Slot* s, std::uint64_t id, Deadline dl) {
    auto ready = [&] {
      return s->tag.load(std::memory_order_seq_cst) == (id | kDone) || leader_.load(std::memory_order_seq_cst) == 0 ||
             dead_.load(std::memory_order_seq_cst);
    };
    const std::int64_t spin = spin_ns_ < 20000 ? spin_ns_ : 20000;
    if (spin > 0) {
      const std::int64_t t0 = sys::MonotonicNanos();
      for (unsigned i = 1;; ++i) {
        atomics::CpuRelax();
        if (ready()) return;
        if ((i & 63) == 0 && sys::MonotonicNanos() - t0 >= spin) break;
      }
    }
    const std::uint32_t idx = static_cast<std::uint32_t>(s - slots_.get());
    {
      std::lock_guard<std::mutex> g(sleep_mu_);
      s->stack_pos = static_cast<std::uint32_t>(sleep_stack_.size());
      sleep_stack_.push_back(idx);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
    }
    s->sleeping.store(1, std::memory_order_seq_cst);
    const std::uint32_t w = s->word.load(std::memory_order_seq_cst);
    if (!ready()) {
      std::int64_t timeout = -1;
      if (!dl.is_never()) timeout = dl.at_ns - sys::MonotonicNanos();
      if (timeout != 0 && (timeout > 0 || dl.is_never())) sys::FutexWait(&s->word, w, timeout);
    }
    s->sleeping.store(0, std::memory_order_seq_cst);
    {
      std::lock_guard<std::mutex> g(sleep_mu_);
      const std::uint32_t last = sleep_stack_.back();
      sleep_stack_[s->stack_pos] = last;
      slots_[last].stack_pos = s->stack_pos;
      sleep_stack_.pop_back();
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    }
  }

  // Connection.
  int sock_ = -1;
  int pidfd_ = -1;  // the server process's (§4); -1: its socket alone is watched
  sock::Wakeup wake_;
  std::thread monitor_;
  Segment seg_;
  Writer writer_;
  Reader reader_;
  unsigned char* req_ring_ = nullptr;
  std::uint64_t generation_ = 0;
  std::uint32_t server_pid_ = 0, req_bytes_ = 0, resp_bytes_ = 0, max_frame_ = 0;
  std::uint32_t req_want_ = 0, resp_want_ = 0;
  std::int64_t spin_ns_;
  // Death.
  std::mutex dead_mu_;
  std::atomic<bool> dead_{false};
  char dead_reason_[320] = {};
  // Writing requests.
  detail::SpinLock wlock_;
  typed::FlatBuffersWriter fw_;
  std::atomic<std::uint64_t> next_id_{1};
  // Reading responses.
  std::atomic<std::uint32_t> leader_{0};
  typed::detail::Buffer scratch_;  // the leader's, when it drains responses without a Response of its own
  typed::EnvelopeShape resp_shape_;  // the leader's: the last response shape verified
  std::unique_ptr<Slot[]> slots_;
  std::uint64_t mask_ = 0;
  std::mutex sleep_mu_;
  std::vector<std::uint32_t> sleep_stack_;
  std::atomic<std::uint32_t> sleepers_{0};
  // Counters.
  std::atomic<std::uint64_t> calls_{0}, late_{0}, full_{0};
};

}  // namespace channel
}  // namespace framebridge

#endif  // FRAMEBRIDGE_CHANNEL_CLIENT_HPP
