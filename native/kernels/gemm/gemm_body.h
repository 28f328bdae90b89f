// The GEMM building blocks, templated over the pass's vector type: panel packing, the
// register-blocked micro-kernel with its fused epilogue, the cache-blocked driver and a
// GEMV path. No include guard on purpose: kernel files include it once per ISA pass
// (after their ordinary headers), so each ISA gets its own copy in its own namespace.
//
// Blocking (BLIS order): for each NC-wide column block and KC-deep slice of K, B is
// packed into kc x NR panels (a panel stays in L1 across the micro-kernels of one
// column), A into MC x KC blocks of MR-row panels (L2); the micro-kernel keeps an
// MR x NR tile of C in registers for the whole slice.

// The shared vector math opens its own namespaces; a kernel file including this body
// must not include kernels/math/vmath.h again in the same pass.
#include "kernels/math/vmath.h"
#include "simd/vec_transpose.h"

namespace tensorjit {
namespace TJ_ISA_NS {

#include "kernels/gemm/activation.h"

namespace gemm {

#include "kernels/gemm/fma_tile.h"  // R, L, MR x NR (NV vectors of B)
// Cache blocks. AVX-512 (SPR-class: 48 KB L1, 2 MB L2) measured best near KC 384-512
// with an MC of 6-8 panels; the others keep a B panel (KC x NR) well inside a 32 KB L1.
constexpr int64_t KC = L == 16 ? 384 : 256;
constexpr int64_t MC = MR * (L == 16 ? 8 : 16);
constexpr int64_t NC = NR * 32;
static_assert(NC % NR == 0, "column blocks must hold whole panels");

// What one tile's store does (see GemmEpilogue); pointers already offset to the tile.
struct TileEp {
  float alpha = 1.f;
  float beta = 0.f;
  bool readC = false;  // add beta * C (first K slice) or the running partial sum (later ones)
  bool last = true;    // final K slice: apply bias, activation, residual
  const float* biasCol = nullptr;
  const float* biasRow = nullptr;
  Activation act = Activation::None;
  const float* res = nullptr;
  int64_t ldr = 0;
  bool resFirst = false;  // residual before the activation
};

template <int M_, int NV_>
inline void storeTile(R (&acc)[M_][NV_], float* c, int64_t ldc, int n, const TileEp& ep) {
  if (ep.alpha != 1.f) {
    const R a = Vec::set1(ep.alpha);
    for (int i = 0; i < M_; ++i)
      for (int v = 0; v < NV_; ++v) acc[i][v] = Vec::mul(acc[i][v], a);
  }
  const R beta = Vec::set1(ep.beta);
  for (int i = 0; i < M_; ++i) {
    float* row = c + i * ldc;
    const R rowBias = ep.biasRow ? Vec::set1(ep.biasRow[i]) : Vec::zero();
    for (int v = 0; v < NV_; ++v) {
      const int col = v * L;
      const int cnt = n - col < L ? n - col : L;
      if (cnt <= 0) break;
      const bool full = cnt == L;
      R x = acc[i][v];
      if (ep.readC) {
        const R old = full ? Vec::load(row + col) : Vec::loadPartial(row + col, cnt);
        x = ep.beta == 1.f ? Vec::add(x, old) : Vec::fma(beta, old, x);
      }
      if (ep.last) {
        if (ep.biasCol) x = Vec::add(x, full ? Vec::load(ep.biasCol + col) : Vec::loadPartial(ep.biasCol + col, cnt));
        if (ep.biasRow) x = Vec::add(x, rowBias);
        const float* r = ep.res ? ep.res + i * ep.ldr + col : nullptr;
        if (r && ep.resFirst) x = Vec::add(x, full ? Vec::load(r) : Vec::loadPartial(r, cnt));
        if (ep.act != Activation::None) x = act::apply<Vec>(ep.act, x);
        if (r && !ep.resFirst) x = Vec::add(x, full ? Vec::load(r) : Vec::loadPartial(r, cnt));
      }
      if (full) Vec::store(row + col, x);
      else Vec::storePartial(row + col, x, cnt);
    }
  }
}

// How many B rows ahead the micro-kernel prefetches. Streaming a prepacked B from memory
// past a few rows (runRangeStreamB) wants it far ahead: 48 rows (6 KB of a 32-wide panel)
// ran a 6-layer encoder at 8-32 tokens 7-12% faster than 16. A B block packed into L2 for
// many rows (runRange) wants it near: 48 there cost large matmuls 5-8% (it pulls the next
// panel into L1 over the current one).
constexpr int kPrefetchNearK = 16, kPrefetchFarK = 48;

// C tile (M_ rows, n <= NV_*L valid columns) from a k-major A panel (M_ floats per k)
// and a k-major B panel (NV_*L floats per k). Accumulation is in k order per element.
template <int M_, int NV_, int PrefetchK>
inline void microKernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc,
                        int n, const TileEp& ep) {
  // C is touched only after the k loop; start its lines on their way now (they are
  // often in L3 or memory: C of a large product does not fit in L2).
#pragma GCC unroll 16
  for (int i = 0; i < M_; ++i) {
    __builtin_prefetch(c + i * ldc, 1);
    __builtin_prefetch(c + i * ldc + NV_ * L - 1, 1);
  }
  R acc[M_][NV_];
#pragma GCC unroll 16
  for (int i = 0; i < M_; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV_; ++v) acc[i][v] = Vec::zero();
  for (int64_t k = 0; k < kc; ++k) {
    R bv[NV_];
#pragma GCC unroll 4
    for (int v = 0; v < NV_; ++v) {
      __builtin_prefetch(b + PrefetchK * NV_ * L + v * L);
      bv[v] = Vec::load(b + v * L);
    }
#pragma GCC unroll 16
    for (int i = 0; i < M_; ++i) {
      const R av = Vec::set1(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV_; ++v) acc[i][v] = Vec::fma(av, bv[v], acc[i][v]);
    }
    a += M_;
    b += NV_ * L;
  }
  storeTile<M_, NV_>(acc, c, ldc, n, ep);
}

using MicroKernelFn = void (*)(int64_t, const float*, const float*, float*, int64_t, int, const TileEp&);

template <int NV_, int PrefetchK, int... Ms>
constexpr std::array<MicroKernelFn, sizeof...(Ms) + 1> makeKernelTable(std::integer_sequence<int, Ms...>) {
  return {{nullptr, &microKernel<Ms + 1, NV_, PrefetchK>...}};
}
// kernels[m] handles an m-row tile (m = 1..MR); tails get exact-height kernels.
constexpr auto kKernels = makeKernelTable<NV, kPrefetchNearK>(std::make_integer_sequence<int, MR>());
constexpr auto kStreamKernels = makeKernelTable<NV, kPrefetchFarK>(std::make_integer_sequence<int, MR>());

// ---- packing

// mr rows x kc columns of A (element (r, k) at src[r*rs + k*cs]) -> dst[k*mr + r].
inline void packAPanel(const float* src, int64_t rs, int64_t cs, int mr, int64_t kc, float* __restrict dst) {
  if (rs == 1 && mr == MR) {
    for (int64_t k = 0; k < kc; ++k) {
      const float* s = src + k * cs;
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) dst[k * MR + r] = s[r];
    }
  } else if (cs == 1 && mr == MR && L > 1 && MR <= L) {
    // Row-major A: transpose L x L tiles in registers (rows MR..L-1 are padding).
    R t[L];
    for (int64_t k0 = 0; k0 < kc; k0 += L) {
      const int cnt = static_cast<int>(std::min<int64_t>(L, kc - k0));
      for (int r = 0; r < L; ++r)
        t[r] = r >= MR ? Vec::zero() : (cnt == L ? Vec::load(src + r * rs + k0) : Vec::loadPartial(src + r * rs + k0, cnt));
      transposeSquare<Vec>(t);
      for (int kk = 0; kk < cnt; ++kk) Vec::storePartial(dst + (k0 + kk) * MR, t[kk], MR);
    }
  } else if (cs == 1 && mr == MR) {
    for (int64_t k = 0; k < kc; ++k) {
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) dst[k * MR + r] = src[r * rs + k];
    }
  } else {
    for (int64_t k = 0; k < kc; ++k)
      for (int r = 0; r < mr; ++r) dst[k * mr + r] = src[r * rs + k * cs];
  }
}

// Rows [i0, i0+mc) x cols [k0, k0+kc) of A as consecutive MR-row panels (the last one
// mc % MR rows high, unpadded: it is read by the exact-height kernel).
inline void packA(const MatrixRef& A, int64_t i0, int64_t mc, int64_t k0, int64_t kc, float* dst) {
  for (int64_t p = 0; p < mc; p += MR) {
    const int mr = static_cast<int>(std::min<int64_t>(MR, mc - p));
    packAPanel(A.data + (i0 + p) * A.rowStride + k0 * A.colStride, A.rowStride, A.colStride, mr, kc, dst);
    dst += mr * kc;
  }
}

// A's panels of rows [i0, i0+mc) (i0 a multiple of MR) for the K slice at pc: found
// prepacked, or packed now into scratch.
inline const float* aBlock(const GemmProblem& p, int64_t i0, int64_t mc, int64_t pc, int64_t kc, float* scratch) {
  if (p.packedA) return p.packedA->data() + pc * p.M + i0 * kc;
  packA(p.A, i0, mc, pc, kc, scratch);
  return scratch;
}

// kc rows x nr columns of B (element (k, j) at src[k*rs + j*cs]) -> dst[k*width + j],
// zero padded to `width` columns.
inline void packBPanel(const float* src, int64_t rs, int64_t cs, int64_t kc, int nr, int width,
                       float* __restrict dst) {
  if (cs == 1 && width % L == 0) {
    const int nv = width / L;
    for (int64_t k = 0; k < kc; ++k) {
      const float* s = src + k * rs;
      float* d = dst + k * width;
      for (int v = 0; v < nv; ++v) {
        const int cnt = nr - v * L;
        if (cnt >= L) Vec::store(d + v * L, Vec::load(s + v * L));
        else Vec::store(d + v * L, cnt > 0 ? Vec::loadPartial(s + v * L, cnt) : Vec::zero());
      }
    }
    return;
  }
  if (rs == 1 && L > 1 && width % L == 0) {
    // B^T stored (a linear weight, attention's K): columns are contiguous in k, so
    // L x L tiles are transposed in registers; columns past nr are zero.
    R t[L];
    for (int j0 = 0; j0 < width; j0 += L) {
      const int cols = std::max(0, std::min(L, nr - j0));
      for (int64_t k0 = 0; k0 < kc; k0 += L) {
        const int cnt = static_cast<int>(std::min<int64_t>(L, kc - k0));
        for (int c = 0; c < L; ++c) {
          const float* col = src + (j0 + c) * cs + k0;
          t[c] = c >= cols ? Vec::zero() : (cnt == L ? Vec::load(col) : Vec::loadPartial(col, cnt));
        }
        transposeSquare<Vec>(t);
        for (int kk = 0; kk < cnt; ++kk) Vec::store(dst + (k0 + kk) * width + j0, t[kk]);
      }
    }
    return;
  }
  if (rs == 1) {
    // B^T stored (e.g. a linear weight): each column is contiguous in k.
    for (int j = 0; j < nr; ++j) {
      const float* s = src + j * cs;
      for (int64_t k = 0; k < kc; ++k) dst[k * width + j] = s[k];
    }
  } else {
    for (int64_t k = 0; k < kc; ++k)
      for (int j = 0; j < nr; ++j) dst[k * width + j] = src[k * rs + j * cs];
  }
  for (int64_t k = 0; k < kc; ++k)
    for (int j = nr; j < width; ++j) dst[k * width + j] = 0.f;
}

// ---- per-thread scratch (pool workers are persistent, so this is allocated once)

struct Scratch {
  float* ptr = nullptr;
  size_t cap = 0;
  float* get(size_t n) {
    if (n > cap) {
      std::free(ptr);
      cap = std::max<size_t>(n, 1024);
      ptr = static_cast<float*>(std::aligned_alloc(64, (cap * sizeof(float) + 63) / 64 * 64));
      if (!ptr) throw std::bad_alloc();
    }
    return ptr;
  }
  ~Scratch() { std::free(ptr); }
};
struct Workspace {
  Scratch a, b, v;
};
inline Workspace& workspace() {
  static thread_local Workspace ws;
  return ws;
}

// ---- the blocked driver

inline TileEp tileEpilogue(const GemmProblem& p, int64_t row, int64_t col, bool first, bool last) {
  const GemmEpilogue& e = p.ep;
  TileEp t;
  t.alpha = e.alpha;
  t.beta = first ? e.beta : 1.f;
  t.readC = !first || e.beta != 0.f;
  t.last = last;
  if (e.bias) {
    if (e.biasMode == BiasMode::PerColumn) t.biasCol = e.bias + col;
    else t.biasRow = e.bias + row;
  }
  t.act = e.act;
  if (e.residual) {
    t.res = e.residual + row * e.ldResidual + col;
    t.ldr = e.ldResidual;
    t.resFirst = e.residualFirst;
  }
  return t;
}

// Rows [m0, m1) x cols [n0, n1) of C, all of K, on the calling thread.
// Pulls the C tile the next micro-kernel call will update toward L2 a whole call ahead
// (the call's own prefetch then finds it close): C of a large product lives in L3.
inline void prefetchTileL2(const float* c, int64_t ldc, int64_t rows) {
  for (int64_t i = 0; i < rows; ++i)
    for (int j = 0; j < NR; j += 16) __builtin_prefetch(c + i * ldc + j, 1, 2);
}

// Packs (or finds, when prepacked) B's panel of columns [col, col+nr) for K slice pc.
inline const float* bPanel(const GemmProblem& p, int64_t pc, int64_t kc, int64_t col, int nr, float* scratch) {
  if (p.packed) return p.packed->data() + pc * ((p.N + NR - 1) / NR) * NR + (col / NR) * kc * NR;
  if (p.source) p.source->pack(pc, kc, col, nr, NR, scratch);
  else packBPanel(p.B.data + pc * p.B.rowStride + col * p.B.colStride, p.B.rowStride, p.B.colStride, kc, nr, NR, scratch);
  return scratch;
}

// Few rows (a thread's share of a short M): A stays packed for the whole K slice and
// each B panel is packed right before its micro-kernels use it, so it is still in L1;
// B panels are not reused across row blocks here, so nothing is gained by packing a
// whole NC block up front (that round-trips it through L2/L3).
constexpr int64_t kStreamRows = 2 * MC;

inline void runRangeStreamB(const GemmProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  Workspace& ws = workspace();
  const int64_t K = p.K, mc = m1 - m0;
  float* Ascratch = p.packedA ? nullptr : ws.a.get(static_cast<size_t>(kStreamRows * KC));
  float* Bp = ws.b.get(static_cast<size_t>(KC * NR));
  for (int64_t pc = 0;;) {
    const int64_t kc = std::min(KC, K - pc);
    const bool first = pc == 0, last = pc + kc >= K;
    const float* Ap = kc > 0 ? aBlock(p, m0, mc, pc, kc, Ascratch) : nullptr;
    for (int64_t col = n0; col < n1; col += NR) {
      const int nr = static_cast<int>(std::min<int64_t>(NR, n1 - col));
      const float* bp = kc > 0 ? bPanel(p, pc, kc, col, nr, Bp) : nullptr;
      for (int64_t ir = 0; ir < mc; ir += MR) {
        const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
        const int64_t row = m0 + ir;
        const TileEp ep = tileEpilogue(p, row, col, first, last);
        if (ir + MR < mc) prefetchTileL2(p.C + (row + MR) * p.ldc + col, p.ldc, std::min<int64_t>(MR, mc - ir - MR));
        kStreamKernels[mr](kc, Ap + ir * kc, bp, p.C + row * p.ldc + col, p.ldc, nr, ep);
        if (last && p.ep.tileFn) p.ep.tileFn(p.ep.tileCtx, p.C, p.ldc, row, col, mr, nr);
      }
    }
    pc += kc;
    if (pc >= K) break;
  }
}

inline void runRange(const GemmProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  if (m0 >= m1 || n0 >= n1) return;
  if (m1 - m0 <= kStreamRows) return runRangeStreamB(p, m0, m1, n0, n1);
  Workspace& ws = workspace();
  const int64_t K = p.K;
  float* Ascratch = p.packedA ? nullptr : ws.a.get(static_cast<size_t>(MC * KC));
  const int64_t nPanelsAll = (p.N + NR - 1) / NR;
  for (int64_t jc = n0; jc < n1; jc += NC) {
    const int64_t nc = std::min(NC, n1 - jc);
    for (int64_t pc = 0;;) {
      const int64_t kc = std::min(KC, K - pc);
      const bool first = pc == 0, last = pc + kc >= K;
      const float* Bblock = nullptr;
      if (kc > 0) {
        if (p.packed) {
          Bblock = p.packed->data() + pc * nPanelsAll * NR + (jc / NR) * kc * NR;
        } else {
          float* Bp = ws.b.get(static_cast<size_t>(KC * NC));
          for (int64_t jr = 0; jr < nc; jr += NR) {
            const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
            float* dst = Bp + (jr / NR) * kc * NR;
            if (p.source) p.source->pack(pc, kc, jc + jr, nr, NR, dst);
            else packBPanel(p.B.data + pc * p.B.rowStride + (jc + jr) * p.B.colStride, p.B.rowStride,
                            p.B.colStride, kc, nr, NR, dst);
          }
          Bblock = Bp;
        }
      }
      for (int64_t ic = m0; ic < m1; ic += MC) {
        const int64_t mc = std::min(MC, m1 - ic);
        const float* Ap = kc > 0 ? aBlock(p, ic, mc, pc, kc, Ascratch) : nullptr;
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
          const float* bp = kc > 0 ? Bblock + (jr / NR) * kc * NR : nullptr;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
            const int64_t row = ic + ir, col = jc + jr;
            const TileEp ep = tileEpilogue(p, row, col, first, last);
            float* c = p.C + row * p.ldc + col;
            if (ir + MR < mc) prefetchTileL2(c + MR * p.ldc, p.ldc, std::min<int64_t>(MR, mc - ir - MR));
            kKernels[mr](kc, Ap + ir * kc, bp, c, p.ldc, nr, ep);
            if (last && p.ep.tileFn) p.ep.tileFn(p.ep.tileCtx, p.C, p.ldc, row, col, mr, nr);
          }
        }
      }
      pc += kc;
      if (pc >= K) break;
    }
  }
}

inline void packFull(int64_t K, int64_t N, MatrixRef B, PackedB& out) {
  const int64_t nPanels = (N + NR - 1) / NR;
  float* base = out.mutableData();
  const int64_t blocks = (K + KC - 1) / KC;
  parallelFor(blocks * nPanels, 16, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t blk = t / nPanels, panel = t % nPanels;
      const int64_t pc = blk * KC, kc = std::min(KC, K - pc), j = panel * NR;
      const int nr = static_cast<int>(std::min<int64_t>(NR, N - j));
      packBPanel(B.data + pc * B.rowStride + j * B.colStride, B.rowStride, B.colStride, kc, nr, NR,
                 base + pc * nPanels * NR + panel * kc * NR);
    }
  });
}

// Every K slice of A, all rows: the layout aBlock reads (gemm.h, PackedA).
inline void packFullA(int64_t M, int64_t K, MatrixRef A, PackedA& out) {
  for (int64_t pc = 0; pc < K; pc += KC) packA(A, 0, M, pc, std::min(KC, K - pc), out.mutableData() + pc * M);
}

// ---- GEMV: few rows (M <= kGemvMaxRows) or N == 1 without packing (memory bound: each
// weight element is read once, for all rows)

// y[i * ldy + r - r0] = sum_k M(r, k) x_i[k] for the NX vectors x_i (each contiguous, K
// long) and r in [r0, r1) (M is rows x K through strides). Each element of M is loaded
// once for all NX vectors.
template <int NX>
inline void gemvRaw(const MatrixRef& m, int64_t K, const float* const* x, int64_t r0, int64_t r1, float* y,
                    int64_t ldy) {
  if (m.colStride == 1) {
    // Rows of M are contiguous: dot products over RB rows of M at once, so each vector of x
    // loaded serves RB rows and each of M serves NX vectors (NX * RB independent FMA chains).
    constexpr int RB = (L >= 16 || NX <= 2) ? 4 : 2;  // AVX2's 16 registers: NX * RB + RB + NX
    int64_t r = r0;
    for (; r + RB <= r1; r += RB) {
      const float* row[RB];
      for (int b = 0; b < RB; ++b) row[b] = m.data + (r + b) * m.rowStride;
      R s[NX][RB];
      for (int i = 0; i < NX; ++i)
        for (int b = 0; b < RB; ++b) s[i][b] = Vec::zero();
      for (int64_t k = 0; k < K; k += L) {
        const int cnt = static_cast<int>(std::min<int64_t>(L, K - k));
        R w[RB], xv[NX];
        for (int b = 0; b < RB; ++b) w[b] = cnt == L ? Vec::load(row[b] + k) : Vec::loadPartial(row[b] + k, cnt);
        for (int i = 0; i < NX; ++i) xv[i] = cnt == L ? Vec::load(x[i] + k) : Vec::loadPartial(x[i] + k, cnt);
        for (int i = 0; i < NX; ++i)
          for (int b = 0; b < RB; ++b) s[i][b] = Vec::fma(w[b], xv[i], s[i][b]);
      }
      for (int i = 0; i < NX; ++i)
        for (int b = 0; b < RB; ++b) y[i * ldy + r + b - r0] = Vec::reduceAdd(s[i][b]);
    }
    for (; r < r1; ++r) {
      const float* row = m.data + r * m.rowStride;
      R s[NX];
      for (int i = 0; i < NX; ++i) s[i] = Vec::zero();
      for (int64_t k = 0; k < K; k += L) {
        const int cnt = static_cast<int>(std::min<int64_t>(L, K - k));
        const R w = cnt == L ? Vec::load(row + k) : Vec::loadPartial(row + k, cnt);
        for (int i = 0; i < NX; ++i) s[i] = Vec::fma(w, cnt == L ? Vec::load(x[i] + k) : Vec::loadPartial(x[i] + k, cnt), s[i]);
      }
      for (int i = 0; i < NX; ++i) y[i * ldy + r - r0] = Vec::reduceAdd(s[i]);
    }
  } else if (m.rowStride == 1) {
    // Columns are contiguous: y_i += x_i[k] * column k, vectorised over r.
    const int64_t n = r1 - r0;
    for (int i = 0; i < NX; ++i)
      for (int64_t j = 0; j < n; ++j) y[i * ldy + j] = 0.f;
    for (int64_t k = 0; k < K; ++k) {
      const float* col = m.data + k * m.colStride + r0;
      int64_t j = 0;
      for (; j + L <= n; j += L) {
        const R c = Vec::load(col + j);
        for (int i = 0; i < NX; ++i) Vec::store(y + i * ldy + j, Vec::fma(Vec::set1(x[i][k]), c, Vec::load(y + i * ldy + j)));
      }
      if (j < n) {
        const int cnt = static_cast<int>(n - j);
        const R c = Vec::loadPartial(col + j, cnt);
        for (int i = 0; i < NX; ++i)
          Vec::storePartial(y + i * ldy + j, Vec::fma(Vec::set1(x[i][k]), c, Vec::loadPartial(y + i * ldy + j, cnt)), cnt);
      }
    }
  } else {
    for (int i = 0; i < NX; ++i)
      for (int64_t r = r0; r < r1; ++r) {
        float s = 0.f;
        for (int64_t k = 0; k < K; ++k) s += m.data[r * m.rowStride + k * m.colStride] * x[i][k];
        y[i * ldy + r - r0] = s;
      }
  }
}

// Output elements [r0, r1) along the long side of a problem with few rows (M <= kGemvMaxRows:
// columns r of every row) or one column (N == 1: rows r).
inline void gemvRange(const GemmProblem& p, int64_t r0, int64_t r1) {
  if (r0 >= r1) return;
  const bool fewRows = p.M <= kGemvMaxRows;  // C[i, r] = sum_k A(i,k) B(k,r)
  const int nx = fewRows ? static_cast<int>(p.M) : 1;
  MatrixRef m;
  const float* x[kGemvMaxRows];
  Workspace& ws = workspace();
  if (fewRows) {
    m = MatrixRef{p.B.data, p.B.colStride, p.B.rowStride};
    // rows of A, copied when their elements are not adjacent
    float* copies = p.A.colStride == 1 ? nullptr : ws.v.get(static_cast<size_t>(nx * p.K));
    for (int i = 0; i < nx; ++i) {
      const float* row = p.A.data + i * p.A.rowStride;
      if (copies) {
        float* t = copies + i * p.K;
        for (int64_t k = 0; k < p.K; ++k) t[k] = row[k * p.A.colStride];
        row = t;
      }
      x[i] = row;
    }
  } else {
    m = p.A;
    x[0] = p.B.data;
    if (p.B.rowStride != 1) {
      float* t = ws.v.get(static_cast<size_t>(p.K));
      for (int64_t k = 0; k < p.K; ++k) t[k] = p.B.data[k * p.B.rowStride];
      x[0] = t;
    }
  }
  // Blocks keep the outputs in L1 for the column-contiguous (axpy) order.
  constexpr int64_t kBlock = 2048 / kGemvMaxRows;
  float buf[kGemvMaxRows * kBlock];
  const GemmEpilogue& e = p.ep;
  for (int64_t b0 = r0; b0 < r1; b0 += kBlock) {
    const int64_t b1 = std::min(r1, b0 + kBlock);
    if (p.K == 0) std::fill(buf, buf + nx * kBlock, 0.f);
    else if (nx == 1) gemvRaw<1>(m, p.K, x, b0, b1, buf, kBlock);
    else if (nx == 2) gemvRaw<2>(m, p.K, x, b0, b1, buf, kBlock);
    else if (nx == 3) gemvRaw<3>(m, p.K, x, b0, b1, buf, kBlock);
    else gemvRaw<4>(m, p.K, x, b0, b1, buf, kBlock);
    const int64_t n = b1 - b0;
    for (int xi = 0; xi < nx; ++xi) {
      float* y = buf + xi * kBlock;
      for (int64_t r = b0; r < b1; ++r) {
        const int64_t i = fewRows ? xi : r, j = fewRows ? r : 0;
        float v = e.alpha * y[r - b0];
        if (e.beta != 0.f) v += e.beta * p.C[i * p.ldc + j];
        if (e.bias) v += e.biasMode == BiasMode::PerColumn ? e.bias[j] : e.bias[i];
        if (e.residual && e.residualFirst) v += e.residual[i * e.ldResidual + j];
        y[r - b0] = v;
      }
      // the activation of the blocked path's epilogue (activation.h): the same bits
      if (e.act != Activation::None)
        for (int64_t k = 0; k < n; k += L) {
          const int cnt = static_cast<int>(std::min<int64_t>(L, n - k));
          Vec::storePartial(y + k, act::apply<Vec>(e.act, Vec::loadPartial(y + k, cnt)), cnt);
        }
      for (int64_t r = b0; r < b1; ++r) {
        const int64_t i = fewRows ? xi : r, j = fewRows ? r : 0;
        float v = y[r - b0];
        if (e.residual && !e.residualFirst) v += e.residual[i * e.ldResidual + j];
        p.C[i * p.ldc + j] = v;
      }
    }
  }
  if (e.tileFn) {
    if (fewRows) e.tileFn(e.tileCtx, p.C, p.ldc, 0, r0, p.M, r1 - r0);
    else e.tileFn(e.tileCtx, p.C, p.ldc, r0, 0, r1 - r0, 1);
  }
}

inline GemmImpl makeImpl() {
  GemmImpl g;
  g.mr = MR;
  g.nr = NR;
  g.kc = KC;
  g.run = &runRange;
  g.gemv = &gemvRange;
  g.pack = &packFull;
  g.packLeft = &packFullA;
  return g;
}

}  // namespace gemm
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
