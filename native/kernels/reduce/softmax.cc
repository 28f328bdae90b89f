// "softmax" and "logSoftmax" along one dim.
// attrs: [dim] (normalised; 0 for a 0-d input, which is one row of length 1),
//        optionally followed by [scale, hasMask (0/1)] or [scale, hasMask, divide (0/1)]:
//        a prologue that runs the softmax of x * scale (x / scale with divide) (+ mask)
//        instead of x (graph pass reduction_fusion.cc).
// Input 0 float32, any strides; input 1 (hasMask only) float32 broadcastable to x;
// output 0 float32 of the same shape, any strides.
//
// With a prologue, rows with unit stride along dim form x * scale + mask in the
// output row and run the row functions there in place (one pass over memory); other
// layouts write the prologue into the whole output first and continue in place.
// scale == 1 and a mask of 0 leave x unchanged, as the unfused ops do.
//
// Rows whose dim has unit stride in input and output run the fused row functions of
// softmax_row.h in place; when instead the innermost other dims have unit stride
// (softmax over an outer dim), blocks of up to kColTile adjacent rows run together,
// vectorized across them (softmaxColumns); other layouts are gathered row by row
// into a per-task buffer, computed there and scattered back. Threads split the rows (parallelFor with a grain of
// about kGrainElems elements); a single long row (fewer rows than threads) is split
// into numChunks() pieces whose max and sum partials combine in chunk order, so
// results are deterministic for a given thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/kernel_registration.h"
#include "core/thread_pool.h"
#include "kernels/common/broadcast_view.h"
#include "kernels/common/strided_loop.h"
#include "kernels/reduce/scratch.h"

#ifndef TJ_ISA_PASS
#define TJ_ISA_SELF "kernels/reduce/softmax.cc"
#include "simd/foreach_isa.h"
#else
#include "kernels/reduce/reduce_row.h"
#include "kernels/math/vmath.h"
#include "kernels/common/store_row.h"
#include "kernels/reduce/softmax_row.h"

namespace tensorjit {
namespace TJ_ISA_NS {
namespace {

using namespace reduce_row;

constexpr int64_t kGrainElems = int64_t{1} << 14;
constexpr int64_t kLongRow = int64_t{1} << 16;

template <bool kLog>
void rowFn(const float* in, float* out, int64_t n) {
  if (kLog) logSoftmaxRow<Vec>(in, out, n);
  else softmaxRow<Vec>(in, out, n);
}

// One long contiguous row on every thread: max, exp-sum and scale passes, each split
// into the same chunks.
template <bool kLog>
void longRow(const float* in, float* out, int64_t n) {
  const int64_t grain = kLongRow / 2;
  const int chunks = numChunks(n, grain);
  std::vector<float> maxParts(chunks);
  std::vector<double> sumParts(chunks);
  parallelChunks(n, grain, [&](int c, int64_t b, int64_t e) { maxParts[c] = maxRow<Vec>(in + b, e - b); });
  float m = maxParts[0];
  for (int c = 1; c < chunks; ++c) m = maxNanScalar(m, maxParts[c]);
  parallelChunks(n, grain, [&](int c, int64_t b, int64_t e) {
    sumParts[c] = kLog ? expSumRow<Vec, false>(in + b, nullptr, e - b, m) : expSumRow<Vec, true>(in + b, out + b, e - b, m);
  });
  double s = 0.0;
  for (int c = 0; c < chunks; ++c) s += sumParts[c];
  const float logS = static_cast<float>(std::log(s)), inv = static_cast<float>(1.0 / s);
  parallelChunks(n, grain, [&](int, int64_t b, int64_t e) {
    if (kLog) subSubRow<Vec>(in + b, out + b, e - b, m, logS);
    else scaleRow<Vec>(out + b, out + b, e - b, inv);
  });
}

// x * s, or x / s: the scale step of the prologue, rounded as the unfused op.
struct Scale {
  float s = 1.f;
  bool divide = false;
  float one(float x) const { return divide ? x / s : x * s; }
  Vec::Reg vec(Vec::Reg x) const { return divide ? Vec::div(x, Vec::set1(s)) : Vec::mul(x, Vec::set1(s)); }
};

// out[i] = scale(x[i]) (+ m[i] when m): the prologue, rounded as the separate ops.
inline void prologueRow(const float* x, const float* m, int64_t ms, float* out, int64_t n, Scale scale) {
  if (m && ms != 1) {
    for (int64_t i = 0; i < n; ++i) {
      const float t = scale.one(x[i]);  // two roundings, as the scale op then add
      out[i] = t + m[i * ms];
    }
    return;
  }
  auto full = [&](int64_t i) {
    const auto t = scale.vec(Vec::load(x + i));
    return m ? Vec::add(t, Vec::load(m + i)) : t;
  };
  auto partial = [&](int64_t i, int r) {
    const auto t = scale.vec(Vec::loadPartial(x + i, r));
    return m ? Vec::add(t, Vec::loadPartial(m + i, r)) : t;
  };
  pw::storeRow<Vec, false>(out, n, full, partial, [](int64_t) {});
}

// The views of `t`'s dims other than `dim` (one element per row start).
TensorView rowStarts(const TensorView& t, int64_t dim) {
  TensorView r = t;
  r.ndim = 0;
  for (int d = 0; d < t.ndim; ++d) {
    if (d == dim) continue;
    r.shape[r.ndim] = t.shape[d];
    r.strides[r.ndim++] = t.strides[d];
  }
  return r;
}

// Rows with unit stride along dim in x and out: prologue into the output row, then the
// row function in place while the row is in cache.
template <bool kLog>
void fusedPrologueRows(const TensorView& x, const TensorView* mask, TensorView& out, int64_t dim, int64_t n, Scale s) {
  TensorView xr = rowStarts(x, dim), orow = rowStarts(out, dim), mrow = rowStarts(mask ? *mask : x, dim);
  const TensorView* views[3] = {&orow, &xr, &mrow};
  StridedLoop<3> loop(views, orow.ndim, orow.shape);
  const int64_t os = loop.innerStride(0), is = loop.innerStride(1), mis = loop.innerStride(2);
  const int64_t ms = mask && x.ndim ? mask->strides[dim] : 0;
  const int64_t grain = std::max<int64_t>(1, kGrainElems / n);
  parallelFor(loop.numel, grain, [&](int64_t b, int64_t e) {
    loop.forRange(b, e, [&](char* const* p, int64_t cnt) {
      for (int64_t i = 0; i < cnt; ++i) {
        float* o = reinterpret_cast<float*>(p[0]) + i * os;
        const float* m = mask ? reinterpret_cast<const float*>(p[2]) + i * mis : nullptr;
        prologueRow(reinterpret_cast<const float*>(p[1]) + i * is, m, ms, o, n, s);
        rowFn<kLog>(o, o, n);
      }
    });
  });
}

// out = x * s (+ mask) over the whole tensor, any layouts.
void writePrologue(const TensorView& x, const TensorView* mask, TensorView& out, Scale s) {
  const TensorView* views[3] = {&out, &x, mask ? mask : &x};
  StridedLoop<3> loop(views, out.ndim, out.shape);
  const int64_t os = loop.innerStride(0), is = loop.innerStride(1), ms = loop.innerStride(2);
  parallelFor(loop.numel, kGrainElems, [&](int64_t b, int64_t e) {
    loop.forRange(b, e, [&](char* const* p, int64_t cnt) {
      float* o = reinterpret_cast<float*>(p[0]);
      const float* xi = reinterpret_cast<const float*>(p[1]);
      const float* mi = reinterpret_cast<const float*>(p[2]);
      for (int64_t i = 0; i < cnt; ++i) {
        const float t = s.one(xi[i * is]);
        o[i * os] = mask ? t + mi[i * ms] : t;
      }
    });
  });
}

template <bool kLog>
void softmaxKernel(const KernelArgs& a) {
  const char* op = kLog ? "logSoftmax" : "softmax";
  if (a.numOutputs != 1 || a.numAttrs < 1 || a.numAttrs == 2 || a.numAttrs > 4)
    throwRangeError(std::string(op) + ": expected 1 output and attrs [dim] or [dim, scale, hasMask, divide?]");
  const bool prologue = a.numAttrs >= 3;
  const bool hasMask = prologue && a.attr(2) != 0;
  if (a.numInputs != 1 + int(hasMask))
    throwRangeError(std::string(op) + ": expected " + std::to_string(1 + int(hasMask)) + " inputs (x" +
                    (hasMask ? ", mask)" : ")") + ", got " + std::to_string(a.numInputs));
  Scale scale;
  if (prologue) scale = Scale{static_cast<float>(a.attr(1)), a.numAttrs == 4 && a.attr(3) != 0};
  const TensorView& x0 = a.in(0);
  TensorView& out = a.out(0);
  // Without a prologue `x` is the input; with one it becomes the output once the
  // prologue has been written there (layouts other than the fused row path).
  TensorView x = x0;
  if (x.dtype != DType::Float32 || out.dtype != DType::Float32)
    throwTypeError(std::string(op) + ": expected float32 input and output, got " + dtypeName(x.dtype) + " and " +
                   dtypeName(out.dtype));
  bool same = x.ndim == out.ndim;
  for (int d = 0; same && d < x.ndim; ++d) same = x.shape[d] == out.shape[d];
  if (!same) throwRangeError(std::string(op) + ": output " + out.shapeString() + " does not match input " + x.shapeString());
  const int64_t dim = a.intAttr(0);
  if (dim < 0 || dim >= std::max(x.ndim, 1))
    throwRangeError(std::string(op) + ": dim " + std::to_string(dim) + " is out of range for a " +
                    std::to_string(x.ndim) + "-d tensor");
  TensorView mask = x;
  if (hasMask) {
    const TensorView& m = a.in(1);
    if (m.dtype != DType::Float32)
      throwTypeError(std::string(op) + ": mask has dtype " + dtypeName(m.dtype) + ", expected float32");
    mask = broadcastView(m, x, op, "mask");
  }
  const int64_t numel = x.numel();
  if (numel == 0) return;
  const int64_t n = x.ndim ? x.shape[dim] : 1;
  const int64_t rows = numel / n;
  int64_t inStride = x.ndim ? x.strides[dim] : 1;
  const int64_t outStride = out.ndim ? out.strides[dim] : 1;
  if (prologue) {
    const bool rowPath = (n == 1 || (inStride == 1 && outStride == 1)) && !(rows < numThreads() && n >= kLongRow);
    if (rowPath) {
      fusedPrologueRows<kLog>(x, hasMask ? &mask : nullptr, out, dim, n, scale);
      return;
    }
    writePrologue(x, hasMask ? &mask : nullptr, out, scale);
    x = out;
    inStride = outStride;
  }

  TensorView xr = rowStarts(x, dim), orow = rowStarts(out, dim);
  const TensorView* views[2] = {&orow, &xr};
  StridedLoop<2> loop(views, orow.ndim, orow.shape);
  const int64_t os = loop.innerStride(0), is = loop.innerStride(1);
  const bool direct = n == 1 || (inStride == 1 && outStride == 1);

  if (direct && rows < numThreads() && n >= kLongRow) {
    loop.forRange(0, rows, [&](char* const* p, int64_t cnt) {
      for (int64_t i = 0; i < cnt; ++i)
        longRow<kLog>(reinterpret_cast<const float*>(p[1]) + i * is, reinterpret_cast<float*>(p[0]) + i * os, n);
    });
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kGrainElems / n);
  if (!direct && loop.innerStride(0) == 1 && loop.innerStride(1) == 1 && loop.rowLength() > 1) {
    parallelFor(rows, grain, [&](int64_t b, int64_t e) {
      ScratchBuffer work(static_cast<size_t>(std::min<int64_t>(e - b, kColTile)) * 4 * sizeof(float));
      loop.forRange(b, e, [&](char* const* p, int64_t cnt) {
        for (int64_t c0 = 0; c0 < cnt; c0 += kColTile) {
          const int64_t w = std::min<int64_t>(kColTile, cnt - c0);
          softmaxColumns<Vec, kLog>(reinterpret_cast<const float*>(p[1]) + c0, reinterpret_cast<float*>(p[0]) + c0, n, w,
                                    inStride, outStride, work.as<float>());
        }
      });
    });
    return;
  }
  // Large outputs are written once, past the cache (see softmaxRowStreamed), for rows
  // whose exponentials fit in cache.
  const bool stream = direct && n <= kLongRow && numel * static_cast<int64_t>(sizeof(float)) >= pw::kStreamBytes;
  parallelFor(rows, grain, [&](int64_t b, int64_t e) {
    ScratchBuffer buf;
    if (!direct || (stream && !kLog)) buf.reset(static_cast<size_t>(n) * sizeof(float));
    float* tmp = buf.as<float>();
    loop.forRange(b, e, [&](char* const* p, int64_t cnt) {
      for (int64_t i = 0; i < cnt; ++i) {
        const float* in = reinterpret_cast<const float*>(p[1]) + i * is;
        float* o = reinterpret_cast<float*>(p[0]) + i * os;
        if (stream) {
          // the next row of this piece, if any (rows of a piece are is floats apart)
          const float* next = i + 1 < cnt ? in + is : nullptr;
          if (kLog) logSoftmaxRowStreamed<Vec>(in, o, n, next);
          else softmaxRowStreamed<Vec>(in, o, n, tmp, next);
          continue;
        }
        if (direct) {
          rowFn<kLog>(in, o, n);
          continue;
        }
        for (int64_t k = 0; k < n; ++k) tmp[k] = in[k * inStride];
        rowFn<kLog>(tmp, tmp, n);
        for (int64_t k = 0; k < n; ++k) o[k * outStride] = tmp[k];
      }
    });
    if (stream) Vec::streamFence();
  });
}

TJ_REGISTER_KERNEL("softmax", softmaxKernel<false>);
TJ_REGISTER_KERNEL("logSoftmax", softmaxKernel<true>);

}  // namespace
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
