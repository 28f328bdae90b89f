// Shapes and window arithmetic shared by the pooling kernels (baseline code, no SIMD).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/kernel.h"

namespace tensorjit {
namespace pool {

struct Pool2dGeometry {
  int64_t planes = 0, H = 0, W = 0, OH = 0, OW = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  int leading = 0;  // 1 (CHW) or 2 (NCHW) dims before H, W
  // Columns of the per-row accumulator: every input column any window of the row touches,
  // counted from the left edge of the padding.
  int64_t span() const { return OW > 0 ? (OW - 1) * sw + (kw - 1) * dw + 1 : 0; }
};

// Reads attrs [kh, kw, sh, sw, ph, pw, (dh, dw)] and checks in/out shapes.
inline Pool2dGeometry readGeometry(const KernelArgs& a, bool hasDilation) {
  const TensorView& in = a.in(0);
  const TensorView& out = a.out(0);
  if (in.dtype != DType::Float32 || out.dtype != DType::Float32)
    throwTypeError(std::string("expected float32 input, got ") + dtypeName(in.dtype));
  if ((in.ndim != 3 && in.ndim != 4) || out.ndim != in.ndim)
    throwRangeError("expected a 3-D or 4-D input, got " + in.shapeString());
  if (a.numAttrs < (hasDilation ? 8 : 6)) throwRangeError("missing pooling attributes");
  Pool2dGeometry g;
  g.leading = in.ndim - 2;
  g.planes = 1;
  for (int d = 0; d < g.leading; ++d) {
    if (out.shape[d] != in.shape[d]) throwRangeError("output " + out.shapeString() + " does not match input " + in.shapeString());
    g.planes *= in.shape[d];
  }
  g.H = in.shape[in.ndim - 2];
  g.W = in.shape[in.ndim - 1];
  g.OH = out.shape[out.ndim - 2];
  g.OW = out.shape[out.ndim - 1];
  g.kh = a.intAttr(0), g.kw = a.intAttr(1), g.sh = a.intAttr(2), g.sw = a.intAttr(3);
  g.ph = a.intAttr(4), g.pw = a.intAttr(5);
  if (hasDilation) g.dh = a.intAttr(6), g.dw = a.intAttr(7);
  if (g.kh < 1 || g.kw < 1 || g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 || g.ph < 0 || g.pw < 0)
    throwRangeError("kernel size, stride and dilation must be positive and padding non-negative");
  return g;
}

// Byte offset (in elements) of plane p's first element for a 3-D or 4-D view.
inline int64_t planeOffset(const TensorView& v, int leading, int64_t p) {
  if (leading == 1) return p * v.strides[0];
  const int64_t c = v.shape[1];
  return (p / c) * v.strides[0] + (p % c) * v.strides[1];
}

// avg_pool2d's divisor, factored per axis (torch: windows clipped to the padded bounds
// for countIncludePad, to the input otherwise). Zero valid elements give +inf, so the
// output is 0 as in torch.
inline float axisDivisor(int64_t o, int64_t k, int64_t s, int64_t p, int64_t size, bool countIncludePad) {
  const int64_t start = o * s - p;
  const int64_t endPadded = std::min(start + k, size + p);
  const int64_t validStart = std::max<int64_t>(start, 0), validEnd = std::min(endPadded, size);
  if (validEnd <= validStart) return INFINITY;
  return static_cast<float>(countIncludePad ? endPadded - start : validEnd - validStart);
}

}  // namespace pool
}  // namespace tensorjit
