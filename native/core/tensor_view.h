// A non-owning, strided view of tensor memory: what every kernel receives.
// Strides are in elements; `data` already points at the view's first element.
#pragma once
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace tensorjit {

constexpr int kMaxDims = 8;
// The most elements a tensor may have (lib/tensor.ts MAX_ELEMENTS): counts and byte sizes
// stay far from int64 overflow, and exact as the doubles the JS side holds them in.
constexpr int64_t kMaxElements = int64_t(1) << 50;

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::Float32;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  int64_t size(int d) const { return shape[d < 0 ? d + ndim : d]; }
  int64_t stride(int d) const { return strides[d < 0 ? d + ndim : d]; }

  // Row-major contiguous (size-1 dims may carry any stride).
  bool isContiguous() const {
    int64_t expected = 1;
    for (int i = ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != expected) return false;
      expected *= shape[i];
    }
    return true;
  }

  template <class T>
  T* ptr() const { return static_cast<T*>(data); }

  std::string shapeString() const {
    std::string s = "[";
    for (int i = 0; i < ndim; ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

// Contiguous view over `data` with the given shape.
inline TensorView contiguousView(void* data, DType dtype, int ndim, const int64_t* shape) {
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.ndim = ndim;
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; --i) {
    v.shape[i] = shape[i];
    v.strides[i] = s;
    s *= shape[i];
  }
  return v;
}

// The element count of a shape (sizes >= 0, as the JS side or a program gives them), or -1
// when it is over kMaxElements; each product is bounded before it is formed, so sizes up
// to 2^53 cannot overflow it. A zero size makes the count 0 whatever the others are.
inline int64_t boundedNumel(int ndim, const int64_t* shape) {
  for (int d = 0; d < ndim; ++d)
    if (shape[d] == 0) return 0;
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] > kMaxElements / n) return -1;
    n *= shape[d];
  }
  return n;
}

// Whether every element a view can touch (shape, strides and offset in elements) lies in
// [0, extent). Each size x stride is bounded by the extent before it is formed (strides up
// to 2^53 would overflow int64, and could wrap into range). Empty views touch nothing.
inline bool viewFits(int ndim, const int64_t* shape, const int64_t* strides, int64_t offset, int64_t extent) {
  for (int d = 0; d < ndim; ++d)
    if (shape[d] == 0) return true;
  int64_t lo = offset, hi = offset;
  for (int d = 0; d < ndim; ++d) {
    const int64_t stride = strides[d] < 0 ? -strides[d] : strides[d];
    if (stride != 0 && shape[d] - 1 > extent / stride) return false;
    const int64_t reach = (shape[d] - 1) * strides[d];  // |reach| <= extent
    if (reach < 0) lo += reach; else hi += reach;
  }
  return lo >= 0 && hi < extent;
}

// Byte range [lo, hi) a view can touch (empty views touch nothing).
struct ByteRange {
  const char* lo = nullptr;
  const char* hi = nullptr;
};
inline ByteRange byteRange(const TensorView& v) {
  if (v.numel() == 0) return {};
  int64_t lo = 0, hi = 0;
  for (int d = 0; d < v.ndim; ++d) {
    const int64_t reach = (v.shape[d] - 1) * v.strides[d];
    if (reach < 0) lo += reach; else hi += reach;
  }
  const int64_t isz = static_cast<int64_t>(itemSize(v.dtype));
  const char* base = static_cast<const char*>(v.data);
  return {base + lo * isz, base + (hi + 1) * isz};
}

// Whether two views may share memory (their byte ranges intersect; empty views never do).
inline bool overlaps(const TensorView& a, const TensorView& b) {
  const ByteRange ra = byteRange(a), rb = byteRange(b);
  if (!ra.lo || !rb.lo) return false;
  return ra.lo < rb.hi && rb.lo < ra.hi;
}

}  // namespace tensorjit
