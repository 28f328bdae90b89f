// "copy": out <- in, any strides, same dtype and shape (in may broadcast). Used by
// contiguous(), reshape-that-copies, expand materialisation and copy_.
// attrs: none.
#include <cstring>

#include "core/error.h"
#include "core/kernel_registration.h"
#include "core/thread_pool.h"
#include "kernels/common/broadcast_view.h"
#include "kernels/common/strided_loop.h"

namespace tensorjit {
namespace {

template <class T>
void copyRows(const StridedLoop<2>& loop, int64_t b, int64_t e) {
  const int64_t so = loop.innerStride(0), si = loop.innerStride(1);
  loop.forRange(b, e, [&](char* const* p, int64_t n) {
    T* out = reinterpret_cast<T*>(p[0]);
    const T* in = reinterpret_cast<const T*>(p[1]);
    if (so == 1 && si == 1) {
      std::memcpy(out, in, static_cast<size_t>(n) * sizeof(T));
    } else {
      for (int64_t i = 0; i < n; ++i) out[i * so] = in[i * si];
    }
  });
}

void copyKernel(const KernelArgs& a) {
  const TensorView& in = a.in(0);
  TensorView& out = a.out(0);
  if (in.dtype != out.dtype) throwTypeError("copy: dtype mismatch " + std::string(dtypeName(in.dtype)) +
                                            " -> " + dtypeName(out.dtype));
  broadcastView(in, out, "copy", "input");  // checks the shapes: programs come from outside
  const TensorView* views[2] = {&out, &in};
  StridedLoop<2> loop(views, out.ndim, out.shape);
  const size_t isz = itemSize(out.dtype);
  parallelFor(loop.numel, 1 << 16, [&](int64_t b, int64_t e) {
    switch (isz) {
      case 1: copyRows<uint8_t>(loop, b, e); break;
      case 2: copyRows<uint16_t>(loop, b, e); break;
      case 4: copyRows<uint32_t>(loop, b, e); break;
      default: copyRows<uint64_t>(loop, b, e); break;
    }
  });
}

TJ_REGISTER_SCALAR_KERNEL("copy", copyKernel);

}  // namespace
}  // namespace tensorjit
