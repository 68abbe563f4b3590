// framebridge: zero-copy frames between processes through shared-memory rings (header-only C++17).
//
//   #include <framebridge.hpp>
//   auto seg = framebridge::Segment::Attach("demo");
//   auto w = seg->Writer("requests");
//   auto c = w->Claim(1, 64);          // writable view of 64 bytes inside the ring
//   std::memcpy(c->data, ..., 64); w->Commit(64);
//
// See cpp/README.md and docs/layout.md.
#ifndef FRAMEBRIDGE_HPP
#define FRAMEBRIDGE_HPP

#include "framebridge/layout.hpp"
#include "framebridge/mailbox.hpp"
#include "framebridge/ring.hpp"
#include "framebridge/segment.hpp"
#include "framebridge/status.hpp"

namespace framebridge {

inline Result<framebridge::Writer> Segment::Writer(const std::string& ring) { return framebridge::Writer::Open(*this, ring); }
inline Result<framebridge::Reader> Segment::Reader(const std::string& ring) { return framebridge::Reader::Open(*this, ring); }
inline Result<framebridge::Mailbox> Segment::Mailbox(const std::string& name) {
  return framebridge::Mailbox::Open(*this, name);
}

}  // namespace framebridge

#endif  // FRAMEBRIDGE_HPP
