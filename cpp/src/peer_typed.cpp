// typed-* peer commands, --format fbs (docs/peers.md, "Typed frames"). Built with -fno-exceptions.
#include "peer_typed.hpp"

#include "framebridge/typed.hpp"
#include "typed_content.hpp"

namespace frbpeer {
namespace {

namespace ty = framebridge::typed;
namespace fr = framebridge::frames;

class FbsCodec {
 public:
  static constexpr std::uint32_t kType = ty::kTypeFlatBuffers;
  explicit FbsCodec(fb::Writer* w) : w_(w) {}

  fb::Status BuildTest(std::uint32_t w, std::uint64_t i) {
    return w_.Build([&](flatbuffers::FlatBufferBuilder& b) { return frbtest::BuildTestEnvelope(b, w, i); });
  }

  fb::Status Open(const fb::Frame& f, std::uint64_t* corr) {
    fb::Status st = r_.Open(f, &env_);
    if (st) *corr = env_->correlation_id();
    return st;
  }

  bool CheckTest(std::uint32_t w, std::uint64_t i, char* why, std::size_t cap) {
    return frbtest::CheckTestEnvelope(env_, w, i, why, cap);
  }

  fb::Status BuildResponse() {
    const fr::Envelope* req = env_;
    const bool model = req->payload_type() == fr::Payload::ModelRequest;
    return w_.Build([&](flatbuffers::FlatBufferBuilder& b) {
      flatbuffers::Offset<void> payload;
      if (model) payload = frbtest::BuildModelResponse(b, "v3", 0.5f, 0.5f, 0, 0, 0).Union();
      return fr::CreateEnvelope(b, req->sequence(), 0, 0, fr::Kind::Response, req->correlation_id(), 0, 0,
                                model ? fr::Payload::ModelResponse : fr::Payload::NONE, payload);
    });
  }

  fb::Status BuildRequest(std::uint64_t i, bool minimal, std::size_t* n) {
    return w_.Build(
        [&](flatbuffers::FlatBufferBuilder& b) {
          if (minimal) {
            fr::EnvelopeBuilder e(b);
            e.add_sequence(i);
            e.add_correlation_id(frbtest::TestCorrelation(0, i));
            e.add_kind(fr::Kind::Request);
            return e.Finish();
          }
          float data[256];
          for (int k = 0; k < 256; ++k) data[k] = static_cast<float>(i % 1000) + static_cast<float>(k) / 4.0f;
          auto t = frbtest::BuildTensor(b, fr::DType::Float32, 1, 256, reinterpret_cast<const std::uint8_t*>(data),
                                        sizeof data);
          auto name = b.CreateString("risk");
          auto ver = b.CreateString("v1");
          auto req = fr::CreateModelRequest(b, name, ver, t);
          return fr::CreateEnvelope(b, i, 0, 0, fr::Kind::Request, frbtest::TestCorrelation(0, i), 0, 0,
                                    fr::Payload::ModelRequest, req.Union());
        },
        fb::Deadline::Never(), n);
  }

  bool CheckResponse(std::uint64_t i, bool minimal, char* why, std::size_t cap) {
    frbtest::Checker c(0, i, why, cap);
    c.U("correlation_id", env_->correlation_id(), frbtest::TestCorrelation(0, i));
    c.U("sequence", env_->sequence(), i);
    c.U("kind", static_cast<std::uint64_t>(env_->kind()), static_cast<std::uint64_t>(fr::Kind::Response));
    if (minimal) {
      c.U("payload_type", static_cast<std::uint64_t>(env_->payload_type()), 0);
      return c.ok();
    }
    const fr::ModelResponse* m = env_->payload_as_ModelResponse();
    if (m == nullptr) {
      c.Fail("payload_type = %u, want ModelResponse", static_cast<unsigned>(env_->payload_type()));
      return false;
    }
    const auto* sc = m->scores();
    if (sc == nullptr || sc->size() != 2) {
      c.Fail("scores length = %u, want 2", sc == nullptr ? 0u : sc->size());
      return false;
    }
    c.F("scores[0]", sc->Get(0), 0.5f);
    c.F("scores[1]", sc->Get(1), 0.5f);
    return c.ok();
  }

 private:
  ty::FlatBuffersWriter w_;
  ty::FlatBuffersReader r_;
  const fr::Envelope* env_ = nullptr;
};

}  // namespace

int TypedFbs(const TypedArgs& a) { return TypedDispatch<FbsCodec>(a); }

}  // namespace frbpeer
