// A non-owning, strided view of tensor memory: what every kernel receives.
// Strides are in elements; `data` already points at the view's first element.
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include "core/dtype.h"

namespace tensorjit {

constexpr int kMaxDims = 8;

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

// [first, last] byte addresses a view touches (empty views: an empty range).
inline std::pair<uintptr_t, uintptr_t> byteSpan(const TensorView& v) {
  const uintptr_t base = reinterpret_cast<uintptr_t>(v.data);
  if (v.numel() == 0) return {base, base};
  intptr_t lo = 0, hi = 0;
  for (int d = 0; d < v.ndim; ++d) {
    const intptr_t reach = static_cast<intptr_t>((v.shape[d] - 1) * v.strides[d]) * static_cast<intptr_t>(itemSize(v.dtype));
    (reach < 0 ? lo : hi) += reach;
  }
  return {base + lo, base + hi + itemSize(v.dtype) - 1};
}

// Whether two views may share memory (their byte spans intersect; empty views never do).
inline bool mayOverlap(const TensorView& a, const TensorView& b) {
  if (a.numel() == 0 || b.numel() == 0) return false;
  const auto x = byteSpan(a), y = byteSpan(b);
  return x.first <= y.second && y.first <= x.second;
}

}  // namespace tensorjit
