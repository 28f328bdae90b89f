// The C++ GEMM API (kernels/gemm/gemm.h) on every ISA table this CPU runs, against a
// float64 reference: transposes and padded leading dims, every epilogue option,
// prepacked B and A, batches, implicit B sources, tile callbacks, thread-count independence.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/kernel.h"
#include "core/tensor_view.h"
#include "core/thread_pool.h"
#include "kernels/gemm/gemm.h"
#include "testing/check.h"

using namespace tensorjit;

namespace {

std::vector<float> randomVec(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

double actRef(Activation a, double x) {
  switch (a) {
    case Activation::None: return x;
    case Activation::Relu: return x < 0 ? 0 : x;
    case Activation::GeluErf: return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    case Activation::GeluTanh: return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    case Activation::Silu: return x / (1 + std::exp(-x));
    case Activation::Sigmoid: return 1 / (1 + std::exp(-x));
    case Activation::Tanh: return std::tanh(x);
  }
  return x;
}

struct Case {
  int64_t M, N, K;
  bool transA, transB;
  int64_t padA = 0, padB = 0, padC = 0;
};

// Runs `run(C)` on a problem and compares C with the float64 reference of the epilogue.
template <class Run>
bool checkProblem(const Case& c, const GemmEpilogue& ep, Run run, const char* what) {
  const int64_t rowsA = c.transA ? c.K : c.M, colsA = c.transA ? c.M : c.K;
  const int64_t rowsB = c.transB ? c.N : c.K, colsB = c.transB ? c.K : c.N;
  const int64_t lda = colsA + c.padA, ldb = colsB + c.padB, ldc = c.N + c.padC;
  const auto A = randomVec(static_cast<size_t>(std::max<int64_t>(rowsA * lda, 1)), 1);
  const auto B = randomVec(static_cast<size_t>(std::max<int64_t>(rowsB * ldb, 1)), 2);
  auto C = randomVec(static_cast<size_t>(std::max<int64_t>(c.M * ldc, 1)), 3);
  if (ep.beta == 0.f) std::fill(C.begin(), C.end(), std::nanf(""));  // beta 0 must not read C
  const std::vector<float> C0 = C;
  run(A.data(), lda, B.data(), ldb, C.data(), ldc);
  double worst = 0;
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double s = 0, mag = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        const double a = c.transA ? A[k * lda + i] : A[i * lda + k];
        const double b = c.transB ? B[j * ldb + k] : B[k * ldb + j];
        s += a * b;
        mag += std::fabs(a * b);
      }
      double v = ep.alpha * s;
      if (ep.beta != 0.f) v += ep.beta * C0[i * ldc + j];
      if (ep.bias) v += ep.biasMode == BiasMode::PerColumn ? ep.bias[j] : ep.bias[i];
      v = actRef(ep.act, v);
      if (ep.residual) v += ep.residual[i * ep.ldResidual + j];
      const double err = std::fabs(C[i * ldc + j] - v);
      const double tol = 1e-5 * std::fabs(v) + 3e-6 * (mag + 1) + 1e-6;
      if (!(err <= tol)) worst = std::max(worst, std::isnan(err) ? 1e30 : err / tol);
    }
  // padding columns of C are untouched
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = c.N; j < ldc; ++j)
      if (std::memcmp(&C[i * ldc + j], &C0[i * ldc + j], sizeof(float)) != 0) worst = 1e30;
  if (worst > 0)
    std::printf("  %s [%s] M=%lld N=%lld K=%lld tA=%d tB=%d act=%d: error %.3g x tolerance\n", what,
                isaName(gemmIsa()), (long long)c.M, (long long)c.N, (long long)c.K, c.transA, c.transB,
                static_cast<int>(ep.act), worst);
  return worst == 0;
}

// The tables this build has and this CPU runs (on arm64: scalar and NEON, not the x86 slots).
std::vector<Isa> isasToTest() {
  std::vector<Isa> out;
  KernelRegistry& reg = KernelRegistry::instance();
  const int matmul = reg.idOf("matmul");
  for (int i = 0; i <= static_cast<int>(bestSupportedIsa()); ++i) {
    reg.selectIsa(static_cast<Isa>(i));
    if (reg.isaOf(matmul) == static_cast<Isa>(i)) out.push_back(static_cast<Isa>(i));
  }
  return out;
}

const Case kCases[] = {
    {1, 1, 1, false, false},      {7, 5, 3, false, false},        {17, 33, 65, true, false, 3, 0, 1},
    {33, 17, 129, false, true, 0, 5, 2}, {65, 129, 7, true, true, 1, 1, 0}, {1, 100, 300, false, false},
    {100, 1, 300, false, true},   {129, 70, 513, false, false, 4, 4, 4}, {300, 1100, 40, false, false},
    {40, 2, 0, false, false},     {14, 32, 256, false, false},    {28, 64, 257, true, false},
    // few rows over a transposed B (the GEMV path): a strided A, more columns than its block
    {2, 37, 70, true, true, 2, 1, 3}, {3, 600, 33, false, true, 0, 3, 0}, {4, 1100, 129, false, true},
    {4, 1, 50, true, true},       {3, 5, 0, false, true},       {4, 300, 40, false, false},
};

}  // namespace

TJ_TEST(sgemmMatchesReferenceOnEveryTable) {
  for (Isa isa : isasToTest()) {
    KernelRegistry::instance().selectIsa(isa);
    for (const Case& c : kCases) {
      GemmEpilogue ep;
      TJ_CHECK(checkProblem(c, ep, [&](const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
        sgemm(c.M, c.N, c.K, A, lda, c.transA, B, ldb, c.transB, C, ldc, ep);
      }, "plain"));
    }
  }
}

TJ_TEST(epilogueOptions) {
  const auto bias = randomVec(2048, 7);
  const auto residual = randomVec(2048 * 4, 8);
  for (Isa isa : isasToTest()) {
    KernelRegistry::instance().selectIsa(isa);
    for (const Case& c : kCases) {
      for (int act = 0; act <= static_cast<int>(Activation::Tanh); ++act) {
        GemmEpilogue ep;
        ep.alpha = act % 2 ? 0.5f : 1.f;
        ep.beta = act == 1 ? 1.f : (act == 3 ? 0.25f : 0.f);
        ep.bias = bias.data();
        ep.biasMode = act % 3 == 0 ? BiasMode::PerRow : BiasMode::PerColumn;
        ep.act = static_cast<Activation>(act);
        if (act >= 2 && c.M * (c.N + 3) <= 2048 * 4) {
          ep.residual = residual.data();
          ep.ldResidual = c.N + 3;
        }
        TJ_CHECK(checkProblem(c, ep, [&](const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
          sgemm(c.M, c.N, c.K, A, lda, c.transA, B, ldb, c.transB, C, ldc, ep);
        }, "epilogue"));
      }
    }
  }
}

TJ_TEST(prepackedB) {
  const auto bias = randomVec(2048, 9);
  for (Isa isa : isasToTest()) {
    KernelRegistry::instance().selectIsa(isa);
    for (const Case& c : kCases) {
      GemmEpilogue ep;
      ep.bias = bias.data();
      ep.act = Activation::Relu;
      TJ_CHECK(checkProblem(c, ep, [&](const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
        const PackedB packed = packB(c.K, c.N, B, ldb, c.transB);
        TJ_CHECK(packed.k() == c.K && packed.n() == c.N && packed.isa() == gemmIsa());
        sgemmPacked(c.M, matrixRef(A, lda, c.transA), packed, C, ldc, ep);
      }, "packed"));
    }
  }
  // B packed for one table cannot run on another
  KernelRegistry::instance().selectIsa(Isa::Scalar);
  const auto B = randomVec(64, 1);
  const PackedB scalarPacked = packB(8, 8, B.data(), 8, false);
  if (bestSupportedIsa() != Isa::Scalar) {
    KernelRegistry::instance().selectIsa(bestSupportedIsa());
    std::vector<float> A(64), C(64);
    TJ_CHECK_THROWS(sgemmPacked(8, matrixRef(A.data(), 8, false), scalarPacked, C.data(), 8), "packed for scalar");
  }
}

// conv2d's prepacked weights: A packed once, the product run through runGemm as conv2d does.
TJ_TEST(prepackedA) {
  const auto bias = randomVec(2048, 10);
  for (Isa isa : isasToTest()) {
    KernelRegistry::instance().selectIsa(isa);
    for (const Case& c : kCases) {
      GemmEpilogue ep;
      ep.bias = bias.data();
      ep.biasMode = BiasMode::PerRow;
      ep.act = Activation::Relu;
      TJ_CHECK(checkProblem(c, ep, [&](const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
        const PackedA packed = packAStrided(c.M, c.K, matrixRef(A, lda, c.transA), isa);
        TJ_CHECK(packed.m() == c.M && packed.k() == c.K);
        GemmProblem p;
        p.M = c.M;
        p.N = c.N;
        p.K = c.K;
        p.A = matrixRef(A, lda, c.transA);
        p.B = matrixRef(B, ldb, c.transB);
        p.packedA = &packed;
        p.C = C;
        p.ldc = ldc;
        p.ep = ep;
        runGemm(gemmImpl(isa), p);
      }, "packed A"));
    }
  }
  // a packing for another shape is refused, not read out of bounds
  KernelRegistry::instance().selectIsa(bestSupportedIsa());
  const auto A = randomVec(64, 1), B = randomVec(64, 2);
  std::vector<float> C(64);
  const PackedA packed = packAStrided(4, 8, MatrixRef{A.data(), 8, 1}, bestSupportedIsa());
  GemmProblem p;
  p.M = 8;
  p.N = 8;
  p.K = 8;
  p.A = MatrixRef{A.data(), 8, 1};
  p.B = MatrixRef{B.data(), 8, 1};
  p.packedA = &packed;
  p.C = C.data();
  p.ldc = 8;
  TJ_CHECK_THROWS(runGemm(gemmImpl(bestSupportedIsa()), p), "A packed as 4x8");
}

TJ_TEST(batchedAndSourceB) {
  for (Isa isa : isasToTest()) {
    KernelRegistry::instance().selectIsa(isa);
    // 5 problems of 9x11x13 laid out back to back; compare with one sgemm each
    const int64_t M = 9, N = 11, K = 13, count = 5;
    const auto A = randomVec(count * M * K, 11), B = randomVec(count * K * N, 12), bias = randomVec(count * N, 13);
    std::vector<float> C(count * M * N), want(count * M * N);
    GemmBatch batch;
    batch.batch = count;
    batch.strideA = M * K;
    batch.strideB = K * N;
    batch.strideC = M * N;
    batch.strideBias = N;
    GemmEpilogue ep;
    ep.bias = bias.data();
    sgemmBatched(M, N, K, MatrixRef{A.data(), K, 1}, MatrixRef{B.data(), N, 1}, C.data(), N, batch, ep);
    for (int64_t b = 0; b < count; ++b) {
      GemmEpilogue one;
      one.bias = bias.data() + b * N;
      sgemm(M, N, K, A.data() + b * M * K, K, false, B.data() + b * K * N, N, false, want.data() + b * M * N, N, one);
    }
    TJ_CHECK(C == want);

    // An implicit B that produces B(k, j) = k - j must match the explicit matrix.
    struct Ramp final : BPanelSource {
      void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nr, int width, float* dst) const override {
        for (int64_t k = 0; k < kc; ++k)
          for (int j = 0; j < width; ++j) dst[k * width + j] = j < nr ? static_cast<float>(k0 + k - (j0 + j)) : 0.f;
      }
    } ramp;
    const int64_t M2 = 20, N2 = 70, K2 = 300;
    const auto A2 = randomVec(M2 * K2, 14);
    std::vector<float> Bexp(K2 * N2), C1(M2 * N2), C2(M2 * N2);
    for (int64_t k = 0; k < K2; ++k)
      for (int64_t j = 0; j < N2; ++j) Bexp[k * N2 + j] = static_cast<float>(k - j);
    sgemmSourceB(M2, N2, K2, MatrixRef{A2.data(), K2, 1}, ramp, C1.data(), N2);
    sgemm(M2, N2, K2, A2.data(), K2, false, Bexp.data(), N2, false, C2.data(), N2);
    TJ_CHECK(C1 == C2);
  }
}

TJ_TEST(tileCallbackSeesEveryElementOnce) {
  for (Isa isa : isasToTest()) {
    KernelRegistry::instance().selectIsa(isa);
    for (const Case& c : kCases) {
      if (c.M == 0 || c.N == 0) continue;
      std::vector<int> hits(static_cast<size_t>(c.M * c.N), 0);
      struct Ctx {
        std::vector<int>* hits;
        int64_t N;
      } ctx{&hits, c.N};
      GemmEpilogue ep;
      ep.tileCtx = &ctx;
      ep.tileFn = [](void* p, float*, int64_t, int64_t r0, int64_t c0, int64_t rows, int64_t cols) {
        auto* x = static_cast<Ctx*>(p);
        for (int64_t i = r0; i < r0 + rows; ++i)
          for (int64_t j = c0; j < c0 + cols; ++j) __atomic_add_fetch(&(*x->hits)[i * x->N + j], 1, __ATOMIC_RELAXED);
      };
      const auto A = randomVec(c.M * c.K + 1, 1), B = randomVec(c.K * c.N + 1, 2);
      std::vector<float> C(c.M * c.N);
      sgemm(c.M, c.N, c.K, A.data(), c.K, false, B.data(), c.N, false, C.data(), c.N, ep);
      bool once = true;
      for (int h : hits) once &= h == 1;
      TJ_CHECK(once);
    }
  }
}

TJ_TEST(resultsIndependentOfThreadCount) {
  KernelRegistry::instance().selectIsa(bestSupportedIsa());
  const int64_t M = 301, N = 517, K = 700;
  const auto A = randomVec(M * K, 21), B = randomVec(K * N, 22);
  std::vector<float> one(M * N), two(M * N);
  setNumThreads(1);
  sgemm(M, N, K, A.data(), K, false, B.data(), N, false, one.data(), N);
  setNumThreads(2);
  sgemm(M, N, K, A.data(), K, false, B.data(), N, false, two.data(), N);
  TJ_CHECK(one == two);
}

namespace {
TensorView viewOf(float* p, std::vector<int64_t> shape, std::vector<int64_t> strides = {}) {
  TensorView v = contiguousView(p, DType::Float32, static_cast<int>(shape.size()), shape.data());
  for (size_t d = 0; d < strides.size(); ++d) v.strides[d] = strides[d];
  return v;
}
void runNamed(const char* name, std::vector<TensorView> ins, TensorView out, std::vector<double> attrs) {
  KernelArgs a{ins.data(), static_cast<int>(ins.size()), &out, 1, attrs.data(), static_cast<int>(attrs.size())};
  runKernel(KernelRegistry::instance().idOf(name), a);
}
}  // namespace

// The graph executor hands kernels output views (slices of a concatenation, permuted
// head layouts): matmul, linear, conv2d and sdpa write through the strides.
TJ_TEST(kernelsWriteStridedOutputs) {
  for (Isa isa : isasToTest()) {
    KernelRegistry::instance().selectIsa(isa);
    // matmul [2, 5, 7] x [7, 6] into columns 3..9 of a [2, 5, 10] buffer
    auto a = randomVec(2 * 5 * 7, 31), b = randomVec(7 * 6, 32);
    std::vector<float> dense(2 * 5 * 6), wide(2 * 5 * 10, -7.f);
    runNamed("matmul", {viewOf(a.data(), {2, 5, 7}), viewOf(b.data(), {7, 6})}, viewOf(dense.data(), {2, 5, 6}), {});
    runNamed("matmul", {viewOf(a.data(), {2, 5, 7}), viewOf(b.data(), {7, 6})}, viewOf(wide.data() + 3, {2, 5, 6}, {50, 10, 1}), {});
    bool same = true;
    for (int i = 0; i < 10; ++i)
      for (int j = 0; j < 10; ++j) {
        const float w = wide[i * 10 + j];
        same &= (j >= 3 && j < 9) ? w == dense[i * 6 + j - 3] : w == -7.f;
      }
    TJ_CHECK(same);
    // conv2d [1, 3, 6, 6] -> 4 channels written as channels 2..5 of an 8-channel buffer
    auto x = randomVec(3 * 36, 33), w = randomVec(4 * 3 * 9, 34);
    std::vector<float> c1(4 * 36), c8(8 * 36, -7.f);
    const std::vector<double> convAttrs = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    runNamed("conv2d", {viewOf(x.data(), {1, 3, 6, 6}), viewOf(w.data(), {4, 3, 3, 3})}, viewOf(c1.data(), {1, 4, 6, 6}), convAttrs);
    runNamed("conv2d", {viewOf(x.data(), {1, 3, 6, 6}), viewOf(w.data(), {4, 3, 3, 3})},
             viewOf(c8.data() + 2 * 36, {1, 4, 6, 6}, {8 * 36, 36, 6, 1}), convAttrs);
    same = true;
    for (int i = 0; i < 8 * 36; ++i) same &= (i >= 72 && i < 216) ? c8[i] == c1[i - 72] : c8[i] == -7.f;
    TJ_CHECK(same);
    // sdpa [1, 2, 5, 4] written as a [1, 5, 2, 4] buffer viewed [1, 2, 5, 4]
    auto q = randomVec(40, 35), k = randomVec(40, 36), v = randomVec(40, 37);
    std::vector<float> o1(40), o2(40);
    const std::vector<double> sdpaAttrs = {0.5, 0, 0, 0};
    auto qkv = [&] { return std::vector<TensorView>{viewOf(q.data(), {1, 2, 5, 4}), viewOf(k.data(), {1, 2, 5, 4}), viewOf(v.data(), {1, 2, 5, 4})}; };
    runNamed("sdpa", qkv(), viewOf(o1.data(), {1, 2, 5, 4}), sdpaAttrs);
    runNamed("sdpa", qkv(), viewOf(o2.data(), {1, 2, 5, 4}, {40, 4, 8, 1}), sdpaAttrs);
    same = true;
    for (int h = 0; h < 2; ++h)
      for (int l = 0; l < 5; ++l)
        for (int e = 0; e < 4; ++e) same &= o2[l * 8 + h * 4 + e] == o1[(h * 5 + l) * 4 + e];
    TJ_CHECK(same);
  }
}

TJ_TEST_MAIN()
