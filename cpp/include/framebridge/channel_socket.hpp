// The Unix-socket system calls of channels (docs/channels.md §1, §2, §4), in one place: listen with
// stale-socket replacement and a file mode, connect, SO_PEERCRED, the peer's pidfd (SO_PEERPIDFD or
// pidfd_open), one-packet send/receive with an SCM_RIGHTS descriptor, and polls for data or hang-up.
// Every function returns a Status naming the call and the path; descriptors are CLOEXEC.
#ifndef FRAMEBRIDGE_CHANNEL_SOCKET_HPP
#define FRAMEBRIDGE_CHANNEL_SOCKET_HPP

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "framebridge/status.hpp"
#include "framebridge/sys.hpp"
#include "framebridge/wait.hpp"

#ifndef POLLRDHUP
#define POLLRDHUP 0x2000
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux 6.5+ (asm-generic/socket.h); older libc headers lack it
#endif

namespace framebridge {
namespace channel {
namespace sock {

// sun_path holds 108 bytes including the terminating NUL.
constexpr std::size_t kMaxPathLength = sizeof(sockaddr_un::sun_path) - 1;

inline Status Errno(const char* what, const std::string& path, int err) {
  return Status::Error(Errc::kSystem, "%s %s: %s", what, path.c_str(), std::strerror(err));
}

inline Status MakeAddr(const std::string& path, sockaddr_un* a) {
  if (path.empty()) return Status::Error(Errc::kInvalidArgument, "socket path is empty");
  if (path.size() > kMaxPathLength) {
    return Status::Error(Errc::kInvalidArgument,
                         "socket path of %zu bytes is too long: a Unix socket path holds at most %zu (%.60s...)",
                         path.size(), kMaxPathLength, path.c_str());
  }
  if (path.find('\0') != std::string::npos) {
    return Status::Error(Errc::kInvalidArgument, "socket path contains a NUL byte");
  }
  std::memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  std::memcpy(a->sun_path, path.data(), path.size());
  return Status::Ok();
}

inline void CloseFd(int fd) {
  if (fd >= 0) close(fd);
}

// Connect a SOCK_SEQPACKET socket to path; *fd receives it.
inline Status Connect(const std::string& path, int* fd) {
  *fd = -1;
  sockaddr_un a;
  Status st = MakeAddr(path, &a);
  if (!st) return st;
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return Errno("socket for", path, errno);
  int r;
  do {
    r = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    const int e = errno;
    close(s);
    if (e == ENOENT) return Status::Error(Errc::kNotFound, "connect %s: no such socket (is the server running?)", path.c_str());
    if (e == ECONNREFUSED) {
      return Status::Error(Errc::kNotFound, "connect %s: connection refused (no server listens there)", path.c_str());
    }
    if (e == EACCES) return Status::Error(Errc::kSystem, "connect %s: permission denied (socket file mode)", path.c_str());
    return Errno("connect", path, e);
  }
  *fd = s;
  return Status::Ok();
}

// Bind and listen at path with the given file mode (the umask does not widen it: the mode is set
// before listen, so no client can connect through a wider mode). A stale socket file (connect gets
// ECONNREFUSED) is replaced; a live listener or any other file is an error.
inline Status Listen(const std::string& path, unsigned mode, int backlog, int* fd) {
  *fd = -1;
  sockaddr_un a;
  Status st = MakeAddr(path, &a);
  if (!st) return st;
  if (mode > 0777) return Status::Error(Errc::kInvalidArgument, "socket mode %o is not a permission mode (0..0777)", mode);
  struct stat sb;
  if (lstat(path.c_str(), &sb) == 0) {
    if (!S_ISSOCK(sb.st_mode)) {
      return Status::Error(Errc::kExists, "listen %s: the path exists and is not a socket; left alone (remove it or pick another path)",
                           path.c_str());
    }
    int probe = -1;
    Status cs = Connect(path, &probe);
    if (cs.ok()) {
      close(probe);
      return Status::Error(Errc::kExists, "listen %s: a live server already listens there", path.c_str());
    }
    if (cs.code() != Errc::kNotFound) return cs.Wrap("listen: probing the existing socket");
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("listen: removing the stale socket", path, errno);
  }
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return Errno("socket for", path, errno);
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const int e = errno;
    close(s);
    if (e == ENOENT) {
      return Status::Error(Errc::kNotFound, "listen %s: the directory does not exist (create it first)", path.c_str());
    }
    if (e == EADDRINUSE) return Status::Error(Errc::kExists, "listen %s: address in use", path.c_str());
    return Errno("bind", path, e);
  }
  if (chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
    const int e = errno;
    close(s);
    unlink(path.c_str());
    return Errno("chmod", path, e);
  }
  if (listen(s, backlog) != 0) {
    const int e = errno;
    close(s);
    unlink(path.c_str());
    return Errno("listen", path, e);
  }
  *fd = s;
  return Status::Ok();
}

// The peer's credentials (SO_PEERCRED).
inline Status PeerCred(int fd, ucred* out) {
  socklen_t len = sizeof *out;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, out, &len) != 0 || len != sizeof *out) {
    return Status::Error(Errc::kSystem, "SO_PEERCRED: %s", std::strerror(errno));
  }
  return Status::Ok();
}

// Send one packet, with descriptor pass_fd as SCM_RIGHTS when >= 0.
inline Status SendPacket(int fd, const void* buf, std::size_t n, int pass_fd) {
  iovec iov;
  iov.iov_base = const_cast<void*>(buf);
  iov.iov_len = n;
  msghdr m;
  std::memset(&m, 0, sizeof m);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
  if (pass_fd >= 0) {
    std::memset(cbuf, 0, sizeof cbuf);
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  ssize_t r;
  do {
    r = sendmsg(fd, &m, MSG_NOSIGNAL);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Status::Error(Errc::kSystem, "send packet: %s", std::strerror(errno));
  if (static_cast<std::size_t>(r) != n) return Status::Error(Errc::kSystem, "send packet: %zd of %zu bytes sent", r, n);
  return Status::Ok();
}

// What RecvPacket received.
struct Packet {
  std::size_t size = 0;    // bytes received (at most the buffer's capacity)
  bool truncated = false;  // the packet was larger than the buffer
  int fds[4] = {-1, -1, -1, -1};
  int nfds = 0;            // descriptors received (extra ones beyond 4 are closed)
  bool eof = false;        // the peer closed (0 bytes, no packet)
};

// Receive one packet (MSG_CMSG_CLOEXEC). The caller owns and must close p->fds[0..nfds).
inline Status RecvPacket(int fd, void* buf, std::size_t cap, Packet* p) {
  *p = Packet();
  iovec iov;
  iov.iov_base = buf;
  iov.iov_len = cap;
  msghdr m;
  std::memset(&m, 0, sizeof m);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 16)];
  m.msg_control = cbuf;
  m.msg_controllen = sizeof cbuf;
  ssize_t r;
  do {
    r = recvmsg(fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Status::Error(errno == EAGAIN ? Errc::kEmpty : Errc::kSystem, "receive packet: %s", std::strerror(errno));
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0)) continue;
    const std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < k; ++i) {
      int f;
      std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
      if (p->nfds < 4) {
        p->fds[p->nfds] = f;
      } else {
        close(f);
      }
      ++p->nfds;
    }
  }
  if (p->nfds > 4) {
    for (int& f : p->fds) CloseFd(f), f = -1;
  }
  p->truncated = (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
  p->size = static_cast<std::size_t>(r);
  p->eof = r == 0 && p->nfds == 0 && !p->truncated;
  return Status::Ok();
}

enum class PollResult { kReadable, kHangup, kTimeout };

// Wait until fd is readable or hung up, or dl (CLOCK_MONOTONIC) passes.
inline PollResult PollIn(int fd, Deadline dl) {
  for (;;) {
    int timeout_ms = -1;
    if (!dl.is_never()) {
      const std::int64_t left = dl.at_ns - sys::MonotonicNanos();
      if (left <= 0) timeout_ms = 0;
      else timeout_ms = left / 1000000 > 1000000 ? 1000000 : static_cast<int>((left + 999999) / 1000000);
    }
    pollfd p;
    p.fd = fd;
    p.events = POLLIN | POLLRDHUP;
    p.revents = 0;
    int r = poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return PollResult::kHangup;
    if (r == 0) {
      if (timeout_ms == 0) return PollResult::kTimeout;
      continue;
    }
    if ((p.revents & POLLIN) != 0) return PollResult::kReadable;
    return PollResult::kHangup;
  }
}

// The peer process behind a connected socket, for liveness (docs/channels.md §4).
struct PeerProcess {
  int pidfd = -1;       // polls readable once the peer exited; -1: watch the socket alone
  bool exited = false;  // the peer is already gone (its pid names no process)
  std::uint32_t pid = 0;
};

// OpenPeerPidfd's fallback where SO_PEERPIDFD is missing: pidfd_open(pid), then the socket is looked at
// once more: at end of file the peer may have died and its pid been reused, so the pidfd is not used
// (the socket's end of file tells). ESRCH: the pid names no process, the peer exited.
inline PeerProcess OpenPidfdChecked(int sock, std::uint32_t pid) {
  PeerProcess pp;
  pp.pid = pid;
  const int fd = sys::PidfdOpen(pid);
  if (fd < 0) {
    pp.exited = errno == ESRCH;
    return pp;
  }
  (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
  pollfd p{sock, static_cast<short>(POLLIN | POLLRDHUP), 0};
  int r;
  do {
    r = poll(&p, 1, 0);
  } while (r < 0 && errno == EINTR);
  if (r != 0 && (r < 0 || (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)) != 0)) {
    close(fd);
    return pp;
  }
  pp.pidfd = fd;
  return pp;
}

// Open a pidfd of the socket's peer (docs/channels.md §4), after a successful handshake in which the peer
// said its pid was handshake_pid: only when SO_PEERCRED's pid equals it (else, e.g. a pre-fork server,
// the socket alone is watched). SO_PEERPIDFD first (free of pid reuse), else pidfd_open(pid) and a
// second look at the socket: had the peer died and its pid been reused, the socket would already read
// end of file, and the pidfd is not used. No pidfd at all (ENOPROTOOPT, ENOSYS, EPERM in a sandbox) is
// not an error. The descriptor is close-on-exec; the caller closes it with the connection.
inline PeerProcess OpenPeerPidfd(int sock, std::uint32_t handshake_pid) {
  PeerProcess pp;
  ucred c{};
  socklen_t len = sizeof c;
  if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0 || len != sizeof c || c.pid <= 0 ||
      static_cast<std::uint32_t>(c.pid) != handshake_pid) {
    return pp;
  }
  pp.pid = handshake_pid;
  int fd = -1;
  len = sizeof fd;
  if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0 && len == sizeof fd && fd >= 0) {
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);  // pidfds are born close-on-exec; make sure
    pp.pidfd = fd;
    return pp;
  }
  return OpenPidfdChecked(sock, handshake_pid);
}

// A self-pipe to wake a thread blocked in poll.
class Wakeup {
 public:
  Wakeup() {
    if (pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) fds_[0] = fds_[1] = -1;
  }
  ~Wakeup() {
    CloseFd(fds_[0]);
    CloseFd(fds_[1]);
  }
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;
  bool ok() const { return fds_[0] >= 0; }
  int read_fd() const { return fds_[0]; }
  void Notify() {
    const char c = 1;
    ssize_t r = write(fds_[1], &c, 1);
    (void)r;  // a full pipe already wakes the poller
  }
  void Drain() {
    char b[64];
    while (read(fds_[0], b, sizeof b) > 0) {
    }
  }

 private:
  int fds_[2];
};

}  // namespace sock
}  // namespace channel
}  // namespace framebridge

#endif  // FRAMEBRIDGE_CHANNEL_SOCKET_HPP
