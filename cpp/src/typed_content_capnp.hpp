// The content of typed test envelope i of writer w (docs/peers.md, "Typed frames"), Cap'n Proto. Needs
// exceptions (the accessors throw kj::Exception on a bad message): callers catch them.
#ifndef FRAMEBRIDGE_SRC_TYPED_CONTENT_CAPNP_HPP
#define FRAMEBRIDGE_SRC_TYPED_CONTENT_CAPNP_HPP

#include <capnp/message.h>

#include "framebridge/frames/frame.capnp.h"
#include "typed_content.hpp"

namespace frbtest {

namespace cp = framebridge::frames::capnp;

inline ::capnp::Text::Reader CText(const Text& t) { return ::capnp::Text::Reader(t.s, t.n); }

inline void BuildModelResponseCapnp(cp::ModelResponse::Builder m, const char* version, float s0, float s1,
                                    std::int64_t queue, std::int64_t inference, std::int64_t total) {
  m.setModelName("risk");
  m.setModelVersion(version);
  auto sc = m.initScores(2);
  sc.set(0, s0);
  sc.set(1, s1);
  auto lb = m.initLabels(2);
  lb.set(0, "fraud");
  lb.set(1, "ok");
  m.setQueueNs(queue);
  m.setInferenceNs(inference);
  m.setTotalNs(total);
}

inline void BuildTensorCapnp(cp::ModelRequest::Builder m, cp::DType dtype, std::int64_t rows, std::int64_t cols,
                             const std::uint8_t* data, std::size_t n) {
  auto t = m.initFeatures();
  t.setDtype(dtype);
  auto sh = t.initShape(2);
  sh.set(0, rows);
  sh.set(1, cols);
  t.setData(::capnp::Data::Reader(data, n));
}

// Envelope i of writer w as the root of msg.
inline void BuildTestEnvelopeCapnp(::capnp::MessageBuilder& msg, std::uint32_t w, std::uint64_t i) {
  auto e = msg.initRoot<cp::Envelope>();
  e.setSequence(i);
  if (i % 3 == 2) {
    e.setStatus(5);
    e.setStatusMessage(CText(TestStatusMessage(i)));
  }
  e.setKind(i % 2 == 0 ? cp::Kind::REQUEST : cp::Kind::ONE_WAY);
  e.setCorrelationId(TestCorrelation(w, i));
  e.setDeadlineUnixNano(static_cast<std::int64_t>(static_cast<std::uint64_t>(kDeadlineBase) + i));  // wraps like Go (no signed overflow)
  auto tc = e.initTrace();
  tc.setTraceparent(CText(TestTraceparent(w, i)));
  tc.setTracestate(CText(TestTracestate(i)));
  auto p = e.initPayload();
  switch (i % 3) {
    case 0: {
      auto m = p.initMediaChunk();
      m.setCodec("opus");
      m.setFormat(cp::MediaFormat::OPUS);
      m.setStreamId(w);
      const auto t = static_cast<std::int64_t>(i * 20000000);
      m.setPtsNs(t);
      m.setDtsNs(t);
      m.setDurationNs(20000000);
      m.setSampleRate(48000);
      m.setChannels(2);
      m.setKeyframe(i % 10 == 0);
      std::uint8_t data[160];
      TestMediaData(i, data);
      m.setData(::capnp::Data::Reader(data, 160));
      break;
    }
    case 1: {
      auto m = p.initModelRequest();
      m.setModelName("risk");
      m.setModelVersion(CText(TestModelVersion(i)));
      std::uint8_t data[64];
      TestFeatures(i, data);
      BuildTensorCapnp(m, cp::DType::FLOAT32, 1, 16, data, 64);
      break;
    }
    default: {
      float s0, s1;
      TestScores(i, &s0, &s1);
      const auto ii = static_cast<std::int64_t>(i);
      BuildModelResponseCapnp(p.initModelResponse(), "v3", s0, s1, ii, 2 * ii, 3 * ii);
      break;
    }
  }
}

inline void CS(Checker& c, const char* f, ::capnp::Text::Reader s, const char* want) {
  c.S(f, s.cStr(), s.size(), want, std::strlen(want));
}
inline void CS(Checker& c, const char* f, ::capnp::Text::Reader s, const Text& want) {
  c.S(f, s.cStr(), s.size(), want.s, want.n);
}

// Check every field of an envelope (may throw kj::Exception on a malformed message).
inline bool CheckTestEnvelopeCapnp(cp::Envelope::Reader e, std::uint32_t w, std::uint64_t i, char* why,
                                   std::size_t cap) {
  Checker c(w, i, why, cap);
  c.U("sequence", e.getSequence(), i);
  if (i % 3 == 2) {
    c.I("status", e.getStatus(), 5);
    CS(c, "statusMessage", e.getStatusMessage(), TestStatusMessage(i));
  } else {
    c.I("status", e.getStatus(), 0);
    CS(c, "statusMessage", e.getStatusMessage(), "");
  }
  c.U("kind", static_cast<std::uint64_t>(e.getKind()),
      static_cast<std::uint64_t>(i % 2 == 0 ? cp::Kind::REQUEST : cp::Kind::ONE_WAY));
  c.U("correlationId", e.getCorrelationId(), TestCorrelation(w, i));
  c.I("deadlineUnixNano", e.getDeadlineUnixNano(), static_cast<std::int64_t>(static_cast<std::uint64_t>(kDeadlineBase) + i));  // wraps like Go (no signed overflow)
  if (!e.hasTrace()) {
    c.Fail("trace absent");
  } else {
    auto tc = e.getTrace();
    CS(c, "trace.traceparent", tc.getTraceparent(), TestTraceparent(w, i));
    CS(c, "trace.tracestate", tc.getTracestate(), TestTracestate(i));
  }
  if (!c.ok()) return false;
  auto p = e.getPayload();
  switch (i % 3) {
    case 0: {
      if (!p.isMediaChunk()) {
        c.Fail("payload = %u, want mediaChunk", static_cast<unsigned>(p.which()));
        break;
      }
      auto m = p.getMediaChunk();
      CS(c, "codec", m.getCodec(), "opus");
      c.U("format", static_cast<std::uint64_t>(m.getFormat()), static_cast<std::uint64_t>(cp::MediaFormat::OPUS));
      c.U("streamId", m.getStreamId(), w);
      c.I("ptsNs", m.getPtsNs(), static_cast<std::int64_t>(i * 20000000));
      c.I("dtsNs", m.getDtsNs(), static_cast<std::int64_t>(i * 20000000));
      c.I("durationNs", m.getDurationNs(), 20000000);
      c.U("sampleRate", m.getSampleRate(), 48000);
      c.U("channels", m.getChannels(), 2);
      c.U("width", m.getWidth(), 0);
      c.U("height", m.getHeight(), 0);
      c.U("keyframe", m.getKeyframe(), i % 10 == 0);
      std::uint8_t want[160];
      TestMediaData(i, want);
      auto d = m.getData();
      c.B("data", d.begin(), d.size(), want, 160);
      break;
    }
    case 1: {
      if (!p.isModelRequest()) {
        c.Fail("payload = %u, want modelRequest", static_cast<unsigned>(p.which()));
        break;
      }
      auto m = p.getModelRequest();
      CS(c, "modelName", m.getModelName(), "risk");
      CS(c, "modelVersion", m.getModelVersion(), TestModelVersion(i));
      if (!m.hasFeatures()) {
        c.Fail("features absent");
        break;
      }
      auto t = m.getFeatures();
      c.U("features.dtype", static_cast<std::uint64_t>(t.getDtype()), static_cast<std::uint64_t>(cp::DType::FLOAT32));
      auto sh = t.getShape();
      if (sh.size() != 2) {
        c.Fail("features.shape length = %u, want 2", sh.size());
        break;
      }
      c.I("features.shape[0]", sh[0], 1);
      c.I("features.shape[1]", sh[1], 16);
      std::uint8_t want[64];
      TestFeatures(i, want);
      auto d = t.getData();
      c.B("features.data", d.begin(), d.size(), want, 64);
      break;
    }
    default: {
      if (!p.isModelResponse()) {
        c.Fail("payload = %u, want modelResponse", static_cast<unsigned>(p.which()));
        break;
      }
      auto m = p.getModelResponse();
      CS(c, "modelName", m.getModelName(), "risk");
      CS(c, "modelVersion", m.getModelVersion(), "v3");
      float s0, s1;
      TestScores(i, &s0, &s1);
      auto sc = m.getScores();
      auto lb = m.getLabels();
      if (sc.size() != 2) {
        c.Fail("scores length = %u, want 2", sc.size());
        break;
      }
      if (lb.size() != 2) {
        c.Fail("labels length = %u, want 2", lb.size());
        break;
      }
      c.F("scores[0]", sc[0], s0);
      c.F("scores[1]", sc[1], s1);
      CS(c, "labels[0]", lb[0], "fraud");
      CS(c, "labels[1]", lb[1], "ok");
      const auto ii = static_cast<std::int64_t>(i);
      c.I("queueNs", m.getQueueNs(), ii);
      c.I("inferenceNs", m.getInferenceNs(), 2 * ii);
      c.I("totalNs", m.getTotalNs(), 3 * ii);
      break;
    }
  }
  return c.ok();
}

}  // namespace frbtest

#endif  // FRAMEBRIDGE_SRC_TYPED_CONTENT_CAPNP_HPP
