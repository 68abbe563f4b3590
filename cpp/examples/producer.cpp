// Producer: create a named segment with one SPSC ring and write 1000 frames into it, in place.
#include <cstdio>
#include <cstring>

#include <framebridge.hpp>

namespace fb = framebridge;

int main() {
  fb::Spec spec;
  spec.rings.push_back({"requests", fb::RegionKind::kSPSC, 1 << 20});
  fb::CreateOptions opts;
  opts.replace_stale = true;  // re-create if a previous run died without unlinking
  auto seg = fb::Segment::Create("demo", spec, opts);
  if (!seg.ok()) return std::fprintf(stderr, "%s\n", seg.status().message()), 1;
  auto w = seg->Writer("requests");
  if (!w.ok()) return std::fprintf(stderr, "%s\n", w.status().message()), 1;
  for (int i = 0; i < 1000; ++i) {
    auto c = w->Claim(/*type=*/1, /*n=*/64);  // a writable view inside the ring; waits for space
    if (!c.ok()) return std::fprintf(stderr, "%s\n", c.status().message()), 1;
    int n = std::snprintf(reinterpret_cast<char*>(c->data), c->size, "frame %d", i);
    w->Commit(static_cast<std::size_t>(n));  // publish only the bytes used
  }
  auto stop = w->Claim(2, 0);  // type 2: stop
  if (stop.ok()) w->Commit(0);
  std::puts("producer done");
  return 0;
}
