// The content of typed test envelope i of writer w (docs/peers.md, "Typed frames"), FlatBuffers: build it
// and check every field of a verified envelope. Shared by the peer, the tests and the fuzz target.
// No heap allocation (strings are formatted into stack buffers). Builds with -fno-exceptions.
#ifndef FRAMEBRIDGE_SRC_TYPED_CONTENT_HPP
#define FRAMEBRIDGE_SRC_TYPED_CONTENT_HPP

#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "framebridge/frames/frame_generated.h"

namespace frbtest {

namespace fr = framebridge::frames;

constexpr std::int64_t kDeadlineBase = 1790000000000000000LL;

inline std::uint64_t TestCorrelation(std::uint32_t w, std::uint64_t i) {
  return (static_cast<std::uint64_t>(w) << 32) | static_cast<std::uint32_t>(i);
}

// Fixed-size text formatted on the stack.
struct Text {
  char s[96];
  std::size_t n;
};
inline Text Fmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline Text Fmt(const char* fmt, ...) {
  Text t;
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(t.s, sizeof t.s, fmt, ap);
  va_end(ap);
  t.n = n < 0 ? 0 : static_cast<std::size_t>(n) < sizeof t.s ? static_cast<std::size_t>(n) : sizeof t.s - 1;
  return t;
}

inline Text TestTraceparent(std::uint32_t w, std::uint64_t i) {
  return Fmt("00-%032" PRIx64 "-%016" PRIx64 "-01", i, static_cast<std::uint64_t>(w) + 1);
}
inline Text TestTracestate(std::uint64_t i) { return Fmt("fb=%" PRIu64, i); }
inline Text TestStatusMessage(std::uint64_t i) { return Fmt("not found #%" PRIu64, i); }
inline Text TestModelVersion(std::uint64_t i) { return Fmt("v%" PRIu64, i % 5); }

inline void TestMediaData(std::uint64_t i, std::uint8_t out[160]) {
  for (int k = 0; k < 160; ++k) out[k] = static_cast<std::uint8_t>(i + static_cast<std::uint64_t>(k));
}
// 16 little-endian float32: element k = float(i % 1000) + k / 4.
inline void TestFeatures(std::uint64_t i, std::uint8_t out[64]) {
  for (int k = 0; k < 16; ++k) {
    const float f = static_cast<float>(i % 1000) + static_cast<float>(k) / 4.0f;
    std::memcpy(out + 4 * k, &f, 4);
  }
}
inline void TestScores(std::uint64_t i, float* s0, float* s1) {
  *s0 = 0.25f * static_cast<float>(i % 4);
  *s1 = 1.0f - *s0;
}

inline flatbuffers::Offset<flatbuffers::String> Str(flatbuffers::FlatBufferBuilder& b, const Text& t) {
  return b.CreateString(t.s, t.n);
}

// A 2-D tensor whose data (already little-endian) is 16-byte aligned, as frame.fbs's force_align asks.
inline flatbuffers::Offset<fr::Tensor> BuildTensor(flatbuffers::FlatBufferBuilder& b, fr::DType dtype, std::int64_t rows,
                                                   std::int64_t cols, const std::uint8_t* data, std::size_t n) {
  b.ForceVectorAlignment(n, 1, 16);
  auto dv = b.CreateVector(data, n);
  const std::int64_t shape[2] = {rows, cols};
  auto sv = b.CreateVector(shape, 2);
  return fr::CreateTensor(b, dtype, sv, dv);
}

inline flatbuffers::Offset<fr::ModelResponse> BuildModelResponse(flatbuffers::FlatBufferBuilder& b, const char* version,
                                                                 float s0, float s1, std::int64_t queue,
                                                                 std::int64_t inference, std::int64_t total) {
  auto name = b.CreateString("risk");
  auto ver = b.CreateString(version);
  flatbuffers::Offset<flatbuffers::String> labels[2] = {b.CreateString("fraud"), b.CreateString("ok")};
  auto lv = b.CreateVector(labels, 2);
  const float scores[2] = {s0, s1};
  auto sv = b.CreateVector(scores, 2);
  return fr::CreateModelResponse(b, name, ver, sv, lv, queue, inference, total);
}

// Envelope i of writer w.
inline flatbuffers::Offset<fr::Envelope> BuildTestEnvelope(flatbuffers::FlatBufferBuilder& b, std::uint32_t w,
                                                           std::uint64_t i) {
  flatbuffers::Offset<flatbuffers::String> status_msg;
  if (i % 3 == 2) status_msg = Str(b, TestStatusMessage(i));
  auto tp = Str(b, TestTraceparent(w, i));
  auto ts = Str(b, TestTracestate(i));
  auto trace = fr::CreateTraceContext(b, tp, ts);
  flatbuffers::Offset<void> payload;
  fr::Payload ptype = fr::Payload::NONE;
  switch (i % 3) {
    case 0: {
      std::uint8_t data[160];
      TestMediaData(i, data);
      auto codec = b.CreateString("opus");
      auto dv = b.CreateVector(data, 160);
      const auto t = static_cast<std::int64_t>(i * 20000000);
      payload = fr::CreateMediaChunk(b, codec, fr::MediaFormat::Opus, w, t, t, 20000000, 48000, 2, 0, 0, i % 10 == 0, dv)
                    .Union();
      ptype = fr::Payload::MediaChunk;
      break;
    }
    case 1: {
      std::uint8_t data[64];
      TestFeatures(i, data);
      auto features = BuildTensor(b, fr::DType::Float32, 1, 16, data, 64);
      auto name = b.CreateString("risk");
      auto ver = Str(b, TestModelVersion(i));
      payload = fr::CreateModelRequest(b, name, ver, features).Union();
      ptype = fr::Payload::ModelRequest;
      break;
    }
    default: {
      float s0, s1;
      TestScores(i, &s0, &s1);
      const auto ii = static_cast<std::int64_t>(i);
      payload = BuildModelResponse(b, "v3", s0, s1, ii, 2 * ii, 3 * ii).Union();
      ptype = fr::Payload::ModelResponse;
      break;
    }
  }
  return fr::CreateEnvelope(b, i, i % 3 == 2 ? 5 : 0, status_msg, i % 2 == 0 ? fr::Kind::Request : fr::Kind::OneWay,
                            TestCorrelation(w, i), static_cast<std::int64_t>(static_cast<std::uint64_t>(kDeadlineBase) + i), trace, ptype, payload);
}

// Collects the first mismatch as "writer W envelope I: field = got, want X".
class Checker {
 public:
  Checker(std::uint32_t w, std::uint64_t i, char* why, std::size_t cap) : w_(w), i_(i), why_(why), cap_(cap) {
    if (cap_ > 0) why_[0] = 0;
  }
  bool ok() const { return ok_; }
  void Fail(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (!ok_) return;
    ok_ = false;
    if (cap_ == 0) return;
    int n = std::snprintf(why_, cap_, "writer %u envelope %" PRIu64 ": ", w_, i_);
    if (n < 0 || static_cast<std::size_t>(n) >= cap_) return;
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(why_ + n, cap_ - static_cast<std::size_t>(n), fmt, ap);
    va_end(ap);
  }
  void U(const char* f, std::uint64_t got, std::uint64_t want) {
    if (got != want) Fail("%s = %" PRIu64 ", want %" PRIu64, f, got, want);
  }
  void I(const char* f, std::int64_t got, std::int64_t want) {
    if (got != want) Fail("%s = %" PRId64 ", want %" PRId64, f, got, want);
  }
  void F(const char* f, float got, float want) {
    if (std::memcmp(&got, &want, 4) != 0) Fail("%s = %g, want %g", f, static_cast<double>(got), static_cast<double>(want));
  }
  // Text (s, n); s may be null (absent) when want_present is false.
  void S(const char* f, const char* s, std::size_t n, const char* want, std::size_t wn) {
    if (s == nullptr) {
      Fail("%s absent, want \"%.*s\"", f, static_cast<int>(wn), want);
    } else if (n != wn || std::memcmp(s, want, n) != 0) {
      Fail("%s = \"%.*s\", want \"%.*s\"", f, static_cast<int>(n < 200 ? n : 200), s, static_cast<int>(wn), want);
    }
  }
  void S(const char* f, const flatbuffers::String* s, const char* want) {
    S(f, s == nullptr ? nullptr : s->c_str(), s == nullptr ? 0 : s->size(), want, std::strlen(want));
  }
  void S(const char* f, const flatbuffers::String* s, const Text& want) {
    S(f, s == nullptr ? nullptr : s->c_str(), s == nullptr ? 0 : s->size(), want.s, want.n);
  }
  void B(const char* f, const std::uint8_t* got, std::size_t n, const std::uint8_t* want, std::size_t wn) {
    if (got == nullptr && wn > 0) return Fail("%s absent", f);
    if (n != wn) return Fail("%s has %zu bytes, want %zu", f, n, wn);
    for (std::size_t k = 0; k < n; ++k) {
      if (got[k] != want[k]) return Fail("%s[%zu] = %u, want %u", f, k, got[k], want[k]);
    }
  }

 private:
  std::uint32_t w_;
  std::uint64_t i_;
  char* why_;
  std::size_t cap_;
  bool ok_ = true;
};

// Check every field of a verified envelope against envelope i of writer w. On a mismatch returns false
// and writes what was wrong into why.
inline bool CheckTestEnvelope(const fr::Envelope* e, std::uint32_t w, std::uint64_t i, char* why, std::size_t cap) {
  Checker c(w, i, why, cap);
  c.U("sequence", e->sequence(), i);
  if (i % 3 == 2) {
    c.I("status", e->status(), 5);
    c.S("status_message", e->status_message(), TestStatusMessage(i));
  } else {
    c.I("status", e->status(), 0);
    if (e->status_message() != nullptr) c.Fail("status_message present, want absent");
  }
  c.U("kind", static_cast<std::uint64_t>(e->kind()),
      static_cast<std::uint64_t>(i % 2 == 0 ? fr::Kind::Request : fr::Kind::OneWay));
  c.U("correlation_id", e->correlation_id(), TestCorrelation(w, i));
  c.I("deadline_unix_nano", e->deadline_unix_nano(), static_cast<std::int64_t>(static_cast<std::uint64_t>(kDeadlineBase) + i));  // wraps like Go (no signed overflow)
  const fr::TraceContext* tc = e->trace();
  if (tc == nullptr) {
    c.Fail("trace absent");
  } else {
    c.S("trace.traceparent", tc->traceparent(), TestTraceparent(w, i));
    c.S("trace.tracestate", tc->tracestate(), TestTracestate(i));
  }
  if (!c.ok()) return false;
  switch (i % 3) {
    case 0: {
      const fr::MediaChunk* m = e->payload_as_MediaChunk();
      if (m == nullptr) {
        c.Fail("payload_type = %u, want MediaChunk", static_cast<unsigned>(e->payload_type()));
        break;
      }
      c.S("codec", m->codec(), "opus");
      c.U("format", static_cast<std::uint64_t>(m->format()), static_cast<std::uint64_t>(fr::MediaFormat::Opus));
      c.U("stream_id", m->stream_id(), w);
      c.I("pts_ns", m->pts_ns(), static_cast<std::int64_t>(i * 20000000));
      c.I("dts_ns", m->dts_ns(), static_cast<std::int64_t>(i * 20000000));
      c.I("duration_ns", m->duration_ns(), 20000000);
      c.U("sample_rate", m->sample_rate(), 48000);
      c.U("channels", m->channels(), 2);
      c.U("width", m->width(), 0);
      c.U("height", m->height(), 0);
      c.U("keyframe", m->keyframe(), i % 10 == 0);
      std::uint8_t want[160];
      TestMediaData(i, want);
      const auto* d = m->data();
      c.B("data", d == nullptr ? nullptr : d->data(), d == nullptr ? 0 : d->size(), want, 160);
      break;
    }
    case 1: {
      const fr::ModelRequest* m = e->payload_as_ModelRequest();
      if (m == nullptr) {
        c.Fail("payload_type = %u, want ModelRequest", static_cast<unsigned>(e->payload_type()));
        break;
      }
      c.S("model_name", m->model_name(), "risk");
      c.S("model_version", m->model_version(), TestModelVersion(i));
      const fr::Tensor* t = m->features();
      if (t == nullptr) {
        c.Fail("features absent");
        break;
      }
      c.U("features.dtype", static_cast<std::uint64_t>(t->dtype()), static_cast<std::uint64_t>(fr::DType::Float32));
      const auto* sh = t->shape();
      if (sh == nullptr || sh->size() != 2) {
        c.Fail("features.shape length = %u, want 2", sh == nullptr ? 0u : sh->size());
        break;
      }
      c.I("features.shape[0]", sh->Get(0), 1);
      c.I("features.shape[1]", sh->Get(1), 16);
      std::uint8_t want[64];
      TestFeatures(i, want);
      const auto* d = t->data();
      c.B("features.data", d == nullptr ? nullptr : d->data(), d == nullptr ? 0 : d->size(), want, 64);
      break;
    }
    default: {
      const fr::ModelResponse* m = e->payload_as_ModelResponse();
      if (m == nullptr) {
        c.Fail("payload_type = %u, want ModelResponse", static_cast<unsigned>(e->payload_type()));
        break;
      }
      c.S("model_name", m->model_name(), "risk");
      c.S("model_version", m->model_version(), "v3");
      float s0, s1;
      TestScores(i, &s0, &s1);
      const auto* sc = m->scores();
      const auto* lb = m->labels();
      if (sc == nullptr || sc->size() != 2) {
        c.Fail("scores length = %u, want 2", sc == nullptr ? 0u : sc->size());
        break;
      }
      if (lb == nullptr || lb->size() != 2) {
        c.Fail("labels length = %u, want 2", lb == nullptr ? 0u : lb->size());
        break;
      }
      c.F("scores[0]", sc->Get(0), s0);
      c.F("scores[1]", sc->Get(1), s1);
      c.S("labels[0]", lb->Get(0), "fraud");
      c.S("labels[1]", lb->Get(1), "ok");
      const auto ii = static_cast<std::int64_t>(i);
      c.I("queue_ns", m->queue_ns(), ii);
      c.I("inference_ns", m->inference_ns(), 2 * ii);
      c.I("total_ns", m->total_ns(), 3 * ii);
      break;
    }
  }
  return c.ok();
}

}  // namespace frbtest

#endif  // FRAMEBRIDGE_SRC_TYPED_CONTENT_HPP
