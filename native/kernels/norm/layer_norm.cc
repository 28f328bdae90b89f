// "layerNorm": F.layer_norm over the trailing `k` dims.
// inputs: [x, weight?, bias?, residual?] (float32; weight/bias of the normalised shape,
// residual broadcastable to x, any strides);
// attrs: [k (number of normalised trailing dims, >= 1), eps, hasWeight (0/1), hasBias (0/1),
//         hasResidual (0/1, optional, default 0)].
// output 0: float32, x's shape, any strides; output 1 (hasResidual only, optional): the
// sum x + residual, float32, x's shape, any strides.
// With hasResidual the kernel normalises x + residual (graph pass reduction_fusion.cc
// folds a residual add into its layerNorm): each row's sum is formed in the output
// row (or the gather buffer) and normalised there, so it never round-trips memory.
// When the sum has other readers (pre-norm transformers) it is also stored, as output 1.
//
// Each row (the trailing block of N elements) is normalised by layerNormRow
// (layer_norm_row.h: two-pass moments, deterministic order, independent of the
// thread count). Rows whose block is contiguous in x and in the output run in place;
// others are gathered into a per-task buffer and scattered back. Non-contiguous
// weight/bias are copied once. Threads split the rows with a grain of about
// kGrainElems elements.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/kernel_registration.h"
#include "core/thread_pool.h"
#include "kernels/common/broadcast_view.h"
#include "kernels/common/strided_loop.h"
#include "kernels/reduce/reduce_plan.h"
#include "kernels/reduce/scratch.h"

#ifndef TJ_ISA_PASS
#define TJ_ISA_SELF "kernels/norm/layer_norm.cc"
#include "simd/foreach_isa.h"
#else
#include "kernels/reduce/reduce_row.h"
#include "kernels/common/store_row.h"
#include "kernels/norm/layer_norm_row.h"

namespace tensorjit {
namespace TJ_ISA_NS {
namespace {

constexpr int64_t kGrainElems = int64_t{1} << 14;

// Is the trailing block [ndim-k, ndim) laid out row-major with unit stride?
bool trailingContiguous(const TensorView& t, int k) {
  int64_t expected = 1;
  for (int d = t.ndim - 1; d >= t.ndim - k; --d) {
    if (t.shape[d] != 1 && t.strides[d] != expected) return false;
    expected *= t.shape[d];
  }
  return true;
}

// A walk over the trailing k dims of t (for gathers and scatters).
DimWalk trailingWalk(const TensorView& t, int k) {
  DimWalk w;
  w.ndim = k;
  for (int i = 0; i < k; ++i) {
    w.size[i] = t.shape[t.ndim - k + i];
    w.stride[i] = t.strides[t.ndim - k + i];
  }
  return w;
}

// dst[i] = a[i] + b[i]
inline void addRow(const float* a, const float* b, float* dst, int64_t n) {
  pw::storeRow<Vec, false>(
      dst, n, [&](int64_t i) { return Vec::add(Vec::load(a + i), Vec::load(b + i)); },
      [&](int64_t i, int r) { return Vec::add(Vec::loadPartial(a + i, r), Vec::loadPartial(b + i, r)); }, [](int64_t) {});
}

void layerNormKernel(const KernelArgs& a) {
  if (a.numOutputs < 1 || a.numOutputs > 2 || (a.numAttrs != 4 && a.numAttrs != 5) || a.numInputs < 1)
    throwRangeError(
        "layerNorm: expected inputs [x, weight?, bias?, residual?], outputs [y, sum?] and attrs [k, eps, hasWeight, "
        "hasBias, hasResidual?]");
  const TensorView& x = a.in(0);
  TensorView& out = a.out(0);
  const int k = static_cast<int>(a.intAttr(0));
  const float eps = static_cast<float>(a.attr(1));
  const bool hasW = a.attr(2) != 0, hasB = a.attr(3) != 0, hasR = a.numAttrs == 5 && a.attr(4) != 0;
  if (a.numInputs != 1 + int(hasW) + int(hasB) + int(hasR))
    throwRangeError("layerNorm: " + std::to_string(a.numInputs) + " inputs do not match hasWeight/hasBias/hasResidual");
  if (k < 1 || k > x.ndim)
    throwRangeError("layerNorm: cannot normalise " + std::to_string(k) + " trailing dims of input " + x.shapeString());
  bool same = x.ndim == out.ndim;
  for (int d = 0; same && d < x.ndim; ++d) same = x.shape[d] == out.shape[d];
  if (!same) throwRangeError("layerNorm: output " + out.shapeString() + " does not match input " + x.shapeString());
  for (int i = 0; i < a.numInputs; ++i)
    if (a.in(i).dtype != DType::Float32)
      throwTypeError(std::string("layerNorm: input ") + std::to_string(i) + " has dtype " + dtypeName(a.in(i).dtype) +
                     ", expected float32");
  if (out.dtype != DType::Float32) throwTypeError("layerNorm: output must be float32");
  const bool storeSum = a.numOutputs == 2;
  if (storeSum) {
    const TensorView& sumOut = a.out(1);
    if (!hasR) throwRangeError("layerNorm: a second output (the sum) needs hasResidual");
    bool fits = sumOut.ndim == x.ndim;
    for (int d = 0; fits && d < x.ndim; ++d) fits = sumOut.shape[d] == x.shape[d];
    if (!fits) throwRangeError("layerNorm: sum output " + sumOut.shapeString() + " does not match input " + x.shapeString());
    if (sumOut.dtype != DType::Float32) throwTypeError("layerNorm: sum output must be float32");
  }

  int64_t n = 1;
  for (int d = x.ndim - k; d < x.ndim; ++d) n *= x.shape[d];
  ScratchBuffer wCopy, bCopy;
  const float* params[2] = {nullptr, nullptr};
  ScratchBuffer* copies[2] = {&wCopy, &bCopy};
  for (int p = 0, in = 1; p < 2; ++p) {
    if (!(p == 0 ? hasW : hasB)) continue;
    const TensorView& t = a.in(in++);
    bool match = t.ndim == k;
    for (int i = 0; match && i < k; ++i) match = t.shape[i] == x.shape[x.ndim - k + i];
    if (!match)
      throwRangeError(std::string("layerNorm: ") + (p == 0 ? "weight " : "bias ") + t.shapeString() +
                      " does not match the normalised trailing dims of input " + x.shapeString());
    params[p] = t.isContiguous() ? t.ptr<const float>() : contiguousCopy(t, *copies[p]).ptr<const float>();
  }
  // The residual, expanded to x's shape (stride 0 where broadcast); x itself when absent.
  TensorView res = x;
  if (hasR) {
    const TensorView& r = a.in(a.numInputs - 1);
    if (r.dtype != DType::Float32) throwTypeError(std::string("layerNorm: residual has dtype ") + dtypeName(r.dtype) + ", expected float32");
    res = broadcastView(r, x, "layerNorm", "residual");
  }
  if (x.numel() == 0) return;

  const int lead = x.ndim - k;
  const TensorView& sumOut = storeSum ? a.out(1) : out;
  TensorView xr = x, orow = out, rrow = res, srow = sumOut;
  xr.ndim = orow.ndim = rrow.ndim = srow.ndim = lead;
  const TensorView* views[4] = {&orow, &xr, &rrow, &srow};
  StridedLoop<4> loop(views, lead, x.shape);
  const int64_t os = loop.innerStride(0), is = loop.innerStride(1), rs = loop.innerStride(2), ss = loop.innerStride(3);
  const bool direct = trailingContiguous(x, k) && trailingContiguous(out, k) && (!hasR || trailingContiguous(res, k)) &&
                      (!storeSum || trailingContiguous(sumOut, k));
  const DimWalk xWalk = trailingWalk(x, k), oWalk = trailingWalk(out, k), rWalk = trailingWalk(res, k),
                sWalk = trailingWalk(sumOut, k);
  const float* w = params[0];
  const float* b = params[1];

  const int64_t grain = std::max<int64_t>(1, kGrainElems / n);
  // large outputs bypass the cache (see pw::kStreamBytes)
  const bool stream = !hasR && out.numel() * static_cast<int64_t>(sizeof(float)) >= pw::kStreamBytes;
  parallelFor(loop.numel, grain, [&](int64_t rb, int64_t re) {
    ScratchBuffer buf;
    if (!direct) buf.reset(static_cast<size_t>(n) * sizeof(float));
    float* tmp = buf.as<float>();
    loop.forRange(rb, re, [&](char* const* p, int64_t cnt) {
      for (int64_t i = 0; i < cnt; ++i) {
        const float* in = reinterpret_cast<const float*>(p[1]) + i * is;
        float* o = reinterpret_cast<float*>(p[0]) + i * os;
        const float* rin = reinterpret_cast<const float*>(p[2]) + i * rs;
        float* so = reinterpret_cast<float*>(p[3]) + i * ss;
        if (direct) {
          if (hasR) {
            float* sum = storeSum ? so : o;  // else the sum lives in o, normalised in place
            addRow(in, rin, sum, n);
            norm_row::layerNormRow<Vec>(sum, o, n, w, b, eps);
          } else if (stream) {
            norm_row::layerNormRow<Vec, true>(in, o, n, w, b, eps);
          } else {
            norm_row::layerNormRow<Vec>(in, o, n, w, b, eps);
          }
          continue;
        }
        xWalk.runs(0, n, [&](int64_t off, int64_t lin, int64_t len) {
          for (int64_t j = 0; j < len; ++j) tmp[lin + j] = in[off + j * xWalk.innerStride()];
        });
        if (hasR)
          rWalk.runs(0, n, [&](int64_t off, int64_t lin, int64_t len) {
            for (int64_t j = 0; j < len; ++j) tmp[lin + j] += rin[off + j * rWalk.innerStride()];
          });
        if (storeSum)
          sWalk.runs(0, n, [&](int64_t off, int64_t lin, int64_t len) {
            for (int64_t j = 0; j < len; ++j) so[off + j * sWalk.innerStride()] = tmp[lin + j];
          });
        norm_row::layerNormRow<Vec>(tmp, tmp, n, w, b, eps);
        oWalk.runs(0, n, [&](int64_t off, int64_t lin, int64_t len) {
          for (int64_t j = 0; j < len; ++j) o[off + j * oWalk.innerStride()] = tmp[lin + j];
        });
      }
    });
    if (stream) Vec::streamFence();
  });
}

TJ_REGISTER_KERNEL("layerNorm", layerNormKernel);

}  // namespace
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
