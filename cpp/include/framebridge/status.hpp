// Errors as values: Status (code + message) and Result<T>. No exceptions; builds with -fno-exceptions.
#ifndef FRAMEBRIDGE_STATUS_HPP
#define FRAMEBRIDGE_STATUS_HPP

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace framebridge {

// Error codes; the numeric values are the C ABI's (framebridge.h, FRB_E*).
enum class Errc : int {
  kOk = 0,
  kCorrupt = -1,          // ErrCorrupt: shared memory holds bytes the protocol does not allow
  kVersionMismatch = -2,  // ErrVersionMismatch: a different layout version
  kBusy = -3,             // ErrBusy: the slot is held by a live process
  kPeerDead = -4,         // ErrPeerDead: the peer we wait for is dead
  kTimeout = -5,          // the deadline passed
  kEmpty = -6,            // TryNext: no frame now
  kFull = -7,             // TryClaim: no space now
  kInvalidArgument = -8,  // bad argument (name, size, type, spec)
  kTooLarge = -9,         // payload larger than the ring's MaxPayload
  kNotFound = -10,        // no such segment, ring or mailbox
  kExists = -11,          // a live segment of that name exists
  kNoSpace = -12,         // fallocate: not enough shared memory
  kSystem = -13,          // another system call failed (errno in the message)
  kState = -14,           // call out of order (Commit without Claim, ...)
  kClosed = -15,          // handle closed
  kWrongKind = -16,       // a ring opened as a mailbox or the reverse
  // -17 is the C ABI's FRB_ENOMEM.
  kCanceled = -18,        // a blocking call was interrupted (Interrupt)
  kRemoteStatus = -19,    // a channel call's response carried a non-zero status (channel::Response has it)
};

inline const char* ErrcName(Errc c) {
  switch (c) {
    case Errc::kOk: return "ok";
    case Errc::kCorrupt: return "segment corrupt";
    case Errc::kVersionMismatch: return "layout version mismatch";
    case Errc::kBusy: return "busy: held by a live process";
    case Errc::kPeerDead: return "peer dead";
    case Errc::kTimeout: return "timeout";
    case Errc::kEmpty: return "ring empty";
    case Errc::kFull: return "ring full";
    case Errc::kInvalidArgument: return "invalid argument";
    case Errc::kTooLarge: return "frame too large";
    case Errc::kNotFound: return "not found";
    case Errc::kExists: return "already exists";
    case Errc::kNoSpace: return "no space for the segment";
    case Errc::kSystem: return "system call failed";
    case Errc::kState: return "call out of order";
    case Errc::kClosed: return "closed";
    case Errc::kWrongKind: return "wrong region kind";
    case Errc::kCanceled: return "canceled";
    case Errc::kRemoteStatus: return "remote status";
  }
  return "unknown error";
}

// Status: Errc plus a message naming what failed. Cheap when ok (the message buffer is not touched).
class Status {
 public:
  static constexpr std::size_t kMessageCapacity = 256;

  Status() noexcept : code_(Errc::kOk) { msg_[0] = 0; }
  // Copies take the message's bytes only (an ok Status none): a call path that passes Status values
  // along would otherwise copy the whole buffer at every step.
  Status(const Status& o) noexcept { CopyFrom(o); }
  Status& operator=(const Status& o) noexcept {
    if (this != &o) CopyFrom(o);
    return *this;
  }
  static Status Ok() noexcept { return Status(); }
  static Status Error(Errc code, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3))) {
    Status s;
    s.code_ = code;
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(s.msg_, sizeof s.msg_, fmt, ap);
    va_end(ap);
    return s;
  }

  bool ok() const noexcept { return code_ == Errc::kOk; }
  explicit operator bool() const noexcept { return ok(); }
  Errc code() const noexcept { return code_; }
  const char* message() const noexcept { return ok() ? "ok" : msg_; }

  // Prefix the message with context ("attach ring \"x\": ...").
  Status& Wrap(const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3))) {
    if (ok()) return *this;
    char prefix[kMessageCapacity];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[kMessageCapacity];
    std::memcpy(old, msg_, sizeof old);
    std::size_t n = std::strlen(prefix);
    if (n > kMessageCapacity - 3) n = kMessageCapacity - 3;
    std::memcpy(msg_, prefix, n);
    msg_[n++] = ':';
    msg_[n++] = ' ';
    std::size_t m = std::strlen(old);
    if (m > kMessageCapacity - 1 - n) m = kMessageCapacity - 1 - n;
    std::memcpy(msg_ + n, old, m);
    msg_[n + m] = 0;
    return *this;
  }

 private:
  void CopyFrom(const Status& o) noexcept {
    code_ = o.code_;
    if (o.ok()) {
      msg_[0] = 0;
    } else {
      std::memcpy(msg_, o.msg_, ::strnlen(o.msg_, kMessageCapacity - 1) + 1);
      msg_[kMessageCapacity - 1] = 0;
    }
  }

  Errc code_;
  char msg_[kMessageCapacity];
};

// Result<T>: a T or a non-ok Status.
template <class T>
class Result {
 public:
  Result(T v) noexcept(std::is_nothrow_move_constructible<T>::value) : has_(true) { new (&storage_) T(std::move(v)); }
  Result(Status s) noexcept : has_(false), status_(std::move(s)) {
    if (status_.ok()) status_ = Status::Error(Errc::kState, "Result built from an ok Status without a value");
  }
  Result(Result&& o) noexcept(std::is_nothrow_move_constructible<T>::value) : has_(o.has_), status_(o.status_) {
    if (has_) new (&storage_) T(std::move(*o.ptr()));
  }
  Result& operator=(Result&& o) noexcept(std::is_nothrow_move_constructible<T>::value) {
    if (this != &o) {
      reset();
      has_ = o.has_;
      status_ = o.status_;
      if (has_) new (&storage_) T(std::move(*o.ptr()));
    }
    return *this;
  }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ~Result() { reset(); }

  bool ok() const noexcept { return has_; }
  explicit operator bool() const noexcept { return has_; }
  const Status& status() const noexcept { return status_; }
  Errc code() const noexcept { return status_.code(); }
  T& value() & noexcept { return *ptr(); }
  const T& value() const& noexcept { return *ptr(); }
  T&& value() && noexcept { return std::move(*ptr()); }
  T* operator->() noexcept { return ptr(); }
  const T* operator->() const noexcept { return ptr(); }
  T& operator*() & noexcept { return *ptr(); }

 private:
  T* ptr() noexcept { return std::launder(reinterpret_cast<T*>(&storage_)); }
  const T* ptr() const noexcept { return std::launder(reinterpret_cast<const T*>(&storage_)); }
  void reset() noexcept {
    if (has_) ptr()->~T();
    has_ = false;
  }
  bool has_;
  Status status_;
  typename std::aligned_storage<sizeof(T), alignof(T)>::type storage_;
};

}  // namespace framebridge

#endif  // FRAMEBRIDGE_STATUS_HPP
