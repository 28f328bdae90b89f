// The GEMM entry points (gemm.h): per-ISA implementations compiled from gemm_body.h in
// the ISA passes below, and the ISA-independent dispatch and thread partitioning.
#include "kernels/gemm/gemm.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <string>
#include <utility>

#include "core/error.h"
#include "core/kernel.h"
#include "core/thread_pool.h"

// GCC 12 flags the intrinsics' own _mm512_undefined_* placeholders as uninitialised.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#ifndef TJ_ISA_PASS
#define TJ_ISA_SELF "kernels/gemm/gemm.cc"
#include "simd/foreach_isa.h"

namespace tensorjit {
namespace {

struct ImplTable {
  GemmImpl impls[kNumIsas];
  bool have[kNumIsas] = {};
};
ImplTable& implTable() {
  static ImplTable t;  // function-local: filled from static initialisers of the ISA passes
  return t;
}

int bestRegisteredAtMost(Isa isa) {
  for (int i = static_cast<int>(isa); i >= 0; --i)
    if (implTable().have[i]) return i;
  throwRangeError("gemm: no implementation registered");
}

// Below this many multiply-adds a parallel region costs more than it saves.
constexpr double kMinParallelMacs = 48.0 * 48.0 * 48.0;

struct Split {
  int tm = 1, tn = 1;
};

// Splits C into tm x tn thread blocks (whole MR/NR panels). Cost per thread, in units of
// K: its MACs at ~32 per cycle plus the packing it does (row-major A is a transposing
// copy; each thread packs every A row and B column of its block).
Split chooseSplit(const GemmImpl& g, const GemmProblem& p, int threads) {
  Split best;
  if (threads <= 1 || static_cast<double>(p.M) * static_cast<double>(p.N) * std::max<int64_t>(p.K, 1) < kMinParallelMacs)
    return best;
  const int64_t mPanels = (p.M + g.mr - 1) / g.mr, nPanels = (p.N + g.nr - 1) / g.nr;
  const double packA = p.packedA ? 0.0 : (p.A.colStride == 1 ? 1.0 : 0.3);
  const double packB = p.packed ? 0.0 : (p.source ? 1.0 : (p.B.colStride == 1 ? 0.3 : 1.0));
  double bestCost = 1e300;
  for (int tm = threads; tm >= 1; --tm) {
    if (threads % tm) continue;
    const int tn = threads / tm;
    if (tm > mPanels || tn > nPanels) continue;
    // a thread's share; the last panel may be short (M = 16 on 14-row panels: 14 + 2), so a
    // split into row panels can leave one thread 14 rows and the other 2
    const double rows = static_cast<double>(std::min<int64_t>(p.M, (mPanels + tm - 1) / tm * g.mr));
    const double cols = static_cast<double>(std::min<int64_t>(p.N, (nPanels + tn - 1) / tn * g.nr));
    const double cost = rows * cols / 32.0 + rows * packA + cols * packB;
    if (cost < bestCost) {
      bestCost = cost;
      best = Split{tm, tn};
    }
  }
  return best;
}

}  // namespace

void registerGemmImpl(Isa isa, const GemmImpl& impl) {
  implTable().impls[static_cast<int>(isa)] = impl;
  implTable().have[static_cast<int>(isa)] = true;
}

const GemmImpl& gemmImpl(Isa isa) { return implTable().impls[bestRegisteredAtMost(isa)]; }

Isa gemmIsa() { return static_cast<Isa>(bestRegisteredAtMost(KernelRegistry::instance().selectedIsa())); }

void PackedB::Free::operator()(float* p) const { std::free(p); }

PackedB PackedB::allocate(int64_t k, int64_t n, int nr, int64_t kc, Isa isa) {
  PackedB b;
  const int64_t panels = (n + nr - 1) / nr;
  b.size_ = static_cast<size_t>(std::max<int64_t>(k, 0) * panels * nr);
  const size_t bytes = (std::max<size_t>(b.size_, 16) * sizeof(float) + 63) / 64 * 64;
  float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw std::bad_alloc();
  b.data_.reset(p);
  b.k_ = k;
  b.n_ = n;
  b.nr_ = nr;
  b.kc_ = kc;
  b.isa_ = isa;
  return b;
}

PackedA PackedA::allocate(int64_t m, int64_t k, int mr, int64_t kc) {
  PackedA a;
  a.data_.resize(static_cast<size_t>(std::max<int64_t>(m, 0) * std::max<int64_t>(k, 0)));
  a.m_ = m;
  a.k_ = k;
  a.mr_ = mr;
  a.kc_ = kc;
  return a;
}

PackedA packAStrided(int64_t M, int64_t K, MatrixRef A, Isa isa) {
  if (M < 0 || K < 0) throwRangeError("packA: negative size");
  const GemmImpl& g = gemmImpl(isa);
  PackedA out = PackedA::allocate(M, K, g.mr, g.kc);
  if (M > 0 && K > 0) g.packLeft(M, K, A, out);
  return out;
}

void runGemm(const GemmImpl& g, const GemmProblem& p) {
  if (p.M <= 0 || p.N <= 0) return;
  if (p.packedA && (p.packedA->m() != p.M || p.packedA->k() != p.K || p.packedA->mr() != g.mr || p.packedA->kc() != g.kc))
    throwRangeError("gemm: A packed as " + std::to_string(p.packedA->m()) + "x" + std::to_string(p.packedA->k()) +
                    " (mr " + std::to_string(p.packedA->mr()) + ") does not fit a " + std::to_string(p.M) + "x" +
                    std::to_string(p.K) + " product on a GEMM with mr " + std::to_string(g.mr));
  // The GEMV for one row, one column, or up to kGemvMaxRows rows over a B whose columns are
  // contiguous along K (linear's W^T: dot products that load each weight once). With rows
  // of B contiguous, the axpy form of more than one row loads and stores the outputs per
  // element of B and is no faster than packing.
  const bool gemv = p.M == 1 || p.N == 1 || (p.M <= kGemvMaxRows && p.B.rowStride == 1);
  if (!p.packed && !p.packedA && !p.source && gemv) {
    const int64_t len = p.M <= kGemvMaxRows ? p.N : p.M;  // gemvRange's long side
    const int64_t grain = std::max<int64_t>(64, 16384 / std::max<int64_t>(p.K * std::min(p.M, kGemvMaxRows), 1));
    parallelFor(len, grain, [&](int64_t b, int64_t e) { g.gemv(p, b, e); });
    return;
  }
  const Split s = chooseSplit(g, p, numThreads());
  const int tasks = s.tm * s.tn;
  if (tasks == 1) {
    g.run(p, 0, p.M, 0, p.N);
    return;
  }
  const int64_t mPanels = (p.M + g.mr - 1) / g.mr, nPanels = (p.N + g.nr - 1) / g.nr;
  parallelFor(tasks, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t cm = t / s.tn, cn = t % s.tn;
      const int64_t m0 = g.mr * (mPanels * cm / s.tm), m1 = std::min(p.M, g.mr * (mPanels * (cm + 1) / s.tm));
      const int64_t n0 = g.nr * (nPanels * cn / s.tn), n1 = std::min(p.N, g.nr * (nPanels * (cn + 1) / s.tn));
      g.run(p, m0, m1, n0, n1);
    }
  });
}

void runGemmList(const GemmImpl& g, int64_t count, const std::function<void(int64_t, GemmProblem&)>& problemAt) {
  if (count <= 0) return;
  GemmProblem first;
  problemAt(0, first);
  const double macs = static_cast<double>(first.M) * first.N * std::max<int64_t>(first.K, 1);
  const int threads = numThreads();
  // Whole problems per thread when there are enough of them to balance (or each is
  // too small to split); otherwise each problem is split across the pool in turn.
  if (count == 1 || (count < 4 * threads && macs >= kMinParallelMacs)) {
    runGemm(g, first);
    for (int64_t i = 1; i < count; ++i) {
      GemmProblem p;
      problemAt(i, p);
      runGemm(g, p);
    }
    return;
  }
  const int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(kMinParallelMacs / std::max(macs, 1.0)));
  // Problems are handed out from a shared counter rather than in fixed slices, so a
  // thread the OS delays does not hold the others up; each problem is still computed
  // whole by one thread, so results do not change.
  std::atomic<int64_t> next{0};
  parallelFor(numChunks(count, grain), 1, [&](int64_t, int64_t) {
    for (;;) {
      const int64_t b = next.fetch_add(grain, std::memory_order_relaxed);
      if (b >= count) break;
      for (int64_t i = b; i < std::min(count, b + grain); ++i) {
        GemmProblem p;
        problemAt(i, p);
        runGemm(g, p);  // inside the region: runs on this thread
      }
    }
  });
}

void sgemmStrided(int64_t M, int64_t N, int64_t K, MatrixRef A, MatrixRef B, float* C, int64_t ldc,
                  const GemmEpilogue& ep) {
  GemmProblem p;
  p.M = M;
  p.N = N;
  p.K = K;
  p.A = A;
  p.B = B;
  p.C = C;
  p.ldc = ldc;
  p.ep = ep;
  runGemm(gemmImpl(gemmIsa()), p);
}

void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, bool transA, const float* B, int64_t ldb,
           bool transB, float* C, int64_t ldc, const GemmEpilogue& ep) {
  sgemmStrided(M, N, K, matrixRef(A, lda, transA), matrixRef(B, ldb, transB), C, ldc, ep);
}

PackedB packBStrided(int64_t K, int64_t N, MatrixRef B) {
  if (K < 0 || N < 0) throwRangeError("packB: negative size");
  const Isa isa = gemmIsa();
  const GemmImpl& g = gemmImpl(isa);
  PackedB out = PackedB::allocate(K, N, g.nr, g.kc, isa);
  if (K > 0 && N > 0) g.pack(K, N, B, out);
  return out;
}

PackedB packB(int64_t K, int64_t N, const float* B, int64_t ldb, bool transB) {
  return packBStrided(K, N, matrixRef(B, ldb, transB));
}

void sgemmPacked(int64_t M, MatrixRef A, const PackedB& B, float* C, int64_t ldc, const GemmEpilogue& ep) {
  const Isa isa = gemmIsa();
  const GemmImpl& g = gemmImpl(isa);
  if (B.isa() != isa || B.nr() != g.nr || B.kc() != g.kc)
    throwRangeError(std::string("sgemmPacked: B was packed for ") + isaName(B.isa()) + ", the GEMM now runs " +
                    isaName(isa));
  GemmProblem p;
  p.M = M;
  p.N = B.n();
  p.K = B.k();
  p.A = A;
  p.packed = &B;
  p.C = C;
  p.ldc = ldc;
  p.ep = ep;
  runGemm(g, p);
}

void sgemmBatched(int64_t M, int64_t N, int64_t K, MatrixRef A, MatrixRef B, float* C, int64_t ldc,
                  const GemmBatch& batch, const GemmEpilogue& ep) {
  runGemmList(gemmImpl(gemmIsa()), batch.batch, [&](int64_t i, GemmProblem& p) {
    p.M = M;
    p.N = N;
    p.K = K;
    p.A = MatrixRef{A.data + i * batch.strideA, A.rowStride, A.colStride};
    p.B = MatrixRef{B.data + i * batch.strideB, B.rowStride, B.colStride};
    p.C = C + i * batch.strideC;
    p.ldc = ldc;
    p.ep = ep;
    if (ep.bias) p.ep.bias = ep.bias + i * batch.strideBias;
    if (ep.residual) p.ep.residual = ep.residual + i * batch.strideResidual;
  });
}

void sgemmSourceB(int64_t M, int64_t N, int64_t K, MatrixRef A, const BPanelSource& B, float* C, int64_t ldc,
                  const GemmEpilogue& ep) {
  GemmProblem p;
  p.M = M;
  p.N = N;
  p.K = K;
  p.A = A;
  p.source = &B;
  p.C = C;
  p.ldc = ldc;
  p.ep = ep;
  runGemm(gemmImpl(gemmIsa()), p);
}

}  // namespace tensorjit

#else  // one ISA pass: compile the building blocks and register them

#include "kernels/gemm/gemm_body.h"

namespace tensorjit {
namespace TJ_ISA_NS {
namespace {
struct GemmRegistrar {
  GemmRegistrar() { registerGemmImpl(TJ_ISA_ENUM, gemm::makeImpl()); }
};
const GemmRegistrar kGemmRegistrar;
}  // namespace
}  // namespace TJ_ISA_NS
}  // namespace tensorjit

#endif
