// Single-precision GEMM for the kernels and the graph executor.
//
//   C[M,N] = epilogue(alpha * op(A)[M,K] · op(B)[K,N] + beta * C)
//
// C is row-major with leading dimension ldc (unit column stride). A and B are read
// through any element strides (transposed and sliced views need no copy): packing
// copies them into cache-sized panels, so only the packing cares about layout.
// The epilogue runs on each output tile while it is still in registers: bias (per
// column, as in linear, or per row, as in conv), an activation and a residual add (after
// the activation, or before it when residualFirst).
//
// Calls parallelise over the intra-op pool (core/thread_pool.h); called from inside a
// parallel region they run on the calling thread. Every output element is computed by
// one thread with a fixed accumulation order (K in blocks of the ISA's KC, each block
// summed in k order), so results do not depend on the thread count. With neither operand
// packed, M == 1, N == 1, and up to kGemvMaxRows rows over a B whose columns are contiguous
// (linear's W^T) take a GEMV path (dot products or axpy, vectorised over K or N; each element
// of B is read once for all rows, where packing it would cost more than the product): its
// rounding differs from the blocked path's, as any two summation orders do.
// The implementation used is the best one compiled for the ISA the kernel registry
// selected (TENSORJIT_ISA caps it), so tests can run every table.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/cpu_features.h"

namespace tensorjit {

enum class Activation : uint8_t { None = 0, Relu = 1, GeluErf = 2, GeluTanh = 3, Silu = 4, Sigmoid = 5, Tanh = 6 };

enum class BiasMode : uint8_t { PerColumn = 0, PerRow = 1 };

// Called once per finished output tile (after the built-in epilogue) while the tile is
// hot in L1: rows [row0, row0+rows) x cols [col0, col0+cols) of C. For fused pointwise
// epilogues the built-in list does not cover. Runs on the worker thread that made it.
using GemmTileFn = void (*)(void* ctx, float* C, int64_t ldc, int64_t row0, int64_t col0, int64_t rows,
                            int64_t cols);

struct GemmEpilogue {
  float alpha = 1.f;
  // beta == 0 never reads C (so C may hold garbage or NaN), as BLAS.
  float beta = 0.f;
  const float* bias = nullptr;  // contiguous: N floats (PerColumn) or M floats (PerRow)
  BiasMode biasMode = BiasMode::PerColumn;
  Activation act = Activation::None;
  const float* residual = nullptr;  // residual[i*ldResidual + j], added after the activation
  bool residualFirst = false;       // ... or before it: act(x + bias + residual)
  int64_t ldResidual = 0;
  GemmTileFn tileFn = nullptr;
  void* tileCtx = nullptr;
};

// A matrix operand read through element strides: element (i, k) is data[i*rowStride + k*colStride].
struct MatrixRef {
  const float* data = nullptr;
  int64_t rowStride = 0;
  int64_t colStride = 1;
};

// Row-major (ld) or transposed operand: op(X)(i, k) = trans ? X[k*ld + i] : X[i*ld + k].
inline MatrixRef matrixRef(const float* data, int64_t ld, bool trans) {
  return trans ? MatrixRef{data, 1, ld} : MatrixRef{data, ld, 1};
}

// B packed once into the GEMM's panel layout (constant weights: pack at compile time,
// run sgemmPacked many times). Tied to the ISA that packed it (checked when used).
class PackedB {
 public:
  PackedB() = default;
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  bool empty() const { return !data_; }
  size_t bytes() const { return size_ * sizeof(float); }
  Isa isa() const { return isa_; }

  // Internal layout (gemm.cc): for each K block of kc rows, ceil(N/nr) panels of kc x nr
  // floats (zero padded on the right).
  const float* data() const { return data_.get(); }
  int nr() const { return nr_; }
  int64_t kc() const { return kc_; }
  static PackedB allocate(int64_t k, int64_t n, int nr, int64_t kc, Isa isa);
  float* mutableData() { return data_.get(); }

 private:
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float, Free> data_;
  size_t size_ = 0;
  int64_t k_ = 0, n_ = 0, kc_ = 0;
  int nr_ = 0;
  Isa isa_ = Isa::Scalar;
};

// A packed once into the GEMM's panel layout (conv2d's weight is A: a constant weight is
// packed at compile time). Any ISA whose GEMM has the same mr and kc can use it (the
// layout depends on nothing else; checked when used).
class PackedA {
 public:
  int64_t m() const { return m_; }
  int64_t k() const { return k_; }
  int mr() const { return mr_; }
  int64_t kc() const { return kc_; }
  size_t bytes() const { return data_.size() * sizeof(float); }
  // Internal layout (gemm_body.h): for each K block of kc columns starting at pc, the M
  // rows as consecutive MR-row panels (kc x MR floats each, the last one M % MR rows high),
  // at offset pc * M; rows [i, ...) of a block start at i * kc for i a multiple of mr.
  const float* data() const { return data_.data(); }
  static PackedA allocate(int64_t m, int64_t k, int mr, int64_t kc);
  float* mutableData() { return data_.data(); }

 private:
  std::vector<float> data_;
  int64_t m_ = 0, k_ = 0, kc_ = 0;
  int mr_ = 0;
};

// C = epilogue(op(A) · op(B)); A is M x K after op, B is K x N after op.
void sgemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, bool transA, const float* B, int64_t ldb,
           bool transB, float* C, int64_t ldc, const GemmEpilogue& ep = GemmEpilogue());

// Same with arbitrary element strides for A and B.
void sgemmStrided(int64_t M, int64_t N, int64_t K, MatrixRef A, MatrixRef B, float* C, int64_t ldc,
                  const GemmEpilogue& ep = GemmEpilogue());

// Packs op(B) (K x N). For linear, weight [out, in] is B = W^T: packB(in, out, W, in, true).
PackedB packB(int64_t K, int64_t N, const float* B, int64_t ldb, bool transB);
PackedB packBStrided(int64_t K, int64_t N, MatrixRef B);

// C = epilogue(op(A) · B) with B prepacked (M x K times K x N).
void sgemmPacked(int64_t M, MatrixRef A, const PackedB& B, float* C, int64_t ldc,
                 const GemmEpilogue& ep = GemmEpilogue());

// `batch` independent products; operand i starts at base + i * batchStride (elements).
// bias/residual advance by biasBatchStride/residualBatchStride (0 = shared).
struct GemmBatch {
  int64_t batch = 1;
  int64_t strideA = 0, strideB = 0, strideC = 0;
  int64_t strideBias = 0, strideResidual = 0;
};
void sgemmBatched(int64_t M, int64_t N, int64_t K, MatrixRef A, MatrixRef B, float* C, int64_t ldc,
                  const GemmBatch& batch, const GemmEpilogue& ep = GemmEpilogue());

// Supplies packed B panels on the fly (implicit GEMM: conv packs straight from the
// image). pack() writes op(B)[k0:k0+kc, j0:j0+nr] as kc rows of `panelWidth` floats,
// zero padded to panelWidth on the right (nr <= panelWidth).
struct BPanelSource {
  virtual ~BPanelSource() = default;
  virtual void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nr, int panelWidth, float* dst) const = 0;
};
void sgemmSourceB(int64_t M, int64_t N, int64_t K, MatrixRef A, const BPanelSource& B, float* C, int64_t ldc,
                  const GemmEpilogue& ep = GemmEpilogue());

// Packs A (M x K) for the GEMM of `isa` (the best one compiled not above it).
PackedA packAStrided(int64_t M, int64_t K, MatrixRef A, Isa isa);

// Which ISA the GEMM calls above use now (follows the kernel registry's selection).
Isa gemmIsa();

// ---- internal: the per-ISA implementation table filled by gemm.cc's ISA passes.
struct GemmProblem {
  int64_t M = 0, N = 0, K = 0;
  MatrixRef A;
  MatrixRef B;                          // when packed == nullptr and source == nullptr
  const PackedB* packed = nullptr;      // prepacked B
  const BPanelSource* source = nullptr; // implicit B
  const PackedA* packedA = nullptr;     // prepacked A (then A is not read)
  float* C = nullptr;
  int64_t ldc = 0;
  GemmEpilogue ep;
};

// Products with at most this many rows of A (and B's columns contiguous) take the GEMV path
// when nothing is prepacked.
constexpr int64_t kGemvMaxRows = 4;

struct GemmImpl {
  int mr = 0, nr = 0;
  int64_t kc = 0;
  // Computes rows [m0,m1) x cols [n0,n1) of the problem on the calling thread
  // (n0 a multiple of nr when B is prepacked).
  void (*run)(const GemmProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) = nullptr;
  // Few rows or N == 1, nothing prepacked (runGemm decides): output elements [r0, r1) along the long side.
  void (*gemv)(const GemmProblem& p, int64_t r0, int64_t r1) = nullptr;
  // Packs op(B) into `out` (allocated with this impl's nr/kc).
  void (*pack)(int64_t K, int64_t N, MatrixRef B, PackedB& out) = nullptr;
  // Packs A into `out` (allocated with this impl's mr/kc).
  void (*packLeft)(int64_t M, int64_t K, MatrixRef A, PackedA& out) = nullptr;
};

void registerGemmImpl(Isa isa, const GemmImpl& impl);
const GemmImpl& gemmImpl(Isa isa);  // best registered impl not above isa

// Runs one problem parallelised over the pool with implementation `impl`.
void runGemm(const GemmImpl& impl, const GemmProblem& p);
// Runs `count` independent problems (problemAt fills problem i): whole problems per
// thread when there are enough, else one after another, each split over the pool.
void runGemmList(const GemmImpl& impl, int64_t count, const std::function<void(int64_t, GemmProblem&)>& problemAt);

// Registers kernel `name` for every ISA the GEMM is compiled for, as fn<isa>, so the
// kernel registry reports (and tests force) the same table the GEMM runs.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TJ_REGISTER_GEMM_KERNEL(name, fn)                                                                 \
  static const ::tensorjit::KernelRegistration TJ_CONCAT(kGemmRegS, __LINE__)(name, ::tensorjit::Isa::Scalar, \
                                                                              &fn<::tensorjit::Isa::Scalar>); \
  static const ::tensorjit::KernelRegistration TJ_CONCAT(kGemmRegA, __LINE__)(name, ::tensorjit::Isa::Avx2,   \
                                                                              &fn<::tensorjit::Isa::Avx2>);   \
  static const ::tensorjit::KernelRegistration TJ_CONCAT(kGemmRegB, __LINE__)(name, ::tensorjit::Isa::Avx512, \
                                                                              &fn<::tensorjit::Isa::Avx512>)
#elif defined(__aarch64__)
#define TJ_REGISTER_GEMM_KERNEL(name, fn)                                                                 \
  static const ::tensorjit::KernelRegistration TJ_CONCAT(kGemmRegS, __LINE__)(name, ::tensorjit::Isa::Scalar, \
                                                                              &fn<::tensorjit::Isa::Scalar>); \
  static const ::tensorjit::KernelRegistration TJ_CONCAT(kGemmRegN, __LINE__)(name, ::tensorjit::Isa::Neon,   \
                                                                              &fn<::tensorjit::Isa::Neon>)
#else
#define TJ_REGISTER_GEMM_KERNEL(name, fn)                                                                 \
  static const ::tensorjit::KernelRegistration TJ_CONCAT(kGemmRegS, __LINE__)(name, ::tensorjit::Isa::Scalar, \
                                                                              &fn<::tensorjit::Isa::Scalar>)
#endif

}  // namespace tensorjit
