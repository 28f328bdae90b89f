// "max_pool2d": attrs [kh, kw, sh, sw, ph, pw, dh, dw]. Padding acts as -inf; NaN propagates.
// "avg_pool2d": attrs [kh, kw, sh, sw, ph, pw, countIncludePad (0/1)]; torch's divisors.
// Input [N, C, H, W] or [C, H, W] float32, any strides; output [..., OH, OW], whose size
// (ceil mode included) the TS side computes (lib/ops/conv.ts).
//
// Both pools are separable: per output row, the window's input rows are first combined
// column by column into an accumulator row (vectorized over the input width whatever the
// stride), then each output takes the kw accumulator columns of its window (vectorized
// over the output width; strides > 1 read phase-split copies of the accumulator).
// Rows of all N*C planes are split across threads.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/pool/pool2d_geometry.h"

#ifndef TJ_ISA_PASS
#define TJ_ISA_SELF "kernels/pool/pool2d.cc"
#include "simd/foreach_isa.h"
#else
namespace tensorjit {
namespace TJ_ISA_NS {
namespace {

using pool::Pool2dGeometry;

struct MaxOp {
  static float identity() { return -INFINITY; }
  // NaN-propagating max (V::max returns its second operand when either is NaN).
  template <class V>
  static typename V::Reg combine(typename V::Reg acc, typename V::Reg x) {
    return V::select(V::isNan(acc), acc, V::max(acc, x));
  }
  // A NaN acc stays (x > NaN is false); a NaN x replaces it.
  static float combine1(float acc, float x) { return x > acc || x != x ? x : acc; }
};

struct SumOp {
  static float identity() { return 0.f; }
  template <class V>
  static typename V::Reg combine(typename V::Reg acc, typename V::Reg x) { return V::add(acc, x); }
  static float combine1(float acc, float x) { return acc + x; }
};

template <class V, class Op>
void combineRow(float* acc, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) V::store(acc + i, Op::template combine<V>(V::load(acc + i), V::load(x + i)));
  for (; i < n; ++i) acc[i] = Op::combine1(acc[i], x[i]);
}

// Output row: y[ow] = Op over kj of acc[ow*sw + kj*dw], divided by rowDiv*colDiv[ow] for avg.
// With sw > 1 the accumulator is first split into sw phases (phase r holds columns
// r, r+sw, ...), so each window column is again a unit-stride run: column ow*sw + off
// is element ow + off/sw of phase off%sw.
template <class V, class Op, bool kAvg>
void windowRow(const Pool2dGeometry& g, const float* acc, float* phases, float* y, float rowDiv, const float* colDiv) {
  const int64_t span = g.span();
  const int64_t phaseLen = (span + g.sw - 1) / g.sw;
  if (g.sw > 1) {
    for (int64_t r = 0; r < g.sw; ++r) {
      float* ph = phases + r * phaseLen;
      for (int64_t j = 0, c = r; c < span; ++j, c += g.sw) ph[j] = acc[c];
    }
  }
  const typename V::Reg rd = V::set1(rowDiv);
  for (int64_t ow = 0; ow < g.OW; ow += V::kLanes) {
    const int rem = static_cast<int>(std::min<int64_t>(V::kLanes, g.OW - ow));
    const bool full = rem == V::kLanes;
    auto column = [&](int64_t kj) {
      const int64_t off = kj * g.dw;
      const float* p = g.sw == 1 ? acc + ow + off : phases + (off % g.sw) * phaseLen + ow + off / g.sw;
      return full ? V::load(p) : V::loadPartial(p, rem);
    };
    typename V::Reg r = column(0);
    for (int64_t kj = 1; kj < g.kw; ++kj) r = Op::template combine<V>(r, column(kj));
    if (kAvg) r = V::div(r, V::mul(rd, full ? V::load(colDiv + ow) : V::loadPartial(colDiv + ow, rem)));
    if (full) V::store(y + ow, r);
    else V::storePartial(y + ow, r, rem);
  }
}

template <class V, class Op, bool kAvg>
void poolRows(const Pool2dGeometry& g, const TensorView& in, const TensorView& out, const float* colDiv,
              bool countIncludePad, int64_t begin, int64_t end) {
  const int64_t span = g.span();
  const int64_t c0 = std::min(g.pw, span), c1 = std::min(g.pw + g.W, span);  // acc columns backed by input
  const int64_t inSH = in.strides[in.ndim - 2], inSW = in.strides[in.ndim - 1];
  const int64_t outSH = out.strides[out.ndim - 2], outSW = out.strides[out.ndim - 1];
  std::vector<float> acc(static_cast<size_t>(span));
  std::vector<float> rowBuf(inSW == 1 ? 0 : static_cast<size_t>(g.W));
  std::vector<float> outBuf(outSW == 1 ? 0 : static_cast<size_t>(g.OW));
  std::vector<float> phases(g.sw == 1 ? 0 : static_cast<size_t>(g.sw * ((span + g.sw - 1) / g.sw)));
  std::fill(acc.begin(), acc.begin() + c0, Op::identity());
  std::fill(acc.begin() + c1, acc.end(), Op::identity());
  const float* inBase = in.ptr<float>();
  float* outBase = out.ptr<float>();

  for (int64_t r = begin; r < end; ++r) {
    const int64_t p = r / g.OH, oh = r % g.OH;
    const float* plane = inBase + pool::planeOffset(in, g.leading, p);
    const int64_t hstart = oh * g.sh - g.ph;
    bool first = true;
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      const int64_t ih = hstart + ki * g.dh;
      if (ih < 0 || ih >= g.H || c1 <= c0) continue;
      const float* row = plane + ih * inSH;
      if (inSW != 1) {
        for (int64_t iw = 0; iw < c1 - c0; ++iw) rowBuf[static_cast<size_t>(iw)] = row[iw * inSW];
        row = rowBuf.data();
      }
      if (first) std::copy(row, row + (c1 - c0), acc.begin() + c0);
      else combineRow<V, Op>(acc.data() + c0, row, c1 - c0);
      first = false;
    }
    if (first) std::fill(acc.begin() + c0, acc.begin() + c1, Op::identity());

    const float rowDiv = kAvg ? pool::axisDivisor(oh, g.kh, g.sh, g.ph, g.H, countIncludePad) : 1.f;
    float* y = outBase + pool::planeOffset(out, g.leading, p) + oh * outSH;
    if (outSW == 1) {
      windowRow<V, Op, kAvg>(g, acc.data(), phases.data(), y, rowDiv, colDiv);
    } else {
      windowRow<V, Op, kAvg>(g, acc.data(), phases.data(), outBuf.data(), rowDiv, colDiv);
      for (int64_t ow = 0; ow < g.OW; ++ow) y[ow * outSW] = outBuf[static_cast<size_t>(ow)];
    }
  }
}

template <class Op, bool kAvg>
void runPool(const KernelArgs& a) {
  const Pool2dGeometry g = pool::readGeometry(a, !kAvg);
  const bool countIncludePad = kAvg && a.attr(6) != 0;
  const TensorView& in = a.in(0);
  const TensorView& out = a.out(0);
  const int64_t rows = g.planes * g.OH;
  if (rows == 0 || g.OW == 0) return;
  std::vector<float> colDiv;
  if (kAvg) {
    colDiv.resize(static_cast<size_t>(g.OW));
    for (int64_t ow = 0; ow < g.OW; ++ow)
      colDiv[static_cast<size_t>(ow)] = pool::axisDivisor(ow, g.kw, g.sw, g.pw, g.W, countIncludePad);
  }
  const int64_t workPerRow = g.kh * g.span() + g.kw * g.OW + 1;
  const int64_t grain = std::max<int64_t>(1, (1 << 15) / workPerRow);
  parallelFor(rows, grain, [&](int64_t b, int64_t e) {
    poolRows<Vec, Op, kAvg>(g, in, out, colDiv.data(), countIncludePad, b, e);
  });
}

void maxPool2dKernel(const KernelArgs& a) { runPool<MaxOp, false>(a); }
void avgPool2dKernel(const KernelArgs& a) { runPool<SumOp, true>(a); }

TJ_REGISTER_KERNEL("max_pool2d", maxPool2dKernel);
TJ_REGISTER_KERNEL("avg_pool2d", avgPool2dKernel);

}  // namespace
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
