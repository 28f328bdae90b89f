// Shapes and window arithmetic shared by the pooling kernels (baseline code, no SIMD).
#pragma once
#include <algorithm>
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

constexpr double kMaxWindowAttr = 1 << 30;

// torch's pooling output size along one axis (lib/ops/conv.ts poolOutputSize): `out` must be
// the floor-mode or the ceil-mode size. Attrs are at most 2^30 and sizes at most 2^40, so no overflow.
inline bool outputSizeFits(int64_t out, int64_t size, int64_t k, int64_t s, int64_t p, int64_t d) {
  const int64_t span = size + 2 * p - d * (k - 1) - 1;
  auto floorDiv = [](int64_t x, int64_t y) { return x >= 0 ? x / y : -((-x + y - 1) / y); };
  const int64_t floorOut = floorDiv(span, s) + 1;
  int64_t ceilOut = floorDiv(span + s - 1, s) + 1;
  if (ceilOut > 0 && (ceilOut - 1) * s >= size + p) ceilOut--;
  return out >= 0 && (out == std::max<int64_t>(floorOut, 0) || out == std::max<int64_t>(ceilOut, 0));
}

// Reads attrs [kh, kw, sh, sw, ph, pw, (dh, dw)] and checks in/out shapes.
inline Pool2dGeometry readGeometry(const KernelArgs& a, bool hasDilation) {
  if (a.numInputs != 1 || a.numOutputs != 1) throwRangeError("expected 1 input and 1 output");
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
  // Attrs may come from a hand-built graph program: integers in a range whose products fit int64.
  for (int i = 0; i < (hasDilation ? 8 : 6); ++i) {
    const double v = a.attr(i);
    if (!(v >= (i == 4 || i == 5 ? 0 : 1) && v <= kMaxWindowAttr) || v != std::floor(v))
      throwRangeError("pooling attribute " + std::to_string(i) + " = " + std::to_string(v) +
                      ": kernel size, stride and dilation must be positive integers and padding a non-negative one");
  }
  g.kh = a.intAttr(0), g.kw = a.intAttr(1), g.sh = a.intAttr(2), g.sw = a.intAttr(3);
  g.ph = a.intAttr(4), g.pw = a.intAttr(5);
  if (hasDilation) g.dh = a.intAttr(6), g.dw = a.intAttr(7);
  if (g.ph >= g.kh || g.pw >= g.kw) throwRangeError("padding must be smaller than the kernel size");
  // The output size must be the one the window gives (floor or ceil mode), so every window
  // overlaps the input and the per-row accumulator spans what the input and padding hold.
  if (!outputSizeFits(g.OH, g.H, g.kh, g.sh, g.ph, g.dh) || !outputSizeFits(g.OW, g.W, g.kw, g.sw, g.pw, g.dw))
    throwRangeError("output " + out.shapeString() + " does not match input " + in.shapeString() + " pooled with kernel [" +
                    std::to_string(g.kh) + ", " + std::to_string(g.kw) + "], stride [" + std::to_string(g.sh) + ", " +
                    std::to_string(g.sw) + "], padding [" + std::to_string(g.ph) + ", " + std::to_string(g.pw) + "]");
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
