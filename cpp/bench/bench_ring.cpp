// Microbenchmarks (Google Benchmark) of the in-process cost of each operation: one thread writes and
// reads, so the figures are the instruction cost of the protocol, not a cross-core hand-off (for that,
// `framebridge bench` runs pinned processes through build/framebridge-peer). Run: make -C cpp bench.
#include <benchmark/benchmark.h>

#include <cstring>

#include "framebridge.hpp"
#include "framebridge/typed.hpp"
#include "framebridge/typed_capnp.hpp"

namespace fb = framebridge;

namespace {

fb::Segment MakeSeg(fb::RegionKind kind) {
  fb::Spec spec;
  spec.rings.push_back({"r", kind, 1 << 20});
  spec.mailboxes.push_back({"m", 1024});
  auto s = fb::Segment::CreateMemfd("bench", spec);
  if (!s.ok()) std::abort();
  return std::move(s.value());
}

void RoundTrip(benchmark::State& state, fb::RegionKind kind) {
  fb::Segment seg = MakeSeg(kind);
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  std::uint64_t i = 0;
  for (auto _ : state) {
    fb::Claimed c;
    if (!w->Claim(1, n, fb::Deadline::Try(), &c).ok()) {
      r->Release();  // the batch filled the ring
      if (!w->Claim(1, n, fb::Deadline::Try(), &c).ok()) std::abort();
    }
    std::memcpy(c.data, &i, 8);
    w->Commit(n);
    fb::Frame f;
    r->Next(fb::Deadline::Try(), &f);
    benchmark::DoNotOptimize(f.data[0]);
    if (++i % 32 == 0) r->Release();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

void BM_SPSC_ClaimCommitNext(benchmark::State& state) { RoundTrip(state, fb::RegionKind::kSPSC); }
void BM_MPSC_ClaimCommitNext(benchmark::State& state) { RoundTrip(state, fb::RegionKind::kMPSC); }
BENCHMARK(BM_SPSC_ClaimCommitNext)->Arg(64)->Arg(1024)->Arg(65536);
BENCHMARK(BM_MPSC_ClaimCommitNext)->Arg(64)->Arg(1024)->Arg(65536);

void BM_MailboxStoreLoad(benchmark::State& state) {
  fb::Segment seg = MakeSeg(fb::RegionKind::kSPSC);
  auto mb = seg.Mailbox("m");
  char in[1024] = {1}, out[1024];
  for (auto _ : state) {
    mb->Store(0, in, sizeof in);
    fb::MailboxValue v;
    mb->Load(out, sizeof out, &v);
    benchmark::DoNotOptimize(out[0]);
  }
}
BENCHMARK(BM_MailboxStoreLoad);

// Typed frames (docs/schemas.md): build an Envelope in place, Next, verify (copy or in place) and read
// its correlation id. Arg 0: the minimal envelope (sequence, kind, correlation id: the 64 B class);
// arg 256: a ModelRequest with 256 float32 features (peers.md's typed-ping payloads).
float g_features[256];

flatbuffers::Offset<framebridge::frames::Envelope> BuildRequest(flatbuffers::FlatBufferBuilder& b, std::uint64_t i,
                                                                 std::int64_t features) {
  namespace fr = framebridge::frames;
  if (features == 0) {
    fr::EnvelopeBuilder e(b);
    e.add_sequence(i);
    e.add_correlation_id(i);
    e.add_kind(fr::Kind::Request);
    return e.Finish();
  }
  b.ForceVectorAlignment(sizeof g_features, 1, 16);
  auto data = b.CreateVector(reinterpret_cast<const std::uint8_t*>(g_features), sizeof g_features);
  const std::int64_t shape[2] = {1, 256};
  auto t = fr::CreateTensor(b, fr::DType::Float32, b.CreateVector(shape, 2), data);
  auto req = fr::CreateModelRequest(b, b.CreateString("risk"), b.CreateString("v1"), t);
  return fr::CreateEnvelope(b, i, 0, 0, fr::Kind::Request, i, 0, 0, fr::Payload::ModelRequest, req.Union());
}

void TypedFbs(benchmark::State& state, framebridge::typed::ReadMode mode) {
  namespace ty = framebridge::typed;
  fb::Segment seg = MakeSeg(fb::RegionKind::kSPSC);
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ty::FlatBuffersWriter tw(&*w);
  ty::FlatBuffersReader tr(mode);
  std::uint64_t i = 0;
  for (auto _ : state) {
    tw.Build([&](flatbuffers::FlatBufferBuilder& b) { return BuildRequest(b, i, state.range(0)); }, fb::Deadline::Try());
    fb::Frame f;
    r->Next(fb::Deadline::Try(), &f);
    const framebridge::frames::Envelope* e = nullptr;
    if (!tr.Open(f, &e).ok()) std::abort();
    benchmark::DoNotOptimize(e->correlation_id());
    r->Release();
    ++i;
  }
  state.counters["frame_bytes"] = static_cast<double>(tw.stats().bytes) / static_cast<double>(tw.stats().frames);
  state.counters["fallbacks"] = static_cast<double>(tw.stats().fallbacks);
}
void BM_TypedFbs_Copy(benchmark::State& state) { TypedFbs(state, framebridge::typed::ReadMode::kCopy); }
void BM_TypedFbs_InPlace(benchmark::State& state) { TypedFbs(state, framebridge::typed::ReadMode::kInPlace); }
BENCHMARK(BM_TypedFbs_Copy)->Arg(0)->Arg(256);
BENCHMARK(BM_TypedFbs_InPlace)->Arg(0)->Arg(256);

void BM_TypedCapnp_Copy(benchmark::State& state) {
  namespace ty = framebridge::typed;
  namespace cp = framebridge::frames::capnp;
  fb::Segment seg = MakeSeg(fb::RegionKind::kSPSC);
  auto w = seg.Writer("r");
  auto r = seg.Reader("r");
  ty::CapnpWriter cw(&*w);
  ty::CapnpReader cr;
  std::uint64_t i = 0;
  for (auto _ : state) {
    cw.Build(
        [&](capnp::MessageBuilder& m) {
          auto e = m.initRoot<cp::Envelope>();
          e.setSequence(i);
          e.setCorrelationId(i);
          e.setKind(cp::Kind::REQUEST);
          if (state.range(0) == 0) return;
          auto req = e.getPayload().initModelRequest();
          req.setModelName("risk");
          req.setModelVersion("v1");
          auto t = req.initFeatures();
          auto sh = t.initShape(2);
          sh.set(0, 1);
          sh.set(1, 256);
          t.setData(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(g_features), sizeof g_features));
        },
        fb::Deadline::Try());
    fb::Frame f;
    r->Next(fb::Deadline::Try(), &f);
    cp::Envelope::Reader e;
    if (!cr.Open(f, &e).ok()) std::abort();
    benchmark::DoNotOptimize(e.getCorrelationId());
    r->Release();
    ++i;
  }
  state.counters["frame_bytes"] = static_cast<double>(cw.stats().bytes) / static_cast<double>(cw.stats().frames);
}
BENCHMARK(BM_TypedCapnp_Copy)->Arg(0)->Arg(256);

}  // namespace

BENCHMARK_MAIN();
