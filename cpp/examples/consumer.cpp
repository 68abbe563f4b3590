// Consumer: attach the segment, read frames in place until a type-2 frame, releasing in batches.
#include <cstdio>

#include <framebridge.hpp>

namespace fb = framebridge;

int main() {
  auto seg = fb::Segment::Attach("demo");
  if (!seg.ok()) return std::fprintf(stderr, "%s\n", seg.status().message()), 1;
  auto r = seg->Reader("requests");
  if (!r.ok()) return std::fprintf(stderr, "%s\n", r.status().message()), 1;
  for (int n = 0;; ++n) {
    auto f = r->Next(fb::Deadline::After(5'000'000'000));  // wait up to 5 s (spin, then futex)
    if (!f.ok()) return std::fprintf(stderr, "%s\n", f.status().message()), 1;
    if (f->type == 2) break;
    std::printf("seq %llu: %.*s\n", static_cast<unsigned long long>(f->seq), static_cast<int>(f->size),
                reinterpret_cast<const char*>(f->data));  // valid until Release
    if (n % 32 == 31) r->Release();
  }
  r->Release();
  seg->Unlink();
  return 0;
}
