// typed-* peer commands, --format capnp (docs/peers.md, "Typed frames"). Cap'n Proto reports a malformed
// message by throwing kj::Exception, so this file (alone in the peer) is built with exceptions.
#include "peer_typed.hpp"

#include "framebridge/typed_capnp.hpp"
#include "typed_content_capnp.hpp"

namespace frbpeer {
namespace {

namespace ty = framebridge::typed;
namespace cp = framebridge::frames::capnp;

class CapnpCodec {
 public:
  static constexpr std::uint32_t kType = ty::kTypeCapnp;
  explicit CapnpCodec(fb::Writer* w) : w_(w) {}

  fb::Status BuildTest(std::uint32_t w, std::uint64_t i) {
    return w_.Build([&](capnp::MessageBuilder& m) { frbtest::BuildTestEnvelopeCapnp(m, w, i); });
  }

  fb::Status Open(const fb::Frame& f, std::uint64_t* corr) {
    fb::Status st = r_.Open(f, &env_);
    if (st) *corr = env_.getCorrelationId();
    return st;
  }

  bool CheckTest(std::uint32_t w, std::uint64_t i, char* why, std::size_t cap) {
    try {
      return frbtest::CheckTestEnvelopeCapnp(env_, w, i, why, cap);
    } catch (const kj::Exception& e) {
      std::snprintf(why, cap, "writer %u envelope %" PRIu64 ": %s", w, i, e.getDescription().cStr());
      return false;
    }
  }

  fb::Status BuildResponse() {
    const bool model = env_.getPayload().isModelRequest();
    const std::uint64_t seq = env_.getSequence(), corr = env_.getCorrelationId();
    return w_.Build([&](capnp::MessageBuilder& m) {
      auto e = m.initRoot<cp::Envelope>();
      e.setSequence(seq);
      e.setKind(cp::Kind::RESPONSE);
      e.setCorrelationId(corr);
      if (model) frbtest::BuildModelResponseCapnp(e.getPayload().initModelResponse(), "v3", 0.5f, 0.5f, 0, 0, 0);
    });
  }

  fb::Status BuildRequest(std::uint64_t i, bool minimal, std::size_t* n) {
    return w_.Build(
        [&](capnp::MessageBuilder& m) {
          auto e = m.initRoot<cp::Envelope>();
          e.setSequence(i);
          e.setKind(cp::Kind::REQUEST);
          e.setCorrelationId(frbtest::TestCorrelation(0, i));
          if (minimal) return;
          float data[256];
          for (int k = 0; k < 256; ++k) data[k] = static_cast<float>(i % 1000) + static_cast<float>(k) / 4.0f;
          auto r = e.getPayload().initModelRequest();
          r.setModelName("risk");
          r.setModelVersion("v1");
          frbtest::BuildTensorCapnp(r, cp::DType::FLOAT32, 1, 256, reinterpret_cast<const std::uint8_t*>(data),
                                    sizeof data);
        },
        fb::Deadline::Never(), n);
  }

  bool CheckResponse(std::uint64_t i, bool minimal, char* why, std::size_t cap) {
    frbtest::Checker c(0, i, why, cap);
    try {
      c.U("correlationId", env_.getCorrelationId(), frbtest::TestCorrelation(0, i));
      c.U("sequence", env_.getSequence(), i);
      c.U("kind", static_cast<std::uint64_t>(env_.getKind()), static_cast<std::uint64_t>(cp::Kind::RESPONSE));
      auto p = env_.getPayload();
      if (minimal) {
        if (!p.isNone()) c.Fail("payload = %u, want none", static_cast<unsigned>(p.which()));
        return c.ok();
      }
      if (!p.isModelResponse()) {
        c.Fail("payload = %u, want modelResponse", static_cast<unsigned>(p.which()));
        return false;
      }
      auto sc = p.getModelResponse().getScores();
      if (sc.size() != 2) {
        c.Fail("scores length = %u, want 2", sc.size());
        return false;
      }
      c.F("scores[0]", sc[0], 0.5f);
      c.F("scores[1]", sc[1], 0.5f);
    } catch (const kj::Exception& e) {
      c.Fail("%s", e.getDescription().cStr());
    }
    return c.ok();
  }

 private:
  ty::CapnpWriter w_;
  ty::CapnpReader r_;
  cp::Envelope::Reader env_;
};

}  // namespace

int TypedCapnp(const TypedArgs& a) { return TypedDispatch<CapnpCodec>(a); }

}  // namespace frbpeer
