// Placeholder float32 add to prove the per-ISA pipeline; the pointwise family replaces it.
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/common/strided_loop.h"

#ifndef TJ_ISA_PASS
#define TJ_ISA_SELF "kernels/pointwise/add_example.cc"
#include "simd/foreach_isa.h"
#else
namespace tensorjit {
namespace TJ_ISA_NS {
namespace {

template <class V>
void addRow(float* y, const float* a, const float* b, int64_t n) {
  int64_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) V::store(y + i, V::add(V::load(a + i), V::load(b + i)));
  if (i < n) {
    const int r = static_cast<int>(n - i);
    V::storePartial(y + i, V::add(V::loadPartial(a + i, r), V::loadPartial(b + i, r)), r);
  }
}

void addExampleKernel(const KernelArgs& args) {
  TensorView& out = args.out(0);
  const TensorView* views[3] = {&out, &args.in(0), &args.in(1)};
  StridedLoop<3> loop(views, out.ndim, out.shape);
  parallelFor(loop.numel, 1 << 15, [&](int64_t b, int64_t e) {
    const bool unit = loop.innerStride(0) == 1 && loop.innerStride(1) == 1 && loop.innerStride(2) == 1;
    loop.forRange(b, e, [&](char* const* p, int64_t n) {
      float* y = reinterpret_cast<float*>(p[0]);
      const float* x0 = reinterpret_cast<const float*>(p[1]);
      const float* x1 = reinterpret_cast<const float*>(p[2]);
      if (unit) {
        addRow<Vec>(y, x0, x1, n);
      } else {
        for (int64_t i = 0; i < n; ++i)
          y[i * loop.innerStride(0)] = x0[i * loop.innerStride(1)] + x1[i * loop.innerStride(2)];
      }
    });
  });
}

TJ_REGISTER_KERNEL("add_example", addExampleKernel);

}  // namespace
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
