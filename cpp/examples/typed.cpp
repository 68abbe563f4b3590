// Typed frames in C++ (cpp/README.md, "Typed frames"): build a FlatBuffers Envelope in place in a ring
// and read it back verified. Compiled by the tests so the README stays correct.
#include <cstdio>

#include <framebridge.hpp>
#include <framebridge/typed.hpp>

namespace fb = framebridge;
namespace ty = framebridge::typed;
namespace fr = framebridge::frames;

int main() {
  fb::Spec spec;
  spec.rings.push_back({"requests", fb::RegionKind::kSPSC, 1 << 16});
  auto seg = fb::Segment::CreateMemfd("typed-example", spec);
  if (!seg.ok()) return std::fprintf(stderr, "%s\n", seg.status().message()), 1;
  auto w = seg->Writer("requests");
  auto r = seg->Reader("requests");

  // Build in place: the builder's buffer is the claimed ring view; nothing is copied or allocated.
  ty::FlatBuffersWriter tw(&*w);  // keeps an adaptive claim bound and Stats (fallbacks, bytes)
  for (std::uint64_t i = 0; i < 3; ++i) {
    fb::Status st = tw.Build([&](flatbuffers::FlatBufferBuilder& b) {
      auto name = b.CreateString("risk");
      const float features[4] = {0.5f, 1.5f, 2.5f, 3.5f};
      b.ForceVectorAlignment(sizeof features, 1, 16);  // Tensor.data: force_align 16
      auto data = b.CreateVector(reinterpret_cast<const std::uint8_t*>(features), sizeof features);
      const std::int64_t shape[2] = {1, 4};
      auto tensor = fr::CreateTensor(b, fr::DType::Float32, b.CreateVector(shape, 2), data);
      auto req = fr::CreateModelRequest(b, name, b.CreateString("v1"), tensor);
      return fr::CreateEnvelope(b, /*sequence=*/i, 0, 0, fr::Kind::Request, /*correlation_id=*/100 + i, 0, 0,
                                fr::Payload::ModelRequest, req.Union());
    });
    if (!st) return std::fprintf(stderr, "build: %s\n", st.message()), 1;
  }

  // Read: verify (on a private copy by default), then use the generated accessors.
  ty::FlatBuffersReader tr;
  for (int n = 0; n < 3; ++n) {
    auto f = r->Next(fb::Deadline::After(1'000'000'000));
    if (!f.ok()) return std::fprintf(stderr, "%s\n", f.status().message()), 1;
    const fr::Envelope* env = nullptr;
    fb::Status st = tr.Open(*f, &env);  // Errc::kCorrupt if the frame is not a valid Envelope
    if (!st) return std::fprintf(stderr, "frame: %s\n", st.message()), 1;
    if (const fr::ModelRequest* req = env->payload_as_ModelRequest()) {
      std::printf("seq %llu corr %llu model %s, %u feature bytes\n", (unsigned long long)env->sequence(),
                  (unsigned long long)env->correlation_id(), req->model_name()->c_str(), req->features()->data()->size());
    }
    r->Release();
  }
  std::printf("fallbacks %llu\n", (unsigned long long)tw.stats().fallbacks);
  return 0;
}
