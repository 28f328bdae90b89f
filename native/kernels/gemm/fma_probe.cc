// "fma_probe": the machine's float32 FMA throughput, for benchmarks to report GEMM
// GFLOP/s as a fraction of it. Every pool thread runs kChains independent FMA chains
// (enough to cover FMA latency x ports) for attrs[0] iterations.
// inputs: none; output: float32 [1] (or more) = flops performed (bench/lib/probes.ts
// reads it, so it need not know the register layout). attrs: [iterations].
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"

// GCC 12 flags the intrinsics' own _mm512_undefined_* placeholders as uninitialised.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#ifndef TJ_ISA_PASS
#define TJ_ISA_SELF "kernels/gemm/fma_probe.cc"
#include "simd/foreach_isa.h"
#else
namespace tensorjit {
namespace TJ_ISA_NS {
namespace {

// Enough chains to hide FMA latency on two ports (8), few enough to stay in registers
// (AVX2 and scalar have 16 vector registers, two of which hold the constants).
constexpr int kChains = Vec::kLanes == 16 ? 16 : 12;
volatile float gSink = 0.f;

float chainsOnThisThread(int64_t iterations, float seed) {
  Vec::Reg acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = Vec::set1(seed + static_cast<float>(c));
  const Vec::Reg mul = Vec::set1(0.999999f), add = Vec::set1(1e-7f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) acc[c] = Vec::fma(acc[c], mul, add);
  }
  Vec::Reg s = acc[0];
  for (int c = 1; c < kChains; ++c) s = Vec::add(s, acc[c]);
  return Vec::reduceAdd(s);
}

void fmaProbeKernel(const KernelArgs& args) {
  if (args.numOutputs != 1 || args.out(0).numel() < 1 || args.out(0).dtype != DType::Float32 || args.numAttrs < 1)
    throwRangeError("fma_probe: expects attrs [iterations] and a float32 output");
  const int64_t iterations = args.intAttr(0);
  if (iterations < 0) throwRangeError("fma_probe: iterations must be >= 0");
  const int threads = numThreads();
  std::vector<float> partial(static_cast<size_t>(threads), 0.f);
  parallelFor(threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) partial[t] = chainsOnThisThread(iterations, static_cast<float>(t));
  });
  float sum = 0.f;
  for (float p : partial) sum += p;
  gSink = sum;  // keeps the chains live
  args.out(0).ptr<float>()[0] =
      static_cast<float>(2.0 * kChains * Vec::kLanes * static_cast<double>(iterations) * threads);
}

TJ_REGISTER_KERNEL("fma_probe", fmaProbeKernel);

}  // namespace
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
