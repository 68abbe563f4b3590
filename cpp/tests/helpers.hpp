// Test helpers: private memfd segments and small frame builders.
#ifndef FRAMEBRIDGE_TESTS_HELPERS_HPP
#define FRAMEBRIDGE_TESTS_HELPERS_HPP

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "framebridge.hpp"

namespace fbtest {

namespace fb = framebridge;

inline fb::Spec OneRing(fb::RegionKind kind, std::uint64_t cap = 4096, const char* name = "r") {
  fb::Spec s;
  s.rings.push_back({name, kind, cap});
  return s;
}

inline fb::Segment MakeSegment(const fb::Spec& spec) {
  auto r = fb::Segment::CreateMemfd("test", spec);
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok()) return fb::Segment();
  return std::move(r.value());
}

inline std::vector<std::uint8_t> Payload(std::size_t n, std::uint8_t seed) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(seed + i * 13);
  return v;
}

inline void Write(fb::Writer& w, std::uint32_t type, const std::vector<std::uint8_t>& p) {
  auto c = w.Claim(type, p.size(), fb::Deadline::Try());
  ASSERT_TRUE(c.ok()) << c.status().message();
  if (!p.empty()) std::memcpy(c->data, p.data(), p.size());
  auto st = w.Commit(p.size());
  ASSERT_TRUE(st.ok()) << st.message();
}

inline std::vector<std::uint8_t> Bytes(const fb::Frame& f) { return std::vector<std::uint8_t>(f.data, f.data + f.size); }

// Byte address of region `name` in the segment.
inline unsigned char* RegionBase(fb::Segment& seg, const char* name) {
  const fb::Region* r = seg.FindRegion(name);
  EXPECT_NE(r, nullptr);
  return r == nullptr ? nullptr : seg.base() + r->offset;
}

}  // namespace fbtest

#endif
