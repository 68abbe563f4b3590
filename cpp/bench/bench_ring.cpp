// Microbenchmarks (Google Benchmark) of the in-process cost of each operation: one thread writes and
// reads, so the figures are the instruction cost of the protocol, not a cross-core hand-off (for that,
// `framebridge bench` runs pinned processes through build/framebridge-peer). Run: make -C cpp bench.
#include <benchmark/benchmark.h>

#include <cstring>

#include "framebridge.hpp"

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

}  // namespace

BENCHMARK_MAIN();
