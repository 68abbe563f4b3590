// Segment: one shared-memory object (memfd or a file under /dev/shm) with a header page and regions.
//
// Create lays out a Spec (rings first, then mailboxes, each in spec order, from offset 4096, page aligned),
// reserves the whole size with posix_fallocate so that a full /dev/shm fails here and not with SIGBUS later,
// writes the header and stores the magic last (seq-cst). Attach maps an existing segment and validates every
// header field as docs/layout.md §2 says, loading each field once. A Segment must outlive the Writers,
// Readers and Mailboxes opened on it.
#ifndef FRAMEBRIDGE_SEGMENT_HPP
#define FRAMEBRIDGE_SEGMENT_HPP

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "framebridge/atomic.hpp"
#include "framebridge/layout.hpp"
#include "framebridge/owner.hpp"
#include "framebridge/status.hpp"
#include "framebridge/sys.hpp"

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 0x0002U
#endif
// File seals (linux/fcntl.h), for C libraries whose fcntl.h lacks them.
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#endif
#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#endif
#ifndef F_SEAL_SEAL
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#endif

namespace framebridge {

enum class RegionKind : std::uint32_t {
  kSPSC = layout::kKindSPSC,
  kMPSC = layout::kKindMPSC,
  kMailbox = layout::kKindMailbox,
};

inline const char* RegionKindName(RegionKind k) {
  switch (k) {
    case RegionKind::kSPSC: return "spsc";
    case RegionKind::kMPSC: return "mpsc";
    case RegionKind::kMailbox: return "mailbox";
  }
  return "unknown";
}

struct RingSpec {
  std::string name;
  RegionKind kind = RegionKind::kSPSC;
  std::uint64_t capacity = 1 << 20;  // data-area bytes, a power of two in [4096, 2^30]
};

struct MailboxSpec {
  std::string name;
  std::uint64_t payload_size = layout::kDefaultMailboxCapacity;  // [1, 2^20]
};

// The regions of a segment: rings first, then mailboxes, each in order.
struct Spec {
  std::vector<RingSpec> rings;
  std::vector<MailboxSpec> mailboxes;
};

// One validated region-table entry, copied out of shared memory at attach: never re-read.
struct Region {
  char name[layout::kRegionNameLength];
  RegionKind kind;
  std::uint64_t offset;
  std::uint64_t length;
  std::uint64_t capacity;
};

namespace detail {

inline bool ValidNameChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

// A region or segment name: 1..31 bytes of [A-Za-z0-9._-].
inline bool ValidName(const char* s, std::size_t n) {
  if (n == 0 || n > layout::kMaxRegionNameLength) return false;
  for (std::size_t i = 0; i < n; ++i) {
    if (!ValidNameChar(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

// A segment name: 1..31 of [A-Za-z0-9._-], not "." or ".." (the file /dev/shm/NAME).
inline bool ValidSegmentName(const std::string& s) {
  if (s.empty() || s.size() > layout::kMaxRegionNameLength || s == "." || s == "..") return false;
  for (char c : s) {
    if (!ValidNameChar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

inline bool IsPow2(std::uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

inline Status CheckCapacity(RegionKind kind, std::uint64_t cap) {
  if (kind == RegionKind::kMailbox) {
    if (cap < layout::kMinMailboxCapacity || cap > layout::kMaxMailboxCapacity) {
      return Status::Error(Errc::kCorrupt, "RegionCapacity = %llu, want a mailbox payload size in [1, 2^20]",
                           static_cast<unsigned long long>(cap));
    }
    return Status::Ok();
  }
  if (!IsPow2(cap) || cap < layout::kMinRingCapacity || cap > layout::kMaxRingCapacity) {
    return Status::Error(Errc::kCorrupt, "RegionCapacity = %llu, want a power of two in [4096, 2^30]",
                         static_cast<unsigned long long>(cap));
  }
  return Status::Ok();
}

inline std::uint64_t RegionLengthFor(RegionKind kind, std::uint64_t cap) {
  return kind == RegionKind::kMailbox ? layout::MailboxRegionLength(cap) : layout::RingRegionLength(cap);
}

inline Status SysError(const char* what, int err) {
  return Status::Error(err == ENOSPC ? Errc::kNoSpace : Errc::kSystem, "%s: %s", what, std::strerror(err));
}

inline std::string ShmPath(const std::string& name) { return "/dev/shm/" + name; }

}  // namespace detail

class Writer;
class Reader;
class Mailbox;

struct CreateOptions {
  bool replace_stale = false;  // re-create NAME if its creator is dead (generation + 1)
};

class Segment {
 public:
  Segment() = default;
  Segment(Segment&& o) noexcept { MoveFrom(o); }
  Segment& operator=(Segment&& o) noexcept {
    if (this != &o) {
      Close();
      MoveFrom(o);
    }
    return *this;
  }
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment() { Close(); }

  // Create a named segment /dev/shm/NAME (mode 0600, O_EXCL); an existing NAME is ErrExists. With
  // opts.replace_stale, an existing NAME whose creator is dead (or that cannot be read) is unlinked and
  // re-created with the old generation + 1; a live creator is still ErrExists.
  static Result<Segment> Create(const std::string& name, const Spec& spec, CreateOptions opts = CreateOptions()) {
    if (!detail::ValidSegmentName(name)) {
      return Status::Error(Errc::kInvalidArgument, "create segment \"%s\": invalid name (1..31 of [A-Za-z0-9._-])",
                           name.c_str());
    }
    std::uint64_t size = 0;
    std::vector<Region> regions;
    Status st = Plan(spec, &regions, &size);
    if (!st) return st.Wrap("create segment \"%s\"", name.c_str());
    const std::string path = detail::ShmPath(name);
    std::uint64_t generation = 1;
    int fd = -1;
    for (int attempt = 0; attempt < 8; ++attempt) {
      fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd >= 0) break;
      if (errno != EEXIST) return detail::SysError("create segment: open", errno).Wrap("%s", path.c_str());
      if (!opts.replace_stale) {
        return Status::Error(Errc::kExists, "create segment \"%s\": %s exists", name.c_str(), path.c_str());
      }
      Result<Segment> old = Attach(name);
      if (old.ok()) {
        if (old->CreatorAlive()) {
          return Status::Error(Errc::kExists, "create segment \"%s\": exists, creator pid %u is alive", name.c_str(),
                               old->creator_pid_);
        }
        generation = old->generation_ + 1;
      } else if (old.code() == Errc::kNotFound) {
        continue;  // gone meanwhile
      } else if (old.code() != Errc::kCorrupt && old.code() != Errc::kVersionMismatch) {
        Status e = old.status();
        return e.Wrap("create segment \"%s\": replace stale", name.c_str());
      }
      if (unlink(path.c_str()) != 0 && errno != ENOENT) return detail::SysError("create segment: unlink", errno);
    }
    if (fd < 0) return Status::Error(Errc::kExists, "create segment \"%s\": keeps existing", name.c_str());
    fchmod(fd, 0600);
    Result<Segment> r = Init(fd, size, regions, generation);
    if (!r.ok()) {
      unlink(path.c_str());
      Status e = r.status();
      return e.Wrap("create segment \"%s\"", name.c_str());
    }
    r->name_ = name;
    r->path_ = path;
    return r;
  }

  // Create an anonymous segment on a memfd (sealed against shrinking and growing). Share it with fd().
  static Result<Segment> CreateMemfd(const std::string& name, const Spec& spec) {
    std::uint64_t size = 0;
    std::vector<Region> regions;
    Status st = Plan(spec, &regions, &size);
    if (!st) return st.Wrap("create memfd segment \"%s\"", name.c_str());
    int fd = sys::MemfdCreate(name.empty() ? "framebridge" : name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return detail::SysError("create memfd segment: memfd_create", errno);
    Result<Segment> r = Init(fd, size, regions, 1);
    if (!r.ok()) return r;
    // Sealed before anyone else can see it: a segment that cannot be sealed is an error, never handed
    // out unsealed (a peer could shrink it under us: SIGBUS).
    if (fcntl(r->fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
      return detail::SysError("create memfd segment: seal (F_ADD_SEALS)", errno);
    }
    r->name_ = name;
    return r;
  }

  // Attach /dev/shm/NAME.
  static Result<Segment> Attach(const std::string& name) {
    if (!detail::ValidSegmentName(name)) {
      return Status::Error(Errc::kInvalidArgument, "attach segment \"%s\": invalid name", name.c_str());
    }
    const std::string path = detail::ShmPath(name);
    // O_NONBLOCK: a FIFO planted under the name must not block the open.
    int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
      int e = errno;
      if (e == ENOENT) return Status::Error(Errc::kNotFound, "attach segment \"%s\": no such segment", name.c_str());
      return detail::SysError("attach segment: open", e).Wrap("%s", path.c_str());
    }
    struct stat stt;
    if (fstat(fd, &stt) != 0 || !S_ISREG(stt.st_mode)) {
      close(fd);
      return Status::Error(Errc::kCorrupt, "attach segment \"%s\": %s is not a regular file", name.c_str(),
                           path.c_str());
    }
    Result<Segment> r = AttachOwnedFd(fd);
    if (!r.ok()) {
      Status e = r.status();
      return e.Wrap("attach segment \"%s\"", name.c_str());
    }
    r->name_ = name;
    r->path_ = path;
    return r;
  }

  // Attach a segment by file descriptor (a memfd received over a socket, or any open file). The fd is
  // duplicated: the caller keeps and closes its own.
  static Result<Segment> AttachFd(int fd) {
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return detail::SysError("attach segment fd: dup", errno);
    return AttachOwnedFd(dup);
  }

  // Unmap and close. Idempotent. Does not unlink a named segment (see Unlink).
  void Close() noexcept {
    if (base_ != nullptr) munmap(base_, static_cast<std::size_t>(size_));
    if (fd_ >= 0) close(fd_);
    base_ = nullptr;
    fd_ = -1;
    size_ = 0;
    region_count_ = 0;
  }

  // Remove the name from /dev/shm (mappings stay valid).
  Status Unlink() {
    if (path_.empty()) return Status::Error(Errc::kInvalidArgument, "unlink: segment has no name in /dev/shm");
    if (unlink(path_.c_str()) != 0) return detail::SysError("unlink", errno).Wrap("%s", path_.c_str());
    return Status::Ok();
  }

  // Whether the name now refers to another generation (or nothing): then re-attach (§7).
  bool IsStale() const {
    if (path_.empty()) return false;
    int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return true;
    std::uint64_t gen = 0;
    ssize_t n = pread(fd, &gen, sizeof gen, layout::kGenerationOffset);
    struct stat a, b;
    bool same = fstat(fd, &a) == 0 && fstat(fd_, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
    close(fd);
    return n != static_cast<ssize_t>(sizeof gen) || gen != generation_ || !same;
  }

  bool CreatorAlive() const { return sys::ProcessAlive(creator_pid_, creator_start_); }

  // Writer, Reader and Mailbox handles for a region (defined in framebridge.hpp).
  Result<framebridge::Writer> Writer(const std::string& ring);
  Result<framebridge::Reader> Reader(const std::string& ring);
  Result<framebridge::Mailbox> Mailbox(const std::string& name);

  const Region* FindRegion(const std::string& name) const {
    for (std::size_t i = 0; i < region_count_; ++i) {
      if (name == regions_[i].name) return &regions_[i];
    }
    return nullptr;
  }

  bool valid() const { return base_ != nullptr; }
  unsigned char* base() const { return base_; }
  std::uint64_t size() const { return size_; }
  int fd() const { return fd_; }
  std::uint64_t generation() const { return generation_; }
  std::uint32_t creator_pid() const { return creator_pid_; }
  const std::string& name() const { return name_; }
  std::size_t region_count() const { return region_count_; }
  const Region& region(std::size_t i) const { return regions_[i]; }

  // Lay out a spec: regions in order from offset 4096; *size is the segment size.
  static Status Plan(const Spec& spec, std::vector<Region>* out, std::uint64_t* size) {
    out->clear();
    std::uint64_t off = layout::kPageSize;
    auto add = [&](const std::string& name, RegionKind kind, std::uint64_t cap) -> Status {
      if (!detail::ValidName(name.data(), name.size())) {
        return Status::Error(Errc::kInvalidArgument, "region \"%s\": name must be 1..31 of [A-Za-z0-9._-]", name.c_str());
      }
      for (const Region& r : *out) {
        if (name == r.name) return Status::Error(Errc::kInvalidArgument, "region \"%s\": duplicate name", name.c_str());
      }
      if (kind != RegionKind::kSPSC && kind != RegionKind::kMPSC && kind != RegionKind::kMailbox) {
        return Status::Error(Errc::kInvalidArgument, "region \"%s\": unknown kind", name.c_str());
      }
      Status st = detail::CheckCapacity(kind, cap);
      if (!st) {
        return Status::Error(Errc::kInvalidArgument, "region \"%s\": %s", name.c_str(), st.message());
      }
      if (out->size() >= layout::kMaxRegions) {
        return Status::Error(Errc::kInvalidArgument, "more than %zu regions", layout::kMaxRegions);
      }
      Region r{};
      std::memcpy(r.name, name.data(), name.size());
      r.kind = kind;
      r.offset = off;
      r.length = detail::RegionLengthFor(kind, cap);
      r.capacity = cap;
      off += r.length;  // at most 32 * (2^30 + 4096): no overflow
      out->push_back(r);
      return Status::Ok();
    };
    for (const RingSpec& r : spec.rings) {
      if (r.kind == RegionKind::kMailbox) {
        return Status::Error(Errc::kInvalidArgument, "ring \"%s\": kind must be spsc or mpsc", r.name.c_str());
      }
      Status st = add(r.name, r.kind, r.capacity);
      if (!st) return st;
    }
    for (const MailboxSpec& m : spec.mailboxes) {
      Status st = add(m.name, RegionKind::kMailbox, m.payload_size);
      if (!st) return st;
    }
    if (out->empty()) return Status::Error(Errc::kInvalidArgument, "a spec needs at least one region");
    *size = off;
    return Status::Ok();
  }

 private:
  void MoveFrom(Segment& o) noexcept {
    base_ = o.base_;
    size_ = o.size_;
    fd_ = o.fd_;
    generation_ = o.generation_;
    creator_pid_ = o.creator_pid_;
    creator_start_ = o.creator_start_;
    region_count_ = o.region_count_;
    std::memcpy(regions_, o.regions_, sizeof regions_);
    name_ = std::move(o.name_);
    path_ = std::move(o.path_);
    o.base_ = nullptr;
    o.fd_ = -1;
    o.size_ = 0;
    o.region_count_ = 0;
  }

  // Reserve, map and write the header of a fresh segment on fd (taking ownership of fd).
  static Result<Segment> Init(int fd, std::uint64_t size, const std::vector<Region>& regions, std::uint64_t generation) {
    Segment seg;
    seg.fd_ = fd;
    int err = posix_fallocate(fd, 0, static_cast<off_t>(size));
    if (err != 0) return detail::SysError("fallocate", err);
    void* p = mmap(nullptr, static_cast<std::size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return detail::SysError("mmap", errno);
    seg.base_ = static_cast<unsigned char*>(p);
    seg.size_ = size;
    seg.generation_ = generation;
    seg.creator_pid_ = sys::SelfPid();
    seg.creator_start_ = sys::SelfStart();
    unsigned char* b = seg.base_;
    using atomics::StoreRelaxed;
    StoreRelaxed<std::uint32_t>(b, layout::kVersionOffset, layout::kLayoutVersion);
    StoreRelaxed<std::uint32_t>(b, layout::kHeaderLengthOffset, layout::kHeaderLength);
    StoreRelaxed<std::uint64_t>(b, layout::kSegmentSizeOffset, size);
    StoreRelaxed<std::uint64_t>(b, layout::kGenerationOffset, generation);
    StoreRelaxed<std::uint32_t>(b, layout::kCreatorPIDOffset, seg.creator_pid_);
    StoreRelaxed<std::uint32_t>(b, layout::kRegionCountOffset, static_cast<std::uint32_t>(regions.size()));
    StoreRelaxed<std::uint64_t>(b, layout::kCreatorStartOffset, seg.creator_start_);
    StoreRelaxed<std::uint64_t>(b, layout::kCreatedUnixNanoOffset, static_cast<std::uint64_t>(sys::RealtimeNanos()));
    for (std::size_t i = 0; i < regions.size(); ++i) {
      const Region& r = regions[i];
      const std::size_t e = layout::kRegionTableOffset + i * layout::kRegionEntryLength;
      StoreRelaxed<std::uint32_t>(b, e + layout::kRegionKindOffset, static_cast<std::uint32_t>(r.kind));
      StoreRelaxed<std::uint32_t>(b, e + layout::kRegionFlagsOffset, 0);
      StoreRelaxed<std::uint64_t>(b, e + layout::kRegionOffsetOffset, r.offset);
      StoreRelaxed<std::uint64_t>(b, e + layout::kRegionLengthOffset, r.length);
      StoreRelaxed<std::uint64_t>(b, e + layout::kRegionCapacityOffset, r.capacity);
      std::memcpy(b + e + layout::kRegionNameOffset, r.name, layout::kRegionNameLength);
      seg.regions_[i] = r;
      if (r.kind != RegionKind::kMailbox) {
        // Sequence numbers start at 1 (§3.1: 0 = none).
        StoreRelaxed<std::uint64_t>(b, static_cast<std::size_t>(r.offset) + layout::kNextSequenceOffset, 1);
      }
    }
    seg.region_count_ = regions.size();
    atomics::StoreSeqCst<std::uint64_t>(b, layout::kMagicOffset, layout::kMagic);  // last
    return Result<Segment>(std::move(seg));
  }

  static Result<Segment> AttachOwnedFd(int fd) {
    Segment seg;
    seg.fd_ = fd;
    struct stat stt;
    if (fstat(fd, &stt) != 0) return detail::SysError("fstat", errno);
    if (stt.st_size < static_cast<off_t>(layout::kHeaderLength)) {
      return Status::Error(Errc::kCorrupt, "object size %lld is smaller than the header page",
                           static_cast<long long>(stt.st_size));
    }
    const std::uint64_t size = static_cast<std::uint64_t>(stt.st_size);
    void* p = mmap(nullptr, static_cast<std::size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return detail::SysError("mmap", errno);
    seg.base_ = static_cast<unsigned char*>(p);
    seg.size_ = size;
    Status st = seg.Validate();
    if (!st) return st;
    return Result<Segment>(std::move(seg));
  }

  // §2: validate the header from one load of each field.
  Status Validate() {
    const unsigned char* b = base_;
    using atomics::LoadRelaxed;
    const std::uint64_t magic = atomics::LoadAcquire<std::uint64_t>(b, layout::kMagicOffset);
    if (magic != layout::kMagic) {
      return Status::Error(Errc::kCorrupt, "Magic = 0x%016llx, want 0x%016llx (\"FRBRIDGE\")",
                           static_cast<unsigned long long>(magic), static_cast<unsigned long long>(layout::kMagic));
    }
    const std::uint32_t version = LoadRelaxed<std::uint32_t>(b, layout::kVersionOffset);
    if (version != layout::kLayoutVersion) {
      return Status::Error(Errc::kVersionMismatch, "Version = %u, this library reads layout version %u", version,
                           layout::kLayoutVersion);
    }
    const std::uint32_t hlen = LoadRelaxed<std::uint32_t>(b, layout::kHeaderLengthOffset);
    if (hlen != layout::kHeaderLength) {
      return Status::Error(Errc::kCorrupt, "HeaderLength = %u, want %u", hlen, layout::kHeaderLength);
    }
    const std::uint64_t ssize = LoadRelaxed<std::uint64_t>(b, layout::kSegmentSizeOffset);
    if (ssize != size_) {
      return Status::Error(Errc::kCorrupt, "SegmentSize = %llu, but the object is %llu bytes",
                           static_cast<unsigned long long>(ssize), static_cast<unsigned long long>(size_));
    }
    const std::uint64_t gen = LoadRelaxed<std::uint64_t>(b, layout::kGenerationOffset);
    if (gen < 1) return Status::Error(Errc::kCorrupt, "Generation = 0, want >= 1");
    const std::uint32_t count = LoadRelaxed<std::uint32_t>(b, layout::kRegionCountOffset);
    if (count < 1 || count > layout::kMaxRegions) {
      return Status::Error(Errc::kCorrupt, "RegionCount = %u, want 1..%zu", count, layout::kMaxRegions);
    }
    generation_ = gen;
    creator_pid_ = LoadRelaxed<std::uint32_t>(b, layout::kCreatorPIDOffset);
    creator_start_ = LoadRelaxed<std::uint64_t>(b, layout::kCreatorStartOffset);
    for (std::uint32_t i = 0; i < count; ++i) {
      const std::size_t e = layout::kRegionTableOffset + i * layout::kRegionEntryLength;
      Region r{};
      for (std::size_t k = 0; k < layout::kRegionNameLength; ++k) {
        r.name[k] = static_cast<char>(LoadRelaxed<unsigned char>(b, e + layout::kRegionNameOffset + k));
      }
      char shown[layout::kRegionNameLength + 1];
      for (std::size_t k = 0; k < layout::kRegionNameLength; ++k) {
        const unsigned char c = static_cast<unsigned char>(r.name[k]);
        shown[k] = c == 0 ? 0 : (c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
      }
      shown[layout::kRegionNameLength] = 0;
      const std::uint32_t kind = LoadRelaxed<std::uint32_t>(b, e + layout::kRegionKindOffset);
      const std::uint32_t flags = LoadRelaxed<std::uint32_t>(b, e + layout::kRegionFlagsOffset);
      const std::uint64_t off = LoadRelaxed<std::uint64_t>(b, e + layout::kRegionOffsetOffset);
      const std::uint64_t len = LoadRelaxed<std::uint64_t>(b, e + layout::kRegionLengthOffset);
      const std::uint64_t cap = LoadRelaxed<std::uint64_t>(b, e + layout::kRegionCapacityOffset);
      auto bad = [&](const char* field, unsigned long long v, const char* want) {
        return Status::Error(Errc::kCorrupt, "region %u (\"%s\"): %s = %llu, want %s", i, shown, field, v, want);
      };
      if (kind != layout::kKindSPSC && kind != layout::kKindMPSC && kind != layout::kKindMailbox) {
        return bad("RegionKind", kind, "1 (spsc), 2 (mpsc) or 3 (mailbox)");
      }
      if (flags != 0) return bad("RegionFlags", flags, "0");
      if (off % layout::kPageSize != 0 || off < layout::kPageSize) return bad("RegionOffset", off, "a multiple of 4096, >= 4096");
      if (len % layout::kPageSize != 0 || len == 0) return bad("RegionLength", len, "a non-zero multiple of 4096");
      if (off > size_ || len > size_ - off) return bad("RegionOffset+RegionLength", off + len, "<= SegmentSize");
      r.kind = static_cast<RegionKind>(kind);
      Status cs = detail::CheckCapacity(r.kind, cap);
      if (!cs) return Status::Error(Errc::kCorrupt, "region %u (\"%s\"): %s", i, shown, cs.message());
      const std::uint64_t want = detail::RegionLengthFor(r.kind, cap);
      if (len != want) {
        char w[32];
        std::snprintf(w, sizeof w, "%llu", static_cast<unsigned long long>(want));
        return bad("RegionLength", len, w);
      }
      std::size_t nlen = 0;
      while (nlen < layout::kRegionNameLength && r.name[nlen] != 0) ++nlen;
      bool padded = nlen < layout::kRegionNameLength;
      for (std::size_t k = nlen; k < layout::kRegionNameLength; ++k) padded = padded && r.name[k] == 0;
      if (!detail::ValidName(r.name, nlen) || !padded) {
        return Status::Error(Errc::kCorrupt, "region %u (\"%s\"): RegionName is not 1..31 of [A-Za-z0-9._-], NUL padded",
                             i, shown);
      }
      for (std::uint32_t j = 0; j < i; ++j) {
        const Region& o = regions_[j];
        if (std::strcmp(o.name, r.name) == 0) {
          return Status::Error(Errc::kCorrupt, "region %u (\"%s\"): RegionName duplicates region %u", i, shown, j);
        }
        if (off < o.offset + o.length && o.offset < off + len) {
          return Status::Error(Errc::kCorrupt, "region %u (\"%s\"): [%llu, %llu) overlaps region %u (\"%s\")", i, shown,
                               static_cast<unsigned long long>(off), static_cast<unsigned long long>(off + len), j,
                               o.name);
        }
      }
      r.offset = off;
      r.length = len;
      r.capacity = cap;
      regions_[i] = r;
      region_count_ = i + 1;
    }
    return Status::Ok();
  }

  unsigned char* base_ = nullptr;
  std::uint64_t size_ = 0;
  int fd_ = -1;
  std::uint64_t generation_ = 0;
  std::uint32_t creator_pid_ = 0;
  std::uint64_t creator_start_ = 0;
  std::size_t region_count_ = 0;
  Region regions_[layout::kMaxRegions] = {};
  std::string name_;
  std::string path_;
};

}  // namespace framebridge

#endif  // FRAMEBRIDGE_SEGMENT_HPP
