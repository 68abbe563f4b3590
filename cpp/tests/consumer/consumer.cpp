#include <cstdio>
#include <cstring>

#include <framebridge.hpp>

int main() {
  framebridge::Spec spec;
  spec.rings.push_back({"r", framebridge::RegionKind::kSPSC, 4096});
  auto seg = framebridge::Segment::CreateMemfd("consumer", spec);
  if (!seg.ok()) return 1;
  auto w = seg->Writer("r");
  auto r = seg->Reader("r");
  auto c = w->Claim(1, 5);
  std::memcpy(c->data, "hello", 5);
  w->Commit(5);
  auto f = r->Next();
  if (!f.ok() || f->size != 5) return 1;
  std::printf("ok\n");
  return 0;
}
