// EnvelopeShape: a reader's memory of the last envelope QuickVerifyEnvelope accepted, by the bytes that
// verification read (root offset, identifier, vtables, table soffsets, offsets, the payload type, string
// and vector lengths, string terminators) and the buffer's length. The verification's outcome depends
// on those alone, so a buffer of the same length holding the same bytes there is accepted after a
// masked comparison, the verification's branches and loads skipped; anything else is verified in full
// (and remembered when accepted). The C++ counterpart of Go's frames.Opener, for channels that see one
// shape again and again. Compare a private copy (the bytes must not change between check and use).
#ifndef FRAMEBRIDGE_ENVELOPE_SHAPE_HPP
#define FRAMEBRIDGE_ENVELOPE_SHAPE_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "framebridge/envelope_verify.hpp"

namespace framebridge {
namespace typed {

class EnvelopeShape {
 public:
  // Shapes whose verification reads only within the first kMaxBytes bytes are remembered.
  static constexpr std::size_t kMaxBytes = 256;

  // Whether b[0, n) has the remembered shape (QuickVerifyEnvelope accepts it: it would read the same
  // bytes and find the same values).
  bool Same(const std::uint8_t* b, std::size_t n) const {
    if (n != n_ || n_ == 0) return false;
    std::uint64_t diff = 0;
    for (std::size_t i = 0; i < words_; ++i) {
      std::uint64_t x;
      std::memcpy(&x, b + 8 * i, 8);
      diff |= (x ^ val_[i]) & mask_[i];
    }
    return diff == 0;
  }

  // QuickVerifyEnvelope(b, n); when it accepts, b's shape replaces the remembered one (if its reads lie
  // in the first kMaxBytes bytes; otherwise none is remembered).
  bool Verify(const std::uint8_t* b, std::size_t n) {
    n_ = 0;
    std::memset(seen_, 0, sizeof seen_);
    hi_ = 0;
    over_ = false;
    if (!QuickVerifyEnvelope(b, n, Record{this})) return false;
    const std::size_t words = (hi_ + 7) / 8;
    if (over_ || 8 * words > n) return true;  // accepted, not remembered (the words must lie inside b)
    for (std::size_t i = 0; i < words; ++i) {
      std::memcpy(&mask_[i], seen_ + 8 * i, 8);
      std::memcpy(&val_[i], b + 8 * i, 8);
      val_[i] &= mask_[i];
    }
    words_ = words;
    n_ = n;
    return true;
  }

  // Forget the remembered shape.
  void Reset() { n_ = 0; }

 private:
  struct Record {
    EnvelopeShape* s;
    void operator()(std::size_t at, std::size_t len) const { s->Read(at, len); }
  };
  void Read(std::size_t at, std::size_t len) {
    if (at > kMaxBytes || len > kMaxBytes - at) {
      over_ = true;
      return;
    }
    std::memset(seen_ + at, 0xFF, len);
    if (at + len > hi_) hi_ = at + len;
  }

  std::size_t n_ = 0;      // the remembered buffer's length; 0: none
  std::size_t words_ = 0;  // 8-byte words compared
  std::uint64_t mask_[kMaxBytes / 8] = {};
  std::uint64_t val_[kMaxBytes / 8] = {};
  // Learning: the bytes read, the end of the last, whether one lay beyond kMaxBytes.
  std::uint8_t seen_[kMaxBytes] = {};
  std::size_t hi_ = 0;
  bool over_ = false;
};

}  // namespace typed
}  // namespace framebridge

#endif  // FRAMEBRIDGE_ENVELOPE_SHAPE_HPP
