// "sdpa": fused scaled dot-product attention (F.scaled_dot_product_attention), float32.
//
// Flash-attention order: per (batch entry, block of query rows), keys are visited in
// blocks; each block's scores Q·K^T (the GEMM micro-kernel over packed panels) get the
// mask, then an online softmax (running row max m and sum l; earlier output rows are
// rescaled by e^(m_old - m_new)) and P·V accumulates into an output tile that is
// normalised by l at the end. Nothing of size L x S ever reaches memory. K^T and V are
// packed once per batch entry into the GEMM's panel layout.
//
// inputs: q [..., L, E], k [..., S, E], v [..., S, Ev], optional mask broadcastable to
//   [..., L, S] (bool: true = may attend; float32: added to the scores);
//   batch dims of q/k/v broadcast to out's; with enableGqa, k/v's dim -3 is repeated
//   repeat_interleave-style up to q's.
// output: [..., L, Ev], any strides (the graph executor may hand in a permuted view of
//   [..., L, H, Ev] so heads land where the next projection reads them).
// attrs: [scale, isCausal (0|1; tril(ones(L, S)) aligned top-left), maskKind (0 none,
//   1 bool, 2 float), enableGqa (0|1)].
// A row with every key masked yields NaN (as torch's softmax over all -inf); S == 0
// yields zeros (softmax over an empty dim, then an empty sum).
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <utility>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/gemm/gemm.h"

// GCC 12 flags the intrinsics' own _mm512_undefined_* placeholders as uninitialised.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#ifndef TJ_ISA_PASS
#define TJ_ISA_SELF "kernels/attention/sdpa.cc"
#include "simd/foreach_isa.h"
#else

#include "kernels/gemm/gemm_body.h"

namespace tensorjit {
namespace TJ_ISA_NS {
namespace {

using gemm::L;
using gemm::MR;
using gemm::NR;
using R = Vec::Reg;

constexpr int64_t kQueryBlock = 2 * MR;
constexpr int64_t kKeyBlock = 256 / NR * NR;  // 256 keys, or the most whole panels below it
static_assert(kKeyBlock % NR == 0, "key blocks hold whole panels");
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Element offsets of one operand for a flat batch index (broadcast dims have stride 0;
// the GQA dim divides the index by the group size).
struct BatchWalk {
  int nb = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride[kMaxDims] = {};
  int64_t div[kMaxDims] = {};
  int64_t offset(int64_t b) const {
    int64_t off = 0;
    for (int d = nb - 1; d >= 0; --d) {
      const int64_t idx = b % shape[d];
      b /= shape[d];
      off += idx / div[d] * stride[d];
    }
    return off;
  }
};

BatchWalk walkFor(const TensorView& v, int tailDims, const int64_t* outBatch, int nb, bool gqa, const char* name) {
  BatchWalk w;
  w.nb = nb;
  const int vb = v.ndim - tailDims;
  if (vb > nb) throwRangeError(std::string("scaledDotProductAttention: ") + name + " " + v.shapeString() + " has more batch dims than the output");
  for (int d = 0; d < nb; ++d) {
    w.shape[d] = outBatch[d];
    w.div[d] = 1;
    const int vd = d - (nb - vb);
    const int64_t size = vd >= 0 ? v.shape[vd] : 1;
    if (size == 1) continue;
    if (size == outBatch[d]) {
      w.stride[d] = v.strides[vd];
    } else if (gqa && d == nb - 1 && size > 0 && outBatch[d] % size == 0) {
      w.stride[d] = v.strides[vd];
      w.div[d] = outBatch[d] / size;
    } else {
      throwRangeError(std::string("scaledDotProductAttention: ") + name + " " + v.shapeString() +
                      " does not broadcast to the batch of the output");
    }
  }
  return w;
}

struct Problem {
  int64_t L = 0, S = 0, E = 0, Ev = 0;
  float scale = 1.f;
  bool causal = false;
  int maskKind = 0;
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  const void* mask = nullptr;
  float* out = nullptr;
  int64_t osL = 0, osE = 0;  // the output may be any strided view (e.g. [B, L, H, Ev] permuted)
  int64_t qsL = 0, qsE = 0, ksS = 0, ksE = 0, vsS = 0, vsE = 0, msL = 0, msS = 0;
  BatchWalk qw, kw, vw, mw, ow;
};

struct Buffers {
  gemm::Scratch kt, vp, qp, scores, pp, acc, stats;
};
Buffers& buffers() {
  static thread_local Buffers b;
  return b;
}

// Masks, causal limit, online-softmax update for rows [0, rows) of one score block
// (row r is query i0 + r; columns are keys s0 .. s0 + sb). Writes probabilities in place
// and returns, per row, the factor the accumulated output must be scaled by.
void softmaxBlock(const Problem& p, int64_t maskOff, int64_t i0, int64_t rows, int64_t s0, int64_t sb, float* scores,
                  int64_t lds, float* rowMax, float* rowSum, float* correction) {
  for (int64_t r = 0; r < rows; ++r) {
    float* s = scores + r * lds;
    const int64_t i = i0 + r;
    if (p.maskKind == 2) {
      const float* m = static_cast<const float*>(p.mask) + maskOff + i * p.msL + s0 * p.msS;
      if (p.msS == 1) {
        int64_t j = 0;
        for (; j + L <= sb; j += L) Vec::store(s + j, Vec::add(Vec::load(s + j), Vec::load(m + j)));
        for (; j < sb; ++j) s[j] += m[j];
      } else {
        for (int64_t j = 0; j < sb; ++j) s[j] += m[j * p.msS];
      }
    } else if (p.maskKind == 1) {
      const uint8_t* m = static_cast<const uint8_t*>(p.mask) + maskOff + i * p.msL + s0 * p.msS;
      int64_t j = 0;
      if (p.msS == 1) {
        const R ninf = Vec::set1(kNegInf);
        for (; j + L <= sb; j += L) Vec::store(s + j, Vec::select(Vec::loadMaskBytes(m + j), Vec::load(s + j), ninf));
      }
      for (; j < sb; ++j)
        if (!m[j * p.msS]) s[j] = kNegInf;
    }
    int64_t valid = sb;  // causal: keys j <= i
    if (p.causal) valid = std::max<int64_t>(0, std::min(sb, i + 1 - s0));
    R mx = Vec::set1(kNegInf);
    int64_t j = 0;
    for (; j + L <= valid; j += L) mx = Vec::max(mx, Vec::load(s + j));
    float m = Vec::reduceMax(mx);
    for (; j < valid; ++j) m = std::max(m, s[j]);
    const float mOld = rowMax[r];
    const float mNew = std::max(mOld, m);
    if (mNew == kNegInf) {  // nothing to attend to yet: contributes nothing
      std::fill(s, s + sb, 0.f);
      correction[r] = 1.f;
      continue;
    }
    const R mv = Vec::set1(mNew);
    R sum = Vec::zero();
    j = 0;
    for (; j + L <= valid; j += L) {
      const R e = vmath::exp<Vec>(Vec::sub(Vec::load(s + j), mv));
      Vec::store(s + j, e);
      sum = Vec::add(sum, e);
    }
    float tail = 0.f;
    if (j < valid) {
      const int cnt = static_cast<int>(valid - j);
      Vec::storePartial(s + j, vmath::exp<Vec>(Vec::sub(Vec::loadPartial(s + j, cnt), mv)), cnt);
      for (int64_t t = j; t < valid; ++t) tail += s[t];
    }
    std::fill(s + valid, s + sb, 0.f);
    const float c = mOld == kNegInf ? 0.f : std::exp(mOld - mNew);
    rowSum[r] = rowSum[r] * c + Vec::reduceAdd(sum) + tail;
    correction[r] = c;
    rowMax[r] = mNew;
  }
}

// Query rows [i0, i0 + rows) of batch entry b, given packed K^T (kt) and V (vp).
void attendBlock(const Problem& p, int64_t b, int64_t i0, int64_t rows, const float* kt, const float* vp, Buffers& buf) {
  const int64_t E = p.E, Ev = p.Ev, S = p.S;
  const int64_t evPanels = (Ev + NR - 1) / NR, ldo = evPanels * NR;
  float* qp = buf.qp.get(static_cast<size_t>(kQueryBlock * std::max<int64_t>(E, 1)));
  float* scores = buf.scores.get(static_cast<size_t>(kQueryBlock * kKeyBlock));
  float* pp = buf.pp.get(static_cast<size_t>(kQueryBlock * kKeyBlock));
  float* acc = buf.acc.get(static_cast<size_t>(kQueryBlock * ldo));
  float* stats = buf.stats.get(static_cast<size_t>(3 * kQueryBlock));
  float* rowMax = stats;
  float* rowSum = stats + kQueryBlock;
  float* correction = stats + 2 * kQueryBlock;
  std::fill(rowMax, rowMax + rows, kNegInf);
  std::fill(rowSum, rowSum + rows, 0.f);
  std::fill(acc, acc + rows * ldo, 0.f);

  const MatrixRef qm{p.q + p.qw.offset(b), p.qsL, p.qsE};
  if (E > 0) gemm::packA(qm, i0, rows, 0, E, qp);
  const int64_t maskOff = p.maskKind ? p.mw.offset(b) : 0;
  const int64_t lastRow = i0 + rows - 1;

  for (int64_t s0 = 0; s0 < S; s0 += kKeyBlock) {
    if (p.causal && s0 > lastRow) break;  // every key from here on is in the future of every row
    const int64_t sb = std::min(kKeyBlock, S - s0);
    // scores = scale * Q K^T for this key block
    for (int64_t jr = 0; jr < sb; jr += NR) {
      const int nr = static_cast<int>(std::min<int64_t>(NR, sb - jr));
      const float* bpanel = kt + (s0 + jr) / NR * E * NR;
      for (int64_t ir = 0; ir < rows; ir += MR) {
        const int mr = static_cast<int>(std::min<int64_t>(MR, rows - ir));
        gemm::TileEp ep;
        ep.alpha = E > 0 ? p.scale : 1.f;
        gemm::kKernels[mr](E, qp + ir * E, bpanel, scores + ir * kKeyBlock + jr, kKeyBlock, nr, ep);
      }
    }
    softmaxBlock(p, maskOff, i0, rows, s0, sb, scores, kKeyBlock, rowMax, rowSum, correction);
    // acc = acc * correction + P V
    if (s0 > 0) {
      for (int64_t r = 0; r < rows; ++r) {
        if (correction[r] == 1.f) continue;
        const R c = Vec::set1(correction[r]);
        float* a = acc + r * ldo;
        for (int64_t j = 0; j < ldo; j += L) Vec::store(a + j, Vec::mul(Vec::load(a + j), c));
      }
    }
    gemm::packA(MatrixRef{scores, kKeyBlock, 1}, 0, rows, 0, sb, pp);
    const float* vblock = vp + s0 * ldo;
    for (int64_t jr = 0; jr < Ev; jr += NR) {
      const int nr = static_cast<int>(std::min<int64_t>(NR, Ev - jr));
      for (int64_t ir = 0; ir < rows; ir += MR) {
        const int mr = static_cast<int>(std::min<int64_t>(MR, rows - ir));
        gemm::TileEp ep;
        ep.readC = true;
        ep.beta = 1.f;
        gemm::kKernels[mr](sb, pp + ir * sb, vblock + jr * sb, acc + ir * ldo + jr, ldo, nr, ep);
      }
    }
  }

  float* out = p.out + p.ow.offset(b) + i0 * p.osL;
  for (int64_t r = 0; r < rows; ++r) {
    const float l = rowSum[r];
    float* o = out + r * p.osL;
    const float* a = acc + r * ldo;
    const bool masked = !(l > 0.f) && !std::isnan(l);  // every key masked: NaN, as torch
    const float inv = masked ? std::numeric_limits<float>::quiet_NaN() : 1.f / l;
    if (p.osE != 1) {
      for (int64_t j = 0; j < Ev; ++j) o[j * p.osE] = masked ? inv : a[j] * inv;
      continue;
    }
    if (masked) {
      std::fill(o, o + Ev, inv);
      continue;
    }
    const R iv = Vec::set1(inv);
    int64_t j = 0;
    for (; j + L <= Ev; j += L) Vec::store(o + j, Vec::mul(Vec::load(a + j), iv));
    if (j < Ev) Vec::storePartial(o + j, Vec::mul(Vec::load(a + j), iv), static_cast<int>(Ev - j));
  }
}

// Packs K^T (E x S, panels of NR keys) and V (per key block: S x Ev panels of NR columns).
void packKeysValues(const Problem& p, int64_t b, float* kt, float* vp) {
  const int64_t E = p.E, S = p.S, Ev = p.Ev;
  const float* k = p.k + p.kw.offset(b);
  const float* v = p.v + p.vw.offset(b);
  if (E > 0)
    for (int64_t j = 0; j < S; j += NR)
      gemm::packBPanel(k + j * p.ksS, p.ksE, p.ksS, E, static_cast<int>(std::min<int64_t>(NR, S - j)), NR,
                       kt + j / NR * E * NR);
  const int64_t evPanels = (Ev + NR - 1) / NR, ldo = evPanels * NR;
  for (int64_t s0 = 0; s0 < S; s0 += kKeyBlock) {
    const int64_t sb = std::min(kKeyBlock, S - s0);
    float* block = vp + s0 * ldo;
    for (int64_t jr = 0; jr < Ev; jr += NR)
      gemm::packBPanel(v + s0 * p.vsS + jr * p.vsE, p.vsS, p.vsE, sb, static_cast<int>(std::min<int64_t>(NR, Ev - jr)), NR,
                       block + jr * sb);
  }
}

void sdpaKernel(const KernelArgs& args) {
  if (args.numAttrs < 4) throwRangeError("scaledDotProductAttention: expects 4 attrs");
  Problem p;
  p.scale = static_cast<float>(args.attr(0));
  p.causal = args.attr(1) != 0;
  p.maskKind = static_cast<int>(args.intAttr(2));
  const bool gqa = args.attr(3) != 0;
  if (p.maskKind < 0 || p.maskKind > 2) throwRangeError("scaledDotProductAttention: bad mask kind");
  if (args.numInputs != (p.maskKind ? 4 : 3) || args.numOutputs != 1)
    throwRangeError("scaledDotProductAttention: bad operand count");
  const TensorView& q = args.in(0);
  const TensorView& k = args.in(1);
  const TensorView& v = args.in(2);
  const TensorView& out = args.out(0);
  const char* names[3] = {"query", "key", "value"};
  for (int i = 0; i < 3; ++i) {
    const TensorView& t = args.in(i);
    if (t.dtype != DType::Float32)
      throwTypeError(std::string("scaledDotProductAttention: ") + names[i] + " must be float32, got " + dtypeName(t.dtype));
    if (t.ndim < 2) throwRangeError(std::string("scaledDotProductAttention: ") + names[i] + " " + t.shapeString() + " needs at least 2 dims");
  }
  if (out.dtype != DType::Float32 || out.ndim < 2) throwRangeError("scaledDotProductAttention: output must be float32");
  p.L = q.shape[q.ndim - 2];
  p.E = q.shape[q.ndim - 1];
  p.S = k.shape[k.ndim - 2];
  p.Ev = v.shape[v.ndim - 1];
  if (k.shape[k.ndim - 1] != p.E || v.shape[v.ndim - 2] != p.S || out.shape[out.ndim - 2] != p.L ||
      out.shape[out.ndim - 1] != p.Ev)
    throwRangeError("scaledDotProductAttention: query " + q.shapeString() + ", key " + k.shapeString() + ", value " +
                    v.shapeString() + " and output " + out.shapeString() + " do not match");
  const int nb = out.ndim - 2;
  p.qw = walkFor(q, 2, out.shape, nb, false, "query");
  p.kw = walkFor(k, 2, out.shape, nb, gqa, "key");
  p.vw = walkFor(v, 2, out.shape, nb, gqa, "value");
  p.q = q.ptr<float>();
  p.k = k.ptr<float>();
  p.v = v.ptr<float>();
  p.qsL = q.strides[q.ndim - 2];
  p.qsE = q.strides[q.ndim - 1];
  p.ksS = k.strides[k.ndim - 2];
  p.ksE = k.strides[k.ndim - 1];
  p.vsS = v.strides[v.ndim - 2];
  p.vsE = v.strides[v.ndim - 1];
  if (p.maskKind) {
    const TensorView& m = args.in(3);
    if ((p.maskKind == 1) != (m.dtype == DType::Bool) || (p.maskKind == 2 && m.dtype != DType::Float32))
      throwTypeError(std::string("scaledDotProductAttention: attnMask must be bool or float32, got ") + dtypeName(m.dtype));
    TensorView mm = m;  // pad to [..., L, S] so the walk sees its last two dims
    if (mm.ndim < 2) {
      const int pad = 2 - mm.ndim;
      for (int d = mm.ndim - 1; d >= 0; --d) {
        mm.shape[d + pad] = mm.shape[d];
        mm.strides[d + pad] = mm.strides[d];
      }
      for (int d = 0; d < pad; ++d) {
        mm.shape[d] = 1;
        mm.strides[d] = 0;
      }
      mm.ndim = 2;
    }
    const int64_t mL = mm.shape[mm.ndim - 2], mS = mm.shape[mm.ndim - 1];
    if ((mL != p.L && mL != 1) || (mS != p.S && mS != 1))
      throwRangeError("scaledDotProductAttention: attnMask " + m.shapeString() + " does not broadcast to [..., " +
                      std::to_string(p.L) + ", " + std::to_string(p.S) + "]");
    p.msL = mL == 1 ? 0 : mm.strides[mm.ndim - 2];
    p.msS = mS == 1 ? 0 : mm.strides[mm.ndim - 1];
    p.mw = walkFor(mm, 2, out.shape, nb, false, "attnMask");
    p.mask = m.data;
  }
  p.out = out.ptr<float>();
  p.osL = out.strides[nb];
  p.osE = out.strides[nb + 1];
  p.ow = walkFor(out, 2, out.shape, nb, false, "output");
  if (out.numel() == 0) return;
  int64_t batch = 1;
  for (int d = 0; d < nb; ++d) batch *= out.shape[d];
  if (p.S == 0) {  // softmax over no keys, then an empty sum: zeros
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < p.L; ++i)
        for (int64_t j = 0; j < p.Ev; ++j) p.out[p.ow.offset(b) + i * p.osL + j * p.osE] = 0.f;
    return;
  }

  const int64_t qBlocks = (p.L + kQueryBlock - 1) / kQueryBlock;
  const int threads = numThreads();
  // Whole batch entries per task when there are enough (K/V packed once); else split
  // the query blocks of each entry too.
  const int64_t chunks = batch >= 2 * threads ? 1 : std::min<int64_t>(qBlocks, (2 * threads + batch - 1) / batch);
  const int64_t tasks = batch * chunks;
  const double work = static_cast<double>(batch) * p.L * p.S * (p.E + p.Ev);
  const int64_t grain = work < 1 << 16 ? tasks : 1;
  const int64_t spad = (p.S + NR - 1) / NR * NR;
  const int64_t ldo = (p.Ev + NR - 1) / NR * NR;
  // Tasks come from a shared counter (a thread the OS delays does not hold the others
  // up); consecutive tasks of one batch entry reuse its packed K/V.
  std::atomic<int64_t> next{0};
  parallelFor(numChunks(tasks, grain), 1, [&](int64_t, int64_t) {
    Buffers& buf = buffers();
    float* kt = buf.kt.get(static_cast<size_t>(std::max<int64_t>(p.E, 1) * spad));
    float* vp = buf.vp.get(static_cast<size_t>(spad * ldo));
    int64_t packedFor = -1;
    for (int64_t t; (t = next.fetch_add(1, std::memory_order_relaxed)) < tasks;) {
      const int64_t b = t / chunks, c = t % chunks;
      if (b != packedFor) {
        packKeysValues(p, b, kt, vp);
        packedFor = b;
      }
      const int64_t qb0 = qBlocks * c / chunks, qb1 = qBlocks * (c + 1) / chunks;
      for (int64_t qb = qb0; qb < qb1; ++qb) {
        const int64_t i0 = qb * kQueryBlock;
        attendBlock(p, b, i0, std::min(kQueryBlock, p.L - i0), kt, vp, buf);
      }
    }
  });
}

TJ_REGISTER_KERNEL("sdpa", sdpaKernel);

}  // namespace
}  // namespace TJ_ISA_NS
}  // namespace tensorjit

#endif
