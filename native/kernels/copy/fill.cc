// "fill": out[...] = attrs[0] (cast to out's dtype).
// "arange": out[i] = attrs[0] + i * attrs[1], 1-D, float32/int32/int64.
#include <cmath>

#include "core/error.h"
#include "core/kernel_registration.h"
#include "core/thread_pool.h"
#include "kernels/common/strided_loop.h"
#include "simd/half.h"

namespace tensorjit {
namespace {

template <class T>
void fillTyped(TensorView& out, T value) {
  const TensorView* views[1] = {&out};
  StridedLoop<1> loop(views, out.ndim, out.shape);
  parallelFor(loop.numel, 1 << 16, [&](int64_t b, int64_t e) {
    const int64_t s = loop.innerStride(0);
    loop.forRange(b, e, [&](char* const* p, int64_t n) {
      T* y = reinterpret_cast<T*>(p[0]);
      for (int64_t i = 0; i < n; ++i) y[i * s] = value;
    });
  });
}

void fillKernel(const KernelArgs& a) {
  TensorView& out = a.out(0);
  const double v = a.numAttrs > 0 ? a.attr(0) : 0.0;
  switch (out.dtype) {
    case DType::Float32: fillTyped<float>(out, static_cast<float>(v)); break;
    case DType::Int32: fillTyped<int32_t>(out, static_cast<int32_t>(v)); break;
    case DType::Int64: fillTyped<int64_t>(out, static_cast<int64_t>(v)); break;
    case DType::Bool: fillTyped<uint8_t>(out, v != 0 ? 1 : 0); break;
    case DType::Float16: fillTyped<uint16_t>(out, floatToHalfBits(static_cast<float>(v))); break;
    case DType::BFloat16: fillTyped<uint16_t>(out, floatToBFloat16Bits(static_cast<float>(v))); break;
  }
}

void arangeKernel(const KernelArgs& a) {
  TensorView& out = a.out(0);
  if (out.ndim != 1) throwRangeError("arange: output must be 1-D");
  const double start = a.attr(0), step = a.attr(1);
  const int64_t n = out.shape[0], s = out.strides[0];
  switch (out.dtype) {
    case DType::Float32: {
      float* y = out.ptr<float>();
      for (int64_t i = 0; i < n; ++i) y[i * s] = static_cast<float>(start + static_cast<double>(i) * step);
      break;
    }
    case DType::Int32: {
      int32_t* y = out.ptr<int32_t>();
      for (int64_t i = 0; i < n; ++i) y[i * s] = static_cast<int32_t>(start + static_cast<double>(i) * step);
      break;
    }
    case DType::Int64: {
      int64_t* y = out.ptr<int64_t>();
      for (int64_t i = 0; i < n; ++i) y[i * s] = static_cast<int64_t>(start + static_cast<double>(i) * step);
      break;
    }
    default: throwTypeError(std::string("arange: unsupported dtype ") + dtypeName(out.dtype));
  }
}

TJ_REGISTER_SCALAR_KERNEL("fill", fillKernel);
TJ_REGISTER_SCALAR_KERNEL("arange", arangeKernel);

}  // namespace
}  // namespace tensorjit
