#include "kernels/index/copy_convert.h"

#include <cstring>

#include "core/thread_pool.h"
#include "kernels/common/strided_loop.h"
#include "kernels/index/convert.h"

namespace tensorjit {
namespace index_kernels {
namespace {

constexpr int64_t kCopyGrain = 1 << 16;  // elements per thread before splitting pays

template <class T>
void copySame(const StridedLoop<2>& loop, int64_t b, int64_t e) {
  const int64_t sd = loop.innerStride(0), ss = loop.innerStride(1);
  loop.forRange(b, e, [&](char* const* p, int64_t n) {
    T* out = reinterpret_cast<T*>(p[0]);
    const T* in = reinterpret_cast<const T*>(p[1]);
    if (sd == 1 && ss == 1) {
      std::memcpy(out, in, static_cast<size_t>(n) * sizeof(T));
    } else if (ss == 0) {
      const T v = *in;  // broadcast row
      for (int64_t i = 0; i < n; ++i) out[i * sd] = v;
    } else {
      for (int64_t i = 0; i < n; ++i) out[i * sd] = in[i * ss];
    }
  });
}

template <class D, class S>
void copyConverting(const StridedLoop<2>& loop, int64_t b, int64_t e) {
  const int64_t sd = loop.innerStride(0), ss = loop.innerStride(1);
  loop.forRange(b, e, [&](char* const* p, int64_t n) {
    D* out = reinterpret_cast<D*>(p[0]);
    const S* in = reinterpret_cast<const S*>(p[1]);
    for (int64_t i = 0; i < n; ++i) out[i * sd] = narrow<D>(wide(in[i * ss]));
  });
}

}  // namespace

void copyConvert(const TensorView& dst, const TensorView& src) {
  const TensorView* views[2] = {&dst, &src};
  StridedLoop<2> loop(views, dst.ndim, dst.shape);
  if (loop.numel == 0) return;
  if (dst.dtype == src.dtype) {
    parallelFor(loop.numel, kCopyGrain, [&](int64_t b, int64_t e) {
      switch (itemSize(dst.dtype)) {
        case 1: copySame<uint8_t>(loop, b, e); break;
        case 2: copySame<uint16_t>(loop, b, e); break;
        case 4: copySame<uint32_t>(loop, b, e); break;
        default: copySame<uint64_t>(loop, b, e); break;
      }
    });
    return;
  }
  withStorageType(dst.dtype, [&](auto d) {
    withStorageType(src.dtype, [&](auto s) {
      using D = decltype(d);
      using S = decltype(s);
      parallelFor(loop.numel, kCopyGrain, [&](int64_t b, int64_t e) { copyConverting<D, S>(loop, b, e); });
    });
  });
}

bool sameLayout(const TensorView& a, const TensorView& b) {
  if (a.data != b.data || a.dtype != b.dtype || a.ndim != b.ndim) return false;
  for (int d = 0; d < a.ndim; ++d)
    if (a.shape[d] != b.shape[d] || (a.shape[d] != 1 && a.strides[d] != b.strides[d])) return false;
  return true;
}

bool hasInternalOverlap(const TensorView& v) {
  if (v.numel() == 0) return false;  // contiguous strides of [3, 0] are [0, 1]: no element to share
  for (int d = 0; d < v.ndim; ++d)
    if (v.shape[d] > 1 && v.strides[d] == 0) return true;
  return false;
}

OwnedCopy contiguousCopy(const TensorView& v) {
  OwnedCopy c;
  const size_t bytes = static_cast<size_t>(v.numel()) * itemSize(v.dtype);
  c.memory.reset(new char[bytes > 0 ? bytes : 1]);
  c.view = contiguousView(c.memory.get(), v.dtype, v.ndim, v.shape);
  copyConvert(c.view, v);
  return c;
}

}  // namespace index_kernels
}  // namespace tensorjit
